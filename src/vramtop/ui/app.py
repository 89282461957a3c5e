"""The Textual app: a composition of screens and bindings around one sampling thread.

A timer at `general.refresh_rate` asks the sampling thread for a sample: it polls
the config holder (SIGHUP reloads), calls `monitor.step()` and posts a `FrameReady`. The
UI thread only renders frames: it never calls NVML, reads /proc or analyses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.timer import Timer

from vramtop import actions, paths
from vramtop.backends.replay import ReplayBackend
from vramtop.config import Config, ConfigHolder
from vramtop.engine import Monitor
from vramtop.errors import BackendError, VramtopError
from vramtop.frame import Frame, ProcessView
from vramtop.security import is_same_user
from vramtop.ui import strip_cycle
from vramtop.ui.driver import QuietLinuxDriver
from vramtop.ui.messages import (
    ConfigReloaded,
    DetailRequested,
    FrameReady,
    KillRequested,
    ProcessSeries,
    SampleFailed,
)
from vramtop.ui.sampler import SampleThread
from vramtop.ui.screens.detail import DetailScreen
from vramtop.ui.screens.help import HelpScreen, visible_bindings
from vramtop.ui.screens.kill import KillScreen, kill_refusal
from vramtop.ui.screens.main import DisplaySettings, MainScreen
from vramtop.ui.state import THEME_MAP, PhaseLog, next_theme
from vramtop.ui.widgets.badges import Palette, user_name

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0  # SPEC §8: SIGTERM, wait 5 s, then offer SIGKILL
HANGUP_EXIT = 128 + 1  # the shell's code for a process ended by SIGHUP
REPLAY_SPEEDS = {"1": 1.0, "2": 2.0, "3": 10.0, "4": 60.0}
SEEK_S = 10.0


class NoTerminalError(VramtopError):
    title = "no terminal"
    exit_code = 2


def terminal_gone() -> bool:
    """The terminal hung up (window closed, ssh dropped): it is no longer a tty (its reads
    give EOF at once and its writes fail, so a TUI left running would spin on it)."""
    out = sys.__stdout__
    if out is None:
        return True
    try:
        return not os.isatty(out.fileno())
    except (ValueError, OSError):
        return True


class VramtopApp(App[int]):
    """vramtop's TUI. Build it with `create_app`."""

    CSS_PATH = "vramtop.tcss"
    TITLE = "vramtop"
    ENABLE_COMMAND_PALETTE = False
    GLOBAL_BINDINGS: ClassVar[list[Binding]] = [
        Binding("q", "quit", "Quit", tooltip="Quit vramtop"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="This list of keys"),
        Binding(
            "t",
            "cycle_theme",
            "Theme",
            tooltip="Next theme: dark, light, nord, catppuccin, dracula, solarized",
        ),
        Binding(
            "s", "save_svg", "Screenshot", tooltip="Save an SVG screenshot in the current directory"
        ),
    ]
    REPLAY_BINDINGS: ClassVar[list[Binding]] = [
        Binding("space", "toggle_pause", "Pause", tooltip="Pause or resume the recording"),
        Binding("1", "speed('1')", "x1", show=False, tooltip="Play at normal speed (x1)"),
        Binding("2", "speed('2')", "x2", show=False, tooltip="Play at x2"),
        Binding("3", "speed('3')", "x10", show=False, tooltip="Play at x10"),
        Binding("4", "speed('4')", "x60", show=False, tooltip="Play at x60"),
        Binding(
            "left", "seek(-1)", "-10s", key_display="←", priority=True, tooltip="Seek back 10 s"
        ),
        Binding(
            "right", "seek(1)", "+10s", key_display="→", priority=True, tooltip="Seek forward 10 s"
        ),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [*GLOBAL_BINDINGS, *REPLAY_BINDINGS]

    #: Seconds between SIGTERM and the SIGKILL offer (tests shorten it).
    kill_grace_s: float = KILL_GRACE_S

    def __init__(
        self,
        monitor: Monitor,
        holder: ConfigHolder,
        *,
        accessible: bool = False,
        no_kill: bool = False,
        theme: str | None = None,
    ) -> None:
        strip_cycle.install()
        super().__init__()
        self.monitor = monitor
        self.holder = holder
        self.config_now: Config = holder.config
        self.accessible = accessible
        self.no_kill = no_kill
        self.theme_name = theme or self.config_now.display.theme
        self.frame: Frame | None = None
        self.phase_log = PhaseLog()
        self.main = MainScreen()
        self.replay: ReplayBackend | None = (
            monitor.backend if isinstance(monitor.backend, ReplayBackend) else None
        )
        self.speed = (
            self.replay.step_s / self.config_now.general.refresh_rate if self.replay else 1.0
        )
        self._timer: Timer | None = None
        self._sampler = SampleThread(self._sample)
        self._series_target: tuple[str, str, ProcessView, bool] | None = None
        self._notices_seen: set[str] = set()
        self._last_error: str | None = None
        self._palette = Palette()

    # --- properties the screens follow ---------------------------------------------------

    @property
    def plain(self) -> bool:
        """No fact by colour alone: --accessible or NO_COLOR."""
        return self.accessible or self.no_color

    @property
    def kill_enabled(self) -> bool:
        return not self.no_kill and self.config_now.display.enable_kill

    @property
    def live(self) -> bool:
        return not self.monitor.backend.virtual_clock

    def settings(self) -> DisplaySettings:
        d = self.config_now.display
        return DisplaySettings(
            plain=self.plain,
            show_other_users=d.show_other_users,
            phase_indicator=d.phase_indicator,
            layout=d.layout,
            pal=self._palette,
        )

    # --- lifecycle -----------------------------------------------------------------------

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.theme = THEME_MAP.get(self.theme_name, THEME_MAP["dark"])
        self._palette = Palette.from_variables(self.get_css_variables())
        self.main.kill_enabled = self.kill_enabled and self.live
        self._start_timer()
        self.main.show_frame(None, self.settings())
        self._sampler.start()
        self.request_sample()
        if not self.is_headless and hasattr(signal, "SIGHUP"):
            # SIGHUP reloads the config, unless the terminal hung up: then leave, as a
            # TUI without a terminal would otherwise run (and spin) forever.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)

    def on_unmount(self) -> None:
        self._sampler.stop()

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        return QuietLinuxDriver if driver is LinuxDriver else driver

    def _on_sighup(self) -> None:
        if terminal_gone():
            self.exit(HANGUP_EXIT, return_code=HANGUP_EXIT)
        else:
            self.holder.request_reload()
            self.request_sample()

    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(self.config_now.general.refresh_rate, self.request_sample)

    def _theme_changed(self, _theme: object) -> None:
        self._palette = Palette.from_variables(self.get_css_variables())
        self._rerender()

    def _rerender(self) -> None:
        self.main.show_frame(None, self.settings())
        self._show_detail()

    # --- sampling (its own thread) -------------------------------------------------------

    def request_sample(self) -> None:
        """Take a sample now, off the UI thread (right after the one being taken, if any)."""
        if not self.is_headless and terminal_gone():  # hung up without a SIGHUP reaching us
            self.exit(HANGUP_EXIT, return_code=HANGUP_EXIT)
            return
        self._sampler.request()

    def _sample(self) -> None:
        """One sample, on the sampling thread: config reload, engine step, frame posted."""
        try:
            old = self.holder.config
            text = self.holder.poll()
            if text is not None:
                new = self.holder.config
                if new is not old:
                    self.monitor.apply_config(new)
                self.post_message(ConfigReloaded(text, old, new))
            try:
                frame = self.monitor.step()
            except BackendError as e:
                self.post_message(SampleFailed(e.user_message()))
                return
            self.post_message(FrameReady(frame, self._fetch_series()))
        except Exception:  # a thread boundary: log, tell the user, keep running
            log.exception("sampling failed")
            self.post_message(SampleFailed("internal error while sampling (see the log)"))

    def _fetch_series(self) -> ProcessSeries | None:
        """History (and age, local processes only) of the process whose detail screen is open."""
        target = self._series_target
        if target is None:
            return None
        key, gpu_uuid, pv, local = target
        points = self.monitor.process_history(gpu_uuid, pv.identity)
        age = actions.process_age_s(pv.identity) if local else None
        return ProcessSeries(key, points, age)

    @work(thread=True, group="series", exit_on_error=False)
    def _refresh_series(self) -> None:
        frame = self.frame
        if frame is not None:
            self.post_message(FrameReady(frame, self._fetch_series()))

    def on_frame_ready(self, message: FrameReady) -> None:
        if not self.screen_stack:  # a frame that arrives while the app shuts down
            return
        frame = message.frame
        self.frame = frame
        self._last_error = None
        self.phase_log.update(frame)
        for notice in frame.notices:
            if notice not in self._notices_seen:
                self._notices_seen.add(notice)
                self.notify(notice, timeout=8)
        self.main.show_frame(frame, self.settings())
        self._show_detail(message.series)

    def _show_detail(self, series: ProcessSeries | None = None) -> None:
        stack = self.screen_stack
        if not stack:
            return
        screen = stack[-1]
        if isinstance(screen, DetailScreen) and self.frame is not None:
            if series is not None:
                screen.series = series
            screen.show(
                self.frame,
                screen.series,
                self.phase_log.entries(screen.key),
                plain=self.plain,
                pal=self._palette,
            )

    def on_sample_failed(self, message: SampleFailed) -> None:
        if message.text != self._last_error:
            self._last_error = message.text
            self.notify(message.text, title="Sampling failed", severity="error", timeout=8)

    def on_config_reloaded(self, message: ConfigReloaded) -> None:
        new, old = message.config, message.old
        if new is old:
            self.notify(message.text, severity="error", timeout=10)
            return
        self.notify(message.text, timeout=4)
        self.config_now = new
        if new.display.theme != old.display.theme:
            self.theme_name = new.display.theme
            self.theme = THEME_MAP[new.display.theme]
        if new.general.refresh_rate != old.general.refresh_rate:
            if self.replay is not None:
                self.replay.set_step(new.general.refresh_rate * self.speed)
            self._start_timer()
        self.main.kill_enabled = self.kill_enabled and self.live
        self._rerender()

    # --- keys ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_pause", "speed", "seek"):
            if self.replay is None:
                return False
            # Arrows belong to the filter box while it has the focus.
            return not (
                action == "seek" and self.focused is not None and self.focused.id == "filter"
            )
        return True

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections = [
            ("Everywhere", self.GLOBAL_BINDINGS),
            ("Process list", visible_bindings(MainScreen.BINDINGS)),
            ("Replay and demo", self.REPLAY_BINDINGS),
            ("Detail screen", visible_bindings(DetailScreen.BINDINGS)),
            ("Kill dialog", visible_bindings(KillScreen.BINDINGS)),
        ]
        notes = [
            "Sort keys pressed twice reverse the order.",
            "Kill: your own processes only; identity (PID + start time) re-checked before"
            f" each signal; actions logged to {paths.audit_log()}.",
            "Reload the config file: kill -HUP <vramtop's PID>.",
        ]
        if not self.kill_enabled:
            notes.append("Kill is disabled (--no-kill or display.enable_kill = false).")
        self.push_screen(HelpScreen(sections, notes))

    def action_cycle_theme(self) -> None:
        self.theme_name = next_theme(self.theme_name)
        self.theme = THEME_MAP[self.theme_name]
        self.notify(f"theme: {self.theme_name}", timeout=2)

    def action_save_svg(self) -> None:
        try:
            path = self.save_screenshot(path=str(paths.screenshot_dir()))
        except OSError as e:
            self.notify(f"screenshot not saved: {e.strerror or e}", severity="error")
            return
        self.notify(f"screenshot saved: {path}", timeout=6)

    def action_toggle_pause(self) -> None:
        if self.replay is not None:
            self.replay.set_paused(not self.replay.paused)
            self.request_sample()

    def action_speed(self, key: str) -> None:
        if self.replay is not None and key in REPLAY_SPEEDS:
            self.speed = REPLAY_SPEEDS[key]
            self.replay.set_step(self.config_now.general.refresh_rate * self.speed)

    def action_seek(self, direction: int) -> None:
        if self.replay is not None:
            self.replay.seek_relative(SEEK_S if direction > 0 else -SEEK_S)
            self.request_sample()

    def action_quit(self) -> None:  # type: ignore[override]
        self.exit(0)

    # --- requests from the main screen ---------------------------------------------------

    def on_detail_requested(self, message: DetailRequested) -> None:
        pv = message.view
        if pv is None:
            self.notify("no process selected", timeout=3)
            return
        remote = self._on_remote_host(pv)
        local = self.live and not remote
        self._series_target = (pv.key, pv.gpu_uuid, pv, local)
        note = None
        if not self.live:
            note = "unknown (recorded on another machine)"
        elif remote:
            note = "unknown (a process of another host)"
        screen = DetailScreen(pv.key, age_note=note)

        def closed(_: None) -> None:
            self._series_target = None

        self.push_screen(screen, callback=closed)
        self.call_after_refresh(self._show_detail)
        self._refresh_series()

    def on_kill_requested(self, message: KillRequested) -> None:
        pv = message.view
        remote = pv is not None and self._on_remote_host(pv)
        refusal = kill_refusal(pv, live=self.live, enabled=self.kill_enabled, remote=remote)
        if refusal is not None:
            self.notify(refusal, severity="warning", timeout=5)
            return
        assert pv is not None
        if not is_same_user(pv.process.uid):
            reason = (
                f"PID {pv.process.pid} belongs to {user_name(pv.process.uid)};"
                " vramtop only signals your own processes"
            )
            self._audit_refusal(pv, reason)
            self.notify(f"Refused: {reason}", severity="error", timeout=6)
            return
        self.push_screen(KillScreen(pv, grace_s=self.kill_grace_s), callback=self._kill_done)

    def _on_remote_host(self, pv: ProcessView) -> bool:
        frame = self.frame
        return frame is not None and any(
            g.device.host for g in frame.gpus if g.device.uuid == pv.gpu_uuid
        )

    @work(thread=True, group="audit", exit_on_error=False)
    def _audit_refusal(self, pv: ProcessView, reason: str) -> None:
        actions.refuse(pv.identity, signal.SIGTERM, reason, name=pv.process.name)

    def _kill_done(self, summary: str | None) -> None:
        if summary:
            self.notify(summary, timeout=6)
        self.request_sample()


def create_app(
    monitor: Monitor,
    holder: ConfigHolder,
    *,
    accessible: bool = False,
    no_kill: bool = False,
    theme: str | None = None,
) -> VramtopApp:
    """The one app factory, used by `run_tui` and by the tests."""
    return VramtopApp(monitor, holder, accessible=accessible, no_kill=no_kill, theme=theme)


def run_tui(monitor: Monitor, holder: ConfigHolder, args: argparse.Namespace) -> int:
    """Run the TUI on an opened monitor until the user quits; returns the exit code."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise NoTerminalError(
            "the TUI needs a terminal on stdin and stdout; without one use --once,"
            " --json-stream or `vramtop replay FILE --jsonl`"
        )
    holder.install_sighup()
    app = create_app(
        monitor,
        holder,
        accessible=bool(getattr(args, "accessible", False)),
        no_kill=bool(getattr(args, "no_kill", False)),
        theme=getattr(args, "theme", None),
    )
    try:
        result = app.run()
    finally:
        monitor.close()
    return result if isinstance(result, int) else (app.return_code or 0)
