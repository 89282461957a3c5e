"""The metric table: names, units, labels, and what the extractors read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from export_helpers import GiB, frame, gpu, proc
from vramtop import metrics
from vramtop.metrics import (
    CSV_COLUMNS,
    EXPORTER_METRICS,
    GPU_METRICS,
    METRICS,
    PROCESS_METRICS,
    Kind,
    Scope,
)
from vramtop.model import Phase, ServerMetrics

NAME_RE = re.compile(r"^vramtop_[a-z][a-z0-9_]*$")
UNIT_SUFFIX = {
    "bytes": "_bytes",
    "seconds": "_seconds",
    "ratio": "_ratio",
    "celsius": "_celsius",
    "watts": "_watts",
    "bytes_per_second": "_bytes_per_second",
    "tokens": "_tokens",
    "hertz": "_hertz",
}
DOCS = Path(__file__).parent.parent / "docs" / "export.md"


def test_names_are_unique_prefixed_snake_case() -> None:
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for name in names:
        assert NAME_RE.match(name), name
        assert "__" not in name


@pytest.mark.parametrize("m", METRICS, ids=lambda m: m.name)
def test_unit_is_the_name_suffix_and_counters_end_in_total(m: metrics.Metric) -> None:
    base = m.name.removesuffix("_total") if m.kind is Kind.COUNTER else m.name
    if m.kind is Kind.COUNTER:
        assert m.name.endswith("_total")
    else:
        assert not m.name.endswith("_total")
    if m.unit:
        assert base.endswith(UNIT_SUFFIX[m.unit]), (m.name, m.unit)
    else:
        for suffix in UNIT_SUFFIX.values():
            assert not base.endswith(suffix), (m.name, "has a unit suffix but no unit")
    assert m.help and m.help.endswith(".")


def test_each_metric_has_the_extractor_of_its_scope() -> None:
    for m in GPU_METRICS:
        assert m.scope is Scope.GPU and m.gpu_value and not m.process_value and not m.frame_value
    for m in PROCESS_METRICS:
        assert m.scope is Scope.PROCESS and m.process_value and not m.gpu_value
    for m in EXPORTER_METRICS:
        assert m.scope is Scope.EXPORTER and m.frame_value and not m.gpu_value


def test_labels_carry_identity_and_state_sets_add_their_label() -> None:
    used = next(m for m in GPU_METRICS if m.name == "vramtop_gpu_memory_used_bytes")
    assert used.labels == ("hostname", "gpu", "uuid", "name")
    pmem = next(m for m in PROCESS_METRICS if m.name == "vramtop_process_gpu_memory_used_bytes")
    assert {"hostname", "gpu", "uuid", "pid", "name", "framework", "container"} == set(pmem.labels)
    phase = next(m for m in GPU_METRICS if m.name == "vramtop_gpu_phase")
    assert phase.labels[-1] == "phase"
    assert phase.states == tuple(p.value for p in Phase)


def test_csv_columns_come_from_the_table() -> None:
    assert CSV_COLUMNS[0] == "kind"
    assert len(CSV_COLUMNS) == len(set(CSV_COLUMNS))
    for m in METRICS:
        if m.csv:
            assert m.csv in CSV_COLUMNS
    # a GPU and a process metric of the same meaning share one column
    assert "used_bytes" in CSV_COLUMNS and "phase" in CSV_COLUMNS


def test_extractors_read_base_units_and_unknown_stays_none() -> None:
    server = ServerMetrics(
        server="vllm", port=8000, ok=True, kv_cache_usage=0.25, kv_capacity_tokens=4096
    )
    pv = proc(10, 3 * GiB, phase=Phase.GROWING, framework="vllm", server=server)
    unknown = proc(11, None)
    g = gpu(processes=[pv, unknown], oom_alert=True)
    f = frame(g)
    by = {m.name: m for m in METRICS}

    def gv(name: str) -> object:
        fn = by[name].gpu_value
        assert fn is not None
        return fn(f, g)

    def pvv(name: str, p: object = pv) -> object:
        fn = by[name].process_value
        assert fn is not None
        return fn(p)  # type: ignore[arg-type]

    assert gv("vramtop_gpu_memory_used_bytes") == 10 * GiB
    assert gv("vramtop_gpu_utilization_ratio") == pytest.approx(0.37)
    assert gv("vramtop_oom_alert") == 1.0
    assert gv("vramtop_oom_eta_low_seconds") == 60.0
    assert gv("vramtop_gpu_phase") == "growing"
    assert pvv("vramtop_process_gpu_memory_used_bytes") == 3 * GiB
    assert pvv("vramtop_process_kv_cache_usage_ratio") == 0.25
    assert pvv("vramtop_process_kv_cache_capacity_tokens") == 4096.0
    assert pvv("vramtop_process_gpu_memory_used_bytes", unknown) is None
    assert pvv("vramtop_process_kv_cache_usage_ratio", unknown) is None
    assert pvv("vramtop_process_survival", unknown) is None

    quiet = gpu(used=None, temp_c=None)
    assert by["vramtop_gpu_memory_used_bytes"].gpu_value(f, quiet) is None  # type: ignore[misc]
    assert by["vramtop_gpu_temperature_celsius"].gpu_value(f, quiet) is None  # type: ignore[misc]
    assert by["vramtop_oom_eta_low_seconds"].gpu_value(f, quiet) is None  # type: ignore[misc]
    assert by["vramtop_oom_alert"].gpu_value(f, quiet) == 0.0  # type: ignore[misc]


def test_docs_list_every_metric() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for m in METRICS:
        assert f"`{m.name}`" in text, f"{m.name} missing from docs/export.md"


def test_help_lines_cover_the_table() -> None:
    assert [n for n, _, _ in metrics.help_lines()] == [m.name for m in METRICS]
