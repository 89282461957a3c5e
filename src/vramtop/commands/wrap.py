"""`vramtop wrap -- CMD [ARGS...]`: run CMD with deep-mode reporting switched on.

Like `ddtrace-run` and `opentelemetry-instrument`: the command's environment
gets VRAMTOP_REPORT=1 and vramtop's `sitecustomize` directory in front of
PYTHONPATH; every Python process started under it then begins reporting as soon
as it imports torch, with no change to its code. Then vramtop *replaces itself*
with CMD (exec): the PID is the program's own, signals reach it directly, and
its exit status (including death by a signal) is the one the caller sees. A
non-Python CMD runs unchanged; Python programs it starts are covered too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import vramtop
from vramtop.errors import VramtopError

NAME = "wrap"
SITE_DIR = Path(__file__).resolve().parent.parent / "reporter" / "sitecustomize"


class WrapError(VramtopError):
    title = "wrap"
    exit_code = 126  # the shell's "found but cannot execute"


class WrapUsageError(WrapError):
    exit_code = 2


class CommandNotFoundError(WrapError):
    exit_code = 127  # the shell's "command not found"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        NAME,
        help="run a command with deep-mode reporting on",
        description="Run CMD with deep-mode reporting on (VRAMTOP_REPORT=1): every Python "
        "process under it serves its PyTorch allocator statistics to vramtop once it imports "
        "torch. No change to the program's code; exit status and signals are the program's.",
        usage="vramtop wrap [--debug] -- CMD [ARGS...]",
    )
    p.add_argument(
        "--debug", action="store_true", help="print the reporter's diagnostics to stderr"
    )
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="the command to run")


def child_env(base: Mapping[str, str], *, debug: bool = False) -> dict[str, str]:
    """`base` plus what turns reporting on in every Python process started with it."""
    env = dict(base)
    env["VRAMTOP_REPORT"] = "1"
    site_dir = str(SITE_DIR)
    old = env.get("PYTHONPATH", "")
    entries = [e for e in old.split(os.pathsep) if e] if old else []
    if site_dir not in entries:
        env["PYTHONPATH"] = site_dir + (os.pathsep + old if old else "")
    # Where this vramtop lives, for a child interpreter that has no vramtop of its own.
    env["VRAMTOP_PKG_DIR"] = str(Path(vramtop.__file__).resolve().parent.parent)
    if debug:
        env["VRAMTOP_DEBUG"] = "1"
    return env


def resolve(command: str, env: Mapping[str, str]) -> str:
    """The executable for `command`, searched on the child's PATH like a shell would."""
    if os.sep in command:
        if not os.path.exists(command):
            raise CommandNotFoundError(f"{command}: no such file")
        return command
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise CommandNotFoundError(f"{command}: command not found")
    return found


def command_from(args: argparse.Namespace) -> list[str]:
    cmd: Sequence[str] = args.cmd or []
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise WrapUsageError("no command given; usage: vramtop wrap -- CMD [ARGS...]")
    return list(cmd)


def run(args: argparse.Namespace) -> int:
    cmd = command_from(args)
    env = child_env(os.environ, debug=bool(getattr(args, "debug", False)))
    executable = resolve(cmd[0], env)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(executable, cmd, env)
    except OSError as e:
        raise WrapError(f"{cmd[0]}: {e.strerror or e}") from None
    return 0  # not reached: execve only returns by raising
