"""Calling NVML so that a failure costs as little as possible.

`NvmlCalls` looks pynvml's functions up once and classifies every error by its
NVML return code:

- GPU_IS_LOST (or reset required) raises `Lost`: that GPU is gone;
- UNKNOWN is retried with exponential backoff, then raises `Degraded`;
- a dead driver or library raises `DriverFailure`;
- an unsupported or forbidden field (`opt`, `process_list`) is `None` (or no
  list) and is not asked again on that GPU.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from vramtop.backends.base import unread_device
from vramtop.backends.nvml_processes import PROCESS_LISTS
from vramtop.model import DeviceState, GPUDevice
from vramtop.security import sanitize

log = logging.getLogger(__name__)

#: Backoff before each retry of a call that failed with NVML_ERROR_UNKNOWN.
UNKNOWN_RETRY_DELAYS_S = (0.01, 0.02, 0.04)

# NVML return codes (nvml.h ABI; pynvml's NVML_ERROR_* constants).
_ERR_UNINITIALIZED = 1
_ERR_INVALID_ARGUMENT = 2
_ERR_NOT_SUPPORTED = 3
_ERR_NO_PERMISSION = 4
ERR_NOT_FOUND = 6
_ERR_DRIVER_NOT_LOADED = 9
_ERR_LIBRARY_NOT_FOUND = 12
_ERR_FUNCTION_NOT_FOUND = 13
_ERR_GPU_IS_LOST = 15
_ERR_RESET_REQUIRED = 16
_ERR_LIB_RM_VERSION_MISMATCH = 18
_ERR_ARGUMENT_VERSION_MISMATCH = 25
_ERR_DEPRECATED = 26
_ERR_UNKNOWN = 999

#: The GPU is gone until it is reset or comes back on the bus.
_LOST_CODES = frozenset({_ERR_GPU_IS_LOST, _ERR_RESET_REQUIRED})
#: The field will never work on this GPU in this session: stop asking.
UNSUPPORTED_CODES = frozenset(
    {
        _ERR_INVALID_ARGUMENT,
        _ERR_NOT_SUPPORTED,
        _ERR_NO_PERMISSION,
        _ERR_FUNCTION_NOT_FOUND,
        _ERR_ARGUMENT_VERSION_MISMATCH,
        _ERR_DEPRECATED,
    }
)
#: The library or the driver itself is unusable.
_DRIVER_CODES = frozenset(
    {
        _ERR_UNINITIALIZED,
        _ERR_DRIVER_NOT_LOADED,
        _ERR_LIBRARY_NOT_FOUND,
        _ERR_LIB_RM_VERSION_MISMATCH,
    }
)
_MEM_V2_FALLBACK_CODES = frozenset(
    {_ERR_NOT_SUPPORTED, _ERR_FUNCTION_NOT_FOUND, _ERR_ARGUMENT_VERSION_MISMATCH}
)


class Lost(Exception):
    """GPU_IS_LOST (or reset required) on a call for one device."""


class Degraded(Exception):
    """NVML_ERROR_UNKNOWN persisted through every retry."""


class DriverFailure(Exception):
    """The driver or library answered as if it were gone."""


class _NeverRaised(Exception):
    """Stands in for exception classes an old pynvml does not define."""


class NvmlDevice:
    """Mutable per-GPU state; lives only inside the backend."""

    __slots__ = (
        "error",
        "handle",
        "index",
        "lost",
        "lost_view",
        "mem_v2",
        "mig_mem_v2",
        "mig_mode",
        "mig_mode_at",
        "name",
        "pcie",
        "pcie_at",
        "retry_at",
        "side_at",
        "side_compute_pids",
        "side_listed",
        "side_unattributed",
        "total",
        "unsupported",
        "uuid",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.handle: Any = None
        self.uuid = f"GPU-index-{index}"
        self.name = ""
        self.total: int | None = None
        self.lost = False
        self.lost_view: GPUDevice | None = None
        self.retry_at = 0.0
        self.error: str | None = None
        self.mem_v2 = True
        self.mig_mem_v2 = True
        self.unsupported: set[str] = set()
        self.pcie: tuple[int | None, int | None] = (None, None)
        self.pcie_at: float | None = None
        self.mig_mode: Any = None
        self.mig_mode_at: float | None = None
        # The graphics and MPS lists as last read (see NvidiaBackend._side_lists_due).
        self.side_at: float | None = None
        self.side_listed = False
        self.side_unattributed: int | None = None
        self.side_compute_pids: frozenset[int] = frozenset()

    def unread(self, state: DeviceState, error: str) -> GPUDevice:
        """This GPU as last known, without this sample's readings."""
        return unread_device(self.index, self.uuid, self.name, self.total, state, error)


def err_text(e: BaseException) -> str:
    return sanitize(str(e)) or type(e).__name__


