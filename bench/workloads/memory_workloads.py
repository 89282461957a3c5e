"""GPU memory workloads for recording OOM-prediction traces (PyTorch on CUDA; JAX for
`jax-leak`).

Each mode prints its events as JSON lines on stdout, with wall-clock times
(`{"unix": 1795429369.95, "event": "start", "pid": 123, ...}`), so that
record_all.sh can place them in the recording (t = unix - start_unix):
`start` when the process starts (before CUDA is touched), `ballast`,
`model_ready`, `plateau` when growth stops on purpose, `oom` with the free
memory when CUDA runs out, `exit` when it ends on its own. A CUDA OOM exits
with status 3.

    python memory_workloads.py ballast --leave-gb 6 --hold 120
    python memory_workloads.py leak --rate-mb 60
    python memory_workloads.py leak --rate-mb 400 --chunk-mb 64 --jitter 0.3
    python memory_workloads.py leak --rate-mb 30 --accel-mb 15
    python memory_workloads.py leak --rate-mb 250 --run-s 8 --pause-s 6
    python memory_workloads.py step-leak --mean-rate-mb 150 --min-mb 20 --max-mb 600 --mean-gap 1.5
    python memory_workloads.py burst-leak --burst-gb 6 --period 2 --leak-mb 100
    python memory_workloads.py var-batch --min-gb 2 --max-gb 20 --period 0.7 --duration 45
    python memory_workloads.py plateau --rate-mb 250 --stop-free-gb 3 --hold 12
    python memory_workloads.py plateau --rate-mb 300 --halve-s 8 --hold 20
    python memory_workloads.py train-leak --width 4096 --batch 2048 --period 0.2
    python memory_workloads.py jax-leak --rate-mb 150 --chunk-mb 16

Every PyTorch mode also takes `--ballast-gb G` (an idle block held by the same process)
or `--leave-gb G` (allocate everything but G GB first), so that an 80 GB H100
runs out within a minute or two instead of ten.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from typing import Any

MB = 1_000_000
GB = 1_000_000_000
_PID = os.getpid()


def event(name: str, **data: Any) -> None:
    print(json.dumps({"unix": time.time(), "event": name, "pid": _PID, **data}), flush=True)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        print("memory_workloads: PyTorch is not installed", file=sys.stderr)
        raise SystemExit(2) from None
    if not torch.cuda.is_available():
        print("memory_workloads: no CUDA device", file=sys.stderr)
        raise SystemExit(2)
    return torch


def _alloc(torch: Any, nbytes: int) -> Any:
    """A tensor of `nbytes` on the GPU, touched so the memory is really committed."""
    t = torch.empty(max(1, int(nbytes)), dtype=torch.uint8, device="cuda")
    t.fill_(1)
    return t


def _free(torch: Any) -> int:
    return int(torch.cuda.mem_get_info()[0])


def _ballast(torch: Any, args: argparse.Namespace) -> list[Any]:
    held: list[Any] = []
    if args.leave_gb is not None:
        want = _free(torch) - int(args.leave_gb * GB)
        if want > 0:
            held.append(_alloc(torch, want))
            event("ballast", gb=round(want / GB, 3))
    elif args.ballast_gb:
        held.append(_alloc(torch, int(args.ballast_gb * GB)))
        event("ballast", gb=args.ballast_gb)
    return held


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def mode_ballast(torch: Any, args: argparse.Namespace) -> None:
    _ = _ballast(torch, args)
    time.sleep(args.hold)


def mode_leak(torch: Any, args: argparse.Namespace) -> None:
    """A leak of `rate_mb` MB/s in chunks, optionally jittered, accelerating by
    `accel_mb` MB/s every second, or leaking `run_s` seconds then pausing `pause_s`."""
    rng = random.Random(args.seed)
    keep = _ballast(torch, args)
    event("model_ready")
    start = nxt = time.monotonic()
    end = nxt + args.duration if args.duration else None
    while end is None or time.monotonic() < end:
        size = args.chunk_mb * MB * max(0.05, 1 + args.jitter * rng.gauss(0, 1))
        keep.append(_alloc(torch, int(size)))
        rate_mb = args.rate_mb + args.accel_mb * (nxt - start)
        nxt += args.chunk_mb / rate_mb
        if args.run_s is not None:
            cycle = args.run_s + args.pause_s
            into = (nxt - start) % cycle
            if into >= args.run_s:  # a pause: the next chunk when the next run begins
                nxt += cycle - into
        _sleep_until(nxt)


def mode_step_leak(torch: Any, args: argparse.Namespace) -> None:
    """Irregular allocator steps: random sizes at random (exponential) intervals."""
    rng = random.Random(args.seed)
    keep = _ballast(torch, args)
    event("model_ready")
    mean_size = (args.min_mb + args.max_mb) / 2 * MB
    scale = args.mean_rate_mb * MB * args.mean_gap / mean_size
    end = time.monotonic() + args.duration if args.duration else None
    while end is None or time.monotonic() < end:
        time.sleep(rng.expovariate(1.0 / args.mean_gap))
        keep.append(_alloc(torch, int(rng.uniform(args.min_mb, args.max_mb) * MB * scale)))


def mode_burst_leak(torch: Any, args: argparse.Namespace) -> None:
    """Per-step activations returned to the driver each step (a sawtooth) on a slow leak."""
    keep = _ballast(torch, args)
    event("model_ready")
    leak = int(args.leak_mb * MB * args.period)
    end = time.monotonic() + args.duration if args.duration else None
    step = 0
    while end is None or time.monotonic() < end:
        step_start = time.monotonic()
        act = _alloc(torch, int(args.burst_gb * GB))
        _sleep_until(step_start + args.period * args.duty)
        del act
        torch.cuda.empty_cache()  # give the activations back: NVML sees the step
        step += 1
        if args.leak_steps is None or step <= args.leak_steps:
            keep.append(_alloc(torch, leak))
            if step == args.leak_steps:
                event("plateau", free=_free(torch))  # a warm-up: the floor holds from here
        _sleep_until(step_start + args.period)


def mode_var_batch(torch: Any, args: argparse.Namespace) -> None:
    """Training steps with random batch sizes; activations freed each step. No OOM:
    the largest batch is capped to what fits."""
    rng = random.Random(args.seed)
    _ = _ballast(torch, args)
    base = _alloc(torch, int(args.base_gb * GB))
    event("model_ready")
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        step_start = time.monotonic()
        room = _free(torch) - int(args.margin_gb * GB)
        size = min(int(rng.uniform(args.min_gb, args.max_gb) * GB), max(room, int(0.1 * GB)))
        act = _alloc(torch, size)
        _sleep_until(step_start + args.period * 0.6)
        del act
        if args.empty_cache:
            torch.cuda.empty_cache()
        _sleep_until(step_start + args.period)
    del base


def mode_plateau(torch: Any, args: argparse.Namespace) -> None:
    """Grow at `rate_mb` until `stop_free_gb` is left, then stop and hold: no OOM. With
    `halve_s` the rate halves every so many seconds, and growth stops once it has
    fallen to a twentieth of where it began."""
    keep = _ballast(torch, args)
    event("model_ready")
    chunk = int(args.chunk_mb * MB)
    start = nxt = time.monotonic()
    while _free(torch) - chunk > args.stop_free_gb * GB:
        halvings = (nxt - start) / args.halve_s if args.halve_s else 0.0
        if halvings > math.log2(20):
            break
        keep.append(_alloc(torch, chunk))
        nxt += chunk / (args.rate_mb * MB * 0.5**halvings)
        _sleep_until(nxt)
    event("plateau", free=_free(torch))
    time.sleep(args.hold)


def mode_train_leak(torch: Any, args: argparse.Namespace) -> None:
    """A real training loop (an MLP under Adam, batches of random size) that keeps
    every step's outputs on the GPU, as `preds.append(out)` does: the leak is one
    batch of outputs a step, and the caching allocator's segments grow in steps."""
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    keep = _ballast(torch, args)
    layers: list[Any] = []
    for _ in range(args.layers):
        layers += [torch.nn.Linear(args.width, args.width), torch.nn.GELU()]
    model = torch.nn.Sequential(*layers).cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    event("model_ready")
    nxt = time.monotonic()
    while True:
        batch = max(1, round(args.batch * (1 + args.batch_jitter * rng.uniform(-1, 1))))
        out = model(torch.randn(batch, args.width, device="cuda"))
        loss = out.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        keep.append(out.detach())
        torch.cuda.synchronize()
        nxt += args.period
        _sleep_until(nxt)


