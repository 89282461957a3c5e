"""The top line: host and source, the REPLAY marker, sort, filter and hidden rows."""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath

from rich.text import Text

from vramtop.frame import Frame, ReplayStatus
from vramtop.ui.state import SORT_LABEL, LayoutMode, Selection, SortKey
from vramtop.ui.widgets.badges import DEFAULT_PALETTE, Palette
from vramtop.ui.widgets.line import Line
from vramtop.units import fmt_duration


def speed_label(speed: float) -> str:
    return f"x{speed:g}"


@lru_cache(maxsize=8)
def file_name(path: str) -> str:
    """The last part of `path`, worked out once per path.

    Not per frame: PurePath interns every part of a path (sys.intern), and the
    parts of a PurePath made for each frame were interned and freed again every
    second. That churn fills CPython's table of interned strings with dead slots,
    and after about 45 minutes at 1 Hz the table was resized: +0.96 MB of
    resident memory, never given back.
    """
    return PurePath(path).name


def replay_marker(status: ReplayStatus, *, short: bool = False) -> Text:
    """`REPLAY demo.jsonl 42s / 1m19s x1` (+ PAUSED / END), never colour alone."""
    pos = f"{fmt_duration(status.position_s)}/{fmt_duration(status.duration_s)}"
    if short:
        label = f" REPLAY {pos} {speed_label(status.speed)} "
    else:
        label = f" REPLAY {file_name(status.path)} {pos} {speed_label(status.speed)} "
    text = Text(label, style="bold reverse")
    if status.paused:
        text.append(" PAUSED", style="bold")
    elif status.at_end:
        text.append(" END", style="bold")
    return text


class StatusBar(Line):
    """One line above the cards."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; padding: 0 1; }
    """

    def show(
        self,
        frame: Frame | None,
        *,
        mode: LayoutMode,
        selection: Selection | None,
        sort: SortKey,
        reverse: bool,
        filter_text: str,
        pal: Palette = DEFAULT_PALETTE,
    ) -> None:
        short = mode is LayoutMode.MINI
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("vramtop", style="bold")
        if frame is None:
            line.append(" · waiting for the first sample…", style="dim")
            self.set(line)
            return
        if not short:
            line.append(f" · {frame.hostname}")
            n = len(frame.gpus)
            line.append(f" · {n} GPU{'s' if n != 1 else ''}")
        if frame.replay is not None:
            line.append("  ")
            line.append_text(replay_marker(frame.replay, short=short))
        arrow = "↑" if reverse else "↓"
        if sort in (SortKey.PID, SortKey.NAME):
            arrow = "↓" if reverse else "↑"
        if not short or sort is not SortKey.VRAM or reverse:
            line.append(f"  sort {SORT_LABEL[sort]}{arrow}", style="dim")
        if filter_text:
            line.append(f"  filter '{filter_text}'", style=pal.info)
        if selection is not None:
            if selection.filtered_out:
                line.append(f" ({selection.filtered_out} filtered)", style="dim")
            if selection.hidden_other_users and not short:
                line.append(f"  {selection.hidden_other_users} of other users hidden", style="dim")
        if frame.errors_total and not short:
            line.append(f"  errors {frame.errors_total}", style=pal.warn)
        if short:
            line.append("  ? help", style="dim")
        self.set(line)
