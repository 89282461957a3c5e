"""Deep-mode wire protocol v1: encoding, and strict parsing of everything else."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtop.errors import IPCError
from vramtop.reporter import protocol
from vramtop.reporter.protocol import Handshake, MemoryMessage

GOOD_MEMORY = MemoryMessage(
    ts=1718000000.25,
    allocated_bytes=3 * 2**30 + 17,
    reserved_bytes=4 * 2**30,
    active_bytes=3 * 2**30 + 17,
    allocated_peak_bytes=5 * 2**30,
    reserved_peak_bytes=6 * 2**30,
    active_peak_bytes=5 * 2**30,
    inactive_split_bytes=12345,
    num_allocs=42,
    segments=7,
    num_ooms=1,
    num_alloc_retries=2,
)


def memory_dict(**changes: object) -> dict[str, object]:
    d = GOOD_MEMORY.to_dict()
    d.update(changes)
    return d


def handshake_dict(**changes: object) -> dict[str, object]:
    d: dict[str, object] = {"v": 1, "pid": 4242, "framework": "pytorch", "cuda_device": 0}
    d.update(changes)
    return d


def line(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_encode_is_one_compact_line_with_spec_names_and_exact_bytes() -> None:
    raw = protocol.encode(GOOD_MEMORY)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    obj = json.loads(raw)
    for key in ("ts", "allocated_mb", "reserved_mb", "active_mb", "num_allocs", "segments"):
        assert key in obj
    assert obj["allocated_bytes"] == 3 * 2**30 + 17
    assert obj["reserved_mb"] == 4096.0


def test_roundtrip() -> None:
    hs = Handshake(1, 4242, "pytorch", 3)
    assert protocol.parse_handshake(protocol.encode(hs)) == hs
    assert protocol.parse_memory(protocol.encode(GOOD_MEMORY)) == GOOD_MEMORY
    none = Handshake(1, 7, "none", None)
    assert protocol.parse_handshake(protocol.encode(none)) == none


def test_extra_keys_are_ignored_within_v1() -> None:
    assert protocol.parse_handshake(line(handshake_dict(host="x"))).pid == 4242
    assert protocol.parse_memory(line(memory_dict(future=[1, 2]))) == GOOD_MEMORY


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (handshake_dict(v=2), "unsupported protocol version 2"),
        (handshake_dict(v=0), "unsupported protocol version 0"),
        (handshake_dict(v="1"), "field 'v': expected an integer, got string"),
        (handshake_dict(v=True), "field 'v': expected an integer, got boolean"),
        ({"pid": 1, "framework": "pytorch", "cuda_device": 0}, "missing field 'v'"),
        (handshake_dict(pid="4242"), "field 'pid': expected an integer, got string"),
        (handshake_dict(pid=True), "field 'pid': expected an integer, got boolean"),
        (handshake_dict(pid=4242.0), "field 'pid': expected an integer, got number"),
        (handshake_dict(pid=0), "field 'pid': 0 out of range"),
        (handshake_dict(pid=-5), "field 'pid': -5 out of range"),
        (handshake_dict(framework=None), "field 'framework': expected a string, got null"),
        (handshake_dict(framework="\x1b[31mpytorch"), "not a short lowercase name"),
        (handshake_dict(framework="x" * 100), "not a short lowercase name"),
        (handshake_dict(cuda_device=-1), "field 'cuda_device': -1 out of range"),
        (handshake_dict(cuda_device=0.5), "field 'cuda_device': expected an integer"),
        ([1, 2], "expected a JSON object, got array"),
        ("hello", "expected a JSON object, got string"),
    ],
)
def test_bad_handshakes(obj: object, needle: str) -> None:
    with pytest.raises(IPCError, match=re.escape(needle)):
        protocol.parse_handshake(line(obj))


def test_handshake_missing_each_field() -> None:
    for key in ("v", "pid", "framework", "cuda_device"):
        d = handshake_dict()
        del d[key]
        with pytest.raises(IPCError, match=f"missing field '{key}'"):
            protocol.parse_handshake(line(d))


def test_memory_missing_each_field() -> None:
    for key in GOOD_MEMORY.to_dict():
        d = memory_dict()
        del d[key]
        with pytest.raises(IPCError, match=f"missing field '{key}'"):
            protocol.parse_memory(line(d))


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"allocated_bytes": True}, "'allocated_bytes': expected an integer, got boolean"),
        ({"allocated_bytes": 1.0}, "'allocated_bytes': expected an integer, got number"),
        ({"reserved_bytes": "1"}, "'reserved_bytes': expected an integer, got string"),
        ({"segments": None}, "'segments': expected an integer, got null"),
        ({"num_allocs": -1}, "'num_allocs': -1 out of range"),
        ({"reserved_peak_bytes": 2**64}, "out of range"),
        ({"ts": "now"}, "'ts': expected a number, got string"),
        ({"ts": False}, "'ts': expected a number, got boolean"),
        ({"ts": -1.0}, "'ts': -1.0 out of range"),
        ({"allocated_mb": -0.5}, "'allocated_mb': -0.5 out of range"),
        ({"active_mb": {}}, "'active_mb': expected a number, got object"),
    ],
)
def test_bad_memory_messages(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(IPCError, match=needle):
        protocol.parse_memory(line(memory_dict(**changes)))


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"\xff\xfe{}", b'{"ts": NaN}', b'{"ts": Infinity}']
)
def test_malformed_json(raw: bytes) -> None:
    with pytest.raises(IPCError, match="malformed JSON"):
        protocol.parse_memory(raw)


def test_line_over_64_kib_is_refused_before_parsing() -> None:
    big = line(handshake_dict(padding="x" * protocol.MAX_LINE_BYTES))
    with pytest.raises(IPCError, match="exceeds the 65536-byte limit"):
        protocol.parse_handshake(big)
    # Exactly at the limit is allowed (and then judged on content).
    at_limit = b" " * (protocol.MAX_LINE_BYTES - 2) + b"{}"
    with pytest.raises(IPCError, match="missing field"):
        protocol.parse_handshake(at_limit)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_ipc_error(raw: bytes) -> None:
    for parse in (protocol.parse_handshake, protocol.parse_memory):
        with contextlib.suppress(IPCError):
            parse(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


KNOWN_KEYS = [*GOOD_MEMORY.to_dict(), "v", "pid", "framework", "cuda_device"]


@given(st.dictionaries(st.sampled_from(KNOWN_KEYS), json_values))
def test_arbitrary_objects_only_ever_raise_ipc_error(obj: dict[str, object]) -> None:
    raw = json.dumps(obj).encode()
    for parse in (protocol.parse_handshake, protocol.parse_memory):
        with contextlib.suppress(IPCError):
            parse(raw)


counts = st.integers(min_value=0, max_value=protocol.MAX_INT)


@given(
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.lists(counts, min_size=11, max_size=11),
)
def test_roundtrip_any_valid_memory_message(ts: float, values: list[int]) -> None:
    message = MemoryMessage(ts, *values)
    assert protocol.parse_memory(protocol.encode(message)) == message


@given(
    st.integers(min_value=1, max_value=2**22),
    st.from_regex(r"[a-z0-9][a-z0-9_.+-]{0,31}", fullmatch=True),
    st.none() | st.integers(min_value=0, max_value=64),
)
def test_roundtrip_any_valid_handshake(pid: int, framework: str, device: int | None) -> None:
    hs = Handshake(1, pid, framework, device)
    assert protocol.parse_handshake(protocol.encode(hs)) == hs
