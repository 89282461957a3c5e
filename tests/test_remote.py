"""The fleet view: strict parsing of /api/frame, unreachable hosts, and real exporters."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from export_helpers import TRACES, GiB, exporter, frame, gpu, proc, start_exporter, stop
from vramtop.backends.remote import RemoteBackend, Target, parse_frame, parse_target
from vramtop.engine import Monitor
from vramtop.errors import ConfigError, RemoteError
from vramtop.export import json_stream
from vramtop.model import DeviceState, ProcessKind


def snapshot() -> dict[str, Any]:
    f = frame(
        gpu(0, processes=[proc(10, 2 * GiB, name="train"), proc(11, None, name="x")]),
        gpu(1, uuid="GPU-1", used=None, state=DeviceState.LOST),
    )
    obj: dict[str, Any] = json.loads(json.dumps(json_stream.snapshot_dict(f)))
    return obj


# --- targets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [("gpu-07:19400", "gpu-07", 19400), ("10.0.0.5:1", "10.0.0.5", 1), ("[::1]:80", "::1", 80)],
)
def test_targets(text: str, host: str, port: int) -> None:
    t = parse_target(text)
    assert (t.host, t.port) == (host, port)
    assert parse_target(t.label) == t


@pytest.mark.parametrize(
    "text",
    [
        "gpu-07",
        ":80",
        "host:0",
        "host:70000",
        "host:x",
        "[::1]80",
        "[nope]:80",
        "a b:80",
        "http://h:80/x",
        "h/../x:80",
    ],
)
def test_bad_targets_are_one_line_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--remote"):
        parse_target(text)


@given(st.text(max_size=40))
def test_target_parser_never_fails_otherwise(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_target(text)


# --- parsing ---------------------------------------------------------------------------


def test_round_trip_of_the_json_stream_schema() -> None:
    devices = parse_frame(snapshot(), "h:1")
    d0, d1 = devices
    assert d0.host == "h:1" and d0.key == "h:1/GPU-0"
    assert d0.used_bytes == 10 * GiB and d0.total_bytes == 80 * GiB
    assert d0.util_gpu_pct == 37 and d0.temperature_c == 50 and d0.power_watts == 250.5
    assert (d0.sm_clock_mhz, d0.memory_clock_mhz) == (1980, 2619)
    assert (d0.pcie_tx_bytes_per_s, d0.pcie_rx_bytes_per_s) == (1_500_000, 250_000_000)
    assert [p.pid for p in d0.processes] == [10, 11]
    assert d0.processes[0].name == "train" and d0.processes[0].kind is ProcessKind.COMPUTE
    assert d0.processes[1].used_bytes is None  # unknown stays unknown
    assert d1.state is DeviceState.LOST and d1.used_bytes is None


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    obj = snapshot()
    target: Any = obj
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["schema"], 2),
        (["schema"], True),
        (["gpus"], KeyError),
        (["gpus"], {"0": 1}),
        (["gpus", 0, "used"], -1),
        (["gpus", 0, "used"], True),
        (["gpus", 0, "used"], "12"),
        (["gpus", 0, "total"], 1.5),
        (["gpus", 0, "util_gpu"], 101),
        (["gpus", 0, "state"], "melted"),
        (["gpus", 0, "gpu"], KeyError),
        (["gpus", 0, "uuid"], 7),
        (["gpus", 0, "power_w"], "hot"),
        (["gpus", 0, "sm_clock_mhz"], 1980.5),
        (["gpus", 0, "pcie_tx"], -1),
        (["gpus", 0, "processes"], "none"),
        (["gpus", 0, "processes", 0, "pid"], 0),
        (["gpus", 0, "processes", 0, "type"], "quantum"),
        (["gpus", 0, "processes", 0, "mps"], "yes"),
        (["gpus", 0, "processes", 0], []),
        (["gpus", 1, "uuid"], "GPU-0"),
    ],
)
def test_malformed_answers_are_clear_errors(path: list[Any], value: Any) -> None:
    with pytest.raises(RemoteError):
        parse_frame(_broken(path, value), "h:1")


def test_strings_are_sanitized() -> None:
    obj = snapshot()
    obj["gpus"][0]["name"] = "H100\x1b[2J\x07"
    obj["gpus"][0]["processes"][0]["name"] = "evil\x1b]0;title\x07"
    d = parse_frame(obj, "h:1")[0]
    assert d.name == "H100" and d.processes[0].name == "evil"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(json_values)
def test_any_json_is_devices_or_a_remote_error(obj: Any) -> None:
    with contextlib.suppress(RemoteError):
        parse_frame(obj, "h:1")


@settings(max_examples=200)
@given(
    st.sampled_from(["gpu", "used", "total", "state", "util_gpu", "temp_c", "processes"]),
    json_values,
)
def test_any_field_value_is_devices_or_a_remote_error(key: str, value: Any) -> None:
    obj = copy.deepcopy(snapshot())
    obj["gpus"][0][key] = value
    with contextlib.suppress(RemoteError):
        parse_frame(obj, "h:1")


@pytest.mark.parametrize("key", ["temp_c", "power_w"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_number_that_is_not_finite_is_a_remote_error(key: str, value: float) -> None:
    """Python's json reads Infinity and NaN; a server that sends them is malformed."""
    obj = copy.deepcopy(snapshot())
    obj["gpus"][0][key] = value
    with pytest.raises(RemoteError, match=f"{key}: expected a finite number"):
        parse_frame(obj, "h:1")


