"""The TUI's pure pieces: layout breakpoints, sort, filter, themes, phase log, bars."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.model import GPUDevice, GPUProcess, Phase, PhaseState, ProcessInfo
from vramtop.ui.state import (
    THEME_MAP,
    THEME_ORDER,
    LayoutMode,
    PhaseLog,
    SortKey,
    layout_for,
    matches_filter,
    next_theme,
    select_processes,
    sort_processes,
)
from vramtop.ui.widgets.memory import BARS, bar_cells, timeline_bars

GIB = 1024**3


def view(
    pid: int,
    used: int | None,
    *,
    name: str = "python3",
    rate: float = 0.0,
    own: bool = True,
    gpu: int = 0,
    framework: str | None = None,
    cmd: tuple[str, ...] = (),
) -> ProcessView:
    proc = GPUProcess(pid=pid, starttime=pid * 10, used_bytes=used, name=name, cmdline=cmd, uid=0)
    info = ProcessInfo(identity=proc.identity, framework=framework) if framework else None
    return ProcessView(
        process=proc,
        gpu_index=gpu,
        gpu_uuid=f"GPU-{gpu}",
        phase=PhaseState(Phase.STABLE, 5, rate, 0.5),
        own=own,
        info=info,
    )


def frame_of(*views: ProcessView, t: float = 0.0) -> Frame:
    dev = GPUDevice(0, "GPU-0", "Test", 80 * GIB, 10 * GIB, 70 * GIB)
    return Frame(
        seq=1,
        t=t,
        unix_time=0.0,
        source="test",
        hostname="h",
        gpus=(GPUView(device=dev, processes=views),),
    )


def test_layout_breakpoints_match_the_spec() -> None:
    assert layout_for(120, 30) is LayoutMode.FULL
    assert layout_for(200, 50) is LayoutMode.FULL
    assert layout_for(119, 30) is LayoutMode.COMPACT
    assert layout_for(120, 29) is LayoutMode.COMPACT
    assert layout_for(80, 20) is LayoutMode.COMPACT
    assert layout_for(79, 24) is LayoutMode.MINI
    assert layout_for(80, 19) is LayoutMode.MINI
    assert layout_for(40, 10) is LayoutMode.MINI
    assert layout_for(39, 10) is LayoutMode.TOO_SMALL
    assert layout_for(40, 9) is LayoutMode.TOO_SMALL


def test_fixed_layout_from_config_except_when_nothing_fits() -> None:
    assert layout_for(200, 50, "mini") is LayoutMode.MINI
    assert layout_for(60, 15, "full") is LayoutMode.FULL
    assert layout_for(30, 8, "full") is LayoutMode.TOO_SMALL


@given(st.integers(0, 400), st.integers(0, 200), st.integers(0, 400), st.integers(0, 200))
def test_auto_layout_never_shrinks_when_the_terminal_grows(
    w: int, h: int, dw: int, dh: int
) -> None:
    order = [LayoutMode.TOO_SMALL, LayoutMode.MINI, LayoutMode.COMPACT, LayoutMode.FULL]
    assert order.index(layout_for(w + dw, h + dh)) >= order.index(layout_for(w, h))


def test_themes_cycle_through_all_six_textual_themes() -> None:
    assert set(THEME_MAP.values()) == {
        "textual-dark",
        "textual-light",
        "nord",
        "catppuccin-mocha",
        "dracula",
        "solarized-light",
    }
    seen = []
    name = "dark"
    for _ in range(len(THEME_ORDER)):
        seen.append(name)
        name = next_theme(name)
    assert name == "dark" and sorted(seen) == sorted(THEME_ORDER)
    assert next_theme("no-such") == THEME_ORDER[0]


def test_sort_orders() -> None:
    a = view(30, 5 * GIB, name="beta", rate=1e6)
    b = view(10, 9 * GIB, name="alpha", rate=-1e6)
    c = view(20, None, name="Gamma", rate=5e6)
    assert [v.process.pid for v in sort_processes([a, b, c], SortKey.VRAM)] == [10, 30, 20]
    assert [v.process.pid for v in sort_processes([a, b, c], SortKey.RATE)] == [20, 30, 10]
    assert [v.process.pid for v in sort_processes([a, b, c], SortKey.PID)] == [10, 20, 30]
    assert [v.process.pid for v in sort_processes([a, b, c], SortKey.NAME)] == [10, 30, 20]
    assert [v.process.pid for v in sort_processes([a, b, c], SortKey.PID, reverse=True)] == [
        30,
        20,
        10,
    ]


def test_filter_matches_name_cmdline_and_framework_case_insensitively() -> None:
    v = view(
        1, GIB, name="python3", framework="vllm", cmd=("python3", "serve.py", "--model", "Llama")
    )
    assert matches_filter(v, "PYTHON")
    assert matches_filter(v, "llama")
    assert matches_filter(v, "vLLM")
    assert matches_filter(v, "  ")
    assert not matches_filter(v, "ollama")


def test_other_users_hidden_unless_asked_and_counted() -> None:
    mine, theirs = view(1, GIB), view(2, 2 * GIB, own=False)
    sel = select_processes(
        frame_of(mine, theirs), show_other_users=False, filter_text="", sort=SortKey.VRAM
    )
    assert [v.process.pid for v in sel.rows] == [1] and sel.hidden_other_users == 1
    sel = select_processes(
        frame_of(mine, theirs), show_other_users=True, filter_text="", sort=SortKey.VRAM
    )
    assert [v.process.pid for v in sel.rows] == [2, 1] and sel.hidden_other_users == 0
    sel = select_processes(
        frame_of(mine, theirs), show_other_users=True, filter_text="nomatch", sort=SortKey.VRAM
    )
    assert sel.rows == () and sel.filtered_out == 2


def test_processes_of_another_hosts_gpus_are_listed_as_its_exporter_chose() -> None:
    theirs = view(2, 2 * GIB, own=False)
    frame = frame_of(theirs)
    remote_dev = dataclasses.replace(frame.gpus[0].device, host="node-b")
    remote = dataclasses.replace(
        frame, gpus=(dataclasses.replace(frame.gpus[0], device=remote_dev),)
    )
    sel = select_processes(remote, show_other_users=False, filter_text="", sort=SortKey.VRAM)
    assert [v.process.pid for v in sel.rows] == [2] and sel.hidden_other_users == 0


def test_phase_log_records_changes_and_forgets_gone_processes() -> None:
    log = PhaseLog()
    v = view(1, GIB)
    log.update(frame_of(v, t=0))
    log.update(frame_of(v, t=1))
    grow = dataclasses.replace(v, phase=PhaseState(Phase.GROWING, 3, 5e6, 0.4))
    log.update(frame_of(grow, t=2))
    assert list(log.entries(v.key)) == [(0, Phase.STABLE), (2, Phase.GROWING)]
    log.update(frame_of(t=3))
    assert list(log.entries(v.key)) == []


def test_memory_bar_cells_add_up_and_never_hide_small_use() -> None:
    dev = GPUDevice(0, "u", "n", 100 * GIB, GIB // 10, 99 * GIB, reserved_bytes=GIB // 10)
    used, reserved, free = bar_cells(dev, 40) or (0, 0, 0)
    assert used == 1 and reserved == 1 and used + reserved + free == 40
    unknown = dataclasses.replace(dev, used_bytes=None)
    assert bar_cells(unknown, 40) is None


@given(st.lists(st.floats(0, 100, allow_nan=False), max_size=500), st.integers(1, 120))
def test_timeline_is_exactly_as_wide_as_asked(values: list[float], width: int) -> None:
    bars = timeline_bars(values, width, 100.0)
    assert len(bars) == width
    assert set(bars) <= set(BARS) | {" "}


def test_timeline_keeps_peaks_and_uses_an_absolute_scale() -> None:
    values = [10.0] * 99 + [100.0]
    assert timeline_bars(values, 10, 100.0)[-1] == "█"
    assert timeline_bars([50.0, 50.0], 2, 100.0) == BARS[4] * 2
