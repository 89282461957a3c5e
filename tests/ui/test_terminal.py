"""The TUI and its terminal: it refuses to start without one, and leaves when it hangs up
(a closed window or a dropped ssh session) instead of running, and spinning, forever."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import sys
import time
from argparse import Namespace
from pathlib import Path

import pytest

from vramtop.config import Config
from vramtop.ui.app import HANGUP_EXIT, NoTerminalError, create_app, run_tui

from .helpers import DEMO, holder, replay_monitor

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_tui_refuses_to_start_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    monitor = replay_monitor()
    with pytest.raises(NoTerminalError) as err:
        run_tui(monitor, holder(Config()), Namespace())
    assert "--once" in err.value.user_message()


def read_until(fd: int, marker: bytes, timeout: float = 30.0) -> None:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, "the TUI never drew its first frame"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            seen = seen[-4096:] + os.read(fd, 65536)


def drain(fd: int, seconds: float) -> None:
    """Read (and drop) what the TUI draws for `seconds`."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0]:
            os.read(fd, 65536)


def exit_code(pid: int, fd: int | None, failure: str) -> int:
    """The child's exit code once it ends (reading what it draws on `fd`, if open),
    or kill it and fail with `failure` after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(failure)
        if fd is None:
            time.sleep(0.05)
        else:
            with contextlib.suppress(OSError):
                drain(fd, 0.05)


def start_replay_tui() -> tuple[int, int]:
    """vramtop replaying a recording on a new pty: the child's pid and the pty's fd."""
    env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(SRC))
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execvpe(sys.executable, [sys.executable, "-m", "vramtop", "replay", str(DEMO)], env)
    return pid, fd


def open_help(fd: int) -> None:
    os.write(fd, b"?")
    read_until(fd, b"vramtop keys")


def press_escape(fd: int) -> None:
    os.write(fd, b"\x1b")
    drain(fd, 1.0)  # longer than the parser's escape delay


def quit_with_q(pid: int, fd: int, failure: str) -> int:
    os.write(fd, b"q")
    return exit_code(pid, fd, failure)


def test_the_tui_leaves_when_its_terminal_hangs_up() -> None:
    pid, fd = start_replay_tui()
    try:
        read_until(fd, b"GPU 0")
    finally:
        os.close(fd)  # the terminal goes away
    assert exit_code(pid, None, "vramtop kept running after its terminal hung up") == HANGUP_EXIT


def test_keys_reach_the_tui_through_its_input_thread_and_q_quits() -> None:
    """The input thread sleeps until a key arrives (no 10 Hz poll): a lone Esc still
    closes the help screen once the parser's escape delay ends, and q ends the app
    (its stop wakes the sleeping thread, or quitting would hang)."""
    pid, fd = start_replay_tui()
    try:
        read_until(fd, b"GPU 0")
        open_help(fd)
        # A lone Esc: only the parser's deadline tells it from the start of a sequence. Had
        # it stayed pending, the next ? would read as Alt+? and the help would stay shut.
        press_escape(fd)
        open_help(fd)
        press_escape(fd)
        assert quit_with_q(pid, fd, "vramtop did not quit on q") == 0
    finally:
        os.close(fd)


def test_the_tui_takes_keys_again_after_a_suspend_and_resume() -> None:
    """Ctrl+Z stops application mode and closes the driver, and `fg` (SIGCONT) starts it
    again: the new input thread must get a wake-up pipe of its own."""
    pid, fd = start_replay_tui()
    try:
        read_until(fd, b"GPU 0")
        os.kill(pid, signal.SIGTSTP)
        drain(fd, 1.0)
        os.kill(pid, signal.SIGCONT)
        drain(fd, 1.0)
        open_help(fd)
        press_escape(fd)
        assert quit_with_q(pid, fd, "vramtop did not quit on q after a resume") == 0
    finally:
        os.close(fd)


def test_the_quiet_input_thread_sleeps_until_input_or_the_parsers_deadline() -> None:
    from textual._xterm_parser import XTermParser

    from vramtop.ui.driver import QuietLinuxDriver

    parser = XTermParser()
    assert QuietLinuxDriver._wait_s(parser) is None  # nothing pending: block until input
    list(parser.feed("\x1b"))  # a lone Esc, or the start of a sequence?
    wait = QuietLinuxDriver._wait_s(parser)
    assert wait is not None and 0 <= wait <= 0.5
    list(parser.feed("[A"))  # it was an arrow key
    assert QuietLinuxDriver._wait_s(parser) is None


def test_vramtop_uses_the_quiet_driver_where_textual_would_use_its_linux_driver() -> None:
    from textual.drivers.linux_driver import LinuxDriver

    from vramtop.ui.driver import QuietLinuxDriver

    app = create_app(replay_monitor(), holder(Config()))
    assert app.driver_class is QuietLinuxDriver
    assert issubclass(QuietLinuxDriver, LinuxDriver)
