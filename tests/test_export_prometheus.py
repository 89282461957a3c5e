"""The Prometheus exporter: metric text, series lifecycle, cardinality, HTTP and auth."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from export_helpers import TRACES, GiB, exporter, frame, gpu, proc
from vramtop import trace
from vramtop.backends.remote import parse_frame
from vramtop.backends.replay import ReplayBackend
from vramtop.engine import Monitor
from vramtop.errors import ExportError
from vramtop.export.prometheus import (
    ExporterServer,
    FrameCollector,
    bearer_ok,
    is_loopback,
    require_token_off_loopback,
)
from vramtop.frame import Frame
from vramtop.metrics import METRICS
from vramtop.model import DeviceState, MemorySnapshot

TOKEN = "s3cret-token-0123456789"


def scrape(f: Frame | None, **kw: object) -> str:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(FrameCollector(lambda: f, **kw))  # type: ignore[arg-type]
    return generate_latest(reg).decode()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_text_parses_and_has_types_and_help() -> None:
    f = frame(gpu(processes=[proc(10, 2 * GiB), proc(11, 1 * GiB)], oom_alert=True))
    text = scrape(f)
    fams = {fam.name: fam for fam in text_string_to_metric_families(text)}
    assert fams["vramtop_gpu_memory_used_bytes"].type == "gauge"
    assert fams["vramtop_samples"].type == "counter"  # exposed as vramtop_samples_total
    assert "# TYPE vramtop_sample_errors_total counter" in text
    s = samples(text)
    [(labels, value)] = s["vramtop_gpu_memory_used_bytes"]
    assert labels == {
        "hostname": "node1",
        "gpu": "0",
        "uuid": "GPU-0",
        "name": "NVIDIA H100 80GB HBM3",
    }
    assert value == 10 * GiB
    assert s["vramtop_oom_alert"][0][1] == 1.0
    assert s["vramtop_oom_eta_low_seconds"][0][1] == 60.0
    assert s["vramtop_gpu_utilization_ratio"][0][1] == pytest.approx(0.37)
    assert s["vramtop_gpu_sm_clock_hertz"][0][1] == 1.98e9
    assert s["vramtop_gpu_memory_clock_hertz"][0][1] == 2.619e9
    assert s["vramtop_gpu_pcie_transmit_bytes_per_second"][0][1] == 1_500_000
    assert s["vramtop_gpu_pcie_receive_bytes_per_second"][0][1] == 250_000_000
    phases = {lab["phase"]: v for lab, v in s["vramtop_gpu_phase"]}
    assert phases == {"stable": 0.0, "growing": 1.0, "shrinking": 0.0, "volatile": 0.0}
    pids = sorted(lab["pid"] for lab, _ in s["vramtop_process_gpu_memory_used_bytes"])
    assert pids == ["10", "11"]
    every_name = {m.name for m in METRICS}
    assert every_name - set(s) <= {
        # absent because this frame has no value for them (unknown is never 0)
        "vramtop_gpu_power_limit_watts",
        "vramtop_process_survival",
        "vramtop_process_estimated_peak_bytes",
        "vramtop_process_kv_cache_usage_ratio",
        "vramtop_process_kv_cache_capacity_tokens",
        "vramtop_process_kv_cache_used_tokens",
        "vramtop_process_server_requests_running",
        "vramtop_process_server_requests_waiting",
        "vramtop_process_allocator_allocated_bytes",
        "vramtop_process_allocator_reserved_bytes",
    }


def test_no_frame_yet_gives_only_build_info() -> None:
    s = samples(scrape(None))
    assert set(s) == {"vramtop_build_info"}


def test_ended_processes_vanish() -> None:
    current: list[Frame] = [frame(gpu(processes=[proc(10, 2 * GiB), proc(11, 1 * GiB)]))]
    reg = CollectorRegistry(auto_describe=False)
    reg.register(FrameCollector(lambda: current[0]))
    before = generate_latest(reg).decode()
    assert 'pid="11"' in before
    current[0] = frame(gpu(processes=[proc(10, 2 * GiB)]), seq=2)
    after = generate_latest(reg).decode()
    assert 'pid="10"' in after
    assert 'pid="11"' not in after


def test_cardinality_is_capped_largest_first() -> None:
    procs = [proc(100 + i, (i + 1) * 1024 * 1024) for i in range(70)]
    s = samples(scrape(frame(gpu(processes=procs)), max_processes=64))
    series = s["vramtop_process_gpu_memory_used_bytes"]
    assert len(series) == 64
    kept = {int(lab["pid"]) for lab, _ in series}
    assert kept == {100 + i for i in range(6, 70)}  # the six smallest are dropped
    assert s["vramtop_gpu_processes"][0][1] == 70.0


def test_other_users_processes_only_when_allowed() -> None:
    f = frame(gpu(processes=[proc(10, GiB, own=True), proc(11, GiB, own=False)]))
    mine = samples(scrape(f, include_others=False))["vramtop_process_gpu_memory_used_bytes"]
    assert [lab["pid"] for lab, _ in mine] == ["10"]
    both = samples(scrape(f, include_others=True))["vramtop_process_gpu_memory_used_bytes"]
    assert len(both) == 2


def test_lost_gpu_is_down_without_process_series() -> None:
    f = frame(
        gpu(0, processes=[proc(10, GiB)]),
        gpu(1, used=None, state=DeviceState.LOST, processes=[proc(20, GiB, gpu_index=1)]),
    )
    s = samples(scrape(f))
    up = {lab["gpu"]: v for lab, v in s["vramtop_gpu_up"]}
    assert up == {"0": 1.0, "1": 0.0}
    assert {lab["gpu"] for lab, _ in s["vramtop_process_gpu_memory_used_bytes"]} == {"0"}
    assert {lab["gpu"] for lab, _ in s["vramtop_gpu_memory_used_bytes"]} == {"0"}


def test_label_values_are_sanitized() -> None:
    evil = proc(10, GiB, name="py\x1b[31mthon\n")
    text = scrape(frame(gpu(processes=[evil])))
    assert "\x1b" not in text
    assert 'name="python"' in text


def test_dcgm_names_in_mib_with_dcgm_labels() -> None:
    f = frame(gpu(used=10 * GiB))
    s = samples(scrape(f, dcgm_names=True))
    [(labels, used)] = s["DCGM_FI_DEV_FB_USED"]
    assert used == 10 * 1024
    assert labels == {
        "gpu": "0",
        "UUID": "GPU-0",
        "device": "nvidia0",
        "modelName": "NVIDIA H100 80GB HBM3",
        "Hostname": "node1",
    }
    assert s["DCGM_FI_DEV_FB_FREE"][0][1] == 70 * 1024
    assert s["DCGM_FI_DEV_FB_RESERVED"][0][1] == 512
    assert "DCGM_FI_DEV_FB_USED" not in samples(scrape(f))


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (the prometheus package brings it)")
    return path


def test_promtool_check_metrics_is_clean() -> None:
    promtool = _promtool()
    f = frame(gpu(processes=[proc(10, 2 * GiB, framework="pytorch")], oom_alert=True))
    res = subprocess.run(
        [promtool, "check", "metrics"], input=scrape(f), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    # With --dcgm-names the only complaint is dcgm-exporter's own camelCase labels.
    res = subprocess.run(
        [promtool, "check", "metrics"],
        input=scrape(f, dcgm_names=True),
        capture_output=True,
        text=True,
    )
    problems = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert problems and all("DCGM_FI_DEV_FB_" in p and "camelCase" in p for p in problems)


# --- access rules ----------------------------------------------------------------------


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.1.2.3")


def test_off_loopback_needs_a_token() -> None:
    require_token_off_loopback("127.0.0.1", None)
    with pytest.raises(ExportError, match="without a token"):
        require_token_off_loopback("0.0.0.0", None)
    require_token_off_loopback("0.0.0.0", TOKEN)
    with pytest.raises(ExportError):
        ExporterServer(lambda: None, bind="0.0.0.0", port=0, token=None)


def test_bearer_check() -> None:
    assert bearer_ok(None, None)
    assert bearer_ok("anything", None)
    assert bearer_ok(f"Bearer {TOKEN}", TOKEN)
    assert bearer_ok(f"bearer  {TOKEN} ", TOKEN)
    assert not bearer_ok(None, TOKEN)
    assert not bearer_ok(f"Basic {TOKEN}", TOKEN)
    assert not bearer_ok(f"Bearer {TOKEN}x", TOKEN)
    assert not bearer_ok("Bearer ", TOKEN)
    assert not bearer_ok(f"Bearer {TOKEN[:-1]}", TOKEN)


# --- HTTP ------------------------------------------------------------------------------


@pytest.fixture
def replay_monitor() -> Iterator[Monitor]:
    tr = trace.read(TRACES / "loss_history_leak.jsonl")
    mon = Monitor(ReplayBackend(tr, step_s=1.0), hostname="node1")
    mon.open()
    for _ in range(40):
        mon.step()
    yield mon
    mon.close()


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_http_endpoints(replay_monitor: Monitor) -> None:
    calls = {"n": 0}
    original = replay_monitor.backend.sample

    def counting() -> MemorySnapshot:
        calls["n"] += 1
        return original()

    replay_monitor.backend.sample = counting  # type: ignore[method-assign]
    server = ExporterServer(lambda: replay_monitor.latest, bind="127.0.0.1", port=0)
    server.start()
    try:
        status, headers, body = _get(server.url + "/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "vramtop_gpu_memory_used_bytes{" in body.decode()
        for _ in range(3):
            _get(server.url + "/metrics")
        assert calls["n"] == 0  # scrapes read the latest frame, never the backend

        status, _, body = _get(server.url + "/api/frame")
        assert status == 200
        obj = json.loads(body)
        assert obj["schema"] == 1 and obj["host"] == "node1"
        devices = parse_frame(obj, "node1:1")  # the fleet view's parser accepts it
        assert devices[0].used_bytes == replay_monitor.latest.gpus[0].device.used_bytes  # type: ignore[union-attr]

        status, _, body = _get(server.url + "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, _, _ = _get(server.url + "/nope")
        assert status == 404
    finally:
        server.stop()


def test_http_before_first_sample() -> None:
    server = ExporterServer(lambda: None, port=0)
    server.start()
    try:
        assert _get(server.url + "/healthz")[0] == 503
        assert _get(server.url + "/api/frame")[0] == 503
        status, _, body = _get(server.url + "/metrics")
        assert status == 200 and b"vramtop_build_info" in body
    finally:
        server.stop()


def _non_loopback_ipv4() -> str | None:
    """A non-loopback address of this machine (no packet is sent), if it has one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        addr = str(s.getsockname()[0])
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def test_token_required_off_loopback(replay_monitor: Monitor) -> None:
    addr = _non_loopback_ipv4()
    bind = addr or "0.0.0.0"  # 0.0.0.0 is off-loopback too: the token path is the same
    server = ExporterServer(lambda: replay_monitor.latest, bind=bind, port=0, token=TOKEN)
    server.start()
    try:
        base = f"http://{addr or '127.0.0.1'}:{server.port}"
        for path in ("/metrics", "/api/frame"):
            status, headers, _ = _get(base + path)
            assert status == 401
            assert headers["WWW-Authenticate"].startswith("Bearer")
            assert _get(base + path, token="wrong-token-0123456789")[0] == 401
            assert _get(base + path, token=TOKEN)[0] == 200
        assert _get(base + "/healthz")[0] == 200  # health reveals nothing
        assert server.denied == 4
    finally:
        server.stop()


