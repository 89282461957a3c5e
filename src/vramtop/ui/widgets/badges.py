"""Small pieces of styled text shared by the cards, the table and the detail screen.

Every fact keeps a symbol or a word, so nothing is told by colour alone; with
`plain` (NO_COLOR or --accessible) the words are always present.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.color import Color, ColorParseError
from rich.text import Text

from vramtop import security
from vramtop.frame import GPUView, ProcessView
from vramtop.model import OOMPrediction, Phase, SurvivalPrediction, Verdict
from vramtop.units import confidence_meter, fmt_oom_range, fmt_temp

PHASE_SYMBOL: dict[Phase, str] = {
    Phase.STABLE: "▬",
    Phase.GROWING: "▲",
    Phase.SHRINKING: "▼",
    Phase.VOLATILE: "〜",
}


@dataclass(frozen=True, slots=True)
class Palette:
    """Text colours taken from the current Textual theme's variables."""

    good: str = "green"
    bad: str = "red"
    warn: str = "yellow"
    info: str = "cyan"

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> Palette:
        def pick(name: str, default: str) -> str:
            value = variables.get(name, "")
            try:
                Color.parse(value)
            except ColorParseError:
                return default
            return value

        return cls(
            good=pick("text-success", "green"),
            bad=pick("text-error", "red"),
            warn=pick("text-warning", "yellow"),
            info=pick("text-primary", "cyan"),
        )

    def phase(self, phase: Phase) -> str:
        return {
            Phase.STABLE: self.good,
            Phase.GROWING: f"bold {self.bad}",
            Phase.SHRINKING: self.info,
            Phase.VOLATILE: self.warn,
        }[phase]

    def verdict(self, verdict: Verdict) -> str:
        return {
            Verdict.OK: self.good,
            Verdict.TIGHT: f"bold {self.warn}",
            Verdict.OOM: f"bold {self.bad}",
        }[verdict]

    @property
    def alert(self) -> str:
        return f"bold {self.bad}"


DEFAULT_PALETTE = Palette()


def phase_badge(phase: Phase, *, words: bool, pal: Palette = DEFAULT_PALETTE) -> Text:
    """`▲` (or `▲ growing` with words) styled by phase."""
    label = PHASE_SYMBOL[phase]
    if words:
        label = f"{label} {phase.value}"
    return Text(label, style=pal.phase(phase))


def verdict_badge(survival: SurvivalPrediction | None, pal: Palette = DEFAULT_PALETTE) -> Text:
    """`OK` / `TIGHT` / `OOM` (always words), `-` when there is no verdict."""
    if survival is None:
        return Text("-", style="dim")
    return Text(survival.verdict.value.upper(), style=pal.verdict(survival.verdict))


def oom_text(
    oom: OOMPrediction | None, *, meter: bool = True, pal: Palette = DEFAULT_PALETTE
) -> Text:
    """`!!! OOM ~60-120s [■■■□□]` in bold red for an alert (never blinking);
    `OOM ~5-9m` for a prediction under the alert level; `OOM in >1h` when capped."""
    if oom is None:
        return Text("")
    span = fmt_oom_range(oom.seconds_low, oom.seconds_high)
    if oom.capped:
        text = Text("OOM in >1h", style="dim")
    elif oom.alert:
        text = Text(f"!!! OOM {span}", style=pal.alert)
    else:
        text = Text(f"OOM {span}", style=pal.warn)
    if meter:
        text.append(f" {confidence_meter(oom.confidence)}", style="" if oom.alert else "dim")
    return text


def user_name(uid: int | None) -> str:
    """The login name of `uid`, its number when it has none, `?` when unknown."""
    return security.user_name(uid) or "?"


def process_user(pv: ProcessView) -> str:
    if pv.info is not None and pv.info.user:
        return pv.info.user
    return user_name(pv.process.uid)


def is_mps(pv: ProcessView) -> bool:
    return pv.process.mps or (pv.info is not None and pv.info.mps_client)


def framework_label(pv: ProcessView) -> str:
    return (pv.info.framework if pv.info and pv.info.framework else None) or "-"


def container_label(pv: ProcessView) -> str:
    info = pv.info
    if info is None or info.container is None:
        return "-"
    return info.container.short_id or info.container.runtime


def gpu_alerts(gpu: GPUView, *, meter: bool = True, pal: Palette = DEFAULT_PALETTE) -> Text:
    """The alerts of one GPU as text: OOM and temperature."""
    parts = Text()
    if gpu.oom is not None:
        parts.append_text(oom_text(gpu.oom, meter=meter, pal=pal))
    if gpu.temp_warning:
        if parts:
            parts.append("  ")
        parts.append(f"TEMP WARNING {fmt_temp(gpu.device.temperature_c)}", style=f"bold {pal.warn}")
    return parts
