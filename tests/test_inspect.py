"""`vramtop inspect PID [--json]`, run as a user would (subprocesses), with NVML
faked at the pynvml boundary (tests/fakenvml.py via sitecustomize)."""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vramtop.enrichment import EnrichmentSettings, ProcessEnricher
from vramtop.errors import ProcessGoneError
from vramtop.inspect import build_report, render_text, report_dict
from vramtop.model import (
    DeepStats,
    GPUDevice,
    GPUProcess,
    LoadedModel,
    MemorySnapshot,
    ProcessIdentity,
    ProcessInfo,
    ServerMetrics,
)
from vramtop.procfs import ProcFS

TESTS_DIR = Path(__file__).parent
SRC_DIR = TESTS_DIR.parent / "src"
WAIT = "import sys\nprint('ready', flush=True)\nsys.stdin.read()\n"


def _sitecustomize(tmp_path: Path, gpu_pids: Sequence[tuple[int, int]] | None) -> Path:
    """A sitecustomize installing the fake pynvml: no GPU, or one GPU running `gpu_pids`."""
    d = tmp_path / "site"
    d.mkdir(exist_ok=True)
    if gpu_pids is None:
        setup = (
            "fake = fakenvml.FakeNVML()\n"
            "fake.fail('nvmlInit', fakenvml.NVML_ERROR_LIBRARY_NOT_FOUND)\n"
        )
    else:
        procs = ", ".join(f"fakenvml.FakeProc({pid}, {used})" for pid, used in gpu_pids)
        setup = f"fake = fakenvml.FakeNVML([fakenvml.FakeGPU(compute=[{procs}])])\n"
    (d / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS_DIR)!r})\nimport fakenvml\n"
        + setup
        + "fake.install()\n"
    )
    return d


