"""Textual's terminal driver for Linux and macOS, without its 10 Hz input poll, and safe
when the terminal hangs up.

Textual's input thread wakes every 0.1 s whether or not a key was pressed, only
to ask its escape-sequence parser whether a lone ESC has waited long enough.
Each wake-up costs the process a scheduler round trip; for a monitor that
otherwise wakes once a second that is most of its idle cost. This driver's
input thread sleeps until a key arrives, the parser has a deadline, or the
driver stops (stopping sets `exit_event`, which here also writes to a wake-up
pipe the thread watches).

When a terminal hangs up the kernel sends SIGHUP and SIGCONT. Textual treats
any SIGCONT as the end of a Ctrl+Z suspension and starts application mode a
second time, and its output thread dies on the first write that fails; once 30
writes are queued the app blocks forever, and the user's closed window leaves
a vramtop behind. Here SIGCONT resumes only what a SIGTSTP suspended, and
writes to a terminal that is gone are dropped.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import TYPE_CHECKING, Any, TextIO, cast

from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App

READ_CHUNK = 4096
FALLBACK_POLL_S = 0.1  # Textual's own interval, if its parser ever hides its deadline


class _WakingEvent(threading.Event):
    """An Event whose `set` also wakes the input thread out of its select, through the
    pipe that thread opened for its own lifetime (none between threads)."""

    def __init__(self) -> None:
        super().__init__()
        self._pipe_lock = threading.Lock()
        self._wake_w: int | None = None

    def open_pipe(self) -> int:
        """A new wake-up pipe for an input thread; returns its read end."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        with self._pipe_lock:
            self._wake_w = write_fd
        return read_fd

    def close_pipe(self, read_fd: int) -> None:
        with self._pipe_lock:
            write_fd, self._wake_w = self._wake_w, None
        for fd in (read_fd, write_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def set(self) -> None:
        super().set()
        with self._pipe_lock:
            if self._wake_w is not None:
                with contextlib.suppress(OSError):  # the pipe is full: the thread is awake
                    os.write(self._wake_w, b"x")


class _HangupSafeOutput:
    """The terminal as the output thread writes to it; writes after a hang-up are dropped
    (the thread that made them would otherwise die with its queue still filling)."""

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except (OSError, ValueError):  # EIO or EPIPE: the terminal is gone; or closed
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.flush()

    def fileno(self) -> int:
        return self._file.fileno()


class QuietLinuxDriver(LinuxDriver):
    """LinuxDriver whose input thread blocks instead of polling."""

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        # Textual suspends (Ctrl+Z) by stopping application mode and closing the driver,
        # and resumes by starting it again: each input thread has its own wake-up pipe.
        self._exit = self.exit_event = _WakingEvent()
        self._hung_up = False
        if self._file is not None:  # only the output thread uses it: write, flush, fileno
            self._file = cast(Any, _HangupSafeOutput(self._file))

    def _sigcont_application(self, *args: object) -> None:
        # SIGCONT also comes with a hang-up; only a SIGTSTP of ours has anything to resume.
        if self._must_signal_resume:
            super()._sigcont_application(*args)

    def run_input_thread(self) -> None:
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        self._hung_up = False
        wake = self._exit.open_pipe()  # before the first look at exit_event
        try:
            # select(), as Textual's own thread: macOS's kqueue does not watch terminals.
            with selectors.SelectSelector() as selector:
                selector.register(self.fileno, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                while not self.exit_event.is_set() and not self._hung_up:
                    self._pump(selector, wake, parser, decode, self._wait_s(parser), final=False)
                if not self._hung_up:  # what was typed just before the stop
                    selector.unregister(wake)
                    self._pump(selector, wake, parser, decode, 0.0, final=True)
        finally:
            self._exit.close_pipe(wake)
            for _ in parser.feed(""):  # end of input: the parser flushes what it holds
                pass

    def _pump(
        self,
        selector: selectors.BaseSelector,
        wake: int,
        parser: XTermParser,
        decode: Any,
        timeout: float | None,
        *,
        final: bool,
    ) -> None:
        for key, _mask in selector.select(timeout):
            if key.fd == wake:
                with contextlib.suppress(OSError):  # BlockingIOError: drained
                    while os.read(wake, 64):
                        pass
                continue
            try:
                data = decode(os.read(self.fileno, READ_CHUNK), final=final)
            except OSError:  # EIO: the terminal hung up; the app's SIGHUP handler ends it
                self._hung_up = True
                return
            if not data:  # stdin closed: no input will ever come
                self._hung_up = True
                return
            for event in parser.feed(data):
                self.process_message(event)
        for event in parser.tick():
            self.process_message(event)

    @staticmethod
    def _wait_s(parser: XTermParser) -> float | None:
        """How long the thread may sleep: until the parser's deadline, or until input."""
        if not hasattr(parser, "_timeout_time"):
            return FALLBACK_POLL_S
        deadline = parser._timeout_time
        return None if deadline is None else max(0.0, deadline - get_time())
