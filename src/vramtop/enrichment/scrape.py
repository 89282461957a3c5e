"""Scraping inference servers on localhost, under five rules.

Each rule is enforced in exactly one place, and every request goes through
`ServerScraper._request`, which applies all five:

1. `loopback_endpoint`: only `http://127.0.0.1:<port>` or `http://[::1]:<port>`
   (IP-validated; `LoopbackEndpoint` cannot hold anything else) and only ports
   in `[scraping] allowed_ports`.
2. `verify_owner`: the port is a listening socket owned by the very process
   being enriched or a same-user ancestor of it (vLLM's API server above its
   engine cores, `ollama serve` above its runner), in our network namespace,
   and no other process listens on it; read from the socket table
   (`/proc/<pid>/net/tcp{,6}` and the `socket:[inode]` links in `/proc/<pid>/fd`).
3. `RateLimiter.try_acquire`: one request per endpoint per server process per
   `rate_limit_seconds`.
4. and 5. `fetch`: no redirect is followed (a 3xx is a refusal), and the whole
   exchange ends by `timeout_ms` with at most 64 KiB of body, enforced while
   reading: a server that streams forever or trickles bytes is cut off.

`ServerScraper.scrape()` never waits on the network: it returns what is known
and queues a refresh for a small pool of worker threads.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import ipaddress
import logging
import os
import queue
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from vramtop.config import ScrapingConfig
from vramtop.enrichment.framework import from_cmdline
from vramtop.enrichment.servers import (
    DEFAULT_PORTS,
    LLAMACPP,
    OLLAMA,
    SGLANG,
    VLLM,
    Adapter,
    HttpResponse,
    RateLimited,
    normalize_kind,
)
from vramtop.enrichment.servers.llamacpp import LlamaCppAdapter
from vramtop.enrichment.servers.ollama import OllamaAdapter
from vramtop.enrichment.servers.sglang import SglangAdapter
from vramtop.enrichment.servers.vllm import VllmAdapter
from vramtop.errors import ScrapeError, ScrapeRefusedError
from vramtop.model import ProcessIdentity, ProcessInfo, ServerMetrics
from vramtop.procfs import ProcFS
from vramtop.security import current_uid, sanitize

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
_CHUNK_SLACK = 4096  # chunked-encoding framing on top of a full body
_RECV_BYTES = 16 * 1024
#: How far above the GPU process the port owner may be (worker, engine core, API server, launcher).
MAX_ANCESTORS = 3
_WORKERS = 2
_QUEUE_SIZE = 64
_PRUNE_FACTOR = 12  # state unseen for this many rate-limit windows (and >= 60 s) is dropped

_ADAPTERS: dict[str, Callable[[], Adapter]] = {
    VLLM: VllmAdapter,
    OLLAMA: OllamaAdapter,
    SGLANG: SglangAdapter,
    LLAMACPP: LlamaCppAdapter,
}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_V4_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
_V6_LOOPBACK = ipaddress.IPv6Address("::1")
_V4_ANY = ipaddress.IPv4Address("0.0.0.0")
_V6_ANY = ipaddress.IPv6Address("::")
_PATH_RE = re.compile(r"/[A-Za-z0-9_\-./]*")


# --- rule 1: the URL ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoopbackEndpoint:
    """`127.0.0.1:<port>` or `[::1]:<port>`; constructing anything else raises."""

    host: str
    port: int

    def __post_init__(self) -> None:
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            raise ScrapeRefusedError(f"{sanitize(self.host, 60)!r} is not an IP address") from None
        if ip not in (_V4_LOOPBACK, _V6_LOOPBACK) or str(ip) != self.host:
            raise ScrapeRefusedError(f"{self.host} is not 127.0.0.1 or ::1")
        if type(self.port) is not int or not 1 <= self.port <= 65535:
            raise ScrapeRefusedError(f"bad port {self.port!r}")

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.authority}{checked_path(path)}"


def checked_path(path: str) -> str:
    if not _PATH_RE.fullmatch(path) or ".." in path or "//" in path:
        raise ScrapeRefusedError(f"bad path {sanitize(path, 60)!r}")
    return path


def loopback_endpoint(host: str, port: int, allowed_ports: Collection[int]) -> LoopbackEndpoint:
    """Rule 1: the only endpoints vramtop will ever talk to."""
    endpoint = LoopbackEndpoint(host, port)
    if port not in allowed_ports:
        raise ScrapeRefusedError(f"port {port} not in [scraping] allowed_ports")
    return endpoint


# --- rule 2: who owns the port ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListenSocket:
    address: IPAddress
    port: int
    inode: int
    uid: int


def _hex_address(text: str) -> IPAddress:
    raw = bytes.fromhex(text)
    if len(raw) not in (4, 16):
        raise ValueError("bad address length")
    if sys.byteorder == "little":  # the kernel prints each 32-bit word in host order
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(raw)


def parse_proc_net_tcp(text: str) -> list[ListenSocket]:
    """The LISTEN rows of /proc/net/tcp or tcp6 (state 0A); malformed rows are skipped."""
    out: list[ListenSocket] = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or f[3] != "0A":
            continue
        addr, _, port = f[1].partition(":")
        try:
            out.append(ListenSocket(_hex_address(addr), int(port, 16), int(f[9]), int(f[7])))
        except ValueError:
            continue
    return out


def listening_sockets(procfs: ProcFS, pid: int) -> list[ListenSocket]:
    """Every TCP listener in `pid`'s network namespace."""
    out: list[ListenSocket] = []
    for name in ("tcp", "tcp6"):
        try:
            text = (procfs.pid_dir(pid) / "net" / name).read_text(errors="replace")
        except OSError:
            continue
        out.extend(parse_proc_net_tcp(text))
    return out


