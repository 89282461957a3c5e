"""The NVML backend (`nvidia-ml-py`, imported as `pynvml`).

Each sample reads every field of every GPU once. Failures degrade as narrowly
as possible:

- an unsupported or forbidden sensor is `None` and is not asked again;
- NVML UNKNOWN is retried with exponential backoff, then that GPU is DEGRADED
  for this sample;
- GPU_IS_LOST marks that GPU LOST (the others stay live); its handle is
  re-acquired at most every `reacquire_interval_s`;
- only when the driver fails on every GPU does `sample()` raise DriverError.

Process names and command lines come from /proc for the user's own processes
only, once per process identity `(pid, starttime)`.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from vramtop.backends.base import GPUBackend
from vramtop.errors import BackendError, DriverError, NoGPUError
from vramtop.model import (
    BackendInfo,
    DeviceState,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    MigInstance,
    ProcessKind,
)
from vramtop.procfs import ProcFS
from vramtop.security import is_same_user, sanitize

log = logging.getLogger(__name__)

#: Backoff before each retry of a call that failed with NVML_ERROR_UNKNOWN.
UNKNOWN_RETRY_DELAYS_S = (0.01, 0.02, 0.04)
#: How often a lost GPU's handle is asked for again.
LOST_REACQUIRE_INTERVAL_S = 30.0

# NVML return codes (nvml.h ABI; pynvml's NVML_ERROR_* constants).
_ERR_UNINITIALIZED = 1
_ERR_INVALID_ARGUMENT = 2
_ERR_NOT_SUPPORTED = 3
_ERR_NO_PERMISSION = 4
_ERR_NOT_FOUND = 6
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
_UNSUPPORTED_CODES = frozenset(
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

# NVML enum values (nvml.h ABI).
_TEMPERATURE_GPU = 0
_CLOCK_SM = 1
_CLOCK_MEM = 2
#: Seconds between PCIe throughput reads (each blocks ~20 ms inside NVML).
PCIE_INTERVAL_S = 10.0
_PCIE_TX_BYTES = 0
_PCIE_RX_BYTES = 1
_MIG_ENABLE = 1
_NOT_AVAILABLE_U32 = 0xFFFFFFFF
_NOT_AVAILABLE_U64 = 0xFFFFFFFFFFFFFFFF
_KIB = 1024

# Process-list kinds, as bits so one PID can be several.
_COMPUTE, _GRAPHICS, _MPS = 1, 2, 4
# (bit, key for the full GPU, key for MIG instance handles, pynvml function)
_PROC_FUNCS = (
    (_COMPUTE, "compute", "mig_compute", "nvmlDeviceGetComputeRunningProcesses"),
    (_GRAPHICS, "graphics", "mig_graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
    (_MPS, "mps", "mig_mps", "nvmlDeviceGetMPSComputeRunningProcesses"),
)


class _Lost(Exception):
    """GPU_IS_LOST (or reset required) on a call for one device."""


class _Degraded(Exception):
    """NVML_ERROR_UNKNOWN persisted through every retry."""


class _DriverFailure(Exception):
    """The driver or library answered as if it were gone."""


class _NeverRaised(Exception):
    """Stands in for exception classes an old pynvml does not define."""


class _Device:
    """Mutable per-GPU state; lives only inside the backend."""

    __slots__ = (
        "error",
        "handle",
        "index",
        "lost",
        "lost_view",
        "mem_v2",
        "mig_mem_v2",
        "name",
        "pcie",
        "pcie_at",
        "retry_at",
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


class _Identity:
    """What /proc said about one process identity, read once."""

    __slots__ = ("cmdline", "last", "name", "uid")

    def __init__(self, name: str, cmdline: tuple[str, ...], uid: int | None) -> None:
        self.name = name
        self.cmdline = cmdline
        self.uid = uid
        #: The GPUProcess last built per GPU index, reused while nothing changed.
        self.last: dict[int, GPUProcess] = {}


def _err_text(e: BaseException) -> str:
    return sanitize(str(e)) or type(e).__name__


def _text(value: Any) -> str:
    """A string from NVML (old pynvml versions return bytes), sanitized."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return sanitize(value)


