"""vramtop against a real NVIDIA GPU, checked against nvidia-smi.

Run on a GPU machine:  python -m pytest tests/gpu -m gpu -v -rs

A child process holds a known amount of GPU memory (PyTorch when it is
installed, else the CUDA driver API through ctypes, which ships with every
driver), and vramtop's numbers are compared with nvidia-smi's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vramtop import trace
from vramtop.procfs import ProcFS

pytestmark = pytest.mark.gpu

MiB = 1024**2
GiB = 1024**3
SRC_DIR = Path(__file__).resolve().parents[2] / "src"
HAVE_TORCH = importlib.util.find_spec("torch") is not None

# argv: initial_bytes step_bytes steps step_s. Prints "ready <backend>" once the
# initial allocation is resident, then grows by `steps` x `step_bytes`, then sleeps.
CHILD = r"""
import sys, time
initial, step, steps = (int(a) for a in sys.argv[1:4])
every = float(sys.argv[4])
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    keep = [torch.empty(initial, dtype=torch.uint8, device="cuda")]
    torch.cuda.synchronize()
    def alloc(n):
        keep.append(torch.empty(n, dtype=torch.uint8, device="cuda"))
        torch.cuda.synchronize()
    backend = "torch"
else:
    import ctypes
    cuda = ctypes.CDLL("libcuda.so.1")
    def check(rc, what):
        if rc != 0:
            print(f"error {what} {rc}", flush=True)
            sys.exit(1)
    check(cuda.cuInit(0), "cuInit")
    dev = ctypes.c_int()
    check(cuda.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
    ctx = ctypes.c_void_p()
    check(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
    check(cuda.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    keep = []
    def alloc(n):
        ptr = ctypes.c_uint64()
        check(cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(n)), "cuMemAlloc")
        keep.append(ptr)
    alloc(initial)
    backend = "cuda-driver"
print("ready", backend, flush=True)
for _ in range(steps):
    time.sleep(every)
    alloc(step)
time.sleep(600)
"""


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(SRC_DIR), path) if p))


def vramtop(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "vramtop", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )
    assert result.returncode == 0, f"vramtop {' '.join(args)}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def smi(*query: str) -> list[list[str]]:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("nvidia-smi is not on PATH")
    out = subprocess.run(
        ["nvidia-smi", *query, "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]


def smi_apps() -> dict[tuple[str, int], int | None]:
    """(gpu uuid, pid) -> used MiB (None for [N/A])."""
    rows = smi("--query-compute-apps=gpu_uuid,pid,used_memory")
    return {(r[0], int(r[1])): (int(r[2]) if r[2].isdigit() else None) for r in rows}


def smi_gpus() -> dict[str, tuple[int, int]]:
    """uuid -> (memory.used MiB, memory.total MiB)."""
    rows = smi("--query-gpu=uuid,memory.used,memory.total")
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def smi_reserved() -> dict[str, int] | None:
    """uuid -> memory.reserved MiB, on nvidia-smi versions that know the field."""
    try:
        rows = smi("--query-gpu=uuid,memory.reserved")
    except subprocess.CalledProcessError:
        return None
    return {r[0]: int(r[1]) for r in rows if r[1].isdigit()}


@pytest.fixture
def allocator() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    children: list[subprocess.Popen[str]] = []

    def start(
        initial: int, step: int = 0, steps: int = 0, every_s: float = 0.0
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(initial), str(step), str(steps), str(every_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 300)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("ready"), f"GPU child did not start: {line!r}"
        print(f"GPU child {proc.pid} allocates through {line.split()[1]}")
        # NVML may list a new process a moment after its first allocation.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(pid == proc.pid for _uuid, pid in smi_apps()):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"nvidia-smi never listed the child {proc.pid}")
        return proc

    yield start
    for proc in children:
        proc.kill()
        proc.wait()


def test_once_json_agrees_with_nvidia_smi(
    allocator: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    child = allocator(2 * GiB)
    config = tmp_path / "config.toml"
    # Every process, also those of other users, so that the lists can be compared.
    config.write_text("[display]\nshow_other_users = true\n")
    # nvidia-smi before and after vramtop: compare only when nothing moved meanwhile.
    for _ in range(5):
        apps_before, gpus_before = smi_apps(), smi_gpus()
        data = json.loads(vramtop("--config", str(config), "--once", "--json").stdout)
        apps_after, gpus_after = smi_apps(), smi_gpus()
        if apps_before == apps_after and gpus_before == gpus_after:
            break
        time.sleep(1)
    else:
        pytest.fail("GPU memory kept changing under nvidia-smi; nothing stable to compare")
    apps, gpus = apps_after, gpus_after
    reserved = smi_reserved()

    by_uuid = {g["uuid"]: g for g in data["gpus"]}
    assert set(by_uuid) == set(gpus)
    for uuid, (used_mib, total_mib) in gpus.items():
        g = by_uuid[uuid]
        assert g["state"] == "ok", g
        # vramtop reads memory info v2, whose `used` excludes driver-reserved memory and
        # is what nvidia-smi reports as memory.used (nvidia-smi lists reserved memory on
        # its own line, memory.reserved). memory.total is the whole framebuffer, v2's
        # `total`. On a driver without v2 (reserved null) NVML's v1 `used` includes the
        # reserved memory, and so does that driver's nvidia-smi.
        assert abs(g["used"] / MiB - used_mib) <= 1, (uuid, g["used"], used_mib)
        assert abs(g["total"] / MiB - total_mib) <= 1, (uuid, g["total"], total_mib)
        if reserved and uuid in reserved and g["reserved"] is not None:
            assert abs(g["reserved"] / MiB - reserved[uuid]) <= 1
        assert g["free"] is not None and g["free"] <= g["total"]

    # Every compute process nvidia-smi lists, with the same memory (MiB, +-1).
    ours = {(g["uuid"], p["pid"]): p for g in data["gpus"] for p in g["processes"]}
    for key, smi_mib in apps.items():
        assert key in ours, f"vramtop misses {key}"
        used = ours[key]["used"]
        if smi_mib is None:
            assert used is None  # unknown stays unknown, never 0
        else:
            assert used is not None and abs(used / MiB - smi_mib) <= 1, (key, used, smi_mib)
    for key, p in ours.items():
        if p["type"] != "graphics":
            assert key in apps, f"vramtop lists {key}, nvidia-smi does not"

    # The child: a process of ours (the device runs as root), with its identity.
    mine = [p for (_uuid, pid), p in ours.items() if pid == child.pid]
    assert len(mine) == 1
    p = mine[0]
    assert p["used"] >= 2 * GiB
    procfs = ProcFS()
    assert p["starttime"] == procfs.starttime(child.pid)
    assert p["uid"] == os.getuid()
    assert p["name"] == procfs.comm(child.pid)


def test_record_then_replay_gives_the_recorded_numbers(
    allocator: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    child = allocator(512 * MiB, step=128 * MiB, steps=10, every_s=0.4)
    rec = tmp_path / "rec.jsonl"
    vramtop("record", str(rec), "--interval", "0.25", "--duration", "5")
    tr = trace.read(rec)
    assert tr.header.devices and tr.header.driver
    assert len(tr.samples) >= 15
    series = [
        p.used_bytes
        for s in tr.samples
        for d in s.devices
        for p in d.processes
        if p.pid == child.pid
    ]
    assert len(series) == len(tr.samples), "the child is missing from some samples"
    assert all(u is not None for u in series)
    used = [u for u in series if u is not None]
    assert used == sorted(used), "the child only grows"
    assert used[-1] - used[0] >= 512 * MiB, "the recording saw the growth"

    out = vramtop("replay", str(rec), "--jsonl", "--rate", "4").stdout
    lines: list[dict[str, Any]] = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert lines
    times = [s.t for s in tr.samples]
    seen: set[int] = set()
    for obj in lines:
        # The replayed sample is the last recorded one at or before the virtual time.
        i = max(k for k, t in enumerate(times) if t <= obj["t"] + 1e-6)
        seen.add(i)
        dev = next(d for d in tr.samples[i].devices if d.index == obj["gpu"])
        assert obj["used"] == dev.used_bytes
        assert obj["free"] == dev.free_bytes
        assert obj["total"] == dev.total_bytes
        assert {p["pid"]: p["used"] for p in obj["processes"]} == {
            p.pid: p.used_bytes for p in dev.processes
        }
    assert len(seen) >= 0.9 * len(tr.samples)
