"""ExitWatch with real child processes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from vramtop.pidwatch import ExitWatch

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open")


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@pytest.fixture
def watch() -> Iterator[ExitWatch]:
    w = ExitWatch()
    yield w
    w.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_reports_only_the_processes_that_exited(watch: ExitWatch) -> None:
    a, b = sleeper(), sleeper()
    try:
        assert watch.watch(a.pid) and watch.watch(b.pid)
        assert watch.exited() == []
        a.kill()
        a.wait()
        assert watch.exited() == [a.pid]
        assert a.pid not in watch and b.pid in watch
        assert watch.exited() == []  # said once, then no longer watched
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


def test_an_unreaped_exit_counts(watch: ExitWatch) -> None:
    p = sleeper()
    watch.watch(p.pid)
    p.kill()
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
    try:
        assert watch.exited() == [p.pid]
    finally:
        p.wait()


def test_watching_twice_holds_one_descriptor_and_unwatch_closes_it(watch: ExitWatch) -> None:
    p = sleeper()
    try:
        before = open_fds()
        assert watch.watch(p.pid) and watch.watch(p.pid)
        assert open_fds() == before + 1 and len(watch) == 1
        watch.unwatch(p.pid)
        watch.unwatch(p.pid)
        assert open_fds() == before and len(watch) == 0
    finally:
        p.kill()
        p.wait()


def test_a_pid_that_does_not_exist_is_not_watched(watch: ExitWatch) -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not watch.watch(p.pid)
    assert watch.available and len(watch) == 0


def test_the_descriptor_budget_is_kept() -> None:
    watch = ExitWatch(budget=1)
    a, b = sleeper(), sleeper()
    try:
        assert watch.watch(a.pid)
        assert not watch.watch(b.pid)
        assert watch.available
    finally:
        watch.close()
        for p in (a, b):
            p.kill()
            p.wait()


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EPERM])
def test_pidfds_refused_here_turn_the_watch_off(
    monkeypatch: pytest.MonkeyPatch, watch: ExitWatch, code: int
) -> None:
    p = sleeper()
    try:
        assert watch.watch(p.pid)

        def refused(pid: int, flags: int = 0) -> int:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "pidfd_open", refused)
        assert not watch.watch(os.getpid())
        assert not watch.available and len(watch) == 0  # what it held is closed
        assert watch.exited() == []
    finally:
        p.kill()
        p.wait()


def test_running_out_of_descriptors_skips_that_pid_only(
    monkeypatch: pytest.MonkeyPatch, watch: ExitWatch
) -> None:
    def exhausted(pid: int, flags: int = 0) -> int:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "pidfd_open", exhausted)
    assert not watch.watch(os.getpid())
    assert watch.available
