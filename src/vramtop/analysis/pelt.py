"""PELT changepoints on a memory series (`[oom_prediction] algorithm = "pelt"`).

The series' sample-to-sample rates (MB/s, as the phase detector sees them) are
cut into segments of constant mean rate by PELT (`ruptures`, `l2` cost), with a
penalty preset per kind of workload (`PENALTY_PRESETS`) and at least
`min_size` rates per segment. The rates are scaled by their own noise (the
median successive difference, at least the noise floor), so a penalty means
the same on a quiet series and on a bursty one. Each segment is classified with the phase
detector's own thresholds (`phase.classify_rates`), so "GROWING" means the
same thing in both algorithms.

`ruptures` is an optional extra (`pip install 'vramtop[pelt]'`), imported
lazily in `_ruptures()` and nowhere else. Without it `detect` returns no
changepoints and says so in `PeltResult.notice`.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from vramtop.analysis.phase import (
    CONFIDENCE_FULL_AFTER_SAMPLES,
    CONFIDENCE_VARIANCE_SCALE,
    PhaseParams,
    classify_rates,
)
from vramtop.model import Phase, PhaseState

MB = 1_000_000.0
PENALTY_PRESETS: dict[str, float] = {
    "pytorch_training": 10.0,
    "inference_server": 50.0,
    "unknown": 20.0,
}
PELT_JUMP = 2  # candidate changepoints every 2 rates: 4x cheaper, still finer than min_size
NOTICE = "PELT needs the optional extra: pip install 'vramtop[pelt]'; using the variance algorithm"
_SERVER_FRAMEWORKS = frozenset({"vllm", "sglang", "tgi", "ollama", "llamacpp", "llama.cpp"})
_TRAINING_FRAMEWORKS = frozenset({"pytorch", "jax", "tensorflow"})


def _ruptures() -> ModuleType | None:
    """The one place `ruptures` is imported."""
    try:
        return importlib.import_module("ruptures")
    except ImportError:
        return None


def available() -> bool:
    return _ruptures() is not None


def preset_for(frameworks: Sequence[str | None], cmdlines: Sequence[Sequence[str]] = ()) -> str:
    """The penalty preset for a GPU, from what runs on it."""
    fws = {f.lower() for f in frameworks if f}
    if fws & _SERVER_FRAMEWORKS:
        return "inference_server"
    text = " ".join(" ".join(c).lower() for c in cmdlines)
    if fws & _TRAINING_FRAMEWORKS or any(w in text for w in ("train", "finetune", "torchrun")):
        return "pytorch_training"
    return "unknown"


def penalty(preset: str | None) -> float:
    return PENALTY_PRESETS.get(preset or "unknown", PENALTY_PRESETS["unknown"])


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of constant mean rate. Times are those of the samples bounding it."""

    start_t: float
    end_t: float
    rates: int
    phase: Phase
    mean_rate_bytes_per_s: float
    variance: float


@dataclass(frozen=True, slots=True)
class PeltResult:
    available: bool
    changepoints: tuple[float, ...] = ()  # times where a new segment starts
    segments: tuple[Segment, ...] = ()
    notice: str | None = None

    @property
    def last(self) -> Segment | None:
        return self.segments[-1] if self.segments else None


