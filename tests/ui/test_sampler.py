"""The TUI's sampling thread: requests coalesce while a sample is being taken, none is
lost, and the thread ends with the app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vramtop.config import Config
from vramtop.ui.app import create_app
from vramtop.ui.sampler import SampleThread

from .helpers import holder, replay_monitor, wait_for


def _wait(pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_requests_made_during_a_sample_coalesce_into_one_more() -> None:
    taken: list[int] = []
    release = threading.Event()
    started = threading.Event()

    def take() -> None:
        taken.append(len(taken))
        started.set()
        release.wait(10)

    sampler = SampleThread(take)
    sampler.start()
    sampler.request()
    assert started.wait(10)
    for _ in range(5):  # while the first is still being taken
        sampler.request()
    release.set()
    _wait(lambda: len(taken) == 2)
    sampler.stop()
    assert not sampler.running
    assert taken == [0, 1]


def test_a_request_after_a_sample_is_taken_too() -> None:
    taken: list[int] = []
    sampler = SampleThread(lambda: taken.append(1))
    sampler.start()
    for n in (1, 2, 3):
        sampler.request()
        _wait(lambda n=n: len(taken) == n)
    sampler.stop()
    sampler.request()  # after stop: nothing more
    assert not sampler.running
    assert len(taken) == 3


async def test_the_sampling_thread_ends_with_the_app() -> None:
    app = create_app(replay_monitor(at_s=5), holder(Config()))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        seq = app.frame.seq if app.frame is not None else -1
        app.request_sample()
        await wait_for(pilot, lambda: app.frame is not None and app.frame.seq > seq)
        assert app._sampler.running
    assert not app._sampler.running
