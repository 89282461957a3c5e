"""What the widgets say for each kind of data: alerts, badges, detail text, replay marker."""

from __future__ import annotations

from pathlib import PurePath
from unittest import mock

from vramtop.frame import GPUView, ProcessView, ReplayStatus
from vramtop.model import (
    ContainerInfo,
    DeepStats,
    GPUDevice,
    GPUProcess,
    LoadedModel,
    MemoryBreakdown,
    ModelFile,
    OOMPrediction,
    Phase,
    PhaseState,
    ProcessInfo,
    ServerMetrics,
    SurvivalPrediction,
    Verdict,
)
from vramtop.ui.screens.detail import detail_text, phase_history_text, server_lines
from vramtop.ui.state import LayoutMode
from vramtop.ui.widgets import status_bar
from vramtop.ui.widgets.badges import (
    Palette,
    oom_text,
    phase_badge,
    verdict_badge,
)
from vramtop.ui.widgets.gpu_card import gpu_heading, memory_label
from vramtop.ui.widgets.process_table import CELLS, RenderContext, columns_for
from vramtop.ui.widgets.status_bar import replay_marker

GIB = 1024**3
DEV = GPUDevice(
    0, "GPU-0", "NVIDIA H100 80GB HBM3", 80 * GIB, 60 * GIB, 19 * GIB, reserved_bytes=GIB
)


def test_oom_text_alert_prediction_and_capped() -> None:
    alert = OOMPrediction(60, 120, 0.6, 1e8, 2e8, alert=True)
    assert oom_text(alert).plain == "!!! OOM ~60-120s [■■■□□]"
    assert "bold" in str(oom_text(alert).style) and "blink" not in str(oom_text(alert).style)
    calm = OOMPrediction(400, 700, 0.8, 1e7, 2e7)
    assert oom_text(calm).plain.startswith("OOM ~6-12m")
    capped = OOMPrediction(4000, 9000, 0.5, 1e6, 2e6, capped=True)
    assert oom_text(capped, meter=False).plain == "OOM in >1h"
    assert oom_text(None).plain == ""


def test_badges_always_carry_a_symbol_or_word() -> None:
    for phase in Phase:
        assert phase_badge(phase, words=True).plain.endswith(phase.value)
        assert phase_badge(phase, words=False).plain in "▬▲▼〜"
    for verdict in Verdict:
        sv = SurvivalPrediction(verdict, None, None, "r")
        assert verdict_badge(sv).plain == verdict.value.upper()
    assert verdict_badge(None).plain == "-"


def test_palette_from_theme_variables_falls_back_on_bad_colours() -> None:
    pal = Palette.from_variables({"text-success": "#00ff00", "text-error": "auto 60%"})
    assert pal.good == "#00ff00" and pal.bad == "red"


def test_gpu_heading_and_memory_labels() -> None:
    gpu = GPUView(device=DEV)
    assert gpu_heading(gpu) == "GPU 0 · NVIDIA H100 80GB HBM3"
    assert gpu_heading(gpu, short=True) == "GPU 0 · H100 80GB HBM3"
    remote = GPUView(device=GPUDevice(1, "u", "A100", None, None, None, host="node-b"))
    assert gpu_heading(remote).startswith("node-b · GPU 1")
    full = memory_label(gpu, LayoutMode.FULL, plain=True).plain
    assert "used 60.0 GiB" in full and "reserved 1.0 GiB" in full and "free 19.0 GiB" in full
    assert "█" in full and "▓" in full and "░" in full  # the legend, when colour cannot tell
    assert memory_label(gpu, LayoutMode.MINI, plain=False).plain == "60.0 GiB/80.0 GiB"


def _view(**info_fields: object) -> ProcessView:
    proc = GPUProcess(
        pid=42,
        starttime=4242,
        used_bytes=None,
        name="vllm",
        cmdline=("vllm", "serve"),
        uid=0,
        mps=False,
    )
    info = ProcessInfo(identity=proc.identity, **info_fields)  # type: ignore[arg-type]
    return ProcessView(
        process=proc,
        gpu_index=0,
        gpu_uuid="GPU-0",
        own=True,
        info=info,
        phase=PhaseState(Phase.GROWING, 12, 5e6, 0.6),
    )


def test_table_cells_unknown_vram_mps_and_container() -> None:
    pv = _view(
        mps_client=True, framework="vllm", container=ContainerInfo("docker", "0123456789abcdef0123")
    )
    ctx = RenderContext(words=True, pal=Palette())
    assert CELLS["vram"][1](pv, ctx).plain == "?"
    assert CELLS["name"][1](pv, ctx).plain == "vllm [MPS]"
    assert CELLS["container"][1](pv, ctx).plain == "0123456789ab"
    assert CELLS["framework"][1](pv, ctx).plain == "vllm"
    assert CELLS["phase"][1](pv, ctx).plain == "▲ growing"
    assert CELLS["status"][1](pv, ctx).plain == "-"
    assert "gpu" not in columns_for(LayoutMode.COMPACT, multi_gpu=False, phase_indicator=True)
    assert "gpu" in columns_for(LayoutMode.COMPACT, multi_gpu=True, phase_indicator=True)
    assert "phase" not in columns_for(LayoutMode.FULL, multi_gpu=False, phase_indicator=False)


