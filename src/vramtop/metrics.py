"""The metric table, declared once: name, unit, help, labels and extractor.

It feeds the Prometheus exporter (`export/prometheus_families.py`), the CSV header and
rows (`export/csv.py`), docs/export.md and the help screen. Every value is in
base units (bytes, seconds, ratios 0..1, watts, celsius); an unknown value is
`None` and is left out of the output, never written as 0.

A metric is either numeric (its extractor returns a float) or a state set
(`states` non-empty: the extractor returns the current state, exported as one
series per state with value 1 for the current one and 0 for the others).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.model import DeviceState, Phase, Verdict

Value = float | str | None


class Scope(str, enum.Enum):
    GPU = "gpu"
    PROCESS = "process"
    EXPORTER = "exporter"


class Kind(str, enum.Enum):
    GAUGE = "gauge"
    COUNTER = "counter"


#: Identity labels of every per-GPU series (`name` is the GPU's model name).
GPU_LABELS: tuple[str, ...] = ("hostname", "gpu", "uuid", "name")
#: Identity labels of every per-process series (`name` is the process name).
PROCESS_LABELS: tuple[str, ...] = (
    "hostname",
    "gpu",
    "uuid",
    "pid",
    "name",
    "framework",
    "container",
)

PHASES: tuple[str, ...] = tuple(p.value for p in Phase)
VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric. Exactly one of the three extractors is set, matching `scope`."""

    name: str
    scope: Scope
    unit: str
    help: str
    kind: Kind = Kind.GAUGE
    csv: str | None = None
    states: tuple[str, ...] = ()
    state_label: str = ""
    gpu_value: Callable[[Frame, GPUView], Value] | None = None
    process_value: Callable[[ProcessView], Value] | None = None
    frame_value: Callable[[Frame], Value] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        base = {Scope.GPU: GPU_LABELS, Scope.PROCESS: PROCESS_LABELS, Scope.EXPORTER: ()}[
            self.scope
        ]
        return (*base, self.state_label) if self.states else base


def _ratio(pct: int | None) -> float | None:
    return None if pct is None else pct / 100.0


def _mhz(mhz: int | None) -> float | None:
    return None if mhz is None else mhz * 1e6


def _flag(b: bool) -> float:
    return 1.0 if b else 0.0


def _opt(x: int | float | None) -> float | None:
    return None if x is None else float(x)


def _gpu(
    name: str,
    unit: str,
    help_: str,
    csv: str | None,
    fn: Callable[[Frame, GPUView], Value],
    *,
    states: tuple[str, ...] = (),
    state_label: str = "",
) -> Metric:
    return Metric(
        name, Scope.GPU, unit, help_, csv=csv, states=states, state_label=state_label, gpu_value=fn
    )


def _proc(
    name: str,
    unit: str,
    help_: str,
    csv: str | None,
    fn: Callable[[ProcessView], Value],
    *,
    states: tuple[str, ...] = (),
    state_label: str = "",
) -> Metric:
    return Metric(
        name,
        Scope.PROCESS,
        unit,
        help_,
        csv=csv,
        states=states,
        state_label=state_label,
        process_value=fn,
    )


def _server_value(pv: ProcessView, field: str) -> float | None:
    server = pv.info.server if pv.info else None
    if server is None or not server.ok:
        return None
    value = getattr(server, field)
    return None if value is None else float(value)


def _deep(pv: ProcessView) -> tuple[float, float] | None:
    deep = pv.info.deep if pv.info else None
    return None if deep is None else (float(deep.allocated_bytes), float(deep.reserved_bytes))


def _oom_low(_f: Frame, g: GPUView) -> float | None:
    return g.oom.seconds_low if g.oom else None


def _oom_high(_f: Frame, g: GPUView) -> float | None:
    return g.oom.seconds_high if g.oom else None


