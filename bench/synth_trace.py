"""Write a synthetic vramtop-trace v1 recording: many GPUs, many processes.

Synthetic, and labelled so in its header: for scale benchmarks only, never for
measuring OOM prediction.

    python bench/synth_trace.py OUT.jsonl --gpus 8 --processes 200 --samples 200
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

GIB = 1 << 30
TOTAL = 80 * GIB


def generate(out: Path, gpus: int, processes: int, samples: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    per_gpu = max(1, processes // gpus) if processes >= gpus else 1
    # Each process: base size, pattern and phase offset.
    procs = []
    for g in range(gpus):
        for i in range(per_gpu):
            pid = 10_000 + g * 1000 + i
            procs.append(
                {
                    "gpu": g,
                    "pid": pid,
                    "starttime": 50_000 + pid,
                    "base": rng.randint(200, 600) * (1 << 20),
                    "pattern": rng.choice(("stable", "stable", "sawtooth", "slow_growth")),
                    "offset": rng.random() * 10,
                }
            )
    header = {
        "format": "vramtop-trace",
        "version": 1,
        "start_unix": 1_800_000_000.0,
        "interval_s": 1.0,
        "driver": "synthetic",
        "nvml": "synthetic",
        "devices": [
            {"index": g, "name": "Synthetic GPU", "uuid": f"GPU-synth-{g:04d}", "memory_total": TOTAL}
            for g in range(gpus)
        ],
        "meta": {"scenario": "synthetic_scale", "synthetic": True, "expected": "no_oom"},
    }
    with out.open("w") as fh:
        fh.write(json.dumps(header) + "\n")
        for s in range(samples):
            devices = []
            for g in range(gpus):
                plist = []
                used = 0
                for p in procs:
                    if p["gpu"] != g:
                        continue
                    if p["pattern"] == "sawtooth":
                        v = p["base"] + int((s + p["offset"]) % 10) * 64 * (1 << 20)
                    elif p["pattern"] == "slow_growth":
                        v = p["base"] + s * (1 << 20)
                    else:
                        v = p["base"] + int(2 * (1 << 20) * math.sin(s / 7 + p["offset"]))
                    used += v
                    plist.append(
                        {"pid": p["pid"], "used": v, "type": "compute", "name": "python3",
                         "cmdline": ["python3", "worker.py", str(p["pid"])],
                         "starttime": p["starttime"], "uid": 0}
                    )
                devices.append(
                    {"index": g, "memory": {"total": TOTAL, "reserved": 512 << 20, "used": used,
                     "free": TOTAL - used - (512 << 20)}, "util": {"gpu": 50, "memory": 20},
                     "temp_c": 50, "power_mw": 300_000, "processes": plist}
                )
            fh.write(json.dumps({"t": float(s), "devices": devices}, separators=(",", ":")) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--processes", type=int, default=200, help="per GPU")
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    generate(args.out, args.gpus, args.processes * args.gpus, args.samples)


if __name__ == "__main__":
    main()
