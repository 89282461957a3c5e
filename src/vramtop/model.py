"""Frozen, slotted data that crosses module and thread boundaries.

Bytes and seconds everywhere; `None` means unknown, never zero. This module
imports nothing of vramtop's.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple, TypeVar

_T = TypeVar("_T")


def positional_factory(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for a frozen, slotted dataclass that takes every field, in order,
    positionally: about three times cheaper than the class's own `__init__`, which
    goes through `object.__setattr__` once per field. For hot loops (the engine
    builds several objects per process per sample). The object is the same one
    `cls(...)` makes; classes with `__post_init__`, `init=False` fields or default
    factories are refused.
    """
    if hasattr(cls, "__post_init__") or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: not a slotted dataclass without __post_init__")
    names = []
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.init or f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: init=False or a default factory")
        names.append(f.name)
    # Each slot's descriptor sets it directly, as dataclasses' own code does for
    # frozen classes through object.__setattr__; generated like dataclasses' __init__.
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    namespace.update({f"_set_{n}": getattr(cls, n).__set__ for n in names})
    body = "".join(f"    _set_{n}(obj, {n})\n" for n in names)
    source = f"def make({', '.join(names)}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(source, namespace)
    make: Callable[..., _T] = namespace["make"]
    make.__qualname__ = make.__name__ = f"new_{cls.__name__}"
    return make


class ProcessIdentity(NamedTuple):
    """A process is its PID plus its start time (field 22 of /proc/<pid>/stat).

    PIDs are recycled; the start time tells a new process from an old one.
    `starttime` is None when it cannot be read (another PID namespace, a
    process that already exited). A named tuple: it keys every per-process
    table each sample, and a tuple hashes in C.
    """

    pid: int
    starttime: int | None


class ProcessKind(str, enum.Enum):
    COMPUTE = "compute"
    GRAPHICS = "graphics"
    BOTH = "compute+graphics"


class DeviceState(str, enum.Enum):
    OK = "ok"
    DEGRADED = "degraded"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class GPUProcess:
    pid: int
    starttime: int | None
    used_bytes: int | None
    kind: ProcessKind = ProcessKind.COMPUTE
    name: str = ""
    cmdline: tuple[str, ...] = ()
    uid: int | None = None
    mps: bool = False
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    #: (pid, starttime), made once: it keys every per-process table each sample.
    identity: ProcessIdentity = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity", ProcessIdentity(self.pid, self.starttime))


@dataclass(frozen=True, slots=True)
class MigInstance:
    """One MIG instance of a GPU, with its own memory."""

    gpu_instance_id: int
    compute_instance_id: int | None
    uuid: str
    name: str
    total_bytes: int | None
    used_bytes: int | None
    free_bytes: int | None


@dataclass(frozen=True, slots=True)
class GPUDevice:
    index: int
    uuid: str
    name: str
    total_bytes: int | None
    used_bytes: int | None
    free_bytes: int | None
    reserved_bytes: int | None = None
    util_gpu_pct: int | None = None
    util_memory_pct: int | None = None
    temperature_c: int | None = None
    power_watts: float | None = None
    power_limit_watts: float | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    pcie_tx_bytes_per_s: int | None = None
    pcie_rx_bytes_per_s: int | None = None
    processes: tuple[GPUProcess, ...] = ()
    mig_instances: tuple[MigInstance, ...] = ()
    state: DeviceState = DeviceState.OK
    error: str | None = None
    host: str | None = None

    @property
    def key(self) -> str:
        """Stable key for per-GPU state: the UUID, qualified by host for remote GPUs."""
        return f"{self.host}/{self.uuid}" if self.host else self.uuid


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """One sample of every GPU, as a backend saw it.

    `t` is seconds on the backend's clock (a recording's time for replay);
    `unix_time` is wall-clock time of the sample.
    """

    t: float
    unix_time: float
    devices: tuple[GPUDevice, ...]


@dataclass(frozen=True, slots=True)
class BackendInfo:
    source: str
    driver_version: str | None = None
    nvml_version: str | None = None
    cuda_driver_version: int | None = None
    hostname: str | None = None


# --- analysis results ---------------------------------------------------------------


class Phase(str, enum.Enum):
    STABLE = "stable"
    GROWING = "growing"
    SHRINKING = "shrinking"
    VOLATILE = "volatile"