def socket_inodes(procfs: ProcFS, pid: int) -> frozenset[int]:
    inodes = set()
    for target in procfs.fd_targets(pid):
        if target.startswith("socket:[") and target.endswith("]"):
            digits = target[8:-1]
            if digits.isdigit():
                inodes.add(int(digits))
    return frozenset(inodes)


def same_netns(procfs: ProcFS, pid: int) -> bool:
    """Whether `pid` shares our network namespace (else its 127.0.0.1 is not ours)."""
    try:
        theirs = os.readlink(procfs.pid_dir(pid) / "ns" / "net")
        ours = os.readlink(procfs.root / "self" / "ns" / "net")
    except OSError:
        return False
    return theirs == ours


def connect_host(address: IPAddress) -> str | None:
    """The loopback address that reaches a socket bound to `address`, if any."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in (_V4_ANY, _V4_LOOPBACK):
        return "127.0.0.1"
    if address in (_V6_ANY, _V6_LOOPBACK):
        return "::1"
    return None


def _reaches(address: IPAddress, host: str) -> bool:
    """Whether a connection to `host` could land on a socket bound to `address`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if host == "127.0.0.1":
        return address in (_V4_ANY, _V4_LOOPBACK, _V6_ANY)
    return address in (_V6_ANY, _V6_LOOPBACK)


def owned_endpoints(procfs: ProcFS, pid: int) -> list[tuple[str, int]]:
    """(loopback host, port) pairs on which `pid` is the only listener."""
    table = listening_sockets(procfs, pid)
    mine = socket_inodes(procfs, pid)
    uid = current_uid()
    found: set[tuple[str, int]] = set()
    for row in table:
        host = connect_host(row.address)
        if row.inode in mine and row.uid == uid and host is not None:
            found.add((host, row.port))
    return sorted(
        (host, port)
        for host, port in found
        if all(r.inode in mine for r in table if r.port == port and _reaches(r.address, host))
    )


