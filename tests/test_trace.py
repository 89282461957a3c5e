from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from vramtop import trace
from vramtop.errors import TraceError
from vramtop.model import GPUDevice, GPUProcess, MemorySnapshot, ProcessKind

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
ALL_TRACES = trace.recordings_in(FIXTURES)


@pytest.mark.parametrize("path", ALL_TRACES, ids=lambda p: p.name)
def test_reads_every_fixture(path: Path) -> None:
    tr = trace.read(path)
    assert tr.header.devices and tr.header.devices[0].name.startswith("NVIDIA")
    assert tr.header.expected in ("oom", "no_oom")
    assert len(tr.samples) > 100
    times = [s.t for s in tr.samples]
    assert times == sorted(times)
    dev = tr.samples[-1].devices[0]
    # An H100 80GB HBM3, or an H200 for three recordings held out in session 10.
    assert dev.total_bytes == tr.header.devices[0].memory_total in (85520809984, 150754820096)
    assert dev.reserved_bytes is not None
    if tr.header.expected == "oom":
        assert any(e.event == "oom" for e in tr.events)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "t.jsonl"
    p.write_text("".join(line + "\n" for line in lines))
    return p


HEADER = json.dumps(
    {"format": "vramtop-trace", "version": 1, "start_unix": 100.0, "interval_s": 1,
     "devices": [{"index": 0, "name": "G", "uuid": "GPU-1", "memory_total": 1000}],
     "meta": {"expected": "no_oom"}, "future_key": {"x": 1}}
)
SAMPLE = json.dumps(
    {"t": 0.0, "devices": [{"index": 0, "memory": {"total": 1000, "reserved": 10, "used": 100,
     "free": 890}, "util": None, "temp_c": None, "power_mw": None,
     "processes": [{"pid": 5, "used": None, "type": "compute+graphics", "name": "x\x1b[31m",
                    "cmdline": ["a"], "starttime": 9, "uid": 0, "unknown": 1}]}]}
)


def test_unknown_keys_and_events_ignored_and_none_kept(tmp_path: Path) -> None:
    p = _write(tmp_path, [HEADER, SAMPLE, '{"t": 1.0, "event": "brand_new", "pid": 5}'])
    tr = trace.read(p)
    proc = tr.samples[0].devices[0].processes[0]
    assert proc.used_bytes is None  # unknown, not 0
    assert proc.kind is ProcessKind.BOTH
    assert proc.name == "x"  # sanitized
    assert tr.samples[0].devices[0].util_gpu_pct is None
    assert tr.events[0].event == "brand_new"
    assert tr.samples[0].unix_time == 100.0


def test_truncated_last_line_tolerated(tmp_path: Path) -> None:
    p = _write(tmp_path, [HEADER, SAMPLE, SAMPLE.replace('"t": 0.0', '"t": 1.0')[:40]])
    tr = trace.read(p)
    assert len(tr.samples) == 1
    assert tr.cut_line == 3
    assert tr.cut_notice == (
        f"{p}: line 3 is incomplete (the recording was cut off mid-write) and is left out;"
        " replaying the 1 sample before it"
    )


def test_whole_recording_has_no_cut_notice(tmp_path: Path) -> None:
    tr = trace.read(_write(tmp_path, [HEADER, SAMPLE]))
    assert tr.cut_line is None and tr.cut_notice is None


def test_corrupt_middle_line_is_an_error_with_line_number(tmp_path: Path) -> None:
    p = _write(tmp_path, [HEADER, SAMPLE, "{not json", SAMPLE.replace('"t": 0.0', '"t": 2.0')])
    with pytest.raises(TraceError, match="line 3"):
        trace.read(p)


@pytest.mark.parametrize(
    ("first", "message"),
    [
        ('{"format": "other", "version": 1}', "not a vramtop recording"),
        ('{"format": "vramtop-trace", "version": 2, "start_unix": 1}', "version 2"),
        ("hello", "line 1 is not JSON"),
        ("", "empty file"),
    ],
)
def test_bad_header(tmp_path: Path, first: str, message: str) -> None:
    p = _write(tmp_path, [first] if first else [])
    with pytest.raises(TraceError, match=message):
        trace.read(p)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        trace.read(tmp_path / "nope.jsonl")
    with pytest.raises(TraceError, match="directory"):
        trace.read(tmp_path)