GPU_METRICS: tuple[Metric, ...] = (
    _gpu(
        "vramtop_gpu_memory_total_bytes",
        "bytes",
        "Total GPU memory.",
        "total_bytes",
        lambda f, g: _opt(g.device.total_bytes),
    ),
    _gpu(
        "vramtop_gpu_memory_used_bytes",
        "bytes",
        "GPU memory in use (NVML memory info; excludes driver-reserved memory).",
        "used_bytes",
        lambda f, g: _opt(g.device.used_bytes),
    ),
    _gpu(
        "vramtop_gpu_memory_reserved_bytes",
        "bytes",
        "GPU memory reserved by the driver.",
        "reserved_bytes",
        lambda f, g: _opt(g.device.reserved_bytes),
    ),
    _gpu(
        "vramtop_gpu_memory_free_bytes",
        "bytes",
        "Free GPU memory.",
        "free_bytes",
        lambda f, g: _opt(g.device.free_bytes),
    ),
    _gpu(
        "vramtop_gpu_utilization_ratio",
        "ratio",
        "Device-wide GPU utilization (0..1) over NVML's last sample period.",
        "util_ratio",
        lambda f, g: _ratio(g.device.util_gpu_pct),
    ),
    _gpu(
        "vramtop_gpu_memory_bandwidth_utilization_ratio",
        "ratio",
        "Share of time device memory was read or written (0..1).",
        "mem_util_ratio",
        lambda f, g: _ratio(g.device.util_memory_pct),
    ),
    _gpu(
        "vramtop_gpu_temperature_celsius",
        "celsius",
        "GPU temperature.",
        "temperature_c",
        lambda f, g: _opt(g.device.temperature_c),
    ),
    _gpu(
        "vramtop_gpu_power_watts",
        "watts",
        "GPU power draw.",
        "power_w",
        lambda f, g: _opt(g.device.power_watts),
    ),
    _gpu(
        "vramtop_gpu_power_limit_watts",
        "watts",
        "GPU power limit.",
        "power_limit_w",
        lambda f, g: _opt(g.device.power_limit_watts),
    ),
    _gpu(
        "vramtop_gpu_sm_clock_hertz",
        "hertz",
        "Current SM (graphics) clock.",
        "sm_clock_hz",
        lambda f, g: _mhz(g.device.sm_clock_mhz),
    ),
    _gpu(
        "vramtop_gpu_memory_clock_hertz",
        "hertz",
        "Current memory clock.",
        "mem_clock_hz",
        lambda f, g: _mhz(g.device.memory_clock_mhz),
    ),
    _gpu(
        "vramtop_gpu_pcie_transmit_bytes_per_second",
        "bytes_per_second",
        "PCIe throughput from the GPU (NVML's 20 ms window, read at most every 10 s).",
        "pcie_tx_bytes_per_s",
        lambda f, g: _opt(g.device.pcie_tx_bytes_per_s),
    ),
    _gpu(
        "vramtop_gpu_pcie_receive_bytes_per_second",
        "bytes_per_second",
        "PCIe throughput to the GPU (NVML's 20 ms window, read at most every 10 s).",
        "pcie_rx_bytes_per_s",
        lambda f, g: _opt(g.device.pcie_rx_bytes_per_s),
    ),
    _gpu(
        "vramtop_gpu_up",
        "",
        "1 while the GPU answers, 0 when it is lost or unreachable.",
        None,
        lambda f, g: _flag(g.device.state is not DeviceState.LOST),
    ),
    _gpu(
        "vramtop_gpu_processes",
        "",
        "Processes on the GPU (all of them, also those beyond the per-process series cap).",
        "processes",
        lambda f, g: None if g.device.state is DeviceState.LOST else float(len(g.device.processes)),
    ),
    _gpu(
        "vramtop_gpu_memory_rate_bytes_per_second",
        "bytes_per_second",
        "Smoothed rate of change of used GPU memory.",
        "rate_bytes_per_s",
        lambda f, g: g.phase.rate_bytes_per_s,
    ),
    _gpu(
        "vramtop_gpu_phase",
        "",
        "Memory phase of the GPU: 1 for the current phase.",
        "phase",
        lambda f, g: g.phase.phase.value,
        states=PHASES,
        state_label="phase",
    ),
    _gpu(
        "vramtop_gpu_phase_confidence_ratio",
        "ratio",
        "Confidence of the GPU's phase (0..1).",
        "phase_confidence",
        lambda f, g: g.phase.confidence,
    ),
    _gpu(
        "vramtop_oom_eta_low_seconds",
        "seconds",
        "Predicted time to out-of-memory, fastest plausible growth (absent: no prediction).",
        "oom_low_s",
        _oom_low,
    ),
    _gpu(
        "vramtop_oom_eta_high_seconds",
        "seconds",
        "Predicted time to out-of-memory, slowest plausible growth (absent: no prediction).",
        "oom_high_s",
        _oom_high,
    ),
    _gpu(
        "vramtop_oom_confidence_ratio",
        "ratio",
        "Confidence of the OOM prediction (0..1).",
        "oom_confidence",
        lambda f, g: g.oom.confidence if g.oom else None,
    ),
    _gpu(
        "vramtop_oom_alert",
        "",
        "1 while an OOM is predicted within alerts.oom_warning_seconds with enough confidence.",
        "oom_alert",
        lambda f, g: _flag(bool(g.oom and g.oom.alert)),
    ),
    _gpu(
        "vramtop_gpu_temperature_warning",
        "",
        "1 while the temperature is at or above alerts.temp_warning_celsius.",
        "temp_warning",
        lambda f, g: _flag(g.temp_warning),
    ),
)


