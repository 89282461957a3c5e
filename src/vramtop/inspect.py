"""`vramtop inspect PID`: everything vramtop knows about one process, read now.

`build_report` gathers it (identity, /proc facts through the enricher, GPU
memory from one NVML sample, MPS); `render_text` and `report_dict` present it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vramtop.enrichment import ProcessEnricher
from vramtop.enrichment.container import SelfContext
from vramtop.enrichment.mps import MPSStatus
from vramtop.errors import ProcessGoneError
from vramtop.model import (
    ContainerInfo,
    DeepStats,
    GPUProcess,
    MemorySnapshot,
    ProcessIdentity,
    ProcessInfo,
    ServerMetrics,
)
from vramtop.procfs import process_start_unix
from vramtop.security import is_same_user
from vramtop.units import fmt_bytes, fmt_duration, fmt_mib, fmt_percent

PHASE_ONE_SHOT = "unknown (one sample; the phase needs several, see the live view)"


@dataclass(frozen=True, slots=True)
class GPUUsage:
    gpu_index: int
    gpu_uuid: str
    gpu_name: str
    used_bytes: int | None
    kind: str
    mps: bool


@dataclass(frozen=True, slots=True)
class InspectReport:
    pid: int
    info: ProcessInfo
    start_unix: float | None
    age_s: float | None
    ppid: int | None
    state: str | None
    gpus: tuple[GPUUsage, ...]
    gpu_status: str | None  # None: NVML answered; else why there is no GPU memory
    mps: MPSStatus
    context: SelfContext
    phase: str = PHASE_ONE_SHOT


def _gpu_usage(snapshot: MemorySnapshot | None, pid: int) -> list[tuple[GPUUsage, GPUProcess]]:
    if snapshot is None:
        return []
    out = []
    for dev in snapshot.devices:
        for p in dev.processes:
            if p.pid == pid:
                out.append(
                    (GPUUsage(dev.index, dev.uuid, dev.name, p.used_bytes, p.kind.value, p.mps), p)
                )
    return out


def build_report(
    pid: int,
    *,
    enricher: ProcessEnricher,
    snapshot: MemorySnapshot | None,
    gpu_status: str | None,
    now_unix: float,
    now: float,
) -> InspectReport:
    """Raises ProcessGoneError when neither /proc nor NVML knows the PID."""
    procfs = enricher.procfs
    on_gpu = _gpu_usage(snapshot, pid)
    exists = procfs.exists(pid)
    if not exists and not on_gpu:
        raise ProcessGoneError(str(pid))
    uid = procfs.uid(pid) if exists else None
    same_user = exists and enricher.resolvable and is_same_user(uid)
    stat = procfs.stat(pid) if same_user else None
    if on_gpu:
        gp = on_gpu[0][1]
        mps = any(p.mps for _, p in on_gpu)
        starttime = gp.starttime if gp.starttime is not None else (stat.starttime if stat else None)
        probe = GPUProcess(pid, starttime, gp.used_bytes, gp.kind, gp.name, gp.cmdline, gp.uid, mps)
    else:
        if same_user and stat is None:
            raise ProcessGoneError(str(pid))
        probe = GPUProcess(pid, stat.starttime if stat else None, None, uid=uid)
    info = enricher.describe(probe, now)
    start_unix = None
    age = None
    if info.readable and probe.starttime is not None:
        start_unix = process_start_unix(procfs, probe.starttime)
        age = max(0.0, now_unix - start_unix) if start_unix is not None else None
    return InspectReport(
        pid=pid,
        info=info,
        start_unix=start_unix,
        age_s=age,
        ppid=stat.ppid if stat else None,
        state=stat.state if stat else None,
        gpus=tuple(u for u, _ in on_gpu),
        gpu_status=gpu_status,
        mps=enricher.mps_status(now),
        context=enricher.context,
    )


# --- text --------------------------------------------------------------------------------


def _fmt_time(unix: float | None) -> str:
    if unix is None:
        return "?"
    return dt.datetime.fromtimestamp(unix).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _container_text(c: ContainerInfo | None) -> str:
    if c is None:
        return "none (runs on the host)"
    parts = [c.runtime]
    if c.short_id:
        parts.append(c.short_id)
    if c.pod_uid:
        parts.append(f"(Kubernetes pod {c.pod_uid})")
    return " ".join(parts)


def _server_lines(s: ServerMetrics) -> list[str]:
    if not s.ok:
        return [f"{s.server}: metrics unavailable" + (f" ({s.error})" if s.error else "")]
    lines = [f"{s.server} on port {s.port}" if s.port else s.server]
    if s.kv_cache_usage is not None:
        lines.append(f"KV cache usage {fmt_percent(s.kv_cache_usage)}")
    if s.kv_capacity_tokens is not None:
        used = f"{s.kv_used_tokens:,} / " if s.kv_used_tokens is not None else ""
        lines.append(f"KV capacity {used}{s.kv_capacity_tokens:,} tokens")
    if s.requests_running is not None or s.requests_waiting is not None:
        lines.append(f"requests running {s.requests_running}, waiting {s.requests_waiting}")
    if s.prefix_cache_hit_rate is not None:
        lines.append(f"prefix cache hit rate {fmt_percent(s.prefix_cache_hit_rate)}")
    if s.busy_slots is not None or s.total_slots is not None:
        lines.append(f"slots busy {s.busy_slots} of {s.total_slots}")
    for m in s.models:
        sizes = []
        if m.size_bytes is not None:
            sizes.append(fmt_bytes(m.size_bytes))
        if m.size_vram_bytes is not None:
            sizes.append(f"{fmt_bytes(m.size_vram_bytes)} in VRAM")
        if m.context_length is not None:
            sizes.append(f"context {m.context_length:,}")
        lines.append(f"model {m.name}" + (": " + ", ".join(sizes) if sizes else ""))
    return lines


def _deep_lines(d: DeepStats) -> list[str]:
    return [
        f"{d.framework}, CUDA device {d.cuda_device}",
        f"allocated {fmt_bytes(d.allocated_bytes)}, reserved {fmt_bytes(d.reserved_bytes)}, "
        f"active {fmt_bytes(d.active_bytes)}",
        f"fragmentation {fmt_bytes(d.fragmentation_bytes)}, peak allocated "
        f"{fmt_bytes(d.allocated_peak_bytes)}",
    ]


def _row(label: str, value: str) -> str:
    return f"{label:<14}{value}"


def _block(label: str, lines: Sequence[str]) -> list[str]:
    if not lines:
        return []
    out = [_row(label, lines[0])]
    out.extend(_row("", line) for line in lines[1:])
    return out


def render_text(r: InspectReport) -> str:
    info = r.info
    ident = info.identity
    out: list[str] = []
    start = ""
    if ident.starttime is not None:
        start = f"  (starttime {ident.starttime} ticks)"
    out.append(_row("PID", f"{r.pid}{start}"))
    if len(info.nspid) > 1:
        out.append(_row("", f"PID {info.nspid[-1]} inside its own PID namespace"))
    if r.start_unix is not None:
        out.append(_row("Started", f"{_fmt_time(r.start_unix)}, {fmt_duration(r.age_s)} ago"))
    user = info.user or "?"
    out.append(_row("User", f"{user} (uid {info.uid})" if info.uid is not None else user))
    if info.name:
        out.append(_row("Name", info.name))
    if r.ppid is not None:
        out.append(_row("Parent PID", str(r.ppid)))
    if not info.readable:
        for note in info.notes:
            out.append(_row("Note", note))
    else:
        cmd = " ".join(info.cmdline) if info.cmdline else "?"
        out.append(_row("Command", cmd))
        out.append(_row("Framework", info.framework or "unknown"))
        out.append(_row("Launcher", info.launcher or "none"))
        out.append(_row("Container", _container_text(info.container)))
    out.append(_row("MPS", _mps_text(r)))
    if r.gpu_status is not None:
        out.append(_row("GPU memory", r.gpu_status))
    elif not r.gpus:
        out.append(_row("GPU memory", "none (not an NVML GPU process)"))
    else:
        lines = [
            f"GPU {g.gpu_index} {g.gpu_name} ({g.gpu_uuid}): {fmt_mib(g.used_bytes)} "
            f"({fmt_bytes(g.used_bytes)}), {g.kind}"
            for g in r.gpus
        ]
        out.extend(_block("GPU memory", lines))
    out.append(_row("Phase", r.phase))
    if info.readable:
        if info.model_files:
            lines = [
                f"{fmt_bytes(f.size_bytes):>10}  {f.path}" + ("  (mapped)" if f.mapped else "")
                for f in info.model_files
            ]
            out.extend(_block("Model files", lines))
            out.append(_row("Weights", f"~{fmt_bytes(info.weights_bytes)} (estimate: model files)"))
        else:
            out.append(_row("Model files", "none seen"))
        out.extend(
            _block("Server", _server_lines(info.server))
            if info.server
            else [_row("Server", "no metrics (not a scraped inference server)")]
        )
        out.extend(
            _block("Deep mode", _deep_lines(info.deep))
            if info.deep
            else [_row("Deep mode", "not reporting (run it with `vramtop wrap -- CMD`)")]
        )
        for note in info.notes:
            out.append(_row("Note", note))
    ctx = r.context
    if ctx.in_container or ctx.pid_view.mode != "host":
        out.extend(_block("vramtop runs", _context_lines(ctx)))
    return "\n".join(out) + "\n"


def _mps_text(r: InspectReport) -> str:
    client = r.info.mps_client or any(g.mps for g in r.gpus)
    if client:
        return "client of the MPS server"
    if r.mps.daemon_running:
        pids = ", ".join(str(p) for p in r.mps.control_pids)
        where = f"pid {pids}" if pids else f"control pipe in {r.mps.pipe_dir}"
        return f"not a client (MPS daemon running: {where})"
    return "not a client (no MPS daemon running)"


def _context_lines(ctx: SelfContext) -> list[str]:
    lines = []
    if ctx.container is not None:
        c = ctx.container
        lines.append(f"in a container: {_container_text(c)} (from {c.source})")
    elif ctx.kubernetes:
        lines.append("in a Kubernetes pod")
    view = ctx.pid_view
    if view.mode == "host-proc":
        lines.append(f"host PIDs resolved through {view.proc_root}")
    elif view.mode == "unresolvable":
        lines.append("in its own PID namespace: host PIDs cannot be resolved (use --pid=host)")
    if ctx.nvidia_visible_devices is not None:
        lines.append(f"NVIDIA_VISIBLE_DEVICES={ctx.nvidia_visible_devices}")
    if ctx.nvidia_container_devices:
        lines.append("GPUs mounted: " + ", ".join(ctx.nvidia_container_devices))
    for spec in ctx.cdi_specs:
        lines.append(f"CDI spec {spec.path} ({spec.kind}: {len(spec.devices)} devices)")
    return lines


# --- JSON --------------------------------------------------------------------------------


def _container_dict(c: ContainerInfo | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "runtime": c.runtime,
        "id": c.container_id,
        "short_id": c.short_id,
        "pod_uid": c.pod_uid,
        "source": c.source,
    }


def _identity_dict(i: ProcessIdentity) -> dict[str, Any]:
    return {"pid": i.pid, "starttime": i.starttime}


def report_dict(r: InspectReport) -> dict[str, Any]:
    info = r.info
    s = info.server
    d = info.deep
    ctx = r.context
    return {
        "pid": r.pid,
        "identity": _identity_dict(info.identity),
        "start_time": (
            dt.datetime.fromtimestamp(r.start_unix, dt.timezone.utc).isoformat()
            if r.start_unix is not None
            else None
        ),
        "start_unix": r.start_unix,
        "age_s": None if r.age_s is None else round(r.age_s, 3),
        "readable": info.readable,
        "uid": info.uid,
        "user": info.user,
        "name": info.name,
        "ppid": r.ppid,
        "state": r.state,
        "nspid": list(info.nspid),
        "cmdline": list(info.cmdline),
        "framework": info.framework,
        "launcher": info.launcher,
        "container": _container_dict(info.container),
        "model_files": [
            {"path": f.path, "size": f.size_bytes, "mapped": f.mapped} for f in info.model_files
        ],
        "weights_estimate": info.weights_bytes,
        "mps": {
            "client": info.mps_client or any(g.mps for g in r.gpus),
            "daemon_running": r.mps.daemon_running,
            "control_pids": list(r.mps.control_pids),
            "server_pids": list(r.mps.server_pids),
        },
        "gpu_status": r.gpu_status,
        "gpus": [
            {
                "index": g.gpu_index,
                "uuid": g.gpu_uuid,
                "name": g.gpu_name,
                "used": g.used_bytes,
                "type": g.kind,
                "mps": g.mps,
            }
            for g in r.gpus
        ],
        "phase": None,
        "server": None
        if s is None
        else {
            "server": s.server,
            "port": s.port,
            "ok": s.ok,
            "error": s.error,
            "kv_cache_usage": s.kv_cache_usage,
            "kv_capacity_tokens": s.kv_capacity_tokens,
            "kv_used_tokens": s.kv_used_tokens,
            "requests_running": s.requests_running,
            "requests_waiting": s.requests_waiting,
            "prefix_cache_hit_rate": s.prefix_cache_hit_rate,
            "busy_slots": s.busy_slots,
            "total_slots": s.total_slots,
            "models": [
                {"name": m.name, "size": m.size_bytes, "size_vram": m.size_vram_bytes}
                for m in s.models
            ],
        },
        "deep": None
        if d is None
        else {
            "framework": d.framework,
            "cuda_device": d.cuda_device,
            "allocated": d.allocated_bytes,
            "reserved": d.reserved_bytes,
            "active": d.active_bytes,
            "fragmentation": d.fragmentation_bytes,
            "allocated_peak": d.allocated_peak_bytes,
            "reserved_peak": d.reserved_peak_bytes,
        },
        "notes": list(info.notes),
        "vramtop": {
            "container": _container_dict(ctx.container),
            "kubernetes": ctx.kubernetes,
            "pid_mapping": ctx.pid_view.mode,
            "proc_root": ctx.pid_view.proc_root,
            "nvidia_visible_devices": ctx.nvidia_visible_devices,
            "nvidia_container_devices": list(ctx.nvidia_container_devices),
            "cdi_specs": [
                {"path": c.path, "kind": c.kind, "devices": list(c.devices)} for c in ctx.cdi_specs
            ],
        },
    }
