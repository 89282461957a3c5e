"""The in-process reporter: a daemon thread serving allocator statistics.

Runs inside other people's training jobs, so it must never block, crash or
slow them down:

- standard library only (plus vramtop's own light modules); torch is read
  from ``sys.modules`` and never imported here, CUDA never initialised here;
- one daemon thread multiplexes every reader with ``selectors``; each reader
  gets the handshake and one fresh memory message on connect, then one more
  message per line it sends;
- any exception inside the thread is caught at the top, logged to a logger that
  prints nothing unless ``VRAMTOP_DEBUG`` is set, and the socket is removed;
- the socket is removed at exit (atexit) and on SIGTERM (a handler the program
  had is chained; with the default disposition the process still dies by the
  signal). A forked child never removes its parent's socket.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from vramtop import paths, security
from vramtop.reporter import protocol
from vramtop.reporter.protocol import FRAMEWORK_NONE, Handshake, MemoryMessage

log = logging.getLogger("vramtop.reporter")
log.propagate = False
log.addHandler(logging.NullHandler())
if os.environ.get("VRAMTOP_DEBUG"):
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("vramtop reporter: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.DEBUG)

# Invariants of the serving loop (not tunables: the engine side has the timeouts).
_BACKLOG = 16
_MAX_CONNECTIONS = 32
_MAX_REQUEST_BYTES = 1024
_MAX_PENDING_OUT = protocol.MAX_LINE_BYTES
_IDLE_CLOSE_S = 60.0
_POLL_S = 1.0
_PEERCRED = struct.Struct("3i")


# ---------------------------------------------------------------- statistics


def _cuda_module() -> Any | None:
    """`torch.cuda` if torch is already imported and CUDA already initialised."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cuda = getattr(torch, "cuda", None)  # None while torch is half-imported
    is_initialized = getattr(cuda, "is_initialized", None)
    if not callable(is_initialized) or not is_initialized():
        return None
    return cuda


def _stat(stats: dict[str, Any], key: str) -> int:
    value = stats.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _nothing(pid: int, now: float) -> tuple[Handshake, MemoryMessage]:
    return Handshake(protocol.PROTOCOL_VERSION, pid, FRAMEWORK_NONE, None), MemoryMessage.zeros(now)


def read_stats(device: int | None = None) -> tuple[Handshake, MemoryMessage]:
    """The handshake and one memory reading for this process, right now.

    `device` None picks the device holding the most reserved memory (in a
    one-GPU job, the one it uses; with DistributedDataParallel each rank's own).
    Zeros and framework "none" when torch is not imported or CUDA not initialised.
    """
    now = time.time()
    pid = os.getpid()
    cuda = _cuda_module()
    if cuda is None:
        return _nothing(pid, now)
    candidates = [device] if device is not None else list(range(int(cuda.device_count())))
    best: tuple[int, dict[str, Any]] | None = None
    for index in candidates:
        stats = dict(cuda.memory_stats(index))
        if best is None or _stat(stats, "reserved_bytes.all.current") > _stat(
            best[1], "reserved_bytes.all.current"
        ):
            best = (index, stats)
    if best is None:
        return _nothing(pid, now)
    index, stats = best
    message = MemoryMessage(
        ts=now,
        allocated_bytes=_stat(stats, "allocated_bytes.all.current"),
        reserved_bytes=_stat(stats, "reserved_bytes.all.current"),
        active_bytes=_stat(stats, "active_bytes.all.current"),
        allocated_peak_bytes=_stat(stats, "allocated_bytes.all.peak"),
        reserved_peak_bytes=_stat(stats, "reserved_bytes.all.peak"),
        active_peak_bytes=_stat(stats, "active_bytes.all.peak"),
        inactive_split_bytes=_stat(stats, "inactive_split_bytes.all.current"),
        # The key is "allocation.*" (torch's docstring says "allocated.*"; the C++ says otherwise).
        num_allocs=_stat(stats, "allocation.all.current"),
        segments=_stat(stats, "segment.all.current"),
        num_ooms=_stat(stats, "num_ooms"),
        num_alloc_retries=_stat(stats, "num_alloc_retries"),
    )
    return Handshake(protocol.PROTOCOL_VERSION, pid, "pytorch", index), message


