"""A Static that repaints only when its text really changed, and re-lays out only
when its number of lines did (a full layout pass per frame is what makes a TUI slow)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

Signature = tuple[str, str, tuple[object, ...]]


def signature(text: Text) -> Signature:
    return (text.plain, str(text.style), tuple(text.spans))


class Line(Static):
    def __init__(
        self, content: str = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(content, id=id, classes=classes)
        self._sig: Signature | None = None

    def set(self, text: Text | str) -> None:
        value = text if isinstance(text, Text) else Text(text)
        sig = signature(value)
        if sig == self._sig:
            return
        relayout = self._sig is None or self._sig[0].count("\n") != sig[0].count("\n")
        self._sig = sig
        self.update(value, layout=relayout)
