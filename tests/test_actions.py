"""Signalling by identity and the audit log, against real child processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vramtop import actions, paths
from vramtop.actions import AuditLog, Outcome
from vramtop.model import ProcessIdentity
from vramtop.procfs import ProcFS


def sleeper() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    return proc


def ident(proc: subprocess.Popen[bytes]) -> ProcessIdentity:
    i = ProcFS().identity(proc.pid)
    assert i is not None
    return i


def finish(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def entries(path: Path | None = None) -> list[dict[str, object]]:
    p = path or paths.audit_log()
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def test_sigterm_to_own_process_is_sent_and_audited() -> None:
    proc = sleeper()
    try:
        identity = ident(proc)
        result = actions.send_signal(identity, signal.SIGTERM, name="sleeper")
        assert result.sent and result.outcome is Outcome.SENT
        assert proc.wait(timeout=10) == -signal.SIGTERM
    finally:
        finish(proc)
    [e] = entries()
    assert e["pid"] == identity.pid and e["starttime"] == identity.starttime
    assert e["signal"] == "SIGTERM" and str(e["result"]).startswith("sent")
    assert e["name"] == "sleeper" and e["uid"] == os.getuid()
    assert (paths.audit_log().parent.stat().st_mode & 0o777) == 0o700


def test_wrong_starttime_is_refused_and_the_process_untouched() -> None:
    proc = sleeper()
    try:
        real = ident(proc)
        stale = ProcessIdentity(real.pid, (real.starttime or 1) - 1)
        result = actions.send_signal(stale, signal.SIGKILL)
        assert result.outcome is Outcome.REFUSED and "recycled" in result.message
        time.sleep(0.05)
        assert proc.poll() is None
    finally:
        finish(proc)
    assert str(entries()[0]["result"]).startswith("refused")


def test_exited_and_zombie_processes_are_gone() -> None:
    proc = sleeper()
    identity = ident(proc)
    proc.kill()
    deadline = time.monotonic() + 10
    while actions.is_running(identity):  # a zombie until reaped: not running
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert actions.verify(identity) == (Outcome.GONE, f"PID {identity.pid} has already exited")
    finish(proc)
    result = actions.send_signal(identity, signal.SIGTERM)
    assert result.outcome is Outcome.GONE
    assert str(entries()[-1]["result"]).startswith("gone")


@pytest.mark.parametrize(
    "identity",
    [ProcessIdentity(0, 1), ProcessIdentity(1, 1), ProcessIdentity(os.getpid(), 1)],
)
def test_never_signals_init_or_itself(identity: ProcessIdentity) -> None:
    result = actions.send_signal(identity, signal.SIGTERM)
    assert result.outcome in (Outcome.REFUSED, Outcome.GONE)
    assert not result.sent


def test_unknown_starttime_is_refused() -> None:
    proc = sleeper()
    try:
        result = actions.send_signal(ProcessIdentity(proc.pid, None), signal.SIGTERM)
        assert result.outcome is Outcome.REFUSED and "start time unknown" in result.message
        assert proc.poll() is None
    finally:
        finish(proc)


@pytest.mark.skipif(os.getuid() != 0, reason="starting a process as another user needs root")
def test_another_users_process_is_refused_even_for_root() -> None:
    sleep = shutil.which("sleep")
    if sleep is None:
        pytest.skip("no sleep binary")
    proc = subprocess.Popen([sleep, "120"], user=65534, group=65534)
    try:
        deadline = time.monotonic() + 10
        while ProcFS().uid(proc.pid) != 65534 or ProcFS().comm(proc.pid) != "sleep":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        result = actions.send_signal(ident(proc), signal.SIGTERM)  # type: ignore[arg-type]
        assert result.outcome is Outcome.REFUSED and "only signals your own" in result.message
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _fake_proc(root: Path, pid: int, starttime: int, uid: int, state: str = "S") -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    fields = [state, "1"] + ["0"] * 17 + [str(starttime)] + ["0"] * 10
    (d / "stat").write_text(f"{pid} (x y) " + " ".join(fields) + "\n")
    (d / "status").write_text(f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    (root / "stat").write_text("cpu 0\nbtime 1000\n")


def test_verify_reads_identity_from_an_injected_proc_tree(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 4242, 500, os.getuid())
    _fake_proc(tmp_path, 4343, 500, os.getuid() + 1)
    _fake_proc(tmp_path, 4444, 500, os.getuid(), state="Z")
    fs = ProcFS(tmp_path)
    assert actions.verify(ProcessIdentity(4242, 500), fs) is None
    assert actions.verify(ProcessIdentity(4242, 499), fs)[0] is Outcome.REFUSED  # type: ignore[index]
    assert actions.verify(ProcessIdentity(4343, 500), fs)[0] is Outcome.REFUSED  # type: ignore[index]
    assert actions.verify(ProcessIdentity(4444, 500), fs)[0] is Outcome.GONE  # type: ignore[index]
    assert actions.verify(ProcessIdentity(4545, 500), fs)[0] is Outcome.GONE  # type: ignore[index]
    assert actions.is_running(ProcessIdentity(4242, 500), fs)
    assert not actions.is_running(ProcessIdentity(4444, 500), fs)
    ticks = os.sysconf("SC_CLK_TCK")
    age = actions.process_age_s(ProcessIdentity(4242, 500), fs, now=1000 + 500 / ticks + 42)
    assert age == pytest.approx(42)


def test_audit_failure_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = AuditLog(blocker / "audit.log")
    result = actions.refuse(ProcessIdentity(5, 5), signal.SIGTERM, "test", audit=log)
    assert result.outcome is Outcome.REFUSED
    assert log.record(ProcessIdentity(5, 5), "SIGTERM", "x") is not None


def test_audit_log_lines_are_json_and_the_file_private(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "sub" / "audit.log")
    assert log.record(ProcessIdentity(7, 70), "SIGKILL", "sent: ok", name="a\nb\x1b[31m") is None
    assert log.record(ProcessIdentity(8, 80), "SIGTERM", "refused: no") is None
    lines = entries(log.path)
    assert [e["pid"] for e in lines] == [7, 8]
    assert lines[0]["name"] == "ab"  # sanitized: no newline, no escape
    assert (log.path.stat().st_mode & 0o777) == 0o600
    assert ((tmp_path / "sub").stat().st_mode & 0o777) == 0o700
