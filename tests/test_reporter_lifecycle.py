"""The in-process reporter, exercised in real child Python processes over real sockets."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from vramtop.enrichment.deep import DeepCollector, read_socket
from vramtop.procfs import ProcFS
from vramtop.reporter import protocol

# A child that reports, then obeys one-word commands on stdin.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, threading
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "handler-exit":
        def on_term(signum, frame):
            print("handled", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, on_term)
    if mode == "handler-continue":
        def on_term(signum, frame):
            print("handled", flush=True)
        signal.signal(signal.SIGTERM, on_term)
    if mode == "sigpipe-default":
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    import vramtop
    if mode == "thread":
        box = []
        t = threading.Thread(target=lambda: box.append(vramtop.report()))
        t.start(); t.join()
        path = box[0]
    else:
        path = vramtop.report()
    assert vramtop.report() == path, "report() must be idempotent"
    print("ready", path, flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "exit":
            break
        elif cmd == "init":
            import torch
            torch.cuda.init()
            print("ok", flush=True)
        elif cmd == "fail":
            import torch
            torch.cuda.FAIL = True
            print("ok", flush=True)
        elif cmd == "modules":
            heavy = sorted(m for m in sys.modules
                           if m.split(".")[0] in {"torch", "textual", "pydantic", "psutil"})
            print("modules", ",".join(heavy) or "-", flush=True)
        elif cmd == "fork":
            pid = os.fork()
            if pid == 0:
                sys.exit(0)  # runs the inherited atexit hooks in the child
            os.waitpid(pid, 0)
            print("forked", os.path.exists(path), flush=True)
        elif cmd == "alive":
            print("alive", flush=True)
    print("bye", flush=True)
    """
)

FAKE_TORCH_CUDA = textwrap.dedent(
    """
    _initialized = False
    FAIL = False
    STATS = {
        0: {"allocated_bytes.all.current": 1000, "reserved_bytes.all.current": 2048},
        1: {
            "allocated_bytes.all.current": 3 * 2**30 + 5,
            "allocated_bytes.all.peak": 5 * 2**30,
            "reserved_bytes.all.current": 4 * 2**30,
            "reserved_bytes.all.peak": 6 * 2**30,
            "active_bytes.all.current": 3 * 2**30 + 512,
            "active_bytes.all.peak": 5 * 2**30 + 512,
            "inactive_split_bytes.all.current": 777,
            "allocation.all.current": 42,
            "segment.all.current": 9,
            "num_ooms": 1,
            "num_alloc_retries": 3,
        },
    }

    def init():
        global _initialized
        _initialized = True

    def is_initialized():
        return _initialized

    def device_count():
        return len(STATS)

    def memory_stats(device=None):
        if FAIL:
            raise RuntimeError("allocator exploded")
        return dict(STATS[device])
    """
)


def write_fake_torch(root: Path) -> Path:
    pkg = root / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import cuda\n")
    (pkg / "cuda.py").write_text(FAKE_TORCH_CUDA)
    return root


