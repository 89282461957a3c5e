"""Deep mode, the engine's side: find reporter sockets and read them, quickly.

Rules (SPEC §7, §12):
- only sockets in a private (0700, ours) directory, owned by our UID;
- a socket with no listener is stale: unlinked and skipped;
- data is attached by identity: the handshake's pid, the socket's name and the
  peer's credentials (SO_PEERCRED) must agree, and the process's start time
  must still be the one asked about (PID reuse);
- every read is bounded by `timeout_s` (default 50 ms) and cached per PID for
  `refresh_s`; a bad or slow reporter costs one failed read per period, never
  an exception in the engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import stat
import struct
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vramtop import paths
from vramtop.errors import IPCError
from vramtop.model import DeepStats, ProcessIdentity, ProcessInfo
from vramtop.procfs import ProcFS
from vramtop.reporter import protocol
from vramtop.reporter.protocol import Handshake, MemoryMessage

log = logging.getLogger(__name__)

_SOCKET_NAME = re.compile(r"^([1-9][0-9]{0,9})\.sock$")
_PEERCRED = struct.Struct("3i")
# Invariant: how many cached per-PID results before old ones are pruned.
_CACHE_PRUNE_AT = 1024


@dataclass(frozen=True, slots=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Reading:
    """One successful read of a reporter socket."""

    handshake: Handshake
    memory: MemoryMessage
    peer: PeerCred | None


@dataclass(frozen=True, slots=True)
class _Cached:
    starttime: int | None
    at: float
    stats: DeepStats | None


def default_dirs() -> tuple[Path, ...]:
    """Where reporters put sockets: $XDG_RUNTIME_DIR/vramtop, and the per-user temp
    fallback used by programs started without XDG_RUNTIME_DIR (cron, plain ssh)."""
    primary = paths.runtime_dir()
    fallback = Path(tempfile.gettempdir()) / f"vramtop-{os.getuid()}"
    return (primary,) if primary == fallback else (primary, fallback)


def _private_dir(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid == os.getuid()
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _own_socket(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid()


def _peer_cred(sock: socket.socket) -> PeerCred | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, option, _PEERCRED.size)
    return PeerCred(*_PEERCRED.unpack(raw))


def read_socket(path: Path, *, expected_pid: int, timeout_s: float) -> Reading:
    """Connect, read the handshake and one memory message, close.

    Raises ConnectionRefusedError (stale socket) and other OSErrors for
    connection problems, IPCError for anything wrong with what was received.
    """
    deadline = time.monotonic() + timeout_s
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        sock.connect(str(path))
        peer = _peer_cred(sock)
        if peer is not None:
            if peer.uid != os.getuid():
                raise IPCError(f"{path.name}: peer belongs to uid {peer.uid}")
            if peer.pid != expected_pid:
                raise IPCError(f"{path.name}: served by pid {peer.pid}, not {expected_pid}")
        lines: list[bytes] = []
        buf = b""
        while len(lines) < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IPCError(f"{path.name}: no answer within {timeout_s * 1000:.0f} ms")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(protocol.MAX_LINE_BYTES + 1)
            except TimeoutError:
                raise IPCError(
                    f"{path.name}: no answer within {timeout_s * 1000:.0f} ms"
                ) from None
            if not chunk:
                raise IPCError(f"{path.name}: connection closed after {len(lines)} of 2 lines")
            buf += chunk
            while b"\n" in buf and len(lines) < 2:
                line, buf = buf.split(b"\n", 1)
                lines.append(line)
            if len(buf) > protocol.MAX_LINE_BYTES and len(lines) < 2:
                raise IPCError(
                    f"{path.name}: line exceeds the {protocol.MAX_LINE_BYTES}-byte limit"
                )
    finally:
        sock.close()
    handshake = protocol.parse_handshake(lines[0])
    if handshake.pid != expected_pid:
        raise IPCError(f"{path.name}: handshake says pid {handshake.pid}")
    memory = protocol.parse_memory(lines[1])
    return Reading(handshake, memory, peer)


def to_deep_stats(reading: Reading) -> DeepStats:
    hs, m = reading.handshake, reading.memory
    return DeepStats(
        framework=hs.framework,
        cuda_device=hs.cuda_device,
        allocated_bytes=m.allocated_bytes,
        reserved_bytes=m.reserved_bytes,
        active_bytes=m.active_bytes,
        allocated_peak_bytes=m.allocated_peak_bytes,
        reserved_peak_bytes=m.reserved_peak_bytes,
        num_allocs=m.num_allocs,
        segments=m.segments,
        ts=m.ts,
        active_peak_bytes=m.active_peak_bytes,
        inactive_split_bytes=m.inactive_split_bytes,
        num_ooms=m.num_ooms,
        num_alloc_retries=m.num_alloc_retries,
    )


class DeepCollector:
    """Finds and reads deep-mode sockets of this user's processes.

    Not thread-safe: owned by one enrichment worker.
    """

    def __init__(
        self,
        runtime_dir: Path | None = None,
        *,
        timeout_s: float = 0.05,
        refresh_s: float = 1.0,
        procfs: ProcFS | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dirs = (runtime_dir,) if runtime_dir is not None else default_dirs()
        self.timeout_s = timeout_s
        self.refresh_s = refresh_s
        self._procfs = procfs or ProcFS()
        self._clock = clock
        self._cache: dict[int, _Cached] = {}
        # Each directory's listing, re-read at most every `refresh_s`: one listdir per
        # directory instead of two stats per process per refresh.
        self._listings: dict[Path, tuple[float, frozenset[str]]] = {}

    # discovery ------------------------------------------------------------

    def scan(self) -> dict[int, Path]:
        """Live reporter sockets of this user, by PID. Stale ones are unlinked."""
        found: dict[int, Path] = {}
        for directory in self._dirs:
            if not _private_dir(directory):
                continue
            try:
                entries = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in entries:
                match = _SOCKET_NAME.match(name)
                if match is None:
                    continue
                pid = int(match.group(1))
                path = directory / name
                if pid in found or not _own_socket(path):
                    continue
                if self._is_live(path):
                    found[pid] = path
        return found

    def _is_live(self, path: Path) -> bool:
        # Only a refused connection proves staleness: a missing /proc/<pid> could be
        # another PID namespace sharing the directory.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout_s)
        try:
            sock.connect(str(path))
        except ConnectionRefusedError:
            self._unlink_stale(path, "no listener")
            return False
        except OSError:
            return False
        finally:
            sock.close()
        return True

    def _unlink_stale(self, path: Path, why: str) -> None:
        log.debug("deep mode: removing stale socket %s (%s)", path, why)
        try:
            if _own_socket(path):
                path.unlink()
        except OSError as e:
            log.debug("deep mode: could not remove %s: %s", path, e)

    def _names(self, directory: Path) -> frozenset[str]:
        now = self._clock()
        listed = self._listings.get(directory)
        if listed is not None and now - listed[0] < self.refresh_s:
            return listed[1]
        names: frozenset[str] = frozenset()
        if _private_dir(directory):
            with contextlib.suppress(OSError):
                names = frozenset(os.listdir(directory))
        self._listings[directory] = (now, names)
        return names

    def _socket_for(self, pid: int) -> Path | None:
        name = f"{pid}.sock"
        for directory in self._dirs:
            if name in self._names(directory) and _own_socket(directory / name):
                return directory / name
        return None

    # reading ---------------------------------------------------------------

    def stats_for(self, pid: int, starttime: int | None) -> DeepStats | None:
        """The process's own allocator statistics, or None (no reporter, not ours, no
        CUDA in it yet, or the read failed).

        At most one socket read per PID per `refresh_s`; each read is bounded by
        `timeout_s`. Never raises.
        """
        now = self._clock()
        cached = self._cache.get(pid)
        fresh = cached is not None and now - cached.at < self.refresh_s
        if cached is not None and fresh and cached.starttime == starttime:
            return cached.stats
        try:
            stats = self._fetch(pid, starttime)
        except Exception:  # a worker boundary: one bad reporter never stops enrichment
            log.exception("deep mode: unexpected failure reading pid %d", pid)
            stats = None
        if len(self._cache) >= _CACHE_PRUNE_AT:
            self._cache = {
                p: c for p, c in self._cache.items() if now - c.at < 10 * self.refresh_s
            }
        self._cache[pid] = _Cached(starttime, now, stats)
        return stats

    def prune(self, live_pids: Collection[int]) -> None:
        """Keep cached results only for these PIDs."""
        self._cache = {p: c for p, c in self._cache.items() if p in live_pids}

    def forget(self, pids: Iterable[int]) -> None:
        """Drop cached results of these PIDs (processes that ended)."""
        for pid in pids:
            self._cache.pop(pid, None)

    def _fetch(self, pid: int, starttime: int | None) -> DeepStats | None:
        path = self._socket_for(pid)
        if path is None:
            return None
        try:
            reading = read_socket(path, expected_pid=pid, timeout_s=self.timeout_s)
        except ConnectionRefusedError:
            self._unlink_stale(path, "no listener")
            return None
        except IPCError as e:
            log.debug("deep mode: pid %d: %s", pid, e)
            return None
        except OSError as e:
            log.debug("deep mode: pid %d: %s", pid, e)
            return None
        if starttime is not None and self._procfs.starttime(pid) != starttime:
            log.debug("deep mode: pid %d is no longer the process asked about", pid)
            return None
        if reading.handshake.framework == protocol.FRAMEWORK_NONE:
            return None  # reporter up, but no torch/CUDA yet: its zeros are not data
        return to_deep_stats(reading)


class DeepAugmenter:
    """Fills `ProcessInfo.deep` (the enrichment orchestrator's InfoAugmenter protocol).

    The orchestrator calls it for same-user processes only; the collector adds
    its own same-UID and identity checks.
    """

    name = "deep"

    def __init__(
        self, collector: DeepCollector | None = None, *, sweep_s: float = 60.0
    ) -> None:
        self.collector = collector or DeepCollector()
        self.sweep_s = sweep_s
        self._swept_at: float | None = None

    def augment(self, info: ProcessInfo, now: float) -> ProcessInfo:
        # Now and then, sweep the directories: stale sockets of processes that are not
        # on a GPU (killed workers, crashed scripts) are removed too.
        if self._swept_at is None or now - self._swept_at >= self.sweep_s:
            self._swept_at = now
            self.collector.scan()
        ident = info.identity
        deep = self.collector.stats_for(ident.pid, ident.starttime)
        return info if deep == info.deep else replace(info, deep=deep)

    def forget(self, identities: Sequence[ProcessIdentity]) -> None:
        self.collector.forget(i.pid for i in identities)
