"""`vramtop record FILE`: write NVML samples to a vramtop-trace v1 recording."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from vramtop import trace
from vramtop.backends.base import GPUBackend
from vramtop.commands._common import build_enricher, live_backend, load_config
from vramtop.errors import TraceError

NAME = "record"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        NAME,
        parents=[common],
        help="record GPU memory samples to a file",
        description="Record NVML samples to a vramtop-trace v1 file until Ctrl-C or --duration.",
    )
    p.add_argument("file", metavar="FILE", help="output file (.jsonl; .jsonl.gz compresses it)")
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between samples (default 1)",
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--scenario", metavar="NAME", help="label stored in the header's meta")
    p.add_argument("--expected", choices=("oom", "no_oom"), help="known outcome, stored in meta")


def record(
    backend: GPUBackend,
    path: Path,
    *,
    interval_s: float,
    duration_s: float | None,
    stop: threading.Event,
    meta: dict[str, object] | None = None,
    on_start: Callable[[], None] | None = None,
) -> int:
    """Record until `stop` is set or `duration_s` passes; returns the number of samples.
    `on_start` is called once the first sample is written (the GPU answered)."""
    info = backend.open()
    try:
        first = backend.sample()
        start_unix = first.unix_time
        start_mono = time.monotonic()
        with trace.create_text(path) as fh:
            writer = trace.TraceWriter(fh)
            writer.write(
                trace.header_dict(
                    start_unix,
                    interval_s,
                    first.devices,
                    driver=info.driver_version,
                    nvml=info.nvml_version,
                    meta=meta,
                )
            )
            writer.write(trace.sample_dict(first, 0.0))
            if on_start is not None:
                on_start()
            count = 1
            next_due = start_mono + interval_s
            while not stop.is_set():
                if duration_s is not None and time.monotonic() - start_mono >= duration_s:
                    break
                if stop.wait(max(0.0, next_due - time.monotonic())):
                    break
                next_due += interval_s
                snap = backend.sample()
                writer.write(trace.sample_dict(snap, time.monotonic() - start_mono))
                count += 1
        return count
    finally:
        backend.close()


def run(args: argparse.Namespace) -> int:
    if not 0.01 <= args.interval <= 3600:
        raise TraceError(f"--interval {args.interval}: must be between 0.01 and 3600 seconds")
    if args.duration is not None and args.duration <= 0:
        raise TraceError(f"--duration {args.duration}: must be positive")
    path = Path(args.file)
    if path.exists() and not args.force:
        raise TraceError(f"{path}: exists (use --force to overwrite)")
    if not path.parent.exists() or not os.access(path.parent, os.W_OK):
        raise TraceError(f"{path.parent}: directory missing or not writable")
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    meta: dict[str, object] = {}
    if args.scenario:
        meta["scenario"] = args.scenario
    if args.expected:
        meta["expected"] = args.expected
    backend = live_backend(build_enricher(load_config(args).config))

    def started() -> None:
        note = f"vramtop: recording to {path} every {args.interval:g}s; Ctrl-C stops"
        print(note, file=sys.stderr)

    n = record(
        backend,
        path,
        interval_s=args.interval,
        duration_s=args.duration,
        stop=stop,
        meta=meta,
        on_start=started,
    )
    print(f"vramtop: wrote {n} samples to {path}", file=sys.stderr)
    return 0
