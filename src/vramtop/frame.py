"""Frame: one sample plus everything computed from it, immutable.

Every consumer (TUI, --once, JSON stream, CSV, Prometheus, webhooks) reads
frames, so what they show cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vramtop.model import (
    STABLE_UNKNOWN,
    GPUDevice,
    GPUProcess,
    MemoryBreakdown,
    OOMPrediction,
    PhaseState,
    ProcessIdentity,
    ProcessInfo,
    SurvivalPrediction,
    positional_factory,
)


@dataclass(frozen=True, slots=True)
class ProcessView:
    process: GPUProcess
    gpu_index: int
    gpu_uuid: str
    phase: PhaseState = STABLE_UNKNOWN
    share: float | None = None
    own: bool = False
    peak_bytes: int | None = None
    info: ProcessInfo | None = None
    survival: SurvivalPrediction | None = None
    breakdown: MemoryBreakdown | None = None

    @property
    def identity(self) -> ProcessIdentity:
        return self.process.identity

    @property
    def key(self) -> str:
        """Stable row key: GPU UUID, PID and start time."""
        return f"{self.gpu_uuid}:{self.process.pid}:{self.process.starttime}"


#: ProcessView with every field, positionally: the engine makes one per process per sample.
new_process_view: Callable[
    [
        GPUProcess,
        int,
        str,
        PhaseState,
        float | None,
        bool,
        int | None,
        ProcessInfo | None,
        SurvivalPrediction | None,
        MemoryBreakdown | None,
    ],
    ProcessView,
] = positional_factory(ProcessView)


@dataclass(frozen=True, slots=True)
class GPUView:
    device: GPUDevice
    phase: PhaseState = STABLE_UNKNOWN
    oom: OOMPrediction | None = None
    processes: tuple[ProcessView, ...] = ()
    timeline: tuple[float, ...] = ()
    temp_warning: bool = False

    @property
    def used_ratio(self) -> float | None:
        d = self.device
        if d.used_bytes is None or not d.total_bytes:
            return None
        return d.used_bytes / d.total_bytes


@dataclass(frozen=True, slots=True)
class ReplayStatus:
    path: str
    position_s: float
    duration_s: float
    speed: float
    paused: bool
    at_end: bool


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    t: float
    unix_time: float
    source: str
    hostname: str
    gpus: tuple[GPUView, ...]
    notices: tuple[str, ...] = ()
    sample_duration_s: float = 0.0
    errors_total: int = 0
    replay: ReplayStatus | None = None

    def process(self, identity: ProcessIdentity) -> ProcessView | None:
        for gpu in self.gpus:
            for pv in gpu.processes:
                if pv.identity == identity:
                    return pv
        return None

    def processes_of_pid(self, pid: int) -> list[ProcessView]:
        return [pv for gpu in self.gpus for pv in gpu.processes if pv.process.pid == pid]
