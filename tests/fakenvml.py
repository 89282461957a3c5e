"""A fake `pynvml` module (the surface of nvidia-ml-py 13.x) for tests without a GPU.

It reproduces what the backend depends on: the NVML error codes, the
`NVMLError` hierarchy generated the same way as the real module
(`NVMLError(15)` returns an `NVMLError_GpuIsLost`), `NVMLLibraryMismatchError`
as a plain `Exception`, the unversioned process-list functions wrapped so that a
missing `_v3` symbol becomes `NVMLLibraryMismatchError`, `nvmlMemory_v2`, and
"friendly" process objects with `pid`, `usedGpuMemory` (None when unknown),
`gpuInstanceId` and `computeInstanceId`.

Failures are configured per call: `fake.fail(name, code, gpu=..., times=...)`;
`fake.missing` holds C symbols the "driver" lacks (-> FunctionNotFound);
`fake.calls` counts every call by function name.
"""

from __future__ import annotations

import string
import sys
import types
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22
NVML_ERROR_INSUFFICIENT_RESOURCES = 23
NVML_ERROR_FREQ_NOT_SUPPORTED = 24
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_DEPRECATED = 26
NVML_ERROR_NOT_READY = 27
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_INVALID_STATE = 29
NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30
NVML_ERROR_UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_CLOCK_VIDEO = 3
NVML_PCIE_UTIL_TX_BYTES = 0
NVML_PCIE_UTIL_RX_BYTES = 1
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1
nvmlMemory_v2 = 0x02000028
nvmlTemperature_v1 = 0x100000C
NVML_VALUE_NOT_AVAILABLE_ulonglong_value = 0xFFFFFFFFFFFFFFFF
NO_INSTANCE = 0xFFFFFFFF  # gpuInstanceId / computeInstanceId outside MIG

GiB = 1024**3
MiB = 1024**2


class NVMLLibraryMismatchError(Exception):
    """As in pynvml: NOT a subclass of NVMLError."""


class NVMLError(Exception):
    _valClassMapping: ClassVar[dict[int, type[NVMLError]]] = {}
    _errcode_to_string: ClassVar[dict[int, str]] = {
        NVML_ERROR_UNINITIALIZED: "Uninitialized",
        NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
        NVML_ERROR_NOT_SUPPORTED: "Not Supported",
        NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
        NVML_ERROR_ALREADY_INITIALIZED: "Already Initialized",
        NVML_ERROR_NOT_FOUND: "Not Found",
        NVML_ERROR_INSUFFICIENT_SIZE: "Insufficient Size",
        NVML_ERROR_INSUFFICIENT_POWER: "Insufficient External Power",
        NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
        NVML_ERROR_TIMEOUT: "Timeout",
        NVML_ERROR_IRQ_ISSUE: "Interrupt Request Issue",
        NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
        NVML_ERROR_CORRUPTED_INFOROM: "Corrupted infoROM",
        NVML_ERROR_GPU_IS_LOST: "GPU is lost",
        NVML_ERROR_RESET_REQUIRED: "GPU requires restart",
        NVML_ERROR_OPERATING_SYSTEM: "The operating system has blocked the request.",
        NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
        NVML_ERROR_MEMORY: "Insufficient Memory",
        NVML_ERROR_UNKNOWN: "Unknown Error",
    }
    value: int

    def __new__(cls, value: int) -> NVMLError:
        typ = NVMLError._valClassMapping.get(value, cls) if cls is NVMLError else cls
        obj = Exception.__new__(typ)
        obj.value = value
        return obj

    def __str__(self) -> str:
        return self._errcode_to_string.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NVMLError) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]  # as in pynvml, which defines __eq__ only


def _extract_errors_as_classes() -> None:
    """Same naming as pynvml: NVML_ERROR_GPU_IS_LOST -> NVMLError_GpuIsLost."""
    module = sys.modules[__name__]
    for err_name in [x for x in dir(module) if x.startswith("NVML_ERROR_")]:
        class_name = "NVMLError_" + string.capwords(
            err_name.replace("NVML_ERROR_", ""), "_"
        ).replace("_", "")
        err_val = getattr(module, err_name)

        def gen_new(val: int) -> Any:
            def new(typ: type[NVMLError], *args: Any) -> NVMLError:
                return NVMLError.__new__(typ, val)

            return new

        cls = type(class_name, (NVMLError,), {"__new__": gen_new(err_val)})
        cls.__module__ = "pynvml"
        setattr(module, class_name, cls)
        NVMLError._valClassMapping[err_val] = cls


