"""What the screen skips redrawing when nothing it shows changed (table lines kept
while their cells are the same objects in the same place, a GPU card's border
left alone while its title is the same) must leave exactly what a full redraw
draws, frame after frame."""

from __future__ import annotations

import dataclasses
from typing import Any

from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable

from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.model import GPUProcess
from vramtop.ui.app import VramtopApp, create_app
from vramtop.ui.widgets.gpu_card import GPUCard
from vramtop.ui.widgets.process_table import ProcessTable

from .helpers import ChildBackend, holder
from .test_table_repaint import cells, proc, step

MIB = 1024**2


async def assert_same_as_full_redraw(pilot: Pilot[Any], app: VramtopApp) -> None:
    """Everything redrawn from scratch (every widget, every cache) shows the same."""
    shown = cells(app)
    table = app.main.query_one(ProcessTable)
    table._clear_caches()
    for widget in app.screen.walk_children(Widget):
        widget._styles_cache.clear()
        widget.refresh()
    app.screen.refresh()
    await pilot.pause()
    assert cells(app) == shown


def _app(processes: list[GPUProcess]) -> tuple[ChildBackend, VramtopApp]:
    backend = ChildBackend(processes)
    cfg = Config().with_overrides(
        general={"refresh_rate": 10.0}, display={"show_other_users": True}
    )
    monitor = Monitor(backend, cfg, hostname="test-host")
    monitor.open()
    return backend, create_app(monitor, holder(cfg))


async def test_the_screen_after_skipped_redraws_is_a_full_redraw() -> None:
    backend, app = _app([proc(100 + i, 300 + 40 * i) for i in range(8)])
    async with app.run_test(size=(140, 30)) as pilot:
        await step(pilot, app)
        card = app.main.query_one(GPUCard)
        title = card.border_title
        assert title and "Test GPU" in title
        for i in range(6):
            ps = backend.processes
            if i == 2:
                ps = [*ps[1:], proc(400, 2000)]  # one leaves, a larger one arrives
            elif i == 4:
                ps = list(reversed(ps))
            backend.processes = [
                dataclasses.replace(p, used_bytes=(p.used_bytes or 0) + (j % 3) * 5 * MIB * i)
                for j, p in enumerate(ps)
            ]
            await step(pilot, app)
            assert card.border_title == title
            await assert_same_as_full_redraw(pilot, app)
        await pilot.press("down", "down")  # the cursor moves: its old and new lines change
        await pilot.pause()
        await assert_same_as_full_redraw(pilot, app)
        await pilot.press("t")  # another theme: every colour changes
        await pilot.pause()
        await step(pilot, app)
        await assert_same_as_full_redraw(pilot, app)


async def test_kept_table_lines_are_the_lines_datatable_draws() -> None:
    backend, app = _app([proc(100 + i, 300 + 40 * i) for i in range(5)])
    async with app.run_test(size=(140, 30)) as pilot:
        await step(pilot, app)
        table = app.main.query_one(ProcessTable)
        base = table.rich_style
        width = table.size.width
        compared = 0
        for frame in range(3):
            if frame:
                backend.processes = [
                    dataclasses.replace(p, used_bytes=(p.used_bytes or 0) + (j % 2) * MIB)
                    for j, p in enumerate(backend.processes)
                ]
                await step(pilot, app)
            for cursor_row in (0, 3):
                table.cursor_coordinate = Coordinate(cursor_row, 0)
                for y in range(table.header_height + table.row_count):
                    # twice: drawn, then kept
                    for _ in range(2):
                        got = table._render_line(y, 0, width, base)
                        table._line_cache.clear()
                        expected = DataTable._render_line(table, y, 0, width, base)
                        assert got == expected
                        compared += 1
        assert compared == 3 * 2 * 6 * 2
