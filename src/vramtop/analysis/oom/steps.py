"""Reading the growth's steps: allocation events, a regular rhythm, how long a pause
may run, rises that decay."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from vramtop.analysis.oom.constants import (
    ARRIVAL_SLACK,
    CV_ARRIVALS,
    CYCLE_RATE_RATIO,
    DECAY_RATIO,
    DECAY_RISES,
    DECEL_MIN_WINDOW_S,
    IRREGULAR_PAUSE_SLACK,
    JUMP_SHARE,
    JUMP_VS_MEDIAN,
    NOISE_BYTES,
    STALL_REGULAR_CV2,
    STALL_RHYTHM_GAPS,
    STALL_RHYTHM_MIN_GAPS,
    STALL_RHYTHM_MIN_SPAN_S,
    STALL_RHYTHM_SPAN_S,
)
from vramtop.analysis.oom.episode import _Episode
from vramtop.analysis.oom.stats import _cv2_classic


def _allocation_event(
    t: float, rise: float, headroom: float, ep: _Episode | None, dt: float
) -> bool:
    """Is a rise (seen at `t`) one allocation taking a large share of what was left (a
    load, a pre-allocation, a bigger batch), not a step of the growth `ep` (where there
    is one): far above its typical rise, not a lump it has made twice already
    (`made_rise`), not the next of bursts climbing on a leak (`climbs_as_bursts`), and
    not the next region of an allocator reserving ahead?
    """
    return rise > JUMP_SHARE * max(headroom, 1.0) and (
        ep is None
        or (
            rise > JUMP_VS_MEDIAN * ep.median_rise()
            and not ep.made_rise(rise)
            and not ep.climbs_as_bursts(rise)
            and not ep.continues_reserve(t, rise, headroom, dt)
        )
    )


def _retaken(rise: float, held: float) -> float:
    """How much of a process's `rise` takes back the `held` bytes it gave: all of it
    when it is a few MB more than that (the same allocation), else what was held."""
    return rise if rise <= held + max(NOISE_BYTES, ARRIVAL_SLACK * held) else held


def _one_sample(gap: float, dt: float) -> bool:
    """Is a gap between rises one sampling interval (not two or more)?"""
    return gap < 1.5 * dt


def _regular_rhythm(gaps: Sequence[float], dt: float) -> bool:
    """Has the growth shown a regular rhythm of rises (`_stall`): `STALL_RHYTHM_GAPS`
    gaps spanning `STALL_RHYTHM_MIN_SPAN_S` (the same 8 s at every refresh from 1 Hz
    up: a stop-go leak's first run of 4 s shows 16 gaps at 4 Hz, and is no rhythm that
    never rests), or at a slow refresh fewer, each of one sample, spanning
    `STALL_RHYTHM_SPAN_S`, that vary little?"""
    gaps = gaps[-CV_ARRIVALS:]
    known = (len(gaps) >= STALL_RHYTHM_GAPS and sum(gaps) >= STALL_RHYTHM_MIN_SPAN_S) or (
        len(gaps) >= STALL_RHYTHM_MIN_GAPS
        and sum(gaps) >= STALL_RHYTHM_SPAN_S
        and _one_sample(max(gaps), dt)
    )
    return known and _cv2_classic(gaps) <= STALL_REGULAR_CV2


def _pause_slack(longest: float, dt: float) -> float:
    """How much longer than the longest gap so far a pause may run before it counts
    against the growth: growth that rose at every sample shows its rhythm exactly, but
    the longest gap of irregular steps (some longer than a sample) understates the next
    long one, the tail of their gaps being what a few of them show least."""
    return 1.0 if _one_sample(longest, dt) else IRREGULAR_PAUSE_SLACK


def _decaying_rises(ep: _Episode, dt: float, headroom: float) -> float:
    """The newest `DECAY_RISES` rises, a sample apart, each at most `DECAY_RATIO` of the
    one before: growth decaying geometrically, whose rises still to come sum to about
    last * q / (1 - q). Only where windows long enough for `_slowing` take a minute or
    more (a refresh slower than one sample in `DECEL_MIN_WINDOW_S / 4`): there a few
    samples already show it, and each averages seconds of growth, so irregular steps
    seldom shrink so by chance (at a fast refresh they do, and `_slowing` is soon)."""
    if 4 * dt < DECEL_MIN_WINDOW_S or len(ep.rises) < DECAY_RISES:
        return 1.0
    rises = ep.rises[-DECAY_RISES:]
    if not all(_one_sample(b[0] - a[0], dt) for a, b in itertools.pairwise(rises)):
        return 1.0
    q = max(b[1] / a[1] for a, b in itertools.pairwise(rises))  # rises are all > 0
    if q > DECAY_RATIO:
        return 1.0
    still_to_come = rises[-1][1] * q / (1 - q)
    return min(1.0, still_to_come / max(headroom, 1.0)) ** 2


def _climbs_on(
    ep: _Episode, t: float, pt: float, plevel: float, level: float, peak: float, dt: float
) -> None:
    """Note in `ep` a sample where memory, fallen below the envelope's peak since the
    growth's last rise, fell (`fell_t`) or climbed on by about the growth's own step
    for the time between the samples (`climb_t`, within `CYCLE_RATE_RATIO`). Bursts a
    little slower or faster than the refresh meet the samples in a long beat: for
    many samples each shows a burst's top, then for as many a trough, one burst lower,
    climbing at the same rate; the growth goes on under the peak the tops left. Only
    for growth that rose at every sample lately (`STALL_RHYTHM_MIN_GAPS` gaps of one
    sample), as the tops do: new highs of random batches come now and then."""
    lately = ep.gaps[-STALL_RHYTHM_MIN_GAPS:]
    if (
        not ep.trended
        or len(lately) < STALL_RHYTHM_MIN_GAPS
        or not all(_one_sample(g, dt) for g in lately)
        or level >= peak - NOISE_BYTES
    ):
        return
    if level < plevel - NOISE_BYTES:
        ep.fell_t = t
        return
    step = level - plevel
    expected = ep.step_rate() * (t - pt)
    if step > NOISE_BYTES and expected / CYCLE_RATE_RATIO <= step <= CYCLE_RATE_RATIO * expected:
        ep.climb_t = t