def verify_owner(procfs: ProcFS, owner: ProcessIdentity, endpoint: LoopbackEndpoint) -> None:
    """Rule 2: refuse unless `owner` (same process, same user, same network
    namespace) is the only listener behind `endpoint`."""
    if procfs.starttime(owner.pid) != owner.starttime:
        raise ScrapeRefusedError(f"server process {owner.pid} is gone")
    if procfs.uid(owner.pid) != current_uid():
        raise ScrapeRefusedError(f"process {owner.pid} belongs to another user")
    if not same_netns(procfs, owner.pid):
        raise ScrapeRefusedError("server runs in another network namespace")
    if (endpoint.host, endpoint.port) not in owned_endpoints(procfs, owner.pid):
        raise ScrapeRefusedError(
            f"port {endpoint.port} is not listened on by process {owner.pid} alone"
        )


# --- rule 3: rate limit -------------------------------------------------------------


class RateLimiter:
    """Rule 3: at most one request per (server process, endpoint) per interval."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[tuple[ProcessIdentity, str], float] = {}
        self._owner_last: dict[ProcessIdentity, float] = {}

    def try_acquire(self, owner: ProcessIdentity, endpoint: str) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get((owner, endpoint))
            if last is not None and now - last < self.interval_s:
                return False
            self._last[(owner, endpoint)] = now
            self._owner_last[owner] = max(now, self._owner_last.get(owner, now))
            return True

    def next_due(self, owner: ProcessIdentity) -> float:
        """When every endpoint of `owner` asked so far is open again."""
        with self._lock:
            last = self._owner_last.get(owner)
        return float("-inf") if last is None else last + self.interval_s

    def forget(self, owners: Iterable[ProcessIdentity]) -> None:
        gone = set(owners)
        with self._lock:
            for key in [k for k in self._last if k[0] in gone]:
                del self._last[key]
            for owner in gone:
                self._owner_last.pop(owner, None)


# --- rules 4 and 5: one bounded request, no redirects ------------------------------

_STATUS_RE = re.compile(rb"HTTP/\d\.\d (\d{3})")
_LENGTH_RE = re.compile(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r?$")


class _BufferSocket:
    """Lets http.client parse a response that is already read (and bounded)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, *_args: object, **_kwargs: object) -> io.BytesIO:
        return io.BytesIO(self._data)


def _read_raw(
    endpoint: LoopbackEndpoint, request: bytes, timeout_s: float, clock: Callable[[], float]
) -> bytes:
    deadline = clock() + timeout_s
    too_big = ScrapeError(f"response over {MAX_BODY_BYTES // 1024} KB")
    buf = bytearray()
    head_end = -1
    needed: int | None = None
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s) as sock:
        sock.sendall(request)
        while True:
            remaining = deadline - clock()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(_RECV_BYTES)
            if not chunk:
                return bytes(buf)
            buf += chunk
            if head_end < 0:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0 or head_end > MAX_HEADER_BYTES:
                    if len(buf) > MAX_HEADER_BYTES:
                        raise ScrapeError(f"response headers over {MAX_HEADER_BYTES // 1024} KB")
                    head_end = -1
                    continue
                status = _STATUS_RE.match(buf)
                if status is None:
                    raise ScrapeError("not an HTTP response")
                code = int(status.group(1))
                if 300 <= code < 400:  # rule 4: a redirect is never followed
                    raise ScrapeRefusedError(f"redirect refused (HTTP {code})")
                length = _LENGTH_RE.search(buf, 0, head_end + 2)
                if length is not None:
                    if int(length.group(1)) > MAX_BODY_BYTES:
                        raise too_big
                    needed = head_end + 4 + int(length.group(1))
            if len(buf) - head_end - 4 > MAX_BODY_BYTES + _CHUNK_SLACK:
                raise too_big
            if needed is not None and len(buf) >= needed:
                return bytes(buf)


