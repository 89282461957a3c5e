"""The kill dialog: SIGTERM, wait showing progress, then offer SIGKILL.

The process is the row that was selected when `k` was pressed, held by its
identity (PID + start time). `vramtop.actions` re-verifies that identity
against /proc right before each signal and writes the audit log. All /proc
reads and signals run in thread workers, never on the UI thread.
"""

from __future__ import annotations

import signal
import time
from enum import Enum
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static
from textual.worker import get_current_worker

from vramtop import actions
from vramtop.frame import ProcessView
from vramtop.ui.state import display_name
from vramtop.ui.widgets.badges import process_user
from vramtop.units import fmt_bytes, fmt_duration

POLL_S = 0.1


def kill_refusal(
    view: ProcessView | None, *, live: bool, enabled: bool, remote: bool
) -> str | None:
    """Why `k` cannot open the dialog at all, or None when it can."""
    if not live:
        return "kill is not available in replay: these processes are from a recording"
    if not enabled:
        return "kill disabled (--no-kill or display.enable_kill = false)"
    if view is None:
        return "no process selected"
    if remote:
        return "this process runs on another host: kill it there"
    return None


class Stage(str, Enum):
    CONFIRM_TERM = "confirm_term"
    WAITING = "waiting"
    CONFIRM_KILL = "confirm_kill"
    DONE = "done"


