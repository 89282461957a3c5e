from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vramtop import trace
from vramtop.backends.base import GPUBackend
from vramtop.backends.replay import ReplayBackend
from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.errors import BackendError
from vramtop.frame import Frame
from vramtop.model import (
    BackendInfo,
    DeviceState,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    Phase,
    ProcessIdentity,
)

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
TRACES = trace.recordings_in(FIXTURES)
GIB = 1 << 30


class ScriptedBackend(GPUBackend):
    """Plays a list of per-sample process lists on one GPU, one sample per second."""

    def __init__(
        self, samples: list[list[GPUProcess]], state: DeviceState = DeviceState.OK
    ) -> None:
        self._samples: Iterator[list[GPUProcess]] = iter(samples)
        self._t = -1.0
        self.state = state

    def open(self) -> BackendInfo:
        return BackendInfo(source="scripted")

    def sample(self) -> MemorySnapshot:
        procs = next(self._samples)
        self._t += 1
        used = sum(p.used_bytes or 0 for p in procs)
        dev = GPUDevice(
            index=0,
            uuid="GPU-x",
            name="X",
            total_bytes=80 * GIB,
            used_bytes=used,
            free_bytes=80 * GIB - used,
            processes=tuple(procs),
            state=self.state,
        )
        return MemorySnapshot(t=self._t, unix_time=1000 + self._t, devices=(dev,))


def proc(pid: int, start: int, used: int | None) -> GPUProcess:
    return GPUProcess(pid=pid, starttime=start, used_bytes=used, name=f"p{pid}", uid=0)


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_replays_every_recording(path: Path) -> None:
    tr = trace.read(path)
    backend = ReplayBackend(tr, step_s=1.0)
    monitor = Monitor(backend, Config(), hostname="test")
    monitor.open()
    frames: list[Frame] = []
    monitor.subscribe(frames.append)
    while not backend.at_end:
        monitor.step()
    assert len(frames) == pytest.approx(tr.duration_s, abs=2)
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
    last = frames[-1].gpus[0]
    assert last.device.total_bytes == tr.header.devices[0].memory_total
    assert len(last.timeline) == min(len(frames), Config().general.history_length)
    # Processes that left the GPU are gone from the latest frame.
    assert all(pv.process.used_bytes is not None or True for pv in last.processes)


def test_same_recording_same_frames() -> None:
    tr = trace.read(TRACES[0])

    def run() -> list[tuple[str, float | None]]:
        b = ReplayBackend(tr, step_s=1.0)
        m = Monitor(b, Config(), hostname="h")
        m.open()
        out = []
        while not b.at_end:
            g = m.step().gpus[0]
            out.append((g.phase.phase.value, g.oom.seconds_low if g.oom else None))
        return out

    assert run() == run()


def test_growing_process_gets_growing_phase_and_share() -> None:
    samples = [[proc(10, 1, (1 + i) * GIB)] for i in range(12)]
    m = Monitor(ScriptedBackend(samples), Config(), hostname="h")
    m.open()
    frame = None
    for _ in samples:
        frame = m.step()
    assert frame is not None
    pv = frame.gpus[0].processes[0]
    assert pv.phase.phase is Phase.GROWING
    assert pv.phase.rate_bytes_per_s == pytest.approx(GIB, rel=0.01)
    assert pv.share == pytest.approx(12 / 80)
    assert pv.peak_bytes == 12 * GIB
    assert frame.gpus[0].phase.phase is Phase.GROWING


def test_recycled_pid_starts_fresh() -> None:
    samples = [[proc(10, 1, (1 + i) * GIB)] for i in range(8)] + [[proc(10, 2, GIB)]]
    m = Monitor(ScriptedBackend(samples), Config(), hostname="h")
    m.open()
    for _ in range(8):
        m.step()
    assert len(m.process_history("GPU-x", ProcessIdentity(10, 1))) == 8
    frame = m.step()
    pv = frame.gpus[0].processes[0]
    assert pv.identity == ProcessIdentity(10, 2)
    assert pv.peak_bytes == GIB  # not the old process's 8 GiB
    assert pv.phase.duration_samples == 0
    assert m.process_history("GPU-x", ProcessIdentity(10, 1)) == ()


def test_vanished_process_dropped() -> None:
    samples = [[proc(10, 1, GIB), proc(11, 1, GIB)]] * 3 + [[proc(11, 1, GIB)]]
    m = Monitor(ScriptedBackend(samples), Config(), hostname="h")
    m.open()
    for _ in range(4):
        frame = m.step()
    assert [pv.process.pid for pv in frame.gpus[0].processes] == [11]
    assert m.process_history("GPU-x", ProcessIdentity(10, 1)) == ()


