"""ProcessEnricher against real child processes and fixture /proc trees: what is
read, what is never read, caching per identity, isolation, PID namespaces."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from vramtop import security
from vramtop.enrichment import EnrichmentSettings, ProcessEnricher
from vramtop.enrichment import container as container_mod
from vramtop.enrichment import framework as fw
from vramtop.enrichment import orchestrator as orch
from vramtop.model import GPUProcess, ProcessIdentity, ProcessInfo, ServerMetrics
from vramtop.procfs import ProcFS

PROC_FIXTURES = Path(__file__).parent / "fixtures" / "proc"
HOST = PROC_FIXTURES / "host"
CONTAINER_NS = PROC_FIXTURES / "container_ns"

WAIT = "import sys\nprint('ready', flush=True)\nsys.stdin.read()\n"

Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start a child that prints 'ready' and lives until its stdin closes."""
    procs: list[subprocess.Popen[str]] = []

    def start(argv: Sequence[str], **kw: Any) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **kw
        )
        procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        assert line == "ready", f"child said {line!r}"
        return p

    yield start
    for p in procs:
        if p.stdin:
            p.stdin.close()
        p.kill()
        p.wait()


def gpu_proc(pid: int, used: int = 1 << 30, **kw: Any) -> GPUProcess:
    return GPUProcess(pid, ProcFS().starttime(pid), used, **kw)


def enricher(tmp_path: Path, **kw: Any) -> ProcessEnricher:
    settings = kw.pop("settings", EnrichmentSettings(host_proc="none"))
    return ProcessEnricher(settings, fs_root=tmp_path, env={}, **kw)


def one(e: ProcessEnricher, p: GPUProcess, now: float = 0.0) -> ProcessInfo:
    return e.enrich([p], now)[p.identity]


# --- real children ----------------------------------------------------------------------


def test_vllm_serve_console_script(tmp_path: Path, spawn: Spawn) -> None:
    script = tmp_path / "vllm"
    script.write_text(f"#!{sys.executable}\n{WAIT}")
    script.chmod(0o755)
    p = spawn([str(script), "serve", "meta-llama/Llama-3.1-8B", "--port", "8000"])
    cmdline = ProcFS().cmdline(p.pid)
    assert os.path.basename(cmdline[1]) == "vllm" and cmdline[2] == "serve"  # the real /proc
    info = one(enricher(tmp_path), gpu_proc(p.pid))
    assert info.readable
    assert info.framework == fw.VLLM
    assert info.launcher == "vllm serve"
    assert info.cmdline[2:4] == ("serve", "meta-llama/Llama-3.1-8B")
    assert info.uid == os.getuid()
    assert info.user
    assert info.nspid and info.nspid[0] == p.pid