def _rates(points: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """Sample times (the first usable one, then each rate's end) and the rates (MB/s)."""
    times: list[float] = []
    rates: list[float] = []
    prev: tuple[float, float] | None = None
    for t, v in points:
        if not (math.isfinite(t) and math.isfinite(v)):
            continue
        if prev is not None and t > prev[0]:
            r = (v - prev[1]) / (t - prev[0]) / MB
            if math.isfinite(r):
                rates.append(r)
                times.append(t)
        if prev is None:
            times.append(t)
        if prev is None or t > prev[0]:
            prev = (t, v)
    return times, rates


def detect(
    points: Sequence[tuple[float, float]],
    *,
    pen: float = PENALTY_PRESETS["unknown"],
    min_size: int = 5,
    params: PhaseParams | None = None,
) -> PeltResult:
    """Changepoints of `(t, bytes)` samples and their classified segments."""
    rpt = _ruptures()
    if rpt is None:
        return PeltResult(available=False, notice=NOTICE)
    params = params or PhaseParams()
    times, rates = _rates(points)
    size = max(2, int(min_size))
    if len(rates) < max(2 * size, 3):
        return PeltResult(available=True)
    import numpy as np  # numpy comes with ruptures

    # The penalty is in units of the rate noise: rates are divided by a robust estimate
    # of it (successive differences' MAD), never below the phase detector's noise floor.
    diffs = sorted(abs(b - a) for a, b in itertools.pairwise(rates))
    noise = 1.4826 * diffs[len(diffs) // 2] / math.sqrt(2) if diffs else 0.0
    scale = max(params.noise_floor_mb, noise, 1e-9)
    signal = np.asarray([r / scale for r in rates], dtype=float).reshape(-1, 1)
    algo: Any = rpt.Pelt(model="l2", min_size=size, jump=PELT_JUMP).fit(signal)
    try:
        ends = [int(e) for e in algo.predict(pen=max(0.0, float(pen)))]
    except Exception:  # ruptures raises BadSegmentationParameters on degenerate inputs
        ends = [len(rates)]
    segments: list[Segment] = []
    start = 0
    for end in ends:
        chunk = rates[start:end]
        if not chunk:
            continue
        phase, variance = classify_rates(chunk, params)
        segments.append(
            Segment(
                start_t=times[start],
                end_t=times[end],
                rates=len(chunk),
                phase=phase,
                mean_rate_bytes_per_s=sum(chunk) / len(chunk) * MB,
                variance=variance,
            )
        )
        start = end
    return PeltResult(
        available=True,
        changepoints=tuple(s.start_t for s in segments[1:]),
        segments=tuple(segments),
    )


def segment_state(seg: Segment) -> PhaseState:
    """A segment as a PhaseState, with the phase detector's confidence formula."""
    variance = seg.variance if math.isfinite(seg.variance) else 0.0
    confidence = min(1.0, seg.rates / CONFIDENCE_FULL_AFTER_SAMPLES) / (
        1.0 + variance / CONFIDENCE_VARIANCE_SCALE
    )
    rate = seg.mean_rate_bytes_per_s if math.isfinite(seg.mean_rate_bytes_per_s) else 0.0
    return PhaseState(
        phase=seg.phase,
        duration_samples=seg.rates,
        rate_bytes_per_s=rate,
        confidence=max(0.0, min(1.0, confidence)),
        variance=variance,
    )


class PeltTracker:
    """Keeps a bounded series and re-runs `detect` every `every` samples (it costs ms)."""

    def __init__(
        self,
        *,
        min_size: int = 5,
        every: int = 5,
        max_points: int = 180,
        params: PhaseParams | None = None,
    ) -> None:
        self.min_size = max(2, min_size)
        self.every = max(1, every)
        self.params = params or PhaseParams()
        self._points: deque[tuple[float, float]] = deque(maxlen=max(10, max_points))
        self._since = 0
        self._result: PeltResult | None = None

    @property
    def result(self) -> PeltResult | None:
        return self._result

    def reset(self) -> None:
        """Forget the series (the picture starts afresh)."""
        self._points.clear()
        self._since = 0
        self._result = None

    def update(self, t: float, value: float | None, preset: str | None = None) -> PeltResult | None:
        if value is None or not (math.isfinite(t) and math.isfinite(value)):
            return self._result
        if self._points and t <= self._points[-1][0]:
            if t < self._points[-1][0]:
                self._points.clear()  # the clock went back: a new timeline
                self._result = None
            else:
                return self._result
        self._points.append((t, value))
        self._since += 1
        if self._result is None or self._since >= self.every:
            self._since = 0
            self._result = detect(
                self._points, pen=penalty(preset), min_size=self.min_size, params=self.params
            )
        return self._result
