"""`vramtop` (the TUI), `vramtop --once [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from vramtop.commands._common import build_live_monitor, build_monitor, load_config
from vramtop.config import Config
from vramtop.errors import NoGPUError
from vramtop.export import json_stream, table

if TYPE_CHECKING:
    from vramtop.backends.remote import RemoteBackend


def register_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument("--json", action="store_true", help="with --once: print JSON")
    parser.add_argument(
        "--json-stream",
        action="store_true",
        help="print one JSON object per GPU per sample, one per line (for jq and log shippers)",
    )
    parser.add_argument(
        "--remote",
        action="append",
        metavar="HOST:PORT",
        help="fleet view: show the GPUs of another host's `vramtop export` (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    if args.json and not args.once:
        raise SystemExit("vramtop: --json needs --once (or use `vramtop replay FILE --jsonl`)")
    if args.json_stream and args.once:
        raise SystemExit("vramtop: --json-stream and --once exclude each other")
    holder = load_config(args)
    cfg = holder.config
    remote = bool(args.remote)
    monitor = (
        build_monitor(remote_backend(args.remote, cfg), cfg, enrich=False)
        if remote
        # `--once` (table or JSON) shows no PCIe throughput: do not wait ~40 ms for it.
        else build_live_monitor(cfg, holder, read_pcie=not args.once)
    )
    if args.once:
        info = monitor.open()
        try:
            frame = monitor.step()
        finally:
            monitor.close()
        show_others = cfg.display.show_other_users or remote
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
        monitor.open()
    except NoGPUError as e:
        if args.json_stream:
            raise
        message = f"{e.user_message()} Running the bundled demo recording instead."
        print(f"vramtop: {message}", file=sys.stderr)
        from vramtop.commands import replay

        return replay.run_demo(args, holder, notice=message)
    # Remote hosts' exporters already chose which processes to show.
    include_others = cfg.display.show_other_users or remote
    # Imported here: `--once` needs none of the exporter, CSV or webhook machinery.
    from vramtop.export.runner import attach, run_json_stream, tui_options

    options = tui_options(cfg, args.export_csv, include_others=include_others, webhooks=True)
    if args.json_stream:
        consumers = attach(monitor, cfg, options)
        try:
            holder.on_change(monitor.apply_config)
            holder.install_sighup()
            return run_json_stream(
                monitor, sys.stdout, include_others=include_others, on_reload=holder.poll
            )
        finally:
            consumers.close()
            monitor.close()
    consumers = attach(monitor, cfg, options, strict=False)
    try:
        from vramtop.ui.app import run_tui

        return run_tui(monitor, holder, args)
    finally:
        consumers.close()


def remote_backend(targets: list[str], cfg: Config) -> RemoteBackend:
    """The fleet view's backend; the bearer token (if any) authenticates to the hosts."""
    from vramtop.backends.remote import RemoteBackend
    from vramtop.secrets import load_secrets

    return RemoteBackend(
        targets,
        timeout_s=cfg.export.remote_timeout_s,
        retry_max_s=cfg.export.remote_retry_max_s,
        token=load_secrets().token,
    )
