"""The consumers attached to a Monitor (TUI hooks, export daemon), the JSON stream loop,
and the live path through a fake NVML: no NVML call per scrape, GPU-lost webhook."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from export_helpers import TRACES, wait_for
from fakenvml import NVML_ERROR_GPU_IS_LOST, FakeGPU, FakeNVML
from vramtop import paths, trace
from vramtop.backends.nvidia import NvidiaBackend
from vramtop.backends.replay import ReplayBackend
from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.errors import ExportError
from vramtop.export.runner import (
    ExportOptions,
    attach,
    run_headless,
    run_json_stream,
    tui_options,
)
from vramtop.export.webhook import WebhookNotifier
from vramtop.secrets import Secrets

TESTS = Path(__file__).parent


@pytest.fixture
def replay_monitor() -> Iterator[Monitor]:
    tr = trace.read(TRACES / "staircase.jsonl")
    mon = Monitor(ReplayBackend(tr, step_s=1.0), hostname="node1")
    mon.open()
    yield mon
    mon.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def test_attach_serves_logs_and_closes(replay_monitor: Monitor, tmp_path: Path) -> None:
    cfg = Config()
    csv_path = tmp_path / "log.csv"
    opts = ExportOptions(csv_path=str(csv_path), port=0, webhooks=False)
    consumers = attach(replay_monitor, cfg, opts, secrets=Secrets())
    assert consumers.exporter is not None and consumers.csv is not None
    url = consumers.exporter.url
    stop = threading.Event()
    t = threading.Thread(target=run_headless, args=(replay_monitor, stop), daemon=True)
    t.start()
    try:
        wait_for(lambda: "vramtop_gpu_memory_used_bytes{" in _get(url + "/metrics")[1])
        assert _get(url + "/healthz")[0] == 200
    finally:
        stop.set()
        t.join(10)
        consumers.close()
    assert csv_path.read_text().count("\ngpu,") >= 1
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", consumers.exporter.port))


def test_tui_hook_port_in_use_is_a_notice_not_an_error(replay_monitor: Monitor) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = Config().with_overrides(export={"prometheus_port": port})
        opts = tui_options(cfg, None, include_others=True, webhooks=False)
        assert opts.port == port and opts.bind == "127.0.0.1"
        with pytest.raises(ExportError, match="cannot listen"):
            attach(replay_monitor, cfg, opts, secrets=Secrets())
        consumers = attach(replay_monitor, cfg, opts, secrets=Secrets(), strict=False)
    assert consumers.exporter is None
    frame = replay_monitor.step()
    assert any("Exporter not started" in n for n in frame.notices)
    consumers.close()


def test_tui_hook_without_port_starts_no_exporter(replay_monitor: Monitor) -> None:
    opts = tui_options(Config(), None, include_others=True, webhooks=False)
    assert opts.port is None
    consumers = attach(replay_monitor, Config(), opts)
    assert consumers.exporter is None and consumers.csv is None and consumers.webhook is None
    consumers.close()


def test_tui_hook_refused_secrets_file_is_a_notice(replay_monitor: Monitor) -> None:
    f = paths.secrets_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text('webhook_url = "https://example.com/hook"\n')
    f.chmod(0o644)
    opts = tui_options(Config(), None, include_others=True, webhooks=True)
    consumers = attach(replay_monitor, Config(), opts, strict=False)
    assert consumers.webhook is None
    assert any("Secrets not used" in n for n in replay_monitor.step().notices)
    consumers.close()
    with pytest.raises(Exception, match="chmod 600"):
        attach(replay_monitor, Config(), opts, strict=True)


def test_csv_error_stops_attach_even_in_the_tui(replay_monitor: Monitor, tmp_path: Path) -> None:
    opts = ExportOptions(csv_path=str(tmp_path / "no" / "x.csv"), port=0, webhooks=False)
    with pytest.raises(ExportError, match="export-csv"):
        attach(replay_monitor, Config(), opts, secrets=Secrets(), strict=False)


def test_json_stream_loop_writes_one_line_per_gpu_per_sample(replay_monitor: Monitor) -> None:
    replay_monitor.config = Config().with_overrides(general={"refresh_rate": 0.5})
    out = io.StringIO()
    assert run_json_stream(replay_monitor, out, include_others=True, max_samples=3) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    objs = [json.loads(line) for line in lines]
    assert [o["gpu"] for o in objs] == [0, 0, 0]
    assert objs[0]["host"] == "node1" and "oom_alert" in objs[0] and "processes" in objs[0]


# --- the live path through a fake NVML --------------------------------------------------


def test_scrapes_never_call_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNVML([FakeGPU(uuid="GPU-live")])
    mon = Monitor(NvidiaBackend(fake), hostname="node1")
    mon.open()
    consumers = attach(mon, Config(), ExportOptions(port=0, webhooks=False), secrets=Secrets())
    try:
        mon.step()
        assert consumers.exporter is not None
        before = sum(fake.calls.values())
        for _ in range(5):
            status, body = _get(consumers.exporter.url + "/metrics")
            assert status == 200 and 'uuid="GPU-live"' in body
            _get(consumers.exporter.url + "/api/frame")
        assert sum(fake.calls.values()) == before
    finally:
        consumers.close()
        mon.close()


def test_gpu_lost_sends_one_webhook() -> None:
    fake = FakeNVML([FakeGPU(uuid="GPU-a"), FakeGPU(uuid="GPU-b")])
    mon = Monitor(NvidiaBackend(fake, sleep=lambda s: None), hostname="node1")
    mon.open()
    sent: list[dict[str, object]] = []

    def sender(url: str, body: bytes, timeout: float) -> int:
        sent.append(json.loads(body))
        return 204

    hook = WebhookNotifier("https://hooks.example.com/x", sender=sender)
    mon.subscribe(hook)
    try:
        mon.step()
        fake.fail("nvmlDeviceGetMemoryInfo_v2", NVML_ERROR_GPU_IS_LOST, gpu=1)
        for _ in range(3):
            mon.step()
        assert hook.flush()
    finally:
        hook.close()
        mon.close()
    assert [(b["event"], b["uuid"]) for b in sent] == [("gpu_lost", "GPU-b")]


# SIGINT restored to the default: a suite started in the background by a shell without
# job control inherits it ignored, and the Ctrl-C below would never arrive.
LAUNCH = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
    "sys.path.insert(0, {tests!r});"
    "from fakenvml import FakeNVML, FakeGPU; FakeNVML([FakeGPU(uuid='GPU-fake')]).install();"
    "from vramtop.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_cli_json_stream_live_ends_cleanly_when_the_reader_leaves() -> None:
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCH.format(tests=str(TESTS)),
            "--json-stream",
            "--refresh-rate",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert p.stdout is not None and p.stderr is not None
    first = json.loads(p.stdout.readline())
    second = json.loads(p.stdout.readline())
    p.stdout.close()
    rc = p.wait(timeout=30)
    err = p.stderr.read()
    p.stderr.close()
    assert rc == 0, err
    assert "Traceback" not in err and "Broken pipe" not in err
    assert first["uuid"] == "GPU-fake" and second["t"] > first["t"]


def test_cli_json_stream_ctrl_c_is_clean() -> None:
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCH.format(tests=str(TESTS)),
            "--json-stream",
            "--refresh-rate",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stderr is not None
    json.loads(p.stdout.readline())
    p.send_signal(2)  # SIGINT
    rc = p.wait(timeout=30)
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    assert rc == 130 and "Traceback" not in err


@pytest.mark.gpu
def test_export_on_a_real_gpu() -> None:
    """On a GPU machine: `vramtop export` serves the real GPUs' memory."""
    import pynvml

    from export_helpers import exporter

    pynvml.nvmlInit()
    try:
        uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(0))
        uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
    finally:
        pynvml.nvmlShutdown()
    with exporter(["--port", "0"]) as exp:

        def metrics() -> str:
            text = exp.get("/metrics")[1]
            return text if "vramtop_gpu_memory_used_bytes{" in text else ""

        body = wait_for(metrics, timeout=30)
        assert f'uuid="{uuid}"' in str(body)
        frame = json.loads(exp.get("/api/frame")[1])
        assert frame["gpus"][0]["uuid"] == uuid and frame["gpus"][0]["total"] > 0
    # the live JSON stream, read by a consumer that leaves after one line
    p = subprocess.Popen(
        [sys.executable, "-m", "vramtop", "--json-stream", "--refresh-rate", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stderr is not None
    line = json.loads(p.stdout.readline())
    p.stdout.close()
    assert p.wait(timeout=30) == 0
    p.stderr.close()
    assert line["uuid"] == uuid
