"""The process table repaints only what changed: what it leaves on screen must be
exactly what a full repaint draws, frame after frame (cells changed in place,
rows reordered, added and removed, columns grown, cursor moved)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable

from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.model import GPUProcess
from vramtop.ui.app import VramtopApp, create_app
from vramtop.ui.widgets.process_table import ProcessTable

from .helpers import ChildBackend, holder, wait_for

MIB = 1024**2


def proc(pid: int, mib: int) -> GPUProcess:
    return GPUProcess(pid=pid, starttime=1000 + pid, used_bytes=mib * MIB, name=f"job-{pid}", uid=0)


def cells(app: VramtopApp) -> list[list[tuple[str, Style | None]]]:
    """Every character on screen with its style, as the terminal was last sent it."""
    strips = app.screen._compositor.render_strips()
    return [[(ch, seg.style) for seg in strip for ch in seg.text] for strip in strips]


async def step(pilot: Pilot[Any], app: VramtopApp) -> None:
    seq = app.frame.seq if app.frame is not None else -1
    app.request_sample()
    await wait_for(pilot, lambda: app.frame is not None and app.frame.seq > seq)
    await pilot.pause()


async def assert_same_as_full_repaint(pilot: Pilot[Any], app: VramtopApp) -> None:
    shown = cells(app)
    table = app.main.query_one(ProcessTable)
    table._clear_caches()
    table._rendered.clear()
    table.refresh()
    await pilot.pause()
    assert cells(app) == shown


async def test_partial_repaints_match_full_repaints() -> None:
    backend = ChildBackend([proc(100 + i, 300 + 40 * i) for i in range(8)])
    cfg = Config().with_overrides(
        general={"refresh_rate": 10.0}, display={"show_other_users": True}
    )
    monitor = Monitor(backend, cfg, hostname="test-host")
    monitor.open()
    app = create_app(monitor, holder(cfg))
    async with app.run_test(size=(140, 30)) as pilot:
        await step(pilot, app)
        await pilot.press("p")  # sort by PID: memory changes below keep the order
        await pilot.pause()
        changes: list[Callable[[list[GPUProcess]], list[GPUProcess]]] = [
            lambda ps: [dataclasses.replace(p, used_bytes=(p.used_bytes or 0) + MIB) for p in ps],
            lambda ps: [
                dataclasses.replace(p, used_bytes=(p.used_bytes or 0) + (i % 3) * 7 * MIB)
                for i, p in enumerate(ps)
            ],
            lambda ps: [*ps[1:], proc(300, 123)],  # one leaves, one arrives
            lambda ps: [dataclasses.replace(ps[0], used_bytes=60 * 1024 * MIB), *ps[1:]],  # wider
            lambda ps: [dataclasses.replace(p, used_bytes=(p.used_bytes or 0) - MIB) for p in ps],
        ]
        for change in changes:
            backend.processes = change(backend.processes)
            await step(pilot, app)
            await assert_same_as_full_repaint(pilot, app)
        await pilot.press("down", "down")
        await pilot.pause()
        await assert_same_as_full_repaint(pilot, app)
        await pilot.press("v")  # sort by VRAM: the next changes reorder rows
        await pilot.pause()
        for i in range(4):
            backend.processes = [
                dataclasses.replace(
                    p, used_bytes=(p.used_bytes or 0) + ((j * 5 + i * 3) % 9) * 50 * MIB
                )
                for j, p in enumerate(backend.processes)
            ]
            await step(pilot, app)
            await assert_same_as_full_repaint(pilot, app)
        await pilot.press("t")  # another theme: every cached cell is stale
        await pilot.pause()
        await step(pilot, app)
        await assert_same_as_full_repaint(pilot, app)


def random_text(rng: random.Random) -> Text:
    alphabet = "ab Z9.%/·▲日本 "
    plain = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
    text = Text(
        plain,
        style=rng.choice(["", "bold", "red on blue", "dim italic", "reverse"]),
        justify=rng.choice([None, "default", "left", "right", "center"]),
    )
    for _ in range(rng.randint(0, 3)):
        if plain:
            start = rng.randrange(len(plain))
            end = rng.randint(start, len(plain))
            text.stylize(rng.choice(["bold", "green", "on yellow", "underline"]), start, end)
    return text


async def test_fast_cells_are_drawn_as_rich_draws_them() -> None:
    """The table's own cell drawing gives exactly DataTable's segments, or defers to it."""
    backend = ChildBackend([proc(100 + i, 300 + 40 * i) for i in range(3)])
    cfg = Config().with_overrides(display={"show_other_users": True})
    monitor = Monitor(backend, cfg, hostname="test-host")
    monitor.open()
    app = create_app(monitor, holder(cfg))
    rng = random.Random(7)
    fast = 0
    async with app.run_test(size=(140, 30)) as pilot:
        await step(pilot, app)
        table = app.main.query_one(ProcessTable)
        row_key = table.ordered_rows[1].key
        column_key = table.ordered_columns[3].key
        for _ in range(3000):
            text = random_text(rng)
            table.update_cell(row_key, column_key, text)
            row_index = rng.choice([-1, 0, 1])
            key = table._header_row_key if row_index == -1 else table.ordered_rows[row_index].key
            if row_index >= 0:
                table.update_cell(key, column_key, text)
            else:
                table.columns[column_key].label = text
            base = Style(color=rng.choice(["white", "black"]), bgcolor="grey11")
            width = rng.randint(0, 20)
            cursor, hover = rng.random() < 0.3, rng.random() < 0.3
            expected = DataTable._render_cell(table, row_index, 3, base, width, cursor, hover)
            got = table._render_text(key, row_index, 3, text, base, width, cursor, hover)
            if got is not None:
                fast += 1
                assert got == expected, (text, text.justify, width, row_index, got, expected)
    assert fast > 1000  # the fast path is taken for most cells, not skipped


async def test_fast_rows_are_laid_out_as_datatable_lays_them_out() -> None:
    backend = ChildBackend([proc(100 + i, 300 + 40 * i) for i in range(5)])
    cfg = Config().with_overrides(display={"show_other_users": True})
    monitor = Monitor(backend, cfg, hostname="test-host")
    monitor.open()
    app = create_app(monitor, holder(cfg))
    async with app.run_test(size=(140, 30)) as pilot:
        await step(pilot, app)
        table = app.main.query_one(ProcessTable)
        base = table.rich_style
        compared = 0
        for show_cursor, show_hover in ((True, True), (True, False), (False, True)):
            table.show_cursor = show_cursor
            table._show_hover_cursor = show_hover
            table._clear_caches()
            for cursor_row in range(5):
                for hover_row in (-1, 0, 2, 4):
                    cursor, hover = Coordinate(cursor_row, 0), Coordinate(hover_row, 1)
                    for row in table.ordered_rows:
                        expected = DataTable._render_line_in_row(
                            table, row.key, 0, base, cursor, hover
                        )
                        got = table._render_line_in_row(row.key, 0, base, cursor, hover)
                        assert got == expected
                        compared += 1
        assert compared == 3 * 5 * 4 * 5


async def test_partial_repaints_of_a_scrolled_table_match_full_repaints() -> None:
    backend = ChildBackend([proc(100 + i, 300 + 40 * i) for i in range(30)])
    cfg = Config().with_overrides(
        general={"refresh_rate": 10.0}, display={"show_other_users": True}
    )
    monitor = Monitor(backend, cfg, hostname="test-host")
    monitor.open()
    app = create_app(monitor, holder(cfg))
    async with app.run_test(size=(140, 24)) as pilot:
        await step(pilot, app)
        table = app.main.query_one(ProcessTable)
        await pilot.press(*["down"] * 25)
        await pilot.pause()
        assert table.scroll_offset.y > 0
        for i in range(4):
            backend.processes = [
                dataclasses.replace(p, used_bytes=(p.used_bytes or 0) + ((j + i) % 4) * 30 * MIB)
                for j, p in enumerate(backend.processes)
            ]
            await step(pilot, app)
            await assert_same_as_full_repaint(pilot, app)
