"""The five scraping rules, each tested where it is enforced, against real sockets."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.standin_harness import StandinFactory, standins
from vramtop.enrichment.scrape import (
    MAX_BODY_BYTES,
    LoopbackEndpoint,
    RateLimiter,
    connect_host,
    fetch,
    loopback_endpoint,
    owned_endpoints,
    parse_proc_net_tcp,
    resolve,
    socket_inodes,
    verify_owner,
)
from vramtop.errors import ScrapeError, ScrapeRefusedError
from vramtop.model import ProcessIdentity
from vramtop.procfs import ProcFS

PROC = ProcFS()
TIMEOUT = 0.3


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandinFactory]:
    yield from standins(tmp_path)


def ident(pid: int) -> ProcessIdentity:
    found = PROC.identity(pid)
    assert found is not None
    return found


# --- rule 1: only 127.0.0.1 / ::1 and allowed ports -------------------------------------


def test_loopback_endpoints_and_urls() -> None:
    assert LoopbackEndpoint("127.0.0.1", 8000).url("/metrics") == "http://127.0.0.1:8000/metrics"
    assert LoopbackEndpoint("::1", 11434).url("/api/ps") == "http://[::1]:11434/api/ps"
    assert loopback_endpoint("127.0.0.1", 8000, [8000]).port == 8000


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.2",
        "127.1",
        "0.0.0.0",
        "::",
        "10.0.0.1",
        "192.168.1.10",
        "example.com",
        "::ffff:127.0.0.1",
        "0:0:0:0:0:0:0:1",  # not canonical: refused rather than normalised
        "127.0.0.1 ",
        "http://127.0.0.1",
        "127.0.0.1:8000",
        "",
    ],
)
def test_only_loopback_ips(host: str) -> None:
    with pytest.raises(ScrapeRefusedError):
        LoopbackEndpoint(host, 8000)


@pytest.mark.parametrize("port", [0, -1, 65536, True, "8000", 8000.0])
def test_bad_ports(port: object) -> None:
    with pytest.raises(ScrapeRefusedError):
        LoopbackEndpoint("127.0.0.1", port)  # type: ignore[arg-type]


def test_port_must_be_allowed() -> None:
    with pytest.raises(ScrapeRefusedError, match=r"port 9000 not in \[scraping\] allowed_ports"):
        loopback_endpoint("127.0.0.1", 9000, [8000, 8080, 11434, 3000])


@pytest.mark.parametrize(
    "path", ["metrics", "/../etc/passwd", "//evil.example/x", "/metrics?x=1", "/a b", "/\r\nX: y"]
)
def test_bad_paths(path: str) -> None:
    with pytest.raises(ScrapeRefusedError):
        LoopbackEndpoint("127.0.0.1", 8000).url(path)


# --- rule 2: the socket table -----------------------------------------------------------

UID = os.getuid()
TCP = f"""  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  {UID}        0 1001 1 0 100 0 0 10 0
   1: 00000000:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  {UID}        0 1002 1 0 100 0 0 10 0
   2: 0302010A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  {UID}        0 1003 1 0 100 0 0 10 0
   3: 0100007F:1F40 0100007F:D5A2 01 00000000:00000000 00:00000000 00000000  {UID}        0 1004 1 0 20 4 30 10 -1
   4: garbage row
"""  # noqa: E501
TCP6 = f"""  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  {UID}        0 2001 1 0 100 0 0 10 0
   1: 00000000000000000000000000000000:7530 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  {UID}        0 2002 1 0 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  {UID}        0 2003 1 0 100 0 0 10 0