def nvml_text(value: Any) -> str:
    """A string from NVML (old pynvml versions return bytes), sanitized."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return sanitize(value)


class NvmlCalls:
    """pynvml's functions, looked up once (not per sample), and the rules for calling them.

    `note` is the reason the device being sampled is DEGRADED (the last UNKNOWN
    that outlived its retries, or a failed list); the backend resets it per device.
    """

    def __init__(
        self,
        nv: ModuleType,
        *,
        sleep: Callable[[float], None] = time.sleep,
        retry_delays_s: Sequence[float] = UNKNOWN_RETRY_DELAYS_S,
    ) -> None:
        self.nv = nv
        self._sleep = sleep
        self._retry_delays = tuple(retry_delays_s)
        #: No wait before the first try, then the backoff before each retry.
        self._waits: tuple[float | None, ...] = (None, *self._retry_delays)
        self.note: str | None = None
        self.err: type[Exception] = nv.NVMLError
        self._mismatch: type[Exception] = getattr(nv, "NVMLLibraryMismatchError", _NeverRaised)
        self._f_mem = nv.nvmlDeviceGetMemoryInfo
        mem_v2 = getattr(nv, "nvmlMemory_v2", None)
        self.f_mem_v2 = (
            functools.partial(nv.nvmlDeviceGetMemoryInfo, version=mem_v2) if mem_v2 else None
        )
        self.f_util = nv.nvmlDeviceGetUtilizationRates
        self.f_temp_v: Any = getattr(nv, "nvmlDeviceGetTemperatureV", None)
        self.f_temp = getattr(nv, "nvmlDeviceGetTemperature", None)
        self.f_power = nv.nvmlDeviceGetPowerUsage
        self.f_power_limit = nv.nvmlDeviceGetEnforcedPowerLimit
        self.f_clock = nv.nvmlDeviceGetClockInfo
        self.f_pcie = getattr(nv, "nvmlDeviceGetPcieThroughput", None)
        self.f_mig_mode: Any = getattr(nv, "nvmlDeviceGetMigMode", None)
        self._proc_fns: dict[int, Any] = {}
        self._proc_v2: dict[int, Any] = {}
        for bit, _key, _mig_key, name in PROCESS_LISTS:
            v2 = getattr(nv, name + "_v2", None)
            self._proc_fns[bit] = getattr(nv, name, None) or v2
            self._proc_v2[bit] = v2

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call NVML. GPU lost raises Lost; UNKNOWN is retried, then Degraded;
        any other NVMLError propagates."""
        last: Exception | None = None
        for delay in self._waits:
            if delay is not None:
                self._sleep(delay)
            try:
                return fn(*args)
            except self.err as e:
                code = getattr(e, "value", None)
                if code in _LOST_CODES:
                    raise Lost(err_text(e)) from None
                if code != _ERR_UNKNOWN:
                    raise
                last = e
        assert last is not None  # the loop tried at least once
        name = getattr(fn, "__name__", "NVML call")
        raise Degraded(f"{name}: {err_text(last)} ({len(self._retry_delays)} retries)")

    @staticmethod
    def check_driver(e: Exception) -> Any:
        """The NVML return code of `e`; raises DriverFailure when the driver itself is gone."""
        code = getattr(e, "value", None)
        if code in _DRIVER_CODES:
            raise DriverFailure(err_text(e)) from None
        return code

    def _given_up(self, dev: NvmlDevice, key: str, e: Exception, what: str) -> bool:
        """After NVMLError `e` on field `key`: True, and `key` is never asked again on
        this GPU, when the field cannot work there; DriverFailure when the driver is gone."""
        if self.check_driver(e) not in UNSUPPORTED_CODES:
            return False
        dev.unsupported.add(key)
        log.debug("GPU %d: %s unavailable (%s); not asked again", dev.index, what, e)
        return True

    def opt(self, dev: NvmlDevice, key: str, fn: Callable[..., Any], *args: Any) -> Any:
        """An optional field: None when NVML cannot give it, never an exception
        (except GPU lost and a dead driver)."""
        if key in dev.unsupported:
            return None
        try:
            return self.call(fn, *args)
        except Degraded as e:
            self.note = str(e)
            return None
        except self.err as e:
            self._given_up(dev, key, e, key)
            return None

    def static_str(self, fn: Callable[[Any], Any], handle: Any) -> str:
        """A string read once at open (UUID, name); "" when NVML cannot give it."""
        try:
            return nvml_text(self.call(fn, handle))
        except (self.err, Degraded) as e:
            log.debug("%s: %s", getattr(fn, "__name__", fn), e)
            return ""

    def read_memory(
        self, dev: NvmlDevice, handle: Any, *, mig: bool = False
    ) -> tuple[int, int | None, int, int]:
        """(total, reserved, used, free): memory info v2, falling back to v1."""
        v2 = dev.mig_mem_v2 if mig else dev.mem_v2
        if v2 and self.f_mem_v2 is not None:
            try:
                m = self.call(self.f_mem_v2, handle)
            except self.err as e:
                if getattr(e, "value", None) not in _MEM_V2_FALLBACK_CODES:
                    raise
                if mig:
                    dev.mig_mem_v2 = False
                else:
                    dev.mem_v2 = False
                log.debug("GPU %d: memory info v2 unavailable (%s), using v1", dev.index, e)
            else:
                return m.total, m.reserved, m.used, m.free
        m = self.call(self._f_mem, handle)
        return m.total, None, m.used, m.free

    def process_list(self, dev: NvmlDevice, h: Any, bit: int, key: str) -> Any:
        """One process list (`bit` of PROCESS_LISTS); `()` when NVML cannot give it."""
        if key in dev.unsupported:
            return ()
        fn = self._proc_fns[bit]
        if fn is None:
            return ()
        try:
            try:
                return self.call(fn, h)
            except self._mismatch:
                # The driver lacks the _v3 symbol: use _v2 from now on.
                fn = self._proc_fns[bit] = self._proc_v2[bit]
                log.debug("%s: falling back to the _v2 process list", key)
                if fn is None:
                    return ()
                return self.call(fn, h)
        except Degraded as e:
            self.note = str(e)
        except self.err as e:
            if not self._given_up(dev, key, e, f"{key} process list"):
                self.note = f"{key} processes: {err_text(e)}"
        return ()
