"""The composition root: parse arguments, load config, build the engine, start a front end.

Each subcommand lives in `vramtop.commands.<name>` with `register()` and `run()`.
The UI is imported lazily, only by the commands that show it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from vramtop import __version__, resident

# Before the imports below allocate and free their first large blocks (vramtop.resident).
resident.map_large_blocks()

from vramtop.commands import export, inspect, live, record, replay, wrap  # noqa: E402
from vramtop.errors import VramtopError  # noqa: E402

COMMANDS = (record, replay, wrap, inspect, export)

# `demo` is registered by the replay module.


def common_options(*, for_subcommand: bool = False) -> argparse.ArgumentParser:
    """Flags accepted before and after the subcommand.

    A subcommand's copy suppresses defaults so that `vramtop --config X replay F`
    keeps the X given before the subcommand.
    """
    common = argparse.ArgumentParser(
        add_help=False, argument_default=argparse.SUPPRESS if for_subcommand else None
    )
    flag_default: object = argparse.SUPPRESS if for_subcommand else False
    common.add_argument(
        "--config", metavar="PATH", help="config file (default: ~/.config/vramtop/config.toml)"
    )
    common.add_argument(
        "--refresh-rate", type=float, metavar="S", help="seconds between samples (0.5..10)"
    )
    common.add_argument(
        "--no-kill", action="store_true", default=flag_default, help="disable the kill action"
    )
    common.add_argument(
        "--accessible",
        action="store_true",
        default=flag_default,
        help="every colour-coded fact also as text",
    )
    common.add_argument(
        "--theme",
        choices=("dark", "light", "nord", "catppuccin", "dracula", "solarized"),
        help="colour theme",
    )
    common.add_argument("--export-csv", metavar="FILE", help="log every sample to a CSV file")
    common.add_argument(
        "--debug", action="store_true", default=flag_default, help="debug logging to stderr"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="vramtop",
        description="The htop of GPU memory: who uses VRAM, what they are, "
        "how their memory moves, and OOM warnings before they happen.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"vramtop {__version__}")
    live.register_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub_common = common_options(for_subcommand=True)
    for module in COMMANDS:
        module.register(sub, sub_common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="vramtop: %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command is None:
            return live.run(args)
        module = next(m for m in COMMANDS if args.command in getattr(m, "NAMES", (m.NAME,)))
        result: int = module.run(args)
        return result
    except VramtopError as e:
        print(f"vramtop: {e.user_message()}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `vramtop ... | head`: the reader left; exit quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
