"""The phase detector (the spec's baseline) and the trend helpers."""

from __future__ import annotations

import math
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramtop.analysis.phase import PhaseDetector, PhaseParams, classify_rates
from vramtop.analysis.trends import TrendTracker, allocation_rate, ema_rate, theil_sen
from vramtop.model import STABLE_UNKNOWN, Phase, PhaseState

MB = 1_000_000


def _run(
    values_mb: list[float], params: PhaseParams | None = None, dt: float = 1.0
) -> list[object]:
    d = PhaseDetector(params)
    return [d.update(i * dt, v * MB) for i, v in enumerate(values_mb)]


def test_fewer_than_three_rates_is_stable_with_no_confidence() -> None:
    states = _run([0, 100, 200])
    assert all(s.phase is Phase.STABLE and s.confidence == 0 for s in states)  # type: ignore[attr-defined]


def test_growth_becomes_growing_after_hysteresis() -> None:
    states = _run([i * 50.0 for i in range(20)])
    phases = [s.phase for s in states]  # type: ignore[attr-defined]
    first = phases.index(Phase.GROWING)
    # Classified from the 3rd rate (sample 3); 3 consecutive GROWING samples: 3, 4, 5.
    assert first == 5
    assert states[-1].rate_bytes_per_s == pytest.approx(50 * MB)  # type: ignore[attr-defined]


def test_flat_is_stable_and_falling_is_shrinking() -> None:
    assert _run([500.0] * 20)[-1].phase is Phase.STABLE  # type: ignore[attr-defined]
    assert _run([1000.0 - 30 * i for i in range(20)])[-1].phase is Phase.SHRINKING  # type: ignore[attr-defined]


def test_sawtooth_is_volatile() -> None:
    assert _run([5000.0 if i % 2 else 11000.0 for i in range(30)])[-1].phase is Phase.VOLATILE  # type: ignore[attr-defined]


def test_classify_rates_thresholds() -> None:
    p = PhaseParams()
    assert classify_rates([0.5, -0.5, 0.2], p)[0] is Phase.STABLE
    assert classify_rates([5.0, 5.0, 5.0, 0.0], p)[0] is Phase.GROWING
    assert classify_rates([-5.0, -5.0, -5.0, 0.0], p)[0] is Phase.SHRINKING
    assert classify_rates([5.0, -5.0, 5.0, -5.0], p)[0] is Phase.VOLATILE


def test_confidence_formula() -> None:
    states = _run([i * 10.0 for i in range(40)])
    last = states[-1]
    expected = min(1.0, last.duration_samples / 30) / (1 + last.variance / 100)  # type: ignore[attr-defined]
    assert last.confidence == pytest.approx(expected)  # type: ignore[attr-defined]


_val = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70)
)
_t = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_t, _val), max_size=80))
def test_phase_detector_never_raises(samples: list[tuple[float, float | None]]) -> None:
    d = PhaseDetector()
    for t, v in samples:
        s = d.update(t, v)
        assert 0.0 <= s.confidence <= 1.0
        assert s.duration_samples >= 0
        assert math.isfinite(s.variance)


# --- trends ------------------------------------------------------------------------------


def test_theil_sen_ignores_a_jump() -> None:
    pts = [(float(t), 100.0 * t + (5000.0 if t == 5 else 0.0)) for t in range(12)]
    assert theil_sen(pts) == pytest.approx(100.0)
    assert theil_sen([(1.0, 5.0)]) == 0.0
    assert theil_sen([(1.0, 5.0), (1.0, 9.0)]) == 0.0


def test_rates() -> None:
    pts = [(float(t), 7.0 * t) for t in range(30)]
    assert ema_rate(pts) == pytest.approx(7.0)
    assert allocation_rate(pts, 10) == pytest.approx(7.0)
    assert ema_rate([(0.0, 1.0)]) is None
    assert allocation_rate([], 10) is None


