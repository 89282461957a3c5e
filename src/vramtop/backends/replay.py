"""A backend that plays a recording on a virtual clock."""

from __future__ import annotations

import bisect
import threading

from vramtop.backends.base import GPUBackend
from vramtop.model import BackendInfo, MemorySnapshot
from vramtop.trace import Trace


class ReplayBackend(GPUBackend):
    """Plays `trace` forward in steps of `step_s` recording-seconds per `sample()`.

    Each sample is the last recorded sample at or before the virtual time, so
    feeding a 10 Hz recording with `step_s=1` is what a 1 Hz live monitor
    would have seen. The clock can be paused, sped up and moved (seek).
    """

    virtual_clock = True

    def __init__(self, trace: Trace, step_s: float = 1.0, loop: bool = False) -> None:
        if step_s <= 0:
            raise ValueError("step_s must be positive")
        self.trace = trace
        self._times = [s.t for s in trace.samples]
        self._step_s = step_s
        self._loop = loop
        self._lock = threading.Lock()
        self._now = trace.samples[0].t
        self._started = False
        self._paused = False
        self._loops = 0

    # --- clock control (thread-safe: the UI calls these) -----------------------------

    @property
    def now(self) -> float:
        return self._now

    @property
    def start_t(self) -> float:
        return self._times[0]

    @property
    def end_t(self) -> float:
        return self._times[-1]

    @property
    def step_s(self) -> float:
        return self._step_s

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def at_end(self) -> bool:
        return not self._loop and self._started and self._now >= self.end_t

    def set_step(self, step_s: float) -> None:
        if step_s > 0:
            with self._lock:
                self._step_s = step_s

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = paused

    def seek(self, t: float) -> None:
        with self._lock:
            self._now = min(max(t, self.start_t), self.end_t)

    def seek_relative(self, dt: float) -> None:
        self.seek(self._now + dt)

    # --- GPUBackend ---------------------------------------------------------------------

    def open(self) -> BackendInfo:
        return BackendInfo(
            source=f"replay:{self.trace.path}",
            driver_version=self.trace.header.driver,
            nvml_version=self.trace.header.nvml,
        )

    def _snapshot_at(self, t: float) -> MemorySnapshot:
        i = max(0, bisect.bisect_right(self._times, t) - 1)
        s = self.trace.samples[i]
        if s.t == t:
            return s
        return MemorySnapshot(t=t, unix_time=self.trace.header.start_unix + t, devices=s.devices)

    def sample(self) -> MemorySnapshot:
        with self._lock:
            if not self._started:
                self._started = True
            elif not self._paused:
                self._now += self._step_s
                if self._now > self.end_t:
                    if self._loop:
                        self._now = self.start_t
                        self._loops += 1
                    else:
                        self._now = self.end_t
            t = self._now
        # Time keeps running across loops so that analysis sees a monotonic clock.
        snap = self._snapshot_at(t)
        if self._loops:
            offset = self._loops * (self.end_t - self.start_t + self._step_s)
            return MemorySnapshot(
                t=snap.t + offset, unix_time=snap.unix_time + offset, devices=snap.devices
            )
        return snap

    def recording_time(self) -> float:
        """Seconds into the recording, for the REPLAY marker."""
        return self._now - self.start_t
