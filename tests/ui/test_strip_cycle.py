"""Lines drawn leave no reference cycles behind (`vramtop.ui.strip_cycle`): the
cyclic garbage collector is not set off by drawing, and the lines are the same."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from vramtop.ui import strip_cycle

from .test_repaint_skips import MIB, _app, assert_same_as_full_redraw
from .test_table_repaint import proc, step


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cyclic_garbage_of(divide: Callable[[Strip, list[int]], Sequence[Strip]]) -> int:
    """Objects only the cyclic collector frees after 50 strips were divided and dropped."""
    with collector_off():
        for i in range(50):
            strip = Strip([Segment("GPU 0 ", Style(bold=True)), Segment(f"{i:>4} MiB")])
            divide(strip, [strip.cell_length])
            del strip
        return gc.collect()


def test_an_uncut_line_leaves_no_cycle() -> None:
    # Textual's own divide is what the probe must catch, or it proves nothing.
    assert cyclic_garbage_of(strip_cycle._textual_divide) >= 50
    assert cyclic_garbage_of(strip_cycle._divide) == 0


def test_divided_lines_are_textual_s() -> None:
    segments = [Segment("vram ", Style(color="red")), Segment("12.5 GiB", None), Segment("  ok")]
    for cuts in ([17], [5], [3, 9, 17], [0, 17], [4, 40], [17, 20], [], [2, 2, 17]):
        ours = strip_cycle._divide(Strip(segments), cuts)
        textual = strip_cycle._textual_divide(Strip(segments), cuts)
        assert [(s.text, list(s), s.cell_length) for s in ours] == [
            (s.text, list(s), s.cell_length) for s in textual
        ], cuts


def test_the_app_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Strip, "divide", strip_cycle._textual_divide)
    _app([proc(100, 300)])
    assert Strip.divide is strip_cycle._divide


async def test_drawn_lines_are_never_cyclic_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Strip, "divide", strip_cycle._textual_divide)  # the app installs it
    backend, app = _app([proc(100 + i, 300 + 40 * i) for i in range(16)])
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(3):
            await step(pilot, app)
        with collector_off():
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for _ in range(10):
                    backend.processes = [
                        dataclasses.replace(p, used_bytes=(p.used_bytes or 0) + (j + 1) * MIB)
                        for j, p in enumerate(backend.processes)
                    ]
                    await step(pilot, app)
                gc.collect()
            finally:
                gc.set_debug(0)
            strips = sum(isinstance(o, Strip) for o in gc.garbage)
            gc.garbage.clear()
        # Textual's own divide left some 23 strips a frame there.
        assert strips == 0
        await assert_same_as_full_redraw(pilot, app)
