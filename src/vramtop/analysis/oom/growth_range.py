"""The growth's rate and the range of times to full around it, read from an episode's
rises and gaps."""

from __future__ import annotations

import bisect
import itertools
import math

from vramtop.analysis.oom.constants import (
    CHANGE_NULL_ARRIVALS,
    CV2_PRIOR,
    CV2_PRIOR_WEIGHT,
    CV_ARRIVALS,
    MIN_RATE_SHARE,
    RANGE_Z,
    RATE_DRIFT,
    RATE_MIN_ARRIVALS,
    RATE_SPAN_S,
    RHYTHM_RUNS,
    RHYTHM_SCAN,
)
from vramtop.analysis.oom.episode import _Episode
from vramtop.analysis.oom.rates import _acceleration, _changepoint, _long_pause, _Range, _rhythm
from vramtop.analysis.oom.reserve import _time
from vramtop.analysis.oom.stats import _cv2_classic, _median, _size_weighted_mean, _trimmed
from vramtop.analysis.trends import theil_sen


def _growth_rates(ep: _Episode, t: float, headroom: float, dt: float) -> _Range:
    """Central, slowest and fastest plausible growth rate of the peak (bytes/s), and
    the typical step it grows by.

    Rates are measured on the growth's arrivals (the level right after each rise),
    so a staircase of irregular steps is measured along its corners rather than
    across its flats. The window reaches back as far as the growth looks the same:
    to the onset, to the end of a long pause, or to a change of rate found on an
    earlier sample (`_changepoint`), at most `RATE_SPAN_S` or the predicted time.
    The range comes from how irregular the rises are (their gaps' and sizes'
    variation, as in a renewal process): the rate measured over k rises is off by
    about cv/sqrt(k), and the k_f rises still to come before full add cv/sqrt(k_f).
    """
    base = ep.base if ep.base is not None and ep.base[0] > ep.t0 else (ep.t0, ep.level0)
    pts = [base, *ep.arrivals_after(base[0])]
    pause = _long_pause(pts, dt)
    if pause is not None:
        ep.rests.add(pause[0])
        if len(ep.rests) < 2:
            ep.base = base = pause
            ep.before_change = None
            pts = [base, *ep.arrivals_after(base[0])]
        # else the pauses recur: they are the growth's rhythm, and its rate is
        # measured across them, from the end of the first one.
    win = pts
    rate = theil_sen(win)
    if rate > 0:
        span = max(RATE_SPAN_S, headroom / rate)
        older = bisect.bisect_left(win, t - span, key=_time)
        if older and len(win) - older >= RATE_MIN_ARRIVALS:
            win = win[older:]
            rate = theil_sen(win)
    recent_rate: float | None = None
    kink = max(ep.arrived_t, ep.stopped_t)
    arrived = kink if kink > win[0][0] else None
    recent = win[-CHANGE_NULL_ARRIVALS:]
    change = _changepoint(recent, arrived, startup=dt if recent[0][0] == ep.t0 else None)
    if change is not None:
        k, r_new, confirmed = change
        if confirmed:
            if ep.before_change is None:
                ep.before_change = win[0]
            ep.base = recent[k]
            win = recent[k:]
            rate = theil_sen(win)
        else:
            recent_rate = r_new
    if rate <= 0 or len(win) < 2:
        return _Range(rate, 0.0, 0.0, 0.0, 0.0, 0.0, win[0][0])
    # How irregular the rises are: their gaps' and sizes' variation (the newest
    # `CV_ARRIVALS` in the window; a guess worth `CV2_PRIOR_WEIGHT` before that).
    hist = win[-CV_ARRIVALS - 1 :]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(hist)]
    sizes = [b[1] - a[1] for a, b in itertools.pairwise(hist)]
    n_inc = len(gaps)
    if hist[0][0] == ep.t0 and len(gaps) > 1:
        # The onset is the last sample before the first rise, not a rise: the time
        # from it to the first rise is not a gap between rises (bursts on a leak
        # have their onset a sample before a burst, whatever their period).
        gaps = gaps[1:]
    cv2 = _cv2_classic(_trimmed(gaps)) + _cv2_classic(_trimmed(sizes))
    cv2 = (n_inc * cv2 + CV2_PRIOR_WEIGHT * CV2_PRIOR) / (n_inc + CV2_PRIOR_WEIGHT)
    incs = [max(0.0, b[1] - a[1]) for a, b in itertools.pairwise(win)]
    k = len(incs)
    total = sum(incs)
    mean_inc = max(total / k, 1.0)
    # Growth arrives in steps, and the one that fails is the first that does not fit:
    # it comes, on average, when the line would be this far beyond full (a renewal
    # process's overshoot, E[X^2] / 2E[X]; half a step for equal steps). Only steps
    # the sampling resolves count: a rise in every sample is many smaller ones.
    resolved = max(0.0, 1.0 - dt / max(_median(gaps), dt)) if gaps else 0.0
    overshoot = resolved * _size_weighted_mean(incs) / 2
    # Log-spreads: the rate measured over k rises is off by about cv / sqrt(k) (plus
    # unmodelled drift); the k_f rises still to come before full take their own
    # time, off by cv / sqrt(k_f). The two are independent.
    s_rate = math.sqrt(cv2 / k + RATE_DRIFT**2)
    s_time = math.sqrt(s_rate**2 + cv2 / max(1.0, headroom / mean_inc))
    r_lo = rate * max(MIN_RATE_SHARE, math.exp(-RANGE_Z * s_rate))
    r_hi = rate * math.exp(RANGE_Z * s_rate)
    fast, slow = rate * math.exp(RANGE_Z * s_time), rate * math.exp(-RANGE_Z * s_time)
    if recent_rate is not None and recent_rate > 0:
        # The newest rises run at another rate, not yet confirmed: both are possible.
        r_hi = max(r_hi, recent_rate * math.exp(RANGE_Z * s_rate))
        r_lo = min(r_lo, recent_rate * math.exp(-RANGE_Z * s_rate))
        fast = max(fast, recent_rate * math.exp(RANGE_Z * s_rate))
        slow = min(slow, recent_rate * math.exp(-RANGE_Z * s_rate))
    slow = max(slow, MIN_RATE_SHARE * rate)
    accel = _acceleration(win, headroom, rate)
    if accel is None and ep.before_change is not None and ep.t0 <= ep.before_change[0]:
        # Rates that rose at a change may be growth speeding up all along: since
        # before the change, or since a process arrived, which explains a change
        # there.
        if ep.arrived_t < ep.before_change[0]:
            whole = [ep.before_change, *ep.arrivals_after(ep.before_change[0])]
        else:
            whole = ep.arrivals_after(ep.arrived_t)
        accel = _acceleration(whole, headroom, theil_sen(whole))
    if accel is not None:
        # Growth speeding up fills as its quadratic does, give or take the fit's
        # errors and the unmodelled drift every rate has.
        rate_now, to_full_fast, to_full_slow = accel
        fast = max(fast, to_full_fast * math.exp(RANGE_Z * RATE_DRIFT))
        slow = max(slow, to_full_slow * math.exp(-RANGE_Z * RATE_DRIFT))
        r_hi = max(r_hi, rate_now)
    rhythm = None
    if ep.flat_gaps >= RHYTHM_RUNS - 1:
        scan = ep.arrivals[-RHYTHM_SCAN - 1 :]
        entire = len(scan) == len(ep.arrivals)
        rhythm = _rhythm(
            scan if entire else scan[1:], ep.level0 if entire else scan[0][1], t, dt, entire
        )
    # (a rhythm's schedule says when the failing run comes: no overshoot on it)
    room_over = overshoot if rhythm is None else 0.0
    return _Range(rate, r_lo, r_hi, room_over, fast, slow, win[0][0], rhythm=rhythm)
