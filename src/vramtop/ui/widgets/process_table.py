"""The process table: one DataTable for every GPU, updated by stable row keys.

Each refresh changes only what changed: rows that left are removed, new rows
added, changed cells updated in place, and the order fixed with one sort. The
cursor follows its row, so a 1 Hz refresh neither flickers nor loses the
selection.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip, get_line_length
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from vramtop.frame import ProcessView
from vramtop.ui.state import LayoutMode, display_name
from vramtop.ui.widgets.badges import (
    DEFAULT_PALETTE,
    Palette,
    container_label,
    framework_label,
    is_mps,
    phase_badge,
    process_user,
    verdict_badge,
)
from vramtop.units import fmt_bytes, fmt_percent, fmt_rate

if TYPE_CHECKING:
    from typing_extensions import Self


class KeyedText(Text):
    """A cell that knows its row: the table sorts by a rank looked up with it."""

    def __init__(self, text: str, row_key: str) -> None:
        super().__init__(text, justify="right")
        self.row_key = row_key


@dataclass(frozen=True, slots=True)
class RenderContext:
    words: bool
    pal: Palette


CellFn = Callable[[ProcessView, RenderContext], Text]


@dataclass(frozen=True, slots=True)
class Column:
    """A column: what of a process it shows (`inputs`) and how (`draw`). A cell is drawn
    again only when its inputs (or the render context) changed."""

    header: str
    inputs: Callable[[ProcessView], Hashable]
    draw: Callable[[Any, RenderContext], Text]

    def cell(self, pv: ProcessView, ctx: RenderContext) -> Text:
        return self.draw(self.inputs(pv), ctx)


def _name(name_and_mps: tuple[str, bool], _: RenderContext) -> Text:
    name, mps = name_and_mps
    name = name[:24]
    if mps:
        name += " [MPS]"
    return Text(name)


def _right(text: str) -> Text:
    return Text(text, justify="right")


COLUMNS: dict[str, Column] = {
    "gpu": Column("GPU", lambda pv: pv.gpu_index, lambda i, _: _right(str(i))),
    "pid": Column(
        "PID", lambda pv: (pv.process.pid, pv.key), lambda pk, _: KeyedText(str(pk[0]), pk[1])
    ),
    "user": Column("USER", process_user, lambda user, _: Text(user[:12])),
    "name": Column("NAME", lambda pv: (display_name(pv), is_mps(pv)), _name),
    "framework": Column("FRAMEWORK", framework_label, lambda label, _: Text(label)),
    "container": Column("CONTAINER", container_label, lambda label, _: Text(label)),
    "vram": Column(
        "VRAM", lambda pv: pv.process.used_bytes, lambda used, _: _right(fmt_bytes(used))
    ),
    "share": Column("SHARE", lambda pv: pv.share, lambda share, _: _right(fmt_percent(share))),
    "phase": Column(
        "PHASE",
        lambda pv: pv.phase.phase,
        lambda phase, c: phase_badge(phase, words=c.words, pal=c.pal),
    ),
    "rate": Column(
        "RATE",
        lambda pv: pv.phase.rate_bytes_per_s,
        lambda rate, _: _right(fmt_rate(rate)),
    ),
    "status": Column("STATUS", lambda pv: pv.survival, lambda sv, c: verdict_badge(sv, c.pal)),
}

CELLS: dict[str, tuple[str, CellFn]] = {k: (c.header, c.cell) for k, c in COLUMNS.items()}

LAYOUT_COLUMNS: dict[LayoutMode, tuple[str, ...]] = {
    LayoutMode.FULL: (
        "gpu",
        "pid",
        "user",
        "name",
        "framework",
        "container",
        "vram",
        "share",
        "phase",
        "rate",
        "status",
    ),
    LayoutMode.COMPACT: ("gpu", "pid", "name", "vram", "share", "phase", "rate", "status"),
    LayoutMode.MINI: ("gpu", "pid", "name", "vram", "phase", "status"),
    LayoutMode.TOO_SMALL: ("pid", "vram"),
}


def columns_for(mode: LayoutMode, *, multi_gpu: bool, phase_indicator: bool) -> tuple[str, ...]:
    """The columns of a layout; GPU only when there are several, PHASE unless switched off."""
    cols = LAYOUT_COLUMNS[mode]
    if not multi_gpu and mode is not LayoutMode.FULL:
        cols = tuple(c for c in cols if c != "gpu")
    if not phase_indicator:
        cols = tuple(c for c in cols if c != "phase")
    return cols


def _signature(cell: Text) -> tuple[str, str, tuple[object, ...]]:
    return (cell.plain, str(cell.style), tuple(cell.spans))


_NEWLINE = Text("\n")
_NULL = Style.null()


def render_text_cell(
    console: Console, text: Text, width: int, padding: int, pre: Style, post: Style
) -> list[list[Segment]] | None:
    """The lines DataTable draws for a one-line `text` that fits its cell, in about a
    third of the time of rich's general path (Styled(Padding(text)) through
    render_lines); None where only that path knows the answer (wider than the cell,
    empty (DataTable draws its own blank), several lines, tabs, centred or full
    justification).

    The same steps on the same rich objects: justify as Text.wrap does, join and
    render as Text.__rich_console__ does, pad to the width as render_lines does,
    pad both sides as Padding does, then `pre` before and `post` after every
    segment's style as Styled does.
    """
    inner = width - 2 * padding
    plain = text.plain
    if not plain or padding < 0 or inner < 0 or "\n" in plain or "\t" in plain:
        return None
    length = cell_len(plain)
    if length > inner:
        return None
    justify = text.justify or "default"
    if justify not in ("default", "left", "right") or (
        justify == "right" and plain.rstrip() != plain
    ):
        return None
    if not text.spans:
        # What the steps below give a text without spans: one segment in the text's own
        # style (none if it has none), and default justification's padding unstyled.
        style = console.get_style(text.style) if text.style else None
        gap = " " * (inner - length)
        if justify == "right":
            segments = [Segment(gap + plain, style)]
        elif justify == "left":
            segments = [Segment(plain + gap, style)]
        else:
            segments = (
                [Segment(plain, style), Segment(gap, _NULL)] if gap else [Segment(plain, style)]
            )
        return _padded(segments, padding, pre, post)
    line = text
    if justify == "right":
        line = text.copy()
        line.pad_left(inner - length)
    elif justify == "left":
        line = text.copy()
        line.truncate(inner, pad=True)
    segments = list(_NEWLINE.join([line]).render(console))
    if justify == "default" and length < inner:
        segments.append(Segment(" " * (inner - length), _NULL))
    return _padded(segments, padding, pre, post)


def _padded(segments: list[Segment], padding: int, pre: Style, post: Style) -> list[list[Segment]]:
    """A cell's one line: `segments` padded on both sides, `pre` before and `post` after
    every style (as Padding and Styled draw it)."""

    def styled(style: Style | None) -> Style | None:
        if pre:
            style = pre + style
        if post:
            style = style + post if style else post
        return style

    out = [Segment(t, styled(st)) for t, st, _ in segments]
    if padding:
        edge = Segment(" " * padding, styled(_NULL))
        out = [edge, *out, edge]
    return [out]


@dataclass(frozen=True, slots=True)
class _RenderedCell:
    """A cell's rendered lines, valid while its value object and drawing state stay, and
    each line simplified (neighbouring segments of one style joined) with its width."""

    value: object
    state: tuple[object, ...]
    lines: list[list[Segment]]
    simple: list[list[Segment]]
    lengths: list[int]

    @classmethod
    def of(cls, value: object, state: tuple[object, ...], lines: list[list[Segment]]) -> Self:
        simple = [list(Segment.simplify(line)) for line in lines]
        return cls(value, state, lines, simple, [get_line_length(line) for line in simple])


def join_simplified(parts: list[list[Segment]]) -> list[Segment]:
    """`Segment.simplify` of the parts joined, for parts each already simplified: only
    where two parts meet can two segments of one style be neighbours."""
    out: list[Segment] = []
    for part in parts:
        if not part:
            continue
        if out:
            last, first = out[-1], part[0]
            if last.style == first.style and not first.control:  # as simplify joins
                out[-1] = Segment(last.text + first.text, last.style)
                out.extend(part[1:])
                continue
        out.extend(part)
    return out


@dataclass(frozen=True, slots=True)
class _PassState:
    """What stays the same while the table draws its lines (read once per render pass)."""

    drawing: tuple[object, ...]  # part of every cell's cache key
    show_cursor: bool
    show_hover_cursor: bool
    css_foreground: bool
    css_background: bool
    simple_rows: bool  # row cursor; no fixed rows or columns, zebra stripes or row labels
    widths: tuple[int, ...]  # render width of each column in display order
    fast_text: bool  # the console justifies nothing by default


class ProcessTable(DataTable[Text]):
    """Processes of every GPU, one row per (GPU, PID, start time)."""

    DEFAULT_CSS = """
    ProcessTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        # Set first: DataTable's constructor already refreshes and clears caches.
        self._rendered: dict[tuple[RowKey, ColumnKey], _RenderedCell] = {}
        self._quiet = False
        self._pass_style: Style | None = None
        self._pass: _PassState | None = None
        self._in_pass = False
        self._meta: dict[tuple[int, int], Style] = {}
        self._shown: list[tuple[RowKey, list[Text]]] = []
        # Per row: the last line drawn, its place and state, and the cell objects in it.
        self._lines: dict[RowKey, tuple[tuple[object, ...], tuple[object, ...], Strip]] = {}
        self._extend_styles: dict[tuple[object, ...], Style] = {}
        super().__init__(cursor_type="row", id=id, zebra_stripes=False)
        self._columns: tuple[str, ...] = ()
        self._inputs: dict[str, tuple[Hashable, ...]] = {}
        self._sigs: dict[str, tuple[tuple[str, str, tuple[object, ...]], ...]] = {}
        self._views: dict[str, ProcessView] = {}
        self._ctx: RenderContext | None = None

    # --- rendering: only the cells that changed --------------------------------------------
    #
    # DataTable keys its render caches on a counter bumped by every cell update, so one
    # changed VRAM figure re-renders every cell of the table (most of the TUI's CPU at
    # 1 Hz). This cache keeps each cell's lines while the cell holds the same value
    # object (`show` replaces only the cells whose text changed) and is drawn in the
    # same place, width and state; everything DataTable clears its caches for (style,
    # theme and cursor changes, `clear`) clears it too.

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        return self._cell(row_index, column_index, base_style, width, cursor, hover).lines

    def _cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> _RenderedCell:
        row_key = (
            self._header_row_key if row_index == -1 else self._row_locations.get_key(row_index)
        )
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:  # a row label, or a cell that just left
            drawn = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            return _RenderedCell.of(None, (), drawn)
        if row_index == -1:
            value: object = self.columns[column_key].label
        else:
            value = self._data[row_key][column_key]
        state = (row_index, column_index, base_style, width, cursor, hover, self._state().drawing)
        cached = self._rendered.get((row_key, column_key))
        lines: list[list[Segment]] | None = None
        if cached is not None and cached.value is value:
            if cached.state == state:
                return cached
            if row_index >= 0 and cached.state[0] != -1 and cached.state[1:] == state[1:]:
                # The row only moved: its cells differ in nothing but the row number
                # DataTable keeps in each segment's style (for mouse clicks).
                lines = self._moved(cached.lines, row_index, column_index)
        if lines is None and isinstance(value, Text):
            lines = self._render_text(
                row_key, row_index, column_index, value, base_style, width, cursor, hover
            )
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._rendered[(row_key, column_key)] = _RenderedCell.of(value, state, lines)
        return cell

    def _moved(
        self, lines: list[list[Segment]], row_index: int, column_index: int
    ) -> list[list[Segment]]:
        """`lines` of a cell drawn at another row, with the row number in their styles
        changed to `row_index` (the same styles a new drawing would give)."""
        meta = self._cell_meta(row_index, column_index)
        return [
            [
                Segment(text, style + meta if style else style, control)
                for text, style, control in line
            ]
            for line in lines
        ]

    def _cell_meta(self, row_index: int, column_index: int) -> Style:
        """The style that tells a click where it landed (DataTable's per-cell meta)."""
        meta = self._meta.get((row_index, column_index))
        if meta is None:
            meta = self._meta[(row_index, column_index)] = Style.from_meta(
                {"row": row_index, "column": column_index}
            )
        return meta

    def _render_text(
        self,
        row_key: RowKey,
        row_index: int,
        column_index: int,
        text: Text,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]] | None:
        """A header or body cell styled as DataTable._render_cell does, drawn fast."""
        state = self._state()
        is_header = row_index == -1
        height = self.header_height if is_header else self.rows[row_key].height
        if height != 1 or not state.fast_text:
            return None
        is_fixed = not is_header and (
            row_index < self.fixed_rows or column_index < self.fixed_columns
        )
        component, post = self._get_styles_to_render_cell(
            is_header,
            False,
            is_fixed,
            hover,
            cursor,
            state.show_cursor,
            state.show_hover_cursor,
            state.css_foreground,
            state.css_background,
        )
        pre = base_style + self._cell_meta(row_index, column_index) + component
        return render_text_cell(self.app.console, text, width, self.cell_padding, pre, post)

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        """A body row's cells and the filler after them, as DataTable lays them out, without
        the per-row header style and background colours it computes only for other tables
        (row labels, fixed rows or columns, zebra stripes, cell or column cursors)."""
        row_index = self._row_locations.get(row_key)
        state = self._state()
        if row_index is None or not state.simple_rows:
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        cells, filler, _ = self._row_layout(
            row_index, base_style, cursor_location.row == row_index, hover_location.row == row_index
        )
        return [], [*(cell.lines[line_no] for cell in cells), [filler]]

    def _row_layout(
        self, row_index: int, base_style: Style, cursor: bool, hover: bool
    ) -> tuple[list[_RenderedCell], Segment, int]:
        """A body row's cells in display order, the filler after them to the widget's
        width (as DataTable lays a row out), and the width of the cells."""
        cells: list[_RenderedCell] = []
        table_width = self._row_label_column_width
        for column_index, cell_width in enumerate(self._state().widths):
            table_width += cell_width
            cells.append(self._cell(row_index, column_index, base_style, cell_width, cursor, hover))
        filler = Segment(
            " " * max(0, self.size.width - table_width),
            self._extend_style(row_index, base_style, cursor, hover),
        )
        return cells, filler, table_width

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """DataTable's line, kept while the line shows the same cell objects in the same
        place and state: DataTable's own line cache is keyed on a counter that every cell
        update bumps, so one changed figure redrew every line in the repainted area."""
        width = self.size.width
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        state = self._state()
        cursor = self.cursor_coordinate
        hover = self.hover_coordinate
        row_index = -1
        if row_key is self._header_row_key:
            values: tuple[object, ...] = tuple(c.label for c in self.ordered_columns)
            place: tuple[object, ...] = (cursor, hover)
        else:
            index = self._row_locations.get(row_key)
            if index is None or not state.simple_rows:
                return super()._render_line(y, x1, x2, base_style)
            row_index = index
            values = tuple(self._data[row_key].values())
            place = (cursor.row == row_index, hover.row == row_index)
        key = (
            y,
            line_no,
            row_index,
            x1,
            x2,
            width,
            base_style,
            state,
            self._row_label_column_width,
            self.cell_padding,
            *place,
        )
        cached = self._lines.get(row_key)
        if (
            cached is not None
            and cached[0] == key
            and len(cached[1]) == len(values)
            and all(a is b for a, b in zip(cached[1], values, strict=True))
        ):
            return cached[2]
        if row_index == -1 or x1 != 0 or x2 != width:
            strip = super()._render_line(y, x1, x2, base_style)
        else:
            strip = self._body_line(
                row_index, line_no, base_style, cursor.row == row_index, hover.row == row_index
            )
        self._lines[row_key] = (key, values, strip)
        return strip

    def _body_line(
        self, row_index: int, line_no: int, base_style: Style, cursor: bool, hover: bool
    ) -> Strip:
        """A body line not scrolled sideways, as DataTable's `_render_line` draws it
        (`Strip(line_crop(...)).adjust_cell_length(width).simplify()`), without its
        per-line cache key and, where the line fits the widget (its crop then keeps
        every segment and no padding is added), without the crop pass and extra strip."""
        width = self.size.width
        cells, filler, table_width = self._row_layout(row_index, base_style, cursor, hover)
        first = cells[0].lines[line_no] if cells else [filler]
        if (
            table_width <= width
            and first
            and first[0].text
            and sum(cell.lengths[line_no] for cell in cells) + len(filler.text) == width
        ):
            return Strip(
                join_simplified([*(cell.simple[line_no] for cell in cells), [filler]]), width
            )
        segments = [seg for cell in cells for seg in cell.lines[line_no]] + [filler]
        segments = line_crop(segments, 0, width, width)
        return Strip(segments).adjust_cell_length(width, base_style).simplify()

    def _extend_style(self, row_index: int, base_style: Style, cursor: bool, hover: bool) -> Style:
        """The style of the filler after a body row's cells (as DataTable's
        `_render_line_in_row` gives it)."""
        state = self._state()
        key = (row_index, base_style, cursor, hover, state)
        style = self._extend_styles.get(key)
        if style is None:
            if len(self._extend_styles) > 4096:  # widths or theme changed many times
                self._extend_styles.clear()
            extend_style, _ = self._get_styles_to_render_cell(
                False,
                False,
                False,
                hover,
                cursor,
                state.show_cursor,
                state.show_hover_cursor,
                False,
                False,
            )
            style = self._extend_styles[key] = (
                base_style
                + extend_style
                + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
            )
        return style

    @property
    def rich_style(self) -> Style:
        # DataTable asks for it once per line; it cannot change during one render pass.
        if self._pass_style is not None:
            return self._pass_style
        return super().rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass_style = super().rich_style
        self._pass = None
        self._in_pass = True
        try:
            return super().render_lines(crop)
        finally:
            self._pass_style = None
            self._pass = None
            self._in_pass = False

    def _state(self) -> _PassState:
        """The drawing state, read once per render pass (on every call outside one)."""
        if self._pass is not None:
            return self._pass
        show_cursor = self.show_cursor
        show_hover = self._show_hover_cursor
        state = _PassState(
            drawing=(show_cursor, show_hover, self._pseudo_class_state),
            show_cursor=show_cursor,
            show_hover_cursor=show_hover,
            css_foreground=self.cursor_foreground_priority == "css",
            css_background=self.cursor_background_priority == "css",
            simple_rows=self.cursor_type == "row"
            and not self.fixed_rows
            and not self.fixed_columns
            and not self.zebra_stripes
            and not (self._labelled_row_exists and self.show_row_labels),
            widths=tuple(column.get_render_width(self) for column in self.ordered_columns),
            fast_text=self.app.console_options.justify is None,
        )
        if self._in_pass:
            self._pass = state
        return state

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._rendered.clear()
        self._meta.clear()
        self._lines.clear()
        self._extend_styles.clear()

    def notify_style_update(self) -> None:
        self._rendered.clear()
        self._lines.clear()
        self._extend_styles.clear()
        super().notify_style_update()

    @property
    def selected_key(self) -> str | None:
        """Row key (`ProcessView.key`) under the cursor, None when the table is empty."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None
        return key

    @property
    def selected_view(self) -> ProcessView | None:
        key = self.selected_key
        return self._views.get(key) if key is not None else None

    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return [str(row.key.value) for row in self.ordered_rows]

    def show(
        self,
        rows: Sequence[ProcessView],
        *,
        mode: LayoutMode,
        plain: bool,
        multi_gpu: bool,
        phase_indicator: bool = True,
        pal: Palette = DEFAULT_PALETTE,
    ) -> None:
        selected = self.selected_key
        # Rows added or removed, columns rebuilt or grown: DataTable repaints the whole
        # table. Otherwise (cells changed in place, rows reordered) only the lines whose
        # content changed are repainted, below.
        structural = False
        columns = columns_for(mode, multi_gpu=multi_gpu, phase_indicator=phase_indicator)
        if columns != self._columns:
            self.clear(columns=True)
            for col in columns:
                self.add_column(CELLS[col][0], key=col)
            self._columns = columns
            self._sigs.clear()
            self._inputs.clear()
            structural = True
        ctx = RenderContext(words=plain or mode is LayoutMode.FULL, pal=pal)
        wanted = [pv.key for pv in rows]
        wanted_set = set(wanted)
        gone = [k for k in self._sigs if k not in wanted_set]
        for key in gone:
            self.remove_row(key)
            del self._sigs[key]
            self._inputs.pop(key, None)
        if gone:
            structural = True
            gone_keys = {RowKey(k) for k in gone}
            self._rendered = {k: v for k, v in self._rendered.items() if k[0] not in gone_keys}
            for row_key in gone_keys:
                self._lines.pop(row_key, None)
        self._views = {pv.key: pv for pv in rows}
        same_ctx = ctx == self._ctx
        self._ctx = ctx
        for pv in rows:
            inputs = tuple(COLUMNS[col].inputs(pv) for col in columns)
            old_inputs = self._inputs.get(pv.key) if same_ctx else None
            if inputs == old_inputs:
                continue  # nothing shown about this row changed
            self._inputs[pv.key] = inputs
            old = self._sigs.get(pv.key)
            if old is None:
                cells = tuple(
                    COLUMNS[col].draw(value, ctx)
                    for col, value in zip(columns, inputs, strict=True)
                )
                self.add_row(*cells, key=pv.key)
                self._sigs[pv.key] = tuple(_signature(c) for c in cells)
                structural = True
                continue
            sigs = list(old)
            for i, (col, value) in enumerate(zip(columns, inputs, strict=True)):
                if old_inputs is not None and value == old_inputs[i]:
                    continue
                cell = COLUMNS[col].draw(value, ctx)
                sig = _signature(cell)
                if sig == old[i]:
                    continue
                sigs[i] = sig
                # Columns only grow while rows update: letting one shrink makes
                # Textual re-measure the whole column for every changed cell.
                if cell.cell_len > self.columns[ColumnKey(col)].content_width:
                    self.update_cell(pv.key, col, cell, update_width=True)
                    structural = True
                else:
                    with self._no_full_repaint():
                        self.update_cell(pv.key, col, cell)
            self._sigs[pv.key] = tuple(sigs)
        if self.row_keys() != wanted:
            rank = {k: i for i, k in enumerate(wanted)}
            with self._no_full_repaint():
                self.sort("pid", key=lambda cell: rank[cell.row_key])
        if selected is not None and selected in self._sigs:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)
        self._repaint_changed_lines(full=structural)

    def _repaint_changed_lines(self, *, full: bool) -> None:
        """Repaint the cells whose value differs from the one last shown at their place:
        per line, one region from the first to the last changed cell, all in one refresh."""
        data = self._data  # each row's cells in column order, as get_row gives them
        shown = [(row.key, list(data[row.key].values())) for row in self.ordered_rows]
        before, self._shown = self._shown, shown
        if full:
            return
        edges = [self._row_label_column_width]
        for column in self.ordered_columns:
            edges.append(edges[-1] + column.get_render_width(self))
        top = self.header_height if self.show_header else 0
        line_width = max(self.size.width, edges[-1])
        window = self.window_region
        scroll = self.scroll_offset
        regions: list[Region] = []
        for index, (key, values) in enumerate(shown):
            if self.rows[key].height != 1:  # lines below are not at top + index
                self.refresh()
                return
            old = before[index] if index < len(before) else None
            if old is None or old[0] != key:
                x0, x1 = 0, line_width
            else:
                changed = [
                    c for c, (a, b) in enumerate(zip(old[1], values, strict=True)) if a is not b
                ]
                if not changed:
                    continue
                x0, x1 = edges[changed[0]], edges[changed[-1] + 1]
            region = Region(x0, top + index, x1 - x0, 1)
            if window.overlaps(region):
                regions.append(region.translate(-scroll))
        if regions:
            self.refresh(*regions)

    @contextmanager
    def _no_full_repaint(self) -> Iterator[None]:
        """DataTable repaints the whole table on every change; `show` repaints what changed."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        if self._quiet:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
