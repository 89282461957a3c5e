"""The memory bar (used / driver-reserved / free) and the memory timeline sparkline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from vramtop.model import GPUDevice

USED_CHAR, RESERVED_CHAR, FREE_CHAR = "█", "▓", "░"
HIGH_USE = 0.9  # at or above this share of the GPU the used part turns to the error colour
BARS = "▁▂▃▄▅▆▇█"


def bar_cells(device: GPUDevice, width: int) -> tuple[int, int, int] | None:
    """Cells of used, reserved and free memory in a bar `width` wide (None if unknown)."""
    total = device.total_bytes
    if not total or device.used_bytes is None or width <= 0:
        return None
    reserved = device.reserved_bytes or 0
    used = min(width, round(device.used_bytes / total * width))
    # Any non-zero use shows at least one cell, so "a little" never reads as "nothing".
    if device.used_bytes > 0 and used == 0:
        used = 1
    res = min(width - used, round(reserved / total * width))
    if reserved > 0 and res == 0 and used < width:
        res = 1
    return used, res, width - used - res


class ComponentStyled(Widget):
    """A widget that keeps its component styles between refreshes. Textual drops them at
    every refresh and builds them again from the CSS, most of what drawing a one-line
    widget costs; a kept style stays while Textual holds the same computed styles for
    its component (it computes new ones whenever the widget's or an ancestor's CSS, the
    theme or a pseudo-class changes)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._kept_styles: dict[str, tuple[object, Style]] = {}

    def component_style(self, name: str) -> Style:
        source = self._component_styles.get(name)
        hit = self._kept_styles.get(name)
        if hit is not None and hit[0] is source:
            return hit[1]
        style = self.get_component_rich_style(name)
        self._kept_styles[name] = (source, style)
        return style


class MemoryBar(ComponentStyled):
    """`██████▓░░░░ label`: used, driver-reserved and free, with numbers in the label."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "memorybar--used",
        "memorybar--high",
        "memorybar--reserved",
        "memorybar--free",
    }
    DEFAULT_CSS = """
    MemoryBar { height: 1; }
    MemoryBar > .memorybar--used { color: $success; }
    MemoryBar > .memorybar--high { color: $error; }
    MemoryBar > .memorybar--reserved { color: $warning; }
    MemoryBar > .memorybar--free { color: $foreground 30%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._device: GPUDevice | None = None
        self._label = Text("")

    def show(self, device: GPUDevice, label: Text) -> None:
        if device != self._device or label != self._label:
            self._device = device
            self._label = label
            self.refresh()

    def render(self) -> Text:
        label = self._label
        if self._device is None:
            return Text("")
        width = max(10, self.size.width - label.cell_len - 1)
        cells = bar_cells(self._device, width)
        out = Text(no_wrap=True, overflow="ellipsis")
        if cells is None:
            out.append("memory unknown ", style="dim")
        else:
            used, reserved, free = cells
            ratio = (self._device.used_bytes or 0) / (self._device.total_bytes or 1)
            used_cls = "memorybar--high" if ratio >= HIGH_USE else "memorybar--used"
            out.append(USED_CHAR * used, style=self.component_style(used_cls))
            out.append(
                RESERVED_CHAR * reserved,
                style=self.component_style("memorybar--reserved"),
            )
            out.append(FREE_CHAR * free, style=self.component_style("memorybar--free"))
            out.append(" ")
        out.append_text(label)
        return out


def timeline_bars(values: Sequence[float], width: int, ceiling: float | None) -> str:
    """A sparkline of `values` on an absolute scale from 0 to `ceiling`.

    The newest sample is at the right edge; with more samples than cells each
    cell shows the highest value of its bucket, so a peak is never hidden.
    """
    if width <= 0:
        return ""
    if not values:
        return " " * width
    top = ceiling if ceiling and ceiling > 0 else max(values)
    if top <= 0:
        return BARS[0] * min(width, len(values))

    def bar(v: float) -> str:
        idx = int(max(0.0, min(1.0, v / top)) * (len(BARS) - 1) + 0.5)
        return BARS[idx]

    n = len(values)
    if n <= width:
        return " " * (width - n) + "".join(bar(v) for v in values)
    out = []
    for i in range(width):
        lo = i * n // width
        hi = max(lo + 1, (i + 1) * n // width)
        out.append(bar(max(values[lo:hi])))
    return "".join(out)


class MemoryTimeline(ComponentStyled):
    """The memory timeline of a GPU or a process, scaled to the GPU's capacity."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeline--bar"}
    DEFAULT_CSS = """
    MemoryTimeline { height: 1; }
    MemoryTimeline > .timeline--bar { color: $primary; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._values: tuple[float, ...] = ()
        self._ceiling: float | None = None
        self._label = Text("")

    def show(self, values: Sequence[float], ceiling: float | None, label: Text) -> None:
        vals = tuple(values)
        if (vals, ceiling, label) != (self._values, self._ceiling, self._label):
            self._values, self._ceiling, self._label = vals, ceiling, label
            self.refresh()

    def render(self) -> Text:
        width = max(1, self.size.width - self._label.cell_len - 1)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(
            timeline_bars(self._values, width, self._ceiling),
            style=self.component_style("timeline--bar"),
        )
        out.append(" ")
        out.append_text(self._label)
        return out
