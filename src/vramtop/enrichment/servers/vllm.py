"""vLLM: Prometheus text on `/metrics` (same port as the OpenAI API, always on).

V1 names (current): `vllm:kv_cache_usage_perc`, `vllm:prefix_cache_{queries,hits}_total`,
`vllm:cache_config_info{..., engine}`; V0 and the transition (<= v0.10):
`vllm:gpu_cache_usage_perc`, `vllm:gpu_prefix_cache_{queries,hits}_total`, the
`vllm:gpu_prefix_cache_hit_rate` gauge. Several data-parallel engines give one
series each (`engine` label): usage is averaged, counts and capacity summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

from vramtop.enrichment import promtext
from vramtop.enrichment.servers import (
    VLLM,
    Adapter,
    Getter,
    count,
    finite,
    loaded,
    mean,
    parse_exposition,
    require_ok,
    total,
)
from vramtop.model import ServerMetrics

PATH = "/metrics"
USAGE_NAMES = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
COUNTER_NAMES = (
    ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total"),
    ("vllm:gpu_prefix_cache_queries_total", "vllm:gpu_prefix_cache_hits_total"),
)
HIT_RATE_GAUGE = "vllm:gpu_prefix_cache_hit_rate"


@dataclass(frozen=True, slots=True)
class EngineCache:
    """One engine's `vllm:cache_config_info` labels that matter here."""

    num_gpu_blocks: int | None
    block_size: int | None
    gpu_memory_utilization: float | None
    kv_size_tokens: int | None

    @property
    def capacity_tokens(self) -> int | None:
        if self.kv_size_tokens is not None:
            return self.kv_size_tokens
        if self.num_gpu_blocks is not None and self.block_size is not None:
            return self.num_gpu_blocks * self.block_size
        return None


@dataclass(frozen=True, slots=True)
class VllmSnapshot:
    """What one `/metrics` body says, aggregated over engines."""

    kv_cache_usage: float | None
    requests_running: int | None
    requests_waiting: int | None
    prefix_queries: float | None
    prefix_hits: float | None
    prefix_hit_rate_gauge: float | None
    num_gpu_blocks: int | None
    block_size: int | None
    gpu_memory_utilization: float | None
    kv_capacity_tokens: int | None
    kv_used_tokens: int | None
    model_names: tuple[str, ...]


def _int_label(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit():
        return None
    n = int(value)
    return n if n > 0 else None


def _float_label(value: str | None, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    try:
        return finite(float(value), lo, hi)
    except ValueError:
        return None


def _engine(sample: promtext.Sample) -> str:
    return sample.label("engine") or "0"


def _per_engine(exp: promtext.Exposition, name: str, lo: float, hi: float) -> dict[str, float]:
    """Finite values of `name` in [lo, hi], one per engine (the last one wins)."""
    out: dict[str, float] = {}
    for s in exp.series(name):
        v = finite(s.value, lo, hi)
        if v is not None:
            out[_engine(s)] = v
    return out


def parse_metrics(text: str) -> VllmSnapshot:
    """Read a vLLM `/metrics` body. Raises ResponseFormatError when it holds no vLLM metric."""
    exp = parse_exposition(text, PATH, "vllm")

    usage: dict[str, float] = {}
    for name in USAGE_NAMES:  # the new name wins; the old one only when the new is absent
        usage = _per_engine(exp, name, 0.0, 1.0)
        if usage:
            break
    running = total(_per_engine(exp, "vllm:num_requests_running", 0.0, float("inf")).values())
    waiting = total(_per_engine(exp, "vllm:num_requests_waiting", 0.0, float("inf")).values())

    queries = hits = None
    for q_name, h_name in COUNTER_NAMES:
        q = _per_engine(exp, q_name, 0.0, float("inf"))
        h = _per_engine(exp, h_name, 0.0, float("inf"))
        if q and h:
            queries, hits = total(q.values()), total(h.values())
            break
    gauges = _per_engine(exp, HIT_RATE_GAUGE, 0.0, 1.0)
    hit_gauge = mean(gauges.values())

    caches: dict[str, EngineCache] = {}
    for s in exp.series("vllm:cache_config_info"):
        caches[_engine(s)] = EngineCache(
            num_gpu_blocks=_int_label(s.label("num_gpu_blocks")),
            block_size=_int_label(s.label("block_size")),
            gpu_memory_utilization=_float_label(s.label("gpu_memory_utilization"), 0.0, 1.0),
            kv_size_tokens=_int_label(s.label("kv_cache_size_tokens")),
        )
    blocks = [c.num_gpu_blocks for c in caches.values() if c.num_gpu_blocks is not None]
    block_sizes = [c.block_size for c in caches.values() if c.block_size is not None]
    gmus = [c.gpu_memory_utilization for c in caches.values() if c.gpu_memory_utilization]
    caps = {e: c.capacity_tokens for e, c in caches.items() if c.capacity_tokens is not None}
    capacity = sum(caps.values()) if caps else None

    used: float | None = None
    if caps and usage:
        if set(usage) <= set(caps):
            used = sum(u * caps[e] for e, u in usage.items())
        elif capacity is not None:
            used = fmean(usage.values()) * capacity

    names = [s.label("model_name") or "" for n in exp.names() for s in exp.series(n)]
    return VllmSnapshot(
        kv_cache_usage=mean(usage.values()),
        requests_running=count(running),
        requests_waiting=count(waiting),
        prefix_queries=queries,
        prefix_hits=hits,
        prefix_hit_rate_gauge=hit_gauge,
        num_gpu_blocks=sum(blocks) if blocks else None,
        block_size=min(block_sizes) if block_sizes else None,
        gpu_memory_utilization=gmus[0] if gmus else None,
        kv_capacity_tokens=capacity,
        kv_used_tokens=count(used),
        model_names=tuple(sorted(set(names) - {""})),
    )


def hit_rate(
    previous: tuple[float, float] | None, queries: float | None, hits: float | None
) -> float | None:
    """Prefix-cache hit rate over the interval between two scrapes (counter deltas).

    None on the first scrape, when nothing was queried in between, or after a
    counter reset.
    """
    if previous is None or queries is None or hits is None:
        return None
    dq, dh = queries - previous[0], hits - previous[1]
    if dq <= 0 or dh < 0 or dh > dq:
        return None
    return dh / dq


class VllmAdapter(Adapter):
    kind = VLLM

    def __init__(self) -> None:
        self._counters: tuple[float, float] | None = None

    def refresh(self, get: Getter) -> ServerMetrics:
        resp = get(PATH)
        require_ok(resp, PATH)
        snap = parse_metrics(resp.text())
        rate: float | None
        if snap.prefix_queries is not None and snap.prefix_hits is not None:
            rate = hit_rate(self._counters, snap.prefix_queries, snap.prefix_hits)
            self._counters = (snap.prefix_queries, snap.prefix_hits)
        else:
            rate = snap.prefix_hit_rate_gauge
        return ServerMetrics(
            server=VLLM,
            port=None,
            ok=True,
            kv_cache_usage=snap.kv_cache_usage,
            kv_capacity_tokens=snap.kv_capacity_tokens,
            kv_used_tokens=snap.kv_used_tokens,
            requests_running=snap.requests_running,
            requests_waiting=snap.requests_waiting,
            prefix_cache_hit_rate=rate,
            num_gpu_blocks=snap.num_gpu_blocks,
            block_size=snap.block_size,
            gpu_memory_utilization=snap.gpu_memory_utilization,
            models=loaded(snap.model_names),
        )