PROCESS_METRICS: tuple[Metric, ...] = (
    _proc(
        "vramtop_process_gpu_memory_used_bytes",
        "bytes",
        "GPU memory used by the process.",
        "used_bytes",
        lambda p: _opt(p.process.used_bytes),
    ),
    _proc(
        "vramtop_process_gpu_memory_share_ratio",
        "ratio",
        "The process's share of the GPU's total memory (0..1).",
        "share",
        lambda p: p.share,
    ),
    _proc(
        "vramtop_process_gpu_memory_peak_bytes",
        "bytes",
        "Highest GPU memory seen for the process in the kept history.",
        "peak_bytes",
        lambda p: _opt(p.peak_bytes),
    ),
    _proc(
        "vramtop_process_gpu_memory_rate_bytes_per_second",
        "bytes_per_second",
        "Smoothed rate of change of the process's GPU memory.",
        "rate_bytes_per_s",
        lambda p: p.phase.rate_bytes_per_s,
    ),
    _proc(
        "vramtop_process_phase",
        "",
        "Memory phase of the process: 1 for the current phase.",
        "phase",
        lambda p: p.phase.phase.value,
        states=PHASES,
        state_label="phase",
    ),
    _proc(
        "vramtop_process_phase_confidence_ratio",
        "ratio",
        "Confidence of the process's phase (0..1).",
        "phase_confidence",
        lambda p: p.phase.confidence,
    ),
    _proc(
        "vramtop_process_survival",
        "",
        "Survival verdict (an estimate): 1 for the current verdict.",
        "survival",
        lambda p: p.survival.verdict.value if p.survival else None,
        states=VERDICTS,
        state_label="verdict",
    ),
    _proc(
        "vramtop_process_estimated_peak_bytes",
        "bytes",
        "Estimated peak GPU memory of the process (an estimate).",
        "estimated_peak_bytes",
        lambda p: _opt(p.survival.estimated_peak_bytes) if p.survival else None,
    ),
    _proc(
        "vramtop_process_kv_cache_usage_ratio",
        "ratio",
        "KV-cache usage reported by the inference server (0..1).",
        "kv_cache_usage",
        lambda p: _server_value(p, "kv_cache_usage"),
    ),
    _proc(
        "vramtop_process_kv_cache_capacity_tokens",
        "tokens",
        "KV-cache pool size reported by the inference server.",
        "kv_capacity_tokens",
        lambda p: _server_value(p, "kv_capacity_tokens"),
    ),
    _proc(
        "vramtop_process_kv_cache_used_tokens",
        "tokens",
        "KV-cache tokens in use reported by the inference server.",
        "kv_used_tokens",
        lambda p: _server_value(p, "kv_used_tokens"),
    ),
    _proc(
        "vramtop_process_server_requests_running",
        "",
        "Requests running, reported by the inference server.",
        "requests_running",
        lambda p: _server_value(p, "requests_running"),
    ),
    _proc(
        "vramtop_process_server_requests_waiting",
        "",
        "Requests waiting, reported by the inference server.",
        "requests_waiting",
        lambda p: _server_value(p, "requests_waiting"),
    ),
    _proc(
        "vramtop_process_allocator_allocated_bytes",
        "bytes",
        "Memory allocated by the framework's allocator (deep mode).",
        "deep_allocated_bytes",
        lambda p: d[0] if (d := _deep(p)) else None,
    ),
    _proc(
        "vramtop_process_allocator_reserved_bytes",
        "bytes",
        "Memory reserved by the framework's allocator (deep mode).",
        "deep_reserved_bytes",
        lambda p: d[1] if (d := _deep(p)) else None,
    ),
)


