"""Engine side of deep mode against fake reporters: real Unix sockets, crafted answers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vramtop.enrichment.deep import DeepCollector, default_dirs, read_socket
from vramtop.errors import IPCError
from vramtop.procfs import ProcFS
from vramtop.reporter import protocol
from vramtop.reporter.protocol import Handshake, MemoryMessage

ME = os.getpid()
MY_START = ProcFS().starttime(ME)
GOOD_HS = protocol.encode(Handshake(1, ME, "pytorch", 0))
GOOD_MEM = protocol.encode(
    MemoryMessage(1.5, 100, 200, 90, 150, 250, 120, 7, 3, 2, 0, 1)
)


class FakeReporter:
    """Listens on `<dir>/<pid>.sock`; sends `payload` to each reader and records
    whether the reader then closed the connection."""

    def __init__(
        self, directory: Path, payload: bytes, *, pid: int = ME, hangup: bool = False
    ) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / f"{pid}.sock"
        self.payload = payload
        self.hangup = hangup
        self.connections = 0
        self.reader_closed = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        self.sock.listen(8)
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(10)
                try:
                    conn.sendall(self.payload)
                    if self.hangup:
                        continue
                    while conn.recv(4096):
                        pass
                    self.reader_closed.set()
                except OSError:
                    self.reader_closed.set()

    def close(self) -> None:
        self._stop = True
        # shutdown() wakes the blocked accept(); close() alone does not.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=10)


@pytest.fixture
def runtime() -> Path:
    return Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"


@pytest.fixture
def fakes() -> Iterator[list[FakeReporter]]:
    made: list[FakeReporter] = []
    yield made
    for fake in made:
        fake.close()


def serve(
    fakes: list[FakeReporter], directory: Path, payload: bytes, *, pid: int = ME,
    hangup: bool = False,
) -> FakeReporter:
    fake = FakeReporter(directory, payload, pid=pid, hangup=hangup)
    fakes.append(fake)
    return fake


def obj_line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def memory_with(**changes: object) -> bytes:
    d = json.loads(GOOD_MEM)
    d.update(changes)
    return obj_line(d)


def hs_with(**changes: object) -> bytes:
    d = json.loads(GOOD_HS)
    d.update(changes)
    return obj_line(d)


def test_good_reporter_is_read_into_deep_stats(fakes: list[FakeReporter], runtime: Path) -> None:
    serve(fakes, runtime, GOOD_HS + GOOD_MEM)
    stats = DeepCollector().stats_for(ME, MY_START)
    assert stats is not None
    assert (stats.framework, stats.cuda_device) == ("pytorch", 0)
    assert (stats.allocated_bytes, stats.reserved_bytes, stats.active_bytes) == (100, 200, 90)
    assert (stats.allocated_peak_bytes, stats.reserved_peak_bytes) == (150, 250)
    assert (stats.active_peak_bytes, stats.inactive_split_bytes) == (120, 7)
    assert (stats.num_allocs, stats.segments, stats.num_ooms, stats.num_alloc_retries) == (
        3, 2, 0, 1,
    )
    assert stats.ts == 1.5
    assert stats.fragmentation_bytes == 100


MALFORMED = [
    (hs_with(v=2) + GOOD_MEM, "unsupported protocol version 2"),
    (b"{not json\n" + GOOD_MEM, "malformed JSON"),
    (hs_with(pid=ME + 1) + GOOD_MEM, f"handshake says pid {ME + 1}"),
    (hs_with(framework=7) + GOOD_MEM, "'framework': expected a string"),
    (hs_with(pid=True) + GOOD_MEM, "'pid': expected an integer, got boolean"),
    (
        obj_line({"v": 1, "pid": ME, "framework": "pytorch"}) + GOOD_MEM,
        "missing field 'cuda_device'",
    ),
    (GOOD_HS + obj_line({"ts": 1.0}), "missing field"),
    (GOOD_HS + memory_with(reserved_bytes="200"), "'reserved_bytes': expected an integer"),
    (GOOD_HS + memory_with(segments=False), "'segments': expected an integer, got boolean"),
    (GOOD_HS + memory_with(allocated_bytes=-1), "'allocated_bytes': -1 out of range"),
    (GOOD_HS + memory_with(active_mb=-2.0), "'active_mb': -2.0 out of range"),
    (GOOD_HS + b'{"ts": NaN}\n', "malformed JSON"),
    (GOOD_HS + b"[]\n", "expected a JSON object, got array"),
    (GOOD_HS + b"x" * (protocol.MAX_LINE_BYTES + 10), "line exceeds the 65536-byte limit"),
    (hs_with(pad="y" * protocol.MAX_LINE_BYTES) + GOOD_MEM, "exceeds the 65536-byte limit"),
]

HANGUPS = [
    (GOOD_HS, "connection closed after 1 of 2 lines"),
    (b"", "connection closed after 0 of 2 lines"),
    (GOOD_HS + b'{"ts": 1', "connection closed after 1 of 2 lines"),
]


@pytest.mark.parametrize(("payload", "needle"), MALFORMED)
def test_every_malformed_answer_is_a_clear_error_and_a_dropped_connection(
    fakes: list[FakeReporter], runtime: Path, payload: bytes, needle: str
) -> None:
    fake = serve(fakes, runtime, payload)
    with pytest.raises(IPCError, match=needle):
        read_socket(fake.path, expected_pid=ME, timeout_s=5.0)
    assert fake.reader_closed.wait(10), "the reader must drop the connection"
    # Through the collector: no exception, no data, and vramtop carries on.
    assert DeepCollector(timeout_s=5.0).stats_for(ME, MY_START) is None
    assert fake.path.exists()  # a live, misbehaving reporter is not "stale"


@pytest.mark.parametrize(("payload", "needle"), HANGUPS)
def test_reporter_hanging_up_early(
    fakes: list[FakeReporter], runtime: Path, payload: bytes, needle: str
) -> None:
    fake = serve(fakes, runtime, payload, hangup=True)
    with pytest.raises(IPCError, match=needle):
        read_socket(fake.path, expected_pid=ME, timeout_s=5.0)
    assert DeepCollector(timeout_s=5.0).stats_for(ME, MY_START) is None


def test_silent_reporter_times_out(runtime: Path) -> None:
    # Accepts (the kernel queues the connection) but never answers.
    runtime.mkdir(mode=0o700)
    path = runtime / f"{ME}.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    try:
        with pytest.raises(IPCError, match="no answer within 100 ms"):
            read_socket(path, expected_pid=ME, timeout_s=0.1)
        assert DeepCollector(timeout_s=0.1).stats_for(ME, MY_START) is None
        assert path.exists()
    finally:
        listener.close()


def test_socket_named_for_another_pid_is_refused(fakes: list[FakeReporter], runtime: Path) -> None:
    other = os.getppid()
    fake = serve(fakes, runtime, protocol.encode(Handshake(1, other, "pytorch", 0)) + GOOD_MEM,
                 pid=other)
    with pytest.raises(IPCError, match=f"served by pid {ME}, not {other}"):
        read_socket(fake.path, expected_pid=other, timeout_s=5.0)
    assert DeepCollector().stats_for(other, None) is None


def test_reads_are_cached_per_pid_for_refresh_s(fakes: list[FakeReporter], runtime: Path) -> None:
    fake = serve(fakes, runtime, GOOD_HS + GOOD_MEM)
    now = [100.0]
    collector = DeepCollector(refresh_s=1.0, clock=lambda: now[0])
    first = collector.stats_for(ME, MY_START)
    assert first is not None
    now[0] += 0.5
    assert collector.stats_for(ME, MY_START) is first
    assert fake.connections == 1
    now[0] += 0.6
    assert collector.stats_for(ME, MY_START) == first
    assert fake.connections == 2
    # A new identity under the same PID is never served from the cache.
    assert collector.stats_for(ME, (MY_START or 0) + 1) is None
    collector.prune([])
    assert collector.stats_for(ME, MY_START) is not None


def test_framework_none_attaches_nothing(fakes: list[FakeReporter], runtime: Path) -> None:
    hs = protocol.encode(Handshake(1, ME, "none", None))
    serve(fakes, runtime, hs + protocol.encode(MemoryMessage.zeros(1.0)))
    assert DeepCollector().stats_for(ME, MY_START) is None


def test_stale_socket_is_unlinked_and_skipped(runtime: Path) -> None:
    runtime.mkdir(mode=0o700)
    path = runtime / "4000000.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # bound, never listening: connect() is refused
    assert path.exists()
    assert DeepCollector(runtime).scan() == {}
    assert not path.exists()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    assert DeepCollector().stats_for(4000000, None) is None
    assert not path.exists()


def test_scan_ignores_foreign_names_and_non_sockets(
    fakes: list[FakeReporter], runtime: Path
) -> None:
    fake = serve(fakes, runtime, GOOD_HS + GOOD_MEM)
    (runtime / "123.sock.tmp").write_text("")
    (runtime / "notes.txt").write_text("")
    (runtime / "456.sock").write_text("a regular file, not a socket")
    (runtime / "0.sock").write_text("")
    assert DeepCollector(runtime).scan() == {ME: fake.path}
    assert (runtime / "456.sock").exists()  # not ours to judge: left alone
    assert DeepCollector().stats_for(456, None) is None


def test_loose_directory_is_not_trusted(fakes: list[FakeReporter], runtime: Path) -> None:
    serve(fakes, runtime, GOOD_HS + GOOD_MEM)
    runtime.chmod(0o777)
    try:
        assert DeepCollector(runtime).scan() == {}
        assert DeepCollector().stats_for(ME, MY_START) is None
    finally:
        runtime.chmod(0o700)
    assert DeepCollector().stats_for(ME, MY_START) is not None


def test_explicit_runtime_dir(fakes: list[FakeReporter], tmp_path: Path, runtime: Path) -> None:
    fake = serve(fakes, tmp_path / "elsewhere", GOOD_HS + GOOD_MEM)
    assert DeepCollector(runtime).scan() == {}
    assert DeepCollector(tmp_path / "elsewhere").scan() == {ME: fake.path}


def test_default_dirs_include_the_temp_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    dirs = default_dirs()
    assert dirs[0] == Path(os.environ["XDG_RUNTIME_DIR"]) / "vramtop"
    assert dirs[1] == tmp_path / f"vramtop-{os.getuid()}"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_dirs() == (tmp_path / f"vramtop-{os.getuid()}",)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a socket to another user")
def test_another_users_socket_is_ignored_and_left_alone(
    fakes: list[FakeReporter], runtime: Path
) -> None:
    fake = serve(fakes, runtime, GOOD_HS + GOOD_MEM)
    os.chown(fake.path, 65534, 65534)
    assert DeepCollector(runtime).scan() == {}
    assert DeepCollector().stats_for(ME, MY_START) is None
    assert fake.connections == 0
    assert fake.path.exists()
    # Stale and foreign: still not ours to remove.
    fake.close()
    fakes.remove(fake)
    assert DeepCollector(runtime).scan() == {}
    assert fake.path.exists()
    assert stat.S_ISSOCK(os.lstat(fake.path).st_mode)


def test_process_enricher_fills_process_info_deep(
    fakes: list[FakeReporter], runtime: Path
) -> None:
    from vramtop.enrichment import ProcessEnricher
    from vramtop.model import GPUProcess

    proc = GPUProcess(pid=ME, starttime=MY_START, used_bytes=10**9)
    enricher = ProcessEnricher(procfs=ProcFS())
    assert enricher.enrich([proc], 0.0)[proc.identity].deep is None  # no reporter yet
    serve(fakes, runtime, GOOD_HS + GOOD_MEM)
    enricher = ProcessEnricher(procfs=ProcFS())
    info = enricher.enrich([proc], 0.0)[proc.identity]
    assert info.deep is not None
    assert (info.deep.allocated_bytes, info.deep.reserved_bytes) == (100, 200)
    enricher.forget([proc.identity])


def make_stale(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()


def test_augmenter_sweeps_stale_sockets_now_and_then(
    fakes: list[FakeReporter], runtime: Path
) -> None:
    from vramtop.enrichment.deep import DeepAugmenter
    from vramtop.model import ProcessIdentity, ProcessInfo

    serve(fakes, runtime, GOOD_HS + GOOD_MEM)
    stale = runtime / "4000001.sock"
    make_stale(stale)
    aug = DeepAugmenter(DeepCollector(runtime), sweep_s=60.0)
    info = ProcessInfo(ProcessIdentity(ME, MY_START))
    out = aug.augment(info, 100.0)
    assert out.deep is not None and out.deep.reserved_bytes == 200
    assert not stale.exists()  # swept on first use
    make_stale(stale)
    aug.augment(info, 130.0)
    assert stale.exists()  # not before sweep_s has passed
    aug.augment(info, 161.0)
    assert not stale.exists()
    aug.forget([info.identity])
