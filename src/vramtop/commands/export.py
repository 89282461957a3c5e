"""`vramtop export`: the headless exporter (Prometheus /metrics, /api/frame, /healthz)."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from types import FrameType

from vramtop.errors import ExportError, TraceError
from vramtop.export import DEFAULT_PORT

NAME = "export"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        NAME,
        parents=[common],
        help="headless exporter: Prometheus /metrics, /api/frame, /healthz",
        description=(
            "Serve Prometheus metrics, the latest frame as JSON and a health check over "
            f"HTTP (default 127.0.0.1:{DEFAULT_PORT}). Binding beyond loopback needs a "
            "bearer token (VRAMTOP_TOKEN or `token` in ~/.config/vramtop/secrets.toml)."
        ),
    )
    p.add_argument(
        "--bind",
        metavar="ADDR",
        help="listen address (default: [export] prometheus_bind, 127.0.0.1)",
    )
    p.add_argument(
        "--port",
        type=int,
        metavar="PORT",
        help=f"listen port (default: [export] prometheus_port if set, else {DEFAULT_PORT})",
    )
    p.add_argument("--replay", metavar="FILE", help="serve a recording instead of the live GPUs")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="N",
        help="with --replay: play N times faster than real time (default 1)",
    )
    p.add_argument("--loop", action="store_true", help="with --replay: start again at the end")
    p.add_argument(
        "--dcgm-names",
        action="store_true",
        help="also emit DCGM_FI_DEV_FB_USED/FREE/RESERVED (MiB) with dcgm-exporter's labels",
    )
    p.add_argument(
        "--no-webhooks", action="store_true", help="do not send alert webhooks from this exporter"
    )


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `vramtop --once` and the other commands do not
    # pay for prometheus_client and the exporter at start-up.
    from vramtop.backends.replay import ReplayBackend
    from vramtop.commands._common import (
        build_live_monitor,
        build_monitor,
        load_config,
        read_recording,
    )
    from vramtop.export.prometheus import require_token_off_loopback
    from vramtop.export.runner import ExportOptions, attach, run_headless
    from vramtop.secrets import load_secrets

    holder = load_config(args)
    cfg = holder.config
    bind = args.bind or cfg.export.prometheus_bind
    port = args.port if args.port is not None else (cfg.export.prometheus_port or DEFAULT_PORT)
    if not 0 <= port <= 65535:
        raise ExportError(f"--port {port}: must be 0..65535")
    if args.bind is not None and bind != "localhost":
        # Same rule as the config key: an IP address or `localhost`.
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise ExportError(f"--bind {bind!r}: not an IP address") from None
    if args.replay is None and (args.speed != 1.0 or args.loop):
        raise ExportError("--speed and --loop need --replay FILE")
    secrets = load_secrets()
    # Checked before the GPUs are opened, so the refusal is the only message.
    require_token_off_loopback(bind, secrets.token)
    replay = args.replay is not None
    if replay:
        if not 0.1 <= args.speed <= 1000:
            raise TraceError(f"--speed {args.speed}: must be between 0.1 and 1000")
        tr = read_recording(args.replay)
        backend = ReplayBackend(tr, step_s=cfg.general.refresh_rate, loop=args.loop)
        monitor = build_monitor(backend, cfg, enrich=False)
        monitor.pace_s = cfg.general.refresh_rate / args.speed
    else:
        monitor = build_live_monitor(cfg, holder)
    info = monitor.open()
    holder.on_change(monitor.apply_config)
    holder.install_sighup()
    options = ExportOptions(
        csv_path=args.export_csv,
        port=port,
        bind=bind,
        dcgm_names=args.dcgm_names,
        webhooks=not args.no_webhooks,
        include_others=replay or cfg.display.show_other_users,
        driver=info.driver_version,
    )
    try:
        consumers = attach(monitor, cfg, options, secrets=secrets)
    except BaseException:
        monitor.close()
        raise
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    assert consumers.exporter is not None
    extras = []
    if consumers.csv is not None:
        extras.append(f"CSV to {consumers.csv.path}")
    if consumers.webhook is not None:
        extras.append("webhooks on")
    print(
        f"vramtop: exporting on {consumers.exporter.url} (/metrics /api/frame /healthz)"
        + (f"; {', '.join(extras)}" if extras else "")
        + "; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        return run_headless(monitor, stop, on_reload=holder.poll)
    finally:
        consumers.close()