def _is_jax_oom(err: BaseException) -> bool:
    text = str(err)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def mode_jax_leak(args: argparse.Namespace) -> int:
    """A leak of `rate_mb` MB/s of JAX arrays, with XLA's own allocator growing on
    demand (XLA_PYTHON_CLIENT_PREALLOCATE=false) instead of taking 75 % at start."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("memory_workloads: JAX is not installed", file=sys.stderr)
        return 2
    if jax.default_backend() != "gpu":
        print("memory_workloads: JAX sees no GPU", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    keep: list[Any] = []
    event("model_ready")
    nxt = time.monotonic()
    try:
        while True:
            size = args.chunk_mb * MB * max(0.05, 1 + args.jitter * rng.gauss(0, 1))
            keep.append(jnp.ones((int(size) // 4,), dtype=jnp.float32).block_until_ready())
            nxt += args.chunk_mb / args.rate_mb
            _sleep_until(nxt)
    except KeyboardInterrupt:
        return 0
    except Exception as e:
        if not _is_jax_oom(e):
            raise
        event("oom", msg=str(e).splitlines()[0][:300])
        return 3


MODES = {
    "ballast": mode_ballast,
    "leak": mode_leak,
    "step-leak": mode_step_leak,
    "burst-leak": mode_burst_leak,
    "var-batch": mode_var_batch,
    "plateau": mode_plateau,
    "train-leak": mode_train_leak,
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="mode", required=True)

    def add(name: str, ballast: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name)
        p.add_argument("--seed", type=int, default=0)
        if not ballast:
            return p
        g = p.add_mutually_exclusive_group()
        g.add_argument("--ballast-gb", type=float, default=0.0, help="hold an idle block this big")
        g.add_argument("--leave-gb", type=float, help="first allocate all but this many GB")
        return p

    p = add("ballast")
    p.add_argument("--hold", type=float, default=600.0, help="seconds to hold it")
    p = add("leak")
    p.add_argument("--rate-mb", type=float, default=150.0)
    p.add_argument("--chunk-mb", type=float, default=16.0)
    p.add_argument("--jitter", type=float, default=0.0, help="relative noise of each chunk")
    p.add_argument("--accel-mb", type=float, default=0.0, help="MB/s added to the rate each second")
    p.add_argument("--run-s", type=float, help="leak this many seconds, then pause --pause-s")
    p.add_argument("--pause-s", type=float)
    p.add_argument("--duration", type=float, help="stop (exit) after this many seconds")
    p = add("step-leak")
    p.add_argument("--mean-rate-mb", type=float, default=150.0)
    p.add_argument("--min-mb", type=float, default=20.0)
    p.add_argument("--max-mb", type=float, default=600.0)
    p.add_argument("--mean-gap", type=float, default=1.5)
    p.add_argument("--duration", type=float)
    p = add("burst-leak")
    p.add_argument("--burst-gb", type=float, default=6.0)
    p.add_argument("--period", type=float, default=2.0)
    p.add_argument("--duty", type=float, default=0.5)
    p.add_argument("--leak-mb", type=float, default=100.0, help="MB/s leaked")
    p.add_argument("--leak-steps", type=int, help="leak only in the first so many steps")
    p.add_argument("--duration", type=float)
    p = add("var-batch")
    p.add_argument("--base-gb", type=float, default=4.0)
    p.add_argument("--min-gb", type=float, default=2.0)
    p.add_argument("--max-gb", type=float, default=20.0)
    p.add_argument("--period", type=float, default=0.7)
    p.add_argument("--margin-gb", type=float, default=2.0)
    p.add_argument("--empty-cache", action="store_true", help="return activations each step")
    p.add_argument("--duration", type=float, default=45.0)
    p = add("plateau")
    p.add_argument("--rate-mb", type=float, default=250.0)
    p.add_argument("--chunk-mb", type=float, default=16.0)
    p.add_argument("--stop-free-gb", type=float, default=3.0)
    p.add_argument("--hold", type=float, default=12.0)
    p.add_argument("--halve-s", type=float, help="the rate halves every so many seconds")
    p = add("train-leak")
    p.add_argument("--width", type=int, default=4096)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--batch-jitter", type=float, default=0.5, help="batch varies by this share")
    p.add_argument("--period", type=float, default=0.2, help="seconds a step")
    p = add("jax-leak", ballast=False)
    p.add_argument("--rate-mb", type=float, default=150.0)
    p.add_argument("--chunk-mb", type=float, default=16.0)
    p.add_argument("--jitter", type=float, default=0.0, help="relative noise of each chunk")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    if args.mode == "leak" and (args.run_s is None) != (args.pause_s is None):
        ap.error("--run-s and --pause-s go together")
    if args.mode == "leak" and any(
        v is not None and not v > 0 for v in (args.rate_mb, args.run_s, args.pause_s)
    ):
        ap.error("--rate-mb, --run-s and --pause-s must be positive")
    if args.mode == "leak" and not args.accel_mb >= 0:
        ap.error("--accel-mb must be 0 or more (a rate that only grows)")
    if args.mode == "burst-leak" and args.leak_steps is not None and not args.leak_steps > 0:
        ap.error("--leak-steps must be positive")
    if args.mode == "plateau" and args.halve_s is not None and not args.halve_s > 0:
        ap.error("--halve-s must be positive")
    if args.mode == "jax-leak" and not (args.rate_mb > 0 and args.chunk_mb > 0):
        ap.error("--rate-mb and --chunk-mb must be positive")
    if args.mode == "train-leak" and not (
        min(args.width, args.layers, args.batch, args.period) > 0 and 0 <= args.batch_jitter < 1
    ):
        ap.error("--width, --layers, --batch and --period must be positive; --batch-jitter 0-1")
    event("start", mode=args.mode)
    if args.mode == "jax-leak":
        code = mode_jax_leak(args)
        if code == 0:
            event("exit")
        return code
    torch = _torch()
    try:
        MODES[args.mode](torch, args)
    except torch.cuda.OutOfMemoryError as e:
        event("oom", free=_free(torch), msg=str(e).splitlines()[0][:300])
        return 3
    except KeyboardInterrupt:
        pass
    event("exit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
