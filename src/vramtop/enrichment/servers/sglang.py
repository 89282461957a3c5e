"""SGLang: `/server_info` (older builds: `/get_server_info`) and `/metrics` when enabled.

`/server_info` is every ServerArgs field plus the scheduler's init info:
`max_total_num_tokens` is the KV pool's token capacity (per data-parallel
rank), `mem_fraction_static` the share of GPU memory for weights and the pool.
It does not change while the server runs, so it is asked once.

`/metrics` (only with `--enable-metrics`) has one series per rank: tensor- and
pipeline-parallel ranks share one pool (their values are the same, so the
largest is kept), data-parallel ranks own separate pools (usage averaged,
tokens summed).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from vramtop.enrichment import promtext
from vramtop.enrichment.servers import (
    SGLANG,
    Adapter,
    Getter,
    HttpResponse,
    RateLimited,
    ResponseFormatError,
    Schema,
    count,
    finite,
    load_json,
    loaded,
    mean,
    parse_exposition,
    require_ok,
    total,
    validate_json,
)
from vramtop.errors import ScrapeError
from vramtop.model import ServerMetrics

INFO_PATHS = ("/server_info", "/get_server_info")
METRICS_PATH = "/metrics"
#: Labels that name a shard of the same pool (values are per pool, not per shard).
_SHARD_LABELS = frozenset({"tp_rank", "pp_rank", "attn_tp_rank", "moe_ep_rank"})


class ServerInfo(Schema):
    max_total_num_tokens: int | None = Field(None, gt=0, le=1 << 40)
    mem_fraction_static: float | None = Field(None, gt=0, le=1)
    model_path: str | None = Field(None, max_length=4096)
    served_model_name: str | None = Field(None, max_length=4096)
    dp_size: int | None = Field(None, ge=1, le=4096)


def parse_server_info(data: object, path: str = INFO_PATHS[0]) -> ServerInfo:
    """Validate a decoded `/server_info` body; it must carry the pool size or memory fraction."""
    if not isinstance(data, dict):
        raise ResponseFormatError(f"{path}: not a JSON object")
    info = validate_json(ServerInfo, data, path)
    if info.max_total_num_tokens is None and info.mem_fraction_static is None:
        raise ResponseFormatError(f"{path}: no max_total_num_tokens or mem_fraction_static")
    return info


@dataclass(frozen=True, slots=True)
class SglangSnapshot:
    token_usage: float | None
    used_tokens: int | None
    max_total_tokens: int | None
    running: int | None
    queued: int | None
    cache_hit_rate: float | None
    model_names: tuple[str, ...]


def _pool_key(sample: promtext.Sample) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in sample.labels if k not in _SHARD_LABELS)


def _per_pool(
    exp: promtext.Exposition, name: str, lo: float, hi: float
) -> dict[tuple[tuple[str, str], ...], float]:
    """One value per pool: the largest over the pool's shards."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for s in exp.series(name):
        v = finite(s.value, lo, hi)
        if v is None:
            continue
        key = _pool_key(s)
        out[key] = max(v, out.get(key, v))
    return out


def parse_metrics(text: str) -> SglangSnapshot:
    exp = parse_exposition(text, METRICS_PATH, "sglang")
    inf = float("inf")
    names = {s.label("model_name") or "" for s in exp.series("sglang:token_usage")}
    names |= {s.label("model_name") or "" for s in exp.series("sglang:num_used_tokens")}
    return SglangSnapshot(
        token_usage=mean(_per_pool(exp, "sglang:token_usage", 0.0, 1.0).values()),
        used_tokens=count(total(_per_pool(exp, "sglang:num_used_tokens", 0.0, inf).values())),
        max_total_tokens=count(
            total(_per_pool(exp, "sglang:max_total_num_tokens", 1.0, inf).values())
        ),
        running=count(total(_per_pool(exp, "sglang:num_running_reqs", 0.0, inf).values())),
        queued=count(total(_per_pool(exp, "sglang:num_queue_reqs", 0.0, inf).values())),
        cache_hit_rate=mean(_per_pool(exp, "sglang:cache_hit_rate", 0.0, 1.0).values()),
        model_names=tuple(sorted(names - {""})),
    )


class SglangAdapter(Adapter):
    kind = SGLANG

    def __init__(self) -> None:
        self._info: ServerInfo | None = None
        self._info_paths = list(INFO_PATHS)  # endpoints not yet found missing
        self._metrics_supported = True

    def _fetch_info(self, get: Getter) -> None:
        while self._info is None and self._info_paths:
            path = self._info_paths[0]
            resp = get(path)
            if resp.unsupported:
                self._info_paths.pop(0)
                continue
            self._info = parse_server_info(load_json(resp, path), path)

    def _fetch_metrics(self, get: Getter) -> SglangSnapshot | None:
        if not self._metrics_supported:
            return None
        resp: HttpResponse = get(METRICS_PATH)
        if resp.unsupported:  # started without --enable-metrics
            self._metrics_supported = False
            return None
        require_ok(resp, METRICS_PATH)
        return parse_metrics(resp.text())

    def refresh(self, get: Getter) -> ServerMetrics:
        error: ScrapeError | None = None
        try:
            self._fetch_info(get)
        except RateLimited:
            raise
        except ScrapeError as e:  # the pool size is still worth having from /metrics
            error = e
        snap = self._fetch_metrics(get)
        info = self._info
        if snap is None and info is None:
            raise error or ResponseFormatError("no /server_info and no /metrics")
        dp = info.dp_size if info and info.dp_size else 1
        capacity = snap.max_total_tokens if snap and snap.max_total_tokens else None
        if capacity is None and info and info.max_total_num_tokens:
            capacity = info.max_total_num_tokens * dp
        usage = snap.token_usage if snap else None
        used = snap.used_tokens if snap else None
        if used is None and usage is not None and capacity is not None:
            used = round(usage * capacity)
        names: list[str] = list(snap.model_names) if snap else []
        if info is not None:
            names.append(info.served_model_name or info.model_path or "")
        return ServerMetrics(
            server=SGLANG,
            port=None,
            ok=True,
            kv_cache_usage=usage,
            kv_capacity_tokens=capacity,
            kv_used_tokens=used,
            requests_running=snap.running if snap else None,
            requests_waiting=snap.queued if snap else None,
            prefix_cache_hit_rate=snap.cache_hit_rate if snap else None,
            gpu_memory_utilization=info.mem_fraction_static if info else None,
            models=loaded(names),
        )
