"""The kill flow against real child processes of the test.

Each child is listed by a live-looking backend with its real PID, start time
and UID; the dialog is driven with keys; the audit log is read back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from vramtop import paths
from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.procfs import ProcFS
from vramtop.ui.app import VramtopApp, create_app
from vramtop.ui.screens.kill import KillScreen, Stage
from vramtop.ui.screens.main import MainScreen

from .helpers import (
    SLEEPER,
    TERM_IGNORER,
    ChildBackend,
    Notes,
    gpu_process,
    holder,
    spawn,
    stop,
    wait_for,
)

NS_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")
NOBODY = 65534


def spawn_as_nobody() -> subprocess.Popen[str]:
    """`sleep` running as uid 65534, returned once it has exec'd."""
    sleep = shutil.which("sleep")
    if sleep is None:
        pytest.skip("no sleep binary")
    proc = subprocess.Popen([sleep, "120"], user=NOBODY, group=NOBODY, text=True)
    deadline = time.monotonic() + 10
    while ProcFS().comm(proc.pid) != "sleep" or ProcFS().uid(proc.pid) != NOBODY:
        assert time.monotonic() < deadline, "child did not start"
        time.sleep(0.01)
    return proc


def audit_lines() -> list[dict[str, object]]:
    path = paths.audit_log()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def app_for(backend: ChildBackend, *, grace_s: float = 1.0, **kwargs: object) -> VramtopApp:
    monitor = Monitor(backend, Config(), hostname="h")
    monitor.open()
    app = create_app(monitor, holder(), **kwargs)  # type: ignore[arg-type]
    app.kill_grace_s = grace_s
    return app


async def open_dialog(app: VramtopApp, pilot: object) -> KillScreen:
    await wait_for(pilot, lambda: app.frame is not None and app.main.selected_view is not None)  # type: ignore[arg-type]
    await pilot.press("k")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: isinstance(app.screen, KillScreen))  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, KillScreen)
    return screen


async def test_sigterm_honoured() -> None:
    child = spawn(SLEEPER)
    try:
        proc = gpu_process(child, uid=os.getuid())
        app = app_for(ChildBackend([proc]))
        notes = Notes(app)
        async with app.run_test(size=(120, 30)) as pilot:
            dialog = await open_dialog(app, pilot)
            await wait_for(pilot, lambda: dialog.age_s is not None)
            from .helpers import screen_text

            text = screen_text(app)
            assert f"PID      {child.pid}" in text and "sleeper" in text and "2.0 GiB" in text
            assert "ago" in text
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
            await wait_for(pilot, lambda: notes.has("exited after SIGTERM"))
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        stop(child)
    [entry] = audit_lines()
    assert entry["pid"] == proc.pid and entry["starttime"] == proc.starttime
    assert entry["signal"] == "SIGTERM" and str(entry["result"]).startswith("sent")
    assert entry["uid"] == os.getuid() and entry["user"] and entry["time"]
    assert oct(paths.audit_log().parent.stat().st_mode & 0o777) == oct(0o700)
    assert oct(paths.audit_log().stat().st_mode & 0o777) == oct(0o600)


async def test_sigterm_ignored_then_sigkill_offered_and_sent() -> None:
    child = spawn(TERM_IGNORER)
    try:
        proc = gpu_process(child, uid=os.getuid())
        app = app_for(ChildBackend([proc]), grace_s=0.5)
        notes = Notes(app)
        async with app.run_test(size=(120, 30)) as pilot:
            dialog = await open_dialog(app, pilot)
            await pilot.press("y")
            await wait_for(pilot, lambda: dialog.stage is Stage.CONFIRM_KILL)
            assert child.poll() is None  # SIGTERM was ignored
            from .helpers import screen_text

            assert "Send SIGKILL?" in screen_text(app)
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
            await wait_for(pilot, lambda: notes.has("exited after SIGKILL"))
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(child)
    entries = audit_lines()
    assert [e["signal"] for e in entries] == ["SIGTERM", "SIGKILL"]
    assert all(str(e["result"]).startswith("sent") for e in entries)
    assert {e["pid"] for e in entries} == {proc.pid}


async def test_sigkill_can_be_declined() -> None:
    child = spawn(TERM_IGNORER)
    try:
        app = app_for(ChildBackend([gpu_process(child, uid=os.getuid())]), grace_s=0.3)
        async with app.run_test(size=(120, 30)) as pilot:
            dialog = await open_dialog(app, pilot)
            await pilot.press("y")
            await wait_for(pilot, lambda: dialog.stage is Stage.CONFIRM_KILL)
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert child.poll() is None
    finally:
        stop(child)
    assert [e["signal"] for e in audit_lines()] == ["SIGTERM", "SIGKILL"]
    assert audit_lines()[-1]["result"] == "declined by user"


