"""The main screen: status line, GPU cards, the process table, the filter and the footer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from vramtop.frame import Frame, ProcessView
from vramtop.ui.messages import DetailRequested, KillRequested
from vramtop.ui.state import (
    MIN_HEIGHT,
    MIN_WIDTH,
    LayoutMode,
    Selection,
    SortKey,
    layout_for,
    select_processes,
)
from vramtop.ui.widgets.badges import DEFAULT_PALETTE, Palette
from vramtop.ui.widgets.gpu_card import GPUCard
from vramtop.ui.widgets.process_table import ProcessTable
from vramtop.ui.widgets.status_bar import StatusBar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    """What the app decides and the main screen follows (attributes flow down)."""

    plain: bool = False
    show_other_users: bool = False
    phase_indicator: bool = True
    layout: str = "auto"
    pal: Palette = DEFAULT_PALETTE


class MainScreen(Screen[None]):
    """Everything at a glance; owns the sort order and the filter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "detail", "Detail", tooltip="Everything about the selected process"),
        Binding("k", "kill", "Kill", tooltip="Signal the selected process (SIGTERM, then SIGKILL)"),
        Binding("k", "kill_disabled", "Kill (disabled)", show=False),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            tooltip="Filter by name, command line or framework",
        ),
        Binding(
            "v", "sort('vram')", "Sort VRAM", show=False, tooltip="Sort by VRAM, largest first"
        ),
        Binding(
            "r",
            "sort('rate')",
            "Sort rate",
            show=False,
            tooltip="Sort by growth rate, fastest first",
        ),
        Binding("p", "sort('pid')", "Sort PID", show=False, tooltip="Sort by PID"),
        Binding("n", "sort('name')", "Sort name", show=False, tooltip="Sort by name"),
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="Clear the filter"),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.frame: Frame | None = None
        self.settings = DisplaySettings()
        self.sort_key = SortKey.VRAM
        self.reverse = False
        self.filter_text = ""
        self.mode = LayoutMode.FULL
        self.selection: Selection | None = None
        self.kill_enabled = True
        self._cards: dict[str, GPUCard] = {}
        self._card_seq = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="body"):
            yield StatusBar(id="status")
            yield VerticalScroll(id="gpus")
            yield ProcessTable(id="processes")
            yield Static(id="empty")
            yield Input(
                placeholder="filter: name, command line or framework (Enter keeps, Esc clears)",
                id="filter",
            )
            yield Footer()
        yield Static(id="too-small")

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#gpus", VerticalScroll).can_focus = False
        self.query_one(ProcessTable).focus()
        self._apply_mode()

    # --- data in ------------------------------------------------------------------------

    def show_frame(
        self, frame: Frame | None = None, settings: DisplaySettings | None = None
    ) -> None:
        """Render `frame` (or the last one again) with `settings` (or the current ones)."""
        if frame is not None:
            self.frame = frame
        if settings is not None:
            self.settings = settings
        self._apply_mode()
        self._redraw()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_mode()
        self._redraw()

    def _apply_mode(self) -> None:
        mode = layout_for(self.size.width, self.size.height, self.settings.layout)
        for m in LayoutMode:
            self.set_class(m is mode, f"-mode-{m.value}")
        self.mode = mode

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        try:
            self._draw()
        except NoMatches:
            # A frame that arrives while the app shuts down finds the widgets gone.
            log.debug("main screen torn down; frame not drawn")

    def _draw(self) -> None:
        status = self.query_one(StatusBar)
        if self.mode is LayoutMode.TOO_SMALL:
            self.query_one("#too-small", Static).update(
                Text.assemble(
                    ("vramtop", "bold"),
                    f"\nterminal too small\n{self.size.width}x{self.size.height},"
                    f" needs {MIN_WIDTH}x{MIN_HEIGHT}",
                    justify="center",
                )
            )
            return
        frame = self.frame
        s = self.settings
        if frame is None:
            status.show(
                None,
                mode=self.mode,
                selection=None,
                sort=self.sort_key,
                reverse=self.reverse,
                filter_text=self.filter_text,
                pal=s.pal,
            )
            return
        # A recording is the user's own file, and a remote host's exporter already
        # chose what it shows: their processes are all listed (the privacy rule is
        # about other users on this machine, who are in neither).
        show_others = (
            s.show_other_users or frame.replay is not None or frame.source.startswith("remote:")
        )
        self.selection = select_processes(
            frame,
            show_other_users=show_others,
            filter_text=self.filter_text,
            sort=self.sort_key,
            reverse=self.reverse,
        )
        status.show(
            frame,
            mode=self.mode,
            selection=self.selection,
            sort=self.sort_key,
            reverse=self.reverse,
            filter_text=self.filter_text,
            pal=s.pal,
        )
        self._render_cards(frame)
        table = self.query_one(ProcessTable)
        rows = self.selection.rows
        table.show(
            rows,
            mode=self.mode,
            plain=s.plain,
            multi_gpu=len(frame.gpus) > 1,
            phase_indicator=s.phase_indicator,
            pal=s.pal,
        )
        empty = self.query_one("#empty", Static)
        table.display = bool(rows)
        empty.display = not rows
        if not rows:
            empty.update(self._empty_text(frame, self.selection))

    def _empty_text(self, frame: Frame, sel: Selection) -> Text:
        if sel.filtered_out:
            return Text(
                f"no process matches '{self.filter_text}' (Esc clears the filter)", style="dim"
            )
        if sel.hidden_other_users:
            n = sel.hidden_other_users
            return Text(
                f"{n} process{'es' if n != 1 else ''} of other users hidden"
                " (set display.show_other_users = true to list them)",
                style="dim",
            )
        return Text("no processes on the GPU" + ("s" if len(frame.gpus) > 1 else ""), style="dim")

    def _render_cards(self, frame: Frame) -> None:
        container = self.query_one("#gpus", VerticalScroll)
        keys = [gpu.device.key for gpu in frame.gpus]
        for key in [k for k in self._cards if k not in keys]:
            self._cards.pop(key).remove()
        for gpu in frame.gpus:
            card = self._cards.get(gpu.device.key)
            if card is None:
                self._card_seq += 1
                card = self._cards[gpu.device.key] = GPUCard(id=f"gpu-{self._card_seq}")
                container.mount(card)
                # Children exist once mounted; fill the card right after.
                self.call_after_refresh(self._fill_card, card, gpu.device.key)
                continue
            if card.is_mounted:
                card.show(gpu, self.mode, plain=self.settings.plain, pal=self.settings.pal)

    def _fill_card(self, card: GPUCard, key: str) -> None:
        if self.frame is None or not card.is_mounted:
            return
        for gpu in self.frame.gpus:
            if gpu.device.key == key:
                card.show(gpu, self.mode, plain=self.settings.plain, pal=self.settings.pal)

    # --- keys ---------------------------------------------------------------------------

    @property
    def selected_view(self) -> ProcessView | None:
        table = self.query_one(ProcessTable)
        return table.selected_view if table.display else None

    def action_detail(self) -> None:
        self.post_message(DetailRequested(self.selected_view))

    def action_kill(self) -> None:
        self.post_message(KillRequested(self.selected_view))

    def action_kill_disabled(self) -> None:
        self.post_message(KillRequested(None))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "kill":
            return self.kill_enabled
        if action == "kill_disabled":
            return not self.kill_enabled
        return True

    def action_sort(self, key: str) -> None:
        new = SortKey(key)
        # The same key twice reverses the order.
        self.reverse = (not self.reverse) if new is self.sort_key else False
        self.sort_key = new
        self._redraw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    def action_clear_filter(self) -> None:
        self._close_filter(keep=False)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._redraw()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._close_filter(keep=True)

    def _close_filter(self, *, keep: bool) -> None:
        box = self.query_one("#filter", Input)
        if not keep:
            self.filter_text = ""
        box.display = False
        self.query_one(ProcessTable).focus()
        self._redraw()

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            self._close_filter(keep=False)