def _safe_stats(device: int | None) -> tuple[Handshake, MemoryMessage]:
    """`read_stats`, but a failure inside torch answers zeros instead of stopping the server."""
    try:
        return read_stats(device)
    except Exception:
        log.debug("reading torch.cuda.memory_stats failed", exc_info=True)
        return _nothing(os.getpid(), time.time())


# ---------------------------------------------------------------- the server


class _Conn:
    __slots__ = ("inbuf", "last_active", "outbuf", "sock")

    def __init__(self, sock: socket.socket, first: bytes, now: float) -> None:
        self.sock = sock
        self.inbuf = b""
        self.outbuf = first
        self.last_active = now


class Reporter:
    """One serving socket for this process. Create with `start()`."""

    def __init__(self, device: int | None) -> None:
        self.device = device
        self.owner_pid = os.getpid()
        self.path: Path | None = None
        self._ino: int | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._cleaned = False

    # lifecycle -----------------------------------------------------------

    def start(self) -> Path:
        directory = security.ensure_private_dir(paths.runtime_dir())
        st = os.lstat(directory)
        if (
            not stat.S_ISDIR(st.st_mode)
            or st.st_uid != os.getuid()
            or stat.S_IMODE(st.st_mode) != 0o700
        ):
            raise PermissionError(f"{directory}: not a private directory of this user")
        final = directory / f"{self.owner_pid}.sock"
        tmp = directory / f".{self.owner_pid}.{os.urandom(4).hex()}.tmp"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(tmp))
            os.chmod(tmp, 0o600)
            listener.listen(_BACKLOG)
            listener.setblocking(False)
            # Atomic: readers only ever see a complete, owner-only, listening socket.
            os.replace(tmp, final)
        except BaseException:
            listener.close()
            _unlink_quietly(tmp)
            raise
        self._listener = listener
        self.path = final
        self._ino = os.lstat(final).st_ino
        self._thread = threading.Thread(target=self._run, name="vramtop-reporter", daemon=True)
        self._thread.start()
        return final

    def alive(self) -> bool:
        return (
            not self._cleaned
            and self.owner_pid == os.getpid()
            and self._thread is not None
            and self._thread.is_alive()
        )

    def cleanup(self) -> None:
        """Remove the socket file (only the one this process created). Signal-safe: no locks."""
        if self._cleaned or self.owner_pid != os.getpid():
            return
        self._cleaned = True
        self._stopping = True
        path, ino = self.path, self._ino
        if path is None:
            return
        try:
            if os.lstat(path).st_ino == ino:
                os.unlink(path)
        except OSError:
            pass

    def forget_after_fork(self) -> None:
        """In a forked child: drop the inherited listener, never touch the parent's file."""
        self._cleaned = True
        self._stopping = True
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()

    # serving -------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception:
            log.debug("reporter thread failed; socket removed", exc_info=True)
        finally:
            self.cleanup()

    def _serve(self) -> None:
        listener = self._listener
        assert listener is not None
        conns: dict[int, _Conn] = {}
        with selectors.DefaultSelector() as sel:
            sel.register(listener, selectors.EVENT_READ, None)
            try:
                while not self._stopping:
                    for key, events in sel.select(_POLL_S):
                        if key.data is None:
                            self._accept(listener, sel, conns)
                            continue
                        conn: _Conn = key.data
                        try:
                            if events & selectors.EVENT_READ:
                                self._on_read(conn, sel, conns)
                            if conn.sock.fileno() >= 0 and events & selectors.EVENT_WRITE:
                                self._on_write(conn, sel, conns)
                        except OSError as e:
                            log.debug("reader dropped: %s", e)
                            _close(conn, sel, conns)
                    now = time.monotonic()
                    for conn in [c for c in conns.values() if now - c.last_active > _IDLE_CLOSE_S]:
                        _close(conn, sel, conns)
            finally:
                for conn in list(conns.values()):
                    _close(conn, sel, conns)
                listener.close()

    def _accept(
        self, listener: socket.socket, sel: selectors.BaseSelector, conns: dict[int, _Conn]
    ) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if len(conns) >= _MAX_CONNECTIONS or not _peer_is_same_user(sock):
            sock.close()
            return
        sock.setblocking(False)
        handshake, message = _safe_stats(self.device)
        conn = _Conn(sock, protocol.encode(handshake) + protocol.encode(message), time.monotonic())
        conns[sock.fileno()] = conn
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def _on_read(self, conn: _Conn, sel: selectors.BaseSelector, conns: dict[int, _Conn]) -> None:
        data = conn.sock.recv(4096)
        if not data:
            _close(conn, sel, conns)
            return
        conn.last_active = time.monotonic()
        conn.inbuf += data
        requests = conn.inbuf.count(b"\n")
        conn.inbuf = conn.inbuf.rpartition(b"\n")[2]
        if len(conn.inbuf) > _MAX_REQUEST_BYTES:
            _close(conn, sel, conns)
            return
        if requests:
            _, message = _safe_stats(self.device)
            conn.outbuf += protocol.encode(message) * requests
            if len(conn.outbuf) > _MAX_PENDING_OUT:  # a reader that asks but never reads
                _close(conn, sel, conns)
                return
            sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    def _on_write(self, conn: _Conn, sel: selectors.BaseSelector, conns: dict[int, _Conn]) -> None:
        if conn.outbuf:
            # MSG_NOSIGNAL: a host program with SIGPIPE at SIG_DFL must not die from a gone reader.
            sent = conn.sock.send(conn.outbuf, socket.MSG_NOSIGNAL)
            conn.outbuf = conn.outbuf[sent:]
        if not conn.outbuf:
            sel.modify(conn.sock, selectors.EVENT_READ, conn)


