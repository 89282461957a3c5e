"""Snapshots (pytest-textual-snapshot) of every layout and the detail screen.

The frame is the demo recording (loss_history_leak) at 60 s, computed by the
real engine and then frozen, so the app's own ticks cannot move the picture
and nothing depends on the wall clock. When the analysis changes what a
frame says, review and regenerate:
    python -m pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from vramtop.ui.app import VramtopApp, create_app
from vramtop.ui.screens.detail import DetailScreen

from .helpers import FrozenMonitor, holder, wait_for

AT_S = 60.0


@pytest.fixture(autouse=True)
def _colour_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)


def app(decorate: bool = False) -> VramtopApp:
    return create_app(FrozenMonitor(at_s=AT_S, decorate=decorate), holder())


async def first_frame(pilot: Pilot[object]) -> None:
    assert isinstance(pilot.app, VramtopApp)
    a = pilot.app
    await wait_for(pilot, lambda: a.frame is not None)
    await pilot.pause()


async def open_detail(pilot: Pilot[object]) -> None:
    await first_frame(pilot)
    assert isinstance(pilot.app, VramtopApp)
    a = pilot.app
    await pilot.press("down", "d")
    await wait_for(
        pilot, lambda: isinstance(a.screen, DetailScreen) and a.screen.series is not None
    )
    await pilot.pause()


Snap = Callable[..., bool]


def test_full_120x30(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=(120, 30), run_before=first_frame)


def test_full_with_alert_and_verdicts_120x30(snap_compare: Snap) -> None:
    assert snap_compare(app(decorate=True), terminal_size=(120, 30), run_before=first_frame)


def test_compact_80x24(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=(80, 24), run_before=first_frame)


def test_mini_50x12(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=(50, 12), run_before=first_frame)


def test_too_small_30x8(snap_compare: Snap) -> None:
    assert snap_compare(app(), terminal_size=(30, 8), run_before=first_frame)


def test_detail_120x40(snap_compare: Snap) -> None:
    run: Callable[[Pilot[object]], Awaitable[None]] = open_detail
    assert snap_compare(app(), terminal_size=(120, 40), run_before=run)
