"""Attaching the export consumers to a Monitor, and the headless loop of `vramtop export`.

The consumers (Prometheus/HTTP server, CSV logger, webhook notifier) are
frame subscribers or frame readers; the same `attach()` is used by the export
daemon, the TUI, `--json-stream` and replay, so they all behave alike.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.errors import BackendError, ConfigError, ExportError, VramtopError
from vramtop.export import json_stream
from vramtop.export.csv import CsvLogger
from vramtop.export.prometheus import ExporterServer
from vramtop.export.webhook import WebhookNotifier
from vramtop.secrets import Secrets, load_secrets

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What to attach. `port=None` means no HTTP exporter; 0 picks a free port."""

    csv_path: str | None = None
    port: int | None = None
    bind: str = "127.0.0.1"
    dcgm_names: bool = False
    webhooks: bool = True
    include_others: bool = True
    driver: str | None = None


@dataclass(slots=True)
class Consumers:
    exporter: ExporterServer | None = None
    csv: CsvLogger | None = None
    webhook: WebhookNotifier | None = None
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self.exporter is not None:
            self.exporter.stop()
        if self.webhook is not None:
            self.webhook.close()
        if self.csv is not None:
            self.csv.close()


def _secrets(strict: bool, monitor: Monitor) -> Secrets:
    try:
        return load_secrets()
    except ConfigError as e:
        if strict:
            raise
        monitor.add_notice(f"Secrets not used: {e}")
        log.info("secrets not used: %s", e)
        return Secrets()


def attach(
    monitor: Monitor,
    config: Config,
    options: ExportOptions,
    *,
    secrets: Secrets | None = None,
    strict: bool = True,
) -> Consumers:
    """Start what `options` asks for and subscribe it to `monitor`.

    Raises ExportError (one line) when the CSV file cannot be written or the
    port cannot be bound. With `strict=False` (the TUI) a refused secrets file
    or a port already in use becomes a notice on the monitor instead.
    """
    need_secrets = options.webhooks or options.port is not None
    if secrets is None:
        secrets = _secrets(strict, monitor) if need_secrets else Secrets()
    out = Consumers()
    try:
        if options.csv_path:
            out.csv = CsvLogger(options.csv_path, include_others=options.include_others)
            out._unsubscribe.append(monitor.subscribe(out.csv))
        if options.port is not None:
            exp = config.export
            out.exporter = ExporterServer(
                lambda: monitor.latest,
                bind=options.bind,
                port=options.port,
                token=secrets.token,
                max_processes=exp.max_processes_per_gpu,
                include_others=options.include_others,
                dcgm_names=options.dcgm_names,
                driver=options.driver,
                stale_after_s=max(30.0, 10 * config.general.refresh_rate),
            )
            try:
                out.exporter.start()
            except ExportError as e:
                if strict:
                    raise
                out.exporter = None
                monitor.add_notice(f"Exporter not started: {e}")
                log.info("exporter not started: %s", e)
            else:
                out._unsubscribe.append(monitor.subscribe(out.exporter.note_frame))
        if options.webhooks and secrets.webhook_url:
            exp = config.export
            out.webhook = WebhookNotifier(
                secrets.webhook_url,
                timeout_s=exp.webhook_timeout_s,
                retries=exp.webhook_retries,
                queue_size=exp.webhook_queue_size,
            )
            out._unsubscribe.append(monitor.subscribe(out.webhook))
    except VramtopError:
        out.close()
        raise
    return out


def run_headless(
    monitor: Monitor,
    stop: threading.Event,
    *,
    keep_serving_at_end: bool = True,
    on_reload: Callable[[], str | None] | None = None,
    say: Callable[[str], None] | None = None,
    poll_s: float = 0.2,
) -> int:
    """Run the engine thread until `stop` is set.

    `on_reload` (ConfigHolder.poll) is called every `poll_s` so that SIGHUP
    reloads the config; its message goes to `say` (stderr by default). A
    recording that reaches its end stops the sampling; the last frame stays
    served until `stop` (unless `keep_serving_at_end` is False: then it returns).
    """
    from vramtop.backends.replay import ReplayBackend

    def _stderr(msg: str) -> None:
        print(f"vramtop: {msg}", file=sys.stderr, flush=True)

    say = say or _stderr
    backend = monitor.backend
    replay = backend if isinstance(backend, ReplayBackend) else None
    monitor.start()
    finished = False
    try:
        while not stop.wait(poll_s):
            if on_reload is not None:
                message = on_reload()
                if message:
                    say(message)
            if replay is not None and not finished and replay.at_end:
                latest = monitor.latest
                if latest is not None and latest.replay is not None and latest.replay.at_end:
                    finished = True
                    monitor.stop()
                    say("replay finished; serving the last sample until stopped")
                    if not keep_serving_at_end:
                        break
    finally:
        monitor.close()
    return 0


def tui_options(
    config: Config, csv_path: str | None, *, include_others: bool, webhooks: bool
) -> ExportOptions:
    """The consumers a TUI or JSON stream runs: CSV if asked, the exporter if
    `[export] prometheus_port` is set, webhooks for live sources."""
    port = config.export.prometheus_port or None
    return ExportOptions(
        csv_path=csv_path,
        port=port,
        bind=config.export.prometheus_bind,
        webhooks=webhooks,
        include_others=include_others,
    )


def run_json_stream(
    monitor: Monitor,
    out: TextIO,
    *,
    include_others: bool,
    on_reload: Callable[[], str | None] | None = None,
    max_samples: int | None = None,
) -> int:
    """`vramtop --json-stream`: one JSON object per GPU per sample, flushed per line.

    Runs the engine on this thread at the refresh rate. A closed pipe raises
    BrokenPipeError (the CLI exits quietly); Ctrl-C raises KeyboardInterrupt.
    """
    next_due = time.monotonic()
    count = 0
    while max_samples is None or count < max_samples:
        if on_reload is not None:
            message = on_reload()
            if message:
                print(f"vramtop: {message}", file=sys.stderr, flush=True)
        try:
            frame = monitor.step()
        except BackendError as e:
            print(f"vramtop: {e.user_message()}", file=sys.stderr, flush=True)
        else:
            json_stream.write_frame(out, frame, include_others=include_others)
        count += 1
        next_due += monitor.config.general.refresh_rate
        delay = next_due - time.monotonic()
        if delay < 0:
            next_due = time.monotonic()
        elif max_samples is None or count < max_samples:
            time.sleep(delay)
    return 0
