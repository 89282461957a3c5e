"""How fast the TUI answers keys while frames keep arriving.

Runs the real app headless (Textual's `run_test`) on the bundled demo
recording, sampled by the app's own timer and thread worker, and presses keys
that change what is shown (sort keys, cursor moves, theme, detail open/close).
For each key it measures, on the app's event loop:

- latency: from posting the key event (as the terminal driver does) to the
  first screen update written after the key's effect took place;
- loop lag: how late a 5 ms ticker on the UI event loop runs, i.e. the
  longest the UI thread was busy (rendering a frame, handling a key).

Scenarios: the demo at 1 Hz; the demo at x60 with a 0.5 s refresh; and a
synthetic 8-GPU machine with 400 processes whose memory changes every sample
(every row updated every frame), at a 0.5 s refresh.

    python bench/ui_latency.py [--presses 200] [--json out.json]

The target is every key handled within 100 ms (SPEC: responsive with the demo
running).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from textual import events

from vramtop import trace
from vramtop.backends.base import GPUBackend
from vramtop.backends.replay import ReplayBackend
from vramtop.config import Config, ConfigHolder
from vramtop.engine import Monitor
from vramtop.model import BackendInfo, GPUDevice, GPUProcess, MemorySnapshot
from vramtop.ui.app import VramtopApp, create_app
from vramtop.ui.screens.detail import DetailScreen
from vramtop.ui.screens.main import MainScreen
from vramtop.ui.widgets.process_table import ProcessTable

GIB = 1024**3


class ManyProcesses(GPUBackend):
    """8 GPUs x 50 processes, every process's memory moving every sample."""

    def __init__(self, gpus: int = 8, per_gpu: int = 50) -> None:
        self.gpus, self.per_gpu, self.n = gpus, per_gpu, 0

    def open(self) -> BackendInfo:
        return BackendInfo(source="synthetic")

    def sample(self) -> MemorySnapshot:
        self.n += 1
        devices = []
        for g in range(self.gpus):
            procs = tuple(
                GPUProcess(
                    pid=10_000 + g * 1000 + i,
                    starttime=1000 + i,
                    used_bytes=(i + 1) * 100 * 1024**2 + (self.n * (i % 7)) * 1024**2,
                    name=f"worker-{i}",
                    uid=0,
                )
                for i in range(self.per_gpu)
            )
            used = sum(p.used_bytes or 0 for p in procs)
            devices.append(
                GPUDevice(
                    g,
                    f"GPU-{g}",
                    "Synthetic 80GB",
                    200 * GIB,
                    used,
                    200 * GIB - used,
                    temperature_c=50,
                    power_watts=300.0,
                    util_gpu_pct=80,
                    processes=procs,
                )
            )
        return MemorySnapshot(t=float(self.n), unix_time=time.time(), devices=tuple(devices))


def demo_monitor(refresh: float, speed: float) -> Monitor:
    cfg = Config().with_overrides(general={"refresh_rate": refresh})
    path = Path(str(resources.files("vramtop").joinpath("data/demo.jsonl")))
    backend = ReplayBackend(trace.read(path), step_s=refresh * speed, loop=True)
    monitor = Monitor(backend, cfg, hostname="bench")
    monitor.open()
    return monitor


def synthetic_monitor(refresh: float) -> Monitor:
    cfg = Config().with_overrides(general={"refresh_rate": refresh})
    monitor = Monitor(ManyProcesses(), cfg, hostname="bench")
    monitor.open()
    return monitor


class PaintLog:
    """Wraps the app's display hook: the first paint that shows the key's effect.

    The effect is checked at paint time, so a paint that happens before this
    coroutine gets to look is still counted (the event loop runs both).
    """

    def __init__(self) -> None:
        self.done: Callable[[], bool] | None = None
        self.painted_at: float | None = None

    def __call__(self) -> None:
        if self.done is not None and self.painted_at is None and self.done():
            self.painted_at = time.perf_counter()


async def press(
    app: VramtopApp, key: str, paints: PaintLog, done: Callable[[], bool], timeout: float = 5.0
) -> float:
    """Post `key` as the terminal driver would; seconds until its effect is painted."""
    event = events.Key(key, key if len(key) == 1 else None)
    assert app._driver is not None
    paints.done, paints.painted_at = done, None
    t0 = time.perf_counter()
    app._driver.send_message(event)
    while paints.painted_at is None:
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"key {key!r}: its effect was never painted")
        await asyncio.sleep(0.0005)
    paints.done = None
    return paints.painted_at - t0


