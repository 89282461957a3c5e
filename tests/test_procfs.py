from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtop.model import ProcessIdentity
from vramtop.procfs import ProcFS, parse_stat, process_start_unix

STAT_TAIL = " ".join(str(i) for i in range(4, 53))  # fields 4..52


def stat_line(pid: int, comm: str, starttime: int, ppid: int = 1) -> str:
    fields = STAT_TAIL.split()
    fields[0] = str(ppid)  # field 4
    fields[18] = str(starttime)  # field 22
    return f"{pid} ({comm}) S {' '.join(fields)}\n"


@pytest.mark.parametrize("comm", ["python3", "my prog", "a) b (c", "((", "))", ") S 1 2 3", ""])
def test_parse_stat_tricky_names(comm: str) -> None:
    st_ = parse_stat(stat_line(42, comm, 987654, ppid=7))
    assert st_.comm == comm
    assert st_.starttime == 987654
    assert st_.ppid == 7
    assert st_.state == "S"


@given(st.text(max_size=30), st.integers(0, 2**62), st.integers(1, 2**22))
def test_parse_stat_any_comm(comm: str, starttime: int, pid: int) -> None:
    comm = comm.replace("\n", "")
    assert parse_stat(stat_line(pid, comm, starttime)).starttime == starttime


@given(st.text())
def test_parse_stat_garbage_raises_valueerror_only(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_stat(text)


def test_identity_of_real_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        fs = ProcFS()
        ident = fs.identity(child.pid)
        assert ident is not None
        assert ident.pid == child.pid
        assert ident.starttime is not None and ident.starttime > 0
        assert fs.uid(child.pid) == os.getuid()
        assert fs.cmdline(child.pid)[1:] == ("-c", "import time; time.sleep(30)")
        started = process_start_unix(fs, ident.starttime)
        assert started is not None and abs(started - time.time()) < 60
    finally:
        child.kill()
        child.wait()
    assert ProcFS().identity(child.pid) is None or ProcFS().identity(child.pid) != ident


def test_identities_of_two_children_differ_by_starttime_or_pid() -> None:
    a = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    time.sleep(0.05)
    b = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        fs = ProcFS()
        ia, ib = fs.identity(a.pid), fs.identity(b.pid)
        assert ia is not None and ib is not None and ia != ib
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


def test_vanished_process_reads_are_empty() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    fs = ProcFS()
    assert fs.identity(child.pid) is None
    assert fs.cmdline(child.pid) == ()
    assert fs.fd_targets(child.pid) == []
    assert fs.environ(child.pid) == {}


def test_fixture_root(tmp_path: Path) -> None:
    pid_dir = tmp_path / "123"
    pid_dir.mkdir()
    (pid_dir / "stat").write_text(stat_line(123, "x y", 555))
    (pid_dir / "status").write_text("Name:\tx\nUid:\t1000\t1000\t1000\t1000\nNSpid:\t123\t7\n")
    (pid_dir / "cmdline").write_bytes(b"vllm\0serve\0model\0")
    fs = ProcFS(tmp_path)
    assert fs.identity(123) == ProcessIdentity(123, 555)
    assert fs.uid(123) == 1000
    assert fs.nspids(123) == (123, 7)
    assert fs.cmdline(123) == ("vllm", "serve", "model")
    assert fs.pids() == [123]