def test_trend_tracker() -> None:
    tr = TrendTracker(alpha=0.5, window_s=10)
    assert tr.update(0, 0.0) is None
    for t in range(1, 30):
        trend = tr.update(t, 3.0 * t)
    assert trend is not None
    assert trend.ema_rate_bytes_per_s == pytest.approx(3.0)
    assert trend.window_rate_bytes_per_s == pytest.approx(3.0)
    assert trend.peak_bytes == 87.0 and trend.samples == 30
    assert tr.update(5, 1e9) == trend  # time going backwards is ignored
    assert tr.update(40, float("nan")) == trend


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_t, _val), max_size=60))
def test_trends_never_raise(samples: list[tuple[float, float | None]]) -> None:
    tr = TrendTracker()
    for t, v in samples:
        tr.update(t, v)  # type: ignore[arg-type]
    pts = [(float(t), float(v)) for t, v in samples if v is not None]
    theil_sen(pts)
    ema_rate(pts)
    allocation_rate(pts, 10.0)


# --- the detector against a plain re-statement of the baseline ---------------------------


class _ReferenceDetector:
    """The baseline as first written: every rate classified by `classify_rates`, no
    shortcut for windows of zeros, the clamps as min/max."""

    def __init__(self, params: PhaseParams) -> None:
        self.params = params
        self.rates: deque[float] = deque(maxlen=params.window)
        self.last: tuple[float, float] | None = None
        self.phase = Phase.STABLE
        self.duration = 0
        self.candidate: Phase | None = None
        self.count = 0
        self.ema: float | None = None
        self.state = STABLE_UNKNOWN

    def update(self, t: float, v: float | None) -> PhaseState:
        if v is None or not math.isfinite(t) or not math.isfinite(v):
            return self.state
        if self.last is None:
            self.last = (t, v)
            return self.state
        t0, v0 = self.last
        if t - t0 <= 0:
            self.last = (max(t, t0), v)
            return self.state
        self.last = (t, v)
        rate = (v - v0) / (t - t0) / MB
        if not math.isfinite(rate):
            return self.state
        self.rates.append(rate)
        a = self.params.ema_alpha
        self.ema = rate if self.ema is None else a * rate + (1 - a) * self.ema
        if len(self.rates) < 3:
            self.state = PhaseState(Phase.STABLE, 0, self.ema * MB, 0.0)
            return self.state
        raw, variance = classify_rates(self.rates, self.params)
        if raw == self.phase:
            self.candidate, self.count = None, 0
            self.duration += 1
        elif raw == self.candidate:
            self.count += 1
            if self.count >= self.params.hysteresis:
                self.phase, self.duration, self.candidate, self.count = raw, self.count, None, 0
            else:
                self.duration += 1
        else:
            self.candidate, self.count = raw, 1
            self.duration += 1
        confidence = min(1.0, self.duration / 30.0) * (1.0 / (1.0 + variance / 100.0))
        if not math.isfinite(confidence):
            confidence = 0.0
        self.state = PhaseState(
            self.phase,
            self.duration,
            self.ema * MB,
            min(1.0, max(0.0, confidence)),
            variance if math.isfinite(variance) else 0.0,
        )
        return self.state


# Runs of unchanged values (the detector's shortcut for windows of zeros) between
# arbitrary ones, repeated and backwards times, with small and default windows.
_runs = st.lists(
    st.tuples(
        st.one_of(_val, st.integers(0, 3).map(float)),
        st.integers(1, 15),
        st.sampled_from([1.0, 0.5, 0.0, -1.0, 2.0]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    _runs,
    st.sampled_from(
        [
            PhaseParams(),
            PhaseParams(window=3, hysteresis=1),
            PhaseParams(noise_floor_mb=0.0, variance_threshold=0.0),
        ]
    ),
)
def test_detector_matches_the_reference(
    runs: list[tuple[float | None, int, float]], params: PhaseParams
) -> None:
    fast, slow = PhaseDetector(params), _ReferenceDetector(params)
    t = 0.0
    for value, repeat, step in runs:
        for _ in range(repeat):
            t += step
            assert fast.update(t, value) == slow.update(t, value)