def test_python_m_vllm_entrypoint_and_its_worker(tmp_path: Path, spawn: Spawn) -> None:
    pkg = tmp_path / "vllm" / "entrypoints" / "openai"
    pkg.mkdir(parents=True)
    for d in (tmp_path / "vllm", tmp_path / "vllm" / "entrypoints", pkg):
        (d / "__init__.py").write_text("")
    # The API server starts a worker the way vLLM does (a plain python child).
    (pkg / "api_server.py").write_text(
        textwrap.dedent(
            f"""
            import subprocess, sys
            w = subprocess.Popen([{sys.executable!r}, "-c", {WAIT!r}], stdout=subprocess.PIPE,
                                 stdin=subprocess.PIPE, text=True)
            assert w.stdout.readline().strip() == "ready"
            print("ready", w.pid, flush=True)
            sys.stdin.read()
            w.stdin.close(); w.wait()
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    p = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", "m"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout is not None
        word, worker = p.stdout.readline().split()
        assert word == "ready"
        e = enricher(tmp_path)
        infos = e.enrich([gpu_proc(p.pid), gpu_proc(int(worker))], 0.0)
        server = infos[gpu_proc(p.pid).identity]
        child = infos[gpu_proc(int(worker)).identity]
        assert server.framework == fw.VLLM
        assert server.launcher == "python -m vllm.entrypoints.openai.api_server"
        # The worker's own command line says nothing: its parent makes it vLLM.
        assert child.framework == fw.VLLM
        assert child.launcher == "python -m vllm.entrypoints.openai.api_server"
    finally:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=30)


def test_open_and_mapped_model_files_and_weights(tmp_path: Path, spawn: Spawn) -> None:
    st_file = tmp_path / "model.safetensors"
    gguf = tmp_path / "model.gguf"
    mapped = tmp_path / "other.pt"
    for path, size in ((st_file, 300_000), (gguf, 200_000), (mapped, 100_000)):
        with path.open("wb") as fh:
            fh.truncate(size)
    code = (
        textwrap.dedent(
            f"""
        import ctypes, os, sys
        libc = ctypes.CDLL(None)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        a = open({str(st_file)!r}, "rb"); b = open({str(gguf)!r}, "rb")
        for path in ({str(st_file)!r}, {str(mapped)!r}):
            fd = os.open(path, os.O_RDONLY)
            libc.mmap(None, os.fstat(fd).st_size, 1, 2, fd, 0)
            os.close(fd)
        """
        )
        + WAIT
    )
    p = spawn([sys.executable, "-c", code])
    info = one(enricher(tmp_path), gpu_proc(p.pid))
    by_path = {f.path: f for f in info.model_files}
    assert set(by_path) == {str(st_file), str(gguf), str(mapped)}
    assert by_path[str(st_file)].mapped and not by_path[str(gguf)].mapped
    assert by_path[str(mapped)].mapped
    assert info.weights_bytes == 600_000  # the safetensors file counted once


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed (pip install torch==2.13.0 for the CPU build)",
)
def test_imported_torch_is_pytorch_from_maps(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", "import torch\n" + WAIT])
    own = fw.from_cmdline(ProcFS().cmdline(p.pid))
    assert own.framework is None  # nothing on the command line says torch
    info = one(enricher(tmp_path), gpu_proc(p.pid))
    assert info.framework == fw.PYTORCH


def _run_as_nobody() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


class RecordingProcFS(ProcFS):
    """A ProcFS that logs which reader was called for which PID."""

    def __init__(self, root: Path | str = "/proc") -> None:
        super().__init__(root)
        self.calls: Counter[tuple[str, int]] = Counter()

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in (
            "uid",
            "stat",
            "cmdline",
            "comm",
            "maps",
            "cgroup",
            "environ",
            "fd_links",
            "fd_targets",
            "nspids",
            "status_field",
            "starttime",
            "identity",
        ):
            calls = super().__getattribute__("calls")

            def wrapped(pid: int, *a: Any, **k: Any) -> Any:
                calls[(name, pid)] += 1
                return attr(pid, *a, **k)

            return wrapped
        return attr

    def readers_for(self, pid: int) -> set[str]:
        return {n for (n, p) in self.calls if p == pid}


@pytest.mark.skipif(_run_as_nobody() is None, reason="needs root to start a process as nobody")
def test_other_users_process_is_not_read(tmp_path: Path) -> None:
    ids = _run_as_nobody()
    assert ids is not None
    uid, gid = ids
    p = subprocess.Popen(["sleep", "60"], user=uid, group=gid, extra_groups=[])
    try:
        procfs = RecordingProcFS()
        e = enricher(tmp_path, procfs=procfs)
        info = one(e, GPUProcess(p.pid, None, 5 << 30, name="sleep"))
        assert not info.readable
        assert info.uid == uid and info.user == "nobody"
        assert info.cmdline == () and info.framework is None and info.container is None
        assert info.notes == (orch.NOTE_OTHER_USER,)
        assert info.name == "sleep"  # what NVML said, not /proc
        assert procfs.readers_for(p.pid) == {"uid"}  # the uid check and nothing else
        # Later samples read nothing more.
        one(e, GPUProcess(p.pid, None, 5 << 30), now=100.0)
        assert procfs.readers_for(p.pid) == {"uid"} and procfs.calls[("uid", p.pid)] == 1
    finally:
        p.kill()
        p.wait()


def test_vanished_process(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    start = ProcFS().starttime(p.pid)
    p.wait()
    info = one(enricher(tmp_path), GPUProcess(p.pid, start, 1 << 20))
    assert not info.readable
    assert info.notes == (orch.NOTE_GONE,)


def test_recycled_pid_is_not_described_as_the_new_process(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    real = ProcFS().starttime(p.pid)
    assert real is not None
    info = one(enricher(tmp_path), GPUProcess(p.pid, real - 1, 1 << 20))
    assert not info.readable and info.notes == (orch.NOTE_RECYCLED,)
    assert info.cmdline == ()


# --- caching ----------------------------------------------------------------------------


def test_cached_per_identity_and_refreshed_on_schedule(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    procfs = RecordingProcFS()
    e = enricher(
        tmp_path,
        procfs=procfs,
        settings=EnrichmentSettings(fd_refresh_s=5, maps_refresh_s=60, host_proc="none"),
    )
    gp = gpu_proc(p.pid)
    first = one(e, gp, 0.0)
    assert {"uid", "stat", "cmdline", "cgroup", "maps", "fd_links"} <= procfs.readers_for(p.pid)
    procfs.calls.clear()
    for t in (1.0, 2.0, 4.9):
        assert one(e, gp, t) is first  # nothing read, the same object
    assert procfs.readers_for(p.pid) == set()
    one(e, gp, 5.0)
    assert procfs.readers_for(p.pid) == {"fd_links"}
    procfs.calls.clear()
    one(e, gp, 60.0)
    assert procfs.readers_for(p.pid) == {"fd_links", "maps"}
    # A new identity under the same PID is read afresh; forgetting drops the entry.
    e.forget([gp.identity])
    procfs.calls.clear()
    one(e, gp, 61.0)
    assert "cmdline" in procfs.readers_for(p.pid)


def test_maps_once_when_refresh_is_zero(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    procfs = RecordingProcFS()
    e = enricher(
        tmp_path, procfs=procfs, settings=EnrichmentSettings(maps_refresh_s=0, host_proc="none")
    )
    gp = gpu_proc(p.pid)
    for t in (0.0, 100.0, 10_000.0):
        one(e, gp, t)
    assert procfs.calls[("maps", p.pid)] == 1


def test_files_opened_later_are_picked_up(tmp_path: Path) -> None:
    weights = tmp_path / "late.safetensors"
    weights.write_bytes(b"x" * 1000)
    code = (
        f"import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n"
        f"f = open({str(weights)!r}, 'rb')\nprint('opened', flush=True)\nsys.stdin.read()\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline().strip() == "ready"
        e = enricher(tmp_path, settings=EnrichmentSettings(fd_refresh_s=5, host_proc="none"))
        gp = gpu_proc(p.pid)
        assert one(e, gp, 0.0).model_files == ()
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "opened"
        assert one(e, gp, 1.0).model_files == ()  # not due yet
        info = one(e, gp, 5.0)
        assert [f.path for f in info.model_files] == [str(weights)]
        assert info.weights_bytes == 1000
    finally:
        p.kill()
        p.wait()


def test_duplicate_identity_across_gpus_is_one_entry(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    a = gpu_proc(p.pid)
    b = gpu_proc(p.pid, used=2 << 30, mps=True)
    infos = enricher(tmp_path).enrich([a, b], 0.0)
    assert list(infos) == [a.identity]
    assert infos[a.identity].mps_client


# --- isolation and permission errors ---------------------------------------------------


class BrokenCgroupProcFS(ProcFS):
    def cgroup(self, pid: int) -> str | None:
        raise RuntimeError("cgroup reader bug")


def test_one_failing_enricher_does_not_block_the_others(tmp_path: Path, spawn: Spawn) -> None:
    script = tmp_path / "vllm"
    script.write_text(f"#!{sys.executable}\n{WAIT}")
    script.chmod(0o755)
    p = spawn([str(script), "serve", "m"])
    info = one(enricher(tmp_path, procfs=BrokenCgroupProcFS()), gpu_proc(p.pid))
    assert info.readable and info.container is None
    assert info.framework == fw.VLLM and info.cmdline


def test_failing_maps_parser_still_gives_cmdline_facts(
    tmp_path: Path, spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(_text: str) -> str | None:
        raise ValueError("parser bug")

    monkeypatch.setattr(fw, "from_maps", boom)
    p = spawn([sys.executable, "-c", WAIT])
    info = one(enricher(tmp_path), gpu_proc(p.pid))
    assert info.readable and info.cmdline and info.framework is None


def _unreadable_tree(tmp_path: Path) -> Path:
    """A /proc tree where a same-user process's files cannot be read (EISDIR/ENOTDIR
    stand in for EACCES, which root cannot be given)."""
    root = tmp_path / "proc"
    d = root / "4000"
    d.mkdir(parents=True)
    (d / "status").write_text(f"Name:\tx\nUid:\t{os.getuid()}\t0\t0\t0\nNSpid:\t4000\n")
    (d / "stat").write_text("4000 (x) S 1 " + " ".join(["0"] * 17) + " 777 0 0\n")
    for name in ("cmdline", "maps", "cgroup", "comm"):
        (d / name).mkdir()
    (d / "fd").write_text("not a directory")
    return root


def test_permission_denied_leaves_vram_only(tmp_path: Path) -> None:
    e = enricher(tmp_path, procfs=ProcFS(_unreadable_tree(tmp_path)))
    info = one(e, GPUProcess(4000, 777, 1 << 30))
    assert info.readable
    assert info.cmdline == () and info.framework is None and info.model_files == ()
    assert info.notes == (orch.NOTE_UNREADABLE,)


class RaisingProcFS(ProcFS):
    def maps(self, pid: int) -> str | None:
        raise PermissionError(13, "Permission denied")

    def fd_links(self, pid: int) -> list[tuple[str, str]]:
        raise PermissionError(13, "Permission denied")


def test_eacces_raised_by_a_reader_is_contained(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    info = one(enricher(tmp_path, procfs=RaisingProcFS()), gpu_proc(p.pid))
    assert info.readable and info.cmdline and info.model_files == ()


# --- augmenters (scraped metrics, deep mode) --------------------------------------------


class ServerAugmenter:
    name = "fake-scraper"

    def __init__(self) -> None:
        self.forgotten: list[ProcessIdentity] = []

    def augment(self, info: ProcessInfo, now: float) -> ProcessInfo:
        from dataclasses import replace

        return replace(info, server=ServerMetrics("vllm", 8000, ok=True, kv_cache_usage=0.5))

    def forget(self, identities: Sequence[ProcessIdentity]) -> None:
        self.forgotten.extend(identities)


class BrokenAugmenter:
    name = "broken"

    def augment(self, info: ProcessInfo, now: float) -> ProcessInfo:
        raise RuntimeError("scraper bug")

    def forget(self, identities: Sequence[ProcessIdentity]) -> None:
        raise RuntimeError("scraper bug")


def test_augmenters_run_isolated(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    good = ServerAugmenter()
    e = enricher(tmp_path, augmenters=[BrokenAugmenter(), good])
    gp = gpu_proc(p.pid)
    info = one(e, gp)
    assert info.server is not None and info.server.kv_cache_usage == 0.5
    e.forget([gp.identity])
    assert good.forgotten == [gp.identity]


# --- PID namespaces (fixture trees) -----------------------------------------------------


@pytest.fixture
def uid0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "current_uid", lambda: 0)


@pytest.mark.usefixtures("uid0")
def test_container_without_host_pidns_resolves_through_host_proc(tmp_path: Path) -> None:
    e = ProcessEnricher(
        EnrichmentSettings(host_proc=str(HOST)),
        local_procfs=ProcFS(CONTAINER_NS),
        fs_root=tmp_path,
        env={},
    )
    assert e.resolvable and e.procfs.root == HOST
    server = GPUProcess(812345, 5100, 20 << 30)
    core = GPUProcess(812346, 5200, 40 << 30)
    other = GPUProcess(812400, 6000, 8 << 30)
    infos = e.enrich([server, core, other], 0.0)
    s = infos[server.identity]
    assert s.framework == fw.VLLM
    assert s.launcher == "python -m vllm.entrypoints.openai.api_server"
    assert s.nspid == (812345, 1)
    assert s.container is not None and s.container.runtime == "docker"
    assert s.container.short_id is not None and len(s.container.short_id) == 12
    paths = sorted(f.path for f in s.model_files)
    assert paths == [
        "/models/llama-3-8b/model-00001-of-00002.safetensors",
        "/models/llama-3-8b/model-00002-of-00002.safetensors",
    ]
    assert s.weights_bytes is None  # the files are not reachable here: unknown, not 0
    c = infos[core.identity]
    assert c.framework == fw.VLLM and c.launcher == s.launcher
    o = infos[other.identity]
    assert not o.readable and o.uid == 1000
    assert "hunter2" not in repr(o)
    assert e.notices() == ()


@pytest.mark.usefixtures("uid0")
def test_container_without_host_proc_says_why_once(tmp_path: Path) -> None:
    e = ProcessEnricher(
        EnrichmentSettings(host_proc="none"),
        local_procfs=ProcFS(CONTAINER_NS),
        fs_root=tmp_path,
        env={},
    )
    assert not e.resolvable
    assert e.notices() == ()  # nothing to explain before a GPU process shows up
    procs = [GPUProcess(812345, None, 1 << 30), GPUProcess(1, None, 1 << 30)]
    infos = e.enrich(procs, 0.0)
    # PID 1 exists in our namespace but is NOT NVML's PID 1: it must not be described.
    assert all(not i.readable and i.cmdline == () for i in infos.values())
    assert all(i.notes == (orch.NOTE_UNRESOLVABLE,) for i in infos.values())
    e.enrich(procs, 1.0)
    notices = e.notices()
    assert notices == (container_mod.UNRESOLVABLE_NOTICE,)
    assert "--pid=host" in notices[0] and "hostPID" in notices[0]


def test_default_enricher_on_this_machine_reads_itself(tmp_path: Path) -> None:
    e = ProcessEnricher(fs_root=tmp_path, env={})
    me = GPUProcess(os.getpid(), ProcFS().starttime(os.getpid()), 1)
    info = one(e, me)
    if e.resolvable and e.procfs.root == Path("/proc"):
        assert info.readable and info.cmdline
    else:
        assert not info.readable


def test_describe_keeps_no_state(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    e = enricher(tmp_path)
    info = e.describe(gpu_proc(p.pid), time.monotonic())
    assert info.readable
    assert e._cache == {}


def test_signal_killed_child_between_samples(tmp_path: Path, spawn: Spawn) -> None:
    p = spawn([sys.executable, "-c", WAIT])
    e = enricher(tmp_path)
    gp = gpu_proc(p.pid)
    assert one(e, gp, 0.0).readable
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    # Cached facts stay until the engine forgets the identity; refreshes just find nothing.
    info = one(e, gp, 100.0)
    assert info.readable and info.cmdline