class KillScreen(ModalScreen[str | None]):
    """Confirm, signal, wait; dismissed with a one-line summary (None if nothing happened)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes", tooltip="Send the signal offered"),
        Binding("n", "cancel", "No", tooltip="Do not send it"),
        Binding("escape", "cancel", "Close", tooltip="Close the dialog"),
    ]

    # Short terminals get a dialog without padding and one-line buttons.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (26, "-tall")]  # noqa: RUF012

    class AgeKnown(Message):
        def __init__(self, age_s: float | None) -> None:
            super().__init__()
            self.age_s = age_s

    class Signalled(Message):
        def __init__(self, result: actions.SignalResult) -> None:
            super().__init__()
            self.result = result

    class Waiting(Message):
        def __init__(self, elapsed_s: float) -> None:
            super().__init__()
            self.elapsed_s = elapsed_s

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, KillScreen.Waiting)

    class Exited(Message):
        def __init__(self, elapsed_s: float) -> None:
            super().__init__()
            self.elapsed_s = elapsed_s

    class StillRunning(Message):
        pass

    def __init__(
        self, view: ProcessView, *, grace_s: float, audit: actions.AuditLog | None = None
    ) -> None:
        super().__init__(id="kill")
        self.view = view
        self.identity = view.identity
        self.name_ = display_name(view)
        self.grace_s = grace_s
        self.audit = audit or actions.AuditLog()
        self.stage = Stage.CONFIRM_TERM
        self.age_s: float | None = None
        self.sig = signal.SIGTERM
        self.summary: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="kill-dialog"):
            yield Static(
                Text(f"Kill {self.name_} (PID {self.identity.pid})?", style="bold"), id="kill-title"
            )
            yield Static(id="kill-facts")
            yield Static(id="kill-question")
            yield ProgressBar(total=self.grace_s, show_eta=False, id="kill-progress")
            with Horizontal(id="kill-buttons"):
                yield Button("Send SIGTERM (y)", variant="warning", id="kill-confirm")
                yield Button("Cancel (n)", id="kill-cancel")

    def on_mount(self) -> None:
        self.query_one("#kill-progress", ProgressBar).display = False
        self._update_facts()
        self._set_question(Text("Send SIGTERM (ask the process to exit)? [y/n]"))
        self._load_age()

    # --- rendering ----------------------------------------------------------------------

    def _update_facts(self) -> None:
        pv = self.view
        age = fmt_duration(self.age_s) if self.age_s is not None else "…"
        cmd = " ".join(pv.process.cmdline or (pv.info.cmdline if pv.info else ()))
        facts = Text(
            f"name     {self.name_}\nPID      {self.identity.pid}"
            f" (started {age} ago, starttime {self.identity.starttime})\n"
            f"user     {process_user(pv)}\n"
            f"VRAM     {fmt_bytes(pv.process.used_bytes)} on GPU {pv.gpu_index}"
        )
        if cmd:
            facts.append(f"\ncommand  {cmd[:200]}")
        self.query_one("#kill-facts", Static).update(facts)

    def _set_question(self, text: Text) -> None:
        self.query_one("#kill-question", Static).update(text)

    def _set_buttons(self, confirm: str | None, cancel: str) -> None:
        ok = self.query_one("#kill-confirm", Button)
        ok.display = confirm is not None
        if confirm is not None:
            ok.label = confirm
        self.query_one("#kill-cancel", Button).label = cancel

    # --- keys and buttons ---------------------------------------------------------------

    def action_confirm(self) -> None:
        if self.stage is Stage.CONFIRM_TERM:
            self._start(signal.SIGTERM)
        elif self.stage is Stage.CONFIRM_KILL:
            self._start(signal.SIGKILL)
        elif self.stage is Stage.DONE:
            self.dismiss(self.summary)

    def action_cancel(self) -> None:
        if self.stage is Stage.CONFIRM_TERM:
            self.dismiss(None)
        elif self.stage is Stage.CONFIRM_KILL:
            self.summary = f"PID {self.identity.pid} left running after SIGTERM"
            self.audit.record(self.identity, "SIGKILL", "declined by user", self.name_)
            self.dismiss(self.summary)
        else:
            # Closing while waiting stops watching; the signal was already sent.
            self.workers.cancel_all()
            self.dismiss(self.summary)

    @on(Button.Pressed, "#kill-confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#kill-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def _start(self, sig: signal.Signals) -> None:
        self.sig = sig
        self.stage = Stage.WAITING
        self._set_buttons(None, "Close (Esc)")
        self._set_question(Text(f"Sending {sig.name}…"))
        self._signal_and_wait(sig)

    # --- workers (thread): verify + signal + wait -------------------------------------------

    @work(thread=True, exclusive=True, group="kill-age")
    def _load_age(self) -> None:
        self.post_message(self.AgeKnown(actions.process_age_s(self.identity)))

    @work(thread=True, exclusive=True, group="kill-signal")
    def _signal_and_wait(self, sig: signal.Signals) -> None:
        worker = get_current_worker()
        result = actions.send_signal(self.identity, sig, name=self.name_, audit=self.audit)
        self.post_message(self.Signalled(result))
        if not result.sent:
            return
        started = time.monotonic()
        while not worker.is_cancelled:
            elapsed = time.monotonic() - started
            if not actions.is_running(self.identity):
                self.post_message(self.Exited(elapsed))
                return
            if elapsed >= self.grace_s:
                self.post_message(self.StillRunning())
                return
            self.post_message(self.Waiting(elapsed))
            time.sleep(POLL_S)

    # --- worker reports -----------------------------------------------------------------

    def on_kill_screen_age_known(self, message: AgeKnown) -> None:
        self.age_s = message.age_s
        self._update_facts()

    def on_kill_screen_signalled(self, message: Signalled) -> None:
        result = message.result
        if result.sent:
            bar = self.query_one("#kill-progress", ProgressBar)
            bar.display = True
            bar.update(total=self.grace_s, progress=0)
            self._set_question(
                Text(
                    f"{result.signal} sent. Waiting for PID {self.identity.pid}"
                    f" to exit (up to {self.grace_s:g} s)…"
                )
            )
            return
        self.stage = Stage.DONE
        self.summary = f"{result.signal} {result.outcome.value}: {result.message}"
        style = "bold" if result.outcome is actions.Outcome.GONE else "bold red"
        self._set_question(Text(f"{result.outcome.value.upper()}: {result.message}", style=style))
        self._set_buttons(None, "Close (Esc)")

    def on_kill_screen_waiting(self, message: Waiting) -> None:
        if self.stage is not Stage.WAITING:
            return
        self.query_one("#kill-progress", ProgressBar).update(progress=message.elapsed_s)
        self._set_question(
            Text(
                f"{self.sig.name} sent. Waiting for PID {self.identity.pid} to exit:"
                f" {message.elapsed_s:.1f} s of {self.grace_s:g} s"
            )
        )

    def on_kill_screen_exited(self, message: Exited) -> None:
        self.stage = Stage.DONE
        self.summary = f"PID {self.identity.pid} ({self.name_}) exited after {self.sig.name}"
        self.dismiss(self.summary)

    def on_kill_screen_still_running(self, message: StillRunning) -> None:
        bar = self.query_one("#kill-progress", ProgressBar)
        bar.update(progress=self.grace_s)
        if self.sig is signal.SIGKILL:
            self.stage = Stage.DONE
            self.summary = (
                f"PID {self.identity.pid} still present {self.grace_s:g} s after SIGKILL"
                " (uninterruptible I/O?)"
            )
            self._set_question(Text(self.summary, style="bold red"))
            self._set_buttons(None, "Close (Esc)")
            return
        self.stage = Stage.CONFIRM_KILL
        self._set_question(
            Text(
                f"Still running {self.grace_s:g} s after SIGTERM. Send SIGKILL? [y/n]"
                " (it cannot clean up: unsaved work is lost)",
                style="bold",
            )
        )
        self._set_buttons("Send SIGKILL (y)", "Leave it running (n)")
        self.query_one("#kill-confirm", Button).variant = "error"