@dataclass(frozen=True, slots=True)
class PhaseState:
    phase: Phase
    duration_samples: int
    rate_bytes_per_s: float
    confidence: float
    variance: float = 0.0


STABLE_UNKNOWN = PhaseState(Phase.STABLE, 0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class OOMPrediction:
    """Time to GPU out-of-memory as a range, never a point.

    `capped` means the range starts beyond the one-hour horizon ("OOM in >1h").
    `alert` is set when the low end is within the warning horizon and the
    confidence clears the configured minimum.
    """

    seconds_low: float
    seconds_high: float
    confidence: float
    rate_low_bytes_per_s: float
    rate_high_bytes_per_s: float
    capped: bool = False
    alert: bool = False


class Verdict(str, enum.Enum):
    OK = "ok"
    TIGHT = "tight"
    OOM = "oom"


@dataclass(frozen=True, slots=True)
class SurvivalPrediction:
    verdict: Verdict
    estimated_peak_bytes: int | None
    multiplier: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class MemoryBreakdown:
    """Estimate of how a process's VRAM splits into weights and the rest."""

    weights_bytes: int | None
    dynamic_bytes: int | None
    context_bytes: int | None
    is_estimate: bool = True


# --- enrichment results -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelFile:
    path: str
    size_bytes: int | None
    mapped: bool = False


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    runtime: str
    container_id: str | None = None
    pod_uid: str | None = None
    source: str = "cgroup"

    @property
    def short_id(self) -> str | None:
        return self.container_id[:12] if self.container_id else None


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model an inference server reports as loaded (Ollama /api/ps and the like)."""

    name: str
    size_bytes: int | None = None
    size_vram_bytes: int | None = None
    context_length: int | None = None
    expires_at: str | None = None
    #: Bytes held in system memory instead of VRAM (size - size_vram); > 0 is a partial CPU offload.
    offloaded_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    """What an inference server said about itself on its own metrics endpoint."""

    server: str
    port: int | None
    ok: bool
    error: str | None = None
    kv_cache_usage: float | None = None
    kv_capacity_tokens: int | None = None
    kv_used_tokens: int | None = None
    requests_running: int | None = None
    requests_waiting: int | None = None
    prefix_cache_hit_rate: float | None = None
    num_gpu_blocks: int | None = None
    block_size: int | None = None
    gpu_memory_utilization: float | None = None
    busy_slots: int | None = None
    total_slots: int | None = None
    context_per_slot: int | None = None
    models: tuple[LoadedModel, ...] = ()
    scraped_at: float | None = None
    #: The process that owns the scraped port (an ancestor of a worker, e.g. vLLM's API server).
    owner_pid: int | None = None


@dataclass(frozen=True, slots=True)
class DeepStats:
    """Allocator statistics the process reported about itself (deep mode)."""

    framework: str
    cuda_device: int | None
    allocated_bytes: int
    reserved_bytes: int
    active_bytes: int
    allocated_peak_bytes: int = 0
    reserved_peak_bytes: int = 0
    num_allocs: int = 0
    segments: int = 0
    ts: float = 0.0
    # Deep-mode protocol v1 extras; None when the reporter did not send them.
    active_peak_bytes: int | None = None
    inactive_split_bytes: int | None = None  # free but non-releasable (split blocks)
    num_ooms: int | None = None  # OOMs the allocator raised in this process so far
    num_alloc_retries: int | None = None  # cudaMalloc failures that forced a cache flush

    @property
    def fragmentation_bytes(self) -> int:
        return max(0, self.reserved_bytes - self.allocated_bytes)


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """Everything enrichment learned about one process identity."""

    identity: ProcessIdentity
    readable: bool = True
    user: str | None = None
    name: str | None = None
    cmdline: tuple[str, ...] = ()
    framework: str | None = None
    launcher: str | None = None
    model_files: tuple[ModelFile, ...] = ()
    weights_bytes: int | None = None
    container: ContainerInfo | None = None
    mps_client: bool = False
    server: ServerMetrics | None = None
    deep: DeepStats | None = None
    notes: tuple[str, ...] = field(default=())
    uid: int | None = None
    nspid: tuple[int, ...] = ()
