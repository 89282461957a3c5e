"""Webhooks: POST a JSON message when an alert episode starts (or an OOM alert clears).

Events: OOM alert start and clear, temperature warning start, GPU lost. Each
fires once per episode: an alert that stays up does not fire again; after it
clears, the next start does. The body is Slack-compatible (a `text` field)
with structured fields beside it.

Sending happens on a background thread with a bounded queue and retries with
exponential backoff, so the engine never waits for the network. The URL is a
secret: it is never logged, and any message that could contain it is redacted.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import queue
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from vramtop import __version__
from vramtop.frame import Frame, GPUView
from vramtop.metrics import gpu_host
from vramtop.model import DeviceState
from vramtop.security import sanitize
from vramtop.units import fmt_bytes, fmt_oom_range, fmt_percent, fmt_temp

log = logging.getLogger(__name__)

REDACTED = "<webhook-url>"
#: Seconds of the first retry delay; it doubles each time (with jitter).
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


class EventKind(str, enum.Enum):
    OOM_ALERT = "oom_alert"
    OOM_CLEAR = "oom_clear"
    TEMP_WARNING = "temperature_warning"
    GPU_LOST = "gpu_lost"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    kind: EventKind
    body: dict[str, Any]


def redact(text: str, url: str) -> str:
    """`text` with the URL, and its host, path and query, replaced."""
    out = text.replace(url, REDACTED)
    parts = urlsplit(url)
    for piece in (parts.path, parts.query, parts.netloc, parts.hostname or ""):
        if piece and len(piece) > 3:
            out = out.replace(piece, REDACTED)
    return out


def _top_processes(gpu: GPUView, n: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "pid": pv.process.pid,
            "name": sanitize(pv.process.name),
            "used_bytes": pv.process.used_bytes,
        }
        for pv in gpu.processes[:n]
    ]


def event_body(kind: EventKind, frame: Frame, gpu: GPUView) -> dict[str, Any]:
    d = gpu.device
    host = sanitize(gpu_host(frame, gpu))
    where = f"{host} GPU {d.index} ({sanitize(d.name)})"
    oom = gpu.oom
    replay = "[replay] " if frame.replay is not None else ""
    if kind is EventKind.OOM_ALERT and oom is not None:
        text = (
            f"{replay}vramtop: OOM predicted on {where} in "
            f"{fmt_oom_range(oom.seconds_low, oom.seconds_high)} "
            f"(confidence {fmt_percent(oom.confidence)}; used {fmt_bytes(d.used_bytes)} of "
            f"{fmt_bytes(d.total_bytes)})"
        )
    elif kind is EventKind.OOM_CLEAR:
        text = f"{replay}vramtop: OOM alert cleared on {where} (used {fmt_bytes(d.used_bytes)})"
    elif kind is EventKind.TEMP_WARNING:
        text = f"{replay}vramtop: temperature warning on {where}: {fmt_temp(d.temperature_c)}"
    else:
        text = f"{replay}vramtop: {where} lost: {sanitize(d.error or 'GPU fell off the bus')}"
    return {
        "text": text,
        "event": kind.value,
        "host": host,
        "gpu": d.index,
        "uuid": sanitize(d.uuid),
        "gpu_name": sanitize(d.name),
        "unix_time": round(frame.unix_time, 3),
        "source": sanitize(frame.source),
        "used_bytes": d.used_bytes,
        "total_bytes": d.total_bytes,
        "temperature_c": d.temperature_c,
        "oom_low_s": round(oom.seconds_low, 1) if oom else None,
        "oom_high_s": round(oom.seconds_high, 1) if oom else None,
        "oom_confidence": round(oom.confidence, 3) if oom else None,
        "top_processes": _top_processes(gpu),
        "vramtop_version": __version__,
    }


class EpisodeTracker:
    """Turns a stream of frames into alert edges, once per episode per GPU."""

    def __init__(self) -> None:
        self._oom: set[str] = set()
        self._temp: set[str] = set()
        self._lost: set[str] = set()

    def update(self, frame: Frame) -> list[WebhookEvent]:
        events: list[WebhookEvent] = []
        for gpu in frame.gpus:
            key = gpu.device.key
            lost = gpu.device.state is DeviceState.LOST
            if self._edge(self._lost, key, lost):
                events.append(
                    WebhookEvent(EventKind.GPU_LOST, event_body(EventKind.GPU_LOST, frame, gpu))
                )
            if lost:
                continue  # a lost GPU keeps its OOM and temperature episodes as they were
            alert = bool(gpu.oom and gpu.oom.alert)
            was = key in self._oom
            if self._edge(self._oom, key, alert):
                events.append(
                    WebhookEvent(EventKind.OOM_ALERT, event_body(EventKind.OOM_ALERT, frame, gpu))
                )
            elif was and not alert:
                events.append(
                    WebhookEvent(EventKind.OOM_CLEAR, event_body(EventKind.OOM_CLEAR, frame, gpu))
                )
            if self._edge(self._temp, key, gpu.temp_warning):
                events.append(
                    WebhookEvent(
                        EventKind.TEMP_WARNING, event_body(EventKind.TEMP_WARNING, frame, gpu)
                    )
                )
        return events

    @staticmethod
    def _edge(active: set[str], key: str, now: bool) -> bool:
        """True on a rising edge; keeps `active` in step."""
        if now and key not in active:
            active.add(key)
            return True
        if not now:
            active.discard(key)
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


Sender = Callable[[str, bytes, float], int]


def http_post(url: str, body: bytes, timeout_s: float) -> int:
    """POST `body`; returns the HTTP status (redirects are not followed)."""
    opener = urllib.request.build_opener(_NoRedirect())
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"vramtop/{__version__}"},
    )
    try:
        with opener.open(req, timeout=timeout_s) as resp:
            resp.read(65536)
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


class WebhookNotifier:
    """A frame subscriber that POSTs alert episodes to one URL.

    `__call__(frame)` only computes edges and enqueues (never blocks); a
    daemon thread sends with `retries` retries and exponential backoff. When
    the queue is full the oldest event is dropped and counted.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 4,
        queue_size: int = 100,
        sender: Sender | None = None,
        backoff_base_s: float = BACKOFF_BASE_S,
    ) -> None:
        self._url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self._send = sender or http_post
        self._tracker = EpisodeTracker()
        self._queue: queue.Queue[WebhookEvent | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="vramtop-webhook", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"WebhookNotifier(url={REDACTED}, sent={self.sent}, failed={self.failed})"

    def __call__(self, frame: Frame) -> None:
        for event in self._tracker.update(frame):
            self.enqueue(event)

    def enqueue(self, event: WebhookEvent) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self._queue.task_done()
                    self.dropped += 1
                    log.warning("webhook queue full: dropped the oldest event")
                except queue.Empty:
                    pass

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the sender; events still queued get `timeout_s` to go out."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=timeout_s)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the queue is empty (tests, shutdown); True if it emptied."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout_s)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self._deliver(event)
            except Exception as e:  # the sender thread must survive anything
                self.failed += 1
                log.error("webhook: unexpected error (%s)", redact(str(e), self._url))
            finally:
                self._queue.task_done()

    def _deliver(self, event: WebhookEvent) -> None:
        body = json.dumps(event.body).encode("utf-8")
        delay = self.backoff_base_s
        for attempt in range(self.retries + 1):
            problem: str
            try:
                status = self._send(self._url, body, self.timeout_s)
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", e)
                problem = redact(f"{type(e).__name__}: {reason}", self._url)
            else:
                if 200 <= status < 300:
                    self.sent += 1
                    log.info("webhook: sent %s", event.kind.value)
                    return
                problem = f"HTTP {status}"
                if 400 <= status < 500 and status not in (408, 429):
                    self.failed += 1
                    log.warning(
                        "webhook: %s rejected (%s); not retrying", event.kind.value, problem
                    )
                    return
            if attempt == self.retries or self._stop.is_set():
                break
            log.info(
                "webhook: %s failed (%s); retry %d/%d in %.1fs",
                event.kind.value,
                problem,
                attempt + 1,
                self.retries,
                delay,
            )
            if self._stop.wait(delay * (0.8 + 0.4 * random.random())):
                break
            delay = min(delay * 2, BACKOFF_MAX_S)
        self.failed += 1
        log.warning("webhook: giving up on %s (%s)", event.kind.value, problem)