class Child:
    """A reporting child process with line-oriented stdin/stdout."""

    def __init__(self, mode: str = "", *, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else dict(os.environ),
        )
        self._buf = b""
        first = self.readline()
        assert first.startswith("ready "), first + self.stderr_now()
        self.path = Path(first.split(" ", 1)[1])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_now(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode()

    def readline(self, timeout: float = 20.0) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise AssertionError("child did not answer")
            chunk = os.read(fd, 4096)
            if not chunk:
                return self._buf.decode()
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def send(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        self.proc.stdin.flush()

    def ask(self, cmd: str) -> str:
        self.send(cmd)
        return self.readline()

    def finish(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        rc = self.proc.wait(timeout=20)
        assert self.proc.stderr is not None
        return rc, self.proc.stderr.read().decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    for child in made:
        child.kill()


def spawn(children: list[Child], mode: str = "", *, env: dict[str, str] | None = None) -> Child:
    child = Child(mode, env=env)
    children.append(child)
    return child


def fake_torch_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    root = write_fake_torch(tmp_path / "fake")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    return env


def read_lines(path: Path, n: int, sock: socket.socket | None = None) -> list[bytes]:
    own = sock is None
    s = sock or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if own:
        s.settimeout(10)
        s.connect(str(path))
    buf = b""
    while buf.count(b"\n") < n:
        chunk = s.recv(65536)
        assert chunk, "reporter closed the connection"
        buf += chunk
    if own:
        s.close()
    return buf.split(b"\n")[:n]


def this_runtime_dir() -> Path:
    """This test's runtime directory only (the default also scans the shared temp fallback)."""
    return Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"


def starttime(pid: int) -> int | None:
    return ProcFS().starttime(pid)


# ---------------------------------------------------------------- tests


def test_serves_several_readers_then_cleans_up_at_exit(children: list[Child]) -> None:
    child = spawn(children)
    runtime = Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"
    assert child.path == runtime / f"{child.pid}.sock"
    assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o700
    st = os.lstat(child.path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert [p.name for p in runtime.iterdir()] == [child.path.name]  # no temp file left

    readers = []
    for _ in range(5):  # all connected at once, before any is read
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(child.path))
        readers.append(s)
    for s in readers:
        hs_line, mem_line = read_lines(child.path, 2, s)
        hs = protocol.parse_handshake(hs_line)
        assert (hs.pid, hs.framework, hs.cuda_device) == (child.pid, "none", None)
        mem = protocol.parse_memory(mem_line)
        assert mem.allocated_bytes == mem.reserved_bytes == mem.num_allocs == 0
    # One fresh message per request line, several requests in one write included.
    readers[0].sendall(b"\n\n\n")
    more = read_lines(child.path, 3, readers[0])
    assert all(protocol.parse_memory(m).reserved_bytes == 0 for m in more)
    for s in readers:
        s.close()

    rc, err = child.finish()
    assert rc == 0 and err == ""
    assert not child.path.exists()


def test_fake_torch_statistics_reach_the_collector(children: list[Child], tmp_path: Path) -> None:
    child = spawn(children, env=fake_torch_env(tmp_path))
    collector = DeepCollector(refresh_s=0.0, timeout_s=5.0)
    ident = starttime(child.pid)
    # torch not imported, CUDA not initialised: the reporter answers "none", no data.
    assert collector.stats_for(child.pid, ident) is None
    assert child.ask("modules") == "modules -"
    assert child.ask("init") == "ok"
    stats = collector.stats_for(child.pid, ident)
    assert stats is not None
    assert stats.framework == "pytorch"
    assert stats.cuda_device == 1  # the device holding the most reserved memory
    assert stats.allocated_bytes == 3 * 2**30 + 5
    assert stats.reserved_bytes == 4 * 2**30
    assert stats.active_bytes == 3 * 2**30 + 512
    assert stats.allocated_peak_bytes == 5 * 2**30
    assert stats.reserved_peak_bytes == 6 * 2**30
    assert stats.active_peak_bytes == 5 * 2**30 + 512
    assert stats.inactive_split_bytes == 777
    assert (stats.num_allocs, stats.segments, stats.num_ooms, stats.num_alloc_retries) == (
        42, 9, 1, 3,
    )
    assert stats.fragmentation_bytes == 4 * 2**30 - (3 * 2**30 + 5)
    # A different start time is a different process: nothing attached.
    assert collector.stats_for(child.pid, (ident or 0) + 1) is None
    rc, _ = child.finish()
    assert rc == 0 and not child.path.exists()


def test_reporter_never_imports_torch_or_heavy_modules(
    children: list[Child], tmp_path: Path
) -> None:
    child = spawn(children, env=fake_torch_env(tmp_path))
    read_lines(child.path, 2)
    assert child.ask("modules") == "modules -"
    child.finish()


def test_import_vramtop_loads_nothing_heavy() -> None:
    code = (
        "import sys, vramtop; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch','textual','pydantic','psutil','pynvml'} or m.startswith('vramtop.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_crash_in_torch_never_reaches_the_host(children: list[Child], tmp_path: Path) -> None:
    child = spawn(children, env=fake_torch_env(tmp_path))
    assert child.ask("init") == "ok"
    assert child.ask("fail") == "ok"
    hs = protocol.parse_handshake(read_lines(child.path, 2)[0])
    assert hs.framework == "none"  # answered with zeros, still serving
    assert child.ask("alive") == "alive"
    rc, err = child.finish()
    assert (rc, err) == (0, "")


def test_debug_output_only_with_vramtop_debug(children: list[Child]) -> None:
    env = dict(os.environ, VRAMTOP_DEBUG="1")
    child = spawn(children, env=env)
    rc, err = child.finish()
    assert rc == 0 and "vramtop reporter: serving" in err


def test_sigterm_default_cleans_up_and_dies_by_the_signal(children: list[Child]) -> None:
    child = spawn(children)
    child.proc.send_signal(signal.SIGTERM)
    rc, _ = child.finish()
    assert rc == -signal.SIGTERM
    assert not child.path.exists()


def test_sigterm_chains_the_programs_handler(children: list[Child]) -> None:
    child = spawn(children, "handler-exit")
    child.proc.send_signal(signal.SIGTERM)
    assert child.readline() == "handled"
    rc, _ = child.finish()
    assert rc == 7
    assert not child.path.exists()


def test_sigterm_handler_that_continues_keeps_reporting(children: list[Child]) -> None:
    child = spawn(children, "handler-continue")
    child.proc.send_signal(signal.SIGTERM)
    assert child.readline() == "handled"
    assert child.ask("alive") == "alive"
    assert protocol.parse_handshake(read_lines(child.path, 2)[0]).pid == child.pid
    rc, _ = child.finish()
    assert rc == 0 and not child.path.exists()


def test_sigkill_leaves_a_stale_socket_that_discovery_removes(children: list[Child]) -> None:
    child = spawn(children)
    child.proc.kill()
    child.proc.wait(timeout=20)
    assert child.path.exists()
    collector = DeepCollector()
    assert collector.stats_for(child.pid, None) is None
    assert not child.path.exists()

    again = spawn(children)
    again.proc.kill()
    again.proc.wait(timeout=20)
    assert DeepCollector(this_runtime_dir()).scan() == {}
    assert not again.path.exists()


def test_scan_finds_live_reporters(children: list[Child]) -> None:
    a, b = spawn(children), spawn(children)
    assert DeepCollector(this_runtime_dir()).scan() == {a.pid: a.path, b.pid: b.path}
    a.finish()
    b.finish()
    assert DeepCollector(this_runtime_dir()).scan() == {}


def test_forked_child_does_not_remove_the_parents_socket(children: list[Child]) -> None:
    child = spawn(children)
    assert child.ask("fork") == "forked True"
    assert read_lines(child.path, 1)
    rc, _ = child.finish()
    assert rc == 0 and not child.path.exists()


def test_reader_leaving_early_never_kills_a_host_with_default_sigpipe(
    children: list[Child],
) -> None:
    child = spawn(children, "sigpipe-default")
    for _ in range(30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(child.path))
        s.sendall(b"\n" * 50)
        s.close()
    assert child.ask("alive") == "alive"
    rc, err = child.finish()
    assert (rc, err) == (0, "")


def test_report_from_a_worker_thread(children: list[Child]) -> None:
    child = spawn(children, "thread")
    reading = read_socket(child.path, expected_pid=child.pid, timeout_s=5.0)
    assert reading.handshake.pid == child.pid
    rc, _ = child.finish()
    assert rc == 0 and not child.path.exists()


def test_existing_loose_directory_is_tightened(children: list[Child]) -> None:
    runtime = Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"
    runtime.mkdir(mode=0o755)
    runtime.chmod(0o755)
    child = spawn(children)
    assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o700
    child.finish()


def test_fallback_directory_without_xdg_runtime_dir(
    children: list[Child], tmp_path: Path
) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    del env["XDG_RUNTIME_DIR"]
    child = spawn(children, env=env)
    expected = tmp_path / f"vramtop-{os.getuid()}"
    assert child.path == expected / f"{child.pid}.sock"
    assert stat.S_IMODE(os.stat(expected).st_mode) == 0o700
    child.finish()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown the directory to another user")
def test_refuses_a_directory_owned_by_someone_else(tmp_path: Path) -> None:
    runtime = Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"
    runtime.mkdir(mode=0o700)
    os.chown(runtime, 65534, 65534)
    code = "import vramtop, sys; print(vramtop.report()); sys.stdout.flush()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "None", "")
    assert list(runtime.iterdir()) == []
