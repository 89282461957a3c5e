"""Scraping inference servers on localhost, in the background.

`ServerScraper.scrape()` never waits on the network: it returns what is known
and queues a refresh for a small pool of worker threads. Every request goes
through `ServerScraper._request`, which applies the five rules of
`scrape_rules` (loopback only, verified port owner, rate limit, no redirects,
bounded time and size); `scrape_resolve` finds the server a GPU process
belongs to.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vramtop.config import ScrapingConfig
from vramtop.enrichment.scrape_resolve import Resolution, Target, resolve
from vramtop.enrichment.scrape_rules import (
    MAX_BODY_BYTES,
    LoopbackEndpoint,
    RateLimiter,
    connect_host,
    fetch,
    loopback_endpoint,
    owned_endpoints,
    parse_proc_net_tcp,
    socket_inodes,
    verify_owner,
)
from vramtop.enrichment.servers import (
    LLAMACPP,
    OLLAMA,
    SGLANG,
    VLLM,
    Adapter,
    HttpResponse,
    RateLimited,
    normalize_kind,
)
from vramtop.enrichment.servers.llamacpp import LlamaCppAdapter
from vramtop.enrichment.servers.ollama import OllamaAdapter
from vramtop.enrichment.servers.sglang import SglangAdapter
from vramtop.enrichment.servers.vllm import VllmAdapter
from vramtop.errors import ScrapeError, ScrapeRefusedError
from vramtop.model import ProcessIdentity, ProcessInfo, ServerMetrics
from vramtop.procfs import ProcFS
from vramtop.security import sanitize

__all__ = [
    "MAX_BODY_BYTES",
    "LoopbackEndpoint",
    "RateLimiter",
    "ServerAugmenter",
    "ServerScraper",
    "connect_host",
    "fetch",
    "loopback_endpoint",
    "owned_endpoints",
    "parse_proc_net_tcp",
    "resolve",
    "server_augmenter",
    "socket_inodes",
    "verify_owner",
]

log = logging.getLogger(__name__)

_WORKERS = 2
_QUEUE_SIZE = 64
_PRUNE_FACTOR = 12  # state unseen for this many rate-limit windows (and >= 60 s) is dropped

_ADAPTERS: dict[str, Callable[[], Adapter]] = {
    VLLM: VllmAdapter,
    OLLAMA: OllamaAdapter,
    SGLANG: SglangAdapter,
    LLAMACPP: LlamaCppAdapter,
}


_Job = tuple[ProcessIdentity, "ProcessIdentity | None"]


@dataclass(slots=True)
class _PidState:
    framework: str | None
    last_seen: float
    resolution: Resolution | None = None
    next_resolve: float = float("-inf")
    queued: bool = False


@dataclass(slots=True)
class _OwnerState:
    adapter: Adapter
    metrics: ServerMetrics | None = None
    next_refresh: float = float("-inf")
    pending: bool = False


class ServerScraper:
    """Inference-server metrics per GPU process, fetched in the background.

    `scrape(pid, framework)` returns at once: the latest ServerMetrics known for
    the server that `pid` belongs to (None when it belongs to none, or nothing is
    known yet), and queues a refresh when the rate limit allows. A failed or
    refused scrape is `ServerMetrics(ok=False, error=...)`.
    """

    def __init__(
        self,
        settings: ScrapingConfig,
        procfs: ProcFS | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._procfs = procfs or ProcFS()
        self._clock = clock
        self._limiter = RateLimiter(settings.rate_limit_seconds, clock)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pids: dict[ProcessIdentity, _PidState] = {}
        self._owners: dict[ProcessIdentity, _OwnerState] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._next_prune = clock()

    @property
    def settings(self) -> ScrapingConfig:
        return self._settings

    def configure(self, settings: ScrapingConfig) -> None:
        """Apply a reloaded config; turning scraping off forgets everything."""
        with self._lock:
            self._settings = settings
            self._limiter.interval_s = settings.rate_limit_seconds
            if not settings.enable:
                self._pids.clear()
                self._owners.clear()

    def scrape(self, pid: int, framework: str | None) -> ServerMetrics | None:
        if not self._settings.enable or self._closed:
            return None
        ident = self._procfs.identity(pid)
        if ident is None:
            return None
        now = self._clock()
        with self._lock:
            st = self._pids.get(ident)
            if st is None:
                st = self._pids[ident] = _PidState(framework, now)
            elif st.framework != framework:
                st.framework, st.next_resolve = framework, now
            st.last_seen = now
            self._schedule(ident, st, now)
            result = self._result(st)
            if now >= self._next_prune:
                self._prune(now)
        return result

    def scrape_wait(
        self, pid: int, framework: str | None, timeout_s: float
    ) -> ServerMetrics | None:
        """Like `scrape`, but waits up to `timeout_s` for a first answer: for one-shot
        commands such as `vramtop inspect`, never for a refresh loop."""
        first = self.scrape(pid, framework)
        ident = self._procfs.identity(pid)
        if first is not None or ident is None or not self._settings.enable:
            return first

        def settled() -> bool:
            st = self._pids.get(ident)
            if st is None or self._closed:
                return True
            res = st.resolution
            if st.queued or res is None:
                return False
            if res.target is None:
                return True
            own = self._owners.get(res.target.owner)
            return own is None or own.metrics is not None or not own.pending

        with self._changed:
            self._changed.wait_for(settled, timeout=timeout_s)
            st = self._pids.get(ident)
            return self._result(st) if st is not None else None

    def forget(self, identities: Iterable[ProcessIdentity]) -> None:
        """Drop what is kept for processes that ended (their servers go at the next prune)."""
        with self._lock:
            for ident in identities:
                self._pids.pop(ident, None)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no scrape is queued or running; False on timeout (tests, one-shot use)."""

        def idle() -> bool:
            return not any(s.queued for s in self._pids.values()) and not any(
                o.pending for o in self._owners.values()
            )

        with self._changed:
            return self._changed.wait_for(idle, timeout=timeout_s)

    def close(self) -> None:
        """Stop the workers (waits at most about one request timeout)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        while True:  # make room for the stop markers
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in threads:
            self._queue.put(None)
        for t in threads:
            t.join(timeout=self._settings.timeout_ms / 1000 * 4 + 1)

    # -- scheduling (under the lock) --

    def _schedule(self, ident: ProcessIdentity, st: _PidState, now: float) -> None:
        if st.queued:
            return
        res = st.resolution
        if res is None or (res.target is None and now >= st.next_resolve):
            if self._enqueue(ident):
                st.queued = True
                st.next_resolve = now + self._settings.rate_limit_seconds
            return
        if res.target is None:
            return
        own = self._owners.get(res.target.owner)
        if own is None:
            own = self._owners[res.target.owner] = _OwnerState(_ADAPTERS[res.target.kind]())
        if own.pending or now < own.next_refresh:
            return
        if self._enqueue(ident, res.target.owner):
            st.queued = own.pending = True

    def _enqueue(self, ident: ProcessIdentity, owner: ProcessIdentity | None = None) -> bool:
        if not self._threads:
            for i in range(_WORKERS):
                t = threading.Thread(target=self._work, name=f"vramtop-scrape-{i}", daemon=True)
                t.start()
                self._threads.append(t)
        try:
            self._queue.put_nowait((ident, owner))
        except queue.Full:
            return False
        return True

    def _result(self, st: _PidState) -> ServerMetrics | None:
        res = st.resolution
        if res is None or res.kind is None:
            return None
        if res.target is None:
            return ServerMetrics(server=res.kind, port=res.port, ok=False, error=res.error)
        own = self._owners.get(res.target.owner)
        return own.metrics if own else None

    def _prune(self, now: float) -> None:
        horizon = max(60.0, _PRUNE_FACTOR * self._settings.rate_limit_seconds)
        self._next_prune = now + horizon / 4
        for ident in [i for i, s in self._pids.items() if now - s.last_seen > horizon]:
            del self._pids[ident]
        used = {
            s.resolution.target.owner
            for s in self._pids.values()
            if s.resolution is not None and s.resolution.target is not None
        }
        gone = [o for o, own in self._owners.items() if o not in used and not own.pending]
        for owner in gone:
            del self._owners[owner]
        self._limiter.forget(gone)

    # -- the worker side --

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            ident, owner = job
            try:
                self._run(ident, owner)
            except Exception:  # a worker must survive anything
                log.exception("scrape of process %s failed", ident.pid)
            finally:
                with self._lock:
                    st = self._pids.get(ident)
                    if st is not None:
                        st.queued = False
                    self._changed.notify_all()

    def _run(self, ident: ProcessIdentity, owner: ProcessIdentity | None) -> None:
        """One job: find `ident`'s server if needed, then refresh it. `owner` is the
        server the scheduler already marked pending (None for a resolve job)."""
        target: Target | None = None
        try:
            target = self._claim(ident, owner)
            if target is not None:
                self._refresh(target)
        finally:
            with self._lock:
                self._release(owner)
                if target is not None:
                    self._release(target.owner)

    def _claim(self, ident: ProcessIdentity, owner: ProcessIdentity | None) -> Target | None:
        """The server to refresh now, marked pending; None when there is none or it is not due."""
        with self._lock:
            st = self._pids.get(ident)
            if st is None or self._closed:
                return None
            res, framework = st.resolution, st.framework
            allowed = frozenset(self._settings.allowed_ports)
        if res is not None and res.target is not None and res.target.owner == owner:
            return res.target
        res = resolve(self._procfs, ident.pid, framework, allowed)
        with self._lock:
            st.resolution = res
            if res.kind is None:  # asked again only when the framework hint changes
                st.next_resolve = float("inf")
            if res.target is None:
                return None
            own = self._owners.get(res.target.owner)
            if own is None:
                own = self._owners[res.target.owner] = _OwnerState(_ADAPTERS[res.target.kind]())
            if res.target.owner == owner:
                return res.target
            if own.pending or self._clock() < own.next_refresh:
                return None
            own.pending = True
            return res.target

    def _release(self, owner: ProcessIdentity | None) -> None:
        """Clear a server's pending mark (under the lock)."""
        own = self._owners.get(owner) if owner is not None else None
        if own is not None:
            own.pending = False

    def _refresh(self, target: Target) -> None:
        with self._lock:
            own = self._owners.get(target.owner)
        if own is None:
            return
        start = self._clock()
        metrics: ServerMetrics | None
        try:
            got = own.adapter.refresh(lambda path: self._request(target, path))
            metrics = dataclasses.replace(
                got, port=target.port, owner_pid=target.owner.pid, scraped_at=time.time()
            )
        except RateLimited:
            metrics = None
        except ScrapeRefusedError as e:
            metrics = self._failed(target, str(e))
            self._unresolve(target, str(e))
        except ScrapeError as e:
            metrics = self._failed(target, str(e))
        except Exception:
            log.exception("scraping %s on port %d failed", target.kind, target.port)
            metrics = self._failed(target, "internal error (see the log)")
        with self._lock:
            own.next_refresh = max(
                self._limiter.next_due(target.owner), start + self._settings.rate_limit_seconds
            )
            if metrics is not None:
                own.metrics = metrics

    @staticmethod
    def _failed(target: Target, error: str) -> ServerMetrics:
        return ServerMetrics(
            server=target.kind,
            port=target.port,
            ok=False,
            error=sanitize(error, 200),
            scraped_at=time.time(),
            owner_pid=target.owner.pid,
        )

    def _unresolve(self, target: Target, error: str) -> None:
        """After a refusal, the processes served by `target` look for their server again."""
        with self._lock:
            for st in self._pids.values():
                if st.resolution is not None and st.resolution.target == target:
                    st.resolution = Resolution(target.kind, None, sanitize(error, 200), target.port)
                    st.next_resolve = self._clock()

    def _request(self, target: Target, path: str) -> HttpResponse:
        """The only way vramtop sends an HTTP request: all five rules, in order."""
        settings = self._settings
        endpoint = loopback_endpoint(target.host, target.port, settings.allowed_ports)  # 1
        if not self._limiter.try_acquire(target.owner, endpoint.url(path)):  # 3
            raise RateLimited(endpoint.url(path))
        verify_owner(self._procfs, target.owner, endpoint)  # 2
        return fetch(endpoint, path, timeout_s=settings.timeout_ms / 1000)  # 4, 5


