"""The plain-text snapshot printed by `vramtop --once`."""

from __future__ import annotations

from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.model import DeviceState, Phase
from vramtop.security import user_name
from vramtop.units import (
    fmt_bytes,
    fmt_oom_range,
    fmt_percent,
    fmt_rate,
    fmt_temp,
    fmt_watts,
)

PHASE_SYMBOL = {
    Phase.STABLE: "▬",
    Phase.GROWING: "▲",
    Phase.SHRINKING: "▼",
    Phase.VOLATILE: "〜",
}


def phase_label(pv_phase: Phase) -> str:
    return f"{PHASE_SYMBOL[pv_phase]} {pv_phase.value}"


def _gpu_line(gpu: GPUView) -> str:
    d = gpu.device
    head = f"GPU {d.index}  {d.name}"
    if d.host:
        head = f"{d.host}  {head}"
    if d.state is DeviceState.LOST:
        return f"{head}  LOST: {d.error or 'GPU fell off the bus'}"
    parts = [
        head,
        f"used {fmt_bytes(d.used_bytes)} / {fmt_bytes(d.total_bytes)}"
        f" ({fmt_percent(gpu.used_ratio)})",
        f"reserved {fmt_bytes(d.reserved_bytes)}",
        f"free {fmt_bytes(d.free_bytes)}",
        f"util {d.util_gpu_pct if d.util_gpu_pct is not None else '?'}% (device-wide)",
        fmt_temp(d.temperature_c),
        fmt_watts(d.power_watts),
    ]
    line = "  ".join(parts)
    if d.state is DeviceState.DEGRADED:
        line += f"  DEGRADED: {d.error or 'driver error'}"
    if gpu.oom is not None:
        if gpu.oom.capped:
            line += "  OOM in >1h"
        else:
            prefix = "!!! " if gpu.oom.alert else ""
            line += f"  {prefix}OOM {fmt_oom_range(gpu.oom.seconds_low, gpu.oom.seconds_high)}"
    if gpu.temp_warning:
        line += "  TEMP WARNING"
    return line


def _process_row(pv: ProcessView) -> list[str]:
    p = pv.process
    info = pv.info
    framework = (info.framework if info else None) or "-"
    container = "-"
    if info and info.container:
        container = info.container.short_id or info.container.runtime
    survival = pv.survival.verdict.value.upper() if pv.survival else "-"
    name = p.name or (info.name if info and info.name else "?")
    if p.mps:
        name += " [MPS]"
    return [
        str(p.pid),
        user_name(p.uid) or "?",
        name[:24],
        framework,
        container,
        fmt_bytes(p.used_bytes),
        fmt_percent(pv.share),
        phase_label(pv.phase.phase),
        fmt_rate(pv.phase.rate_bytes_per_s),
        survival,
    ]


HEADER = [
    "PID",
    "USER",
    "NAME",
    "FRAMEWORK",
    "CONTAINER",
    "VRAM",
    "SHARE",
    "PHASE",
    "RATE",
    "STATUS",
]


def render(frame: Frame, *, show_other_users: bool) -> str:
    lines: list[str] = []
    for gpu in frame.gpus:
        lines.append(_gpu_line(gpu))
        for mig in gpu.device.mig_instances:
            lines.append(
                f"  MIG {mig.gpu_instance_id}  {mig.name}  used {fmt_bytes(mig.used_bytes)}"
                f" / {fmt_bytes(mig.total_bytes)}  free {fmt_bytes(mig.free_bytes)}"
            )
        shown = [pv for pv in gpu.processes if show_other_users or pv.own]
        hidden = len(gpu.processes) - len(shown)
        if shown:
            rows = [HEADER] + [_process_row(pv) for pv in shown]
            widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
            for r in rows:
                cells = (c.ljust(w) for c, w in zip(r, widths, strict=True))
                lines.append(("  " + "  ".join(cells)).rstrip())
        elif not gpu.processes:
            lines.append("  no processes")
        if hidden:
            lines.append(
                f"  ({hidden} process{'es' if hidden != 1 else ''} of other users hidden;"
                " show_other_users=true lists them)"
            )
        lines.append("")
    for notice in frame.notices:
        lines.append(f"note: {notice}")
    return "\n".join(lines).rstrip() + "\n"
