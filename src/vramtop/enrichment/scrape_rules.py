"""The five rules every scrape request obeys, each enforced here and only here.

`ServerScraper._request` (scrape.py) applies all five to every request:

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
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from vramtop.enrichment.servers import HttpResponse
from vramtop.errors import ScrapeError, ScrapeRefusedError
from vramtop.model import ProcessIdentity
from vramtop.procfs import ProcFS
from vramtop.security import current_uid, sanitize

MAX_BODY_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
_CHUNK_SLACK = 4096  # chunked-encoding framing on top of a full body
_RECV_BYTES = 16 * 1024

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