def test_unknown_memory_is_not_zero() -> None:
    m = Monitor(ScriptedBackend([[proc(10, 1, None)]]), Config(), hostname="h")
    m.open()
    pv = m.step().gpus[0].processes[0]
    assert pv.process.used_bytes is None and pv.share is None and pv.peak_bytes is None


def test_history_bounded() -> None:
    cfg = Config().with_overrides(general={"history_length": 10})
    samples = [[proc(10, 1, GIB)] for _ in range(50)]
    m = Monitor(ScriptedBackend(samples), cfg, hostname="h")
    m.open()
    for _ in range(50):
        frame = m.step()
    assert len(frame.gpus[0].timeline) == 10
    assert len(m.process_history("GPU-x", ProcessIdentity(10, 1))) == 10


def test_lost_gpu_has_no_prediction() -> None:
    m = Monitor(
        ScriptedBackend([[proc(1, 1, GIB)]], state=DeviceState.LOST), Config(), hostname="h"
    )
    m.open()
    g = m.step().gpus[0]
    assert g.device.state is DeviceState.LOST and g.oom is None


def test_subscriber_failure_does_not_stop_publishing() -> None:
    m = Monitor(ScriptedBackend([[proc(1, 1, GIB)]] * 3), Config(), hostname="h")
    m.open()
    got: list[int] = []

    def bad(_f: Frame) -> None:
        raise RuntimeError("consumer bug")

    m.subscribe(bad)
    unsubscribe = m.subscribe(lambda f: got.append(f.seq))
    m.step()
    m.step()
    unsubscribe()
    m.step()
    assert got == [1, 2]


class FailingBackend(ScriptedBackend):
    def sample(self) -> MemorySnapshot:
        raise BackendError("driver went away")


def test_thread_loop_publishes_and_stops() -> None:
    cfg = Config().with_overrides(general={"refresh_rate": 0.5})
    samples = [[proc(1, 1, GIB)]] * 1000
    m = Monitor(ScriptedBackend(samples), cfg, hostname="h")
    m.open()
    got = threading.Event()
    m.subscribe(lambda f: got.set())
    m.start()
    try:
        assert got.wait(5)
    finally:
        m.stop()
    assert m.latest is not None


def test_thread_loop_survives_backend_errors() -> None:
    cfg = Config().with_overrides(general={"refresh_rate": 0.5})
    m = Monitor(FailingBackend([]), cfg, hostname="h")
    m.open()
    m.start()
    try:
        for _ in range(100):
            if any("driver went away" in n for n in m.notices):
                break
            threading.Event().wait(0.05)
    finally:
        m.stop()
    assert any("driver went away" in n for n in m.notices)


def test_replay_seek_pause_and_speed() -> None:
    tr = trace.read(TRACES[0])
    b = ReplayBackend(tr, step_s=1.0)
    first = b.sample().t
    assert b.sample().t == pytest.approx(first + 1)
    b.set_paused(True)
    assert b.sample().t == pytest.approx(first + 1)
    b.set_paused(False)
    b.set_step(10)
    assert b.sample().t == pytest.approx(first + 11)
    b.seek(first + 30)
    assert b.now == pytest.approx(first + 30)
    b.seek_relative(-1000)
    assert b.now == pytest.approx(b.start_t)
    b.seek(b.end_t)
    b.sample()
    assert b.at_end


def test_replay_loop_keeps_time_monotonic() -> None:
    tr = trace.read(TRACES[0])
    b = ReplayBackend(tr, step_s=20.0, loop=True)
    times = [b.sample().t for _ in range(20)]
    assert times == sorted(times)
    assert not b.at_end


class StatefulBackend(ScriptedBackend):
    """Each sample: (device state, processes)."""

    def __init__(self, samples: list[tuple[DeviceState, list[GPUProcess]]]) -> None:
        super().__init__([procs for _, procs in samples])
        self._states = iter([state for state, _ in samples])

    def sample(self) -> MemorySnapshot:
        snap = super().sample()
        dev = snap.devices[0]
        from dataclasses import replace

        return MemorySnapshot(
            t=snap.t, unix_time=snap.unix_time, devices=(replace(dev, state=next(self._states)),)
        )


def test_failed_process_list_keeps_history() -> None:
    ok, degraded = DeviceState.OK, DeviceState.DEGRADED
    samples = [(ok, [proc(10, 1, (1 + i) * GIB)]) for i in range(5)]
    samples += [(degraded, []), (ok, [proc(10, 1, 6 * GIB)])]
    m = Monitor(StatefulBackend(samples), Config(), hostname="h")
    m.open()
    for _ in range(6):
        m.step()
    assert len(m.process_history("GPU-x", ProcessIdentity(10, 1))) == 5
    pv = m.step().gpus[0].processes[0]
    assert len(m.process_history("GPU-x", ProcessIdentity(10, 1))) == 6
    assert pv.peak_bytes == 6 * GIB