def test_cli_refuses_off_loopback_without_token() -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "vramtop",
            "export",
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--replay",
            str(TRACES / "staircase.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "without a token" in lines[0]
    assert "Traceback" not in res.stderr


def test_cli_serves_off_loopback_with_env_token() -> None:
    args = ["--bind", "0.0.0.0", "--port", "0", "--replay", str(TRACES / "staircase.jsonl")]
    with exporter(args, env={"VRAMTOP_TOKEN": TOKEN}) as exp:
        url = exp.url.replace("0.0.0.0", "127.0.0.1")
        assert _get(url + "/metrics")[0] == 401
        status, _, body = _get(url + "/metrics", token=TOKEN)
        assert status == 200 and b"vramtop_" in body


def test_cli_says_a_replayed_recording_was_cut_short(tmp_path: Path) -> None:
    lines = (TRACES / "staircase.jsonl").read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines) + "\n" + lines[-1][:25])
    tr = trace.read(cut)
    assert tr.cut_line == len(lines) + 1
    with exporter(["--port", "0", "--replay", str(cut)]) as exp:
        assert exp.notes == [f"vramtop: {tr.cut_notice}"]
        status, _, body = _get(exp.url + "/metrics")
        assert status == 200 and b"vramtop_" in body


def test_cli_port_in_use_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "vramtop",
                "export",
                "--port",
                str(port),
                "--replay",
                str(TRACES / "staircase.jsonl"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "cannot listen" in res.stderr


def test_a_failing_request_is_a_500_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"n": 0}

    def latest() -> Frame | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("bug")
        return frame(gpu())

    server = ExporterServer(latest, port=0)
    server.start()
    try:
        assert _get(server.url + "/api/frame")[0] == 500
        assert "request for /api/frame failed" in caplog.text
        assert _get(server.url + "/api/frame")[0] == 200
    finally:
        server.stop()