class ServerAugmenter:
    """Puts scraped server metrics into ProcessInfo.server: the orchestrator's
    InfoAugmenter. `wait_s` > 0 waits that long for a first answer (one-shot
    commands such as `vramtop inspect`); the live loop never waits."""

    name = "scrape"

    def __init__(self, scraper: ServerScraper, *, wait_s: float = 0.0) -> None:
        self.scraper = scraper
        self.wait_s = wait_s

    def augment(self, info: ProcessInfo, now: float) -> ProcessInfo:
        if normalize_kind(info.framework) is None:
            return info
        pid = info.identity.pid
        if self.wait_s > 0:
            metrics = self.scraper.scrape_wait(pid, info.framework, self.wait_s)
        else:
            metrics = self.scraper.scrape(pid, info.framework)
        return info if metrics is None else dataclasses.replace(info, server=metrics)

    def forget(self, identities: Sequence[ProcessIdentity]) -> None:
        self.scraper.forget(identities)

    def close(self) -> None:
        """Stop the scraper's workers (ProcessEnricher.close calls this)."""
        self.scraper.close()


def server_augmenter(
    settings: ScrapingConfig, procfs: ProcFS | None = None, *, one_shot: bool = False
) -> ServerAugmenter:
    """The augmenter the CLI adds to the ProcessEnricher (`procfs`: the enricher's,
    so host PIDs resolve the same way). One-shot waits for up to three requests."""
    wait = 3 * settings.timeout_ms / 1000 + 1.0 if one_shot else 0.0
    return ServerAugmenter(ServerScraper(settings, procfs), wait_s=wait)
