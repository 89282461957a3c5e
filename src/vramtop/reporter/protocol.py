"""Deep-mode wire protocol, version 1: line-delimited JSON over a Unix socket.

A reader connects to ``<runtime dir>/<pid>.sock`` and at once receives two lines:

1. the handshake::

       {"v": 1, "pid": 1234, "framework": "pytorch", "cuda_device": 0}

2. a memory message::

       {"ts": 1718000000.5, "allocated_mb": 512.0, "reserved_mb": 640.0,
        "active_mb": 512.0, "num_allocs": 12, "segments": 4,
        "allocated_bytes": 536870912, "reserved_bytes": 671088640,
        "active_bytes": 536870912, "allocated_peak_bytes": ..., "reserved_peak_bytes": ...,
        "active_peak_bytes": ..., "inactive_split_bytes": ..., "num_ooms": 0,
        "num_alloc_retries": 0}

Each further line the reader sends (any content, usually empty) is answered
with one fresh memory message; the reader closes when it is done. ``*_mb``
fields are MiB (2**20 bytes) as floats, for people reading the stream; the
``*_bytes`` fields are exact and are what vramtop uses.

Parsing is strict: unknown version, malformed JSON, a missing field, a wrong
type (``true`` is not an integer, ``3.0`` is not an integer), a negative or
non-finite number, or a line longer than ``MAX_LINE_BYTES`` raise
``IPCError``. Unknown extra keys are ignored (room for additions within v1).

This module runs inside the user's program too: standard library only, plus
``vramtop.errors`` (which imports nothing).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from vramtop.errors import IPCError

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 64 * 1024
MIB = 1024 * 1024
# Larger than any real byte count or counter (8 EiB); rejects absurd values early.
MAX_INT = 2**63 - 1
FRAMEWORK_NONE = "none"
_FRAMEWORK_RE = re.compile(r"^[a-z0-9][a-z0-9_.+-]{0,31}$")


@dataclass(frozen=True, slots=True)
class Handshake:
    """The first line: who is talking and about which device."""

    v: int
    pid: int
    framework: str
    cuda_device: int | None

    def to_dict(self) -> dict[str, object]:
        return {"v": self.v, "pid": self.pid, "framework": self.framework,
                "cuda_device": self.cuda_device}


@dataclass(frozen=True, slots=True)
class MemoryMessage:
    """One reading of the allocator. Bytes are exact; MiB are derived for display."""

    ts: float
    allocated_bytes: int
    reserved_bytes: int
    active_bytes: int
    allocated_peak_bytes: int
    reserved_peak_bytes: int
    active_peak_bytes: int
    inactive_split_bytes: int
    num_allocs: int
    segments: int
    num_ooms: int
    num_alloc_retries: int

    @classmethod
    def zeros(cls, ts: float) -> MemoryMessage:
        return cls(ts, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    def to_dict(self) -> dict[str, object]:
        return {
            "ts": self.ts,
            "allocated_mb": round(self.allocated_bytes / MIB, 3),
            "reserved_mb": round(self.reserved_bytes / MIB, 3),
            "active_mb": round(self.active_bytes / MIB, 3),
            "num_allocs": self.num_allocs,
            "segments": self.segments,
            "allocated_bytes": self.allocated_bytes,
            "reserved_bytes": self.reserved_bytes,
            "active_bytes": self.active_bytes,
            "allocated_peak_bytes": self.allocated_peak_bytes,
            "reserved_peak_bytes": self.reserved_peak_bytes,
            "active_peak_bytes": self.active_peak_bytes,
            "inactive_split_bytes": self.inactive_split_bytes,
            "num_ooms": self.num_ooms,
            "num_alloc_retries": self.num_alloc_retries,
        }


_INT_FIELDS = (
    "allocated_bytes",
    "reserved_bytes",
    "active_bytes",
    "allocated_peak_bytes",
    "reserved_peak_bytes",
    "active_peak_bytes",
    "inactive_split_bytes",
    "num_allocs",
    "segments",
    "num_ooms",
    "num_alloc_retries",
)
_MB_FIELDS = ("allocated_mb", "reserved_mb", "active_mb")


def encode(message: Handshake | MemoryMessage) -> bytes:
    """One line of compact JSON, newline-terminated."""
    line = json.dumps(message.to_dict(), separators=(",", ":"), allow_nan=False)
    return line.encode("utf-8") + b"\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _load_object(line: bytes | str) -> dict[str, Any]:
    raw = line.encode("utf-8") if isinstance(line, str) else line
    if len(raw) > MAX_LINE_BYTES:
        raise IPCError(f"line of {len(raw)} bytes exceeds the {MAX_LINE_BYTES}-byte limit")
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise IPCError(f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise IPCError(f"expected a JSON object, got {_json_type(obj)}")
    return obj


def _field(obj: dict[str, Any], key: str) -> Any:
    if key not in obj:
        raise IPCError(f"missing field {key!r}")
    return obj[key]


def _int(obj: dict[str, Any], key: str, *, minimum: int = 0) -> int:
    value = _field(obj, key)
    # bool is a subclass of int in Python; on the wire it is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise IPCError(f"field {key!r}: expected an integer, got {_json_type(value)}")
    if value < minimum or value > MAX_INT:
        raise IPCError(f"field {key!r}: {value} out of range")
    return value


def _number(obj: dict[str, Any], key: str) -> float:
    value = _field(obj, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise IPCError(f"field {key!r}: expected a number, got {_json_type(value)}")
    result = float(value)
    if not math.isfinite(result) or result < 0:
        raise IPCError(f"field {key!r}: {value} out of range")
    return result


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_handshake(line: bytes | str) -> Handshake:
    obj = _load_object(line)
    version = _field(obj, "v")
    if isinstance(version, bool) or not isinstance(version, int):
        raise IPCError(f"field 'v': expected an integer, got {_json_type(version)}")
    if version != PROTOCOL_VERSION:
        raise IPCError(f"unsupported protocol version {version} (this vramtop speaks 1)")
    pid = _int(obj, "pid", minimum=1)
    framework = _field(obj, "framework")
    if not isinstance(framework, str):
        raise IPCError(f"field 'framework': expected a string, got {_json_type(framework)}")
    if not _FRAMEWORK_RE.match(framework):
        raise IPCError("field 'framework': not a short lowercase name")
    device = _field(obj, "cuda_device")
    if device is not None:
        device = _int(obj, "cuda_device")
    return Handshake(v=version, pid=pid, framework=framework, cuda_device=device)


def parse_memory(line: bytes | str) -> MemoryMessage:
    obj = _load_object(line)
    ts = _number(obj, "ts")
    for key in _MB_FIELDS:
        _number(obj, key)
    ints = {key: _int(obj, key) for key in _INT_FIELDS}
    return MemoryMessage(ts=ts, **ints)
