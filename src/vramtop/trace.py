"""vramtop-trace v1: JSON Lines recordings of NVML samples (see tests/fixtures/traces/README).

Line 1 is a header; later lines are samples (with `devices`) or events (with
`event`). Readers ignore unknown keys and event names, tolerate a last line cut
off mid-write, and reject a file whose header is not vramtop-trace v1.

A recording may be gzip-compressed (about a thirtieth of the size): readers know
one by its first bytes, whatever its name, and writers compress a file whose
name ends in `.gz`.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vramtop.errors import TraceError
from vramtop.model import DeviceState, GPUDevice, GPUProcess, MemorySnapshot, ProcessKind
from vramtop.security import sanitize

FORMAT = "vramtop-trace"
VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class TraceDevice:
    index: int
    name: str
    uuid: str
    memory_total: int | None


@dataclass(frozen=True, slots=True)
class TraceHeader:
    start_unix: float
    interval_s: float | None
    driver: str | None
    nvml: str | None
    devices: tuple[TraceDevice, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def expected(self) -> str | None:
        value = self.meta.get("expected")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class TraceEvent:
    t: float
    event: str
    pid: int | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Trace:
    """A whole recording in memory (replay and tests); `read_stream` for big files."""

    path: str
    header: TraceHeader
    samples: tuple[MemorySnapshot, ...]
    events: tuple[TraceEvent, ...]
    cut_line: int | None = None  # an incomplete last line, left out (cut off mid-write)

    @property
    def duration_s(self) -> float:
        return self.samples[-1].t - self.samples[0].t if self.samples else 0.0

    @property
    def cut_notice(self) -> str | None:
        """One line for the user where the recording was cut off mid-write."""
        if self.cut_line is None:
            return None
        n = len(self.samples)
        return (
            f"{self.path}: line {self.cut_line} is incomplete (the recording was cut off"
            f" mid-write) and is left out; replaying the {n} sample{'' if n == 1 else 's'}"
            " before it"
        )


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _opt_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _parse_header(obj: Any, where: str) -> TraceHeader:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise TraceError(f"{where}: not a vramtop recording (header lacks format 'vramtop-trace')")
    if obj.get("version") != VERSION:
        raise TraceError(
            f"{where}: unsupported vramtop-trace version {obj.get('version')!r} (expected 1)"
        )
    start = _opt_float(obj.get("start_unix"))
    if start is None:
        raise TraceError(f"{where}: header has no valid start_unix")
    devices = []
    for d in obj.get("devices") or []:
        if isinstance(d, dict):
            devices.append(
                TraceDevice(
                    index=_opt_int(d.get("index")) or 0,
                    name=sanitize(d.get("name", "")),
                    uuid=sanitize(d.get("uuid", "")),
                    memory_total=_opt_int(d.get("memory_total")),
                )
            )
    meta = obj.get("meta")
    return TraceHeader(
        start_unix=start,
        interval_s=_opt_float(obj.get("interval_s")),
        driver=obj.get("driver") if isinstance(obj.get("driver"), str) else None,
        nvml=obj.get("nvml") if isinstance(obj.get("nvml"), str) else None,
        devices=tuple(devices),
        meta=meta if isinstance(meta, dict) else {},
    )


def _parse_process(p: Any) -> GPUProcess | None:
    if not isinstance(p, dict):
        return None
    pid = _opt_int(p.get("pid"))
    if pid is None:
        return None
    try:
        kind = ProcessKind(p.get("type", "compute"))
    except ValueError:
        kind = ProcessKind.COMPUTE
    cmd = p.get("cmdline")
    cmdline = tuple(sanitize(c) for c in cmd if isinstance(c, str)) if isinstance(cmd, list) else ()
    return GPUProcess(
        pid=pid,
        starttime=_opt_int(p.get("starttime")),
        used_bytes=_opt_int(p.get("used")),
        kind=kind,
        name=sanitize(p.get("name") or ""),
        cmdline=cmdline,
        uid=_opt_int(p.get("uid")),
        mps=bool(p.get("mps", False)),
        gpu_instance_id=_opt_int(p.get("gpu_instance_id")),
        compute_instance_id=_opt_int(p.get("compute_instance_id")),
    )


def _parse_device(d: Any, header: TraceHeader) -> GPUDevice:
    if not isinstance(d, dict):
        raise ValueError("device entry is not an object")
    index = _opt_int(d.get("index")) or 0
    known = next((h for h in header.devices if h.index == index), None)
    mem_raw, util_raw = d.get("memory"), d.get("util")
    mem: dict[str, Any] = mem_raw if isinstance(mem_raw, dict) else {}
    util: dict[str, Any] = util_raw if isinstance(util_raw, dict) else {}
    power_mw = _opt_float(d.get("power_mw"))
    procs = tuple(p for p in (_parse_process(x) for x in d.get("processes") or []) if p)
    state_raw = d.get("state", "ok")
    try:
        state = DeviceState(state_raw)
    except ValueError:
        state = DeviceState.OK
    return GPUDevice(
        index=index,
        uuid=sanitize(d.get("uuid") or (known.uuid if known else f"GPU-{index}")),
        name=sanitize(d.get("name") or (known.name if known else "")),
        total_bytes=_opt_int(mem.get("total")) or (known.memory_total if known else None),
        used_bytes=_opt_int(mem.get("used")),
        free_bytes=_opt_int(mem.get("free")),
        reserved_bytes=_opt_int(mem.get("reserved")),
        util_gpu_pct=_opt_int(util.get("gpu")),
        util_memory_pct=_opt_int(util.get("memory")),
        temperature_c=_opt_int(d.get("temp_c")),
        power_watts=power_mw / 1000.0 if power_mw is not None else None,
        processes=procs,
        state=state,
    )


def _parse_line(obj: Any, header: TraceHeader) -> MemorySnapshot | TraceEvent | None:
    if not isinstance(obj, dict):
        raise ValueError("line is not a JSON object")
    t = _opt_float(obj.get("t"))
    if t is None:
        raise ValueError("line has no valid 't'")
    if "devices" in obj:
        devs = obj["devices"]
        if not isinstance(devs, list):
            raise ValueError("'devices' is not a list")
        return MemorySnapshot(
            t=t,
            unix_time=header.start_unix + t,
            devices=tuple(_parse_device(d, header) for d in devs),
        )
    if "event" in obj:
        data = {k: v for k, v in obj.items() if k not in ("t", "event", "pid")}
        return TraceEvent(t=t, event=str(obj["event"]), pid=_opt_int(obj.get("pid")), data=data)
    return None


class CutShort(TraceError):
    """A compressed recording that ends before its end-of-stream marker (its
    recorder was killed): every whole line before it was read."""


def open_text(path: Path) -> IO[str]:
    """A recording opened as text: gzip-compressed or plain, told by its first bytes."""
    try:
        with path.open("rb") as raw:
            compressed = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        if compressed:
            return gzip.open(path, "rt", encoding="utf-8", errors="replace")
        return path.open("r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise TraceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory, not a recording") from None
    except OSError as e:
        raise TraceError(f"{path}: cannot open ({e.strerror})") from None


def recordings_in(directory: Path) -> list[Path]:
    """The recordings in a directory, plain (`*.jsonl`) or compressed (`*.jsonl.gz`),
    sorted by name."""
    return sorted([*directory.glob("*.jsonl"), *directory.glob("*.jsonl.gz")])


def create_text(path: Path) -> IO[str]:
    """A new recording opened for writing: gzip-compressed when its name ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, "wt", encoding="utf-8")
    return path.open("w", encoding="utf-8")