async def test_cancel_sends_nothing() -> None:
    child = spawn(SLEEPER)
    try:
        app = app_for(ChildBackend([gpu_process(child, uid=os.getuid())]))
        async with app.run_test(size=(120, 30)) as pilot:
            await open_dialog(app, pilot)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        time.sleep(0.1)
        assert child.poll() is None
    finally:
        stop(child)
    assert audit_lines() == []


async def test_stale_identity_is_refused_and_nothing_signalled() -> None:
    """The row's identity (PID + start time) no longer matches the process now
    holding that PID: what a recycled PID looks like. Nothing may be sent."""
    child = spawn(SLEEPER)
    try:
        real = gpu_process(child, uid=os.getuid())
        stale = gpu_process(child, uid=os.getuid(), starttime=(real.starttime or 1) - 1)
        app = app_for(ChildBackend([stale]))
        async with app.run_test(size=(120, 30)) as pilot:
            dialog = await open_dialog(app, pilot)
            await pilot.press("y")
            await wait_for(pilot, lambda: dialog.stage is Stage.DONE)
            from .helpers import screen_text

            assert "different process (PID recycled)" in screen_text(app)
            await pilot.press("escape")
        time.sleep(0.1)
        assert child.poll() is None
    finally:
        stop(child)
    [entry] = audit_lines()
    assert entry["starttime"] == stale.starttime
    assert str(entry["result"]).startswith("refused")


def _spawn_at_pid(pid: int, attempts: int = 200) -> subprocess.Popen[str] | None:
    """Start a sleeper that gets exactly `pid` (needs a writable ns_last_pid)."""
    for _ in range(attempts):
        try:
            NS_LAST_PID.write_text(str(pid - 1))
        except OSError:
            return None
        proc = spawn(SLEEPER)
        if proc.pid == pid:
            return proc
        stop(proc)
    return None


@pytest.mark.skipif(not os.access(NS_LAST_PID, os.W_OK), reason="needs a writable ns_last_pid")
async def test_pid_recycled_between_dialog_and_signal_is_refused() -> None:
    """A real recycle: the dialog opens for one process, which exits; a new process
    gets the same PID before the user confirms. The new one must not be signalled."""
    victim = spawn(SLEEPER)
    heir: subprocess.Popen[str] | None = None
    try:
        row = gpu_process(victim, uid=os.getuid())
        app = app_for(ChildBackend([row]))
        async with app.run_test(size=(120, 30)) as pilot:
            dialog = await open_dialog(app, pilot)
            stop(victim)
            time.sleep(0.05)  # a later clock tick, so the start time differs
            heir = _spawn_at_pid(row.pid)
            if heir is None:
                pytest.skip("could not obtain the same PID again")
            assert ProcFS().starttime(heir.pid) != row.starttime
            await pilot.press("y")
            await wait_for(pilot, lambda: dialog.stage is Stage.DONE)
            await pilot.press("escape")
        time.sleep(0.1)
        assert heir.poll() is None
    finally:
        stop(victim)
        if heir is not None:
            stop(heir)
    [entry] = audit_lines()
    assert entry["pid"] == row.pid and entry["starttime"] == row.starttime
    assert "recycled" in str(entry["result"])


@pytest.mark.skipif(os.getuid() != 0, reason="starting a process as another user needs root")
async def test_another_users_process_is_refused_without_a_dialog() -> None:
    child = spawn_as_nobody()
    try:
        cfg = Config().with_overrides(display={"show_other_users": True})
        backend = ChildBackend([gpu_process(child, uid=NOBODY, name="theirs")])
        monitor = Monitor(backend, cfg, hostname="h")
        monitor.open()
        app = create_app(monitor, holder(cfg))
        notes = Notes(app)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.main.selected_view is not None)
            await pilot.press("k")
            await wait_for(pilot, lambda: notes.has("Refused"))
            assert isinstance(app.screen, MainScreen)
            assert notes.has("only signals your own processes")
            await app.workers.wait_for_complete()
        assert child.poll() is None
    finally:
        stop(child)
    [entry] = audit_lines()
    assert entry["pid"] == child.pid and str(entry["result"]).startswith("refused")


async def test_kill_disabled_by_flag_never_opens_the_dialog() -> None:
    child = spawn(SLEEPER)
    try:
        app = app_for(ChildBackend([gpu_process(child, uid=os.getuid())]), no_kill=True)
        notes = Notes(app)
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.main.selected_view is not None)
            await pilot.press("k")
            await wait_for(pilot, lambda: notes.has("kill disabled"))
            assert isinstance(app.screen, MainScreen)
        assert child.poll() is None
    finally:
        stop(child)
