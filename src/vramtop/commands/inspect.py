"""`vramtop inspect PID [--json]`: everything vramtop knows about one process, live."""

from __future__ import annotations

import argparse
import json
import sys
import time

from vramtop.commands._common import build_enricher, live_backend, load_config
from vramtop.enrichment import ProcessEnricher
from vramtop.errors import BackendError, NoGPUError, VramtopError
from vramtop.inspect import build_report, render_text, report_dict
from vramtop.model import MemorySnapshot
from vramtop.procfs import ProcFS

NAME = "inspect"
NO_GPU = "unavailable (no NVIDIA GPU)"
UNMATCHABLE = (
    "cannot be matched: vramtop runs in its own PID namespace and NVML reports host "
    "PIDs (run vramtop with --pid=host / hostPID: true)"
)


class InspectUsageError(VramtopError):
    title = "inspect"
    exit_code = 2


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        NAME,
        parents=[common],
        help="everything vramtop knows about one process",
        description="Identity, GPU memory, framework, launcher, model files, container, "
        "MPS, server metrics and deep-mode data of one process, read now.",
    )
    p.add_argument("pid", metavar="PID", help="process ID")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def parse_pid(text: str) -> int:
    value = text.strip()
    if not value.isdigit() or int(value) <= 0 or int(value) > 2**31:
        raise InspectUsageError(
            f"{text!r} is not a process ID (usage: vramtop inspect PID [--json])"
        )
    return int(value)


def gpu_sample(enricher: ProcessEnricher) -> tuple[MemorySnapshot | None, str | None]:
    """One NVML sample, or why there is none."""
    backend = live_backend(enricher)
    try:
        backend.open()
    except NoGPUError:
        return None, NO_GPU
    except BackendError as e:
        return None, f"unavailable ({e.user_message()})"
    try:
        return backend.sample(), None
    except BackendError as e:
        return None, f"unavailable ({e.user_message()})"
    finally:
        backend.close()


def run(args: argparse.Namespace) -> int:
    pid = parse_pid(args.pid)
    cfg = load_config(args).config
    enricher = build_enricher(cfg, one_shot=True)
    snapshot: MemorySnapshot | None
    if enricher.resolvable:
        snapshot, gpu_status = gpu_sample(enricher)
    else:
        # NVML's host PIDs cannot be matched to the PID the user gave: show this
        # namespace's /proc facts and say why the GPU part is missing.
        enricher.close()
        enricher = build_enricher(cfg, procfs=ProcFS(), one_shot=True)
        snapshot, gpu_status = None, UNMATCHABLE
    try:
        report = build_report(
            pid,
            enricher=enricher,
            snapshot=snapshot,
            gpu_status=gpu_status,
            now_unix=time.time(),
            now=time.monotonic(),
        )
    finally:
        enricher.close()
    if args.json:
        sys.stdout.write(json.dumps(report_dict(report), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    sys.stdout.flush()
    return 0
