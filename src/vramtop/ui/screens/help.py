"""`?`: every key, in one list (built from the bindings themselves, so it cannot drift)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "space": "space",
    "left": "←",
    "right": "→",
    "escape": "Esc",
}


def key_label(key: str) -> str:
    return ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def visible_bindings(bindings: Sequence[BindingType]) -> list[Binding]:
    """The bindings a user can press (the ones a disabled twin stands in for left out)."""
    return [b for b in bindings if isinstance(b, Binding) and not b.action.endswith("_disabled")]


def help_text(sections: Sequence[tuple[str, Sequence[Binding]]], notes: Sequence[str] = ()) -> Text:
    out = Text()
    for title, bindings in sections:
        if not bindings:
            continue
        if out:
            out.append("\n")
        out.append(f"{title}\n", style="bold underline")
        for b in bindings:
            out.append(f"  {key_label(b.key):<10}", style="bold")
            out.append(f"{b.tooltip or b.description}\n")
    for note in notes:
        out.append(f"\n{note}", style="dim")
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?"),
    ]

    def __init__(
        self, sections: Sequence[tuple[str, Sequence[Binding]]], notes: Sequence[str] = ()
    ) -> None:
        super().__init__(id="help")
        self._text = help_text(sections, notes)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(Text("vramtop keys", style="bold"))
            yield Static(self._text, id="help-text")
            yield Static(Text("Esc or ? closes", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
