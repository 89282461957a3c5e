"""Pilot tests of the TUI driven by recordings: data flow, keys, layouts, replay, reload."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.errors import BackendError
from vramtop.frame import Frame
from vramtop.model import DeviceState, GPUDevice, GPUProcess, MigInstance
from vramtop.ui.app import VramtopApp, create_app
from vramtop.ui.messages import FrameReady, SampleFailed
from vramtop.ui.screens.detail import DetailScreen
from vramtop.ui.screens.help import HelpScreen, key_label
from vramtop.ui.screens.main import MainScreen
from vramtop.ui.state import THEME_MAP, LayoutMode
from vramtop.ui.widgets.memory import MemoryBar, MemoryTimeline
from vramtop.ui.widgets.process_table import ProcessTable

from .helpers import (
    GIB,
    ChildBackend,
    DecoratedMonitor,
    FrameLog,
    Notes,
    holder,
    replay_monitor,
    screen_text,
    wait_for,
)

FAST = Config().with_overrides(general={"refresh_rate": 0.5})


def table(app: VramtopApp) -> ProcessTable:
    return app.main.query_one(ProcessTable)


def pids(app: VramtopApp) -> list[int]:
    return [int(k.split(":")[1]) for k in table(app).row_keys()]


async def test_frames_flow_from_a_worker_thread_and_are_rendered() -> None:
    threads: list[str] = []

    class Watched(Monitor):
        def step(self) -> Frame:
            threads.append(threading.current_thread().name)
            return super().step()

    base = replay_monitor(at_s=40, config=FAST)
    monitor = Watched(base.backend, FAST, hostname="test-host")
    monitor.open()
    log = FrameLog()
    app = create_app(monitor, holder(FAST))
    async with app.run_test(size=(120, 30), message_hook=log) as pilot:
        await wait_for(pilot, lambda: len(log.frames) >= 3)
        seqs = [f.seq for f in log.frames]
        assert seqs == sorted(seqs)
        assert log.frames[-1].replay is not None
        assert log.frames[-1].replay.position_s > log.frames[0].replay.position_s
        assert set(pids(app)) == {779, 795}
        text = screen_text(app)
        assert "NVIDIA H100 80GB HBM3" in text and "REPLAY" in text
        assert "(device-wide)" in text
    assert threads and threading.main_thread().name not in threads


def test_a_newer_frame_replaces_a_stale_one_in_the_queue() -> None:
    f = replay_monitor(at_s=1).step()
    assert FrameReady(f).can_replace(FrameReady(f))
    assert not FrameReady(f).can_replace(SampleFailed("x"))


async def test_layout_follows_the_terminal_size() -> None:
    app = create_app(replay_monitor(at_s=30), holder())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        assert app.main.mode is LayoutMode.FULL
        assert "USER" in screen_text(app) and "FRAMEWORK" in screen_text(app)
        for size, mode in [
            ((80, 24), LayoutMode.COMPACT),
            ((50, 12), LayoutMode.MINI),
            ((30, 8), LayoutMode.TOO_SMALL),
            ((200, 50), LayoutMode.FULL),
        ]:
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda m=mode: app.main.mode is m)
            await pilot.pause()
            assert app.main.has_class(f"-mode-{mode.value}")
        await pilot.resize_terminal(30, 8)
        await wait_for(pilot, lambda: "terminal too small" in screen_text(app))
        assert "30x8, needs 40x10" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: app.main.mode is LayoutMode.COMPACT)
        await pilot.pause()
        text = screen_text(app)
        assert "terminal too small" not in text and "USER" not in text and "PID" in text


async def test_layout_fixed_by_config() -> None:
    cfg = Config().with_overrides(display={"layout": "mini"})
    app = create_app(replay_monitor(at_s=30, config=cfg), holder(cfg))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        assert app.main.mode is LayoutMode.MINI


async def test_sort_keys_and_the_cursor_follows_its_row() -> None:
    app = create_app(replay_monitor(at_s=40, config=FAST), holder(FAST))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        assert pids(app) == [779, 795]  # VRAM, largest first
        await pilot.press("down")
        assert table(app).selected_key is not None and ":795:" in table(app).selected_key
        await pilot.press("r")  # rate: the growing one first
        assert pids(app) == [795, 779]
        assert ":795:" in (table(app).selected_key or "")
        assert table(app).cursor_row == 0
        await pilot.press("p")
        assert pids(app) == [779, 795]
        await pilot.press("p")  # again: reversed
        assert pids(app) == [795, 779]
        await pilot.press("n", "v")
        assert pids(app) == [779, 795]
        assert "sort VRAM" in screen_text(app)


async def test_updates_change_cells_in_place_without_rebuilding_rows() -> None:
    app = create_app(replay_monitor(at_s=40, config=FAST), holder(FAST))
    log = FrameLog()
    async with app.run_test(size=(120, 30), message_hook=log) as pilot:
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        t = table(app)
        await pilot.press("down")
        calls = {"add": 0, "remove": 0, "update": 0}
        for name in calls:
            original = getattr(
                t, {"add": "add_row", "remove": "remove_row", "update": "update_cell"}[name]
            )

            def counting(*a: object, _o: object = original, _n: str = name, **k: object) -> object:
                calls[_n] += 1
                return _o(*a, **k)  # type: ignore[operator]

            setattr(
                t,
                {"add": "add_row", "remove": "remove_row", "update": "update_cell"}[name],
                counting,
            )
        seen = len(log.frames)
        await wait_for(pilot, lambda: len(log.frames) >= seen + 3)
        assert calls["add"] == 0 and calls["remove"] == 0
        assert calls["update"] > 0  # the growing process's VRAM and rate moved
        assert ":795:" in (t.selected_key or "")


async def test_filter_by_name_and_clear() -> None:
    app = create_app(replay_monitor(at_s=40), holder())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        await pilot.press("slash", "x", "y", "z")
        assert app.main.filter_text == "xyz"
        await wait_for(pilot, lambda: "no process matches 'xyz'" in screen_text(app))
        await pilot.press("escape")
        assert app.main.filter_text == ""
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        await pilot.press("slash", *"python", "enter")
        assert app.main.filter_text == "python" and len(pids(app)) == 2
        assert "filter 'python'" in screen_text(app)


async def test_detail_screen_opens_with_history_and_escape_closes() -> None:
    app = create_app(replay_monitor(at_s=40, config=FAST), holder(FAST))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        await pilot.press("down", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await wait_for(pilot, lambda: screen.series is not None and len(screen.series.points) > 10)
        await pilot.pause()
        text = screen_text(app)
        assert screen.view is not None
        phase = screen.view.phase.phase.value
        for fragment in (
            "PID 795",
            "starttime",
            "Command",
            "python3 job.py",
            "Framework",
            "Container",
            "MPS",
            "VRAM",
            "Phase",
            phase,
            "Survival",
            "GPU OOM",
            "Model files",
            "Breakdown",
            "Deep mode",
            "Memory timeline",
            "Phase history",
            "recorded on another machine",
        ):
            assert fragment in text, fragment
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app._series_target is None


async def test_detail_with_nothing_selected_says_so() -> None:
    backend = ChildBackend()
    monitor = Monitor(backend, Config(), hostname="h")
    monitor.open()
    app = create_app(monitor, holder())
    notes = Notes(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.press("d")
        await wait_for(pilot, lambda: notes.has("no process selected"))
        assert "no processes on the GPU" in screen_text(app)
        notes.messages.clear()
        await pilot.press("k")
        await wait_for(pilot, lambda: notes.has("no process selected"))
        assert isinstance(app.screen, MainScreen)


async def test_theme_key_cycles_the_six_themes() -> None:
    app = create_app(replay_monitor(at_s=5), holder(), theme="dracula")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        assert app.theme == "dracula"
        seen = set()
        for _ in range(6):
            await pilot.press("t")
            seen.add(app.theme)
        assert seen == set(THEME_MAP.values())
        assert app.theme == "dracula"


async def test_screenshot_is_saved_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app(replay_monitor(at_s=5), holder())
    notes = Notes(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.press("s")
    svgs = list(tmp_path.glob("*.svg"))
    assert len(svgs) == 1
    assert "<svg" in svgs[0].read_text()
    assert notes.has(str(svgs[0].name))


async def test_help_lists_every_key_and_closes() -> None:
    app = create_app(replay_monitor(at_s=5), holder())
    async with app.run_test(size=(120, 50)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key in (
            "q",
            "?",
            "t",
            "s",
            "d",
            "k",
            "/",
            "v",
            "r",
            "p",
            "n",
            "space",
            "1",
            "2",
            "3",
            "4",
            "←",
            "→",
            "Esc",
            "y",
        ):
            assert f" {key} " in text, key
        assert "Seek back 10 s" in text and "Sort by growth rate" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
    assert key_label("question_mark") == "?"


async def test_q_quits_with_status_zero() -> None:
    app = create_app(replay_monitor(at_s=5), holder())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_replay_pause_speed_and_seek() -> None:
    monitor = replay_monitor(at_s=30, config=FAST)
    backend = monitor.backend
    app = create_app(monitor, holder(FAST))
    log = FrameLog()
    async with app.run_test(size=(120, 30), message_hook=log) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.press("space")
        await wait_for(
            pilot,
            lambda: (
                app.frame is not None and app.frame.replay is not None and app.frame.replay.paused
            ),
        )
        assert "PAUSED" in screen_text(app)
        paused_at = app.frame.replay.position_s  # type: ignore[union-attr]
        await pilot.press("right")
        await wait_for(pilot, lambda: app.frame.replay.position_s == paused_at + 10)  # type: ignore[union-attr]
        await pilot.press("left", "left")
        await wait_for(pilot, lambda: app.frame.replay.position_s == paused_at - 10)  # type: ignore[union-attr]
        for key, speed in (("3", 10.0), ("4", 60.0), ("2", 2.0), ("1", 1.0)):
            await pilot.press(key)
            assert backend.step_s == pytest.approx(0.5 * speed)  # type: ignore[attr-defined]
        await pilot.press("3", "space")
        await wait_for(pilot, lambda: not app.frame.replay.paused)  # type: ignore[union-attr]
        await wait_for(pilot, lambda: app.frame.replay.speed == 10.0)  # type: ignore[union-attr]
        assert " x10 " in screen_text(app)


async def test_replay_keys_do_nothing_live_and_arrows_stay_in_the_filter() -> None:
    backend = ChildBackend()
    monitor = Monitor(backend, Config(), hostname="h")
    monitor.open()
    app = create_app(monitor, holder())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        assert app.check_action("seek", (1,)) is False
        assert "Pause" not in screen_text(app)
    app = create_app(replay_monitor(at_s=5), holder())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.press("slash", "a", "b", "left", "c")
        assert app.main.filter_text == "acb"


async def test_sighup_reload_applies_theme_refresh_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("")
    h = holder(Config(), path)
    app = create_app(replay_monitor(at_s=5), h)
    notes = Notes(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        path.write_text(
            '[display]\ntheme = "nord"\nlayout = "compact"\n[general]\nrefresh_rate = 0.5\n'
        )
        h.request_reload()
        await wait_for(pilot, lambda: app.theme == "nord")
        assert notes.has("Config reloaded")
        assert app.monitor.config.general.refresh_rate == 0.5
        await wait_for(pilot, lambda: app.main.mode is LayoutMode.COMPACT)
        path.write_text("[display]\ntheme = 3\n")
        h.request_reload()
        await wait_for(pilot, lambda: notes.has("keeping the old config"))
        assert app.theme == "nord"


async def test_engine_errors_become_a_notification_not_a_crash() -> None:
    backend = ChildBackend()
    monitor = Monitor(backend, FAST, hostname="h")
    monitor.open()
    app = create_app(monitor, holder(FAST))
    notes = Notes(app)
    log = FrameLog()
    async with app.run_test(size=(120, 30), message_hook=log) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        backend.fail_next = BackendError("driver went away")
        await wait_for(pilot, lambda: notes.has("driver went away"))
        n = len(log.frames)
        await wait_for(pilot, lambda: len(log.frames) > n)
        assert app.is_running


async def test_notices_are_shown_once() -> None:
    monitor = replay_monitor(at_s=5, config=FAST)
    monitor.add_notice("enrichment limited: /proc not readable")
    app = create_app(monitor, holder(FAST))
    notes = Notes(app)
    log = FrameLog()
    async with app.run_test(size=(120, 30), message_hook=log) as pilot:
        await wait_for(pilot, lambda: len(log.frames) >= 3)
    assert sum("enrichment limited" in m for m in notes.messages) == 1


@pytest.mark.parametrize("how", ["NO_COLOR", "accessible"])
async def test_no_color_and_accessible_say_everything_in_words(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    monitor = replay_monitor(at_s=40, cls=DecoratedMonitor)
    app = create_app(monitor, holder(), accessible=how == "accessible")
    async with app.run_test(size=(80, 24)) as pilot:  # COMPACT: symbols only unless plain
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        await pilot.pause()
        text = screen_text(app)
    assert app.plain
    assert "▲ growing" in text and "▬ stable" in text
    assert "OK" in text and "TIGHT" in text
    assert "!!! OOM ~60-120s" in text


async def test_with_colour_the_compact_table_uses_symbols() -> None:
    app = create_app(replay_monitor(at_s=40), holder())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        await pilot.pause()
        table_text = screen_text(app).split("PID", 1)[1]
    assert not app.plain
    assert "▲" in table_text and "growing" not in table_text


async def test_oom_alert_and_verdicts_are_shown() -> None:
    monitor = replay_monitor(at_s=40, cls=DecoratedMonitor)
    app = create_app(monitor, holder())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        await pilot.pause()
        text = screen_text(app)
    assert "!!! OOM ~60-120s [■■■□□]" in text
    assert "OK" in text and "TIGHT" in text


async def test_other_users_hidden_unless_configured() -> None:
    mine = GPUProcess(pid=1001, starttime=5, used_bytes=GIB, name="mine", uid=0)
    theirs = GPUProcess(pid=1002, starttime=6, used_bytes=3 * GIB, name="theirs", uid=4242)
    for show, expected in ((False, {1001}), (True, {1001, 1002})):
        cfg = Config().with_overrides(display={"show_other_users": show})
        backend = ChildBackend([mine, theirs])
        monitor = Monitor(backend, cfg, hostname="h")
        monitor.open()
        app = create_app(monitor, holder(cfg))
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda a=app: a.frame is not None)  # type: ignore[misc]
            await pilot.pause()
            assert set(pids(app)) == expected
            if not show:
                assert "1 of other users hidden" in screen_text(app)


async def test_kill_key_refused_in_replay_and_when_disabled() -> None:
    app = create_app(replay_monitor(at_s=40), holder())
    notes = Notes(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: len(pids(app)) == 2)
        await pilot.press("k")
        await wait_for(pilot, lambda: notes.has("not available in replay"))
        assert isinstance(app.screen, MainScreen)
    backend = ChildBackend([GPUProcess(pid=1001, starttime=5, used_bytes=GIB, name="x", uid=0)])
    monitor = Monitor(backend, Config(), hostname="h")
    monitor.open()
    app = create_app(monitor, holder(), no_kill=True)
    notes = Notes(app)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        assert "Kill" not in screen_text(app).splitlines()[-1]
        await pilot.press("k")
        await wait_for(pilot, lambda: notes.has("kill disabled"))
        assert isinstance(app.screen, MainScreen)


class ScriptedBackend(ChildBackend):
    def __init__(self, devices: tuple[GPUDevice, ...]) -> None:
        super().__init__()
        self.devices = devices

    def sample(self):  # type: ignore[no-untyped-def]
        snap = super().sample()
        return type(snap)(t=snap.t, unix_time=snap.unix_time, devices=self.devices)


async def test_lost_degraded_mig_host_and_temperature_states() -> None:
    ok = GPUDevice(
        0,
        "GPU-a",
        "H100",
        80 * GIB,
        10 * GIB,
        70 * GIB,
        temperature_c=91,
        host="node-a",
        mig_instances=(MigInstance(1, 0, "MIG-1", "1g.10gb", 10 * GIB, GIB, 9 * GIB),),
    )
    degraded = GPUDevice(
        1,
        "GPU-b",
        "A100",
        40 * GIB,
        None,
        None,
        state=DeviceState.DEGRADED,
        error="driver error (UNKNOWN)",
    )
    lost = GPUDevice(
        2, "GPU-c", "L4", None, None, None, state=DeviceState.LOST, error="GPU is lost"
    )
    monitor = Monitor(ScriptedBackend((ok, degraded, lost)), Config(), hostname="h")
    monitor.open()
    app = create_app(monitor, holder())
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.pause()
        text = screen_text(app)
    for fragment in (
        "node-a · GPU 0 · H100",
        "TEMP WARNING 91°C",
        "MIG 1 1g.10gb",
        "DEGRADED: driver error (UNKNOWN)",
        "memory unknown",
        "LOST: GPU is lost",
        "GPU 2 · L4",
    ):
        assert fragment in text, fragment


async def test_kept_memory_bar_colours_follow_a_theme_change() -> None:
    """The memory widgets keep their component styles between refreshes; a new theme
    (or anything else that recomputes their CSS) must still give its colours."""
    app = create_app(replay_monitor(at_s=5), holder(), theme="dracula")
    async with app.run_test(size=(140, 30)) as pilot:
        await wait_for(pilot, lambda: app.frame is not None)
        await pilot.pause()
        widgets = (app.main.query_one(MemoryBar), app.main.query_one(MemoryTimeline))
        names = ("memorybar--used", "timeline--bar")
        before = [w.component_style(n) for w, n in zip(widgets, names, strict=True)]
        assert before == [
            w.get_component_rich_style(n) for w, n in zip(widgets, names, strict=True)
        ]
        await pilot.press("t")
        await pilot.pause()
        after = [w.component_style(n) for w, n in zip(widgets, names, strict=True)]
        assert after == [w.get_component_rich_style(n) for w, n in zip(widgets, names, strict=True)]
        assert all(a.color != b.color for a, b in zip(after, before, strict=True))
