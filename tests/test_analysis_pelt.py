"""PELT changepoints (with ruptures, and without it) and the engine's "pelt" algorithm."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramtop import trace as trace_mod
from vramtop.analysis import pelt
from vramtop.analysis.phase import PhaseParams
from vramtop.backends.replay import ReplayBackend
from vramtop.config import Config
from vramtop.engine import Monitor
from vramtop.model import Phase

MB = 1_000_000
TRACES = Path(__file__).parent / "fixtures" / "traces"


def _series(
    rates_mb: list[float], dt: float = 1.0, start: float = 1e9
) -> list[tuple[float, float]]:
    pts = [(0.0, start)]
    for i, r in enumerate(rates_mb):
        pts.append(((i + 1) * dt, pts[-1][1] + r * MB * dt))
    return pts


@pytest.fixture
def no_ruptures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the optional extra: `import ruptures` raises ImportError."""
    monkeypatch.setitem(sys.modules, "ruptures", None)


def test_penalty_presets() -> None:
    assert pelt.PENALTY_PRESETS == {
        "pytorch_training": 10.0,
        "inference_server": 50.0,
        "unknown": 20.0,
    }
    assert pelt.penalty(None) == 20.0 and pelt.penalty("nonsense") == 20.0
    assert pelt.preset_for(["vllm"]) == "inference_server"
    assert pelt.preset_for(["pytorch"]) == "pytorch_training"
    assert pelt.preset_for([None], [("python", "train.py")]) == "pytorch_training"
    assert pelt.preset_for([None], [("python", "app.py")]) == "unknown"


def test_finds_where_flat_turns_into_a_leak() -> None:
    result = pelt.detect(_series([0.0] * 30 + [150.0] * 30), pen=20, min_size=5)
    assert result.available and result.notice is None
    assert len(result.changepoints) == 1
    assert result.changepoints[0] == pytest.approx(30.0, abs=1.0)
    first, last = result.segments
    assert first.phase is Phase.STABLE and last.phase is Phase.GROWING
    assert last.mean_rate_bytes_per_s == pytest.approx(150 * MB, rel=0.05)


def test_segments_respect_min_size() -> None:
    rates = [0.0, 300.0, -300.0, 0.0] * 15
    for size in (3, 7, 12):
        result = pelt.detect(_series(rates), pen=1, min_size=size)
        assert all(seg.rates >= size for seg in result.segments)


def test_segments_are_classified_with_the_phase_thresholds() -> None:
    params = PhaseParams(noise_floor_mb=200.0)
    result = pelt.detect(_series([0.0] * 20 + [150.0] * 20), pen=20, min_size=5, params=params)
    # 150 MB/s is under a 200 MB/s noise floor: not GROWING with these thresholds.
    assert all(seg.phase is not Phase.GROWING for seg in result.segments)


def test_penalty_trades_sensitivity() -> None:
    rates = [0.0] * 20 + [6.0] * 20 + [0.0] * 20
    strict = pelt.detect(_series(rates), pen=pelt.PENALTY_PRESETS["inference_server"] * 10)
    loose = pelt.detect(_series(rates), pen=pelt.PENALTY_PRESETS["pytorch_training"])
    assert len(loose.changepoints) >= 2 > len(strict.changepoints)


def test_short_series_has_no_changepoints() -> None:
    result = pelt.detect(_series([5.0] * 4), min_size=5)
    assert result.available and result.changepoints == () and result.segments == ()


def test_without_ruptures_no_changepoints_and_a_notice(no_ruptures: None) -> None:
    assert not pelt.available()
    result = pelt.detect(_series([0.0] * 30 + [150.0] * 30))
    assert not result.available
    assert result.changepoints == () and result.segments == ()
    assert result.notice == (
        "PELT needs the optional extra: pip install 'vramtop[pelt]'; using the variance algorithm"
    )


def test_tracker_reruns_every_n_samples() -> None:
    tracker = pelt.PeltTracker(min_size=5, every=4)
    results = [tracker.update(t, v) for t, v in _series([0.0] * 20 + [100.0] * 20)]
    distinct = {id(r) for r in results if r is not None}
    assert 8 <= len(distinct) <= 12  # ~41 samples / 4
    assert tracker.result is not None and tracker.result.last is not None
    assert tracker.result.last.phase is Phase.GROWING
    state = pelt.segment_state(tracker.result.last)
    assert state.phase is Phase.GROWING and 0 <= state.confidence <= 1


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
        max_size=80,
    ),
    st.floats(0, 100),
    st.integers(1, 20),
)
def test_detect_never_raises(points: list[tuple[float, float]], pen: float, size: int) -> None:
    result = pelt.detect(points, pen=pen, min_size=size)
    for seg in result.segments:
        assert seg.rates >= 1


# --- the engine -------------------------------------------------------------------------


def _frames(algorithm: str, name: str) -> list[object]:
    cfg = Config().with_overrides(oom_prediction={"algorithm": algorithm})
    m = Monitor(ReplayBackend(trace_mod.read(TRACES / name), step_s=1.0), cfg)
    m.open()
    out = []
    while True:
        out.append(m.step())
        if m.backend.at_end:  # type: ignore[attr-defined]
            return out


def test_engine_pelt_changes_the_gpu_phase() -> None:
    variance = [f.gpus[0].phase for f in _frames("variance", "load_then_stable.jsonl")]  # type: ignore[attr-defined]
    with_pelt = [f.gpus[0].phase for f in _frames("pelt", "load_then_stable.jsonl")]  # type: ignore[attr-defined]
    assert variance != with_pelt
    # During the load PELT's latest segment is GROWING; afterwards a flat one.
    growing = [p for p in with_pelt if p.phase is Phase.GROWING]
    assert growing and all(p.duration_samples >= 5 for p in growing)
    assert with_pelt[-3].phase is Phase.STABLE


def test_engine_without_ruptures_says_so_and_uses_variance(no_ruptures: None) -> None:
    frames = _frames("pelt", "linear_leak_150.jsonl")
    assert pelt.NOTICE in frames[-1].notices  # type: ignore[attr-defined]
    plain = _frames("variance", "linear_leak_150.jsonl")
    for a, b in zip(frames, plain, strict=True):
        assert a.gpus[0].oom == b.gpus[0].oom  # type: ignore[attr-defined]
        assert a.gpus[0].phase == b.gpus[0].phase  # type: ignore[attr-defined]


def test_engine_with_variance_has_no_pelt_notice() -> None:
    assert pelt.NOTICE not in _frames("variance", "staircase.jsonl")[-1].notices  # type: ignore[attr-defined]


def test_tracker_reset_forgets_the_series() -> None:
    tracker = pelt.PeltTracker(min_size=5, every=1)
    for t, v in _series([0.0] * 20 + [100.0] * 20):
        tracker.update(t, v)
    assert tracker.result is not None
    tracker.reset()
    assert tracker.result is None
    # After a reset, a new series starts from scratch (no change point from the old one).
    results = [tracker.update(t, v) for t, v in _series([5.0] * 15)]
    assert results[-1] is not None and results[-1].changepoints == ()
