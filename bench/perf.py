"""vramtop's cost, measured: engine sample, scale, --once, and peers side by side.

    python bench/perf.py                 # replay-based figures (no GPU needed)
    python bench/perf.py --live          # + live figures on a real NVIDIA GPU
    python bench/perf.py --live --peers  # + nvidia-smi, nvitop, gpustat, vramtop 0.1.0
    python bench/perf.py --json out.json

Medians of repeated runs; Python's perf_counter for time, psutil for CPU and RSS.
Figures from a recording are labelled "replay"; figures from NVML "live".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from synth_trace import generate  # noqa: E402

from vramtop import trace  # noqa: E402
from vramtop.backends.base import GPUBackend  # noqa: E402
from vramtop.backends.replay import ReplayBackend  # noqa: E402
from vramtop.config import Config  # noqa: E402
from vramtop.engine import Monitor  # noqa: E402
from vramtop.model import BackendInfo, MemorySnapshot  # noqa: E402


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    source: str
    target: str = ""
    met: bool | None = None


#: Wall seconds between live samples in the "cold" figures: long enough for the
#: CPU's caches to lose the monitor between samples, as they do at 1 Hz.
LIVE_PACE_S = 0.1


def median_ms(
    fn: Callable[[], object], repeat: int, warmup: int = 3, pace_s: float = 0.0
) -> float:
    """Median wall time of `fn` in ms; with `pace_s`, calls start that far apart."""
    for _ in range(warmup):
        fn()
    times = []
    next_at = time.perf_counter()
    for _ in range(repeat):
        if pace_s:
            next_at += pace_s
            time.sleep(max(0.0, next_at - time.perf_counter()))
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


# --- replay figures -------------------------------------------------------------------


def replay_scale(rows: list[Row], samples: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synth.jsonl"
        generate(path, gpus=8, processes=8 * 200, samples=200)
        tr = trace.read(path)
    backend = ReplayBackend(tr, step_s=1.0, loop=True)
    monitor = Monitor(backend, Config(), hostname="bench")
    monitor.open()
    step_ms = median_ms(monitor.step, repeat=200, warmup=20)
    rows.append(Row("engine sample, 8 GPUs x 200 processes", step_ms, "ms", "replay (synthetic)",
                    "< 20 ms", step_ms < 20))
    gc.collect()
    for _ in range(1000):
        monitor.step()
    gc.collect()
    rss_1k = rss_mb()
    for _ in range(samples - 1000):
        monitor.step()
    gc.collect()
    rss_end = rss_mb()
    growth = rss_end - rss_1k
    rows.append(Row(f"RSS growth, samples 1,000 -> {samples:,} (8x200)", growth, "MB",
                    "replay (synthetic)", "flat (< 5 MB)", growth < 5))


def replay_small(rows: list[Row]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "small.jsonl"
        for procs in (4, 16, 48):
            generate(path, gpus=1, processes=procs, samples=100)
            tr = trace.read(path)
            backend = ReplayBackend(tr, step_s=1.0, loop=True)
            monitor = Monitor(backend, Config(), hostname="bench")
            monitor.open()
            ms = median_ms(monitor.step, repeat=500, warmup=50)
            rows.append(Row(f"engine sample (analysis only), 1 GPU x {procs} processes", ms, "ms",
                            "replay (synthetic)"))


def replay_jsonl_throughput(rows: list[Row]) -> None:
    path = ROOT / "tests" / "fixtures" / "traces" / "linear_leak_150.jsonl"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "vramtop", "replay", str(path), "--jsonl"],
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    rows.append(Row(f"`vramtop replay --jsonl` of a {len(out.stdout.splitlines())}-sample recording",
                    wall * 1000, "ms", "replay"))


def startup(rows: list[Row]) -> None:
    t = median_ms(lambda: subprocess.run([sys.executable, "-m", "vramtop", "--version"],
                                         capture_output=True, check=True), repeat=5, warmup=1)
    rows.append(Row("`vramtop --version` wall time (interpreter + imports)", t, "ms", "replay"))


# --- live figures ---------------------------------------------------------------------

CHILD = r"""
import sys, time, torch
x = torch.empty(int(sys.argv[1]) * (1 << 20), dtype=torch.uint8, device="cuda")
print("ready", flush=True)
time.sleep(3600)
"""


def spawn_cuda_children(n: int, mib: int = 64) -> list[subprocess.Popen[str]]:
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(mib)], stdout=subprocess.PIPE,
                                 text=True) for _ in range(n)]
    for c in children:
        assert c.stdout is not None
        if c.stdout.readline().strip() != "ready":
            raise RuntimeError("a CUDA child failed to start")
    return children


def raw_nvml_ms(pace_s: float = 0.0) -> float:
    import pynvml

    print(f"raw NVML through {pynvml.__file__}", file=sys.stderr)
    pynvml.nvmlInit()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def sample() -> None:
        for h in handles:
            pynvml.nvmlDeviceGetMemoryInfo(h, version=pynvml.nvmlMemory_v2)
            pynvml.nvmlDeviceGetUtilizationRates(h)
            pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
            pynvml.nvmlDeviceGetPowerUsage(h)
            pynvml.nvmlDeviceGetComputeRunningProcesses(h)
            pynvml.nvmlDeviceGetGraphicsRunningProcesses(h)

    try:
        return median_ms(sample, repeat=200 if not pace_s else 100, warmup=10, pace_s=pace_s)
    finally:
        pynvml.nvmlShutdown()


class OneHertzClock(GPUBackend):
    """A live backend whose samples are stamped one second apart (the default
    refresh) however fast they are taken: back-to-back steps then measure a warm
    CPU, as the raw NVML figure does, with the analysis windows a user has."""

    def __init__(self, inner: GPUBackend) -> None:
        self.inner = inner
        self.n = 0

    def open(self) -> BackendInfo:
        return self.inner.open()

    def sample(self) -> MemorySnapshot:
        self.n += 1
        return replace(self.inner.sample(), t=float(self.n))

    def close(self) -> None:
        self.inner.close()


def live_engine_ms(pace_s: float = 0.0) -> float:
    """A full engine sample (NVML, enrichment, analysis). Back to back on a 1 Hz
    virtual clock, or (`pace_s`) with samples that far apart in wall time."""
    from vramtop.commands._common import build_monitor, live_backend

    backend = live_backend() if pace_s else OneHertzClock(live_backend())
    monitor = build_monitor(backend, Config())
    monitor.open()
    try:
        return median_ms(monitor.step, repeat=200 if not pace_s else 100, warmup=10, pace_s=pace_s)
    finally:
        monitor.close()


def peers(rows: list[Row], n: int) -> None:
    smi = median_ms(lambda: subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used,memory.total,utilization.gpu,temperature.gpu,"
         "power.draw", "--format=csv"], capture_output=True, check=True), repeat=10, warmup=1)
    rows.append(Row(f"peer: nvidia-smi --query-gpu, {n} processes", smi, "ms", "live"))
    try:
        from nvitop import Device, GpuProcess

        def nvitop_sample() -> None:
            for d in Device.all():
                d.as_snapshot()
                GpuProcess.take_snapshots(d.processes().values(), failsafe=True)

        rows.append(Row(f"peer: nvitop snapshot, {n} processes", median_ms(nvitop_sample, 20, 2),
                        "ms", "live"))
    except ImportError:
        rows.append(Row("peer: nvitop (not installed)", float("nan"), "ms", "live"))
    try:
        import gpustat

        rows.append(Row(f"peer: gpustat new_query(), {n} processes",
                        median_ms(gpustat.new_query, 20, 2), "ms", "live"))
    except ImportError:
        rows.append(Row("peer: gpustat (not installed)", float("nan"), "ms", "live"))
    # vramtop 0.1.0 unpacked where bench/oom_accuracy.py looks for it too
    # (pip install --no-deps --target build/vramtop-0.1.0 vramtop==0.1.0).
    default_010 = ROOT / "build" / "vramtop-0.1.0"
    old = os.environ.get("VRAMTOP_010_PATH") or (
        str(default_010) if (default_010 / "vramtop").is_dir() else None
    )
    if old:
        code = (
            "import sys, time, statistics; sys.path.insert(0, sys.argv[1]);"
            "from vramtop.backends.nvidia import NVMLClient; c = NVMLClient(); c.initialize();"
            "[c.snapshot() for _ in range(5)]; ts = []\n"
            "for _ in range(100):\n t = time.perf_counter(); c.snapshot(); ts.append(time.perf_counter() - t)\n"
            "print(statistics.median(ts) * 1000)"
        )
        out = subprocess.run([sys.executable, "-c", code, old], capture_output=True, text=True)
        value = float(out.stdout.strip()) if out.returncode == 0 else float("nan")
        rows.append(Row(f"peer: vramtop 0.1.0 backend snapshot, {n} processes", value, "ms", "live"))
    else:
        rows.append(Row("peer: vramtop 0.1.0 (not in build/vramtop-0.1.0 nor VRAMTOP_010_PATH)",
                        float("nan"), "ms", "live"))


def live(rows: list[Row], with_peers: bool) -> None:
    once = median_ms(lambda: subprocess.run([sys.executable, "-m", "vramtop", "--once"],
                                            capture_output=True, check=True), repeat=5, warmup=1)
    rows.append(Row("`vramtop --once` wall time", once, "ms", "live", "< 500 ms", once < 500))
    for n in (4, 48):
        children = spawn_cuda_children(n)
        try:
            raw = raw_nvml_ms()
            eng = live_engine_ms()
            rows.append(Row(f"raw NVML sample, {n} processes", raw, "ms", "live"))
            target = "< 0.5 ms" if n == 4 else f"<= 2x raw ({2 * raw:.2f} ms)"
            met = eng < 0.5 if n == 4 else eng <= 2 * raw
            rows.append(Row(f"vramtop engine sample, {n} processes", eng, "ms", "live", target, met))
            # The same, each sample 0.1 s after the last: a CPU gone cold between samples.
            raw_cold = raw_nvml_ms(LIVE_PACE_S)
            eng_cold = live_engine_ms(LIVE_PACE_S)
            rows.append(Row(f"raw NVML sample, {n} processes, 0.1 s apart", raw_cold, "ms", "live"))
            rows.append(Row(f"vramtop engine sample, {n} processes, 0.1 s apart", eng_cold, "ms",
                            "live"))
            if with_peers:
                # In a child process: nvitop patches functions of the pynvml module it
                # imports, which would change every later figure of this process.
                out = subprocess.run([sys.executable, __file__, "--peers-only", str(n)],
                                     capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(out.stderr, file=sys.stderr)
                rows.extend(Row(**r) for r in json.loads(out.stdout or "[]"))
        finally:
            for c in children:
                c.kill()
            for c in children:
                c.wait()


def print_table(rows: list[Row]) -> None:
    w = max(len(r.figure) for r in rows)
    print(f"{'figure':<{w}}  {'value':>10}  {'unit':<4}  {'source':<18}  {'target':<22}  met")
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "NO")
        print(f"{r.figure:<{w}}  {r.value:>10.3f}  {r.unit:<4}  {r.source:<18}  {r.target:<22}  {met}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--live", action="store_true", help="also measure on a real GPU")
    ap.add_argument("--peers", action="store_true", help="with --live: peers side by side")
    ap.add_argument("--samples", type=int, default=10_000, help="scale run length")
    ap.add_argument("--json", type=Path, help="write the rows as JSON")
    ap.add_argument("--peers-only", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    rows: list[Row] = []
    if args.peers_only is not None:
        peers(rows, args.peers_only)
        print(json.dumps([asdict(r) for r in rows]))
        return
    replay_small(rows)
    replay_scale(rows, args.samples)
    replay_jsonl_throughput(rows)
    startup(rows)
    if args.live:
        live(rows, args.peers)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
