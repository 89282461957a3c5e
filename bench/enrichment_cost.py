"""What enrichment costs per sample with N live GPU-like processes.

Starts N real child processes (default 100): each has a .safetensors and a
.gguf file open and a .bin file memory-mapped (fd closed, as safetensors does);
`--torch K` of them also import torch, so their /proc/<pid>/maps is the size of
a real PyTorch process's. Then it measures ProcessEnricher.enrich() over all of
them, with its default augmenter (deep-mode socket look-ups, once a second per
process) on the simulated clock:

- first sample: a fresh enricher (every identity read in full), median of
  `--first-reps` fresh enrichers;
- steady state: one enricher sampled `--samples` times at a simulated 1 s
  refresh; open files are re-read every `fd_refresh_s` (5 s) and maps every
  `maps_refresh_s` (60 s), so the samples that refresh are reported apart.

    python bench/enrichment_cost.py [--procs 100] [--torch 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vramtop.enrichment import EnrichmentSettings, ProcessEnricher
from vramtop.enrichment.deep import DeepAugmenter, DeepCollector
from vramtop.model import GPUProcess
from vramtop.procfs import ProcFS

CHILD = r"""
import ctypes, os, sys
if sys.argv[1] == "torch":
    import torch
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
a = open(sys.argv[2], "rb"); b = open(sys.argv[3], "rb")
fd = os.open(sys.argv[4], os.O_RDONLY)
libc.mmap(None, os.fstat(fd).st_size, 1, 2, fd, 0)
os.close(fd)
print("ready", flush=True)
sys.stdin.read()
"""


def _files(tmp: Path) -> list[Path]:
    out = []
    for name, size in (
        ("model.safetensors", 64 << 20),
        ("model.gguf", 32 << 20),
        ("pytorch_model.bin", 16 << 20),
    ):
        p = tmp / name
        with p.open("wb") as fh:
            fh.truncate(size)
        out.append(p)
    return out


def start_children(n: int, n_torch: int, files: list[Path]) -> list[subprocess.Popen[str]]:
    procs = []
    for i in range(n):
        kind = "torch" if i < n_torch else "plain"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", CHILD, kind, *map(str, files)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        assert p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            raise SystemExit(f"child {p.pid} did not start")
    return procs


def stop_children(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.stdin:
            p.stdin.close()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def measure(gpu_procs: list[GPUProcess], first_reps: int, samples: int) -> dict[str, Any]:
    settings = EnrichmentSettings(host_proc="none")
    clock = {"now": 0.0}

    def fresh() -> ProcessEnricher:
        # The default augmenters (deep mode), on the simulated clock so that their
        # once-a-second re-checks happen in the steady state as they would live.
        deep = DeepAugmenter(DeepCollector(procfs=ProcFS(), clock=lambda: clock["now"]))
        return ProcessEnricher(settings, augmenters=[deep])

    first_ms = []
    enricher = fresh()
    for _ in range(first_reps):
        enricher = fresh()
        t0 = time.perf_counter()
        infos = enricher.enrich(gpu_procs, 0.0)
        first_ms.append((time.perf_counter() - t0) * 1e3)
    readable = sum(1 for i in infos.values() if i.readable)
    files_ok = sum(1 for i in infos.values() if len(i.model_files) == 3)
    frameworks: dict[str, int] = {}
    for i in infos.values():
        key = i.framework or "none"
        frameworks[key] = frameworks.get(key, 0) + 1

    quiet: list[float] = []
    fd_refresh: list[float] = []
    maps_refresh: list[float] = []
    for k in range(1, samples + 1):
        now = clock["now"] = float(k)
        t0 = time.perf_counter()
        enricher.enrich(gpu_procs, now)
        ms = (time.perf_counter() - t0) * 1e3
        if settings.maps_refresh_s and k % int(settings.maps_refresh_s) == 0:
            maps_refresh.append(ms)
        elif k % int(settings.fd_refresh_s) == 0:
            fd_refresh.append(ms)
        else:
            quiet.append(ms)
    all_steady = quiet + fd_refresh + maps_refresh
    return {
        "first_sample_ms": {
            "median": statistics.median(first_ms),
            "min": min(first_ms),
            "max": max(first_ms),
            "reps": first_reps,
        },
        "steady_ms": {
            "median": statistics.median(all_steady),
            "mean": statistics.fmean(all_steady),
            "p95": pct(all_steady, 0.95),
            "max": max(all_steady),
            "samples": len(all_steady),
        },
        "steady_no_refresh_ms": {"median": statistics.median(quiet), "samples": len(quiet)},
        "steady_fd_refresh_ms": {
            "median": statistics.median(fd_refresh) if fd_refresh else None,
            "samples": len(fd_refresh),
        },
        "steady_maps_refresh_ms": {
            "median": statistics.median(maps_refresh) if maps_refresh else None,
            "samples": len(maps_refresh),
        },
        "readable": readable,
        "with_all_3_model_files": files_ok,
        "frameworks": frameworks,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=100, help="live child processes (default 100)")
    ap.add_argument(
        "--torch",
        type=int,
        default=0,
        metavar="K",
        help="how many of them import torch (default 0)",
    )
    ap.add_argument("--first-reps", type=int, default=5, help="fresh enrichers timed")
    ap.add_argument("--samples", type=int, default=120, help="steady-state samples (1 s apart)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args()
    if args.torch and importlib.util.find_spec("torch") is None:
        raise SystemExit("--torch needs torch installed (pip install torch==2.13.0)")
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp))
        t0 = time.perf_counter()
        procs = start_children(args.procs, min(args.torch, args.procs), files)
        started_s = time.perf_counter() - t0
        try:
            procfs = ProcFS()
            gpu_procs = [GPUProcess(p.pid, procfs.starttime(p.pid), 1 << 30) for p in procs]
            maps_sizes = [len(procfs.maps(p.pid) or "") for p in procs]
            result = measure(gpu_procs, args.first_reps, args.samples)
        finally:
            stop_children(procs)
    result.update(
        procs=args.procs,
        torch_procs=min(args.torch, args.procs),
        maps_bytes_median=statistics.median(maps_sizes),
        maps_bytes_max=max(maps_sizes),
        children_start_s=round(started_s, 2),
        python=platform.python_version(),
        cpus=os.cpu_count(),
        kernel=platform.release(),
    )
    f, s = result["first_sample_ms"], result["steady_ms"]
    rows = [
        ("first sample (fresh enricher)", f"{f['median']:.1f}", f"{f['median'] / args.procs:.3f}"),
        ("steady state, all samples", f"{s['median']:.2f}", f"{s['median'] / args.procs:.4f}"),
        ("  of which: no refresh", f"{result['steady_no_refresh_ms']['median']:.2f}", ""),
        (
            "  of which: fd refresh (every 5 s)",
            f"{result['steady_fd_refresh_ms']['median']:.1f}",
            "",
        ),
        (
            "  of which: maps refresh (every 60 s)",
            f"{result['steady_maps_refresh_ms']['median']:.1f}"
            if result["steady_maps_refresh_ms"]["median"] is not None
            else "-",
            "",
        ),
        ("steady state p95 / max", f"{s['p95']:.1f} / {s['max']:.1f}", ""),
    ]
    print(
        f"enrichment cost, {args.procs} live processes ({result['torch_procs']} with torch; "
        f"maps median {result['maps_bytes_median'] / 1024:.0f} KiB, max "
        f"{result['maps_bytes_max'] / 1024:.0f} KiB), python {result['python']}, "
        f"{result['cpus']} CPUs"
    )
    print(f"{'':40} {'median ms':>14} {'ms/process':>11}")
    for label, ms, per in rows:
        print(f"{label:40} {ms:>14} {per:>11}")
    print(
        f"readable {result['readable']}/{args.procs}, all 3 model files found in "
        f"{result['with_all_3_model_files']}, frameworks {result['frameworks']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
