"""The NVML backend (`nvidia-ml-py`, imported as `pynvml`).

Each sample reads every field of every GPU once. Failures degrade as narrowly
as possible (how each NVML error is classified: `nvml_calls`):

- an unsupported or forbidden sensor is `None` and is not asked again;
- NVML UNKNOWN is retried with exponential backoff, then that GPU is DEGRADED
  for this sample;
- GPU_IS_LOST marks that GPU LOST (the others stay live); its handle is
  re-acquired at most every `reacquire_interval_s`;
- only when the driver fails on every GPU does `sample()` raise DriverError.

Process names and command lines come from /proc for the user's own processes
only, once per process identity `(pid, starttime)` (`nvml_processes`).

What rarely changes is read less often, as each call holds NVML's lock
(costs measured on an H100 with 48 CUDA processes): PCIe throughput every
10 s (21 ms per read); MIG mode every 10 s (80-180 us; it changes only with a
GPU reset); the graphics and MPS process lists (0.6-0.7 ms each, even when
empty), while both were empty, only when the compute list's PIDs change, when
memory that no listed process holds grows, or every `SIDE_LISTS_INTERVAL_S`.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from vramtop.backends.base import GPUBackend
from vramtop.backends.nvml_calls import (
    ERR_NOT_FOUND,
    UNKNOWN_RETRY_DELAYS_S,
    UNSUPPORTED_CODES,
    Degraded,
    DriverFailure,
    Lost,
    NvmlCalls,
    NvmlDevice,
    err_text,
    nvml_text,
)
from vramtop.backends.nvml_processes import (
    ALL_LISTS,
    COMPUTE,
    PROCESS_LISTS,
    Merged,
    ProcessIdentities,
    merge_process_lists,
)
from vramtop.errors import BackendError, DriverError, NoGPUError
from vramtop.model import (
    BackendInfo,
    DeviceState,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    MigInstance,
)
from vramtop.procfs import ProcFS
from vramtop.security import sanitize

log = logging.getLogger(__name__)

#: How often a lost GPU's handle is asked for again.
LOST_REACQUIRE_INTERVAL_S = 30.0
#: Seconds between PCIe throughput reads (each blocks ~20 ms inside NVML).
PCIE_INTERVAL_S = 10.0
#: Seconds between MIG mode reads (the mode changes only with a GPU reset).
MIG_MODE_INTERVAL_S = 10.0
#: Longest wait before empty graphics and MPS lists are read again.
SIDE_LISTS_INTERVAL_S = 5.0
#: Growth of memory no listed process holds that makes them be read at once
#: (a new graphics or MPS process: a CUDA context alone is hundreds of MiB).
SIDE_LISTS_UNATTRIBUTED_BYTES = 32 * 1024 * 1024

# NVML enum values (nvml.h ABI).
_TEMPERATURE_GPU = 0
_CLOCK_SM = 1
_CLOCK_MEM = 2
_PCIE_TX_BYTES = 0
_PCIE_RX_BYTES = 1
_MIG_ENABLE = 1
_KIB = 1024


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
        read_pcie: bool = True,
    ) -> None:
        self._nvml = nvml
        # False where PCIe throughput is not shown (`--once`'s table): 42 ms saved.
        self._read_pcie_enabled = read_pcie
        # resolve_pids False when NVML's host PIDs mean nothing in the /proc we can see.
        self._idents = ProcessIdentities(
            procfs if procfs is not None else ProcFS(), resolve_pids=resolve_pids
        )
        self._sleep = sleep
        self._clock = clock
        self._retry_delays = tuple(retry_delays_s)
        self._reacquire_interval = reacquire_interval_s
        self._pcie_interval = pcie_interval_s
        self._initialized = False
        self._devices: list[NvmlDevice] = []
        self._t0 = 0.0

    # --- lifecycle --------------------------------------------------------------------

    def open(self) -> BackendInfo:
        nv = self._nvml
        if nv is None:
            try:
                import pynvml
            except ImportError:
                raise NoGPUError("the nvidia-ml-py package is not installed") from None
            nv = self._nvml = pynvml
        c = self._c = NvmlCalls(nv, sleep=self._sleep, retry_delays_s=self._retry_delays)
        try:
            nv.nvmlInit()
        except c.err as e:
            raise NoGPUError(f"NVML init failed: {err_text(e)}") from None
        except OSError as e:
            raise NoGPUError(f"NVML could not be loaded: {err_text(e)}") from None
        self._initialized = True
        try:
            count = int(nv.nvmlDeviceGetCount())
        except c.err as e:
            self.close()
            raise NoGPUError(f"NVML cannot count devices: {err_text(e)}") from None
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
            driver_version=nvml_text(self._info_call(nv, "nvmlSystemGetDriverVersion")) or None,
            nvml_version=nvml_text(self._info_call(nv, "nvmlSystemGetNVMLVersion")) or None,
            cuda_driver_version=int(cuda) if cuda is not None else None,
            hostname=sanitize(socket.gethostname()) or None,
        )

    def close(self) -> None:
        if not self._initialized:
            return
        self._initialized = False
        self._idents.clear()
        try:
            self._c.nv.nvmlShutdown()
        except self._c.err as e:
            log.debug("nvmlShutdown: %s", err_text(e))

    def _open_device(self, index: int) -> NvmlDevice | None:
        c = self._c
        nv = c.nv
        dev = NvmlDevice(index)
        if c.f_mem_v2 is None:
            dev.mem_v2 = dev.mig_mem_v2 = False
        if c.f_temp_v is None:
            dev.unsupported.add("temp_v")
        try:
            dev.handle = c.call(nv.nvmlDeviceGetHandleByIndex, index)
            dev.uuid = c.static_str(nv.nvmlDeviceGetUUID, dev.handle) or dev.uuid
            dev.name = c.static_str(nv.nvmlDeviceGetName, dev.handle)
            try:
                dev.total = int(c.read_memory(dev, dev.handle)[0])
            except (c.err, Degraded) as e:
                log.debug("GPU %d: total memory unavailable at open: %s", index, e)
        except Lost as e:
            self._mark_lost(dev, str(e))
        except (c.err, Degraded) as e:
            log.warning("GPU %d skipped: %s", index, err_text(e))
            return None
        return dev

    def _info_call(self, nv: ModuleType, name: str) -> Any:
        fn = getattr(nv, name, None)
        if fn is None:
            return None
        try:
            return fn()
        except self._c.err as e:
            log.debug("%s: %s", name, err_text(e))
            return None

    # --- lost GPUs --------------------------------------------------------------------

    def _mark_lost(self, dev: NvmlDevice, message: str) -> None:
        dev.lost = True
        dev.error = message
        dev.retry_at = self._clock() + self._reacquire_interval
        dev.lost_view = dev.unread(DeviceState.LOST, message)
        log.warning("GPU %d (%s) lost: %s", dev.index, dev.uuid, message)

    def _try_reacquire(self, dev: NvmlDevice) -> bool:
        now = self._clock()
        if now < dev.retry_at:
            return False
        dev.retry_at = now + self._reacquire_interval
        nv = self._c.nv
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(dev.index)
            uuid = nvml_text(nv.nvmlDeviceGetUUID(handle))
            name = nvml_text(nv.nvmlDeviceGetName(handle))
        except self._c.err as e:
            log.debug("GPU %d still lost: %s", dev.index, err_text(e))
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
        self._idents.begin_sample()
        for dev in self._devices:
            if dev.lost and not self._try_reacquire(dev):
                assert dev.lost_view is not None
                devices.append(dev.lost_view)
                continue
            asked += 1
            try:
                devices.append(self._sample_device(dev, seen))
            except Lost as e:
                self._mark_lost(dev, str(e))
                assert dev.lost_view is not None
                devices.append(dev.lost_view)
            except DriverFailure as e:
                failed += 1
                failure = str(e)
                devices.append(dev.unread(DeviceState.DEGRADED, f"NVML: {failure}"))
        if asked and failed == asked:
            raise DriverError(f"NVML failed on every GPU: {failure}")
        self._idents.prune(seen)
        return MemorySnapshot(t=t, unix_time=unix_time, devices=tuple(devices))

    def _read_pcie(self, dev: NvmlDevice, h: Any) -> tuple[int | None, int | None]:
        """PCIe throughput blocks for NVML's ~20 ms measuring window per counter
        (21 ms measured on an H100), so it is read at most every `pcie_interval_s`."""
        c = self._c
        if c.f_pcie is None or not self._read_pcie_enabled:
            return None, None
        now = self._clock()
        if dev.pcie_at is not None and now - dev.pcie_at < self._pcie_interval:
            return dev.pcie
        dev.pcie_at = now
        dev.pcie = (
            c.opt(dev, "pcie_tx", c.f_pcie, h, _PCIE_TX_BYTES),
            c.opt(dev, "pcie_rx", c.f_pcie, h, _PCIE_RX_BYTES),
        )
        return dev.pcie

    def _sample_device(self, dev: NvmlDevice, seen: set[tuple[int, int]]) -> GPUDevice:
        c = self._c
        c.note = None
        h = dev.handle
        reserved = used = free = None
        try:
            total, reserved, used, free = c.read_memory(dev, h)
            if dev.total is None:
                dev.total = total
        except Degraded as e:
            c.note = str(e)
        except c.err as e:
            if c.check_driver(e) not in UNSUPPORTED_CODES:
                c.note = f"memory info: {err_text(e)}"
        opt = c.opt
        util = opt(dev, "util", c.f_util, h)
        temp = None
        if "temp_v" not in dev.unsupported:
            temp = opt(dev, "temp_v", c.f_temp_v, h, _TEMPERATURE_GPU)
        if temp is None and "temp_v" in dev.unsupported and c.f_temp is not None:
            temp = opt(dev, "temp", c.f_temp, h, _TEMPERATURE_GPU)
        power_mw = opt(dev, "power", c.f_power, h)
        limit_mw = opt(dev, "power_limit", c.f_power_limit, h)
        sm_clock = opt(dev, "sm_clock", c.f_clock, h, _CLOCK_SM)
        mem_clock = opt(dev, "mem_clock", c.f_clock, h, _CLOCK_MEM)
        tx, rx = self._read_pcie(dev, h)
        migs = self._read_mig(dev, h) if c.f_mig_mode is not None else None
        processes = self._read_processes(dev, h, migs, seen, used)
        note = c.note
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

    def _read_mig(self, dev: NvmlDevice, h: Any) -> list[tuple[MigInstance, Any]] | None:
        """The MIG instances of a GPU in MIG mode (with their handles), else None."""
        c = self._c
        now = self._clock()
        if dev.mig_mode_at is None or now - dev.mig_mode_at >= MIG_MODE_INTERVAL_S:
            dev.mig_mode = c.opt(dev, "mig", c.f_mig_mode, h)
            dev.mig_mode_at = now
        mode = dev.mig_mode
        if not mode or mode[0] != _MIG_ENABLE:
            return None
        nv = c.nv
        count = c.opt(dev, "mig_count", nv.nvmlDeviceGetMaxMigDeviceCount, h) or 0
        out: list[tuple[MigInstance, Any]] = []
        for i in range(count):
            try:
                mh = c.call(nv.nvmlDeviceGetMigDeviceHandleByIndex, h, i)
            except c.err as e:
                if getattr(e, "value", None) != ERR_NOT_FOUND:
                    log.debug("GPU %d MIG slot %d: %s", dev.index, i, e)
                continue  # an empty slot
            except Degraded as e:
                c.note = str(e)
                continue
            gi = c.opt(dev, "mig_gi", nv.nvmlDeviceGetGpuInstanceId, mh)
            if gi is None:
                continue
            ci = c.opt(dev, "mig_ci", nv.nvmlDeviceGetComputeInstanceId, mh)
            total = used = free = None
            try:
                total, _reserved, used, free = c.read_memory(dev, mh, mig=True)
            except Degraded as e:
                c.note = str(e)
            except c.err as e:
                log.debug("GPU %d MIG %d memory: %s", dev.index, gi, e)
            inst = MigInstance(
                gpu_instance_id=int(gi),
                compute_instance_id=int(ci) if ci is not None else None,
                uuid=nvml_text(c.opt(dev, "mig_uuid", nv.nvmlDeviceGetUUID, mh)),
                name=nvml_text(c.opt(dev, "mig_name", nv.nvmlDeviceGetName, mh)),
                total_bytes=total,
                used_bytes=used,
                free_bytes=free,
            )
            out.append((inst, mh))
        return out

    # --- processes --------------------------------------------------------------------

    def _read_processes(
        self,
        dev: NvmlDevice,
        h: Any,
        migs: list[tuple[MigInstance, Any]] | None,
        seen: set[tuple[int, int]],
        used: int | None,
    ) -> tuple[GPUProcess, ...]:
        merged: Merged = {}
        if migs is None or "compute" not in dev.unsupported:
            lists = self._lists(dev, h) if migs is not None else self._gpu_lists(dev, h, used)
            merge_process_lists(merged, lists, None, None, mig=migs is not None)
        if migs is not None and "compute" in dev.unsupported:
            # MIG without the privilege for the whole GPU's lists: ask each instance.
            for inst, mh in migs:
                lists = self._lists(dev, mh, per_mig=True)
                merge_process_lists(merged, lists, inst.gpu_instance_id, inst.compute_instance_id)
        if not merged:
            return ()
        return self._idents.processes(dev.index, merged, seen)

    def _lists(
        self, dev: NvmlDevice, h: Any, *, per_mig: bool = False, bits: int = ALL_LISTS
    ) -> list[tuple[int, Any]]:
        """The compute, graphics and MPS lists of one handle (those in `bits`), in
        that order."""
        c = self._c
        return [
            (bit, c.process_list(dev, h, bit, mig_key if per_mig else key))
            for bit, key, mig_key, _name in PROCESS_LISTS
            if bit & bits
        ]

    def _gpu_lists(self, dev: NvmlDevice, h: Any, used: int | None) -> list[tuple[int, Any]]:
        """The lists of a whole GPU: compute every sample; graphics and MPS when due."""
        lists = self._lists(dev, h, bits=COMPUTE)
        compute = lists[0][1]
        pids = frozenset(int(p.pid) for p in compute)
        unattributed = None
        if used is not None:
            unattributed = used - sum(p.usedGpuMemory or 0 for p in compute)
        if not self._side_lists_due(dev, pids, unattributed):
            return lists
        side = self._lists(dev, h, bits=ALL_LISTS & ~COMPUTE)
        lists.extend(side)
        dev.side_at = self._clock()
        dev.side_listed = any(entries for _bit, entries in side)
        dev.side_compute_pids = pids
        dev.side_unattributed = unattributed
        return lists

    def _side_lists_due(
        self, dev: NvmlDevice, compute_pids: frozenset[int], unattributed: int | None
    ) -> bool:
        """Whether the graphics and MPS lists must be read this sample: always while
        one lists a process; while both are empty, when a process came or went in
        the compute list, when memory no listed process holds grew (a new graphics
        or MPS client), or after SIDE_LISTS_INTERVAL_S."""
        if dev.side_at is None or dev.side_listed or compute_pids != dev.side_compute_pids:
            return True
        if unattributed is None or dev.side_unattributed is None:
            return True
        if unattributed - dev.side_unattributed > SIDE_LISTS_UNATTRIBUTED_BYTES:
            return True
        return self._clock() - dev.side_at >= SIDE_LISTS_INTERVAL_S