def test_detail_text_shows_every_enrichment() -> None:
    pv = _view(
        user="alice",
        framework="vllm",
        launcher="torchrun",
        container=ContainerInfo("podman", "abcdef0123456789", pod_uid="pod-1"),
        mps_client=True,
        model_files=(ModelFile("/m/model.safetensors", 5 * GIB),),
        weights_bytes=5 * GIB,
        server=ServerMetrics(
            "vllm",
            8000,
            True,
            kv_cache_usage=0.42,
            requests_running=3,
            requests_waiting=1,
            models=(LoadedModel("llama", 5 * GIB, 6 * GIB),),
        ),
        deep=DeepStats("pytorch", 0, 4 * GIB, 6 * GIB, 3 * GIB, num_allocs=10, segments=2),
    )
    pv = ProcessView(
        process=pv.process,
        gpu_index=0,
        gpu_uuid="GPU-0",
        own=True,
        info=pv.info,
        phase=pv.phase,
        share=0.25,
        peak_bytes=7 * GIB,
        survival=SurvivalPrediction(Verdict.TIGHT, 9 * GIB, 1.8, "vLLM pool near the GPU size"),
        breakdown=MemoryBreakdown(5 * GIB, 2 * GIB, None),
    )
    gpu = GPUView(device=DEV, oom=OOMPrediction(60, 120, 0.6, 1e8, 2e8, alert=True))
    text = detail_text(pv, gpu, age_s=75, words=True).plain
    note = "unknown (a process of another host)"
    assert f"age {note}" in detail_text(pv, gpu, age_s=75, age_note=note, words=True).plain
    for fragment in (
        "PID 42 · starttime 4242",
        "age 1m15s",
        "alice",
        "vllm serve",
        "vllm · launcher torchrun",
        "podman abcdef012345 · pod pod-1",
        "yes [MPS]",
        "VRAM         ? · 25% of the GPU",
        "peak 7.0 GiB",
        "▲ growing",
        "[■■■□□] 60%",
        "+5.0 MB/s",
        "TIGHT · vLLM pool",
        "estimated peak 9.0 GiB (x1.8 of weights)",
        "!!! OOM ~60-120s",
        "5.0 GiB  /m/model.safetensors",
        "5.0 GiB (estimate from model files)",
        "weights 5.0 GiB · dynamic 2.0 GiB · context ? (estimate)",
        "KV cache 42%",
        "requests running 3 waiting 1",
        "model llama",
        "allocated 4.0 GiB",
        "reserved 6.0 GiB",
        "active 3.0 GiB",
        "fragmentation 2.0 GiB",
    ):
        assert fragment in text, fragment


def test_failed_scrape_says_why() -> None:
    [line] = server_lines(ServerMetrics("vllm", 8000, False, error="timeout after 500 ms"))
    assert "metrics unavailable: timeout after 500 ms" in line.plain


def test_phase_history_is_relative_to_the_frame_time() -> None:
    text = phase_history_text([(10.0, Phase.STABLE), (40.0, Phase.GROWING)], 70.0, pal=Palette())
    assert text.plain.splitlines() == ["     30s ago  ▲ growing", "   1m00s ago  ▬ stable"]


def test_replay_marker_says_paused_and_end_in_words() -> None:
    st = ReplayStatus("/x/demo.jsonl", 42, 79, 10.0, paused=True, at_end=False)
    assert replay_marker(st).plain == " REPLAY demo.jsonl 42s/1m19s x10  PAUSED"
    st = ReplayStatus("/x/demo.jsonl", 79, 79, 1.0, paused=False, at_end=True)
    assert replay_marker(st, short=True).plain == " REPLAY 1m19s/1m19s x1  END"


def test_replay_marker_parses_the_path_once_not_every_frame() -> None:
    # PurePath interns each part of a path; one per frame made interned strings come
    # and go every second, which grew CPython's interned-string table (+0.96 MB RSS).
    status_bar.file_name.cache_clear()
    with mock.patch.object(status_bar, "PurePath", wraps=PurePath) as pure_path:
        for second in range(100):
            st = ReplayStatus("/runs/a/b/demo.jsonl", second, 600, 1.0, False, False)
            assert replay_marker(st).plain.startswith(" REPLAY demo.jsonl ")
    assert pure_path.call_count == 1
