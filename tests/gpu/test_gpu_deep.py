"""Deep mode on a real NVIDIA GPU with real PyTorch.

Run on a GPU machine:  python -m pytest tests/gpu/test_gpu_deep.py -m gpu -v -rs

A PyTorch job allocates known tensors and prints what
`torch.cuda.memory_allocated()` / `memory_reserved()` say; `vramtop inspect PID
--json` must report the same allocated/reserved within 1%, for both ways of
switching deep mode on: `vramtop.report()` in the code and `vramtop wrap`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from vramtop.enrichment.deep import DeepCollector
from vramtop.procfs import ProcFS

pytestmark = pytest.mark.gpu

MiB = 1024**2

# argv[1]: "report" calls vramtop.report() itself; "wrapped" relies on `vramtop wrap`.
# Prints one JSON line per state; "more" on stdin allocates again, EOF ends it.
JOB = r"""
import json, os, sys
import torch
if sys.argv[1] == "report":
    import vramtop
    assert vramtop.report() is not None
keep = [torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda"),
        torch.empty(100 * 2**20 + 12345, dtype=torch.uint8, device="cuda")]
# Small tensors land in the small pool; freeing every other one leaves reserved > allocated.
small = [torch.empty(300 * 1024, dtype=torch.uint8, device="cuda") for _ in range(40)]
del small[::2]
keep.append(small)

def state():
    torch.cuda.synchronize()
    print(json.dumps({"pid": os.getpid(), "allocated": torch.cuda.memory_allocated(),
                      "reserved": torch.cuda.memory_reserved(),
                      "device": torch.cuda.current_device()}), flush=True)

state()
for line in sys.stdin:
    keep.append(torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda"))
    state()
"""


def _torch_cuda() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, torch; sys.exit(not torch.cuda.is_available())"],
        capture_output=True,
        timeout=120,
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def torch_cuda() -> None:
    if not _torch_cuda():
        pytest.skip("PyTorch with CUDA is not installed for this interpreter")


def readline(proc: subprocess.Popen[bytes], timeout: float = 120.0) -> dict[str, Any]:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    while not buf.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, "the PyTorch job did not answer"
        chunk = os.read(fd, 1)
        if not chunk:
            assert proc.stderr is not None
            raise AssertionError("job exited: " + proc.stderr.read().decode()[-2000:])
        buf += chunk
    result: dict[str, Any] = json.loads(buf)
    return result


def inspect_json(pid: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "vramtop", "inspect", str(pid), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def assert_within_1pct(reported: int, truth: int, what: str) -> None:
    assert truth > 0
    assert abs(reported - truth) <= 0.01 * truth, f"{what}: vramtop {reported}, torch {truth}"


@pytest.fixture(params=["report", "wrapped"])
def job(request: pytest.FixtureRequest, torch_cuda: None) -> Iterator[subprocess.Popen[bytes]]:
    prefix = [] if request.param == "report" else [sys.executable, "-m", "vramtop", "wrap", "--"]
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-c", JOB, request.param],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)


def test_inspect_reports_what_torch_says(job: subprocess.Popen[bytes]) -> None:
    truth = readline(job)
    pid = truth["pid"]
    assert pid == job.pid  # under wrap too: exec, no middleman
    report = inspect_json(pid)
    deep = report["deep"]
    assert deep is not None, report
    assert deep["framework"] == "pytorch"
    assert deep["cuda_device"] == truth["device"]
    assert_within_1pct(deep["allocated"], truth["allocated"], "allocated")
    assert_within_1pct(deep["reserved"], truth["reserved"], "reserved")
    assert deep["fragmentation"] == deep["reserved"] - deep["allocated"]
    # NVML sees the same process, holding at least what the allocator reserved.
    used = [g["used"] for g in report["gpus"] if g["used"] is not None]
    if used:
        assert max(used) >= deep["reserved"]

    # The numbers follow the job: allocate 512 MiB more and read again.
    assert job.stdin is not None
    job.stdin.write(b"more\n")
    job.stdin.flush()
    truth2 = readline(job)
    assert truth2["allocated"] >= truth["allocated"] + 512 * MiB
    deep2 = inspect_json(pid)["deep"]
    assert_within_1pct(deep2["allocated"], truth2["allocated"], "allocated after growth")
    assert_within_1pct(deep2["reserved"], truth2["reserved"], "reserved after growth")

    # Exact through the collector (bytes on the wire, no MB rounding).
    stats = DeepCollector(timeout_s=2.0).stats_for(pid, ProcFS().starttime(pid))
    assert stats is not None
    assert stats.allocated_bytes == truth2["allocated"]
    assert stats.reserved_bytes == truth2["reserved"]
    assert stats.allocated_peak_bytes >= stats.allocated_bytes
    assert stats.segments > 0 and stats.num_allocs > 0

    job.stdin.close()
    assert job.wait(timeout=60) == 0
    assert pid not in DeepCollector().scan()