def raw_lines(fh: IO[str], path: Path) -> Iterator[str]:
    """The lines of an open recording; a compressed one cut off raises `CutShort`
    after its whole lines, and other damage raises `TraceError`.
    (A loop, not `yield from`, which would close `fh` with an abandoned generator.)"""
    try:
        for line in fh:  # noqa: UP028
            yield line
    except EOFError:
        raise CutShort(f"{path}: compressed recording cut off") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise TraceError(f"{path}: corrupt compressed data ({e})") from None
    except OSError as e:
        raise TraceError(f"{path}: cannot read ({e.strerror or e})") from None


def read_stream(
    path: str | Path, on_cut: Callable[[int], None] | None = None
) -> tuple[TraceHeader, Iterator[MemorySnapshot | TraceEvent]]:
    """Open a recording; returns its header and a lazy iterator over later lines.

    A bad last line is a recording cut off mid-write: it is left out, and `on_cut`
    is told its line number. A bad line anywhere else raises `TraceError`."""
    p = Path(path)
    fh = open_text(p)
    try:
        first = next(raw_lines(fh, p), "")
    except TraceError:
        fh.close()
        raise
    if not first.strip():
        fh.close()
        raise TraceError(f"{p}: empty file, not a vramtop recording")
    try:
        header_obj = json.loads(first)
    except json.JSONDecodeError:
        fh.close()
        raise TraceError(f"{p}: not a vramtop recording (line 1 is not JSON)") from None
    try:
        header = _parse_header(header_obj, str(p))
    except TraceError:
        fh.close()
        raise

    def lines() -> Iterator[MemorySnapshot | TraceEvent]:
        with fh:
            lineno = 1
            pending: tuple[int, str] | None = None
            try:
                for raw in raw_lines(fh, p):
                    lineno += 1
                    if pending is not None:
                        # The bad line was not the last one: the file is corrupt.
                        raise TraceError(f"{p}: line {pending[0]}: {pending[1]}")
                    if not raw.strip():
                        continue
                    try:
                        item = _parse_line(json.loads(raw), header)
                    except (json.JSONDecodeError, ValueError, TypeError) as e:
                        reason = "not valid JSON" if isinstance(e, json.JSONDecodeError) else str(e)
                        pending = (lineno, reason)
                        continue
                    if item is not None:
                        yield item
            except CutShort:
                # A compressed recording that ends mid-stream (its recorder was killed):
                # every whole line came through, the one being written did not.
                if pending is None:
                    pending = (lineno + 1, "compressed data cut off")
            if pending is not None and on_cut is not None:
                on_cut(pending[0])

    return header, lines()


