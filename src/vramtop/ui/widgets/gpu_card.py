"""One card per GPU: memory bar, timeline, temperature, power, utilization, phase, alerts."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from vramtop.frame import GPUView
from vramtop.model import DeviceState
from vramtop.ui.state import LayoutMode
from vramtop.ui.widgets.badges import DEFAULT_PALETTE, Palette, gpu_alerts, phase_badge
from vramtop.ui.widgets.line import Line
from vramtop.ui.widgets.memory import FREE_CHAR, RESERVED_CHAR, USED_CHAR, MemoryBar, MemoryTimeline
from vramtop.units import fmt_bytes, fmt_percent, fmt_temp, fmt_watts


def gpu_heading(gpu: GPUView, *, short: bool = False) -> str:
    """`GPU 0 · NVIDIA H100 80GB HBM3` (`GPU 0 · H100 80GB HBM3` short), host first in a fleet."""
    d = gpu.device
    name = d.name or "?"
    if short and name.startswith("NVIDIA "):
        name = name[len("NVIDIA ") :]
    head = f"GPU {d.index} · {name}"
    return f"{d.host} · {head}" if d.host else head


def _power(gpu: GPUView) -> str:
    d = gpu.device
    if d.power_limit_watts:
        return f"{fmt_watts(d.power_watts)} / {fmt_watts(d.power_limit_watts)}"
    return fmt_watts(d.power_watts)


def _util(gpu: GPUView) -> str:
    u = gpu.device.util_gpu_pct
    return f"util {u if u is not None else '?'}% (device-wide)"


def memory_label(gpu: GPUView, mode: LayoutMode, plain: bool) -> Text:
    d = gpu.device
    pct = fmt_percent(gpu.used_ratio)
    if mode is LayoutMode.FULL:
        used = f"{USED_CHAR} " if plain else ""
        res = f"{RESERVED_CHAR} " if plain else ""
        free = f"{FREE_CHAR} " if plain else ""
        return Text(
            f"{used}used {fmt_bytes(d.used_bytes)} · {res}reserved {fmt_bytes(d.reserved_bytes)}"
            f" · {free}free {fmt_bytes(d.free_bytes)} · total {fmt_bytes(d.total_bytes)} ({pct})"
        )
    if mode is LayoutMode.COMPACT:
        return Text(
            f"{fmt_bytes(d.used_bytes)} / {fmt_bytes(d.total_bytes)} ({pct})"
            f" · free {fmt_bytes(d.free_bytes)}"
        )
    return Text(f"{fmt_bytes(d.used_bytes)}/{fmt_bytes(d.total_bytes)}")


class GPUCard(Vertical):
    """A GPU as the layout allows: a bordered card (FULL), two lines (COMPACT), one (MINI)."""

    DEFAULT_CSS = """
    GPUCard { height: auto; padding: 0 1; }
    GPUCard.-full { border: round $primary 60%; border-title-color: $text; }
    GPUCard.-lost { border: round $error; }
    GPUCard > Line { height: auto; }
    GPUCard > #title { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: tuple[GPUView, LayoutMode, bool, Palette] | None = None
        self._border_title_shown: str | None = None

    def compose(self) -> ComposeResult:
        yield Line(id="title")
        yield MemoryBar(id="bar")
        yield MemoryTimeline(id="timeline")
        yield Line(id="stats")
        yield Line(id="extra")

    def show(
        self, gpu: GPUView, mode: LayoutMode, *, plain: bool, pal: Palette = DEFAULT_PALETTE
    ) -> None:
        state = (gpu, mode, plain, pal)
        if state == self._last:
            return
        self._last = state
        d = gpu.device
        lost = d.state is DeviceState.LOST
        self.set_class(mode is LayoutMode.FULL, "-full")
        self.set_class(lost, "-lost")
        border_title = gpu_heading(gpu) if mode is LayoutMode.FULL else None
        if border_title != self._border_title_shown:
            # Setting a border title repaints the whole card (border and every line in
            # it) even when the title is the same: set it only when it changed.
            self._border_title_shown = border_title
            self.border_title = border_title
        title = self.query_one("#title", Line)
        bar = self.query_one("#bar", MemoryBar)
        timeline = self.query_one("#timeline", MemoryTimeline)
        stats = self.query_one("#stats", Line)
        extra = self.query_one("#extra", Line)
        words = plain or mode is not LayoutMode.MINI
        phase = phase_badge(gpu.phase.phase, words=words, pal=pal)
        alerts = gpu_alerts(gpu, meter=mode is not LayoutMode.MINI, pal=pal)

        if lost:
            lost_text = Text(f"LOST: {d.error or 'the GPU fell off the bus'}", style=pal.alert)
            if mode is LayoutMode.FULL:
                title.display = False
            else:
                title.display = True
                title.set(Text(gpu_heading(gpu, short=True), style="bold"))
            bar.display = timeline.display = extra.display = False
            stats.display = True
            stats.set(lost_text)
            return

        bar.display = True
        if mode is LayoutMode.FULL:
            line = Text.assemble(("GPU phase ", "dim"), phase)
            if alerts:
                line.append("   ")
                line.append_text(alerts)
            title.display = True
            title.set(line)
            bar.show(d, memory_label(gpu, mode, plain))
            timeline.display = True
            timeline.show(
                gpu.timeline,
                d.total_bytes,
                Text(f"history ({len(gpu.timeline)} samples)", style="dim"),
            )
            stats.display = True
            stats.set(f"temp {fmt_temp(d.temperature_c)} · power {_power(gpu)} · {_util(gpu)}")
        elif mode is LayoutMode.COMPACT:
            head = Text.assemble(
                (gpu_heading(gpu, short=True), "bold"),
                " · ",
                phase,
                f" · {_util(gpu)} · {fmt_temp(d.temperature_c)} · {fmt_watts(d.power_watts)}",
            )
            title.display = True
            title.set(head)
            bar.show(d, memory_label(gpu, mode, plain))
            timeline.display = False
            stats.display = bool(alerts)
            stats.set(alerts)
        else:
            title.display = False
            label = Text.assemble(f"GPU{d.index} ", phase, " ", memory_label(gpu, mode, plain))
            bar.show(d, label)
            timeline.display = False
            stats.display = bool(alerts)
            stats.set(alerts)

        notes: list[Text] = []
        if d.state is DeviceState.DEGRADED:
            notes.append(Text(f"DEGRADED: {d.error or 'driver error'}", style=pal.warn))
        if d.mig_instances and mode is not LayoutMode.MINI:
            for mig in d.mig_instances:
                notes.append(
                    Text(
                        f"MIG {mig.gpu_instance_id} {mig.name}: used {fmt_bytes(mig.used_bytes)}"
                        f" / {fmt_bytes(mig.total_bytes)} · free {fmt_bytes(mig.free_bytes)}"
                    )
                )
        elif d.mig_instances:
            notes.append(Text(f"MIG: {len(d.mig_instances)} instances", style="dim"))
        extra.display = bool(notes)
        extra.set(Text("\n").join(notes))
