"""`vramtop wrap -- CMD`: real child processes, real signals, a fake torch on PYTHONPATH."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vramtop.commands import wrap
from vramtop.enrichment.deep import DeepCollector
from vramtop.procfs import ProcFS

WRAP = [sys.executable, "-m", "vramtop", "wrap", "--"]

FAKE_CUDA = textwrap.dedent(
    """
    _initialized = False
    def init():
        global _initialized
        _initialized = True
    def is_initialized():
        return _initialized
    def device_count():
        return 1
    def memory_stats(device=None):
        return {"allocated_bytes.all.current": 123456789, "reserved_bytes.all.current": 234567890,
                "active_bytes.all.current": 123456789, "segment.all.current": 5,
                "allocation.all.current": 17}
    """
)

# Imports torch, initialises its (fake) CUDA, prints its PID, waits for stdin to close.
TORCH_JOB = (
    "import os, sys, torch; torch.cuda.init(); print(os.getpid(), flush=True); sys.stdin.read()"
)


@pytest.fixture
def fake_torch(tmp_path: Path) -> Path:
    root = tmp_path / "fake"
    (root / "torch").mkdir(parents=True)
    (root / "torch" / "__init__.py").write_text("from . import cuda\n")
    (root / "torch" / "cuda.py").write_text(FAKE_CUDA)
    return root


def with_pythonpath(*entries: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(e) for e in entries)
    return env


def runtime_dir() -> Path:
    return Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"


def readline(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    while not buf.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, "child did not answer"
        chunk = os.read(fd, 1)
        if not chunk:
            break
        buf += chunk
    return buf.decode().strip()


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        WRAP + cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env if env is not None else dict(os.environ),
    )


def test_exit_code_passes_through() -> None:
    done = subprocess.run([*WRAP, sys.executable, "-c", "import sys; sys.exit(5)"], timeout=60)
    assert done.returncode == 5


def test_cmd_replaces_vramtop_and_signals_reach_it() -> None:
    code = "import os, sys; print(os.getpid(), flush=True); sys.stdin.read()"
    proc = start([sys.executable, "-c", code])
    try:
        assert int(readline(proc)) == proc.pid  # exec: same process, no middleman
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


def test_sigint_reaches_the_programs_own_handler() -> None:
    code = textwrap.dedent(
        """
        import signal, sys
        def on_int(signum, frame):
            print("got", signum, flush=True)
            sys.exit(0)
        signal.signal(signal.SIGINT, on_int)
        print("ready", flush=True)
        signal.pause()
        """
    )
    proc = start([sys.executable, "-c", code])
    try:
        assert readline(proc) == "ready"
        proc.send_signal(signal.SIGINT)
        assert readline(proc) == f"got {int(signal.SIGINT)}"
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_non_python_command_runs_unchanged() -> None:
    done = subprocess.run(
        [*WRAP, "sh", "-c", 'echo "report=$VRAMTOP_REPORT"; exit 4'],
        capture_output=True, text=True, timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (4, "report=1\n", "")


def test_usage_errors_are_one_line_with_shell_exit_codes(tmp_path: Path) -> None:
    none = subprocess.run(WRAP[:-1], capture_output=True, text=True, timeout=60)
    assert none.returncode == 2
    assert none.stderr == "vramtop: wrap: no command given; usage: vramtop wrap -- CMD [ARGS...]\n"
    missing = subprocess.run([*WRAP, "no-such-command-xyz"], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 127
    assert missing.stderr == "vramtop: wrap: no-such-command-xyz: command not found\n"
    not_exec = tmp_path / "script"
    not_exec.write_text("#!/bin/sh\n")
    denied = subprocess.run([*WRAP, str(not_exec)], capture_output=True, text=True, timeout=60)
    assert denied.returncode == 126
    assert denied.stderr == f"vramtop: wrap: {not_exec}: Permission denied\n"


def test_reporter_starts_when_the_program_imports_torch(fake_torch: Path) -> None:
    proc = start([sys.executable, "-c", TORCH_JOB], env=with_pythonpath(fake_torch))
    try:
        pid = int(readline(proc))
        sock = runtime_dir() / f"{pid}.sock"
        assert sock.exists()
        stats = DeepCollector(timeout_s=5.0).stats_for(pid, ProcFS().starttime(pid))
        assert stats is not None
        assert (stats.framework, stats.cuda_device) == ("pytorch", 0)
        assert (stats.allocated_bytes, stats.reserved_bytes) == (123456789, 234567890)
        assert (stats.segments, stats.num_allocs) == (5, 17)
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert not sock.exists()
    finally:
        proc.kill()
        proc.wait()


def test_no_socket_for_programs_that_never_import_torch() -> None:
    done = subprocess.run(
        [*WRAP, sys.executable, "-c", "import json, os; print(os.environ['VRAMTOP_REPORT'])"],
        capture_output=True, text=True, timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "1\n")
    assert not runtime_dir().exists() or list(runtime_dir().iterdir()) == []


def test_users_own_sitecustomize_still_runs(tmp_path: Path, fake_torch: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    # (vramtop itself runs under the same PYTHONPATH: only the wrapped child prints.)
    (user / "sitecustomize.py").write_text(
        "import os\nif os.environ.get('VRAMTOP_REPORT'):\n"
        "    print('user sitecustomize ran', flush=True)\n"
    )
    code = "import sitecustomize; print(sitecustomize.__file__, flush=True); " + TORCH_JOB
    proc = start([sys.executable, "-c", code], env=with_pythonpath(user, fake_torch))
    try:
        assert readline(proc) == "user sitecustomize ran"
        assert readline(proc) == str(user / "sitecustomize.py")
        pid = int(readline(proc))
        assert (runtime_dir() / f"{pid}.sock").exists()  # and the hook still works
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_child_interpreter_without_vramtop_borrows_it(tmp_path: Path, fake_torch: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    check = subprocess.run([str(python), "-c", "import vramtop"], capture_output=True, timeout=60)
    if check.returncode == 0:
        pytest.skip("the venv sees this vramtop anyway")
    proc = start([str(python), "-c", TORCH_JOB], env=with_pythonpath(fake_torch))
    try:
        pid = int(readline(proc))
        stats = DeepCollector(timeout_s=5.0).stats_for(pid, ProcFS().starttime(pid))
        assert stats is not None and stats.reserved_bytes == 234567890
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_child_env() -> None:
    site = str(wrap.SITE_DIR)
    assert (wrap.SITE_DIR / "sitecustomize.py").is_file()
    env = wrap.child_env({"PATH": "/bin"})
    assert env["VRAMTOP_REPORT"] == "1"
    assert env["PYTHONPATH"] == site
    assert "VRAMTOP_DEBUG" not in env
    env = wrap.child_env({"PYTHONPATH": "/a:/b"}, debug=True)
    assert env["PYTHONPATH"] == f"{site}:/a:/b"
    assert env["VRAMTOP_DEBUG"] == "1"
    assert wrap.child_env(env)["PYTHONPATH"] == f"{site}:/a:/b"  # nested wrap: no duplicate
    assert (Path(env["VRAMTOP_PKG_DIR"]) / "vramtop" / "__init__.py").is_file()