def _close(conn: _Conn, sel: selectors.BaseSelector, conns: dict[int, _Conn]) -> None:
    fd = conn.sock.fileno()
    if fd >= 0:
        conns.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(conn.sock)
    conn.sock.close()


def _peer_is_same_user(sock: socket.socket) -> bool:
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    except OSError:
        return False
    _pid, uid, _gid = _PEERCRED.unpack(raw)
    return bool(uid == os.getuid())


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# ---------------------------------------------------------------- process-wide state

_lock = threading.Lock()
_current: Reporter | None = None
_hooks_installed = False


def start(device: int | None = None) -> Path | None:
    """Start serving (idempotent). Returns the socket path, or None if it could not start.

    Never raises: a failure is logged (visible with VRAMTOP_DEBUG=1) and the
    host program carries on.
    """
    global _current
    try:
        with _lock:
            if _current is not None and _current.alive():
                if device is not None:
                    _current.device = device
                return _current.path
            reporter = Reporter(device)
            path = reporter.start()
            _current = reporter
            _install_hooks()
            log.debug("serving %s", path)
            return path
    except Exception:
        log.debug("could not start the reporter", exc_info=True)
        return None


def stop() -> None:
    """Stop serving and remove the socket (also done automatically at exit)."""
    reporter = _current
    if reporter is not None:
        reporter.cleanup()


def current_path() -> Path | None:
    reporter = _current
    return reporter.path if reporter is not None and reporter.alive() else None


def _at_exit() -> None:
    stop()


def _after_fork_in_child() -> None:
    global _current, _lock
    _lock = threading.Lock()  # the parent may have held it while forking
    if _current is not None:
        _current.forget_after_fork()
    _current = None


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    _install_sigterm()


def _install_sigterm() -> None:
    """Remove the socket on SIGTERM. Only possible from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        log.debug("not in the main thread: SIGTERM cleanup left to discovery")
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN or previous is None:
        return  # ignored (or set outside Python): the process survives SIGTERM anyway
    signal.signal(signal.SIGTERM, _make_sigterm_handler(previous))


def _make_sigterm_handler(
    previous: Callable[[int, FrameType | None], Any] | int | signal.Handlers,
) -> Callable[[int, FrameType | None], Any]:
    def on_sigterm(signum: int, frame: FrameType | None) -> Any:
        if callable(previous):
            # The program's own handler decides (it may shut down gracefully and keep
            # reporting meanwhile); atexit removes the socket when the process exits.
            return previous(signum, frame)
        stop()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return None

    return on_sigterm
