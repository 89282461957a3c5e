"""The Prometheus exporter: `/metrics`, `/api/frame` and `/healthz` over HTTP.

`/metrics` is served by `prometheus_families.FrameCollector`, which turns the
engine's latest Frame into metric families at scrape time. Loopback by
default; any other bind needs a bearer token, checked in constant time.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from vramtop.errors import ExportError
from vramtop.export import DEFAULT_PORT, json_stream
from vramtop.export.prometheus_families import FrameCollector
from vramtop.frame import Frame

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_PORT",
    "ExporterServer",
    "FrameCollector",
    "bearer_ok",
    "is_loopback",
    "require_token_off_loopback",
]

log = logging.getLogger(__name__)

#: The port `vramtop export` listens on unless told otherwise; see docs/export.md.
#: Prometheus text format 0.0.4, understood by every Prometheus 2.x and 3.x.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# --- access rules ----------------------------------------------------------------------


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def require_token_off_loopback(bind: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a bearer token."""
    if not is_loopback(bind) and not token:
        raise ExportError(
            f"refusing to listen on {bind} without a token: set VRAMTOP_TOKEN or `token` "
            "in ~/.config/vramtop/secrets.toml (mode 600), or bind to 127.0.0.1"
        )


def bearer_ok(header: str | None, token: str | None) -> bool:
    """True when no token is configured or the Authorization header carries it.

    The comparison is constant-time (hmac.compare_digest) over the bytes.
    """
    if not token:
        return True
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8"), token.encode("utf-8"))


# --- the HTTP server -------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: ExporterServer


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "vramtop"
    sys_version = ""
    protocol_version = "HTTP/1.0"
    #: Seconds a client may take to send its request (a stalled client frees its thread).
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s: %s", self.client_address[0], format % args)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _send(
        self, status: int, body: bytes, ctype: str, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj: object, head: bool) -> None:
        body = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self._send(status, body, "application/json", head)

    def _serve(self, head: bool) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                status, obj = app.health()
                self._json(status, obj, head)
                return
            if path not in ("/metrics", "/api/frame", "/"):
                self._json(404, {"error": "not found"}, head)
                return
            if not bearer_ok(self.headers.get("Authorization"), app.token):
                app.count_denied()
                self._send(
                    401,
                    b'{"error":"unauthorized"}\n',
                    "application/json",
                    head,
                    {"WWW-Authenticate": 'Bearer realm="vramtop"'},
                )
                return
            if path == "/metrics":
                self._send(200, app.metrics_text(), CONTENT_TYPE, head)
            elif path == "/api/frame":
                status, obj = app.frame_json()
                self._json(status, obj, head)
            else:
                body = b"vramtop exporter: /metrics /api/frame /healthz\n"
                self._send(200, body, "text/plain; charset=utf-8", head)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client went away")
        except Exception:  # the request thread's boundary: log, answer 500, keep serving
            log.exception("exporter: request for %s failed", path)
            with contextlib.suppress(OSError):
                self._send(500, b'{"error":"internal error"}\n', "application/json", head)


class ExporterServer:
    """Serves a frame source over HTTP on a background thread.

    `latest` returns the newest Frame (or None before the first sample). Call
    `note_frame` from a frame subscriber so /healthz knows how fresh it is.
    """

    def __init__(
        self,
        latest: Callable[[], Frame | None],
        *,
        bind: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        token: str | None = None,
        max_processes: int = 64,
        include_others: bool = True,
        dcgm_names: bool = False,
        driver: str | None = None,
        stale_after_s: float = 30.0,
    ) -> None:
        require_token_off_loopback(bind, token)
        self.bind = "127.0.0.1" if bind == "localhost" else bind
        self.requested_port = port
        self.token = token or None
        self.include_others = include_others
        self.driver = driver
        self.stale_after_s = stale_after_s
        self._latest = latest
        self._collector = FrameCollector(
            latest,
            max_processes=max_processes,
            include_others=include_others,
            dcgm_names=dcgm_names,
        )
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self._collector)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._last_frame_mono: float | None = None
        self._denied = 0
        self._lock = threading.Lock()

    # --- lifecycle ---

    def start(self) -> None:
        cls = _Server6 if ":" in self.bind else _Server
        try:
            httpd = cls((self.bind, self.requested_port), _Handler)
        except OSError as e:
            raise ExportError(
                f"cannot listen on {self.bind}:{self.requested_port}: {e.strerror or e}"
            ) from None
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="vramtop-exporter", daemon=True
        )
        self._thread.start()
        log.info("exporter listening on %s", self.url)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self.requested_port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}"

    def note_frame(self, _frame: Frame) -> None:
        """Frame subscriber: remember when the last frame arrived."""
        self._last_frame_mono = time.monotonic()

    def count_denied(self) -> None:
        with self._lock:
            self._denied += 1

    @property
    def denied(self) -> int:
        return self._denied

    # --- endpoints ---

    def metrics_text(self) -> bytes:
        return generate_latest(self._registry)

    def frame_json(self) -> tuple[int, object]:
        frame = self._latest()
        if frame is None:
            return 503, {"error": "no sample yet"}
        return 200, json_stream.snapshot_dict(
            frame, include_others=self.include_others, driver=self.driver
        )

    def health(self) -> tuple[int, object]:
        frame = self._latest()
        if frame is None:
            return 503, {"status": "starting"}
        body: dict[str, object] = {"status": "ok", "seq": frame.seq, "source": frame.source}
        if frame.replay is not None and frame.replay.at_end:
            body["status"] = "finished"
            return 200, body
        seen = self._last_frame_mono
        if seen is not None:
            age = time.monotonic() - seen
            body["age_s"] = round(age, 3)
            if age > self.stale_after_s:
                body["status"] = "stale"
                return 503, body
        return 200, body
