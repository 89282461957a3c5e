"""Webhooks: once per episode, Slack-compatible, retried, never blocking, never logging the URL."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from export_helpers import TRACES, GiB, exporter, frame, gpu, proc, wait_for
from vramtop.export.webhook import (
    REDACTED,
    EpisodeTracker,
    EventKind,
    WebhookEvent,
    WebhookNotifier,
    redact,
)
from vramtop.model import DeviceState


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, object]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order
    requests: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            rec.requests += 1
            status = rec.statuses.pop(0) if rec.statuses else 200
            if status == 200:
                rec.bodies.append(json.loads(raw))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{httpd.server_address[1]}/services/T000/B000/SECRETPATHxyz"
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield rec
    httpd.shutdown()
    httpd.server_close()


def _kinds(events: Sequence[WebhookEvent]) -> list[str]:
    return [e.kind.value for e in events]


def test_episodes_fire_once_and_again_after_clearing() -> None:
    tr = EpisodeTracker()
    seq = [False, True, True, True, False, False, True]
    got = [_kinds(tr.update(frame(gpu(oom_alert=a), seq=i))) for i, a in enumerate(seq)]
    assert got == [[], ["oom_alert"], [], [], ["oom_clear"], [], ["oom_alert"]]


def test_temperature_and_lost_fire_once_per_episode_per_gpu() -> None:
    tr = EpisodeTracker()
    hot = frame(gpu(0, temp_warning=True, temp_c=90), gpu(1))
    assert _kinds(tr.update(hot)) == ["temperature_warning"]
    assert _kinds(tr.update(hot)) == []
    lost = frame(gpu(0, temp_warning=True), gpu(1, used=None, state=DeviceState.LOST))
    assert _kinds(tr.update(lost)) == ["gpu_lost"]
    assert _kinds(tr.update(lost)) == []
    assert _kinds(tr.update(frame(gpu(0), gpu(1)))) == []  # recovery is quiet
    assert _kinds(tr.update(hot)) == ["temperature_warning"]


def test_alert_body_is_slack_compatible_with_fields() -> None:
    tr = EpisodeTracker()
    [ev] = tr.update(frame(gpu(processes=[proc(42, 9 * GiB, name="train")], oom_alert=True)))
    body = ev.body
    assert ev.kind is EventKind.OOM_ALERT
    assert isinstance(body["text"], str) and "OOM predicted" in body["text"]
    assert "~60-120s" in body["text"] and "node1 GPU 0" in body["text"]
    assert body["event"] == "oom_alert" and body["uuid"] == "GPU-0"
    assert body["oom_low_s"] == 60.0 and body["oom_high_s"] == 120.0
    assert body["top_processes"] == [{"pid": 42, "name": "train", "used_bytes": 9 * GiB}]
    json.dumps(body)


def test_receiver_gets_each_episode_once(receiver: Receiver) -> None:
    n = WebhookNotifier(receiver.url, backoff_base_s=0.01)
    try:
        for i, alert in enumerate([True, True, True, False, True, True]):
            n(frame(gpu(oom_alert=alert), seq=i))
        assert n.flush()
    finally:
        n.close()
    assert [b["event"] for b in receiver.bodies] == ["oom_alert", "oom_clear", "oom_alert"]
    assert n.sent == 3 and n.failed == 0


def test_retries_with_backoff_then_delivers(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    n = WebhookNotifier(receiver.url, retries=3, backoff_base_s=0.01)
    try:
        n(frame(gpu(oom_alert=True)))
        assert n.flush()
    finally:
        n.close()
    assert receiver.requests == 3
    assert [b["event"] for b in receiver.bodies] == ["oom_alert"]


def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    n = WebhookNotifier(receiver.url, retries=3, backoff_base_s=0.01)
    try:
        n(frame(gpu(oom_alert=True)))
        assert n.flush()
    finally:
        n.close()
    assert receiver.requests == 1 and n.failed == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_url_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/services/T000/B000/SECRETPATHxyz?token=abcdef"
    caplog.set_level(logging.DEBUG)
    n = WebhookNotifier(url, retries=2, backoff_base_s=0.01)
    try:
        n(frame(gpu(oom_alert=True)))
        assert n.flush()
    finally:
        n.close()
    assert n.failed == 1
    assert "giving up" in caplog.text
    for secret in ("SECRETPATHxyz", "abcdef", f"127.0.0.1:{port}", url):
        assert secret not in caplog.text
        assert secret not in repr(n)


def test_redact_replaces_every_piece() -> None:
    url = "https://hooks.example.com/services/AAA/BBB/CCC"
    msg = f"POST {url} failed: <urlopen error hooks.example.com timed out> /services/AAA/BBB/CCC"
    out = redact(msg, url)
    assert "hooks.example.com" not in out and "/services/AAA" not in out
    assert REDACTED in out


def test_sampling_never_waits_for_the_network() -> None:
    release = threading.Event()
    waited_out = []

    def slow_sender(url: str, body: bytes, timeout: float) -> int:
        if not release.wait(10):
            waited_out.append(True)
        return 200

    n = WebhookNotifier("http://127.0.0.1:9/x", sender=slow_sender, queue_size=2)
    try:
        # Six episodes while the sender is stuck: the frame callback must return each time.
        for i in range(6):
            n(frame(gpu(oom_alert=i % 2 == 0), seq=i))
        assert not release.is_set() and not waited_out
        assert n.dropped >= 2  # bounded queue: the oldest events were dropped
        release.set()
        assert n.flush()
    finally:
        release.set()
        n.close()


def test_export_daemon_posts_the_oom_episode_once(receiver: Receiver) -> None:
    args = [
        "--port",
        "0",
        "--replay",
        str(TRACES / "linear_leak_150.jsonl"),
        "--speed",
        "25",
    ]
    with exporter(args, env={"VRAMTOP_WEBHOOK_URL": receiver.url}) as exp:
        wait_for(lambda: '"finished"' in exp.get("/healthz")[1], timeout=60)
        wait_for(lambda: len(receiver.bodies) >= 2, timeout=20)
    events = [b["event"] for b in receiver.bodies]
    assert events == ["oom_alert", "oom_clear"]
    first = receiver.bodies[0]
    assert isinstance(first["text"], str) and first["text"].startswith("[replay] vramtop: OOM")
    assert str(first["source"]).startswith("replay:")
