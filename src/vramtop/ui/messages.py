"""Messages of the TUI: data flows down as attributes, events flow up as these."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from vramtop.config import Config
from vramtop.frame import Frame, ProcessView


@dataclass(frozen=True, slots=True)
class ProcessSeries:
    """The memory history of one process, fetched off the UI thread for the detail screen.

    `age_s` is how long the process has run (live sources only; None for a
    recording, whose start times belong to another machine).
    """

    key: str
    points: tuple[tuple[float, float], ...]
    age_s: float | None


class FrameReady(Message):
    """A new frame from the sampling worker; a newer one replaces it if the UI lags."""

    def __init__(self, frame: Frame, series: ProcessSeries | None = None) -> None:
        super().__init__()
        self.frame = frame
        self.series = series

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameReady)


class SampleFailed(Message):
    """The engine could not take a sample (a BackendError): shown, never fatal."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ConfigReloaded(Message):
    """SIGHUP asked for a reload; `config` is what is in force now."""

    def __init__(self, text: str, old: Config, config: Config) -> None:
        super().__init__()
        self.text = text
        self.old = old
        self.config = config


class DetailRequested(Message):
    """The user asked for the detail screen of a process (`d`)."""

    def __init__(self, view: ProcessView | None) -> None:
        super().__init__()
        self.view = view


class KillRequested(Message):
    """The user asked to signal a process (`k`); the row selected when the key was pressed."""

    def __init__(self, view: ProcessView | None) -> None:
        super().__init__()
        self.view = view
