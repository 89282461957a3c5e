"""Prometheus metric families built from a Frame, and the collector that serves them.

The families are made at scrape time from the engine's latest Frame (no NVML
call per scrape), so series of ended processes are gone as soon as the process
leaves the frame. The metric table lives in `vramtop.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric as PromMetric

from vramtop import __version__
from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.metrics import (
    EXPORTER_METRICS,
    GPU_METRICS,
    PROCESS_METRICS,
    Kind,
    Metric,
    gpu_host,
    process_container,
    process_framework,
    process_name,
)
from vramtop.model import DeviceState
from vramtop.security import sanitize
from vramtop.units import MIB


def _family(m: Metric) -> GaugeMetricFamily | CounterMetricFamily:
    if m.kind is Kind.COUNTER:
        return CounterMetricFamily(m.name, m.help, labels=list(m.labels))
    return GaugeMetricFamily(m.name, m.help, labels=list(m.labels))


def _add(
    fam: GaugeMetricFamily | CounterMetricFamily, m: Metric, labels: list[str], value: Any
) -> None:
    if value is None:
        return
    if m.states:
        for state in m.states:
            fam.add_metric([*labels, state], 1.0 if state == value else 0.0)
    elif isinstance(value, (int, float)):
        fam.add_metric(labels, float(value))


def exported_processes(
    gpu: GPUView, *, max_processes: int, include_others: bool
) -> tuple[ProcessView, ...]:
    """The processes that get series: visible ones, largest VRAM first, at most the cap."""
    procs = [pv for pv in gpu.processes if include_others or pv.own]
    procs.sort(key=lambda pv: -(pv.process.used_bytes or 0))
    return tuple(procs[:max_processes])


def gpu_labels(frame: Frame, gpu: GPUView) -> list[str]:
    d = gpu.device
    return [sanitize(gpu_host(frame, gpu)), str(d.index), sanitize(d.uuid), sanitize(d.name)]


def process_labels(frame: Frame, gpu: GPUView, pv: ProcessView) -> list[str]:
    return [
        *gpu_labels(frame, gpu)[:3],
        str(pv.process.pid),
        sanitize(process_name(pv)),
        sanitize(process_framework(pv)),
        sanitize(process_container(pv)),
    ]


def frame_families(
    frame: Frame | None,
    *,
    max_processes: int = 64,
    include_others: bool = True,
    dcgm_names: bool = False,
) -> list[PromMetric]:
    """Every metric family for one frame (empty families are still declared)."""
    info = GaugeMetricFamily("vramtop_build_info", "vramtop version.", labels=["version"])
    info.add_metric([__version__], 1.0)
    out: list[PromMetric] = [info]
    if frame is None:
        return out
    gpu_fams = [(m, _family(m)) for m in GPU_METRICS]
    proc_fams = [(m, _family(m)) for m in PROCESS_METRICS]
    for gpu in frame.gpus:
        labels = gpu_labels(frame, gpu)
        for m, fam in gpu_fams:
            assert m.gpu_value is not None
            _add(fam, m, labels, m.gpu_value(frame, gpu))
        if gpu.device.state is DeviceState.LOST:
            continue
        for pv in exported_processes(
            gpu, max_processes=max_processes, include_others=include_others
        ):
            plabels = process_labels(frame, gpu, pv)
            for m, fam in proc_fams:
                assert m.process_value is not None
                _add(fam, m, plabels, m.process_value(pv))
    out.extend(fam for _, fam in gpu_fams)
    out.extend(fam for _, fam in proc_fams)
    for m in EXPORTER_METRICS:
        fam = _family(m)
        assert m.frame_value is not None
        _add(fam, m, [], m.frame_value(frame))
        out.append(fam)
    if dcgm_names:
        out.extend(dcgm_families(frame))
    return out


#: dcgm-exporter's labels (released versions spell the host label `Hostname`).
DCGM_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname")


def dcgm_families(frame: Frame) -> list[PromMetric]:
    """DCGM_FI_DEV_FB_{USED,FREE,RESERVED} in MiB with dcgm-exporter's labels."""
    fams = {
        "used": GaugeMetricFamily(
            "DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", labels=list(DCGM_LABELS)
        ),
        "free": GaugeMetricFamily(
            "DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", labels=list(DCGM_LABELS)
        ),
        "reserved": GaugeMetricFamily(
            "DCGM_FI_DEV_FB_RESERVED",
            "Framebuffer memory reserved (in MiB).",
            labels=list(DCGM_LABELS),
        ),
    }
    for gpu in frame.gpus:
        d = gpu.device
        if d.state is DeviceState.LOST:
            continue
        labels = [
            str(d.index),
            sanitize(d.uuid),
            f"nvidia{d.index}",
            sanitize(d.name),
            sanitize(gpu_host(frame, gpu)),
        ]
        for key, value in (
            ("used", d.used_bytes),
            ("free", d.free_bytes),
            ("reserved", d.reserved_bytes),
        ):
            if value is not None:
                fams[key].add_metric(labels, float(value // MIB))
    return list(fams.values())


class FrameCollector:
    """A prometheus_client collector reading the latest frame at scrape time."""

    def __init__(
        self,
        latest: Callable[[], Frame | None],
        *,
        max_processes: int = 64,
        include_others: bool = True,
        dcgm_names: bool = False,
    ) -> None:
        self._latest = latest
        self.max_processes = max_processes
        self.include_others = include_others
        self.dcgm_names = dcgm_names

    def collect(self) -> Iterator[PromMetric]:
        yield from frame_families(
            self._latest(),
            max_processes=self.max_processes,
            include_others=self.include_others,
            dcgm_names=self.dcgm_names,
        )

    def describe(self) -> Iterable[PromMetric]:
        return []
