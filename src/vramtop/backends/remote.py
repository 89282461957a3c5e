"""The fleet view's backend: other hosts' GPUs through their exporter's `/api/frame`.

Each sample polls every host in parallel (timeout per host), parses the JSON
stream objects back into model types with strict validation, and tags every
GPU with the host as the user named it (`HOST:PORT`), so GPU keys are per host.
A host that does not answer, or answers something malformed, shows as one
LOST device per GPU last seen there (or one placeholder) with the error, and
is retried with exponential backoff. Never raises for one bad host.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from vramtop import __version__
from vramtop.backends.base import GPUBackend, unread_device
from vramtop.errors import ConfigError, RemoteError
from vramtop.model import (
    BackendInfo,
    DeviceState,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    ProcessKind,
)
from vramtop.security import sanitize

log = logging.getLogger(__name__)

#: Largest /api/frame answer accepted.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_GPUS = 256
MAX_PROCESSES = 4096
MAX_WORKERS = 16
#: First retry delay after a failure; doubles up to the configured maximum.
RETRY_BASE_S = 1.0
SCHEMA_VERSION = 1

_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-_.]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int

    @property
    def label(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.label}/api/frame"


def parse_target(text: str) -> Target:
    """`HOST:PORT` (IPv6 as `[ADDR]:PORT`) -> Target; ConfigError on anything else."""
    s = text.strip()
    if s.startswith("["):
        host, sep, rest = s[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ConfigError(f"--remote {text!r}: expected [IPV6]:PORT")
        port_s = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"--remote {text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_s = s.rpartition(":")
        if not sep or not host:
            raise ConfigError(f"--remote {text!r}: expected HOST:PORT")
        if not _HOSTNAME_RE.match(host):
            raise ConfigError(f"--remote {text!r}: {host!r} is not a host name or address")
    if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
        raise ConfigError(f"--remote {text!r}: port must be 1..65535")
    return Target(host, int(port_s))


# --- strict parsing of /api/frame ------------------------------------------------------


def _int(
    obj: dict[str, Any], key: str, where: str, *, nullable: bool = True, lo: int = 0
) -> int | None:
    value = obj.get(key)
    if value is None:
        if nullable:
            return None
        raise RemoteError(f"{where}.{key}: missing")
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise RemoteError(f"{where}.{key}: expected an integer >= {lo}")
    return value


def _num(obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RemoteError(f"{where}.{key}: expected a finite number")
    return float(value)


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise RemoteError(f"{where}.{key}: expected a string")
    return sanitize(value)


def _pct(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = _int(obj, key, where)
    if value is not None and value > 100:
        raise RemoteError(f"{where}.{key}: expected 0..100")
    return value


def parse_process(obj: object, where: str) -> GPUProcess:
    if not isinstance(obj, dict):
        raise RemoteError(f"{where}: expected an object")
    pid = _int(obj, "pid", where, nullable=False, lo=1)
    assert pid is not None
    kind_s = obj.get("type", ProcessKind.COMPUTE.value)
    try:
        kind = ProcessKind(kind_s)
    except ValueError:
        raise RemoteError(f"{where}.type: unknown process type") from None
    mps = obj.get("mps", False)
    if not isinstance(mps, bool):
        raise RemoteError(f"{where}.mps: expected true or false")
    return GPUProcess(
        pid=pid,
        starttime=_int(obj, "starttime", where),
        used_bytes=_int(obj, "used", where),
        kind=kind,
        name=_str(obj, "name", where, required=False),
        uid=_int(obj, "uid", where),
        mps=mps,
    )


def parse_gpu(obj: object, where: str, host: str) -> GPUDevice:
    if not isinstance(obj, dict):
        raise RemoteError(f"{where}: expected an object")
    index = _int(obj, "gpu", where, nullable=False)
    assert index is not None
    try:
        state = DeviceState(obj.get("state"))
    except ValueError:
        raise RemoteError(f"{where}.state: expected ok, degraded or lost") from None
    procs = obj.get("processes", [])
    if not isinstance(procs, list):
        raise RemoteError(f"{where}.processes: expected a list")
    if len(procs) > MAX_PROCESSES:
        raise RemoteError(f"{where}.processes: more than {MAX_PROCESSES}")
    temp = _num(obj, "temp_c", where)
    return GPUDevice(
        index=index,
        uuid=_str(obj, "uuid", where),
        name=_str(obj, "name", where),
        total_bytes=_int(obj, "total", where),
        used_bytes=_int(obj, "used", where),
        free_bytes=_int(obj, "free", where),
        reserved_bytes=_int(obj, "reserved", where),
        util_gpu_pct=_pct(obj, "util_gpu", where),
        util_memory_pct=_pct(obj, "util_memory", where),
        temperature_c=None if temp is None else int(temp),
        power_watts=_num(obj, "power_w", where),
        sm_clock_mhz=_int(obj, "sm_clock_mhz", where),
        memory_clock_mhz=_int(obj, "mem_clock_mhz", where),
        pcie_tx_bytes_per_s=_int(obj, "pcie_tx", where),
        pcie_rx_bytes_per_s=_int(obj, "pcie_rx", where),
        processes=tuple(parse_process(p, f"{where}.processes[{i}]") for i, p in enumerate(procs)),
        state=state,
        error="lost on the remote host" if state is DeviceState.LOST else None,
        host=host,
    )


def parse_frame(obj: object, host: str) -> tuple[GPUDevice, ...]:
    """The GPUs of one `/api/frame` answer (json_stream.snapshot_dict), strictly checked."""
    if not isinstance(obj, dict):
        raise RemoteError("answer: expected a JSON object")
    schema = obj.get("schema")
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        raise RemoteError(f"answer: schema {schema!r} is not {SCHEMA_VERSION}")
    gpus = obj.get("gpus")
    if not isinstance(gpus, list):
        raise RemoteError("answer.gpus: expected a list")
    if len(gpus) > MAX_GPUS:
        raise RemoteError(f"answer.gpus: more than {MAX_GPUS}")
    devices = tuple(parse_gpu(g, f"gpus[{i}]", host) for i, g in enumerate(gpus))
    if len({d.uuid for d in devices}) != len(devices):
        raise RemoteError("answer.gpus: duplicate uuid")
    return devices


# --- fetching ---------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


Fetcher = Callable[[Target, float, str | None], object]


def http_fetch(target: Target, timeout_s: float, token: str | None) -> object:
    """GET the target's /api/frame and decode it; RemoteError with a short reason."""
    headers = {"Accept": "application/json", "User-Agent": f"vramtop/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    opener = urllib.request.build_opener(_NoRedirect())
    req = urllib.request.Request(target.url, headers=headers)
    try:
        with opener.open(req, timeout=timeout_s) as resp:
            raw = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as e:
        hint = {401: " (token missing or wrong)", 503: " (no sample yet)"}.get(e.code, "")
        raise RemoteError(f"HTTP {e.code}{hint}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise RemoteError("unreachable (timed out)") from None
        if isinstance(reason, OSError) and reason.strerror:
            raise RemoteError(f"unreachable ({reason.strerror.lower()})") from None
        raise RemoteError(f"unreachable ({sanitize(reason, 80)})") from None
    except TimeoutError:
        raise RemoteError("unreachable (timed out)") from None
    except OSError as e:
        raise RemoteError(f"unreachable ({(e.strerror or str(e)).lower()})") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise RemoteError(f"answer larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RemoteError("answer is not JSON") from None


@dataclass(slots=True)
class HostState:
    target: Target
    devices: tuple[GPUDevice, ...] = ()
    ever_seen: bool = False
    up: bool = False
    error: str | None = None
    failures: int = 0
    next_try: float = 0.0
    pending: Future[object] | None = field(default=None, repr=False)


class RemoteBackend(GPUBackend):
    """GPUs of several vramtop exporters, one MemorySnapshot per sample."""

    def __init__(
        self,
        targets: Sequence[str | Target],
        *,
        timeout_s: float = 1.0,
        retry_max_s: float = 30.0,
        token: str | None = None,
        fetch: Fetcher | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parsed: list[Target] = []
        for t in targets:
            target = t if isinstance(t, Target) else parse_target(t)
            if target not in parsed:
                parsed.append(target)
        if not parsed:
            raise ConfigError("--remote: at least one HOST:PORT is needed")
        self.targets = tuple(parsed)
        self.timeout_s = timeout_s
        self.retry_max_s = retry_max_s
        self._token = token
        self._fetch: Fetcher = fetch or http_fetch
        self._clock = clock
        self._hosts = {t: HostState(t) for t in self.targets}
        self._pool: ThreadPoolExecutor | None = None
        self._t0 = clock()
        self._lock = threading.Lock()

    def open(self) -> BackendInfo:
        self._pool = ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(self.targets)), thread_name_prefix="vramtop-remote"
        )
        self._t0 = self._clock()
        return BackendInfo(source="remote:" + ",".join(t.label for t in self.targets))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def host_state(self, target: str | Target) -> HostState:
        key = target if isinstance(target, Target) else parse_target(target)
        return self._hosts[key]

    def _get(self, target: Target) -> tuple[GPUDevice, ...]:
        return parse_frame(self._fetch(target, self.timeout_s, self._token), target.label)

    def sample(self) -> MemorySnapshot:
        if self._pool is None:
            self.open()
        assert self._pool is not None
        with self._lock:
            now = self._clock()
            for st in self._hosts.values():
                if st.pending is None and now >= st.next_try:
                    st.pending = self._pool.submit(self._get, st.target)
            deadline = time.monotonic() + self.timeout_s + 0.5
            for st in self._hosts.values():
                if st.pending is None:
                    continue
                try:
                    devices = st.pending.result(timeout=max(0.0, deadline - time.monotonic()))
                except FutureTimeout:
                    if st.pending.done():
                        st.pending = None
                    # else the request is still running: do not start another beside it
                    self._failed(st, "unreachable (timed out)", now)
                    continue
                except RemoteError as e:
                    st.pending = None
                    self._failed(st, str(e), now)
                    continue
                except Exception as e:  # a worker's bug must not cost the other hosts
                    log.exception("remote %s: fetch failed", st.target.label)
                    st.pending = None
                    self._failed(st, f"error ({type(e).__name__})", now)
                    continue
                st.pending = None
                assert isinstance(devices, tuple)
                if not st.up and st.ever_seen:
                    log.info("remote %s: reachable again", st.target.label)
                st.devices, st.up, st.ever_seen = devices, True, True
                st.error, st.failures, st.next_try = None, 0, now
            devices_out: list[GPUDevice] = []
            for st in self._hosts.values():
                devices_out.extend(st.devices if st.up else self._down_devices(st))
        return MemorySnapshot(
            t=self._clock() - self._t0, unix_time=time.time(), devices=tuple(devices_out)
        )

    def _failed(self, st: HostState, error: str, now: float) -> None:
        if st.up or st.failures == 0:
            log.info("remote %s: %s", st.target.label, error)
        st.up = False
        st.error = error
        st.failures += 1
        wait = min(RETRY_BASE_S * 2 ** (st.failures - 1), self.retry_max_s)
        st.next_try = now + wait

    def _down_devices(self, st: HostState) -> tuple[GPUDevice, ...]:
        error = st.error or "unreachable"
        host = st.target.label
        if not st.devices:
            return (
                unread_device(
                    0, "unreachable", "unreachable", None, DeviceState.LOST, error, host=host
                ),
            )
        return tuple(
            unread_device(
                d.index, d.uuid, d.name, d.total_bytes, DeviceState.LOST, error, host=host
            )
            for d in st.devices
        )
