"""Survival verdict per process: will it fit, at its peak, in what the GPU has left?

SPEC §4, in order:
1. Scraped data first: vLLM's KV-cache usage, SGLang's token pool. Not Ollama,
   whose loads fail before the model is in VRAM, so its metrics say nothing
   about what is still to come.
2. A STABLE or SHRINKING process is OK.
3. Otherwise the estimated peak is weights x a multiplier chosen from the
   framework and the command line (`MULTIPLIERS`); pre-allocating frameworks
   (vLLM, SGLang, TGI, JAX) use 1.05 x current use when the weights are
   unknown, because their pool is already allocated; without weights, others
   use current use as the base. A higher observed peak overrides a lower
   estimate. The memory still needed is compared with the GPU's free memory:
   OK with 1.5x to spare, TIGHT when it just fits, OOM when it does not.
   Deep mode (a process reporting its allocator statistics): the observed peak
   includes the allocator's own reserved peak (plus what NVML counts outside the
   allocator, such as the CUDA context), which NVML sampling can miss between
   refreshes. (Reserved-but-unallocated memory is already in NVML's use, so the
   memory still needed from the GPU does not change.)
4. Collective pressure: when the estimated peaks of all processes on a GPU add
   up to more than the GPU, OK becomes TIGHT and TIGHT becomes OOM.

Pure code. The reasons are short fixed phrases; the numbers travel in
`SurvivalPrediction.estimated_peak_bytes` and `.multiplier`.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vramtop.model import (
    DeepStats,
    Phase,
    ServerMetrics,
    SurvivalPrediction,
    Verdict,
    positional_factory,
)


class Workload(str, enum.Enum):
    INFERENCE = "inference"
    INFERENCE_LONG_CONTEXT = "inference, long context"
    LORA = "LoRA / PEFT"
    TRAINING_SGD = "full training, SGD"
    TRAINING_ADAM = "full training, Adam"
    SERVER = "vLLM / SGLang server"
    PYTORCH = "unknown PyTorch"
    UNKNOWN = "unknown"


MULTIPLIERS: dict[Workload, float] = {
    Workload.INFERENCE: 1.2,
    Workload.INFERENCE_LONG_CONTEXT: 1.5,
    Workload.LORA: 1.5,
    Workload.TRAINING_SGD: 3.0,
    Workload.TRAINING_ADAM: 4.0,
    Workload.SERVER: 1.8,
    Workload.PYTORCH: 2.5,
    Workload.UNKNOWN: 1.5,
}

PRE_ALLOCATING = frozenset({"vllm", "sglang", "tgi", "jax"})
PRE_ALLOCATED_MULTIPLIER = 1.05
SERVERS = frozenset({"vllm", "sglang", "tgi"})
INFERENCE_ENGINES = frozenset({"ollama", "llamacpp", "llama.cpp"})
HEADROOM_OK = 1.5  # free memory must cover the growth still to come this many times over
LONG_CONTEXT_TOKENS = 32_768
KV_FULL = 0.99
KV_HIGH = 0.90
KV_FULL_FREE_SHARE = 0.002  # ... and under this share of the GPU free: the next block fails
POOL_LOW_FREE_SHARE = 0.0025  # a token pool with less than this free beside it is tight

_LONG_CONTEXT_FLAGS = ("--max-model-len", "--context-length", "--ctx-size", "--max-seq-len")
_TRAIN_WORDS = ("train", "finetune", "fine-tune", "fine_tune", "pretrain", "sft", "dpo")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class SurvivalInput:
    """What survival needs to know about one process on one GPU."""

    used_bytes: int | None
    phase: Phase
    peak_bytes: int | None = None
    framework: str | None = None
    cmdline: tuple[str, ...] = ()
    weights_bytes: int | None = None
    server: ServerMetrics | None = None
    deep: DeepStats | None = None


#: SurvivalInput with every field, positionally: the engine makes one per process per sample.
new_survival_input: Callable[
    [
        int | None,
        Phase,
        int | None,
        str | None,
        tuple[str, ...],
        int | None,
        ServerMetrics | None,
        DeepStats | None,
    ],
    SurvivalInput,
] = positional_factory(SurvivalInput)
_new_prediction: Callable[[Verdict, int | None, float | None, str], SurvivalPrediction] = (
    positional_factory(SurvivalPrediction)
)


def _deep_fits(inp: SurvivalInput) -> DeepStats | None:
    """The deep-mode statistics, if they add up for this process on this GPU."""
    d = inp.deep
    if d is None or inp.used_bytes is None:
        return None
    if not 0 <= d.allocated_bytes <= d.reserved_bytes <= inp.used_bytes:
        return None  # another GPU's, or nonsense
    return d


def observed_peak(inp: SurvivalInput) -> int | None:
    """The most this process has been seen to need: its NVML history's peak or (deep
    mode) the allocator's reserved peak plus what NVML counts outside the allocator,
    whichever is higher."""
    peak = inp.peak_bytes if inp.peak_bytes is not None and inp.peak_bytes > 0 else None
    if inp.deep is None:
        return peak
    d = _deep_fits(inp)
    if d is not None and inp.used_bytes is not None and d.reserved_peak_bytes > 0:
        deep_peak = d.reserved_peak_bytes + (inp.used_bytes - d.reserved_bytes)
        peak = deep_peak if peak is None else max(peak, deep_peak)
    return peak


def _tokens(cmdline: Sequence[str]) -> list[str]:
    out: list[str] = []
    for arg in cmdline:
        out.extend(_WORD.findall(arg.lower()))
    return out


def _context_tokens(cmdline: Sequence[str]) -> int | None:
    """The context length asked for on the command line (`--flag N` or `--flag=N`)."""
    args = [a.lower() for a in cmdline]
    for i, arg in enumerate(args):
        for flag in (*_LONG_CONTEXT_FLAGS, "-c"):
            value: str | None = None
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "=") and flag != "-c":
                value = arg.split("=", 1)[1]
            if value is not None:
                try:
                    return int(float(value.rstrip("k")) * (1024 if value.endswith("k") else 1))
                except ValueError:
                    continue
    return None


def classify_workload(framework: str | None, cmdline: Sequence[str]) -> Workload:
    """The multiplier row for a process, from its framework and command line."""
    fw = (framework or "").lower()
    words = _tokens(cmdline)
    text = " ".join(a.lower() for a in cmdline)
    if any(w in ("lora", "qlora", "peft") or w.startswith(("lora", "peft")) for w in words):
        return Workload.LORA
    if fw in SERVERS:
        return Workload.SERVER
    if any(w.startswith(("adam", "adafactor", "lamb")) for w in words):
        return Workload.TRAINING_ADAM
    if any(w == "sgd" or w.endswith("sgd") for w in words):
        return Workload.TRAINING_SGD
    if any(t in text for t in _TRAIN_WORDS):
        return Workload.TRAINING_ADAM  # training without a named optimizer: assume Adam
    ctx = _context_tokens(cmdline)
    if fw in INFERENCE_ENGINES or fw == "jax" or "infer" in text or "generate" in text:
        if ctx is not None and ctx >= LONG_CONTEXT_TOKENS:
            return Workload.INFERENCE_LONG_CONTEXT
        return Workload.INFERENCE
    if ctx is not None and ctx >= LONG_CONTEXT_TOKENS:
        return Workload.INFERENCE_LONG_CONTEXT
    if fw == "pytorch":
        return Workload.PYTORCH
    return Workload.UNKNOWN


def estimate_peak(inp: SurvivalInput) -> tuple[int | None, float | None]:
    """Estimated peak bytes and the multiplier used; (None, None) without a base."""
    return _estimate_peak(inp, observed_peak(inp))


def _estimate_peak(inp: SurvivalInput, seen: int | None) -> tuple[int | None, float | None]:
    """`estimate_peak`, given the observed peak."""
    weights = inp.weights_bytes
    used = inp.used_bytes
    if used is not None and not used >= 0:
        used = None
    if weights and weights > 0:
        multiplier = _multiplier(inp.framework, tuple(inp.cmdline))
        base: int | None = weights
    elif inp.framework is not None and inp.framework.lower() in PRE_ALLOCATING:
        multiplier, base = PRE_ALLOCATED_MULTIPLIER, used
    else:
        multiplier = _multiplier(inp.framework, tuple(inp.cmdline))
        base = used
    if base is None:
        return seen, None
    estimate = int(base * multiplier)
    if seen is not None and seen > estimate:
        estimate = seen  # it has already needed more than the estimate
    return estimate, multiplier


@functools.lru_cache(maxsize=4096)
def _multiplier(framework: str | None, cmdline: tuple[str, ...]) -> float:
    # Memoised: a process's framework and command line do not change between samples.
    return MULTIPLIERS[classify_workload(framework, cmdline)]


#: A verdict before it becomes a SurvivalPrediction: verdict, estimated peak,
#: multiplier, reason.
_Verdict = tuple[Verdict, int | None, float | None, str]


def _from_server(
    server: ServerMetrics, framework: str, free: int | None, total: int | None
) -> _Verdict | None:
    if not server.ok:
        return None
    kind = (server.server or framework).lower()
    if kind == "ollama":
        return None
    share = free / total if free is not None and total else None
    if kind == "vllm" and server.kv_cache_usage is not None:
        usage = server.kv_cache_usage
        if not math.isfinite(usage):
            return None
        if usage >= KV_FULL and share is not None and share < KV_FULL_FREE_SHARE:
            return Verdict.OOM, None, None, "KV cache full, GPU full"
        if usage > KV_HIGH:
            return Verdict.TIGHT, None, None, "KV cache nearly full"
        return Verdict.OK, None, None, "KV cache has room"
    if kind == "sglang" and server.kv_capacity_tokens:
        used_tokens, capacity = server.kv_used_tokens, server.kv_capacity_tokens
        if used_tokens is not None and capacity > 0 and used_tokens / capacity > KV_HIGH:
            return Verdict.TIGHT, None, None, "token pool nearly full"
        if share is not None and share < POOL_LOW_FREE_SHARE:
            return Verdict.TIGHT, None, None, "token pool set, GPU full"
        return Verdict.OK, None, None, "token pool pre-allocated"
    return None


def _assess(
    inp: SurvivalInput, free: int | None, total: int | None
) -> tuple[Verdict, int | None, float | None, str, int]:
    """One process's verdict before collective pressure, and the bytes it counts for
    in that pressure: the highest of its estimated peak, observed peak and use."""
    used = inp.used_bytes
    seen = observed_peak(inp)
    if seen is not None and not seen > 0:
        seen = None
    own = seen or 0
    if used and used > own:
        own = used
    if inp.server is not None:
        scraped = _from_server(inp.server, (inp.framework or "").lower(), free, total)
        if scraped is not None:
            return (*scraped, own)
    estimate, multiplier = _estimate_peak(inp, seen)
    pressure = estimate if estimate is not None and estimate > own else own
    phase = inp.phase
    if phase is Phase.STABLE:
        return Verdict.OK, estimate, multiplier, "stable", pressure
    if phase is Phase.SHRINKING:
        return Verdict.OK, estimate, multiplier, "shrinking", pressure
    if estimate is None or used is None or free is None:
        return Verdict.OK, estimate, multiplier, "no estimate", pressure
    needed = estimate - used
    if needed <= 0:
        return Verdict.OK, estimate, multiplier, "past its estimated peak", pressure
    if free >= HEADROOM_OK * needed:
        return Verdict.OK, estimate, multiplier, "estimated peak fits", pressure
    if free >= needed:
        return Verdict.TIGHT, estimate, multiplier, "estimated peak barely fits", pressure
    return Verdict.OOM, estimate, multiplier, "estimated peak exceeds free memory", pressure


def predict_survival(
    inp: SurvivalInput, *, gpu_free_bytes: int | None, gpu_total_bytes: int | None
) -> SurvivalPrediction:
    """One process's verdict, before collective pressure."""
    verdict, estimate, multiplier, reason, _ = _assess(inp, gpu_free_bytes, gpu_total_bytes)
    return _new_prediction(verdict, estimate, multiplier, reason)


_OVERCOMMITTED = "; GPU overcommitted"


def survival_for_gpu(
    inputs: Sequence[SurvivalInput],
    *,
    gpu_free_bytes: int | None,
    gpu_total_bytes: int | None,
) -> list[SurvivalPrediction]:
    """Verdicts for every process on one GPU, with collective pressure applied."""
    assessed = [_assess(inp, gpu_free_bytes, gpu_total_bytes) for inp in inputs]
    if not gpu_total_bytes or gpu_total_bytes <= 0:
        overcommitted = False
    else:
        peaks = 0
        for a in assessed:
            peaks += a[4]
        overcommitted = not peaks <= gpu_total_bytes
    if not overcommitted:
        return [_new_prediction(v, e, m, r) for v, e, m, r, _ in assessed]
    # Collective pressure: OK becomes TIGHT, TIGHT and OOM become OOM.
    return [
        _new_prediction(Verdict.TIGHT if v is Verdict.OK else Verdict.OOM, e, m, r + _OVERCOMMITTED)
        for v, e, m, r, _ in assessed
    ]
