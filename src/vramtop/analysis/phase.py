"""The phase detector: is a memory series stable, growing, shrinking or volatile?

The spec's baseline: a sliding window of rates (MB/s), classified by mean,
variance and the share of rates beyond the noise floor, with hysteresis and an
EMA-smoothed rate.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from vramtop.model import STABLE_UNKNOWN, Phase, PhaseState

MB = 1_000_000.0
DIRECTIONAL_SHARE = 0.6
CONFIDENCE_FULL_AFTER_SAMPLES = 30.0
CONFIDENCE_VARIANCE_SCALE = 100.0
MIN_RATES = 3


@dataclass(frozen=True, slots=True)
class PhaseParams:
    window: int = 10
    hysteresis: int = 3
    noise_floor_mb: float = 1.0
    variance_threshold: float = 4.0
    ema_alpha: float = 0.3


def classify_rates(
    rates_mb: list[float] | deque[float], params: PhaseParams
) -> tuple[Phase, float]:
    """Classify a window of rates (MB/s); returns the phase and the rates' variance."""
    # One pass for the counts, one for the variance: this runs for every process
    # every sample, so it avoids generator expressions.
    n = len(rates_mb)
    floor = params.noise_floor_mb
    total = 0.0
    above = below = 0
    for r in rates_mb:
        total += r
        if r > floor:
            above += 1
        elif r < -floor:
            below += 1
    mean = total / n
    squares = 0.0
    for r in rates_mb:
        d = r - mean
        # `d * d`, not `d ** 2`: a huge rate (a tiny dt) overflows to inf instead of raising.
        squares += d * d
    variance = squares / n
    positive = above / n
    negative = below / n
    if variance < params.variance_threshold and abs(mean) < floor:
        return Phase.STABLE, variance
    if mean > floor and positive > DIRECTIONAL_SHARE:
        return Phase.GROWING, variance
    if mean < -floor and negative > DIRECTIONAL_SHARE:
        return Phase.SHRINKING, variance
    return Phase.VOLATILE, variance


class PhaseDetector:
    """Feed `(t, used_bytes)` samples; read the current PhaseState."""

    def __init__(self, params: PhaseParams | None = None) -> None:
        self.params = params or PhaseParams()
        self._rates: deque[float] = deque(maxlen=self.params.window)
        self._last: tuple[float, float] | None = None
        self._phase = Phase.STABLE
        self._duration = 0
        self._candidate: Phase | None = None
        self._candidate_count = 0
        self._ema: float | None = None
        self._state = STABLE_UNKNOWN

    @property
    def state(self) -> PhaseState:
        return self._state

    def update(self, t: float, used_bytes: float | None) -> PhaseState:
        if used_bytes is None or not math.isfinite(t) or not math.isfinite(used_bytes):
            return self._state
        if self._last is None:
            self._last = (t, used_bytes)
            return self._state
        t0, v0 = self._last
        dt = t - t0
        if dt <= 0:
            # Clock went backwards or repeated: take the new value, no rate.
            self._last = (max(t, t0), used_bytes)
            return self._state
        self._last = (t, used_bytes)
        rate = (used_bytes - v0) / dt / MB
        if not math.isfinite(rate):
            return self._state
        self._rates.append(rate)
        alpha = self.params.ema_alpha
        self._ema = rate if self._ema is None else alpha * rate + (1 - alpha) * self._ema

        if len(self._rates) < MIN_RATES:
            self._state = PhaseState(Phase.STABLE, 0, self._ema * MB, 0.0)
            return self._state

        raw, variance = classify_rates(self._rates, self.params)
        if raw == self._phase:
            self._candidate = None
            self._candidate_count = 0
            self._duration += 1
        elif raw == self._candidate:
            self._candidate_count += 1
            if self._candidate_count >= self.params.hysteresis:
                self._phase = raw
                self._duration = self._candidate_count
                self._candidate = None
                self._candidate_count = 0
            else:
                self._duration += 1
        else:
            self._candidate = raw
            self._candidate_count = 1
            self._duration += 1

        confidence = min(1.0, self._duration / CONFIDENCE_FULL_AFTER_SAMPLES) * (
            1.0 / (1.0 + variance / CONFIDENCE_VARIANCE_SCALE)
        )
        if not math.isfinite(confidence):
            confidence = 0.0
        self._state = PhaseState(
            phase=self._phase,
            duration_samples=self._duration,
            rate_bytes_per_s=self._ema * MB,
            confidence=min(1.0, max(0.0, confidence)),
            variance=variance if math.isfinite(variance) else 0.0,
        )
        return self._state
