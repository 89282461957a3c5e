"""Survival verdicts (SPEC §4), the weights-vs-dynamic breakdown, and their engine wiring."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramtop.analysis.breakdown import estimate_breakdown
from vramtop.analysis.survival import (
    MULTIPLIERS,
    PRE_ALLOCATED_MULTIPLIER,
    SurvivalInput,
    Workload,
    classify_workload,
    estimate_peak,
    observed_peak,
    predict_survival,
    survival_for_gpu,
)
from vramtop.backends.replay import ReplayBackend
from vramtop.engine import Monitor
from vramtop.model import (
    DeepStats,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    Phase,
    ProcessIdentity,
    ProcessInfo,
    ServerMetrics,
    SurvivalPrediction,
    Verdict,
)
from vramtop.trace import Trace, TraceDevice, TraceHeader

GB = 1_000_000_000
TOTAL = 80 * GB


def test_multiplier_table_is_the_spec() -> None:
    assert {w.value: m for w, m in MULTIPLIERS.items()} == {
        "inference": 1.2,
        "inference, long context": 1.5,
        "LoRA / PEFT": 1.5,
        "full training, SGD": 3.0,
        "full training, Adam": 4.0,
        "vLLM / SGLang server": 1.8,
        "unknown PyTorch": 2.5,
        "unknown": 1.5,
    }


@pytest.mark.parametrize(
    ("framework", "cmdline", "expected"),
    [
        ("ollama", ("ollama", "runner"), Workload.INFERENCE),
        (
            "llamacpp",
            ("llama-server", "-m", "x.gguf", "-c", "65536"),
            Workload.INFERENCE_LONG_CONTEXT,
        ),
        ("llamacpp", ("llama-server", "-m", "x.gguf", "-c", "4096"), Workload.INFERENCE),
        (
            "pytorch",
            ("python", "infer.py", "--max-model-len=131072"),
            Workload.INFERENCE_LONG_CONTEXT,
        ),
        ("pytorch", ("python", "finetune.py", "--use-lora"), Workload.LORA),
        ("pytorch", ("python", "train.py", "--peft", "--optim", "adamw"), Workload.LORA),
        ("pytorch", ("python", "train.py", "--optimizer", "sgd"), Workload.TRAINING_SGD),
        ("pytorch", ("python", "train.py", "--optim=adamw_torch"), Workload.TRAINING_ADAM),
        ("pytorch", ("torchrun", "pretrain_gpt.py"), Workload.TRAINING_ADAM),
        ("vllm", ("python", "-m", "vllm.entrypoints.openai.api_server"), Workload.SERVER),
        ("sglang", ("python", "-m", "sglang.launch_server"), Workload.SERVER),
        ("pytorch", ("python", "app.py"), Workload.PYTORCH),
        (None, ("python", "app.py"), Workload.UNKNOWN),
        (None, (), Workload.UNKNOWN),
    ],
)
def test_workload_from_framework_and_cmdline(
    framework: str | None, cmdline: tuple[str, ...], expected: Workload
) -> None:
    assert classify_workload(framework, cmdline) is expected


def _inp(**kw: object) -> SurvivalInput:
    base: dict[str, object] = {"used_bytes": 10 * GB, "phase": Phase.GROWING}
    base.update(kw)
    return SurvivalInput(**base)  # type: ignore[arg-type]


def test_stable_and_shrinking_are_ok() -> None:
    for phase in (Phase.STABLE, Phase.SHRINKING):
        v = predict_survival(
            _inp(phase=phase, weights_bytes=60 * GB, framework="pytorch"),
            gpu_free_bytes=1 * GB,
            gpu_total_bytes=TOTAL,
        )
        assert v.verdict is Verdict.OK


def test_weights_times_multiplier_against_free_memory() -> None:
    # Adam training of 5 GB of weights peaks near 20 GB: 10 GB more than it uses now.
    inp = _inp(framework="pytorch", cmdline=("python", "train.py"), weights_bytes=5 * GB)
    ok = predict_survival(inp, gpu_free_bytes=16 * GB, gpu_total_bytes=TOTAL)
    tight = predict_survival(inp, gpu_free_bytes=12 * GB, gpu_total_bytes=TOTAL)
    oom = predict_survival(inp, gpu_free_bytes=8 * GB, gpu_total_bytes=TOTAL)
    assert (ok.verdict, tight.verdict, oom.verdict) == (Verdict.OK, Verdict.TIGHT, Verdict.OOM)
    assert ok.estimated_peak_bytes == 20 * GB and ok.multiplier == 4.0


def test_pre_allocating_frameworks_use_105_without_weights() -> None:
    for fw in ("vllm", "sglang", "tgi", "jax"):
        peak, mult = estimate_peak(_inp(framework=fw, used_bytes=60 * GB))
        assert mult == PRE_ALLOCATED_MULTIPLIER
        assert peak == int(60 * GB * 1.05)
    peak, mult = estimate_peak(_inp(framework="vllm", used_bytes=60 * GB, weights_bytes=14 * GB))
    assert mult == 1.8 and peak == int(14 * GB * 1.8)


def test_observed_peak_overrides_a_lower_estimate() -> None:
    inp = _inp(framework="ollama", weights_bytes=4 * GB, used_bytes=5 * GB, peak_bytes=9 * GB)
    peak, _ = estimate_peak(inp)
    assert peak == 9 * GB
    higher = _inp(framework="ollama", weights_bytes=10 * GB, used_bytes=5 * GB, peak_bytes=9 * GB)
    assert estimate_peak(higher)[0] == 12 * GB


def test_past_its_estimated_peak_is_ok() -> None:
    v = predict_survival(
        _inp(framework="ollama", weights_bytes=4 * GB, used_bytes=10 * GB),
        gpu_free_bytes=0,
        gpu_total_bytes=TOTAL,
    )
    assert v.verdict is Verdict.OK


def _server(**kw: object) -> ServerMetrics:
    base: dict[str, object] = {"server": "vllm", "port": 8000, "ok": True}
    base.update(kw)
    return ServerMetrics(**base)  # type: ignore[arg-type]


def test_vllm_kv_cache_usage_comes_first() -> None:
    common = {"framework": "vllm", "weights_bytes": 60 * GB, "used_bytes": 70 * GB}
    full = _inp(**common, server=_server(kv_cache_usage=0.995))
    assert (
        predict_survival(full, gpu_free_bytes=50_000_000, gpu_total_bytes=TOTAL).verdict
        is Verdict.OOM
    )
    assert (
        predict_survival(full, gpu_free_bytes=8 * GB, gpu_total_bytes=TOTAL).verdict
        is Verdict.TIGHT
    )
    calm = _inp(**common, server=_server(kv_cache_usage=0.4))
    # The multiplier alone would say OOM (60 GB x 1.8 does not fit); the server knows better.
    assert (
        predict_survival(calm, gpu_free_bytes=1 * GB, gpu_total_bytes=TOTAL).verdict is Verdict.OK
    )


def test_sglang_token_pool() -> None:
    inp = _inp(framework="sglang", server=_server(server="sglang", kv_capacity_tokens=500_000))
    assert predict_survival(inp, gpu_free_bytes=4 * GB, gpu_total_bytes=TOTAL).verdict is Verdict.OK
    assert (
        predict_survival(inp, gpu_free_bytes=100_000_000, gpu_total_bytes=TOTAL).verdict
        is Verdict.TIGHT
    )
    busy = _inp(
        framework="sglang",
        server=_server(server="sglang", kv_capacity_tokens=1000, kv_used_tokens=950),
    )
    assert (
        predict_survival(busy, gpu_free_bytes=4 * GB, gpu_total_bytes=TOTAL).verdict
        is Verdict.TIGHT
    )


def test_ollama_metrics_are_not_used() -> None:
    inp = _inp(
        framework="ollama",
        weights_bytes=30 * GB,
        used_bytes=5 * GB,
        server=_server(server="ollama", kv_cache_usage=0.1),
    )
    v = predict_survival(inp, gpu_free_bytes=10 * GB, gpu_total_bytes=TOTAL)
    assert v.verdict is Verdict.OOM  # 30 GB x 1.2 = 36 GB, 31 GB more than now, 10 GB free


def test_failed_scrape_falls_through() -> None:
    inp = _inp(framework="vllm", used_bytes=60 * GB, server=_server(ok=False, error="timeout"))
    v = predict_survival(inp, gpu_free_bytes=10 * GB, gpu_total_bytes=TOTAL)
    assert v.multiplier == PRE_ALLOCATED_MULTIPLIER


def test_collective_pressure_escalates() -> None:
    a = _inp(framework="ollama", weights_bytes=30 * GB, used_bytes=30 * GB)  # peak 36
    b = _inp(framework="ollama", weights_bytes=40 * GB, used_bytes=40 * GB)  # peak 48
    alone = survival_for_gpu([a], gpu_free_bytes=20 * GB, gpu_total_bytes=TOTAL)
    assert alone[0].verdict is Verdict.OK
    both = survival_for_gpu([a, b], gpu_free_bytes=9 * GB, gpu_total_bytes=TOTAL)
    # 36 + 48 = 84 GB of peaks on an 80 GB GPU.
    assert both[0].verdict is Verdict.TIGHT  # OK -> TIGHT
    assert both[1].verdict is Verdict.OOM  # TIGHT (8 GB needed, 9 free) -> OOM
    assert all("overcommitted" in v.reason for v in both)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    st.sampled_from(list(Phase)),
    st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    st.one_of(st.none(), st.sampled_from(["vllm", "sglang", "ollama", "jax", "pytorch", "x"])),
    st.lists(st.text(max_size=12), max_size=5),
    st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    st.one_of(st.none(), st.integers(-(2**40), 2**40)),
)
def test_survival_never_raises(
    used: int | None,
    phase: Phase,
    peak: int | None,
    fw: str | None,
    cmd: list[str],
    weights: int | None,
    kv: float | None,
    free: int | None,
    total: int | None,
) -> None:
    server = _server(server=fw or "vllm", kv_cache_usage=kv, kv_capacity_tokens=weights)
    inp = SurvivalInput(used, phase, peak, fw, tuple(cmd), weights, server)
    out = survival_for_gpu([inp, inp], gpu_free_bytes=free, gpu_total_bytes=total)
    assert len(out) == 2 and all(isinstance(v.verdict, Verdict) for v in out)


# --- breakdown ---------------------------------------------------------------------------


def test_breakdown_weights_vs_dynamic() -> None:
    b = estimate_breakdown(20 * GB, 14 * GB)
    assert b is not None and b.is_estimate
    assert (b.weights_bytes, b.dynamic_bytes, b.context_bytes) == (14 * GB, 6 * GB, None)


def test_breakdown_with_deep_stats_separates_the_context() -> None:
    deep = DeepStats("pytorch", 0, allocated_bytes=15 * GB, reserved_bytes=19 * GB, active_bytes=0)
    b = estimate_breakdown(20 * GB, 14 * GB, deep)
    assert b is not None
    assert (b.weights_bytes, b.context_bytes, b.dynamic_bytes) == (14 * GB, 1 * GB, 5 * GB)


def test_breakdown_caps_weights_at_use_and_knows_when_it_knows_nothing() -> None:
    b = estimate_breakdown(5 * GB, 8 * GB)
    assert b is not None and b.weights_bytes == 5 * GB and b.dynamic_bytes == 0
    assert estimate_breakdown(5 * GB, None) is None
    assert estimate_breakdown(None, 8 * GB) is None
    assert estimate_breakdown(0, 8 * GB) is None


# --- engine wiring -----------------------------------------------------------------------


class _Enricher:
    def __init__(self, infos: dict[ProcessIdentity, ProcessInfo]) -> None:
        self.infos = infos

    def enrich(self, processes: object, now: float) -> dict[ProcessIdentity, ProcessInfo]:
        return self.infos

    def forget(self, identities: object) -> None:
        pass

    def notices(self) -> list[str]:
        return []


def _trace(steps: list[list[tuple[int, int]]]) -> Trace:
    samples = []
    for i, procs in enumerate(steps):
        used = sum(u for _, u in procs)
        dev = GPUDevice(
            index=0,
            uuid="GPU-s",
            name="t",
            total_bytes=TOTAL,
            used_bytes=used,
            free_bytes=TOTAL - used,
            processes=tuple(
                GPUProcess(pid=p, starttime=1, used_bytes=u, cmdline=("python", "train.py"))
                for p, u in procs
            ),
        )
        samples.append(MemorySnapshot(t=float(i), unix_time=1e9 + i, devices=(dev,)))
    header = TraceHeader(1e9, 1.0, None, None, (TraceDevice(0, "t", "GPU-s", TOTAL),))
    return Trace("mem", header, tuple(samples), ())


def test_engine_fills_survival_and_breakdown() -> None:
    # Process 1 grows (training, 8 GB of weights: Adam peaks near 32 GB); process 2 sits at
    # 50 GB. At the end process 1 uses 21 GB, needs 11 more, and 9 GB are free.
    steps = [[(1, 10 * GB + i * GB), (2, 50 * GB)] for i in range(12)]
    infos = {
        ProcessIdentity(1, 1): ProcessInfo(
            ProcessIdentity(1, 1),
            framework="pytorch",
            weights_bytes=8 * GB,
            cmdline=("python", "train.py"),
        ),
    }
    m = Monitor(ReplayBackend(_trace(steps), step_s=1.0), enricher=_Enricher(infos))
    m.open()
    frame = m.step()
    for _ in range(11):
        frame = m.step()
    views = {pv.process.pid: pv for pv in frame.gpus[0].processes}
    grower, flat = views[1], views[2]
    assert grower.phase.phase is Phase.GROWING
    assert grower.survival is not None and grower.survival.multiplier == 4.0
    assert grower.survival.estimated_peak_bytes == 32 * GB
    assert grower.survival.verdict is Verdict.OOM
    assert grower.breakdown is not None and grower.breakdown.weights_bytes == 8 * GB
    # 32 + 50 GB of peaks on an 80 GB GPU: the stable process is OK -> TIGHT.
    assert flat.survival is not None and flat.survival.verdict is Verdict.TIGHT
    assert flat.breakdown is None  # nothing known about its weights


_ESCALATED = {Verdict.OK: Verdict.TIGHT, Verdict.TIGHT: Verdict.OOM, Verdict.OOM: Verdict.OOM}


def _reference_for_gpu(
    inputs: list[SurvivalInput], free: int | None, total: int | None
) -> list[SurvivalPrediction]:
    """Collective pressure as first written: per-process verdicts, then a second pass
    over the observed peaks, then each verdict escalated."""
    verdicts = [predict_survival(i, gpu_free_bytes=free, gpu_total_bytes=total) for i in inputs]
    if not total or total <= 0:
        return verdicts
    peaks = 0
    for inp, v in zip(inputs, verdicts, strict=True):
        own = max(inp.used_bytes or 0, observed_peak(inp) or 0)
        peaks += max(v.estimated_peak_bytes or 0, own)
    if peaks <= total:
        return verdicts
    return [
        replace(v, verdict=_ESCALATED[v.verdict], reason=v.reason + "; GPU overcommitted")
        for v in verdicts
    ]


_bytes = st.one_of(st.none(), st.integers(-(2**36), 2**37))
_deep_stats = st.one_of(
    st.none(),
    st.builds(
        lambda a, r, p: DeepStats("pytorch", 0, a, a + r, a, a, a + r + p),
        st.integers(0, 2**35),
        st.integers(0, 2**35),
        st.integers(-(2**30), 2**35),
    ),
)
_inputs = st.builds(
    SurvivalInput,
    _bytes,
    st.sampled_from(list(Phase)),
    _bytes,
    st.one_of(st.none(), st.sampled_from(["vllm", "sglang", "ollama", "jax", "pytorch", "JAX"])),
    st.sampled_from([(), ("python", "train.py", "--optim", "sgd"), ("serve", "-c", "65536")]),
    _bytes,
    st.one_of(st.none(), st.builds(_server, kv_cache_usage=st.sampled_from([0.5, 0.95, 1.0]))),
    _deep_stats,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_inputs, max_size=6), _bytes, st.one_of(st.none(), st.integers(-5, 2**38)))
def test_survival_for_gpu_matches_the_two_pass_reference(
    inputs: list[SurvivalInput], free: int | None, total: int | None
) -> None:
    assert survival_for_gpu(inputs, gpu_free_bytes=free, gpu_total_bytes=total) == (
        _reference_for_gpu(inputs, free, total)
    )
    for inp in inputs:
        v = predict_survival(inp, gpu_free_bytes=free, gpu_total_bytes=total)
        if v.multiplier is not None:
            assert (v.estimated_peak_bytes, v.multiplier) == estimate_peak(inp)
