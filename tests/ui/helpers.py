"""Shared pieces of the TUI tests: monitors over recordings, a backend reporting
real child processes, waiting for the app, and reading the screen as text."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App
from textual.message import Message
from textual.pilot import Pilot

from vramtop import trace
from vramtop.backends.base import GPUBackend
from vramtop.backends.replay import ReplayBackend
from vramtop.config import Config, ConfigHolder
from vramtop.engine import Monitor
from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.model import (
    BackendInfo,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    OOMPrediction,
    SurvivalPrediction,
    Verdict,
)
from vramtop.procfs import ProcFS
from vramtop.ui.messages import FrameReady

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "traces"
DEMO = TRACES / "loss_history_leak.jsonl"
GIB = 1024**3


def replay_monitor(
    path: Path = DEMO,
    *,
    at_s: float = 0.0,
    config: Config | None = None,
    loop: bool = False,
    cls: type[Monitor] = Monitor,
) -> Monitor:
    """A Monitor (or subclass) over a recording, already stepped to `at_s` seconds."""
    cfg = config or Config()
    backend = ReplayBackend(trace.read(path), step_s=cfg.general.refresh_rate, loop=loop)
    monitor = cls(backend, cfg, hostname="test-host")
    monitor.open()
    while backend.recording_time() + cfg.general.refresh_rate <= at_s:
        monitor.step()
    return monitor


class FrozenMonitor(Monitor):
    """A Monitor stopped at one frame of a recording: every step() returns that frame.

    Snapshot tests use it so that the app's own ticks cannot move the picture.
    """

    def __init__(self, path: Path = DEMO, *, at_s: float, decorate: bool = False) -> None:
        cfg = Config()
        backend = ReplayBackend(trace.read(path), step_s=cfg.general.refresh_rate)
        super().__init__(backend, cfg, hostname="test-host")
        self.open()
        frame = super().step()
        while backend.recording_time() < at_s:
            frame = super().step()
        self.frozen = decorate_frame(frame) if decorate else frame

    def step(self) -> Frame:
        return self.frozen


class DecoratedMonitor(Monitor):
    """Frames of a recording with an OOM alert and survival verdicts added, to test
    how the UI shows them independently of the analysis that computes them."""

    def step(self) -> Frame:
        return decorate_frame(super().step())


def decorate_frame(frame: Frame) -> Frame:
    verdicts = (Verdict.OK, Verdict.TIGHT, Verdict.OOM)
    gpus = []
    for gpu in frame.gpus:
        procs = tuple(
            dataclasses.replace(
                pv,
                survival=SurvivalPrediction(
                    verdicts[i % 3], 30 * GIB, 2.5, "estimated peak from the weights"
                ),
            )
            for i, pv in enumerate(gpu.processes)
        )
        oom = OOMPrediction(60.0, 120.0, 0.6, 2e8, 4e8, capped=False, alert=True)
        gpus.append(dataclasses.replace(gpu, processes=procs, oom=oom))
    return dataclasses.replace(frame, gpus=tuple(gpus))


def holder(config: Config | None = None, path: Path | None = None) -> ConfigHolder:
    return ConfigHolder(config or Config(), path)


class ChildBackend(GPUBackend):
    """A live-looking backend whose one GPU lists the processes the test gives it."""

    def __init__(self, processes: Iterable[GPUProcess] = ()) -> None:
        self.processes = list(processes)
        self.fail_next: Exception | None = None

    def open(self) -> BackendInfo:
        return BackendInfo(source="test")

    def sample(self) -> MemorySnapshot:
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err
        used = sum(p.used_bytes or 0 for p in self.processes)
        dev = GPUDevice(
            index=0,
            uuid="GPU-test-0",
            name="Test GPU",
            total_bytes=80 * GIB,
            used_bytes=used,
            free_bytes=80 * GIB - used,
            reserved_bytes=GIB // 2,
            util_gpu_pct=50,
            temperature_c=50,
            power_watts=200.0,
            power_limit_watts=700.0,
            processes=tuple(self.processes),
        )
        return MemorySnapshot(t=time.monotonic(), unix_time=time.time(), devices=(dev,))


SLEEPER = "import sys, time; print('ready', flush=True); time.sleep(120)"
TERM_IGNORER = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('ready', flush=True); time.sleep(120)"
)


def spawn(script: str = SLEEPER, **kwargs: object) -> subprocess.Popen[str]:
    """A real child process, returned once it is running its script."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def gpu_process(
    proc: subprocess.Popen[str], *, uid: int, starttime: int | None = None, name: str = "sleeper"
) -> GPUProcess:
    ident = ProcFS().identity(proc.pid)
    assert ident is not None
    return GPUProcess(
        pid=proc.pid,
        starttime=ident.starttime if starttime is None else starttime,
        used_bytes=2 * GIB,
        name=name,
        cmdline=(name, "--serve"),
        uid=uid,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


async def wait_for(
    pilot: Pilot[object], condition: Callable[[], object], timeout: float = 15.0
) -> None:
    """Let the app run until `condition()` holds (a deadline guards against a hang)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met while the app ran")
        await pilot.pause(0.02)


def screen_text(app: App[object]) -> str:
    """What the terminal shows, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


class FrameLog:
    """A message_hook that keeps every FrameReady the app received."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, FrameReady):
            self.frames.append(message.frame)


class Notes:
    """Records what the app notified (toasts are off in headless tests)."""

    def __init__(self, app: App[object]) -> None:
        self.messages: list[str] = []
        original = app.notify

        def notify(message: str, *args: object, **kwargs: object) -> None:
            self.messages.append(str(message))
            original(message, *args, **kwargs)  # type: ignore[arg-type]

        app.notify = notify  # type: ignore[method-assign]

    def has(self, fragment: str) -> bool:
        return any(fragment in m for m in self.messages)


def rows(frame: Frame) -> list[ProcessView]:
    return [pv for gpu in frame.gpus for pv in gpu.processes]


def first_gpu(frame: Frame) -> GPUView:
    return frame.gpus[0]