def read(path: str | Path) -> Trace:
    cut: list[int] = []
    header, items = read_stream(path, cut.append)
    samples: list[MemorySnapshot] = []
    events: list[TraceEvent] = []
    for item in items:
        (samples if isinstance(item, MemorySnapshot) else events).append(item)  # type: ignore[arg-type]
    if not samples:
        raise TraceError(f"{path}: recording has no samples")
    return Trace(
        path=str(path),
        header=header,
        samples=tuple(samples),
        events=tuple(events),
        cut_line=cut[0] if cut else None,
    )


# --- writing ------------------------------------------------------------------------


def header_dict(
    start_unix: float,
    interval_s: float,
    devices: list[GPUDevice] | tuple[GPUDevice, ...],
    driver: str | None = None,
    nvml: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "start_unix": start_unix,
        "interval_s": interval_s,
        "driver": driver,
        "nvml": nvml,
        "devices": [
            {"index": d.index, "name": d.name, "uuid": d.uuid, "memory_total": d.total_bytes}
            for d in devices
        ],
        "meta": meta or {},
    }


def sample_dict(snapshot: MemorySnapshot, t: float) -> dict[str, Any]:
    devices = []
    for d in snapshot.devices:
        dev: dict[str, Any] = {
            "index": d.index,
            "memory": {
                "total": d.total_bytes,
                "reserved": d.reserved_bytes,
                "used": d.used_bytes,
                "free": d.free_bytes,
            },
            "util": (
                {"gpu": d.util_gpu_pct, "memory": d.util_memory_pct}
                if d.util_gpu_pct is not None or d.util_memory_pct is not None
                else None
            ),
            "temp_c": d.temperature_c,
            "power_mw": round(d.power_watts * 1000) if d.power_watts is not None else None,
            "processes": [
                {
                    "pid": p.pid,
                    "used": p.used_bytes,
                    "type": p.kind.value,
                    "name": p.name,
                    "cmdline": list(p.cmdline),
                    "starttime": p.starttime,
                    "uid": p.uid,
                    **({"mps": True} if p.mps else {}),
                }
                for p in d.processes
            ],
        }
        if d.state is not DeviceState.OK:
            dev["state"] = d.state.value
        devices.append(dev)
    return {"t": round(t, 4), "devices": devices}


class TraceWriter:
    """Appends a recording line by line, flushing each so a crash leaves a valid file."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh

    def write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._fh.flush()