_extract_errors_as_classes()


class nvmlFriendlyObject:
    def __init__(self, dictionary: dict[str, Any]) -> None:
        for k, v in dictionary.items():
            setattr(self, k, v)

    def __str__(self) -> str:
        return str(self.__dict__)


# --- the fake hardware --------------------------------------------------------------


@dataclass
class FakeProc:
    pid: int
    used: int | None
    gpu_instance_id: int = NO_INSTANCE
    compute_instance_id: int = NO_INSTANCE


@dataclass
class FakeMig:
    gpu_instance_id: int
    compute_instance_id: int
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3 MIG 1g.10gb"
    total: int = 10 * GiB
    used: int = 1 * GiB
    reserved: int = 64 * MiB


@dataclass
class FakeGPU:
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    name: str = "NVIDIA H100 80GB HBM3"
    total: int = 80 * GiB
    used: int = 10 * GiB
    reserved: int = 512 * MiB
    util_gpu: int = 37
    util_memory: int = 12
    temperature: int = 41
    power_mw: int = 123456
    power_limit_mw: int = 700000
    sm_clock: int = 1980
    mem_clock: int = 2619
    pcie_tx_kb: int = 100
    pcie_rx_kb: int = 250
    compute: list[FakeProc] = field(default_factory=list)
    graphics: list[FakeProc] = field(default_factory=list)
    mps: list[FakeProc] = field(default_factory=list)
    #: None: not a MIG-capable GPU (nvmlDeviceGetMigMode raises NotSupported).
    mig_mode: int | None = None
    #: MIG slots; None is an empty slot (NotFound).
    migs: list[FakeMig | None] = field(default_factory=list)


@dataclass(frozen=True)
class FakeHandle:
    gpu: int
    mig: int | None = None


@dataclass
class _Rule:
    name: str
    error: BaseException | int
    gpu: int | None
    mig: bool | None
    times: int | None


