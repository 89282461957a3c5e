"""Where a live engine sample's time goes, on a real NVIDIA GPU.

    python bench/live_breakdown.py [--procs 4 48] [--json out.json] [--profile out.txt]

For each number of small CUDA processes (children holding 64 MiB each) it
prints the median cost of every NVML call the backend makes, of the backend's
`sample()`, of the identity checks in /proc, of enrichment, of analysis (the
engine without enrichment on the same live backend) and of the whole
`Monitor.step()`, back to back on a 1 Hz virtual clock (perf.OneHertzClock).
With `--profile`, a cProfile of 300 full steps (largest process count) goes to
that file, sorted by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from perf import OneHertzClock, Row, median_ms, print_table, spawn_cuda_children  # noqa: E402

from vramtop.commands._common import build_enricher, build_monitor, live_backend  # noqa: E402
from vramtop.config import Config  # noqa: E402
from vramtop.procfs import ProcFS  # noqa: E402

REPEAT = 300


def nvml_calls(rows: list[Row], n: int) -> None:
    """Each NVML function the backend calls, alone, for GPU 0."""
    import pynvml

    pynvml.nvmlInit()
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        calls: dict[str, Any] = {
            "memory info v2": lambda: pynvml.nvmlDeviceGetMemoryInfo(
                h, version=pynvml.nvmlMemory_v2
            ),
            "utilization": lambda: pynvml.nvmlDeviceGetUtilizationRates(h),
            "temperature (V)": lambda: pynvml.nvmlDeviceGetTemperatureV(
                h, pynvml.NVML_TEMPERATURE_GPU
            ),
            "temperature": lambda: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
            "power usage": lambda: pynvml.nvmlDeviceGetPowerUsage(h),
            "enforced power limit": lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(h),
            "SM clock": lambda: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
            "memory clock": lambda: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
            "MIG mode": lambda: pynvml.nvmlDeviceGetMigMode(h),
            "compute processes": lambda: pynvml.nvmlDeviceGetComputeRunningProcesses(h),
            "graphics processes": lambda: pynvml.nvmlDeviceGetGraphicsRunningProcesses(h),
            "MPS processes": lambda: pynvml.nvmlDeviceGetMPSComputeRunningProcesses(h),
        }
        for name, fn in calls.items():
            try:
                value = median_ms(fn, REPEAT, 10) * 1000
            except pynvml.NVMLError as e:
                print(f"{name}: {e}", file=sys.stderr)
                continue
            rows.append(Row(f"NVML {name}, {n} processes", value, "us", "live"))
    finally:
        pynvml.nvmlShutdown()


def pipeline(rows: list[Row], n: int, pids: list[int]) -> None:
    cfg = Config()
    backend = live_backend()
    backend.open()
    try:
        rows.append(
            Row(
                f"backend.sample(), {n} processes",
                median_ms(backend.sample, REPEAT, 10),
                "ms",
                "live",
            )
        )
    finally:
        backend.close()
    procfs = ProcFS()
    rows.append(
        Row(
            f"/proc/<pid>/stat starttime x{n}",
            median_ms(lambda: [procfs.starttime(p) for p in pids], REPEAT, 10),
            "ms",
            "live",
        )
    )
    enricher = build_enricher(cfg)
    backend = live_backend(enricher)
    backend.open()
    try:
        procs = [p for d in backend.sample().devices for p in d.processes]
        clock = [0.0]

        def enrich() -> None:
            clock[0] += 1.0  # one sample a second: fd and maps refreshes at their real rate
            enricher.enrich(procs, clock[0])

        rows.append(
            Row(
                f"enrichment (1 Hz clock), {n} processes",
                median_ms(enrich, REPEAT, 10),
                "ms",
                "live",
            )
        )
    finally:
        backend.close()
        enricher.close()
    bare = build_monitor(OneHertzClock(live_backend()), cfg, enrich=False)
    bare.open()
    try:
        rows.append(
            Row(
                f"engine step without enrichment, {n} processes",
                median_ms(bare.step, REPEAT, 10),
                "ms",
                "live",
            )
        )
    finally:
        bare.close()
    full = build_monitor(OneHertzClock(live_backend()), cfg)
    full.open()
    try:
        steps = []
        for _ in range(60):
            t0 = time.perf_counter()
            full.step()
            steps.append((time.perf_counter() - t0) * 1000)
        print(f"full steps, {n} processes (ms, in order):", " ".join(f"{x:.2f}" for x in steps))
        rows.append(
            Row(
                f"engine step (full), {n} processes",
                median_ms(full.step, REPEAT, 10),
                "ms",
                "live",
            )
        )
    finally:
        full.close()


def profile(path: Path) -> None:
    monitor = build_monitor(OneHertzClock(live_backend()), Config())
    monitor.open()
    try:
        for _ in range(10):
            monitor.step()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(300):
            monitor.step()
        prof.disable()
    finally:
        monitor.close()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(45)
    path.write_text(out.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--procs", type=int, nargs="+", default=[4, 48])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args()
    rows: list[Row] = []
    for n in args.procs:
        children = spawn_cuda_children(n)
        try:
            nvml_calls(rows, n)
            pipeline(rows, n, [c.pid for c in children])
            if args.profile and n == max(args.procs):
                profile(args.profile)
        finally:
            for c in children:
                c.kill()
            for c in children:
                c.wait()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))


if __name__ == "__main__":
    main()