def test_no_samples(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no samples"):
        trace.read(_write(tmp_path, [HEADER]))


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    dev = GPUDevice(
        index=0, uuid="GPU-a", name="Test GPU", total_bytes=1 << 30, used_bytes=1 << 20,
        free_bytes=(1 << 30) - (1 << 20), reserved_bytes=4096, util_gpu_pct=5, temperature_c=40,
        power_watts=123.456,
        processes=(GPUProcess(pid=7, starttime=99, used_bytes=None, name="p", cmdline=("p", "x"),
                              uid=0, mps=True),),
    )
    buf = io.StringIO()
    w = trace.TraceWriter(buf)
    w.write(trace.header_dict(1000.0, 0.5, [dev], driver="580", meta={"expected": "oom"}))
    w.write(trace.sample_dict(MemorySnapshot(t=0, unix_time=1000.0, devices=(dev,)), 0.0))
    w.write(trace.sample_dict(MemorySnapshot(t=0.5, unix_time=1000.5, devices=(dev,)), 0.5))
    p = tmp_path / "rt.jsonl"
    p.write_text(buf.getvalue())
    tr = trace.read(p)
    assert tr.header.expected == "oom"
    assert len(tr.samples) == 2
    got = tr.samples[1].devices[0]
    assert got.used_bytes == dev.used_bytes and got.reserved_bytes == 4096
    assert got.power_watts == pytest.approx(123.456, abs=0.001)
    assert got.processes[0].used_bytes is None and got.processes[0].mps
    assert got.processes[0].cmdline == ("p", "x")


def _gzip_flushed(path: Path, lines: list[str]) -> bytes:
    """Write `lines` as the recorder does (a sync flush after each), return the bytes."""
    with trace.create_text(path) as fh:
        for line in lines:
            fh.write(line + "\n")
            fh.flush()
    return path.read_bytes()


def test_compressed_recording_reads_as_the_plain_one(tmp_path: Path) -> None:
    lines = [HEADER, SAMPLE, SAMPLE.replace('"t": 0.0', '"t": 1.0'), '{"t": 1.5, "event": "oom"}']
    plain = trace.read(_write(tmp_path, lines))
    data = _gzip_flushed(tmp_path / "r.jsonl.gz", lines)
    assert data[:2] == trace.GZIP_MAGIC
    # Told by its first bytes, not its name: a compressed file called .jsonl reads too.
    misnamed = tmp_path / "misnamed.jsonl"
    misnamed.write_bytes(data)
    for path in (tmp_path / "r.jsonl.gz", misnamed):
        tr = trace.read(path)
        assert tr.samples == plain.samples and tr.events == plain.events
        assert tr.header == plain.header and tr.cut_line is None


def test_compressed_recording_cut_off_keeps_its_whole_lines(tmp_path: Path) -> None:
    samples = [SAMPLE.replace('"t": 0.0', f'"t": {i}.0') for i in range(20)]
    data = _gzip_flushed(tmp_path / "whole.jsonl.gz", [HEADER, *samples])
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[:-8])  # the recorder killed: no end-of-stream marker
    tr = trace.read(cut)
    assert len(tr.samples) == 20 and tr.cut_line == 22
    assert tr.cut_notice is not None and "cut off mid-write" in tr.cut_notice
    # Cut inside the last line's compressed bytes: the lines before it stay.
    one_less = len(_gzip_flushed(tmp_path / "less.jsonl.gz", [HEADER, *samples[:-1]])) - 8
    cut.write_bytes(data[: one_less + 3])
    tr = trace.read(cut)
    assert len(tr.samples) == 19 and tr.cut_line == 21


def test_corrupt_compressed_recording_is_a_one_line_error(tmp_path: Path) -> None:
    samples = [SAMPLE.replace('"t": 0.0', f'"t": {i}.0') for i in range(200)]
    data = bytearray(gzip.compress("".join(x + "\n" for x in [HEADER, *samples]).encode()))
    data[len(data) // 2 : len(data) // 2 + 16] = b"\xff" * 16
    p = tmp_path / "bad.jsonl.gz"
    p.write_bytes(bytes(data))
    with pytest.raises(TraceError) as err:
        trace.read(p)
    assert str(err.value).startswith(f"{p}: ") and "\n" not in str(err.value)
    # Only the first bytes of a header: no recording at all.
    p.write_bytes(gzip.compress(HEADER.encode())[:12])
    with pytest.raises(TraceError, match=r"cut off|empty"):
        trace.read(p)
