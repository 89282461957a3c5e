"""The phase detector: is a memory series stable, growing, shrinking or volatile?

The spec's baseline: a sliding window of rates (MB/s), classified by mean,
variance and the share of rates beyond the noise floor, with hysteresis and an
EMA-smoothed rate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from math import isfinite

from vramtop.model import STABLE_UNKNOWN, Phase, PhaseState, positional_factory

MB = 1_000_000.0
DIRECTIONAL_SHARE = 0.6
CONFIDENCE_FULL_AFTER_SAMPLES = 30.0
CONFIDENCE_VARIANCE_SCALE = 100.0
MIN_RATES = 3

_new_state: Callable[[Phase, int, float, float, float], PhaseState] = positional_factory(PhaseState)


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
    below_floor = -floor
    total = 0.0
    above = below = 0
    for r in rates_mb:
        total += r
        if r > floor:
            above += 1
        elif r < below_floor:
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

    __slots__ = (
        "_all_zero",
        "_candidate",
        "_candidate_count",
        "_duration",
        "_ema",
        "_last_t",
        "_last_v",
        "_phase",
        "_rates",
        "_state",
        "_zero_run",
        "params",
    )

    def __init__(self, params: PhaseParams | None = None) -> None:
        self.params = params or PhaseParams()
        self._rates: deque[float] = deque(maxlen=self.params.window)
        #: The previous sample (None before the first).
        self._last_t: float | None = None
        self._last_v = 0.0
        self._phase = Phase.STABLE
        self._duration = 0
        self._candidate: Phase | None = None
        self._candidate_count = 0
        self._ema: float | None = None
        self._state = STABLE_UNKNOWN
        #: How many of the latest rates are exactly zero (an unchanged value).
        self._zero_run = 0
        #: classify_rates of a window of zeros, made when first needed.
        self._all_zero: tuple[Phase, float] | None = None

    @property
    def state(self) -> PhaseState:
        return self._state

    def update(self, t: float, used_bytes: float | None) -> PhaseState:
        if used_bytes is None or not isfinite(t) or not isfinite(used_bytes):
            return self._state
        t0 = self._last_t
        v0 = self._last_v
        self._last_v = used_bytes
        if t0 is None:
            self._last_t = t
            return self._state
        dt = t - t0
        if dt <= 0:
            # Clock went backwards or repeated: take the new value, no rate.
            self._last_t = max(t, t0)
            return self._state
        self._last_t = t
        rate = (used_bytes - v0) / dt / MB
        if not isfinite(rate):
            return self._state
        rates = self._rates
        rates.append(rate)
        params = self.params
        ema = self._ema
        if ema is None:
            ema = rate
        else:
            alpha = params.ema_alpha
            ema = alpha * rate + (1 - alpha) * ema
        self._ema = ema

        zero_run = self._zero_run = self._zero_run + 1 if rate == 0.0 else 0
        n = len(rates)
        if n < MIN_RATES:
            self._state = _new_state(Phase.STABLE, 0, ema * MB, 0.0, 0.0)
            return self._state

        if zero_run >= n:
            # A window of zeros classifies the same whatever its length.
            if self._all_zero is None:
                self._all_zero = classify_rates(rates, params)
            raw, variance = self._all_zero
        else:
            raw, variance = classify_rates(rates, params)
        phase = self._phase
        if raw is phase:
            self._candidate = None
            self._candidate_count = 0
            duration = self._duration + 1
        elif raw is self._candidate:
            count = self._candidate_count + 1
            if count >= params.hysteresis:
                phase = self._phase = raw
                duration = count
                self._candidate = None
                self._candidate_count = 0
            else:
                self._candidate_count = count
                duration = self._duration + 1
        else:
            self._candidate = raw
            self._candidate_count = 1
            duration = self._duration + 1
        self._duration = duration

        # The clamps below are min(1.0, x) and max(0.0, x), written out.
        share = duration / CONFIDENCE_FULL_AFTER_SAMPLES
        confidence = (share if share < 1.0 else 1.0) * (
            1.0 / (1.0 + variance / CONFIDENCE_VARIANCE_SCALE)
        )
        if not isfinite(confidence) or not confidence > 0.0:
            confidence = 0.0
        elif not confidence < 1.0:
            confidence = 1.0
        self._state = _new_state(
            phase, duration, ema * MB, confidence, variance if isfinite(variance) else 0.0
        )
        return self._state