async def run_scenario(monitor: Monitor, presses: int, size: tuple[int, int]) -> dict[str, object]:
    app: VramtopApp = create_app(monitor, ConfigHolder(monitor.config, None))
    latencies: dict[str, list[float]] = {}
    lags: list[float] = []
    paints = PaintLog()
    stop = asyncio.Event()

    async def ticker() -> None:
        period = 0.005
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(period)
            lags.append(time.perf_counter() - t0 - period)

    def table() -> ProcessTable:
        return app.main.query_one(ProcessTable)

    original_display = app._display

    def display(screen: object, renderable: object) -> None:
        original_display(screen, renderable)  # type: ignore[arg-type]
        paints()

    app._display = display  # type: ignore[method-assign]

    async with app.run_test(size=size) as pilot:
        while app.frame is None or table().row_count < 2:
            await pilot.pause(0.05)
        first_seq = app.frame.seq
        tick = asyncio.ensure_future(ticker())
        rng = random.Random(1)
        for _ in range(presses):
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            kind = rng.choice(["sort", "sort", "move", "theme", "detail"])
            if kind == "sort":
                before = (app.main.sort_key, app.main.reverse)
                dt = await press(
                    app,
                    rng.choice("vrpn"),
                    paints,
                    lambda b=before: (app.main.sort_key, app.main.reverse) != b,
                )
            elif kind == "move":
                rows = table().row_count
                if rows < 2:  # the demo loops back to one process
                    continue
                row = table().cursor_row
                dt = await press(
                    app, "down" if row == 0 else "up", paints, lambda r=row: table().cursor_row != r
                )
                if table().row_count != rows:  # a frame moved the cursor, not the key
                    continue
            elif kind == "theme":
                theme = app.theme
                dt = await press(app, "t", paints, lambda b=theme: app.theme != b)
            else:
                dt = await press(app, "d", paints, lambda: isinstance(app.screen, DetailScreen))
                latencies.setdefault("detail", []).append(dt)
                kind = "close"
                dt = await press(app, "escape", paints, lambda: isinstance(app.screen, MainScreen))
            latencies.setdefault(kind, []).append(dt)
        stop.set()
        await tick
        frames = app.frame.seq - first_seq
    every = sorted(x for xs in latencies.values() for x in xs)
    return {
        "presses": len(every),
        "frames_during_run": frames,
        "latency_p50_ms": 1000 * statistics.median(every),
        "latency_p95_ms": 1000 * every[int(0.95 * (len(every) - 1))],
        "latency_max_ms": 1000 * every[-1],
        "max_ms_by_key": {k: round(1000 * max(v), 1) for k, v in latencies.items()},
        "loop_lag_p99_ms": 1000 * sorted(lags)[int(0.99 * (len(lags) - 1))],
        "loop_lag_max_ms": 1000 * max(lags),
        "within_100ms": sum(1 for x in every if x <= 0.1) / len(every),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    scenarios = {
        "demo_1hz_120x30": (lambda: demo_monitor(1.0, 1.0), (120, 30)),
        "demo_x60_0.5s_120x30": (lambda: demo_monitor(0.5, 60.0), (120, 30)),
        "synthetic_8gpu_400proc_0.5s_200x50": (lambda: synthetic_monitor(0.5), (200, 50)),
    }
    results = {}
    for name, (make, size) in scenarios.items():
        results[name] = asyncio.run(run_scenario(make(), args.presses, size))
        r = results[name]
        print(
            f"{name:38s} presses {r['presses']:4d}  frames {r['frames_during_run']:4d}  "
            f"p50 {r['latency_p50_ms']:6.1f} ms  p95 {r['latency_p95_ms']:6.1f} ms  "
            f"max {r['latency_max_ms']:6.1f} ms  <=100ms {100 * r['within_100ms']:5.1f}%  "
            f"loop lag p99 {r['loop_lag_p99_ms']:5.1f} ms max {r['loop_lag_max_ms']:5.1f} ms"
        )
        print(f"{'':38s} max by key (ms): {r['max_ms_by_key']}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "machine": platform.platform(),
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
