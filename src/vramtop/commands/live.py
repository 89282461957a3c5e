"""`vramtop` (the TUI), `vramtop --once [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from vramtop.commands._common import build_monitor, live_backend, load_config
from vramtop.errors import NoGPUError
from vramtop.export import json_stream, table


def register_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument("--json", action="store_true", help="with --once: print JSON")


def run(args: argparse.Namespace) -> int:
    if args.json and not args.once:
        raise SystemExit("vramtop: --json needs --once (or use `vramtop replay FILE --jsonl`)")
    holder = load_config(args)
    cfg = holder.config
    backend = live_backend()
    if args.once:
        monitor = build_monitor(backend, cfg)
        info = monitor.open()
        try:
            frame = monitor.step()
        finally:
            monitor.close()
        show_others = cfg.display.show_other_users
        if args.json:
            obj = json_stream.snapshot_dict(
                frame, include_others=show_others, driver=info.driver_version
            )
            sys.stdout.write(json.dumps(obj, indent=2) + "\n")
        else:
            sys.stdout.write(table.render(frame, show_other_users=show_others))
        sys.stdout.flush()
        return 0
    try:
        monitor = build_monitor(backend, cfg)
        monitor.open()
    except NoGPUError as e:
        print(
            f"vramtop: {e.user_message()} Running the bundled demo recording instead.",
            file=sys.stderr,
        )
        from vramtop.commands import replay

        return replay.run_demo(args, holder)
    from vramtop.ui.app import run_tui

    return run_tui(monitor, holder, args)