class NvidiaBackend(GPUBackend):
    """Live GPUs through NVML.

    `nvml` is the `pynvml` module (imported on `open()` when not given; tests
    pass a fake). `sleep` and `clock` drive retry backoff and lost-GPU
    re-acquisition; `procfs` is where process identities are read.
    """

    def __init__(
        self,
        nvml: ModuleType | None = None,
        *,
        procfs: ProcFS | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        retry_delays_s: Sequence[float] = UNKNOWN_RETRY_DELAYS_S,
        reacquire_interval_s: float = LOST_REACQUIRE_INTERVAL_S,
        pcie_interval_s: float = PCIE_INTERVAL_S,
        resolve_pids: bool = True,
    ) -> None:
        self._nvml = nvml
        self._procfs = procfs if procfs is not None else ProcFS()
        # False when NVML's host PIDs mean nothing in the /proc we can see (a container
        # without the host PID namespace): a local PID of the same number is another process.
        self._resolve_pids = resolve_pids
        self._sleep = sleep
        self._clock = clock
        self._retry_delays = tuple(retry_delays_s)
        self._reacquire_interval = reacquire_interval_s
        self._pcie_interval = pcie_interval_s
        self._initialized = False
        self._devices: list[_Device] = []
        self._idents: dict[tuple[int, int], _Identity] = {}
        self._t0 = 0.0
        self._note: str | None = None
        self._proc_fns: dict[int, Any] = {}
        self._proc_v2: dict[int, Any] = {}

    # --- lifecycle --------------------------------------------------------------------

    def open(self) -> BackendInfo:
        nv = self._nvml
        if nv is None:
            try:
                import pynvml
            except ImportError:
                raise NoGPUError("the nvidia-ml-py package is not installed") from None
            nv = self._nvml = pynvml
        self._bind(nv)
        try:
            nv.nvmlInit()
        except self._err as e:
            raise NoGPUError(f"NVML init failed: {_err_text(e)}") from None
        except OSError as e:
            raise NoGPUError(f"NVML could not be loaded: {_err_text(e)}") from None
        self._initialized = True
        try:
            count = int(nv.nvmlDeviceGetCount())
        except self._err as e:
            self.close()
            raise NoGPUError(f"NVML cannot count devices: {_err_text(e)}") from None
        if count <= 0:
            self.close()
            raise NoGPUError("NVML reports no devices")
        self._devices = [d for d in (self._open_device(i) for i in range(count)) if d]
        if not self._devices:
            self.close()
            raise NoGPUError(f"none of the {count} NVIDIA devices can be opened")
        self._idents.clear()
        self._t0 = time.monotonic()
        cuda = self._info_call(nv, "nvmlSystemGetCudaDriverVersion")
        return BackendInfo(
            source="nvml",
            driver_version=_text(self._info_call(nv, "nvmlSystemGetDriverVersion")) or None,
            nvml_version=_text(self._info_call(nv, "nvmlSystemGetNVMLVersion")) or None,
            cuda_driver_version=int(cuda) if cuda is not None else None,
            hostname=sanitize(socket.gethostname()) or None,
        )

    def close(self) -> None:
        if not self._initialized:
            return
        self._initialized = False
        try:
            self._nv.nvmlShutdown()
        except self._err as e:
            log.debug("nvmlShutdown: %s", _err_text(e))

    def _bind(self, nv: ModuleType) -> None:
        """Look the module's functions and classes up once, not per sample."""
        self._nv = nv
        self._err: type[Exception] = nv.NVMLError
        self._mismatch: type[Exception] = getattr(nv, "NVMLLibraryMismatchError", _NeverRaised)
        self._f_mem = nv.nvmlDeviceGetMemoryInfo
        mem_v2 = getattr(nv, "nvmlMemory_v2", None)
        self._f_mem_v2 = (
            functools.partial(nv.nvmlDeviceGetMemoryInfo, version=mem_v2) if mem_v2 else None
        )
        self._f_util = nv.nvmlDeviceGetUtilizationRates
        self._f_temp_v: Any = getattr(nv, "nvmlDeviceGetTemperatureV", None)
        self._f_temp = getattr(nv, "nvmlDeviceGetTemperature", None)
        self._f_power = nv.nvmlDeviceGetPowerUsage
        self._f_power_limit = nv.nvmlDeviceGetEnforcedPowerLimit
        self._f_clock = nv.nvmlDeviceGetClockInfo
        self._f_pcie = getattr(nv, "nvmlDeviceGetPcieThroughput", None)
        self._f_mig_mode: Any = getattr(nv, "nvmlDeviceGetMigMode", None)
        for bit, _key, _mig_key, name in _PROC_FUNCS:
            v2 = getattr(nv, name + "_v2", None)
            self._proc_fns[bit] = getattr(nv, name, None) or v2
            self._proc_v2[bit] = v2

    def _open_device(self, index: int) -> _Device | None:
        nv = self._nv
        dev = _Device(index)
        if self._f_mem_v2 is None:
            dev.mem_v2 = dev.mig_mem_v2 = False
        if self._f_temp_v is None:
            dev.unsupported.add("temp_v")
        try:
            dev.handle = self._call(nv.nvmlDeviceGetHandleByIndex, index)
            dev.uuid = self._static_str(nv.nvmlDeviceGetUUID, dev.handle) or dev.uuid
            dev.name = self._static_str(nv.nvmlDeviceGetName, dev.handle)
            try:
                dev.total = int(self._read_memory(dev, dev.handle)[0])
            except (self._err, _Degraded) as e:
                log.debug("GPU %d: total memory unavailable at open: %s", index, e)
        except _Lost as e:
            self._mark_lost(dev, str(e))
        except (self._err, _Degraded) as e:
            log.warning("GPU %d skipped: %s", index, _err_text(e))
            return None
        return dev

    def _static_str(self, fn: Callable[[Any], Any], handle: Any) -> str:
        try:
            return _text(self._call(fn, handle))
        except (self._err, _Degraded) as e:
            log.debug("%s: %s", getattr(fn, "__name__", fn), e)
            return ""

    def _info_call(self, nv: ModuleType, name: str) -> Any:
        fn = getattr(nv, name, None)
        if fn is None:
            return None
        try:
            return fn()
        except self._err as e:
            log.debug("%s: %s", name, _err_text(e))
            return None

    # --- calling NVML -----------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call NVML. GPU lost raises _Lost; UNKNOWN is retried, then _Degraded;
        any other NVMLError propagates."""
        try:
            return fn(*args)
        except self._err as e:
            code = getattr(e, "value", None)
            if code in _LOST_CODES:
                raise _Lost(_err_text(e)) from None
            if code != _ERR_UNKNOWN:
                raise
            last: Exception = e
        for delay in self._retry_delays:
            self._sleep(delay)
            try:
                return fn(*args)
            except self._err as e:
                code = getattr(e, "value", None)
                if code in _LOST_CODES:
                    raise _Lost(_err_text(e)) from None
                if code != _ERR_UNKNOWN:
                    raise
                last = e
        name = getattr(fn, "__name__", "NVML call")
        raise _Degraded(f"{name}: {_err_text(last)} ({len(self._retry_delays)} retries)")

    def _opt(self, dev: _Device, key: str, fn: Callable[..., Any], *args: Any) -> Any:
        """An optional field: None when NVML cannot give it, never an exception
        (except GPU lost and a dead driver)."""
        if key in dev.unsupported:
            return None
        try:
            return self._call(fn, *args)
        except _Degraded as e:
            self._note = str(e)
            return None
        except self._err as e:
            code = getattr(e, "value", None)
            if code in _DRIVER_CODES:
                raise _DriverFailure(_err_text(e)) from None
            if code in _UNSUPPORTED_CODES:
                dev.unsupported.add(key)
                log.debug("GPU %d: %s unavailable (%s); not asked again", dev.index, key, e)
            return None

    def _read_memory(
        self, dev: _Device, handle: Any, *, mig: bool = False
    ) -> tuple[int, int | None, int, int]:
        """(total, reserved, used, free): memory info v2, falling back to v1."""
        v2 = dev.mig_mem_v2 if mig else dev.mem_v2
        if v2 and self._f_mem_v2 is not None:
            try:
                m = self._call(self._f_mem_v2, handle)
            except self._err as e:
                if getattr(e, "value", None) not in _MEM_V2_FALLBACK_CODES:
                    raise
                if mig:
                    dev.mig_mem_v2 = False
                else:
                    dev.mem_v2 = False
                log.debug("GPU %d: memory info v2 unavailable (%s), using v1", dev.index, e)
            else:
                return m.total, m.reserved, m.used, m.free
        m = self._call(self._f_mem, handle)
        return m.total, None, m.used, m.free

    # --- lost GPUs --------------------------------------------------------------------

    def _mark_lost(self, dev: _Device, message: str) -> None:
        dev.lost = True
        dev.error = message
        dev.retry_at = self._clock() + self._reacquire_interval
        dev.lost_view = GPUDevice(
            index=dev.index,
            uuid=dev.uuid,
            name=dev.name,
            total_bytes=dev.total,
            used_bytes=None,
            free_bytes=None,
            state=DeviceState.LOST,
            error=message,
        )
        log.warning("GPU %d (%s) lost: %s", dev.index, dev.uuid, message)

    def _try_reacquire(self, dev: _Device) -> bool:
        now = self._clock()
        if now < dev.retry_at:
            return False
        dev.retry_at = now + self._reacquire_interval
        nv = self._nv
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(dev.index)
            uuid = _text(nv.nvmlDeviceGetUUID(handle))
            name = _text(nv.nvmlDeviceGetName(handle))
        except self._err as e:
            log.debug("GPU %d still lost: %s", dev.index, _err_text(e))
            return False
        if dev.handle is not None and uuid != dev.uuid:
            log.warning("GPU %d: now another GPU (%s); keeping it lost", dev.index, uuid)
            return False
        dev.handle, dev.uuid, dev.name = handle, uuid, name
        dev.lost, dev.lost_view, dev.error = False, None, None
        log.warning("GPU %d (%s) is back", dev.index, uuid)
        return True

    # --- sampling ---------------------------------------------------------------------

    def sample(self) -> MemorySnapshot:
        if not self._initialized:
            raise BackendError("the NVML backend is not open")
        t = time.monotonic() - self._t0
        unix_time = time.time()
        seen: set[tuple[int, int]] = set()
        devices: list[GPUDevice] = []
        asked = failed = 0
        failure = ""
        for dev in self._devices:
            if dev.lost and not self._try_reacquire(dev):
                assert dev.lost_view is not None
                devices.append(dev.lost_view)
                continue
            asked += 1
            try:
                devices.append(self._sample_device(dev, seen))
            except _Lost as e:
                self._mark_lost(dev, str(e))
                assert dev.lost_view is not None
                devices.append(dev.lost_view)
            except _DriverFailure as e:
                failed += 1
                failure = str(e)
                devices.append(self._problem_view(dev, f"NVML: {failure}"))
        if asked and failed == asked:
            raise DriverError(f"NVML failed on every GPU: {failure}")
        if len(self._idents) > len(seen):
            for key in [k for k in self._idents if k not in seen]:
                del self._idents[key]
        return MemorySnapshot(t=t, unix_time=unix_time, devices=tuple(devices))

    def _read_pcie(self, dev: _Device, h: Any) -> tuple[int | None, int | None]:
        """PCIe throughput blocks for NVML's ~20 ms measuring window per counter
        (21 ms measured on an H100), so it is read at most every `pcie_interval_s`."""
        if self._f_pcie is None:
            return None, None
        now = self._clock()
        if dev.pcie_at is not None and now - dev.pcie_at < self._pcie_interval:
            return dev.pcie
        dev.pcie_at = now
        dev.pcie = (
            self._opt(dev, "pcie_tx", self._f_pcie, h, _PCIE_TX_BYTES),
            self._opt(dev, "pcie_rx", self._f_pcie, h, _PCIE_RX_BYTES),
        )
        return dev.pcie

    def _problem_view(self, dev: _Device, message: str) -> GPUDevice:
        return GPUDevice(
            index=dev.index,
            uuid=dev.uuid,
            name=dev.name,
            total_bytes=dev.total,
            used_bytes=None,
            free_bytes=None,
            state=DeviceState.DEGRADED,
            error=message,
        )

    def _sample_device(self, dev: _Device, seen: set[tuple[int, int]]) -> GPUDevice:
        self._note = None
        h = dev.handle
        reserved = used = free = None
        try:
            total, reserved, used, free = self._read_memory(dev, h)
            if dev.total is None:
                dev.total = total
        except _Degraded as e:
            self._note = str(e)
        except self._err as e:
            code = getattr(e, "value", None)
            if code in _DRIVER_CODES:
                raise _DriverFailure(_err_text(e)) from None
            if code not in _UNSUPPORTED_CODES:
                self._note = f"memory info: {_err_text(e)}"
        opt = self._opt
        util = opt(dev, "util", self._f_util, h)
        temp = None
        if "temp_v" not in dev.unsupported:
            temp = opt(dev, "temp_v", self._f_temp_v, h, _TEMPERATURE_GPU)
        if temp is None and "temp_v" in dev.unsupported and self._f_temp is not None:
            temp = opt(dev, "temp", self._f_temp, h, _TEMPERATURE_GPU)
        power_mw = opt(dev, "power", self._f_power, h)
        limit_mw = opt(dev, "power_limit", self._f_power_limit, h)
        sm_clock = opt(dev, "sm_clock", self._f_clock, h, _CLOCK_SM)
        mem_clock = opt(dev, "mem_clock", self._f_clock, h, _CLOCK_MEM)
        tx, rx = self._read_pcie(dev, h)
        migs = self._read_mig(dev, h) if self._f_mig_mode is not None else None
        processes = self._read_processes(dev, h, migs, seen)
        note = self._note
        return GPUDevice(
            index=dev.index,
            uuid=dev.uuid,
            name=dev.name,
            total_bytes=dev.total,
            used_bytes=used,
            free_bytes=free,
            reserved_bytes=reserved,
            util_gpu_pct=util.gpu if util is not None else None,
            util_memory_pct=util.memory if util is not None else None,
            temperature_c=temp,
            power_watts=power_mw / 1000.0 if power_mw is not None else None,
            power_limit_watts=limit_mw / 1000.0 if limit_mw is not None else None,
            sm_clock_mhz=sm_clock,
            memory_clock_mhz=mem_clock,
            pcie_tx_bytes_per_s=tx * _KIB if tx is not None else None,
            pcie_rx_bytes_per_s=rx * _KIB if rx is not None else None,
            processes=processes,
            mig_instances=tuple(m for m, _h in migs) if migs else (),
            state=DeviceState.DEGRADED if note else DeviceState.OK,
            error=note,
        )

    # --- MIG --------------------------------------------------------------------------

    def _read_mig(self, dev: _Device, h: Any) -> list[tuple[MigInstance, Any]] | None:
        """The MIG instances of a GPU in MIG mode (with their handles), else None."""
        mode = self._opt(dev, "mig", self._f_mig_mode, h)
        if not mode or mode[0] != _MIG_ENABLE:
            return None
        nv = self._nv
        count = self._opt(dev, "mig_count", nv.nvmlDeviceGetMaxMigDeviceCount, h) or 0
        out: list[tuple[MigInstance, Any]] = []
        for i in range(count):
            try:
                mh = self._call(nv.nvmlDeviceGetMigDeviceHandleByIndex, h, i)
            except self._err as e:
                if getattr(e, "value", None) != _ERR_NOT_FOUND:
                    log.debug("GPU %d MIG slot %d: %s", dev.index, i, e)
                continue  # an empty slot
            except _Degraded as e:
                self._note = str(e)
                continue
            gi = self._opt(dev, "mig_gi", nv.nvmlDeviceGetGpuInstanceId, mh)
            if gi is None:
                continue
            ci = self._opt(dev, "mig_ci", nv.nvmlDeviceGetComputeInstanceId, mh)
            total = used = free = None
            try:
                total, _reserved, used, free = self._read_memory(dev, mh, mig=True)
            except _Degraded as e:
                self._note = str(e)
            except self._err as e:
                log.debug("GPU %d MIG %d memory: %s", dev.index, gi, e)
            inst = MigInstance(
                gpu_instance_id=int(gi),
                compute_instance_id=int(ci) if ci is not None else None,
                uuid=_text(self._opt(dev, "mig_uuid", nv.nvmlDeviceGetUUID, mh)),
                name=_text(self._opt(dev, "mig_name", nv.nvmlDeviceGetName, mh)),
                total_bytes=total,
                used_bytes=used,
                free_bytes=free,
            )
            out.append((inst, mh))
        return out

    # --- processes --------------------------------------------------------------------

    def _proc_list(self, dev: _Device, h: Any, bit: int, key: str) -> Any:
        """One process list; `()` when NVML cannot give it."""
        if key in dev.unsupported:
            return ()
        fn = self._proc_fns[bit]
        if fn is None:
            return ()
        try:
            try:
                return self._call(fn, h)
            except self._mismatch:
                # The driver lacks the _v3 symbol: use _v2 from now on.
                fn = self._proc_fns[bit] = self._proc_v2[bit]
                log.debug("%s: falling back to the _v2 process list", key)
                if fn is None:
                    return ()
                return self._call(fn, h)
        except _Degraded as e:
            self._note = str(e)
        except self._err as e:
            code = getattr(e, "value", None)
            if code in _DRIVER_CODES:
                raise _DriverFailure(_err_text(e)) from None
            if code in _UNSUPPORTED_CODES:
                dev.unsupported.add(key)
                log.debug("GPU %d: %s process list unavailable (%s)", dev.index, key, e)
            else:
                self._note = f"{key} processes: {_err_text(e)}"
        return ()

    def _read_processes(
        self,
        dev: _Device,
        h: Any,
        migs: list[tuple[MigInstance, Any]] | None,
        seen: set[tuple[int, int]],
    ) -> tuple[GPUProcess, ...]:
        # pid -> [used, kind bits, gpu instance, compute instance]
        merged: dict[int, list[Any]] = {}
        if migs is None or "compute" not in dev.unsupported:
            self._collect(dev, h, merged, None, None, mig=migs is not None)
        if migs is not None and "compute" in dev.unsupported:
            # MIG without the privilege for the whole GPU's lists: ask each instance.
            for inst, mh in migs:
                self._collect(
                    dev, mh, merged, inst.gpu_instance_id, inst.compute_instance_id, per_mig=True
                )
        if not merged:
            return ()
        index = dev.index
        out = []
        for pid, (used, bits, gi, ci) in merged.items():
            if bits & (_COMPUTE | _MPS):
                kind = ProcessKind.BOTH if bits & _GRAPHICS else ProcessKind.COMPUTE
            else:
                kind = ProcessKind.GRAPHICS
            out.append(self._process(index, pid, used, kind, bool(bits & _MPS), gi, ci, seen))
        return tuple(out)

    def _collect(
        self,
        dev: _Device,
        h: Any,
        merged: dict[int, list[Any]],
        gi: int | None,
        ci: int | None,
        *,
        mig: bool = False,
        per_mig: bool = False,
    ) -> None:
        """Merge the compute, graphics and MPS lists of one handle into `merged`."""
        for bit, key, mig_key, _name in _PROC_FUNCS:
            for p in self._proc_list(dev, h, bit, mig_key if per_mig else key):
                pid = int(p.pid)
                used = p.usedGpuMemory
                if used is not None and used >= _NOT_AVAILABLE_U64:
                    used = None
                entry = merged.get(pid)
                if entry is None:
                    pgi, pci = gi, ci
                    if mig:
                        pgi = p.gpuInstanceId
                        pci = p.computeInstanceId
                        pgi = None if pgi is None or pgi >= _NOT_AVAILABLE_U32 else int(pgi)
                        pci = None if pci is None or pci >= _NOT_AVAILABLE_U32 else int(pci)
                    merged[pid] = [used, bit, pgi, pci]
                else:
                    entry[1] |= bit
                    if used is not None and (entry[0] is None or used > entry[0]):
                        entry[0] = used

    def _process(
        self,
        index: int,
        pid: int,
        used: int | None,
        kind: ProcessKind,
        mps: bool,
        gi: int | None,
        ci: int | None,
        seen: set[tuple[int, int]],
    ) -> GPUProcess:
        starttime = self._procfs.starttime(pid) if self._resolve_pids else None
        if starttime is None:
            # Exited, or not in our PID namespace: NVML's numbers only.
            return GPUProcess(
                pid, None, used, kind, mps=mps, gpu_instance_id=gi, compute_instance_id=ci
            )
        key = (pid, starttime)
        ident = self._idents.get(key)
        if ident is None:
            ident = self._idents[key] = self._resolve(pid)
        seen.add(key)
        last = ident.last.get(index)
        if (
            last is not None
            and last.used_bytes == used
            and last.kind is kind
            and last.mps == mps
            and last.gpu_instance_id == gi
            and last.compute_instance_id == ci
        ):
            return last
        proc = GPUProcess(
            pid=pid,
            starttime=starttime,
            used_bytes=used,
            kind=kind,
            name=ident.name,
            cmdline=ident.cmdline,
            uid=ident.uid,
            mps=mps,
            gpu_instance_id=gi,
            compute_instance_id=ci,
        )
        ident.last[index] = proc
        return proc

    def _resolve(self, pid: int) -> _Identity:
        """Name and command line from /proc, for the user's own processes only."""
        procfs = self._procfs
        uid = procfs.uid(pid)
        if not is_same_user(uid):
            return _Identity("", (), uid)
        cmdline = tuple(sanitize(a) for a in procfs.cmdline(pid))
        comm = procfs.comm(pid)
        if comm:
            name = sanitize(comm)
        elif cmdline:
            name = sanitize(os.path.basename(cmdline[0]))
        else:
            name = ""
        return _Identity(name, cmdline, uid)
