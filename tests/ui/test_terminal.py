"""The TUI and its terminal: it refuses to start without one, and leaves when it hangs up
(a closed window or a dropped ssh session) instead of running, and spinning, forever."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from argparse import Namespace
from pathlib import Path

import pytest

from vramtop.config import Config
from vramtop.ui.app import HANGUP_EXIT, NoTerminalError, run_tui

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


def test_the_tui_leaves_when_its_terminal_hangs_up() -> None:
    env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(SRC))
    pid, fd = pty.fork()
    if pid == 0:  # the child: vramtop on the pty, replaying a recording
        os.execvpe(sys.executable, [sys.executable, "-m", "vramtop", "replay", str(DEMO)], env)
    try:
        read_until(fd, b"GPU 0")
    finally:
        os.close(fd)  # the terminal goes away
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("vramtop kept running after its terminal hung up")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == HANGUP_EXIT