EXPORTER_METRICS: tuple[Metric, ...] = (
    Metric(
        "vramtop_sample_duration_seconds",
        Scope.EXPORTER,
        "seconds",
        "Time the last sample took (backend read, analysis, enrichment).",
        frame_value=lambda f: f.sample_duration_s,
    ),
    Metric(
        "vramtop_last_sample_timestamp_seconds",
        Scope.EXPORTER,
        "seconds",
        "Unix time of the last sample.",
        frame_value=lambda f: f.unix_time,
    ),
    Metric(
        "vramtop_samples_total",
        Scope.EXPORTER,
        "",
        "Samples taken since start.",
        kind=Kind.COUNTER,
        frame_value=lambda f: float(f.seq),
    ),
    Metric(
        "vramtop_sample_errors_total",
        Scope.EXPORTER,
        "",
        "Failed samples and failed enrichments since start.",
        kind=Kind.COUNTER,
        frame_value=lambda f: float(f.errors_total),
    ),
)

METRICS: tuple[Metric, ...] = GPU_METRICS + PROCESS_METRICS + EXPORTER_METRICS

#: Identity columns of a CSV row, before the metric columns.
CSV_IDENTITY: tuple[str, ...] = (
    "kind",
    "unix_time",
    "t",
    "hostname",
    "gpu",
    "uuid",
    "gpu_name",
    "state",
    "pid",
    "starttime",
    "process_name",
    "framework",
    "container",
)


def csv_metric_columns() -> tuple[str, ...]:
    """Metric columns in table order; a GPU and a process metric may share one."""
    seen: list[str] = []
    for m in METRICS:
        if m.csv and m.csv not in seen:
            seen.append(m.csv)
    return tuple(seen)


CSV_COLUMNS: tuple[str, ...] = CSV_IDENTITY + csv_metric_columns()


def gpu_host(frame: Frame, gpu: GPUView) -> str:
    """The host label of a GPU: its remote host, else the local hostname."""
    return gpu.device.host or frame.hostname


def process_framework(pv: ProcessView) -> str:
    return (pv.info.framework if pv.info else None) or ""


def process_container(pv: ProcessView) -> str:
    info = pv.info
    if info is None or info.container is None:
        return ""
    return info.container.short_id or info.container.runtime


def process_name(pv: ProcessView) -> str:
    return pv.process.name or ((pv.info.name if pv.info else None) or "")


def help_lines() -> list[tuple[str, str, str]]:
    """(name, unit, help) of every metric, for the help screen and docs."""
    return [(m.name, m.unit, m.help) for m in METRICS]
