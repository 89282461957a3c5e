"""Pure view state of the TUI: layout modes, sort orders, the filter, themes, phase log.

Nothing here touches Textual widgets, so it is cheap to test on its own.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vramtop.frame import Frame, ProcessView
from vramtop.model import Phase

# The six user-facing themes mapped onto Textual's own built-in themes.
THEME_MAP: dict[str, str] = {
    "dark": "textual-dark",
    "light": "textual-light",
    "nord": "nord",
    "catppuccin": "catppuccin-mocha",
    "dracula": "dracula",
    "solarized": "solarized-light",
}
THEME_ORDER: tuple[str, ...] = tuple(THEME_MAP)


def next_theme(current: str) -> str:
    """The theme after `current` in the cycle (unknown names restart the cycle)."""
    try:
        i = THEME_ORDER.index(current)
    except ValueError:
        return THEME_ORDER[0]
    return THEME_ORDER[(i + 1) % len(THEME_ORDER)]


class LayoutMode(str, enum.Enum):
    FULL = "full"
    COMPACT = "compact"
    MINI = "mini"
    TOO_SMALL = "too_small"


# (min width, min height, mode), widest first: the breakpoints of SPEC §8.
BREAKPOINTS: tuple[tuple[int, int, LayoutMode], ...] = (
    (120, 30, LayoutMode.FULL),
    (80, 20, LayoutMode.COMPACT),
    (40, 10, LayoutMode.MINI),
)
MIN_WIDTH, MIN_HEIGHT = BREAKPOINTS[-1][0], BREAKPOINTS[-1][1]


def layout_for(width: int, height: int, configured: str = "auto") -> LayoutMode:
    """The layout for a terminal of `width` x `height`.

    `configured` is `display.layout`: "auto" picks from the size; "full",
    "compact" or "mini" fix the layout, except below the smallest size
    (40x10), where nothing fits and TOO_SMALL is shown whatever was asked.
    """
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return LayoutMode.TOO_SMALL
    if configured != "auto":
        try:
            return LayoutMode(configured)
        except ValueError:
            pass
    for min_w, min_h, mode in BREAKPOINTS:
        if width >= min_w and height >= min_h:
            return mode
    return LayoutMode.TOO_SMALL


class SortKey(str, enum.Enum):
    VRAM = "vram"
    RATE = "rate"
    PID = "pid"
    NAME = "name"


SORT_LABEL = {SortKey.VRAM: "VRAM", SortKey.RATE: "rate", SortKey.PID: "PID", SortKey.NAME: "name"}


def display_name(pv: ProcessView) -> str:
    """The process name: NVML's, else enrichment's, else '?'."""
    name = pv.process.name or (pv.info.name if pv.info and pv.info.name else "")
    return name or "?"


def sort_processes(
    views: Iterable[ProcessView], key: SortKey, reverse: bool = False
) -> list[ProcessView]:
    """Rows in display order. VRAM and rate sort largest first; PID and name ascending.

    Unknown VRAM sorts after every known value; ties fall back to GPU then PID,
    so the order is stable from one frame to the next.
    """
    rows = list(views)

    def tie(pv: ProcessView) -> tuple[int, int]:
        return (pv.gpu_index, pv.process.pid)

    if key is SortKey.VRAM:
        rows.sort(
            key=lambda pv: (pv.process.used_bytes is None, -(pv.process.used_bytes or 0), tie(pv))
        )
    elif key is SortKey.RATE:
        rows.sort(key=lambda pv: (-pv.phase.rate_bytes_per_s, tie(pv)))
    elif key is SortKey.PID:
        rows.sort(key=lambda pv: (pv.process.pid, pv.gpu_index))
    else:
        rows.sort(key=lambda pv: (display_name(pv).lower(), tie(pv)))
    if reverse:
        rows.reverse()
    return rows


def matches_filter(pv: ProcessView, text: str) -> bool:
    """Case-insensitive substring match on name, command line and framework."""
    needle = text.strip().lower()
    if not needle:
        return True
    info = pv.info
    haystack = [display_name(pv), " ".join(pv.process.cmdline)]
    if info is not None:
        haystack.append(" ".join(info.cmdline))
        if info.framework:
            haystack.append(info.framework)
        if info.launcher:
            haystack.append(info.launcher)
    return any(needle in h.lower() for h in haystack)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which processes the table shows, and how many were hidden and why."""

    rows: tuple[ProcessView, ...]
    hidden_other_users: int
    filtered_out: int


def select_processes(
    frame: Frame,
    *,
    show_other_users: bool,
    filter_text: str,
    sort: SortKey,
    reverse: bool = False,
) -> Selection:
    """Apply the privacy rule, the filter and the sort to every GPU's processes."""
    visible: list[ProcessView] = []
    hidden = 0
    filtered = 0
    for gpu in frame.gpus:
        # Another host's exporter already applied its own show_other_users rule.
        show_all = show_other_users or gpu.device.host is not None
        for pv in gpu.processes:
            if not (show_all or pv.own):
                hidden += 1
            elif not matches_filter(pv, filter_text):
                filtered += 1
            else:
                visible.append(pv)
    return Selection(tuple(sort_processes(visible, sort, reverse)), hidden, filtered)


class PhaseLog:
    """Phase transitions each process went through, as frames reported them.

    Bookkeeping of what the engine said (no analysis): per row key, a bounded
    list of `(t, phase)` entries, one per change of phase.
    """

    def __init__(self, max_entries: int = 50) -> None:
        self._max = max_entries
        self._log: dict[str, deque[tuple[float, Phase]]] = {}

    def update(self, frame: Frame) -> None:
        live: set[str] = set()
        for gpu in frame.gpus:
            for pv in gpu.processes:
                key = pv.key
                live.add(key)
                entries = self._log.get(key)
                if entries is None:
                    entries = self._log[key] = deque(maxlen=self._max)
                if not entries or entries[-1][1] is not pv.phase.phase:
                    entries.append((frame.t, pv.phase.phase))
        for key in [k for k in self._log if k not in live]:
            del self._log[key]

    def entries(self, key: str) -> Sequence[tuple[float, Phase]]:
        return tuple(self._log.get(key, ()))
