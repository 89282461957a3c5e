"""The JSON objects vramtop prints: one per GPU per sample (the JSON stream, `replay
--jsonl`, `/api/frame`) and one per snapshot (`--once --json`). Schema: docs/json.md.
"""

from __future__ import annotations

import json
from typing import IO, Any

from vramtop.frame import Frame, GPUView, ProcessView

SCHEMA_VERSION = 1


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def process_dict(pv: ProcessView) -> dict[str, Any]:
    p = pv.process
    info = pv.info
    out: dict[str, Any] = {
        "pid": p.pid,
        "starttime": p.starttime,
        "name": p.name,
        "type": p.kind.value,
        "used": p.used_bytes,
        "share": _round(pv.share, 4),
        "phase": pv.phase.phase.value,
        "phase_confidence": _round(pv.phase.confidence),
        "rate": _round(pv.phase.rate_bytes_per_s, 1),
        "peak": pv.peak_bytes,
        "uid": p.uid,
        "mps": p.mps,
        "survival": pv.survival.verdict.value if pv.survival else None,
        "framework": info.framework if info else None,
        "container": (info.container.short_id or info.container.runtime)
        if info and info.container
        else None,
    }
    if info and info.server:
        s = info.server
        out["server"] = {
            "server": s.server,
            "ok": s.ok,
            "error": s.error,
            "kv_cache_usage": s.kv_cache_usage,
            "kv_capacity_tokens": s.kv_capacity_tokens,
            "requests_running": s.requests_running,
            "requests_waiting": s.requests_waiting,
        }
    if info and info.deep:
        d = info.deep
        out["deep"] = {
            "allocated": d.allocated_bytes,
            "reserved": d.reserved_bytes,
            "active": d.active_bytes,
            "fragmentation": d.fragmentation_bytes,
        }
    return out


def gpu_dict(frame: Frame, gpu: GPUView, *, include_others: bool = True) -> dict[str, Any]:
    d = gpu.device
    oom = gpu.oom
    return {
        "t": round(frame.t, 4),
        "unix_time": round(frame.unix_time, 3),
        "host": d.host or frame.hostname,
        "gpu": d.index,
        "uuid": d.uuid,
        "name": d.name,
        "state": d.state.value,
        "total": d.total_bytes,
        "used": d.used_bytes,
        "free": d.free_bytes,
        "reserved": d.reserved_bytes,
        "util_gpu": d.util_gpu_pct,
        "util_memory": d.util_memory_pct,
        "temp_c": d.temperature_c,
        "power_w": _round(d.power_watts, 1),
        "sm_clock_mhz": d.sm_clock_mhz,
        "mem_clock_mhz": d.memory_clock_mhz,
        "pcie_tx": d.pcie_tx_bytes_per_s,
        "pcie_rx": d.pcie_rx_bytes_per_s,
        "phase": gpu.phase.phase.value,
        "phase_confidence": _round(gpu.phase.confidence),
        "rate": _round(gpu.phase.rate_bytes_per_s, 1),
        "oom_low_s": _round(oom.seconds_low, 1) if oom else None,
        "oom_high_s": _round(oom.seconds_high, 1) if oom else None,
        "oom_confidence": _round(oom.confidence) if oom else None,
        "oom_alert": bool(oom and oom.alert),
        "processes": [process_dict(pv) for pv in gpu.processes if include_others or pv.own],
    }


def frame_lines(frame: Frame, *, include_others: bool = True) -> list[str]:
    """One compact JSON line per GPU."""
    return [
        json.dumps(gpu_dict(frame, g, include_others=include_others), separators=(",", ":"))
        for g in frame.gpus
    ]


def write_frame(out: IO[str], frame: Frame, *, include_others: bool = True) -> None:
    for line in frame_lines(frame, include_others=include_others):
        out.write(line + "\n")
    out.flush()


def snapshot_dict(
    frame: Frame, *, include_others: bool = True, driver: str | None = None
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "host": frame.hostname,
        "unix_time": round(frame.unix_time, 3),
        "source": frame.source,
        "driver": driver,
        "notices": list(frame.notices),
        "gpus": [gpu_dict(frame, g, include_others=include_others) for g in frame.gpus],
    }
