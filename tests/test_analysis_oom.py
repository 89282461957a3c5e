"""The OOM predictor: pinned on every recording, rate independence, settings, invariants.

Recordings are picked up from tests/fixtures/traces/*.jsonl[.gz] by `meta.expected`, so new
GPU recordings are pinned the moment they are added. Scoring is bench/oom_accuracy.py's
(the measure of ../shared/traces/README.md).

Measured at 1 Hz on the 72 real OOM recordings and 50 no-OOM ones (H100, three on an
H200; per recording in tests/fixtures/traces/README.md): mean lead ratio 0.895 (under
the 0.90 target; the ceiling, an alert from the first rise of what grew, is 0.914),
coverage 0.844 with ranges 1.28x wide (median), no alert on any no-OOM recording. At
2 Hz 0.906 and 0.833, at 0.5 Hz 0.864 and 0.746. Every recording
since session 3 was held out and scored before the changes it led to (the README says
how each scored then; set 11's slow_swing_own_leak was read before session 13's second
change).
A workload is first seen about 4 s after its `start` event; a process that arrives
small and grows at once warns on its first rise (its start is the growth's first step),
anything else after two. The pins below leave some margin: every OOM recording warns
at least LEAD_MIN_S (45 s) ahead, or 75% of what was possible when the whole run was
shorter than 60 s.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import analysis_synthetic as syn
from vramtop import cli
from vramtop import trace as trace_mod
from vramtop.analysis.oom import HORIZON_S, OOMPredictor, OOMSettings
from vramtop.analysis.oom.cycle import _Cycle
from vramtop.analysis.oom.rates import _acceleration, _changepoint, _rhythm
from vramtop.config import Config
from vramtop.export.json_stream import _round
from vramtop.model import (
    STABLE_UNKNOWN,
    GPUDevice,
    GPUProcess,
    OOMPrediction,
    Phase,
    PhaseState,
)

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "tests" / "fixtures" / "traces"
LEAD_MIN_S = 45.0
LEAD_MIN_SHARE = 0.75
# The target is 0.90. Measured 0.896 since session 13's set 12 joined, 0.897 since session
# 15's bursts of one size, 0.896 since session 16's set 14 joined, 0.897 since session
# 17's sets 17 and 18 and session 18's set 19, 0.895 when session 19's set 20 joined
# (stop_go_long 0.79), 0.897 after its 4 s hold (stop_go_long 0.92), 0.898 after a
# fresh leaker beside memory that only rose warned on its first rise, 0.896 with set 21
# (stop_go_rest5 0.75: rests of 5 s), 0.895 with session 20's set 22 (stop_go_rest6 0.80:
# rests of 6 s), 0.899 in session 21 once a pause is held until it and the sample to
# come span 5 s (stop_go_rest5 0.88, stop_go_beside_swinger 0.92), 0.895 when session
# 22's set 23 joined (eight leaks at 0.82-0.90), 0.896 once bursts' peak may be timed
# from a top before the onset, and still 0.896 once a burst topping the last keeps its
# trough (burst_leak 0.83 -> 0.87, leak_beside_bursts 0.84 -> 0.87), 0.895 when session
# 23's sets 24 and 25 joined (leak_600_noisy 0.78, bursts_5s_on_leak 0.82): the target is
# missed (0.901 with set 11, 0.905 before it, 0.898 before session 10's); the ceiling is
# 0.914 (bench/oom_accuracy.py). This pin guards what is measured, with a little margin.
# Below the target: stop_go_other 0.72 and stop_go_rest6 0.80 (a stop-go leak's first
# rest, over 5 s, clears its alert, as a plateau's must), step_leak 0.77 (irregular
# steps), burst_slow_leak 0.84 (a burst every 3 s shows the leak once a period),
# bursts_4s_on_leak 0.82 (a top every 4 s), train_leak_uneven 0.82 and two_leakers_unequal
# 0.82, accel_leak_b 0.84 and accel_leak_c 0.86 (start-ups taking a few seconds of runs
# under a minute). A recording that joins and pulls it under says so.
LEAD_AT_1HZ = 0.89
GB = 1_000_000_000
MB = 1_000_000


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "oom_accuracy", ROOT / "bench" / "oom_accuracy.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _bench()
RECORDINGS = bench.load_recordings([TRACES])
OOM_RECORDINGS = [t for t in RECORDINGS if t.header.expected == "oom"]
NO_OOM_RECORDINGS = [t for t in RECORDINGS if t.header.expected == "no_oom"]
CONFIG = Config()


def _id(tr: trace_mod.Trace) -> str:
    return bench.name_of(tr)


def _scores(tr: trace_mod.Trace, rate_hz: float = 1.0) -> list[object]:
    return bench.score_recording(tr, bench.run_vramtop(tr, rate_hz, CONFIG), 300.0)


def _alert_times(tr: trace_mod.Trace, rate_hz: float = 1.0) -> list[float]:
    """The samples of GPU 0 at which an alert stood (a low end within 300 s)."""
    series = bench.run_vramtop(tr, rate_hz, CONFIG)[0]
    return [t for t, low, _ in series if low is not None and low <= 300]


def test_there_are_recordings_of_both_kinds() -> None:
    assert len(OOM_RECORDINGS) >= 2
    assert len(NO_OOM_RECORDINGS) >= 4


def _recording(name: str) -> trace_mod.Trace:
    return next(tr for tr in RECORDINGS if _id(tr) == name)


def test_the_possible_lead_counts_from_the_workload_that_grew() -> None:
    """The measure counts the possible lead from the start of the workload that grew
    (../shared/traces/README.md): the process that ran out, as in leak_60, unless it
    did not grow. In swinger_then_leak the swinger (pid 539, started at t=11.1) ran
    out when its swing found no room; the leak beside it (pid 568) started at t=31.1."""
    (leak,) = _scores(_recording("leak_60.jsonl.gz"))
    assert leak.possible_s == pytest.approx(59.0026 - 9.342)
    assert not leak.notes
    swinger = _recording("swinger_then_leak.jsonl.gz")
    assert bench.grower(swinger, 0, 539, 99.3003) == 568
    (score,) = _scores(swinger)
    assert score.possible_s == pytest.approx(99.3003 - 31.1065)
    assert score.notes == ["the process that ran out did not grow; possible from pid 568's start"]


# --- every recording, at the default 1 Hz ---------------------------------------------------


# Recordings whose ranges hold the truth less often than 0.6 of their alert samples, each
# with the floor it keeps and why.
LOW_COVERAGE_AT_1HZ: dict[str, float] = {
    # Runs of 6 s and rests of 8 s: through the first run and rest the ranges follow the
    # run's rate (no rest is known yet: 23 of its 57 alert samples miss, all before
    # t=44), and since session 21 the alert stands one sample longer into the first rest
    # (0.61 -> 0.597).
    "stop_go_other.jsonl.gz": 0.59,
}


@pytest.mark.parametrize("tr", OOM_RECORDINGS, ids=_id)
def test_warns_ahead_of_every_oom(tr: trace_mod.Trace) -> None:
    (score,) = [s for s in _scores(tr) if s.expected == "oom"]
    need = min(LEAD_MIN_S, LEAD_MIN_SHARE * score.possible_s)
    assert score.lead_s >= need, f"warned {score.lead_s:.1f} s ahead, need {need:.1f}"
    assert score.median_width <= 2.0
    assert score.coverage >= LOW_COVERAGE_AT_1HZ.get(_id(tr), 0.6)
    # No alert stands before anything on the GPU grew (an arrival is not growth).
    assert score.lead_ratio <= score.ceiling_ratio + 1e-9


@pytest.mark.parametrize("tr", NO_OOM_RECORDINGS, ids=_id)
def test_never_warns_on_a_recording_without_oom(tr: trace_mod.Trace) -> None:
    for score in _scores(tr):
        assert score.false_alarm_samples == 0, f"false alarm at t={score.first_false_alarm_t}"


def test_all_recordings_at_1hz_stay_near_the_target() -> None:
    """At 1 Hz, the default refresh: lead (measured 0.895, under the target 0.90),
    coverage (0.844, the target 0.80) and no false alarm (0 of 50)."""
    scores = [s for tr in RECORDINGS for s in _scores(tr)]
    summary = bench.summarize("vramtop", scores)
    assert summary.false_alarm_recordings == 0
    assert summary.lead_ratio >= LEAD_AT_1HZ
    assert summary.coverage >= 0.80


def test_the_whole_target_holds_at_2hz() -> None:
    scores = [s for tr in RECORDINGS for s in _scores(tr, 2.0)]
    summary = bench.summarize("vramtop", scores)
    assert summary.false_alarm_recordings == 0
    assert summary.lead_ratio >= 0.90
    assert summary.coverage >= 0.80


def test_half_hertz_keeps_its_lead() -> None:
    """At 0.5 Hz: 0.869 lead ratio (a sample of 2 s costs more of a short run's lead;
    0.854 until session 21, which lets a fresh start's rises be a larger share of the
    room at a slow refresh), no false alarm."""
    scores = [s for tr in RECORDINGS for s in _scores(tr, 0.5)]
    summary = bench.summarize("vramtop", scores)
    assert summary.false_alarm_recordings == 0
    assert summary.lead_ratio >= 0.86


# --- rate independence ----------------------------------------------------------------------


# Known leads that move with the refresh by more than the test below allows, each with
# its reason (strict: one that stops moving fails here, and leaves this list). Empty
# since session 12: swinger_then_leak and slow_swinger_then_leak warned 6.5 and 7.5 s
# later at 1 Hz than at 2 Hz while what a still process gave back was held only inside
# a growth; it is held outside one too once another process rises (`_outside`).
RATE_DEPENDENT_LEADS: dict[tuple[str, float], str] = {
    ("stop_go_rest5.jsonl.gz", 0.5): (
        "its first rest runs from the rise seen at t=22 to the one at 27: at 1 Hz the "
        "sample at 26 and the one to come span 5 s from the rise, and the alert stands "
        "through the rest (lead 61.4 s); at 0.5 Hz the sample at 26 and the one to come "
        "span 6 s, past the 5 s after a stop that the measure forgives, so the alert "
        "clears and comes back at 28 (lead 51.4 s)"
    ),
}


def _at_rates(
    recordings: list[trace_mod.Trace],
    rates_hz: tuple[float, ...],
    known: dict[tuple[str, float], str],
) -> list[object]:
    """(recording, rate) parameters, those `known` to fail marked so, with the reason."""
    return [
        pytest.param(
            tr,
            rate_hz,
            id=f"{_id(tr)}-{rate_hz}",
            marks=[pytest.mark.xfail(strict=True, reason=why)] if why else [],
        )
        for rate_hz in rates_hz
        for tr in recordings
        for why in [known.get((_id(tr), rate_hz))]
    ]


@pytest.mark.parametrize(
    ("tr", "rate_hz"), _at_rates(OOM_RECORDINGS, (2.0, 0.5), RATE_DEPENDENT_LEADS)
)
def test_oom_warning_at_other_refresh_rates(tr: trace_mod.Trace, rate_hz: float) -> None:
    (score,) = [s for s in _scores(tr, rate_hz) if s.expected == "oom"]
    need = min(LEAD_MIN_S, LEAD_MIN_SHARE * score.possible_s) - 2.0 / rate_hz
    assert score.lead_s >= need
    (at_1hz,) = [s for s in _scores(tr, 1.0) if s.expected == "oom"]
    # The alert starts within seconds of where it starts at 1 Hz (evidence is counted in
    # samples, so faster sampling warns a little earlier, slower a little later).
    assert abs(score.lead_s - at_1hz.lead_s) <= 4.0 + 2.0 / min(rate_hz, 1.0)


# Known false alarms at a slow refresh, each with its reason (strict: one that stops
# alarming fails here, and leaves this list). decel_plateau at 0.2 Hz left it in session
# 9 (it clears on its fourth rise each at most 0.7 of the one before).
SLOW_REFRESH_FALSE_ALARMS: dict[tuple[str, float], str] = {
    ("swinger_plateau_long.jsonl.gz", 0.1): (
        "the growth stops at t=74.3 s, between the samples at 70 and 80, and the one at "
        "80 still holds its last 4 s of rise (0.67 GB, 43% of a 10 s step: as much as a "
        "noisy leak's): the first sample that can show the stop comes at 90, 15.7 s after "
        "it, and the measure counts alerts from 5 s after (session 11's code alarmed "
        "here too, and at 0.2 Hz)"
    ),
    ("freed_batches_tight.jsonl.gz", 0.2): (
        "random batches of 1-10 GB every 0.8 s seen every 5 s: three in a row came 6.9, "
        "9.3 and 11.6 GB, rising by chance, and read as a climb for one sample"
    ),
    ("bursts_leak_stops.jsonl.gz", 0.2): (
        "2 GB bursts every 4 s seen every 5 s: the floor's last step comes at t=40.8 s, "
        "and the first burst top above it is seen at 55 s, a new high 14 s after the "
        "plateau that no sample could show sooner; the alert stands to 70 s"
    ),
}


def _no_oom_at(rate_hz: float) -> list[object]:
    return _at_rates(NO_OOM_RECORDINGS, (rate_hz,), SLOW_REFRESH_FALSE_ALARMS)


@pytest.mark.parametrize(
    ("tr", "rate_hz"), [p for r in (2.0, 0.5, 0.2, 0.1) for p in _no_oom_at(r)]
)
def test_no_false_alarm_at_other_refresh_rates(tr: trace_mod.Trace, rate_hz: float) -> None:
    assert sum(score.false_alarm_samples for score in _scores(tr, rate_hz)) == 0


# Refreshes between the usual ones: the sampling clock drifts against periodic workloads
# (bursts, XLA's regions) and against the moment a process appears, so samples see them
# at other phases than at 0.5, 1 and 2 Hz. Measured in session 14 (lead ratio / false-alarm
# recordings), at the start of the session and after its two changes for it (regions a
# sample apart agree with later ones; a lump the growth made twice is not an allocation
# event): 0.6 Hz 0.841 / 2, 0.7 Hz 0.860 / 1, 0.9 Hz 0.824 -> 0.866 / 0, 1.1 Hz 0.869 /
# 0, 1.5 Hz 0.858 -> 0.868 / 0, 3 Hz 0.886 -> 0.895 / 1. Session 15 added refreshes of
# 1.5 s and 2.5 s, common choices (0.866 / 1 and 0.806 / 1 at first), and left var_batch
# at 0.6 and 2/3 Hz clean (a process that came with many times its first rise is not a
# fresh start), and staircase_near_full at 3 Hz (its 6.1 GB loads, with 10-90 MB of
# accounting between them, are a staircase of loads), and slow_noisy_far at 1.2 Hz (a
# change of rate needs 4.5 deviations, not 4). Session 16 (sets 14-16 joined, a trend
# once made stands, a trough that stopped climbing ends the growth, swings climbing
# together are a consistent floor): 0.4 Hz 0.804 / 1, 0.6 Hz 0.840 / 1, 2/3 Hz 0.868 /
# 1, 0.7 Hz 0.863 / 1, 0.8 Hz 0.882 / 1 (bursts_climb_then_hold, 0.8 Hz is not tested
# here), 0.9 Hz 0.867 / 0, 1.1 Hz 0.871 / 0, 1.2 Hz 0.881 / 0, 1.25 Hz 0.883 / 0,
# 1.5 Hz 0.893 / 0, 3 Hz 0.897 / 0, 4 Hz 0.887 / 0 (37 no-OOM recordings). What fails
# there is listed with its reason (strict: a case that stops failing fails here, and
# leaves its list).
OFF_GRID_RATES_HZ = (0.4, 0.6, 2 / 3, 0.7, 0.9, 1.1, 1.2, 1.5, 3.0)
OFF_GRID_FALSE_ALARMS: dict[tuple[str, float], str] = {
    ("slow_noisy_far.jsonl.gz", 0.6): (
        "a slow noisy leak with 23 GB free, seen every 1.7 s, reads as speeding up: the "
        "low end dips to 282 s, under the 300 s warning, for 4 samples; it ends on its own"
    ),
    ("bursts_leak_stops.jsonl.gz", 0.4): (
        "2 GB bursts every 4 s seen every 2.5 s: the first burst top above the floor's "
        "last step (t=40.8 s) is seen at 47.5 s, a new high 6.7 s after the plateau that "
        "no sample could show sooner, for one sample"
    ),
    ("warmup_bursts_long.jsonl.gz", 2 / 3): (
        "4 GB bursts every 2 s seen every 1.5 s: the floor's last step (19.8 s) falls "
        "between samples and the climb is confirmed at 22.5 s; the burst at 25.5 s that "
        "came no higher cuts the confidence to a quarter, still enough for an alert 5 s "
        "away, and it clears at 28.5 s (alerts at 25.5 and 27 s, over 5 s after)"
    ),
    ("slow_far_smooth.jsonl.gz", 0.7): (
        "the sample at 12.9 s caught the leaking process while its CUDA context was being "
        "built (30 MB); the 0.65 GB the next one adds reads as a step of growth, and the "
        "alert stands for 3 samples"
    ),
}
# (jax_leak at 1.5 Hz was here until session 15: its first regions, split across the
# 0.67 s samples, hid a doubling, until a region may complete the doubling run itself.
# warmup_bursts at 0.6 Hz and var_batch_b at 0.4 Hz were here until session 16: a trough
# after the last rise that climbed at under half the troughs' rate now says the floor
# stopped, `_trough_without_climb`.)
OFF_GRID_LOST_ALERTS: dict[tuple[str, float], str] = {}


@pytest.mark.parametrize(
    ("tr", "rate_hz"), _at_rates(NO_OOM_RECORDINGS, OFF_GRID_RATES_HZ, OFF_GRID_FALSE_ALARMS)
)
def test_no_false_alarm_between_the_usual_refresh_rates(
    tr: trace_mod.Trace, rate_hz: float
) -> None:
    assert sum(score.false_alarm_samples for score in _scores(tr, rate_hz)) == 0


@pytest.mark.parametrize(
    ("tr", "rate_hz"),
    _at_rates(OOM_RECORDINGS, (0.4, 2 / 3, 0.9, 1.1, 1.5, 3.0), OFF_GRID_LOST_ALERTS),
)
def test_an_alert_stands_at_the_oom_between_the_usual_refresh_rates(
    tr: trace_mod.Trace, rate_hz: float
) -> None:
    (score,) = [s for s in _scores(tr, rate_hz) if s.expected == "oom"]
    assert score.lead_s > 0


@pytest.mark.parametrize(
    ("name", "rate_hz"), [("leak_80.jsonl.gz", 3.0), ("leak_steep_noisy.jsonl.gz", 4.0)]
)
def test_a_chunked_leak_sampled_fast_keeps_its_alert_through_a_sample_without_a_chunk(
    name: str, rate_hz: float
) -> None:
    """leak_80 (16 MB chunks at 80 MB/s) seen every 1/3 s shows a chunk or two a sample,
    and at t=56.0, 5 s before the OOM, none: a gap longer than every one before cleared
    the alert at once, and the run counted from the next sample (lead 5.1 s, 0.10).
    Steps some samples held under half the typical one of skip a sample by chance: the
    alert stands (0.94). leak_steep_noisy at 4 Hz alike (0.32 -> 0.92)."""
    (score,) = _scores(_recording(name), rate_hz)
    assert score.lead_ratio >= 0.9


# --- the same predictions through `vramtop replay FILE --jsonl --rate 1` ---------------------


@pytest.mark.parametrize("tr", RECORDINGS, ids=_id)
def test_replay_jsonl_carries_the_same_predictions(
    tr: trace_mod.Trace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["replay", tr.path, "--jsonl", "--rate", "1"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    by_gpu: dict[int, list[tuple[float, float | None, float | None]]] = {}
    for obj in lines:
        by_gpu.setdefault(obj["gpu"], []).append((obj["t"], obj["oom_low_s"], obj["oom_high_s"]))
        assert obj["oom_alert"] == (obj["oom_low_s"] is not None and obj["oom_low_s"] <= 300)
    cli_scores = bench.score_recording(tr, by_gpu, 300.0)
    engine_scores = _scores(tr)
    # The stream prints ranges to 0.1 s: a truth that close to an end may fall either
    # side, so coverage is compared with the engine's ranges rounded the same way.
    printed = {
        gpu: [(t, _round(low, 1), _round(high, 1)) for t, low, high in series]
        for gpu, series in bench.run_vramtop(tr, 1.0, CONFIG).items()
    }
    rounded_scores = bench.score_recording(tr, printed, 300.0)
    for a, b, c in zip(cli_scores, engine_scores, rounded_scores, strict=True):
        assert a.expected == b.expected
        assert a.alert_samples == b.alert_samples
        assert a.false_alarm_samples == b.false_alarm_samples
        if a.expected == "oom":
            assert a.lead_s == pytest.approx(b.lead_s, abs=0.01)
            assert a.coverage == pytest.approx(c.coverage, abs=1e-9)



# --- SYNTHETIC harder kinds -----------------------------------------------------------------

SYNTHETIC = {bench.name_of(t).split(":")[-1]: t for t in syn.scenarios()}
# Lead ratio each SYNTHETIC OOM kind must reach at 1 Hz (measured, minus a margin).
SYNTHETIC_LEAD = {
    "syn_leak_60": 0.9,
    "syn_leak_400": 0.9,
    "syn_leak_1500": 0.7,  # 1.5 GB/s from 24% full looks like a model load for ~10 s
    "syn_noisy_leak": 0.9,
    "syn_burst_leak": 0.9,
    "syn_burst_leak_fast": 0.85,
    "syn_two_leakers": 0.9,
    "syn_step_leak": 0.85,
    "syn_chunk_leak": 0.85,
    "syn_load_then_leak": 0.9,
    "syn_leak_empty_gpu": 0.3,  # alerts only count within 300 s: at most ~0.4 possible
}


def test_synthetic_kinds_all_have_a_pin() -> None:
    oom_kinds = {k for k, t in SYNTHETIC.items() if t.header.expected == "oom"}
    assert oom_kinds == set(SYNTHETIC_LEAD)


@pytest.mark.parametrize("name", sorted(SYNTHETIC_LEAD))
def test_synthetic_oom_kinds_warn_early(name: str) -> None:
    (score,) = _scores(SYNTHETIC[name])
    assert score.expected == "oom"
    assert score.lead_ratio >= SYNTHETIC_LEAD[name]


@pytest.mark.parametrize(
    "name", sorted(k for k, t in SYNTHETIC.items() if t.header.expected == "no_oom")
)
@pytest.mark.parametrize("rate_hz", [1.0, 2.0, 0.5])
def test_synthetic_no_oom_kinds_stay_quiet(name: str, rate_hz: float) -> None:
    (score,) = _scores(SYNTHETIC[name], rate_hz)
    assert score.expected == "no_oom"
    assert score.false_alarm_samples == 0


def test_alert_clears_within_three_samples_when_growth_stops() -> None:
    tr = SYNTHETIC["syn_plateau_near_full"]
    (plateau,) = [e.t for e in tr.events if e.event == "plateau"]
    alerted = _alert_times(tr)
    assert alerted, "growth into the last few GB should warn while it lasts"
    assert max(alerted) <= plateau + 3.0


def test_the_pelt_algorithm_does_as_well() -> None:
    cfg = Config().with_overrides(oom_prediction={"algorithm": "pelt"})
    scores = [
        s
        for tr in RECORDINGS
        for s in bench.score_recording(tr, bench.run_vramtop(tr, 1.0, cfg), 300)
    ]
    summary = bench.summarize("pelt", scores)
    assert summary.false_alarm_recordings == 0
    assert summary.lead_ratio >= LEAD_AT_1HZ
    assert summary.coverage >= 0.80


# --- settings -------------------------------------------------------------------------------


def _device(
    used: float, free: float | None = None, procs: tuple[GPUProcess, ...] = ()
) -> GPUDevice:
    total = 85 * GB
    return GPUDevice(
        index=0,
        uuid="GPU-x",
        name="test",
        total_bytes=total,
        used_bytes=int(used),
        free_bytes=int(total - used) if free is None else int(free),
        processes=procs,
    )


def _feed(
    predictor: OOMPredictor, series: list[tuple[float, float]], free_total: float = 85 * GB
) -> list[object]:
    out = []
    for t, used in series:
        out.append(predictor.update(t, _device(used, free_total - used), STABLE_UNKNOWN, ()))
    return out


def _leak(
    rate: float, start: float, n: int, dt: float = 1.0, base: float = 70 * GB
) -> list[tuple[float, float]]:
    flat = [(i * dt, base) for i in range(int(start / dt))]
    grow = [(start + i * dt, base + rate * i * dt) for i in range(n)]
    return flat + grow


def _first_prediction_t(series: list[tuple[float, float]], settings: OOMSettings) -> float | None:
    p = OOMPredictor(settings)
    for (t, _), pred in zip(series, _feed(p, series), strict=True):
        if pred is not None:
            return t
    return None


def _processes_at(
    p: OOMPredictor, t: float, sizes: dict[int, float], accounting: float = 0.0
) -> object:
    """One sample of processes (pid: bytes) on the 85 GB test GPU, whose used memory is
    their sum and `accounting` more; the prediction it gives."""
    procs = tuple(GPUProcess(pid=pid, starttime=pid, used_bytes=int(v)) for pid, v in sizes.items())
    used = accounting + sum(sizes.values())
    return p.update(t, _device(used, procs=procs), STABLE_UNKNOWN, ())


def test_a_slow_leak_beyond_an_hour_is_capped() -> None:
    series = _leak(2 * MB, 10, 200, base=75 * GB)  # 10 GB left at 2 MB/s: ~80 min
    preds = [x for x in _feed(OOMPredictor(), series) if x is not None]
    assert preds, "a steady leak beside a full GPU is predicted"
    last = preds[-1]
    assert last.capped and not last.alert
    assert last.seconds_low == last.seconds_high == HORIZON_S


def test_growth_below_min_rate_is_not_predicted() -> None:
    series = _leak(0.5 * MB, 10, 100, dt=5.0, base=84 * GB)
    assert all(x is None for x in _feed(OOMPredictor(OOMSettings(min_rate_bytes_per_s=MB)), series))
    lower = OOMSettings(min_rate_bytes_per_s=0.1 * MB)
    assert any(x is not None for x in _feed(OOMPredictor(lower), series))


def test_more_sustained_samples_required_means_later_predictions() -> None:
    series = _leak(150 * MB, 10, 60)
    first = [_first_prediction_t(series, OOMSettings(min_sustained_samples=n)) for n in (5, 10, 40)]
    assert all(f is not None for f in first)
    assert first[0] <= first[1] < first[2]


def test_min_confidence_gates_what_is_shown() -> None:
    series = _leak(150 * MB, 10, 60)
    none_shown = OOMSettings(min_confidence=1.0)
    assert all(x is None for x in _feed(OOMPredictor(none_shown), series))
    predictor = OOMPredictor(OOMSettings(min_confidence=0.3))
    shown = [x for x in _feed(predictor, series) if x is not None]
    assert shown and all(x.confidence >= 0.3 for x in shown)


def test_alert_follows_the_warning_horizon() -> None:
    series = _leak(150 * MB, 10, 30)  # ~100 s left
    short = [x for x in _feed(OOMPredictor(OOMSettings(warning_seconds=30)), series) if x]
    long = [x for x in _feed(OOMPredictor(OOMSettings(warning_seconds=300)), series) if x]
    assert long and all(x.alert for x in long)
    assert short and not any(x.alert for x in short)


def test_range_brackets_a_steady_leak() -> None:
    rate = 150 * MB
    series = _leak(rate, 10, 40)
    last = [x for x in _feed(OOMPredictor(), series) if x][-1]
    _, used = series[-1]
    truth = (85 * GB - used) / rate
    assert last.seconds_low <= truth <= last.seconds_high
    assert last.seconds_high / last.seconds_low <= 2.0
    assert last.rate_low_bytes_per_s <= rate <= last.rate_high_bytes_per_s


def test_a_model_load_into_an_empty_gpu_is_not_an_oom() -> None:
    series = [(float(t), min(20 * GB, 2 * GB * max(0, t - 5))) for t in range(60)]
    assert all(x is None for x in _feed(OOMPredictor(), series))


def test_a_process_leaving_resets_the_picture() -> None:
    p = OOMPredictor()
    leaker = GPUProcess(pid=7, starttime=1, used_bytes=None)
    for t in range(40):
        used = 70 * GB + 150 * MB * max(0, t - 5)
        p.update(float(t), _device(used, procs=(leaker,)), STABLE_UNKNOWN, ())
    assert p.evidence is not None
    assert p.update(40.0, _device(10 * GB), STABLE_UNKNOWN, ()) is None
    assert p.evidence is None


def _leak_beside_a_bystander(leaves: str) -> list[object]:
    """A 150 MB/s leak beside a 66 GB ballast and a 4 GB bystander; at t=30 one of the
    two processes (known sizes) leaves and takes its memory with it."""
    pids = {"ballast": 1, "bystander": 2, "leaker": 3}
    p = OOMPredictor()
    preds = []
    for t in range(60):
        sizes = {1: 66 * GB, 2: 4 * GB, 3: 1 * GB + 150 * MB * max(0, t - 5)}
        if t >= 30:
            del sizes[pids[leaves]]
        preds.append(_processes_at(p, float(t), sizes))
    return preds


def test_a_bystander_leaving_gives_the_growth_more_room() -> None:
    preds = _leak_beside_a_bystander("bystander")
    alerts = [isinstance(x, OOMPrediction) and x.alert for x in preds]
    # the alert stands through the departure, as the same growth ...
    assert all(alerts[12:])
    before, after = preds[29], preds[30]
    assert isinstance(before, OOMPrediction) and isinstance(after, OOMPrediction)
    # ... now with the bystander's 4 GB more room: ~27 s more at 150 MB/s
    truth_before = (85 - 66 - 4 - 1 - 0.15 * 24) * GB / (150 * MB)
    truth_after = truth_before + 4 * GB / (150 * MB) - 1
    assert before.seconds_low <= truth_before <= before.seconds_high
    assert after.seconds_low <= truth_after <= after.seconds_high


def test_the_growing_process_leaving_ends_the_growth() -> None:
    preds = _leak_beside_a_bystander("leaker")
    assert isinstance(preds[29], OOMPrediction) and preds[29].alert
    assert all(x is None for x in preds[30:])


def test_a_repeated_sample_returns_the_same_prediction() -> None:
    p = OOMPredictor()
    series = _leak(150 * MB, 5, 30)
    preds = _feed(p, series)
    t, used = series[-1]
    assert p.update(t, _device(used), STABLE_UNKNOWN, ()) is preds[-1]


def test_per_process_growing_phase_counts_as_evidence() -> None:
    """Bursty GPU memory whose floor looks flat, but the phase detector sees a process grow."""
    p = OOMPredictor()
    proc = GPUProcess(pid=3, starttime=9, used_bytes=None)
    growing = PhaseState(Phase.GROWING, 30, 150 * MB, 0.9)
    preds = []
    for t in range(40):
        used = 70 * GB + 150 * MB * max(0, t - 5)
        preds.append(p.update(float(t), _device(used, procs=(proc,)), growing, [(proc, growing)]))
    assert preds[-1] is not None and preds[-1].confidence > 0.5


# --- invariants -----------------------------------------------------------------------------

_num = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)
_time = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6))


@st.composite
def _samples(draw: st.DrawFn) -> list[tuple[object, GPUDevice, PhaseState]]:
    n = draw(st.integers(1, 60))
    out = []
    t = draw(st.floats(-100, 100))
    for _ in range(n):
        t = draw(st.one_of(_time, st.just(t + draw(st.floats(-2, 20)))))
        procs = tuple(
            GPUProcess(
                pid=draw(st.integers(1, 5)),
                starttime=draw(st.one_of(st.none(), st.integers(0, 3))),
                used_bytes=draw(_num),
            )  # type: ignore[arg-type]
            for _ in range(draw(st.integers(0, 3)))
        )
        dev = GPUDevice(
            index=0,
            uuid="GPU-h",
            name="h",
            total_bytes=draw(st.one_of(st.none(), st.integers(-1, 10**12), st.floats())),  # type: ignore[arg-type]
            used_bytes=draw(_num),  # type: ignore[arg-type]
            free_bytes=draw(_num),  # type: ignore[arg-type]
            reserved_bytes=draw(_num),  # type: ignore[arg-type]
            processes=procs,
        )
        phase = PhaseState(
            draw(st.sampled_from(list(Phase))),
            draw(st.integers(0, 100)),
            draw(st.floats(allow_nan=True, allow_infinity=True)),
            draw(st.floats(0, 1)),
        )
        out.append((t, dev, phase))
    return out


def _check(pred: object) -> None:
    if pred is None:
        return
    assert 0.0 <= pred.confidence <= 1.0  # type: ignore[attr-defined]
    assert pred.seconds_low <= pred.seconds_high  # type: ignore[attr-defined]
    assert pred.seconds_low >= 0  # type: ignore[attr-defined]
    assert not math.isnan(pred.seconds_high)  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_samples(), st.sampled_from(["variance", "pelt"]))
def test_any_sequence_of_samples_never_raises(
    samples: list[tuple[object, GPUDevice, PhaseState]], algorithm: str
) -> None:
    p = OOMPredictor(OOMSettings(algorithm=algorithm, pelt_every=1))
    for t, dev, phase in samples:
        _check(p.update(t, dev, phase, [(q, phase) for q in dev.processes]))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-5 * GB, 5 * GB), min_size=5, max_size=120),
    st.floats(0.05, 12),
    st.floats(0, 84 * GB),
)
def test_random_walks_keep_the_invariants(steps: list[float], dt: float, start: float) -> None:
    p = OOMPredictor(OOMSettings(min_confidence=0.0))
    used = start
    for i, step in enumerate(steps):
        used = min(85 * GB, max(0.0, used + step))
        _check(p.update(i * dt, _device(used), STABLE_UNKNOWN, ()))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.0, 0.0, 1.0, -1.0, 5.0, -5.0]),
            st.sampled_from([0.0, 0.0, 0.0, 2.0, -2.0, 8.0, -8.0]),
            st.booleans(),
        ),
        min_size=5,
        max_size=100,
    ),
    st.floats(0.1, 10),
)
def test_processes_stepping_beside_a_leak_keep_the_invariants(
    moves: list[tuple[float, float, bool]], dt: float
) -> None:
    """A leak with two other processes stepping up and down by whole GB beside it,
    arriving and leaving: what such processes do is set aside, given back or made part
    of the growth, and the predictions keep their invariants."""
    p = OOMPredictor(OOMSettings(min_confidence=0.0))
    a = b = 0.0
    for i, (da, db, b_here) in enumerate(moves):
        a = min(8 * GB, max(0.0, a + da * GB))
        b = min(8 * GB, max(0.0, b + db * GB))
        procs = [
            GPUProcess(pid=1, starttime=1, used_bytes=int(60 * GB)),
            GPUProcess(pid=2, starttime=1, used_bytes=int(0.5 * GB + 100 * MB * i * dt)),
            GPUProcess(pid=3, starttime=1, used_bytes=int(a)),
        ]
        if b_here:
            procs.append(GPUProcess(pid=4, starttime=1, used_bytes=int(b)))
        used = min(85 * GB, sum(q.used_bytes or 0 for q in procs))
        _check(p.update(i * dt, _device(used, procs=tuple(procs)), STABLE_UNKNOWN, ()))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e14, 1e14)), min_size=0, max_size=40),
    st.floats(-1e12, 1e14),
    st.floats(-1e10, 1e10),
)
# Found by Hypothesis: a rate from two arrivals 5e-216 s apart, whose square overflowed
# (`**` raised); a fit whose rate now came out at zero or below.
@example(
    [(0.0, 0.0)] * 4 + [(0.0, -0.25), (-1.0, 0.0), (-2.0, 1.0), (-4.833553534662044e-216, 0.0)],
    1.0,
    0.0,
)
@example([(0.0, 0.0)] * 4 + [(0.0, -0.125), (0.25, 0.0), (-1.0, 0.0), (-4.0, 1.0)], 1.0, 0.0)
def test_the_acceleration_fit_never_raises(
    win: list[tuple[float, float]], headroom: float, rate: float
) -> None:
    """Any arrivals (repeated times, flat, falling, huge): None, or three finite rates
    above zero, the fast end's at least the slow end's."""
    got = _acceleration(sorted(win), headroom, rate)
    if got is not None:
        assert all(math.isfinite(r) and r > 0 for r in got)
        assert got[1] >= got[2]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e14, 1e14)), min_size=0, max_size=40),
    st.none() | st.floats(-1e6, 1e6),
    st.none() | st.floats(0.01, 100.0),
)
@example(  # a mean rise of 1e-216: the irregularity's squares overflowed under `**`
    [(0.0, 0.0), (0.0, 0.0), (0.125, 0.0), (0.25, 1.0), (3618.0, -3.0875358282684824e-215),
     (0.0, 0.0), (3617.0, 0.0), (7213.0, 0.0), (0.5, 1.0), (2.0, 0.0), (1.0, 0.0)],
    None,
    None,
)
def test_the_change_of_rate_search_never_raises(
    win: list[tuple[float, float]], arrived_t: float | None, startup: float | None
) -> None:
    """Any arrivals at distinct times (as an episode keeps them: flat, falling, huge),
    with or without an arrival or a start-up to look for: None, or a kink inside the
    window and a finite rate."""
    times = sorted({t for t, _ in win})
    ordered = list(zip(times, (v for _, v in win), strict=False))
    got = _changepoint(ordered, arrived_t, startup)
    if got is not None:
        k, rate, _ = got
        assert 0 <= k < len(ordered) and math.isfinite(rate)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 200), st.floats(-1e11, 1e11)), min_size=0, max_size=60),
    st.floats(-1e11, 1e11),
    st.floats(0, 400),
    st.floats(0.01, 20),
    st.booleans(),
    st.floats(-1e11, 1e11),
)
# Room already taken (session 15's run found it): the late end came out before the early.
@example([(4.0, 0.0), (0.0, 0.5), (10.0, 0.0)], 0.0, 12.0, 1.0, True, -1.0)
def test_the_rhythm_reading_never_raises(
    pts: list[tuple[float, float]],
    before: float,
    t: float,
    dt: float,
    whole: bool,
    room: float,
) -> None:
    """Any arrivals (repeated times, flat, falling, huge, tiny) at any refresh: None,
    or a rhythm whose schedule gives times from now on (infinite only where the room is
    more runs than a float counts), the early end no later than the late one. A
    3,000-example run found the infinite case (an OverflowError then)."""
    times = sorted({x for x, _ in pts})
    ordered = list(zip(times, (v for _, v in pts), strict=False))
    rhythm = _rhythm(ordered, before, max(t, *times, 0.0), dt, whole)
    if rhythm is not None:
        now = max(t, *times, 0.0)
        early = rhythm.reaches(now, room, dt, early=True)
        late = rhythm.reaches(now, room, dt, early=False)
        assert not (math.isnan(early) or math.isnan(late))
        assert 0 <= early <= late


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 8), st.integers(1, 12), st.floats(0.05, 3)), max_size=12),
    st.floats(0.2, 10),
)
def test_runs_and_rests_keep_the_invariants(
    cycles: list[tuple[int, int, float]], dt: float
) -> None:
    """Growth in runs of any length, rests of any length and steps of any size (a
    stop-go leak, a staircase), beside a process swinging 2 GB: the predictions keep
    their invariants whatever rhythm is read."""
    p = OOMPredictor(OOMSettings(min_confidence=0.0))
    grown, i = 0.0, 0
    for run, rest, step_gb in cycles:
        for k in range(run + rest):
            grown += step_gb * GB if k < run else 0.0
            procs = (
                GPUProcess(pid=1, starttime=1, used_bytes=int(60 * GB)),
                GPUProcess(pid=2, starttime=1, used_bytes=int(min(20 * GB, 0.5 * GB + grown))),
                GPUProcess(pid=3, starttime=1, used_bytes=int((2 if i % 7 < 3 else 0.5) * GB)),
            )
            used = min(85 * GB, sum(q.used_bytes or 0 for q in procs))
            _check(p.update(i * dt, _device(used, procs=procs), STABLE_UNKNOWN, ()))
            i += 1


def test_the_acceleration_fit_sees_a_quadratic_and_not_a_line() -> None:
    line = [(float(t), 1e9 + 2e8 * t) for t in range(12)]
    assert _acceleration(line, 10e9, 2e8) is None
    quad = [(float(t), 1e9 + 3e7 * t + 7.5e6 * t * t) for t in range(12)]
    got = _acceleration(quad, 10e9, 1e8)
    assert got is not None
    now, fast, slow = got
    assert now == pytest.approx(3e7 + 2 * 7.5e6 * 11, rel=1e-6)  # the slope at t = 11
    # 10 GB more: 7.5e6 s^2 + 1.95e8 s = 1e10 -> s = 25.76 s; an exact curve has no error
    assert 10e9 / fast == pytest.approx(25.76, rel=0.001)
    assert 10e9 / slow == pytest.approx(25.76, rel=0.001)


def test_the_acceleration_range_holds_a_noisy_curves_fill_time() -> None:
    """The same curve with rises 10% noisy, over 200 seeds: the range (the errors of a
    line through the rates between arrivals, either way) holds the noiseless curve's
    time to fill 10 GB more from t = 15 for most seeds, and misses it on either side
    about as often (measured 113 held, 43 too late, 44 too early)."""
    room = 10e9
    a, b = 7.5e6, 3e7 + 2 * 7.5e6 * 15
    truth = (-b + math.sqrt(b * b + 4 * a * room)) / (2 * a)  # 23.28 s
    held = late = early = 0
    for seed in range(200):
        rng = random.Random(seed)
        quad, level = [(0.0, 1e9)], 1e9
        for t in range(1, 16):
            level += (3e7 + 7.5e6 * (2 * t - 1)) * (1 + 0.1 * rng.gauss(0, 1))
            quad.append((float(t), level))
        got = _acceleration(quad, room, 1e8)
        assert got is not None
        _, fast, slow = got
        held += room / fast <= truth <= room / slow
        late += truth < room / fast
        early += truth > room / slow
    assert held >= 100
    assert late <= 2 * early and early <= 2 * late


def test_settings_replace_keeps_defaults() -> None:
    s = replace(OOMSettings(), min_confidence=0.5)
    assert s.min_sustained_samples == 10 and s.leak_prior == pytest.approx(0.05)


def test_fixture_readme_lists_every_recording() -> None:
    text = (TRACES / "README.md").read_text()
    for tr in RECORDINGS:
        assert bench.name_of(tr) in text


def test_mean_lead_is_reported_by_the_bench_summary() -> None:
    scores = [s for tr in OOM_RECORDINGS for s in _scores(tr)]
    summary = bench.summarize("x", scores)
    assert summary.lead_ratio == pytest.approx(statistics.mean(s.lead_ratio for s in scores))
    assert summary.ceiling_ratio == pytest.approx(statistics.mean(s.ceiling_ratio for s in scores))


def test_a_trend_once_made_is_not_judged_away_by_a_later_trough() -> None:
    """open/burst_leak_slow.jsonl.gz (6 GB bursts every 6 s on a 120 MB/s leak): two
    climbing bursts make the trend at t=27; at t=32, in the trough before the third,
    the same rises judged again fell short of a trend and the alert dropped for a
    sample. Rises are evidence that only grows: it stands from t=27 to the OOM."""
    tr = trace_mod.read(TRACES / "open" / "burst_leak_slow.jsonl.gz")
    alerting = {round(t) for t in _alert_times(tr)}
    assert set(range(27, 63)) <= alerting
    assert 26 not in alerting


def test_bursts_climbing_together_are_a_consistent_floor_from_their_onset() -> None:
    """open/small_bursts_leak.jsonl.gz (1.5 GB bursts every 1.5 s on a 120 MB/s leak, seen
    every third sample at 1 Hz): the growth's onset is the sample before the first
    burst, so the peak's rise from it holds a burst's height and the floor's rise over
    the same stretch read as a third of it (consistency 0.42, the alert waited to
    t=21). Two swings whose troughs climb at their peaks' rate are a floor rising with
    the peak: the alert stands from t=19, the third climbing top, to the OOM."""
    tr = trace_mod.read(TRACES / "open" / "small_bursts_leak.jsonl.gz")
    alerting = {round(t) for t in _alert_times(tr)}
    assert set(range(19, 60)) <= alerting
    assert 18 not in alerting


def test_a_floor_that_rose_in_a_step_is_timed_across_its_stand() -> None:
    """bursts_4s_on_leak.jsonl.gz (3 GB bursts every 4 s, each keeping 0.28 GB), every
    half second: the floor after the first climbing burst rose 0.28 GB at t=17 and was
    first seen at t=18, 1.5 s after the onset, a rate 1.5 times the peak's, too fast
    for a floor under bursts on a leak; the alert waited for the third climbing top
    (t=25). The floor stood there until t=20.5, and the step came as late as the middle
    of that stand: the alert stands from the second climbing top, t=21, as at 1 Hz."""
    tr = _recording("bursts_4s_on_leak.jsonl.gz")
    for rate_hz in (2.0, 1.0):
        alerting = _alert_times(tr, rate_hz)
        assert alerting and alerting[0] == 21.0, rate_hz
        assert _scores(tr, rate_hz)[0].lead_s >= 55.0, rate_hz


def test_bursts_climb_from_the_top_the_onset_rose_from() -> None:
    """burst_slow_leak.jsonl.gz at 1 Hz: 4.5 GB bursts about every 3 s, each keeping
    0.24 GB. The growth's onset is the trough at t=13 after the first top (t=12), so
    its peak rose 0.48 GB from that top by t=17, 5 s, while its floor rose 0.24 GB from
    the trough by t=16: timed from the onset the peak climbed 1.5 times as fast as the
    floor and the second climbing top (t=17) was no trend yet. Timed from the top it
    rose from, they climb together: the alert stands from t=17 to the OOM."""
    alerting = {round(t) for t in _alert_times(_recording("burst_slow_leak.jsonl.gz"))}
    assert set(range(17, 65)) <= alerting
    assert 16 not in alerting


def test_a_burst_that_tops_the_last_is_no_swing_taken_back() -> None:
    """burst_leak.jsonl.gz at 1 Hz: the process is first listed at a 6.6 GB burst's
    top (t=12), falls to 0.8 GB and takes back 0.2 GB more than it gave at t=14. Read
    as a swing taken back, its trough at t=13 was lifted to the top, while its later
    troughs (the growth's own) were not: the floor then seemed to fall 5.6 GB under a
    rising peak, and the alert waited for the third climbing top (t=18). A burst
    topping the last keeps its trough: the alert stands from the second, t=16, to the
    OOM. (leak_beside_bursts at 3 Hz, the same kind, keeps its alert from t=20 to the
    OOM: a lead of 57 s where one dropped sample had left 2.5 s.)"""
    alerting = {round(t) for t in _alert_times(_recording("burst_leak.jsonl.gz"))}
    assert set(range(16, 66)) <= alerting
    assert 15 not in alerting
    assert _scores(_recording("leak_beside_bursts.jsonl.gz"), 3.0)[0].lead_s >= 55.0


def test_regions_that_double_exactly_are_a_reserving_allocator_at_a_slow_refresh() -> None:
    """jax_leak_noisy.jsonl.gz every 2.5 s: XLA's regions of 0.54, 1.07 and 2.15 GB are
    seen 5 s apart each, though they came 4 and 6-7 s apart: their rates (0.11 and 0.21
    GB/s) disagree by twice, and the growth was no allocator's until it was full (a
    warning at t=57.5, 9.7 s ahead). Each region came up to a sample before it was
    seen, and regions that double exactly agree where their true gaps could. Nor are
    such regions, each a big share of what is left, allocation events that fill the
    GPU in a few more steps: the demand fills each in turn. From the third region
    (t=27.5) the warning stands to the OOM, its range holding the true 39.7 s.
    (jax_leak every 1.5 s: 0.54 -> 0.95.)"""
    tr = _recording("jax_leak_noisy.jsonl.gz")
    series = bench.run_vramtop(tr, 0.4, CONFIG)[0]
    at = {t: (low, high) for t, low, high in series}
    low, high = at[27.5]
    assert low is not None and high is not None and low <= 67.2 - 27.5 <= high
    assert _scores(tr, 0.4)[0].lead_s >= 39.0
    assert _scores(_recording("jax_leak.jsonl.gz"), 2 / 3)[0].lead_s >= 60.0


def test_the_next_burst_of_one_size_near_full_is_no_allocation_event() -> None:
    """open/bursts_own_leak_beside_leak.jsonl.gz (2.5 GB bursts every 3 s on their
    process's own 40 MB/s leak, beside a 60 MB/s leak), at 2 Hz: near full, the burst at
    t=69 topped the last by 0.33 GB (the floor's 3 s climb), over a quarter of the room
    left and far above the leaks' rises a sample. Read as one allocation, it started the
    picture afresh and the warning fell 4 s before the OOM at t=74.7. Bursts of one size
    on a climbing floor say it is their next one: the warning stands from t=24."""
    tr = trace_mod.read(TRACES / "open" / "bursts_own_leak_beside_leak.jsonl.gz")
    assert _scores(tr, 2.0)[0].lead_s >= 50.0


def test_a_swinger_topping_its_highest_batch_beside_a_leak_still_swings() -> None:
    """open/leak_beside_returned.jsonl.gz (a 170 MB/s leak beside random batches of 1-6
    GB returned every 0.7 s): at t=34 a batch tops the highest by 0.14 GB, within the
    slack of taking back the same memory, so all the process gave is taken again. Its
    next fall is still a swing held for it, not the growth's own fall: the alert made at
    t=23 stands to the OOM at t=84.3 (it cleared at 36-39 and 51-54 s)."""
    tr = trace_mod.read(TRACES / "open" / "leak_beside_returned.jsonl.gz")
    alerting = {round(t) for t in _alert_times(tr)}
    assert set(range(23, 85)) <= alerting
    assert 22 not in alerting


def test_a_swinger_the_onset_caught_at_a_batch_top_swings_when_it_falls_below() -> None:
    """open/leak_beside_freed_batches.jsonl.gz (a 160 MB/s leak beside random batches
    of 2-6 GB given back every 1.3 s): the batch process was first seen with a batch
    (4.2 GB at t=16), where the growth's onset caught it; its falls to its 2.1 GB
    base, below that size by a swing, read as the growth's own, and no alert came
    until t=60. A process not yet known to swing that falls so swung: the alert stands
    from t=28 to the OOM at t=64.8."""
    tr = trace_mod.read(TRACES / "open" / "leak_beside_freed_batches.jsonl.gz")
    alerting = {round(t) for t in _alert_times(tr)}
    assert set(range(28, 65)) <= alerting


def test_a_young_leaks_first_rest_of_4_s_keeps_its_alert() -> None:
    """stop_go_long.jsonl.gz (180 MB/s for 6 s, then 4 s still): the first run's rises
    from t=13 to 18 make the alert, and the first rest shows three flat samples (19-21)
    before the next run: a pause that with the sample to come spans 4 s is no sign of a
    stop yet (`STALL_HOLD_S`; at 3 s the alert dropped at t=21 and the lead counted
    from t=22, 0.79 of what was possible, not 0.92)."""
    alerting = {round(t) for t in _alert_times(_recording("stop_go_long.jsonl.gz"))}
    assert set(range(13, 74)) <= alerting


def test_the_ceiling_counts_from_the_first_rise_of_what_grew() -> None:
    """leak_40's leaker (pid 1741, `start` at t=9.0) is first seen at t=14 with its
    context and first chunks (0.68 GB) and has risen above that at t=15: an alert from
    there to the OOM at t=62.1 is the most any predictor could have given. vramtop's
    comes at that sample. At 2 Hz it is first seen at t=13.5 (0.66 GB) and has risen by
    t=14."""
    tr = _recording("leak_40.jsonl.gz")
    (score,) = _scores(tr)
    assert score.ceiling_ratio == pytest.approx((62.1402 - 15.0) / (62.1402 - 9.0187))
    assert score.lead_ratio == pytest.approx(score.ceiling_ratio)
    times = [i / 2 for i in range(200)]
    assert bench.first_rise(tr, 0, times, 62.1, 1741) == 14.0
    # Nothing grows before the OOM at these times: no ceiling.
    assert bench.first_rise(tr, 0, times[:28], 62.1, 1741) is None
    # Without the workload named, a process that grew toward the OOM is found by itself.
    assert bench.first_rise(tr, 0, times, 62.1, None) == 14.0
    # One that grew but stopped short (load_then_leak's loader, pid 972, 22 GB up to its
    # plateau at t=19.6) does not count: the leaker's first rise (t=25 at 1 Hz) does.
    load = _recording("load_then_leak.jsonl.gz")
    assert bench.first_rise(load, 0, [float(i) for i in range(80)], 61.16, 1038) == 25.0
    assert bench.first_rise(load, 0, [float(i) for i in range(80)], 61.16, None) == 25.0


# --- UNSEEN SYNTHETIC series (bench/oom_robustness.py's tuning seeds, 1 Hz) ------------------


def _robustness() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "oom_robustness", ROOT / "bench" / "oom_robustness.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_random_batches_that_reach_new_highs_by_chance_stay_quiet() -> None:
    """Two runs of random batch sizes whose new highs came in a row by chance (seeds that
    warned before the swings had to climb together)."""
    rob = _robustness()
    for seed, rate in ((2, 1.0), (2, 2.0), (4, 2.0)):
        score = rob.score_series("var_batch_free", seed, rate, CONFIG)
        assert score.false_alarm_samples == 0, (seed, rate)


def test_unseen_series_of_every_kind_at_1hz() -> None:
    """Measured on the tuning seeds at 1 Hz: lead ratio 0.83 over the OOM kinds, 5 of 72
    no-OOM runs with a false alarm (three caching-allocator high-water marks, one run of
    random batches; the third came with the envelope restarting after a load, which
    fixed a real leak that got no warning at 2 Hz; and one swinger beside growth that
    stops short, taking 2.7 GB for 1 s of every 6, seen at some samples and not others,
    whose first move in the growth was up and so read as the growth's);
    pinned at the measured state."""
    rob = _robustness()
    r = rob.score_rate(list(syn.FAMILIES), rob.TUNING_SEEDS, "tuning", 1.0, CONFIG)
    assert r.lead_ratio >= 0.80
    assert r.false_alarm_runs <= 5


def test_a_swing_cycle_bounds_the_failure_at_its_next_swing_up() -> None:
    """A process seen to swing up at t=32 (after resting 15 s) and down at t=37 (up 5 s):
    a growth that has taken its swing's room 0 s from now fails at its next swing up,
    which starts between t=50 (15 s, less a sample each for when it went down and how
    long it rested) and t=53. At t=50 that is now to 3 s (the late end counted a whole
    cycle more when the crossing fell on the earliest start), at t=45 5 to 8 s; one
    resting longer than it ever has may not come back: nothing said."""
    cycle = _Cycle()
    for t, m in ((17.0, -2e9), (32.0, 2e9), (37.0, -2e9)):
        cycle.moved(t, m)
    assert (cycle.down, cycle.up) == ((15.0, 15.0), (5.0, 5.0))
    for t, ends in ((50.0, (0.0, 3.0)), (45.0, (5.0, 8.0))):
        assert (cycle.fails(t, 0.0, 1.0, early=True), cycle.fails(t, 0.0, 1.0, early=False)) == ends
    assert cycle.fails(54.0, 0.0, 1.0, early=False) is None
    assert cycle.fails(45.0, math.inf, 1.0, early=True) is None
    # A crossing at t=51, inside the next swing's start window: a swing begun before it
    # is still up at it (up 5 s), so the failure comes by t=53, not a cycle later (30).
    assert cycle.fails(45.0, 6.0, 1.0, early=False) == 8.0


def test_a_small_rise_as_a_process_arrives_is_no_growth() -> None:
    """At 2 Hz, a GPU's used memory rises 3 MB before a 75 GB ballast is listed (its
    context being made), and 6 MB beyond what a process brings in the sample it is
    first listed (NVML counts a GPU and its processes apart). Were those two rises a
    growth, the batch process's first 5 GB batch would be a load set aside beside it,
    and its swings between 1.64 GB and 3.5-6.5 GB every 2 s would not be held for it:
    the leak of 90 MB/s that starts beside it at t=20 would warn late and on and off
    (as s29_leak_beside_swinger_2s did: from t=50.5, with a gap to t=89). Rises of
    accounting are none: the alert stands from t=24 on."""
    rng = random.Random(5)
    tops = [rng.uniform(3.5, 6.5) for _ in range(40)]
    p = OOMPredictor()
    alerts = []
    for i in range(110):
        t = i / 2
        sizes: dict[int, float] = {}
        if t >= 5:
            sizes[1] = 75 * GB
        if t >= 12:
            k, into = divmod(t - 12.5, 2)
            sizes[2] = 20 * MB if t == 12 else (tops[int(k)] if into < 1 else 1.64) * GB
        if t >= 20:
            sizes[3] = 0.68 * GB + 90 * MB * (t - 20)
        accounting = (3 if t >= 4.5 else 0) + 6 * sum(t >= s for s in (12, 20))
        pred = _processes_at(p, t, sizes, accounting * MB)
        if isinstance(pred, OOMPrediction) and pred.alert:
            alerts.append(t)
    assert [a for a in alerts if a >= 24] == [24 + i / 2 for i in range(62)]


def _leak_beside_batches_that_fit() -> list[tuple[float, float, object]]:
    """(t, true seconds to OOM, prediction) at 1 Hz: a 90 MB/s leak from t=20 beside a
    75 GB ballast and a process at 1.6 GB taking a batch every 2 s of 1-5 GB, capped
    to what leaves 1 GB free (at least 0.1 GB). The GPU fails when the leak has taken
    all but the batch process's base and its least batch, at t=104.7."""
    rng = random.Random(7)
    p = OOMPredictor()
    out = []
    for i in range(105):
        t = float(i)
        leak = 0.68 * GB + 90 * MB * (t - 20) if t >= 20 else 0.0
        floor = 75 * GB + 1.6 * GB + leak
        batch = max(0.1 * GB, min(rng.uniform(1, 5) * GB, 84 * GB - floor)) if i % 2 == 0 else 0
        sizes = {1: 75 * GB, 2: 1.6 * GB + batch} | ({3: leak} if t >= 20 else {})
        pred = _processes_at(p, t, sizes)
        out.append((t, (85 * GB - 77.38 * GB) / (90 * MB) + 20 - t, pred))
    return out


def test_batches_sized_to_what_fits_leave_their_room_to_the_growth() -> None:
    """Once three of the batch process's tops, each smaller than the batch it gave back,
    met the GPU at its highest used (84 GB), it takes what fits: the leak fails the GPU
    when it has taken the batches' room too, not at the next batch as big as the
    biggest (which said "0 s" for the last 50 s before the OOM). Near the end its
    batches, down to their least, no longer reach that highest: the fast end leaves
    room for that least (without it, the last 12 ranges ended up to 0.7 s after the
    truth)."""
    late = [(truth, pred) for t, truth, pred in _leak_beside_batches_that_fit() if t >= 60]
    assert all(isinstance(pred, OOMPrediction) and pred.alert for _, pred in late)
    inside = [
        pred.seconds_low <= truth <= pred.seconds_high
        for truth, pred in late
        if isinstance(pred, OOMPrediction)
    ]
    assert sum(inside) >= 0.9 * len(inside)
    assert all(inside[-8:])


def test_a_burst_that_would_fill_the_gpu_sooner_than_it_grew_is_no_warning() -> None:
    """At 1.5 Hz a batch process arrives beside a 76.8 GB GPU (0.01 GB), then shows 1.64,
    4.27 and 6.25 GB in three samples, 2 GB from full: growth of 3 GB/s that would fill
    the GPU within a second of a start 2 s ago is a first batch being allocated (it
    gives it back next), or a leak too fast for any warning to help (as
    freed_batches_beside_flat.jsonl.gz, where it was two false-alarm samples)."""
    p = OOMPredictor()
    sizes = [None] * 10 + [0.01, 1.64, 4.27, 6.25, 3.14, 2.67, 1.64, 1.64]
    preds = []
    for i, size in enumerate(sizes):
        batches = {2: size * GB} if size is not None else {}
        preds.append(_processes_at(p, i / 1.5, {1: 76.76 * GB} | batches))
    assert p.evidence is not None and p.evidence.rises == 3  # it was read as growth ...
    assert not any(isinstance(x, OOMPrediction) and x.alert for x in preds)  # ... no warning


def test_a_swinger_is_held_at_its_highest_batch_from_its_first_fall() -> None:
    """A batch process beside a 75 GB ballast tops 5.3, 5.6, 6.5 and 6.0 GB every 2 s
    (1.64 GB between), then 4.5-4.7 GB; a 90 MB/s leak starts beside it at t=16. Its
    fall from 6.0 GB at t=18 is the first held for it, once the leak grew: held there,
    the 6.5 GB batch at t=15 stayed the envelope's peak, and the leak's rise showed only
    once it had climbed past it, at t=24. Held at its highest over the envelope's span,
    the peak fails at its batch as big as that one: the alert stands from t=18 on."""
    p = OOMPredictor()
    tops = {11: 5.3, 13: 5.6, 15: 6.5, 17: 6.0}
    alerts = []
    for i in range(60):
        t = float(i)
        sizes = {1: 75 * GB}
        if t >= 10:
            top = tops.get(i, 4.5 + 0.1 * ((i // 2) % 3))
            sizes[2] = (top if i % 2 else 1.64) * GB
        if t >= 16:
            sizes[3] = 0.68 * GB + 90 * MB * (t - 16)
        pred = _processes_at(p, t, sizes)
        if isinstance(pred, OOMPrediction) and pred.alert:
            alerts.append(t)
    assert alerts == [float(i) for i in range(18, 60)]


def test_a_big_step_of_irregular_steps_keeps_the_warning_and_shortens_it() -> None:
    """Irregular allocator steps of 0.2-0.9 GB beside a 75 GB ballast make a trend by
    t=17; at t=24 a step of 2 GB comes, a quarter of the room and far above the typical
    step. As an allocation event it started the picture afresh and withdrew the warning
    for 5 s, just as the risk rose; in a growth of such uneven steps it is one of its
    steps: the warning stands, and the time left shortens."""
    steps = {14: 0.3, 15: 0.9, 17: 0.2, 18: 0.5, 20: 0.25, 21: 0.8, 23: 0.3, 24: 2.0}
    steps |= {26: 0.4, 27: 0.3, 29: 0.7, 30: 0.2, 32: 0.5, 33: 0.3}
    p = OOMPredictor()
    size = 0.8
    preds = []
    for i in range(36):
        size += steps.get(i, 0.0)
        preds.append(_processes_at(p, float(i), {1: 75 * GB} | ({2: size * GB} if i >= 12 else {})))
    assert all(isinstance(x, OOMPrediction) and x.alert for x in preds[17:])
    before, after = preds[23], preds[24]
    assert isinstance(before, OOMPrediction) and isinstance(after, OOMPrediction)
    assert after.seconds_low < before.seconds_low - 4
    assert after.seconds_high < before.seconds_high - 8