# --- the backend with a fake network ---------------------------------------------------


class FakeNet:
    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.calls: list[str] = []

    def __call__(self, target: Target, timeout: float, token: str | None) -> object:
        self.calls.append(target.label)
        answer = self.answers.get(target.label, RemoteError("unreachable (connection refused)"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_unreachable_hosts_show_lost_and_are_retried_with_backoff() -> None:
    net = FakeNet()
    now = [100.0]
    b = RemoteBackend(["a:1", "b:2"], fetch=net, clock=lambda: now[0], retry_max_s=8)
    b.open()
    net.answers["a:1"] = snapshot()
    snap = b.sample()
    by_host = {(d.host, d.uuid): d for d in snap.devices}
    assert by_host[("a:1", "GPU-0")].state is DeviceState.OK
    never = by_host[("b:2", "unreachable")]
    assert never.state is DeviceState.LOST and "connection refused" in (never.error or "")

    # a:1 goes down: its GPUs stay in place, LOST, with the reason
    net.answers.pop("a:1")
    snap = b.sample()
    down = [d for d in snap.devices if d.host == "a:1"]
    assert [d.uuid for d in down] == ["GPU-0", "GPU-1"]
    assert all(d.state is DeviceState.LOST and d.error for d in down)

    # backoff: no new request before the wait is over, then one
    calls = len(net.calls)
    b.sample()
    assert len(net.calls) == calls
    waits = []
    for _ in range(6):
        st_ = b.host_state("a:1")
        waits.append(st_.next_try - now[0])
        now[0] = st_.next_try
        b.sample()
    assert waits == sorted(waits) and max(waits) == 8  # doubles, capped

    net.answers["a:1"] = snapshot()
    now[0] = b.host_state("a:1").next_try
    snap = b.sample()
    states = {d.uuid: d.state for d in snap.devices if d.host == "a:1"}
    assert states == {"GPU-0": DeviceState.OK, "GPU-1": DeviceState.LOST}  # as the host says
    b.close()


def test_a_malformed_answer_is_an_unreachable_host_not_a_crash() -> None:
    net = FakeNet()
    net.answers["a:1"] = {"schema": 1, "gpus": [{"gpu": "zero"}]}
    b = RemoteBackend(["a:1"], fetch=net)
    b.open()
    [d] = b.sample().devices
    assert d.state is DeviceState.LOST and "gpus[0].gpu" in (d.error or "")
    b.close()


# --- real exporters --------------------------------------------------------------------


def test_fleet_of_two_exporters_then_one_killed() -> None:
    common = ["--port", "0", "--speed", "5", "--loop"]
    a = start_exporter([*common, "--replay", str(TRACES / "staircase.jsonl")])
    try:
        with exporter([*common, "--replay", str(TRACES / "jax_prealloc.jsonl")]) as bexp:
            ta, tb = a.url.removeprefix("http://"), bexp.url.removeprefix("http://")
            backend = RemoteBackend([ta, tb], timeout_s=2.0)
            mon = Monitor(backend, hostname="viewer")
            mon.open()
            try:
                f = mon.step()
                hosts = {g.device.host: g for g in f.gpus}
                assert set(hosts) == {ta, tb}
                assert all(g.device.state is DeviceState.OK for g in f.gpus)
                assert len({g.device.key for g in f.gpus}) == 2  # same GPU, two hosts

                stop(a.proc)
                f = mon.step()
                hosts = {g.device.host: g for g in f.gpus}
                assert hosts[ta].device.state is DeviceState.LOST
                assert "unreachable" in (hosts[ta].device.error or "")
                assert hosts[tb].device.state is DeviceState.OK
                obj = json_stream.snapshot_dict(f)
                assert {g["host"] for g in obj["gpus"]} == {ta, tb}
            finally:
                mon.close()
    finally:
        stop(a.proc)


def test_cli_once_json_and_json_stream_over_remote() -> None:
    with exporter(["--port", "0", "--loop", "--replay", str(TRACES / "staircase.jsonl")]) as exp:
        target = exp.url.removeprefix("http://")
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "vramtop",
                "--once",
                "--json",
                "--remote",
                target,
                "--remote",
                "127.0.0.1:1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        obj = json.loads(res.stdout)
        states = {g["host"]: g["state"] for g in obj["gpus"]}
        assert states == {target: "ok", "127.0.0.1:1": "lost"}

        # --json-stream, read by a consumer that leaves after three lines: clean exit
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vramtop",
                "--json-stream",
                "--refresh-rate",
                "0.5",
                "--remote",
                target,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None and p.stderr is not None
        lines = [p.stdout.readline() for _ in range(3)]
        p.stdout.close()
        rc = p.wait(timeout=30)
        err = p.stderr.read()
        p.stderr.close()
        assert rc == 0, err
        assert "Traceback" not in err
        for line in lines:
            g = json.loads(line)
            assert g["host"] == target and "oom_alert" in g and "processes" in g