class FakeNVML(types.ModuleType):
    """One fake NVML "driver" with `gpus`; a module object usable as `pynvml`."""

    def __init__(self, gpus: list[FakeGPU] | None = None) -> None:
        super().__init__("pynvml")
        src = sys.modules[__name__]
        for name in dir(src):
            if name.startswith(("NVML", "nvmlMemory_", "nvmlTemperature_", "nvmlFriendly")):
                setattr(self, name, getattr(src, name))
        self.gpus: list[FakeGPU] = list(gpus) if gpus is not None else [FakeGPU()]
        self.driver_version = "580.159.04"
        self.nvml_version = "13.580.159.04"
        self.cuda_driver_version = 13000
        self.initialized = 0
        self.calls: Counter[str] = Counter()
        self.missing: set[str] = set()
        self.rules: list[_Rule] = []

    # --- configuration --------------------------------------------------------------

    def fail(
        self,
        name: str,
        error: BaseException | int,
        *,
        gpu: int | None = None,
        mig: bool | None = None,
        times: int | None = None,
    ) -> None:
        """Make calls of `name` raise `error` (an NVML code or an exception).

        `gpu` limits it to one GPU; `mig=False` to full-GPU handles, `mig=True`
        to MIG handles; `times` to the next N matching calls (None: forever).
        """
        self.rules.append(_Rule(name, error, gpu, mig, times))

    def heal(self, name: str | None = None) -> None:
        self.rules = [r for r in self.rules if name is not None and r.name != name]

    def install(self) -> FakeNVML:
        sys.modules["pynvml"] = self
        return self

    # --- plumbing -------------------------------------------------------------------

    def _enter(self, name: str, handle: FakeHandle | None = None, *, symbol: str = "") -> None:
        self.calls[name] += 1
        if not name.startswith("nvmlInit") and not self.initialized:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)
        for rule in self.rules:
            if rule.name != name or rule.times == 0:
                continue
            if handle is not None:
                if rule.gpu is not None and rule.gpu != handle.gpu:
                    continue
                if rule.mig is not None and rule.mig != (handle.mig is not None):
                    continue
            if rule.times is not None:
                rule.times -= 1
            if isinstance(rule.error, int):
                raise NVMLError(rule.error)
            raise rule.error
        if (symbol or name) in self.missing:
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)

    def _gpu(self, handle: FakeHandle) -> FakeGPU:
        return self.gpus[handle.gpu]

    def _mig(self, handle: FakeHandle) -> FakeMig:
        assert handle.mig is not None
        mig = self.gpus[handle.gpu].migs[handle.mig]
        assert mig is not None
        return mig

    # --- system ---------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialized -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._enter("nvmlSystemGetNVMLVersion")
        return self.nvml_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return self.cuda_driver_version

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        self._enter("nvmlSystemGetProcessName")
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._enter("nvmlDeviceGetHandleByIndex", FakeHandle(index))
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return FakeHandle(index)

    # --- static device info ---------------------------------------------------------

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:
        self._enter("nvmlDeviceGetUUID", handle)
        return self._mig(handle).uuid if handle.mig is not None else self._gpu(handle).uuid

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:
        self._enter("nvmlDeviceGetName", handle)
        return self._mig(handle).name if handle.mig is not None else self._gpu(handle).name

    # --- memory and sensors ---------------------------------------------------------

    def nvmlDeviceGetMemoryInfo(
        self, handle: FakeHandle, version: int | None = None
    ) -> nvmlFriendlyObject:
        src: FakeGPU | FakeMig = self._mig(handle) if handle.mig is not None else self._gpu(handle)
        free = src.total - src.used - src.reserved
        if not version:
            self._enter("nvmlDeviceGetMemoryInfo", handle)
            # v1: used includes driver-reserved memory.
            return nvmlFriendlyObject(
                {"total": src.total, "free": free, "used": src.used + src.reserved}
            )
        self._enter("nvmlDeviceGetMemoryInfo_v2", handle)
        if version != nvmlMemory_v2:
            raise NVMLError(NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        return nvmlFriendlyObject(
            {
                "version": version,
                "total": src.total,
                "reserved": src.reserved,
                "free": free,
                "used": src.used,
            }
        )

    def nvmlDeviceGetUtilizationRates(self, handle: FakeHandle) -> nvmlFriendlyObject:
        self._enter("nvmlDeviceGetUtilizationRates", handle)
        g = self._gpu(handle)
        return nvmlFriendlyObject({"gpu": g.util_gpu, "memory": g.util_memory})

    def nvmlDeviceGetTemperatureV(
        self, handle: FakeHandle, sensor: int, version: int = nvmlTemperature_v1
    ) -> int:
        self._enter("nvmlDeviceGetTemperatureV", handle)
        if version != nvmlTemperature_v1:
            raise NVMLError(NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        return self._gpu(handle).temperature

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:
        self._enter("nvmlDeviceGetTemperature", handle)
        return self._gpu(handle).temperature

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetPowerUsage", handle)
        return self._gpu(handle).power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetEnforcedPowerLimit", handle)
        return self._gpu(handle).power_limit_mw

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, clock_type: int) -> int:
        self._enter("nvmlDeviceGetClockInfo", handle)
        g = self._gpu(handle)
        if clock_type == NVML_CLOCK_SM:
            return g.sm_clock
        if clock_type == NVML_CLOCK_MEM:
            return g.mem_clock
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)

    def nvmlDeviceGetPcieThroughput(self, handle: FakeHandle, counter: int) -> int:
        self._enter("nvmlDeviceGetPcieThroughput", handle)
        g = self._gpu(handle)
        if counter == NVML_PCIE_UTIL_TX_BYTES:
            return g.pcie_tx_kb
        if counter == NVML_PCIE_UTIL_RX_BYTES:
            return g.pcie_rx_kb
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)

    # --- MIG ------------------------------------------------------------------------

    def nvmlDeviceGetMigMode(self, handle: FakeHandle) -> list[int]:
        self._enter("nvmlDeviceGetMigMode", handle)
        mode = self._gpu(handle).mig_mode
        if mode is None or handle.mig is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount", handle)
        if self._gpu(handle).mig_mode is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeHandle, index: int) -> FakeHandle:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        g = self._gpu(handle)
        if g.mig_mode != NVML_DEVICE_MIG_ENABLE:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if index >= len(g.migs) or g.migs[index] is None:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return FakeHandle(handle.gpu, index)

    def nvmlDeviceGetGpuInstanceId(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", handle)
        if handle.mig is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self._mig(handle).gpu_instance_id

    def nvmlDeviceGetComputeInstanceId(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetComputeInstanceId", handle)
        if handle.mig is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self._mig(handle).compute_instance_id

    # --- process lists --------------------------------------------------------------

    def _procs(self, name: str, handle: FakeHandle, which: str) -> list[nvmlFriendlyObject]:
        self._enter(name, handle)
        g = self._gpu(handle)
        procs: list[FakeProc] = getattr(g, which)
        if handle.mig is not None:
            mig = self._mig(handle)
            procs = [p for p in procs if p.gpu_instance_id == mig.gpu_instance_id]
        return [
            nvmlFriendlyObject(
                {
                    "pid": p.pid,
                    # The real wrapper turns NVML_VALUE_NOT_AVAILABLE into None.
                    "usedGpuMemory": p.used,
                    "gpuInstanceId": p.gpu_instance_id,
                    "computeInstanceId": p.compute_instance_id,
                }
            )
            for p in procs
        ]

    @staticmethod
    def _unversioned(name: str, v3: Any, handle: FakeHandle) -> list[Any]:
        """pynvml's @throwOnVersionMismatch: a missing _v3 symbol becomes
        NVMLLibraryMismatchError, which is not an NVMLError."""
        try:
            result: list[Any] = v3(handle)
        except error_class(NVML_ERROR_FUNCTION_NOT_FOUND):
            raise NVMLLibraryMismatchError(
                "Unversioned function called and the pyNVML version does not match the NVML "
                "lib version. Either use matching pyNVML and NVML lib versions or use a "
                f"versioned function such as {name}_v2"
            ) from None
        return result

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeHandle) -> list[Any]:
        return self._unversioned(
            "nvmlDeviceGetComputeRunningProcesses",
            self.nvmlDeviceGetComputeRunningProcesses_v3,
            handle,
        )

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: FakeHandle) -> list[Any]:
        return self._unversioned(
            "nvmlDeviceGetGraphicsRunningProcesses",
            self.nvmlDeviceGetGraphicsRunningProcesses_v3,
            handle,
        )

    def nvmlDeviceGetMPSComputeRunningProcesses(self, handle: FakeHandle) -> list[Any]:
        return self._unversioned(
            "nvmlDeviceGetMPSComputeRunningProcesses",
            self.nvmlDeviceGetMPSComputeRunningProcesses_v3,
            handle,
        )

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: FakeHandle) -> list[Any]:
        return self._procs("nvmlDeviceGetComputeRunningProcesses_v3", handle, "compute")

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: FakeHandle) -> list[Any]:
        return self._procs("nvmlDeviceGetComputeRunningProcesses_v2", handle, "compute")

    def nvmlDeviceGetGraphicsRunningProcesses_v3(self, handle: FakeHandle) -> list[Any]:
        return self._procs("nvmlDeviceGetGraphicsRunningProcesses_v3", handle, "graphics")

    def nvmlDeviceGetGraphicsRunningProcesses_v2(self, handle: FakeHandle) -> list[Any]:
        return self._procs("nvmlDeviceGetGraphicsRunningProcesses_v2", handle, "graphics")

    def nvmlDeviceGetMPSComputeRunningProcesses_v3(self, handle: FakeHandle) -> list[Any]:
        return self._procs("nvmlDeviceGetMPSComputeRunningProcesses_v3", handle, "mps")

    def nvmlDeviceGetMPSComputeRunningProcesses_v2(self, handle: FakeHandle) -> list[Any]:
        return self._procs("nvmlDeviceGetMPSComputeRunningProcesses_v2", handle, "mps")


def error_class(code: int) -> type[NVMLError]:
    return NVMLError._valClassMapping[code]
