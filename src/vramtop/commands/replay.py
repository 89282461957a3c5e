"""`vramtop replay FILE` (TUI or `--jsonl`) and `vramtop demo`."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from vramtop import trace
from vramtop.backends.replay import ReplayBackend
from vramtop.commands._common import build_monitor, load_config, read_recording
from vramtop.config import ConfigHolder
from vramtop.errors import TraceError
from vramtop.export import json_stream

NAME = "replay"
DEMO = "demo"
NAMES = (NAME, DEMO)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        NAME,
        parents=[common],
        help="replay a recording (TUI, or headless with --jsonl)",
        description="Drive vramtop from a vramtop-trace recording.",
    )
    p.add_argument("file", metavar="FILE", help="a vramtop-trace v1 recording")
    p.add_argument("--jsonl", action="store_true", help="headless: print the JSON stream and exit")
    p.add_argument(
        "--rate",
        type=float,
        metavar="HZ",
        help="samples per recording-second (default: 1/refresh_rate, i.e. 1 Hz)",
    )
    p.add_argument(
        "--speed", type=float, default=1.0, metavar="N", help="TUI playback speed (default 1)"
    )
    p.add_argument("--loop", action="store_true", help="TUI: start again at the end")
    d = sub.add_parser(
        DEMO,
        parents=[common],
        help="replay the bundled demo recording",
        description="The TUI driven by a real H100 recording shipped with vramtop.",
    )
    d.set_defaults(file=None, jsonl=False, rate=None, speed=1.0, loop=True)


def demo_path() -> Path:
    return Path(str(resources.files("vramtop").joinpath("data/demo.jsonl")))


def run(args: argparse.Namespace) -> int:
    holder = load_config(args)
    if args.command == DEMO:
        return run_demo(args, holder)
    if args.rate is not None and not 0.01 <= args.rate <= 1000:
        raise TraceError(f"--rate {args.rate}: must be between 0.01 and 1000 Hz")
    if not 0.1 <= args.speed <= 1000:
        raise TraceError(f"--speed {args.speed}: must be between 0.1 and 1000")
    tr = read_recording(args.file)
    if args.jsonl:
        return run_jsonl(tr, holder, args.rate, csv_path=getattr(args, "export_csv", None))
    return run_replay_tui(tr, holder, args, speed=args.speed, loop=args.loop, notice=tr.cut_notice)


def run_jsonl(
    tr: trace.Trace, holder: ConfigHolder, rate: float | None, *, csv_path: str | None = None
) -> int:
    cfg = holder.config
    step = 1.0 / rate if rate else cfg.general.refresh_rate
    backend = ReplayBackend(tr, step_s=step)
    monitor = build_monitor(backend, cfg, enrich=False)
    monitor.open()
    from vramtop.export.runner import ExportOptions, attach  # only replay's paths need it

    consumers = attach(monitor, cfg, ExportOptions(csv_path=csv_path, webhooks=False))
    out = sys.stdout
    try:
        while True:
            frame = monitor.step()
            json_stream.write_frame(out, frame)
            if backend.at_end:
                break
    finally:
        consumers.close()
    return 0


def run_demo(args: argparse.Namespace, holder: ConfigHolder, notice: str | None = None) -> int:
    """The bundled recording in the TUI; `notice` says why (shown in the app too)."""
    tr = trace.read(demo_path())
    speed = getattr(args, "speed", 1.0) or 1.0
    return run_replay_tui(tr, holder, args, speed=speed, loop=True, notice=notice)


def run_replay_tui(
    tr: trace.Trace,
    holder: ConfigHolder,
    args: argparse.Namespace,
    *,
    speed: float,
    loop: bool,
    notice: str | None = None,
) -> int:
    cfg = holder.config
    backend = ReplayBackend(tr, step_s=cfg.general.refresh_rate * speed, loop=loop)
    monitor = build_monitor(backend, cfg, enrich=False)
    monitor.open()
    if notice:
        monitor.add_notice(notice)
    # A recording sends no webhooks: its alerts are not happening now.
    from vramtop.export.runner import attach, tui_options  # only replay's paths need it

    options = tui_options(
        cfg, getattr(args, "export_csv", None), include_others=True, webhooks=False
    )
    consumers = attach(monitor, cfg, options, strict=False)
    try:
        from vramtop.ui.app import run_tui

        return run_tui(monitor, holder, args)
    finally:
        consumers.close()
