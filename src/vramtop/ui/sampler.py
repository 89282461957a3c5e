"""The TUI's sampling thread: one long-lived thread that takes a sample when asked.

Textual's thread workers would start a worker per sample, each posting its state
changes back to the app; at 1 Hz that bookkeeping (and the extra wake-up of the UI
thread it costs) is a measurable share of an otherwise idle TUI. Requests made
while a sample is being taken coalesce into one more sample, so none is lost and
none piles up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class SampleThread:
    def __init__(self, take: Callable[[], None], *, name: str = "vramtop-sampler") -> None:
        self._take = take
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stopping:
            self._thread.start()

    def request(self) -> None:
        """Take a sample as soon as the thread is free."""
        self._wanted.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """No more samples; wait (at most `timeout_s`) for one being taken to finish."""
        self._stopping = True
        self._wanted.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping:
                return
            self._wanted.clear()
            self._take()