def fetch(
    endpoint: LoopbackEndpoint,
    path: str,
    *,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> HttpResponse:
    """Rules 4 and 5: one GET; a 3xx is refused; the deadline and the 64 KiB cap
    hold while reading, so nothing unbounded is ever buffered."""
    request = (
        f"GET {checked_path(path)} HTTP/1.1\r\nHost: {endpoint.authority}\r\n"
        "User-Agent: vramtop\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    try:
        raw = _read_raw(endpoint, request, timeout_s, clock)
    except TimeoutError:
        raise ScrapeError(f"timed out after {round(timeout_s * 1000)} ms") from None
    except ConnectionRefusedError:
        raise ScrapeError("connection refused") from None
    except OSError as e:
        raise ScrapeError(f"connection failed: {sanitize(e.strerror or e, 80)}") from None
    if not raw:
        raise ScrapeError("server closed the connection without answering")
    resp = http.client.HTTPResponse(_BufferSocket(raw))  # type: ignore[arg-type]
    try:
        resp.begin()
        body = resp.read()
    except (http.client.HTTPException, ValueError):
        raise ScrapeError("malformed or truncated HTTP response") from None
    if 300 <= resp.status < 400:
        raise ScrapeRefusedError(f"redirect refused (HTTP {resp.status})")
    if len(body) > MAX_BODY_BYTES:
        raise ScrapeError(f"response over {MAX_BODY_BYTES // 1024} KB")
    encoding = resp.getheader("Content-Encoding")
    if encoding and encoding.strip().lower() != "identity":
        raise ScrapeError("compressed response not supported")
    content_type = resp.getheader("Content-Type")
    return HttpResponse(resp.status, body, sanitize(content_type, 100) if content_type else None)


# --- which process serves a GPU process ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A verified server: its kind, the process that owns the port, the endpoint."""

    kind: str
    owner: ProcessIdentity
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the process tree says: no server (`kind` None), a target, or why there is none."""

    kind: str | None
    target: Target | None = None
    error: str | None = None
    port: int | None = None


NOT_A_SERVER = Resolution(None)


def _port_order(kind: str, host: str, port: int) -> tuple[int, int, int]:
    hints = DEFAULT_PORTS.get(kind, ())
    return (hints.index(port) if port in hints else len(hints), host != "127.0.0.1", port)


def resolve(
    procfs: ProcFS, pid: int, framework: str | None, allowed_ports: Collection[int]
) -> Resolution:
    """Find the inference server that `pid` belongs to: `pid` itself or a same-user
    ancestor (up to MAX_ANCESTORS up) that is a server and owns an allowed port."""
    uid = current_uid()
    chain: list[tuple[ProcessIdentity, str]] = []
    p = pid
    for depth in range(MAX_ANCESTORS + 1):
        st = procfs.stat(p)
        if st is None or procfs.uid(p) != uid:
            break
        kind = normalize_kind(from_cmdline(procfs.cmdline(p)).framework)
        if depth == 0:
            kind = normalize_kind(framework) or kind
        if kind is not None:
            chain.append((ProcessIdentity(p, st.starttime), kind))
        if st.ppid <= 1:
            break
        p = st.ppid
    if not chain:
        return NOT_A_SERVER
    foreign_netns = False
    disallowed: set[int] = set()
    for ident, server in chain:
        if not same_netns(procfs, ident.pid):
            foreign_netns = True
            continue
        endpoints = owned_endpoints(procfs, ident.pid)
        allowed = [(h, port) for h, port in endpoints if port in allowed_ports]
        disallowed.update(port for _, port in endpoints if port not in allowed_ports)
        if allowed:
            host, port = min(allowed, key=lambda e: _port_order(server, *e))
            return Resolution(server, Target(server, ident, host, port))
    first = chain[0][1]
    if disallowed:
        ports = ", ".join(str(x) for x in sorted(disallowed)[:4])
        error = f"port {ports} not in [scraping] allowed_ports"
        return Resolution(first, None, error, min(disallowed))
    if foreign_netns:
        return Resolution(first, None, "server runs in another network namespace (container)")
    return Resolution(first, None, "no listening port found (server still starting?)")


# --- the scraper --------------------------------------------------------------------


_Job = tuple[ProcessIdentity, "ProcessIdentity | None"]


@dataclass(slots=True)
class _PidState:
    framework: str | None
    last_seen: float
    resolution: Resolution | None = None
    next_resolve: float = float("-inf")
    queued: bool = False


@dataclass(slots=True)
class _OwnerState:
    adapter: Adapter
    metrics: ServerMetrics | None = None
    next_refresh: float = float("-inf")
    pending: bool = False


class ServerScraper:
    """Inference-server metrics per GPU process, fetched in the background.

    `scrape(pid, framework)` returns at once: the latest ServerMetrics known for
    the server that `pid` belongs to (None when it belongs to none, or nothing is
    known yet), and queues a refresh when the rate limit allows. A failed or
    refused scrape is `ServerMetrics(ok=False, error=...)`.
    """

    def __init__(
        self,
        settings: ScrapingConfig,
        procfs: ProcFS | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._procfs = procfs or ProcFS()
        self._clock = clock
        self._limiter = RateLimiter(settings.rate_limit_seconds, clock)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pids: dict[ProcessIdentity, _PidState] = {}
        self._owners: dict[ProcessIdentity, _OwnerState] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._next_prune = clock()

    @property
    def settings(self) -> ScrapingConfig:
        return self._settings

    def configure(self, settings: ScrapingConfig) -> None:
        """Apply a reloaded config; turning scraping off forgets everything."""
        with self._lock:
            self._settings = settings
            self._limiter.interval_s = settings.rate_limit_seconds
            if not settings.enable:
                self._pids.clear()
                self._owners.clear()

    def scrape(self, pid: int, framework: str | None) -> ServerMetrics | None:
        if not self._settings.enable or self._closed:
            return None
        ident = self._procfs.identity(pid)
        if ident is None:
            return None
        now = self._clock()
        with self._lock:
            st = self._pids.get(ident)
            if st is None:
                st = self._pids[ident] = _PidState(framework, now)
            elif st.framework != framework:
                st.framework, st.next_resolve = framework, now
            st.last_seen = now
            self._schedule(ident, st, now)
            result = self._result(st)
            if now >= self._next_prune:
                self._prune(now)
        return result

    def scrape_wait(
        self, pid: int, framework: str | None, timeout_s: float
    ) -> ServerMetrics | None:
        """Like `scrape`, but waits up to `timeout_s` for a first answer: for one-shot
        commands such as `vramtop inspect`, never for a refresh loop."""
        first = self.scrape(pid, framework)
        ident = self._procfs.identity(pid)
        if first is not None or ident is None or not self._settings.enable:
            return first

        def settled() -> bool:
            st = self._pids.get(ident)
            if st is None or self._closed:
                return True
            res = st.resolution
            if st.queued or res is None:
                return False
            if res.target is None:
                return True
            own = self._owners.get(res.target.owner)
            return own is None or own.metrics is not None or not own.pending

        with self._changed:
            self._changed.wait_for(settled, timeout=timeout_s)
            st = self._pids.get(ident)
            return self._result(st) if st is not None else None

    def forget(self, identities: Iterable[ProcessIdentity]) -> None:
        """Drop what is kept for processes that ended (their servers go at the next prune)."""
        with self._lock:
            for ident in identities:
                self._pids.pop(ident, None)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no scrape is queued or running; False on timeout (tests, one-shot use)."""

        def idle() -> bool:
            return not any(s.queued for s in self._pids.values()) and not any(
                o.pending for o in self._owners.values()
            )

        with self._changed:
            return self._changed.wait_for(idle, timeout=timeout_s)

    def close(self) -> None:
        """Stop the workers (waits at most about one request timeout)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        while True:  # make room for the stop markers
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in threads:
            self._queue.put(None)
        for t in threads:
            t.join(timeout=self._settings.timeout_ms / 1000 * 4 + 1)

    # -- scheduling (under the lock) --

    def _schedule(self, ident: ProcessIdentity, st: _PidState, now: float) -> None:
        if st.queued:
            return
        res = st.resolution
        if res is None or (res.target is None and now >= st.next_resolve):
            if self._enqueue(ident):
                st.queued = True
                st.next_resolve = now + self._settings.rate_limit_seconds
            return
        if res.target is None:
            return
        own = self._owners.get(res.target.owner)
        if own is None:
            own = self._owners[res.target.owner] = _OwnerState(_ADAPTERS[res.target.kind]())
        if own.pending or now < own.next_refresh:
            return
        if self._enqueue(ident, res.target.owner):
            st.queued = own.pending = True

    def _enqueue(self, ident: ProcessIdentity, owner: ProcessIdentity | None = None) -> bool:
        if not self._threads:
            for i in range(_WORKERS):
                t = threading.Thread(target=self._work, name=f"vramtop-scrape-{i}", daemon=True)
                t.start()
                self._threads.append(t)
        try:
            self._queue.put_nowait((ident, owner))
        except queue.Full:
            return False
        return True

    def _result(self, st: _PidState) -> ServerMetrics | None:
        res = st.resolution
        if res is None or res.kind is None:
            return None
        if res.target is None:
            return ServerMetrics(server=res.kind, port=res.port, ok=False, error=res.error)
        own = self._owners.get(res.target.owner)
        return own.metrics if own else None

    def _prune(self, now: float) -> None:
        horizon = max(60.0, _PRUNE_FACTOR * self._settings.rate_limit_seconds)
        self._next_prune = now + horizon / 4
        for ident in [i for i, s in self._pids.items() if now - s.last_seen > horizon]:
            del self._pids[ident]
        used = {
            s.resolution.target.owner
            for s in self._pids.values()
            if s.resolution is not None and s.resolution.target is not None
        }
        gone = [o for o, own in self._owners.items() if o not in used and not own.pending]
        for owner in gone:
            del self._owners[owner]
        self._limiter.forget(gone)

    # -- the worker side --

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            ident, owner = job
            try:
                self._run(ident, owner)
            except Exception:  # a worker must survive anything
                log.exception("scrape of process %s failed", ident.pid)
            finally:
                with self._lock:
                    st = self._pids.get(ident)
                    if st is not None:
                        st.queued = False
                    self._changed.notify_all()

    def _run(self, ident: ProcessIdentity, owner: ProcessIdentity | None) -> None:
        """One job: find `ident`'s server if needed, then refresh it. `owner` is the
        server the scheduler already marked pending (None for a resolve job)."""
        target: Target | None = None
        try:
            target = self._claim(ident, owner)
            if target is not None:
                self._refresh(target)
        finally:
            with self._lock:
                self._release(owner)
                if target is not None:
                    self._release(target.owner)

    def _claim(self, ident: ProcessIdentity, owner: ProcessIdentity | None) -> Target | None:
        """The server to refresh now, marked pending; None when there is none or it is not due."""
        with self._lock:
            st = self._pids.get(ident)
            if st is None or self._closed:
                return None
            res, framework = st.resolution, st.framework
            allowed = frozenset(self._settings.allowed_ports)
        if res is not None and res.target is not None and res.target.owner == owner:
            return res.target
        res = resolve(self._procfs, ident.pid, framework, allowed)
        with self._lock:
            st.resolution = res
            if res.kind is None:  # asked again only when the framework hint changes
                st.next_resolve = float("inf")
            if res.target is None:
                return None
            own = self._owners.get(res.target.owner)
            if own is None:
                own = self._owners[res.target.owner] = _OwnerState(_ADAPTERS[res.target.kind]())
            if res.target.owner == owner:
                return res.target
            if own.pending or self._clock() < own.next_refresh:
                return None
            own.pending = True
            return res.target

    def _release(self, owner: ProcessIdentity | None) -> None:
        """Clear a server's pending mark (under the lock)."""
        own = self._owners.get(owner) if owner is not None else None
        if own is not None:
            own.pending = False

    def _refresh(self, target: Target) -> None:
        with self._lock:
            own = self._owners.get(target.owner)
        if own is None:
            return
        start = self._clock()
        metrics: ServerMetrics | None
        try:
            got = own.adapter.refresh(lambda path: self._request(target, path))
            metrics = dataclasses.replace(
                got, port=target.port, owner_pid=target.owner.pid, scraped_at=time.time()
            )
        except RateLimited:
            metrics = None
        except ScrapeRefusedError as e:
            metrics = self._failed(target, str(e))
            self._unresolve(target, str(e))
        except ScrapeError as e:
            metrics = self._failed(target, str(e))
        except Exception:
            log.exception("scraping %s on port %d failed", target.kind, target.port)
            metrics = self._failed(target, "internal error (see the log)")
        with self._lock:
            own.next_refresh = max(
                self._limiter.next_due(target.owner), start + self._settings.rate_limit_seconds
            )
            if metrics is not None:
                own.metrics = metrics

    @staticmethod
    def _failed(target: Target, error: str) -> ServerMetrics:
        return ServerMetrics(
            server=target.kind,
            port=target.port,
            ok=False,
            error=sanitize(error, 200),
            scraped_at=time.time(),
            owner_pid=target.owner.pid,
        )

    def _unresolve(self, target: Target, error: str) -> None:
        """After a refusal, the processes served by `target` look for their server again."""
        with self._lock:
            for st in self._pids.values():
                if st.resolution is not None and st.resolution.target == target:
                    st.resolution = Resolution(target.kind, None, sanitize(error, 200), target.port)
                    st.next_resolve = self._clock()

    def _request(self, target: Target, path: str) -> HttpResponse:
        """The only way vramtop sends an HTTP request: all five rules, in order."""
        settings = self._settings
        endpoint = loopback_endpoint(target.host, target.port, settings.allowed_ports)  # 1
        if not self._limiter.try_acquire(target.owner, endpoint.url(path)):  # 3
            raise RateLimited(endpoint.url(path))
        verify_owner(self._procfs, target.owner, endpoint)  # 2
        return fetch(endpoint, path, timeout_s=settings.timeout_ms / 1000)  # 4, 5


class ServerAugmenter:
    """Puts scraped server metrics into ProcessInfo.server: the orchestrator's
    InfoAugmenter. `wait_s` > 0 waits that long for a first answer (one-shot
    commands such as `vramtop inspect`); the live loop never waits."""

    name = "scrape"

    def __init__(self, scraper: ServerScraper, *, wait_s: float = 0.0) -> None:
        self.scraper = scraper
        self.wait_s = wait_s

    def augment(self, info: ProcessInfo, now: float) -> ProcessInfo:
        if normalize_kind(info.framework) is None:
            return info
        pid = info.identity.pid
        if self.wait_s > 0:
            metrics = self.scraper.scrape_wait(pid, info.framework, self.wait_s)
        else:
            metrics = self.scraper.scrape(pid, info.framework)
        return info if metrics is None else dataclasses.replace(info, server=metrics)

    def forget(self, identities: Sequence[ProcessIdentity]) -> None:
        self.scraper.forget(identities)

    def close(self) -> None:
        """Stop the scraper's workers (ProcessEnricher.close calls this)."""
        self.scraper.close()


def server_augmenter(
    settings: ScrapingConfig, procfs: ProcFS | None = None, *, one_shot: bool = False
) -> ServerAugmenter:
    """The augmenter the CLI adds to the ProcessEnricher (`procfs`: the enricher's,
    so host PIDs resolve the same way). One-shot waits for up to three requests."""
    wait = 3 * settings.timeout_ms / 1000 + 1.0 if one_shot else 0.0
    return ServerAugmenter(ServerScraper(settings, procfs), wait_s=wait)
