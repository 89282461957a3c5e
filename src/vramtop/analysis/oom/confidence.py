"""What the confidence rests on besides the rises: whether the growth stalled, whether
its floor climbs with its peak, whether it is slowing."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

from vramtop.analysis.oom.constants import (
    CONSISTENCY_FULL,
    CV_ARRIVALS,
    DECEL_MIN_WINDOW_S,
    DECEL_SPAN_S,
    MIN_RISES,
    STALL_GRANULAR_SHARE,
    STALL_PARTIAL_STEP,
    STALL_REGULAR_CV2,
    STALL_RHYTHM_MIN_GAPS,
    STALL_UNEVEN_CV2,
    STALL_UNEVEN_MAX_DT,
    STALL_YOUNG_PARTIAL_STEP,
    STILL_SLOWING,
)
from vramtop.analysis.oom.episode import _Episode
from vramtop.analysis.oom.reserve import _Reserve, _time
from vramtop.analysis.oom.stats import _clamp01, _cv2_classic, _finite, _median
from vramtop.analysis.oom.steps import _decaying_rises, _one_sample, _pause_slack
from vramtop.analysis.oom.swings import _burst_without_climb, _Swings
from vramtop.model import GPUProcess, Phase, PhaseState


def _stall(
    ep: _Episode,
    t: float,
    dt: float,
    parsed: _Swings,
    reserve: _Reserve | None,
    regular: bool,
) -> float:
    """Has the growth stopped? 1.0 while it goes on, toward 0 as a pause outlasts it.

    The confidence decays once the pause exceeds the longest gap seen (times
    `_pause_slack`, for irregular steps). Once a regular rhythm is known (a leak
    rising at every sample or so, `regular`, of `_regular_rhythm`), a gap already
    longer (counting the sample still to come) than every one of its gaps says it
    stopped: as likely as one gap in n + 1 being the longest (Laplace); where its
    steps' sizes vary widely (a training loop's outputs) or some were under half
    the typical one (allocator chunks, a chunk or two a sample at a fast refresh),
    only once it is past the longest, for such growth skips a sample now and then
    at a refresh of a second or two or faster. On such a rhythm, a newest rise under
    a fifth of its smallest step is growth that stopped within that interval (a leak
    ending between two samples), so the pause runs from the rise before it; a sample
    a process arrived in hides a rise as small as NVML's accounting differences, so
    it does not count.
    Before such a rhythm is known, rises a sample apart and of one size, the newest
    under `STALL_YOUNG_PARTIAL_STEP` of the smallest, are growth that stopped within
    the newest's interval too (its decay runs from the rise before it).
    Irregular steps have long pauses now and then; for them the exponential decay
    says how long is too long. Before a regular rhythm is known, a pause within
    `ep.hold_s` (`_predict`: `STALL_HOLD_S`, or the predicted time to failure where
    shorter) says nothing yet. A burst that came since the last rise without
    climbing, or a trough since then that stopped climbing with the troughs before,
    says it stopped at once (`_burst_without_climb`). Memory that fell below the
    peak and climbs on at the growth's step (`_climbs_on`: bursts meeting the
    samples in a long beat, troughs seen for many samples in a row) is the growth
    going on, and a sample that fell waits for the one after it to say which.
    """
    longest = max(ep.gaps) if ep.gaps else dt
    if reserve is not None:
        longest = max(longest, reserve.region_s)
    last = ep.rises[-1][0]
    pause = t - max(last, ep.climb_t)

    def decay(pause: float) -> float:
        slack = _pause_slack(longest, dt) * longest
        return math.exp(-max(0.0, pause - slack) / max(longest, dt))

    stall = decay(pause)
    if _burst_without_climb(parsed, last):
        return min(stall, 1 / (len(ep.gaps) + 1))
    if pause + dt <= ep.hold_s + 1e-9:
        return 1.0
    # The newest rise well short of the steps before it, all of a size: growth that
    # stopped within that sample's interval, so the pause runs from the rise before.
    steps = [size for _, size in ep.rises[-CV_ARRIVALS - 1 : -1]]
    cv2 = _cv2_classic(steps)
    share = STALL_PARTIAL_STEP if regular else STALL_YOUNG_PARTIAL_STEP
    partial = bool(steps) and ep.rises[-1][1] < share * min(steps) and cv2 <= STALL_REGULAR_CV2
    if not regular:
        # (too few rises yet for a rhythm: only where each came a sample apart)
        if (
            partial
            and len(ep.gaps) > STALL_RHYTHM_MIN_GAPS
            and all(_one_sample(g, dt) for g in ep.gaps[-CV_ARRIVALS:])
            and ep.arrived_t < last
        ):
            stall = decay(t - ep.rises[-2][0])
        return stall
    if ep.arrived_t >= last:
        # A process arrived since the newest rise: a rise as small as NVML's
        # accounting differences went unseen in that sample, so it says nothing.
        pause -= dt
    if partial:
        pause = t - ep.rises[-2][0]
    # Steps of very different sizes (a training loop's outputs, an allocator's
    # segments) skip a sample of a second or two now and then: the gap must be
    # past the longest (slower samples each span many steps).
    # So do steps some samples held under half the typical one of: a leak of
    # allocator chunks sampled a chunk or two at a time (a fast refresh) now and
    # then meets a sample that holds none.
    granular = bool(steps) and min(steps) < STALL_GRANULAR_SHARE * _median(steps)
    uneven = dt <= STALL_UNEVEN_MAX_DT and (cv2 > STALL_UNEVEN_CV2 or granular)
    ahead = 0.0 if uneven or ep.fell_t >= t else dt
    if pause > 0 and pause + ahead > longest + 1e-9:
        stall = min(stall, 1 / (len(ep.gaps) + 1))
    return stall


def _floor_ratio(ep: _Episode, t: float, since: float, dt: float, peak: float) -> float | None:
    """How much the floor rose since `since`, per byte the peak rose (None when the
    peak has not risen up to a window ago: too young to judge).

    The floor now is the lowest sample over the last few gaps between rises (a
    sawtooth's trough, a leak itself), the floor then the lowest over as long a
    window at `since`; the peak's rise is taken up to a window ago, where the
    floor's stands. A steady leak gives about 1, bursts on a leak too, new highs
    of variable batches about 0 (their floor stays) or far above 1 (the floor then
    was a low phase the peak never left).
    """
    i = max(0, bisect.bisect_right(ep.times, since) - 1)
    start = ep.points[i]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(ep.rises[-4:]) if a[0] >= start.t]
    w = max(2 * dt, max(gaps, default=dt) + dt)
    # The floor over the last window stands for the level a window ago: compare it
    # with the peak's rise up to then.
    growth = ep.level_at(t - w + dt) - start.peak
    if growth <= 0:
        return None
    recent = [p.used for p in ep.between(t - w, t) if p.t > max(start.t, t - w)]
    # ... and the floor then over as long a window around `since` (after it, too:
    # a process that arrived at the top of a burst shows its trough only then).
    # Where the rate window starts at a change of rate, what came before it is
    # another regime (a load before a leak), not this growth's floor.
    then_end = max(start.t, min(start.t + w, t - w))
    then_start = start.t if since > ep.t0 else start.t - w
    then = [p.used for p in ep.between(then_start, then_end)]
    then += [v for tb, v in ep.before if tb >= then_start - 1e-9]
    if not recent or not then:
        return 0.0
    return (min(recent) - min(then)) / growth


def _consistency(
    ep: _Episode,
    t: float,
    since: float,
    dt: float,
    peak: float,
    process_phases: Sequence[tuple[GPUProcess, PhaseState]],
    cycles: int | None,
) -> float:
    """Does the floor rise with the peak? Bigger bursts lift only the peak.

    Over the rate's window (`since`): after a pause or a change of rate, what came
    before says nothing about this growth. `_floor_ratio` compares the floor's
    rise with the peak's: about 1 for a leak (with or without bursts on it), 0 for
    batches reaching new highs over a flat floor, and far above 1 when the floor
    then was a low phase the peak never left (randomness, not a leak). Swings that
    climb together (`cycles`, of `_climbing_cycles`, at least `MIN_RISES`) are
    consistent whatever the ratio.
    """
    base = max(ep.t0, since)
    r = _floor_ratio(ep, t, base, dt, peak)
    if r is None and base > ep.t0:
        # A rate window just re-based at a change of rate, whose peak has not risen
        # up to a window ago: the floor over the whole growth says more.
        r = _floor_ratio(ep, t, ep.t0, dt, peak)
    ratio = _clamp01(min(r, 1 / r) / CONSISTENCY_FULL) if r is not None and r > 0 else 0.0
    if ratio < 1.0 and (cycles or 0) >= MIN_RISES:
        # Swings whose troughs climb at their peaks' rate are a floor rising with
        # the peak, whatever an onset before the first of them makes of the ratio
        # (the peak's rise from there holds a burst's height).
        ratio = 1.0
    # Per-process evidence: a process the phase detector sees GROWING, holding most
    # of this episode's growth, is a floor that rises.
    growth = peak - ep.level_at(since)
    if growth > 0:
        for _proc, phase in process_phases:
            rate = _finite(phase.rate_bytes_per_s) or 0.0
            grown = rate * min(t - since, phase.duration_samples * dt)
            if phase.phase is Phase.GROWING and grown >= 0.5 * growth:
                ratio = max(ratio, _clamp01(phase.confidence))
    return ratio


def _deceleration(
    ep: _Episode, t: float, dur: float, dt: float, peak: float, headroom: float
) -> float:
    """Growth slowing steadily toward a level short of full is not heading for OOM."""
    return min(_slowing(ep, t, dur, dt, peak, headroom), _decaying_rises(ep, dt, headroom))


def _slowing(
    ep: _Episode, t: float, dur: float, dt: float, peak: float, headroom: float
) -> float:
    """Three windows of the growth, each slower than the one before."""
    span = min(dur, DECEL_SPAN_S)
    third = span / 3
    if third < max(DECEL_MIN_WINDOW_S, 4 * dt):
        return 1.0
    start = t - span
    levels = [ep.level_at(start + i * third) for i in range(3)] + [peak]
    rates = [(levels[i + 1] - levels[i]) / third for i in range(3)]
    edges = [bisect.bisect_right(ep.rises, start + i * third, key=_time) for i in range(4)]
    counts = [edges[i + 1] - edges[i] for i in range(3)]
    sig = [1 + 2 / math.sqrt(max(1, min(counts[i], counts[i + 1]))) for i in range(2)]
    if not (rates[0] > 0 and rates[1] * sig[0] < rates[0] and rates[2] * sig[1] < rates[1]):
        return 1.0
    if rates[2] <= 0:
        return 0.0
    if math.log(rates[1] / rates[2]) < 0.5 * math.log(rates[0] / rates[1]):
        return 1.0  # a drop that then levels off (a load ending in a leak), not a decay
    mid = t - third / 2
    newer, older = (peak - ep.level_at(mid)), (ep.level_at(mid) - ep.level_at(t - third))
    if older > 0 and newer >= STILL_SLOWING * older:
        return 1.0  # the newest stretch is not slowing down any more: it levelled into a trend
    lam = math.log(rates[1] / rates[2]) / third
    rate_now = rates[2] * math.exp(-lam * third / 2)
    still_to_come = rate_now / lam
    return min(1.0, still_to_come / max(headroom, 1.0)) ** 2
