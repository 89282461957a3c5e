"""The detail screen of one process: everything the frame knows about it (`d`, Esc closes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static

from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.model import DeepStats, Phase, ServerMetrics
from vramtop.ui.messages import ProcessSeries
from vramtop.ui.state import display_name
from vramtop.ui.widgets.badges import (
    DEFAULT_PALETTE,
    Palette,
    container_label,
    is_mps,
    oom_text,
    phase_badge,
    process_user,
    verdict_badge,
)
from vramtop.ui.widgets.memory import MemoryTimeline
from vramtop.units import confidence_meter, fmt_bytes, fmt_duration, fmt_percent, fmt_rate

log = logging.getLogger(__name__)

LABEL_WIDTH = 13


def _row(label: str, value: Text | str) -> Text:
    line = Text(f"{label:<{LABEL_WIDTH}}", style="bold")
    line.append_text(value if isinstance(value, Text) else Text(value))
    return line


def _opt(value: object) -> str:
    return "?" if value is None else str(value)


def server_lines(server: ServerMetrics | None) -> list[Text]:
    if server is None:
        return [_row("Server", Text("none detected", style="dim"))]
    where = f"{server.server}" + (f" :{server.port}" if server.port else "")
    if not server.ok:
        return [
            _row("Server", f"{where} · metrics unavailable: {server.error or 'unknown reason'}")
        ]
    parts = []
    if server.kv_cache_usage is not None:
        parts.append(f"KV cache {fmt_percent(server.kv_cache_usage)}")
    if server.kv_capacity_tokens is not None or server.kv_used_tokens is not None:
        parts.append(f"tokens {_opt(server.kv_used_tokens)}/{_opt(server.kv_capacity_tokens)}")
    if server.requests_running is not None or server.requests_waiting is not None:
        parts.append(
            f"requests running {_opt(server.requests_running)}"
            f" waiting {_opt(server.requests_waiting)}"
        )
    if server.prefix_cache_hit_rate is not None:
        parts.append(f"prefix hits {fmt_percent(server.prefix_cache_hit_rate)}")
    if server.num_gpu_blocks is not None:
        parts.append(f"blocks {server.num_gpu_blocks} x {_opt(server.block_size)}")
    if server.gpu_memory_utilization is not None:
        parts.append(f"gpu_memory_utilization {server.gpu_memory_utilization:g}")
    if server.total_slots is not None:
        parts.append(f"slots {_opt(server.busy_slots)}/{server.total_slots}")
    if server.context_per_slot is not None:
        parts.append(f"context/slot {server.context_per_slot}")
    lines = [_row("Server", f"{where} · " + (" · ".join(parts) or "no metrics reported"))]
    for m in server.models:
        lines.append(
            _row(
                "",
                f"model {m.name} · size {fmt_bytes(m.size_bytes)}"
                f" · in VRAM {fmt_bytes(m.size_vram_bytes)}"
                + (f" · context {m.context_length}" if m.context_length else ""),
            )
        )
    return lines


def deep_line(deep: DeepStats | None) -> Text:
    if deep is None:
        return _row(
            "Deep mode",
            Text("off (run it under `vramtop wrap` to see allocator stats)", style="dim"),
        )
    return _row(
        "Deep mode",
        f"{deep.framework} · allocated {fmt_bytes(deep.allocated_bytes)}"
        f" · reserved {fmt_bytes(deep.reserved_bytes)} · active {fmt_bytes(deep.active_bytes)}"
        f" · fragmentation {fmt_bytes(deep.fragmentation_bytes)}"
        f" · peak allocated {fmt_bytes(deep.allocated_peak_bytes)}"
        f" · {deep.num_allocs} allocs in {deep.segments} segments",
    )


def detail_text(
    pv: ProcessView,
    gpu: GPUView | None,
    *,
    age_s: float | None,
    age_note: str | None = None,
    words: bool,
    pal: Palette = DEFAULT_PALETTE,
) -> Text:
    p = pv.process
    info = pv.info
    lines: list[Text] = []
    # A start time from a recording or another host means nothing on this machine.
    age = age_note or (fmt_duration(age_s) if age_s is not None else "?")
    lines.append(
        _row(
            "Identity",
            f"PID {p.pid} · starttime {_opt(p.starttime)} (ticks since boot) · age {age}",
        )
    )
    lines.append(_row("User", process_user(pv) + ("" if pv.own else " (another user)")))
    cmd = " ".join(info.cmdline if info and info.cmdline else p.cmdline)
    lines.append(_row("Command", cmd or Text("unknown", style="dim")))
    fw = info.framework if info and info.framework else "unknown"
    launcher = f" · launcher {info.launcher}" if info and info.launcher else ""
    lines.append(_row("Framework", fw + launcher))
    container = container_label(pv)
    if info and info.container:
        c = info.container
        container = f"{c.runtime} {c.short_id or ''}".strip() + (
            f" · pod {c.pod_uid}" if c.pod_uid else ""
        )
    lines.append(_row("Container", container if container != "-" else "none"))
    lines.append(_row("MPS", "yes [MPS] client" if is_mps(pv) else "no"))
    lines.append(_row("Kind", p.kind.value))
    lines.append(
        _row(
            "VRAM",
            f"{fmt_bytes(p.used_bytes)} · {fmt_percent(pv.share)} of the GPU"
            f" · peak {fmt_bytes(pv.peak_bytes)}",
        )
    )
    ph = pv.phase
    lines.append(
        _row(
            "Phase",
            Text.assemble(
                phase_badge(ph.phase, words=True, pal=pal),
                f" · confidence {confidence_meter(ph.confidence)} {fmt_percent(ph.confidence)}"
                f" · rate {fmt_rate(ph.rate_bytes_per_s)} · for {ph.duration_samples} samples",
            ),
        )
    )
    if pv.survival is not None:
        sv = pv.survival
        peak = f" · estimated peak {fmt_bytes(sv.estimated_peak_bytes)}"
        mult = f" (x{sv.multiplier:g} of weights)" if sv.multiplier else ""
        lines.append(
            _row("Survival", Text.assemble(verdict_badge(sv, pal), f" · {sv.reason}{peak}{mult}"))
        )
    else:
        lines.append(_row("Survival", Text("- (no verdict yet)", style="dim")))
    if gpu is not None:
        oom = oom_text(gpu.oom, pal=pal) if gpu.oom else Text("no OOM predicted", style="dim")
        lines.append(_row("GPU OOM", Text.assemble(f"GPU {gpu.device.index}: ", oom)))
    files = info.model_files if info else ()
    if files:
        lines.append(_row("Model files", ""))
        for f in files:
            mapped = " (mapped)" if f.mapped else ""
            lines.append(_row("", f"{fmt_bytes(f.size_bytes):>10}  {f.path}{mapped}"))
    else:
        lines.append(_row("Model files", Text("none found", style="dim")))
    weights = info.weights_bytes if info else None
    lines.append(
        _row(
            "Weights",
            f"{fmt_bytes(weights)} (estimate from model files)"
            if weights is not None
            else Text("unknown", style="dim"),
        )
    )
    if pv.breakdown is not None:
        b = pv.breakdown
        label = " (estimate)" if b.is_estimate else ""
        lines.append(
            _row(
                "Breakdown",
                f"weights {fmt_bytes(b.weights_bytes)} · dynamic"
                f" {fmt_bytes(b.dynamic_bytes)} · context {fmt_bytes(b.context_bytes)}{label}",
            )
        )
    else:
        lines.append(_row("Breakdown", Text("unknown (estimate needs weights)", style="dim")))
    lines.extend(server_lines(info.server if info else None))
    lines.append(deep_line(info.deep if info else None))
    if info and info.notes:
        for note in info.notes:
            lines.append(_row("Note", note))
    if info is not None and not info.readable:
        lines.append(
            _row("Note", Text("/proc not readable for this process: NVML data only", style="dim"))
        )
    return Text("\n").join(lines)


def phase_history_text(entries: Sequence[tuple[float, Phase]], now: float, *, pal: Palette) -> Text:
    if not entries:
        return Text("no phase seen yet", style="dim")
    lines = []
    for t, phase in reversed(entries[-12:]):
        lines.append(
            Text.assemble(
                f"{fmt_duration(now - t) + ' ago':>12}  ", phase_badge(phase, words=True, pal=pal)
            )
        )
    return Text("\n").join(lines)


class DetailScreen(Screen[None]):
    """Everything about one process; the data comes in with each frame."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Back to the process list")
    ]

    def __init__(self, key: str, *, age_note: str | None = None) -> None:
        super().__init__(id="detail")
        self.key = key
        self.age_note = age_note
        self.view: ProcessView | None = None
        self.series: ProcessSeries | None = None
        self.exited = False

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-facts")
            yield Static("Memory timeline (scale: GPU capacity)", classes="section")
            yield MemoryTimeline(id="detail-timeline")
            yield Static("Phase history", classes="section")
            yield Static(id="detail-phases")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)

    def show(
        self,
        frame: Frame,
        series: ProcessSeries | None,
        phases: Sequence[tuple[float, Phase]],
        *,
        plain: bool,
        pal: Palette = DEFAULT_PALETTE,
    ) -> None:
        if not self.is_mounted:
            return
        try:
            self._draw(frame, series, phases, plain=plain, pal=pal)
        except NoMatches:
            log.debug("detail screen torn down; frame not drawn")

    def _draw(
        self,
        frame: Frame,
        series: ProcessSeries | None,
        phases: Sequence[tuple[float, Phase]],
        *,
        plain: bool,
        pal: Palette,
    ) -> None:
        gpu: GPUView | None = None
        found: ProcessView | None = None
        for g in frame.gpus:
            for candidate in g.processes:
                if candidate.key == self.key:
                    gpu, found = g, candidate
        if found is not None:
            self.view = found
            self.exited = False
        elif self.view is not None:
            self.exited = True
        pv = self.view
        title = self.query_one("#detail-title", Static)
        if pv is None:
            title.update(Text("process not found", style="bold"))
            return
        heading = Text(
            f"{display_name(pv)} · PID {pv.process.pid} · GPU {pv.gpu_index}", style="bold"
        )
        if self.exited:
            heading.append("  EXITED (last known data)", style=pal.alert)
        heading.append("   Esc closes", style="dim")
        title.update(heading)
        age = series.age_s if series is not None and series.key == self.key else None
        self.query_one("#detail-facts", Static).update(
            detail_text(pv, gpu, age_s=age, age_note=self.age_note, words=plain, pal=pal)
        )
        if series is not None and series.key == self.key:
            values = [v for _, v in series.points]
            ceiling = gpu.device.total_bytes if gpu else None
            label = Text(
                f"{len(values)} samples · {fmt_bytes(min(values)) if values else '?'}"
                f" .. {fmt_bytes(max(values)) if values else '?'}",
                style="dim",
            )
            self.query_one("#detail-timeline", MemoryTimeline).show(values, ceiling, label)
        self.query_one("#detail-phases", Static).update(
            phase_history_text(phases, frame.t, pal=pal)
        )
