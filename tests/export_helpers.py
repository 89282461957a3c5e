"""Shared helpers of the export tests: frames built by hand, and `vramtop export` run
as a real child process on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.model import (
    DeviceState,
    GPUDevice,
    GPUProcess,
    OOMPrediction,
    Phase,
    PhaseState,
    ProcessInfo,
    ServerMetrics,
)

GiB = 1024**3
TRACES = Path(__file__).parent / "fixtures" / "traces"


def proc(
    pid: int,
    used: int | None,
    *,
    name: str = "python3",
    uid: int | None = None,
    own: bool = True,
    gpu_index: int = 0,
    gpu_uuid: str = "GPU-0",
    phase: Phase = Phase.STABLE,
    framework: str | None = None,
    server: ServerMetrics | None = None,
) -> ProcessView:
    p = GPUProcess(pid=pid, starttime=1000 + pid, used_bytes=used, name=name, uid=uid)
    info = ProcessInfo(identity=p.identity, framework=framework, server=server)
    return ProcessView(
        process=p,
        gpu_index=gpu_index,
        gpu_uuid=gpu_uuid,
        phase=PhaseState(phase, 5, 2e6 if phase is Phase.GROWING else 0.0, 0.5),
        share=None if used is None else used / (80 * GiB),
        own=own,
        peak_bytes=used,
        info=info,
    )


def gpu(
    index: int = 0,
    *,
    uuid: str | None = None,
    used: int | None = 10 * GiB,
    processes: Sequence[ProcessView] = (),
    oom_alert: bool = False,
    temp_c: int | None = 50,
    temp_warning: bool = False,
    state: DeviceState = DeviceState.OK,
    host: str | None = None,
    name: str = "NVIDIA H100 80GB HBM3",
) -> GPUView:
    uuid = uuid or f"GPU-{index}"
    dev = GPUDevice(
        index=index,
        uuid=uuid,
        name=name,
        total_bytes=80 * GiB,
        used_bytes=used,
        free_bytes=None if used is None else 80 * GiB - used,
        reserved_bytes=512 * 1024 * 1024,
        util_gpu_pct=37,
        util_memory_pct=12,
        temperature_c=temp_c,
        power_watts=250.5,
        sm_clock_mhz=1980,
        memory_clock_mhz=2619,
        pcie_tx_bytes_per_s=1_500_000,
        pcie_rx_bytes_per_s=250_000_000,
        processes=tuple(pv.process for pv in processes),
        state=state,
        error="GPU is lost" if state is DeviceState.LOST else None,
        host=host,
    )
    oom = OOMPrediction(60.0, 120.0, 0.8, 2e8, 1e8, alert=True) if oom_alert else None
    return GPUView(
        device=dev,
        phase=PhaseState(Phase.GROWING if oom_alert else Phase.STABLE, 5, 0.0, 0.5),
        oom=oom,
        processes=tuple(processes),
        temp_warning=temp_warning,
    )


def frame(*gpus: GPUView, seq: int = 1, hostname: str = "node1", source: str = "test") -> Frame:
    return Frame(
        seq=seq,
        t=float(seq),
        unix_time=1_700_000_000.0 + seq,
        source=source,
        hostname=hostname,
        gpus=tuple(gpus),
        sample_duration_s=0.002,
        errors_total=0,
    )


@dataclass
class Exporter:
    proc: subprocess.Popen[str]
    url: str
    notes: list[str] = field(default_factory=list)  # stderr lines before the URL line

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def get(self, path: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, str]:
        req = urllib.request.Request(self.url + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode()


_URL_RE = re.compile(r"exporting on (http://\S+) ")


def start_exporter(
    args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 20.0
) -> Exporter:
    """Start `vramtop export ARGS` and wait for the line that names its URL."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.Popen(
        [sys.executable, "-m", "vramtop", "export", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    assert p.stderr is not None
    deadline = time.monotonic() + timeout
    notes: list[str] = []
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        m = _URL_RE.search(line)
        if m:
            exp = Exporter(p, m.group(1).replace("0.0.0.0", "127.0.0.1"), notes)
            # Ready once the first sample is in (/healthz needs no token).
            wait_for(lambda e=exp: e.get("/healthz")[0] == 200, timeout=timeout)
            return exp
        notes.append(line.rstrip("\n"))
    p.kill()
    rest = p.stderr.read() if p.stderr else ""
    raise AssertionError(f"exporter did not start (rc={p.wait()}): {rest}")


def stop(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p.stderr is not None:
        p.stderr.close()


@contextmanager
def exporter(args: Sequence[str], env: dict[str, str] | None = None) -> Iterator[Exporter]:
    exp = start_exporter(args, env)
    try:
        yield exp
    finally:
        stop(exp.proc)


def wait_for(predicate: object, timeout: float = 20.0, interval: float = 0.1) -> object:
    """Poll `predicate()` until it returns something truthy; returns it (or fails)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