def vramtop(
    tmp_path: Path, *args: str, gpu_pids: Sequence[tuple[int, int]] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    site = _sitecustomize(tmp_path, gpu_pids)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(SRC_DIR)]))
    return subprocess.run(
        [sys.executable, "-m", "vramtop", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        **kw,
    )


@pytest.fixture
def child(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A stand-in `vllm serve` with a .safetensors file open."""
    weights = tmp_path / "model.safetensors"
    with weights.open("wb") as fh:
        fh.truncate(3 * 1024 * 1024)
    script = tmp_path / "vllm"
    script.write_text(f"#!{sys.executable}\nw = open({str(weights)!r}, 'rb')\n{WAIT}")
    script.chmod(0o755)
    p = subprocess.Popen(
        [str(script), "serve", "tiny-model", "--port", "8000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    yield p
    assert p.stdin is not None
    p.stdin.close()
    p.kill()
    p.wait()


def test_inspect_text_without_gpu(tmp_path: Path, child: subprocess.Popen[str]) -> None:
    r = vramtop(tmp_path, "inspect", str(child.pid))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"PID           {child.pid}" in out
    assert "Framework     vllm\n" in out
    assert "Launcher      vllm serve\n" in out
    assert "GPU memory    unavailable (no NVIDIA GPU)\n" in out
    assert "Phase         unknown" in out
    assert "model.safetensors" in out and "3.0 MiB" in out
    assert "Weights       ~3.0 MiB (estimate" in out
    assert "serve tiny-model --port 8000" in out
    assert r.stderr == ""


def test_inspect_json_with_a_gpu(tmp_path: Path, child: subprocess.Popen[str]) -> None:
    r = vramtop(tmp_path, "inspect", str(child.pid), "--json", gpu_pids=[(child.pid, 5 << 30)])
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["pid"] == child.pid
    assert d["identity"] == {"pid": child.pid, "starttime": ProcFS().starttime(child.pid)}
    assert d["readable"] is True
    assert d["framework"] == "vllm" and d["launcher"] == "vllm serve"
    assert d["gpu_status"] is None
    assert d["gpus"] == [
        {
            "index": 0,
            "uuid": "GPU-00000000-0000-0000-0000-000000000000",
            "name": "NVIDIA H100 80GB HBM3",
            "used": 5 << 30,
            "type": "compute",
            "mps": False,
        }
    ]
    assert [f["size"] for f in d["model_files"]] == [3 * 1024 * 1024]
    assert d["weights_estimate"] == 3 * 1024 * 1024
    assert d["phase"] is None
    assert d["age_s"] >= 0 and d["start_time"].endswith("+00:00")
    assert d["mps"]["client"] is False
    # A vLLM that listens on no port: the scraper says why, nothing else changes.
    assert d["server"] is not None and d["server"]["ok"] is False and d["server"]["error"]
    assert d["deep"] is None
    assert d["user"] == pwd.getpwuid(os.getuid()).pw_name


def test_inspect_text_with_a_gpu(tmp_path: Path, child: subprocess.Popen[str]) -> None:
    r = vramtop(tmp_path, "inspect", str(child.pid), gpu_pids=[(child.pid, 5 << 30)])
    assert r.returncode == 0, r.stderr
    assert "GPU memory    GPU 0 NVIDIA H100 80GB HBM3" in r.stdout
    assert "5,120 MiB (5.0 GiB), compute" in r.stdout


def test_inspect_own_shell_like_dollar_dollar(tmp_path: Path) -> None:
    site = _sitecustomize(tmp_path, None)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(SRC_DIR)]))
    r = subprocess.run(
        ["bash", "-c", f'{sys.executable} -m vramtop inspect $$; echo "shell=$$"'],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    shell_pid = r.stdout.strip().splitlines()[-1].removeprefix("shell=")
    assert f"PID           {shell_pid}  (starttime" in r.stdout
    assert "Command       bash -c" in r.stdout


def test_inspect_no_such_process(tmp_path: Path) -> None:
    if Path("/proc/999999").exists():
        pytest.skip("PID 999999 exists on this machine")
    r = vramtop(tmp_path, "inspect", "999999")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "vramtop: No such process: 999999\n"


def test_inspect_vanished_process(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    r = vramtop(tmp_path, "inspect", str(p.pid))
    assert r.returncode == 1
    assert r.stderr == f"vramtop: No such process: {p.pid}\n"


@pytest.mark.parametrize("arg", ["abc", "0", "12x", "1.5", "99999999999"])
def test_inspect_bad_pid_is_one_line_usage_error(tmp_path: Path, arg: str) -> None:
    r = vramtop(tmp_path, "inspect", arg)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"vramtop: inspect: {arg!r} is not a process ID")
    assert "usage: vramtop inspect PID" in lines[0]


def test_inspect_without_pid_is_usage_error(tmp_path: Path) -> None:
    r = vramtop(tmp_path, "inspect")
    assert r.returncode == 2
    assert "PID" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as nobody")
def test_inspect_other_users_process(tmp_path: Path) -> None:
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    p = subprocess.Popen(
        ["sleep", "60", "secret-arg"], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[]
    )
    try:
        r = vramtop(tmp_path, "inspect", str(p.pid), gpu_pids=[(p.pid, 2 << 30)])
        assert r.returncode == 0, r.stderr
        assert "User          nobody" in r.stdout
        assert "Note          another user's process: its /proc details are not read" in r.stdout
        assert "2,048 MiB" in r.stdout  # what NVML knows
        assert "secret-arg" not in r.stdout and "Command" not in r.stdout
        j = vramtop(tmp_path, "inspect", str(p.pid), "--json")
        d = json.loads(j.stdout)
        assert d["readable"] is False and d["cmdline"] == [] and d["framework"] is None
        assert d["gpu_status"] == "unavailable (no NVIDIA GPU)"
        assert d["start_time"] is None  # /proc/<pid>/stat of another user is not read
    finally:
        p.kill()
        p.wait()


# --- the report builder in-process ------------------------------------------------------


class Scraped:
    """Stands in for the scraper and deep-mode collector (the InfoAugmenter seam)."""

    name = "scraped"

    def augment(self, info: ProcessInfo, now: float) -> ProcessInfo:
        server = ServerMetrics(
            "ollama",
            11434,
            ok=True,
            kv_cache_usage=0.25,
            kv_capacity_tokens=8192,
            kv_used_tokens=2048,
            requests_running=1,
            requests_waiting=0,
            models=(LoadedModel("llama3:8b", 5 << 30, 4 << 30),),
        )
        deep = DeepStats("pytorch", 0, 3 << 30, 4 << 30, 3 << 30)
        return replace(info, server=server, deep=deep)

    def forget(self, identities: Sequence[ProcessIdentity]) -> None:
        pass


def test_report_shows_server_and_deep_data(tmp_path: Path, child: subprocess.Popen[str]) -> None:
    e = ProcessEnricher(
        EnrichmentSettings(host_proc="none"), fs_root=tmp_path, env={}, augmenters=[Scraped()]
    )
    start = ProcFS().starttime(child.pid)
    gp = GPUProcess(child.pid, start, 7 << 30, mps=True)
    snap = MemorySnapshot(
        1.0,
        time.time(),
        (GPUDevice(0, "GPU-a", "NVIDIA H100", 80 << 30, 10 << 30, 70 << 30, processes=(gp,)),),
    )
    r = build_report(
        child.pid, enricher=e, snapshot=snap, gpu_status=None, now_unix=time.time(), now=1.0
    )
    text = render_text(r)
    assert "ollama on port 11434" in text and "KV cache usage 25%" in text
    assert "KV capacity 2,048 / 8,192 tokens" in text
    assert "model llama3:8b: 5.0 GiB, 4.0 GiB in VRAM" in text
    assert "allocated 3.0 GiB, reserved 4.0 GiB" in text
    assert "MPS           client of the MPS server" in text
    d = report_dict(r)
    assert d["server"]["kv_cache_usage"] == 0.25 and d["deep"]["fragmentation"] == 1 << 30
    assert d["mps"]["client"] is True
    assert d["gpus"][0]["used"] == 7 << 30


def test_report_for_a_gpu_only_pid_not_in_proc(tmp_path: Path) -> None:
    if Path("/proc/999998").exists():
        pytest.skip("PID 999998 exists")
    e = ProcessEnricher(EnrichmentSettings(host_proc="none"), fs_root=tmp_path, env={})
    gp = GPUProcess(999998, None, 1 << 30)
    snap = MemorySnapshot(
        0.0, 0.0, (GPUDevice(0, "GPU-a", "GPU", 1 << 34, 1 << 30, 1 << 33, processes=(gp,)),)
    )
    r = build_report(999998, enricher=e, snapshot=snap, gpu_status=None, now_unix=0.0, now=0.0)
    assert not r.info.readable and r.gpus[0].used_bytes == 1 << 30
    with pytest.raises(ProcessGoneError):
        build_report(999998, enricher=e, snapshot=None, gpu_status="x", now_unix=0.0, now=0.0)


def test_report_text_in_a_container_context(tmp_path: Path) -> None:
    fixtures = TESTS_DIR / "fixtures" / "proc"
    (tmp_path / ".dockerenv").touch()
    e = ProcessEnricher(
        EnrichmentSettings(host_proc="none"),
        procfs=ProcFS(),
        local_procfs=ProcFS(fixtures / "container_ns"),
        fs_root=tmp_path,
        env={"NVIDIA_VISIBLE_DEVICES": "all"},
    )
    r = build_report(
        os.getpid(), enricher=e, snapshot=None, gpu_status="x", now_unix=time.time(), now=0.0
    )
    text = render_text(r)
    assert "vramtop runs  in a container: docker" in text
    assert "host PIDs cannot be resolved (use --pid=host)" in text
    assert "NVIDIA_VISIBLE_DEVICES=all" in text
    assert report_dict(r)["vramtop"]["pid_mapping"] == "unresolvable"


def test_inspect_help_lists_the_command(tmp_path: Path) -> None:
    r = vramtop(tmp_path, "--help")
    assert "inspect" in r.stdout
    r = vramtop(tmp_path, "inspect", "--help")
    assert r.returncode == 0 and "--json" in r.stdout
    assert textwrap.dedent(r.stdout).startswith("usage: vramtop inspect")


REPORTER = r"""
import os, socket, sys, threading
from pathlib import Path
from vramtop.reporter.protocol import Handshake, MemoryMessage, encode
d = Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"
d.mkdir(mode=0o700, exist_ok=True)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(str(d / f"{os.getpid()}.sock"))
srv.listen()
GiB = 1 << 30
def serve():
    while True:
        c, _ = srv.accept()
        try:  # a liveness probe connects and leaves at once
            c.sendall(encode(Handshake(1, os.getpid(), "pytorch", 0))
                      + encode(MemoryMessage(1.0, 3 * GiB, 4 * GiB, 3 * GiB, 5 * GiB, 6 * GiB,
                                             5 * GiB, 0, 42, 7, 0, 0)))
        except OSError:
            pass
        c.close()
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


def test_inspect_shows_deep_mode_statistics(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC_DIR))
    p = subprocess.Popen(
        [sys.executable, "-c", REPORTER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        r = vramtop(tmp_path, "inspect", str(p.pid), "--json")
        assert r.returncode == 0, r.stderr
        deep = json.loads(r.stdout)["deep"]
        assert deep is not None
        assert deep["framework"] == "pytorch" and deep["cuda_device"] == 0
        assert deep["allocated"] == 3 << 30 and deep["reserved"] == 4 << 30
        assert deep["fragmentation"] == 1 << 30
        text = vramtop(tmp_path, "inspect", str(p.pid)).stdout
        assert "Deep mode     pytorch, CUDA device 0" in text
    finally:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=10)


CUDA_CHILD = r"""
import sys, torch
x = torch.empty(256 * 1024 * 1024, dtype=torch.uint8, device="cuda")
torch.save({"w": torch.zeros(1024)}, sys.argv[1])
f = open(sys.argv[1], "rb")
torch.cuda.synchronize()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.gpu
def test_inspect_real_gpu_process(tmp_path: Path) -> None:
    """On a real NVIDIA GPU: a PyTorch process holding 256 MiB is seen by NVML and
    described from /proc (framework from its maps, its open .pt file)."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    weights = tmp_path / "w.pt"
    p = subprocess.Popen(
        [sys.executable, "-c", CUDA_CHILD, str(weights)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            pytest.skip("torch could not allocate on CUDA")
        inherited = os.environ.get("PYTHONPATH")
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(SRC_DIR), inherited] if inherited else [str(SRC_DIR)]),
        )
        r = subprocess.run(
            [sys.executable, "-m", "vramtop", "inspect", str(p.pid), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert d["gpu_status"] is None
        assert d["gpus"], "NVML does not list the process"
        used = sum(g["used"] or 0 for g in d["gpus"])
        assert used >= 256 * 1024 * 1024
        assert d["framework"] == "pytorch"
        assert str(weights) in [f["path"] for f in d["model_files"]]
    finally:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=30)


def test_inspect_scrapes_an_inference_server(tmp_path: Path) -> None:
    """A stand-in vLLM server (tests/servers/standin.py) on a free port: inspect shows
    its scraped metrics when the port is allowed, and "metrics unavailable" never crashes."""
    standin = TESTS_DIR / "servers" / "standin.py"
    p = subprocess.Popen(
        [sys.executable, str(standin), "--kind", "vllm", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        ready = json.loads(p.stdout.readline())
        config = tmp_path / "config.toml"
        config.write_text(f"[scraping]\nallowed_ports = [{ready['port']}]\ntimeout_ms = 2000\n")
        r = vramtop(tmp_path, "inspect", str(ready["pid"]), "--json", "--config", str(config))
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert d["framework"] == "vllm"
        assert d["server"] is not None and d["server"]["ok"] is True
        assert d["server"]["port"] == ready["port"]
        assert d["server"]["kv_cache_usage"] is not None
        text = vramtop(tmp_path, "inspect", str(ready["pid"]), "--config", str(config)).stdout
        assert f"Server        vllm on port {ready['port']}" in text
    finally:
        p.terminate()
        p.wait(timeout=10)