"""  # noqa: E501

little_endian = pytest.mark.skipif(sys.byteorder != "little", reason="fixture rows are x86 order")


@little_endian
def test_parse_proc_net_tcp() -> None:
    rows = parse_proc_net_tcp(TCP)
    assert [(str(r.address), r.port, r.inode) for r in rows] == [
        ("127.0.0.1", 8000, 1001),
        ("0.0.0.0", 11434, 1002),
        ("10.1.2.3", 8080, 1003),
    ]
    rows6 = parse_proc_net_tcp(TCP6)
    assert [(r.address, r.port) for r in rows6] == [
        (ipaddress.ip_address("::1"), 3000),
        (ipaddress.ip_address("::"), 30000),
        (ipaddress.ip_address("::ffff:127.0.0.1"), 8001),
    ]


@little_endian
def test_connect_host_only_for_loopback_reachable_binds() -> None:
    hosts = [connect_host(r.address) for r in parse_proc_net_tcp(TCP) + parse_proc_net_tcp(TCP6)]
    assert hosts == ["127.0.0.1", "127.0.0.1", None, "::1", "::1", "127.0.0.1"]


# A fake /proc tree for resolve(): processes, fds, socket tables, network namespaces.


def fake_proc(
    root: Path, procs: list[dict[str, object]], netns: str = "net:[4026531840]"
) -> ProcFS:
    (root / "self" / "ns").mkdir(parents=True)
    os.symlink(netns, root / "self" / "ns" / "net")
    for p in procs:
        d = root / str(p["pid"])
        (d / "fd").mkdir(parents=True)
        (d / "ns").mkdir()
        (d / "net").mkdir()
        rest = ["S", str(p.get("ppid", 1)), *["0"] * 17, str(p.get("start", 100))]
        (d / "stat").write_text(f"{p['pid']} (x) {' '.join(rest)} 0 0\n")
        uid = p.get("uid", UID)
        (d / "status").write_text(f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in p["cmd"]) + b"\0")  # type: ignore[attr-defined]
        inodes: list[int] = p.get("inodes", [])  # type: ignore[assignment]
        for i, inode in enumerate(inodes):
            os.symlink(f"socket:[{inode}]", d / "fd" / str(i + 3))
        (d / "net" / "tcp").write_text(TCP)
        (d / "net" / "tcp6").write_text(TCP6)
        os.symlink(str(p.get("netns", netns)), d / "ns" / "net")
    return ProcFS(root)


@little_endian
def test_resolve_walks_to_the_port_owning_ancestor(tmp_path: Path) -> None:
    procfs = fake_proc(
        tmp_path,
        [
            {"pid": 10, "ppid": 1, "cmd": ["vllm", "serve", "m"], "inodes": [1001, 2001]},
            {"pid": 11, "ppid": 10, "cmd": ["VLLM::EngineCore"]},
            {"pid": 12, "ppid": 11, "cmd": ["VLLM::Worker_TP0"]},
        ],
    )
    res = resolve(procfs, 12, None, {8000, 3000})
    assert res.target is not None
    assert (res.kind, res.target.owner.pid, res.target.host, res.target.port) == (
        "vllm",
        10,
        "127.0.0.1",
        8000,  # the default port of vLLM wins the ordering over 3000
    )


@little_endian
def test_resolve_refusals(tmp_path: Path) -> None:
    procfs = fake_proc(
        tmp_path,
        [
            {"pid": 20, "cmd": ["ollama", "serve"], "inodes": [1002]},
            {"pid": 21, "ppid": 20, "cmd": ["ollama", "runner"]},
            {"pid": 30, "cmd": ["vllm", "serve"], "inodes": [1003]},  # 10.1.2.3 only
            {"pid": 40, "cmd": ["vllm", "serve"], "inodes": [1001], "netns": "net:[999]"},
            {"pid": 50, "cmd": ["vllm", "serve"], "inodes": [1001], "uid": UID + 1},
            {"pid": 51, "ppid": 50, "cmd": ["VLLM::EngineCore"]},
            {"pid": 60, "cmd": ["python", "train.py"], "inodes": [1001]},
            {"pid": 70, "ppid": 20, "cmd": ["python", "train.py"]},
        ],
    )
    res = resolve(procfs, 21, None, {8000})
    assert res.kind == "ollama" and res.target is None
    assert res.error == "port 11434 not in [scraping] allowed_ports" and res.port == 11434
    assert resolve(procfs, 21, None, {11434}).target is not None
    res = resolve(procfs, 30, None, {8080})
    assert res.target is None and res.error is not None and "no listening port" in res.error
    res = resolve(procfs, 40, None, {8000})
    assert res.target is None and "another network namespace" in (res.error or "")
    # Another user's server above our process is never considered.
    assert resolve(procfs, 51, None, {8000}).kind == "vllm"
    assert resolve(procfs, 51, None, {8000}).target is None
    assert resolve(procfs, 50, "vllm", {8000}).kind is None  # not ours at all
    # Not an inference server (and no server above it): nothing to scrape.
    assert resolve(procfs, 60, None, {8000}).kind is None
    # ... unless the caller says it is one.
    assert resolve(procfs, 60, "vllm", {8000}).target is not None
    # A training job below `ollama serve` is attributed to the server it runs under.
    assert resolve(procfs, 70, None, {11434}).kind == "ollama"


@little_endian
def test_resolve_stops_after_max_ancestors(tmp_path: Path) -> None:
    procs: list[dict[str, object]] = [{"pid": 100, "cmd": ["vllm", "serve"], "inodes": [1001]}]
    for i in range(1, 6):
        procs.append({"pid": 100 + i, "ppid": 100 + i - 1, "cmd": ["VLLM::Worker"]})
    procfs = fake_proc(tmp_path, procs)
    assert resolve(procfs, 103, None, {8000}).target is not None  # three levels up
    assert resolve(procfs, 104, None, {8000}).target is None  # four: too far


def test_real_listener_is_owned_by_its_process(standin: StandinFactory) -> None:
    s = standin("vllm")
    assert ("127.0.0.1", s.port) in owned_endpoints(PROC, s.pid)
    assert socket_inodes(PROC, s.pid)
    verify_owner(PROC, ident(s.pid), LoopbackEndpoint("127.0.0.1", s.port))


def test_port_of_another_process_is_refused(standin: StandinFactory) -> None:
    s = standin("vllm")
    other = standin.sleeper("vllm")
    assert owned_endpoints(PROC, other.pid) == []
    with pytest.raises(ScrapeRefusedError, match="not listened on by process"):
        verify_owner(PROC, ident(other.pid), LoopbackEndpoint("127.0.0.1", s.port))
    gone = ProcessIdentity(s.pid, (ident(s.pid).starttime or 0) + 1)  # a recycled PID
    with pytest.raises(ScrapeRefusedError, match="is gone"):
        verify_owner(PROC, gone, LoopbackEndpoint("127.0.0.1", s.port))
    assert s.requests() == []


SHARER = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
print(s.getsockname()[1], flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_port_shared_with_another_process_is_refused() -> None:
    first = subprocess.Popen([sys.executable, "-c", SHARER, "0"], stdout=subprocess.PIPE, text=True)
    second = None
    try:
        assert first.stdout is not None
        port = int(first.stdout.readline())
        assert ("127.0.0.1", port) in owned_endpoints(PROC, first.pid)
        second = subprocess.Popen(
            [sys.executable, "-c", SHARER, str(port)], stdout=subprocess.PIPE, text=True
        )
        assert second.stdout is not None and int(second.stdout.readline()) == port
        assert ("127.0.0.1", port) not in owned_endpoints(PROC, first.pid)
        with pytest.raises(ScrapeRefusedError):
            verify_owner(PROC, ident(first.pid), LoopbackEndpoint("127.0.0.1", port))
    finally:
        for p in (first, second):
            if p is not None:
                p.kill()
                p.wait()
                assert p.stdout is not None
                p.stdout.close()


# --- rule 3: rate limit ------------------------------------------------------------------


def test_rate_limiter_per_endpoint_per_process() -> None:
    now = [100.0]
    lim = RateLimiter(5.0, lambda: now[0])
    a, b = ProcessIdentity(1, 10), ProcessIdentity(2, 20)
    assert lim.try_acquire(a, "http://127.0.0.1:8000/metrics")
    assert not lim.try_acquire(a, "http://127.0.0.1:8000/metrics")
    assert lim.try_acquire(a, "http://127.0.0.1:8000/slots")  # another endpoint
    assert lim.try_acquire(b, "http://127.0.0.1:8000/metrics")  # another process
    assert lim.next_due(a) == 105.0
    now[0] = 104.99
    assert not lim.try_acquire(a, "http://127.0.0.1:8000/metrics")
    now[0] = 105.0
    assert lim.try_acquire(a, "http://127.0.0.1:8000/metrics")
    lim.forget([a])
    assert lim.next_due(a) == float("-inf")
    assert lim.try_acquire(a, "http://127.0.0.1:8000/metrics")


# --- rules 4 and 5: redirects, time and size limits, while reading -----------------------


def ep(port: int, host: str = "127.0.0.1") -> LoopbackEndpoint:
    return LoopbackEndpoint(host, port)


def test_fetch_ok_and_chunked(standin: StandinFactory) -> None:
    s = standin("vllm")
    resp = fetch(ep(s.port), "/metrics", timeout_s=2)
    assert resp.status == 200 and b"vllm:kv_cache_usage_perc" in resp.body
    assert resp.content_type is not None and resp.content_type.startswith("text/plain")
    c = standin("vllm", behavior="chunked")
    assert fetch(ep(c.port), "/metrics", timeout_s=2).body == resp.body
    assert fetch(ep(s.port), "/nothing", timeout_s=2).status == 404


def test_redirect_is_refused_and_not_followed(standin: StandinFactory) -> None:
    target = standin("vllm")
    s = standin("vllm", behavior=f"redirect:{target.port}")
    with pytest.raises(ScrapeRefusedError, match=r"redirect refused \(HTTP 302\)"):
        fetch(ep(s.port), "/metrics", timeout_s=2)
    assert s.requests() == ["GET /metrics"]
    assert target.requests() == []


@pytest.mark.parametrize(
    ("behavior", "error"),
    [
        ("drip", "timed out after 300 ms"),
        ("hang", "timed out after 300 ms"),
        ("slow-headers", "timed out after 300 ms"),
        ("huge", f"response over {MAX_BODY_BYTES // 1024} KB"),
        ("huge-length", f"response over {MAX_BODY_BYTES // 1024} KB"),
        ("close", "closed the connection without answering"),
        ("garbage", "not an HTTP response"),
        ("truncated", "malformed or truncated"),
    ],
)
def test_misbehaving_servers(standin: StandinFactory, behavior: str, error: str) -> None:
    s = standin("vllm", behavior=behavior)
    with pytest.raises(ScrapeError, match=error):
        fetch(ep(s.port), "/metrics", timeout_s=TIMEOUT)


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ScrapeError, match="connection refused"):
        fetch(ep(port), "/metrics", timeout_s=TIMEOUT)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback(standin: StandinFactory) -> None:
    s = standin("ollama", host="::1")
    assert ("::1", s.port) in owned_endpoints(PROC, s.pid)
    resp = fetch(ep(s.port, "::1"), "/api/ps", timeout_s=2)
    assert resp.status == 200 and b"gemma4" in resp.body
