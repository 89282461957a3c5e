"""Growth rates and their ranges: pauses, rhythms of runs and rests, acceleration,
changes of rate."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from vramtop.analysis.oom.constants import (
    ACCEL_MAX_POINTS,
    ACCEL_MIN_ARRIVALS,
    ACCEL_RATE_RATIO,
    ACCEL_Z,
    ARRIVAL_MIN_NULL,
    CHANGE_MAX_M,
    CHANGE_MIN_ARRIVALS,
    CHANGE_MIN_NULL,
    CHANGE_REL_FLOOR,
    CHANGE_Z,
    CHANGE_Z_NEW,
    MB,
    NOISE_BYTES,
    PAUSE_ALPHA,
    PAUSE_SCAN,
    RANGE_Z,
    RATE_DRIFT,
    REGIME_RATE_RATIO,
    RHYTHM_FLAT,
    RHYTHM_GROWTH_RATIO,
    RHYTHM_JITTER,
    RHYTHM_KEEP,
    RHYTHM_REST,
    RHYTHM_REST_SHARE,
    RHYTHM_RUNS,
    STARTUP_AFTER,
    STARTUP_ARRIVALS,
)
from vramtop.analysis.oom.stats import _cv2_classic, _median
from vramtop.analysis.trends import thinned


@dataclass(frozen=True, slots=True)
class _Range:
    """Growth rates of the peak (bytes/s) and how the time to full spreads around them."""

    rate: float  # central
    low: float  # slowest plausible
    high: float  # fastest plausible
    overshoot: float  # bytes beyond full at which the failing step comes, on average
    # (a reserving allocator: its newest region, counted from when it came; `delay`
    # takes off the time since)
    time_fast: float  # the equivalent rates of the time range's ends: the rate's own
    time_slow: float  # ... uncertainty and the randomness of the rises still to come
    since: float  # the start of the window the rate was measured over
    delay: float = 0.0  # seconds to add: the allocator's wait at full, less time already spent
    rhythm: _Rhythm | None = None  # growth in runs and rests: its schedule sets the times


def _long_pause(pts: Sequence[tuple[float, float]], dt: float) -> tuple[float, float] | None:
    """Where growth resumed after a pause its other gaps make implausible.

    Gaps are taken as exponential with the mean of the others (irregular steps are
    close to that; a steady leak is more regular, which only makes a long pause
    stand out more): a gap g is a pause when exp(-g / mean) times the number of gaps
    is under `PAUSE_ALPHA`. Returns the flat level just before the newest such
    resumption, `(t, level)`, as the anchor of a rate window (rates across such a
    pause mix two regimes), or None.
    """
    if len(pts) < 4:
        return None
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(pts)]
    total, n = sum(gaps), len(gaps)
    for i in range(n - 2, max(-1, n - 2 - PAUSE_SCAN), -1):
        g = gaps[i]
        others = max(dt, (total - g) / (n - 1))
        if g > 2 * dt and n * math.exp(-g / others) < PAUSE_ALPHA:
            t_res = pts[i + 1][0]
            return (max(pts[i][0], t_res - max(dt, gaps[i + 1] if i + 1 < n else dt)), pts[i][1])
    return None


@dataclass(frozen=True, slots=True)
class _Rhythm:
    """Growth in runs with rests between, of a steady rhythm (`_rhythm`): from the
    newest run's start, the runs to come grow by `growth` each, `period` apart, over
    `lasts` each (shortest or least, longest or most)."""

    start: float  # when the newest run's first rise was seen
    grown: float  # what it has grown since the rest before it
    over: bool  # it has ended: the next run is still to come
    period: tuple[float, float]
    growth: tuple[float, float]
    lasts: tuple[float, float]

    def reaches(self, t: float, room: float, dt: float, early: bool) -> float:
        """Seconds from `t` until the runs have grown by `room` more, at the earliest
        (`early`: the most growth a run, the shortest period and run, the newest run
        begun a sample before it was seen) or at the latest; 0 where they have."""
        if room <= 0:
            return 0.0
        grow = self.growth[1] if early else self.growth[0]
        period = self.period[0] if early else self.period[1]
        lasts = self.lasts[0] if early else self.lasts[1]
        begin = self.start - dt if early else self.start
        need = room
        if self.over:
            begin += period
        else:
            need += self.grown
        runs = need / grow
        if not math.isfinite(runs):
            return math.inf if runs > 0 else 0.0
        done = max(0, math.ceil(runs) - 1)  # runs that end before the failing one
        return max(t, begin + done * period + (need - done * grow) / grow * lasts) - t


def _rhythm(
    pts: Sequence[tuple[float, float]], before: float, t: float, dt: float, whole: bool
) -> _Rhythm | None:
    """Growth in runs of rises with rests between, of a steady rhythm: at least
    `RHYTHM_RUNS` runs, the finished ones growing within `RHYTHM_GROWTH_RATIO` of each
    other, their starts a steady period apart (within `RHYTHM_JITTER` of it beyond a
    sample each way), each rest at least `RHYTHM_REST_SHARE` of it. A rest is a gap
    of more than `RHYTHM_FLAT` samples and `RHYTHM_REST` times the median gap within
    runs; a staircase, rising once a step, is runs of one rise. `pts`: the growth's
    arrivals (time, level), from its start (`whole`) or from inside it (its first run
    then unread); `before`: the level before them. None where there is no such
    rhythm, or where the newest run grows or lasts longer, or the rest after it lasts
    longer, than any before (the rhythm may have changed: the renewal model of the
    rises reads it).

    A run was seen up to a sample after it began and ended, so its length is known
    to a sample either way; its period, from the span of the starts over the cycles
    between, to a sample over all of them (with jitter beyond that added); what a run
    grows, from the finished runs after the first (which may have begun before the
    growth was seen, or with a process's arrival), give or take `RATE_DRIFT`."""
    if len(pts) < RHYTHM_RUNS:
        return None
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(pts)]
    within = [g for g in gaps if g <= RHYTHM_FLAT * dt]
    cut = max(RHYTHM_FLAT * dt, RHYTHM_REST * _median(within) if within else 0.0)
    firsts = [0, *(i + 1 for i, g in enumerate(gaps) if g > cut)]
    if not whole:
        firsts = firsts[1:]
    firsts = firsts[-RHYTHM_KEEP:]
    if len(firsts) < RHYTHM_RUNS:
        return None
    ends = [b - 1 for b in firsts[1:]]
    finished = list(zip(firsts, ends, strict=False))
    growths = [pts[e][1] - (pts[f - 1][1] if f else before) for f, e in finished[1:]]
    runs = [pts[e][0] - pts[f][0] for f, e in finished]
    inside = max((gaps[i] for f, e in finished for i in range(f, e)), default=dt)
    starts = [pts[f][0] for f in firsts]
    periods = [b - a for a, b in itertools.pairwise(starts)]
    if min(growths) <= 0 or max(growths) > RHYTHM_GROWTH_RATIO * min(growths):
        return None
    mean = (starts[-1] - starts[0]) / len(periods)
    jitter = max(0.0, (max(periods) - min(periods) - 2 * dt) / 2)
    rests = [gaps[f - 1] for f in firsts[1:]]
    if jitter > RHYTHM_JITTER * mean or min(rests) < RHYTHM_REST_SHARE * mean:
        return None
    newest = firsts[-1]
    grown = pts[-1][1] - pts[newest - 1][1]
    over = t - pts[-1][0] > max(dt, inside)
    lasts = (max(0.0, min(runs) - dt), max(runs) + dt)
    if over and t - starts[-1] > mean + jitter + 2 * dt:
        return None  # the next run is late
    if not over and (grown > RHYTHM_GROWTH_RATIO * min(growths) or t - starts[-1] > lasts[1]):
        return None
    cycles = len(periods)
    return _Rhythm(
        start=starts[-1],
        grown=grown,
        over=over,
        period=(
            max(dt, (starts[-1] - starts[0] - dt) / cycles - jitter),
            (starts[-1] - starts[0] + dt) / cycles + jitter,
        ),
        growth=(min(growths) * math.exp(-RATE_DRIFT), max(growths) * math.exp(RATE_DRIFT)),
        lasts=lasts,
    )


def _acceleration(
    win: Sequence[tuple[float, float]], headroom: float, rate: float
) -> tuple[float, float, float] | None:
    """`(rate_now, fast, slow)` of growth that speeds up beyond doubt, else None.

    A least-squares quadratic through the arrivals; its curvature must stand `ACCEL_Z`
    standard errors above zero and its slope now `ACCEL_RATE_RATIO` above the window's
    rate. The range comes from a line through the rates between arrivals (`_rate_line`):
    `rate_now` is its rate now, and `fast` and `slow` fill `headroom` as a quadratic
    with its rate now and its slope `RANGE_Z` standard errors above, and below, do.
    """
    # A slow leak's window may hold thousands of arrivals: the fit's cost stays bounded.
    win = thinned(win, ACCEL_MAX_POINTS)
    n = len(win)
    if n < ACCEL_MIN_ARRIVALS or headroom <= 0:
        return None
    t_end = win[-1][0]
    xs = [p[0] - t_end for p in win]
    ys = [(p[1] - win[-1][1]) / MB for p in win]
    # Normal equations of y = a + b x + c x^2, solved by Cramer's rule.
    s0, s1 = float(n), sum(xs)
    s2 = sum(x * x for x in xs)
    s3 = sum(x**3 for x in xs)
    s4 = sum(x**4 for x in xs)
    t0, t1 = sum(ys), sum(x * y for x, y in zip(xs, ys, strict=True))
    t2 = sum(x * x * y for x, y in zip(xs, ys, strict=True))
    det = s0 * (s2 * s4 - s3 * s3) - s1 * (s1 * s4 - s3 * s2) + s2 * (s1 * s3 - s2 * s2)
    if not math.isfinite(det) or det <= 1e-12:
        return None
    a = (t0 * (s2 * s4 - s3 * s3) - s1 * (t1 * s4 - s3 * t2) + s2 * (t1 * s3 - s2 * t2)) / det
    b = (s0 * (t1 * s4 - s3 * t2) - t0 * (s1 * s4 - s3 * s2) + s2 * (s1 * t2 - t1 * s2)) / det
    c = (s0 * (s2 * t2 - t1 * s3) - s1 * (s1 * t2 - t1 * s2) + t0 * (s1 * s3 - s2 * s2)) / det
    sse = sum((y - (a + b * x + c * x * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    var = sse / (n - 3) / det
    se_c = math.sqrt(max(0.0, var * (s0 * s2 - s1 * s1)))
    if not c > ACCEL_Z * se_c or not b * MB > ACCEL_RATE_RATIO * rate:
        return None
    # The fit's errors take the levels as independent; they are sums of the rises, so a
    # noisy leak's wander looks like curvature. The rates between arrivals are
    # independent: a line through them (slope 2c) gives honest estimates and errors.
    line = _rate_line(xs, ys)
    if line is None:
        return None
    now, se_now, slope, se_slope = line
    se_c = max(se_c, se_slope / 2)
    if not c > ACCEL_Z * se_c:
        return None
    room = headroom / MB

    def rate_to_full(rate_now: float, curvature: float) -> float:
        """The rate (bytes/s) that fills `headroom` as soon as this quadratic does."""
        rate_now, curvature = max(0.0, rate_now), max(0.0, curvature)
        return headroom * (rate_now + math.sqrt(rate_now**2 + 4 * curvature * room)) / (2 * room)

    fast = rate_to_full(now + RANGE_Z * se_now, (slope + RANGE_Z * se_slope) / 2)
    slow = rate_to_full(now - RANGE_Z * se_now, (slope - RANGE_Z * se_slope) / 2)
    if not (now > 0 and math.isfinite(fast) and slow > 0):
        return None  # arrivals too close together or too odd for a rate to come of them
    return now * MB, fast, slow


def _rate_line(
    xs: Sequence[float], ys: Sequence[float]
) -> tuple[float, float, float, float] | None:
    """A line through the rates between successive points, each weighted by its
    interval: `(rate at x = 0, its standard error, slope, its standard error)`, or None
    with fewer than three intervals."""
    pts = [
        ((x0 + x1) / 2, (y1 - y0) / (x1 - x0), x1 - x0)
        for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys, strict=True))
        if x1 > x0
    ]
    if len(pts) < 3:
        return None
    sw = sum(w for _, _, w in pts)
    xbar = sum(w * x for x, _, w in pts) / sw
    rbar = sum(w * r for _, r, w in pts) / sw
    sxx = sum(w * (x - xbar) * (x - xbar) for x, _, w in pts)
    if not sxx > 0:
        return None
    slope = sum(w * (x - xbar) * (r - rbar) for x, r, w in pts) / sxx
    # Products, not powers: intervals a hair apart give rates whose squares overflow
    # (to inf here, where `**` raises).
    residuals = [(r - rbar - slope * (x - xbar), w) for x, r, w in pts]
    var = sum(w * e * e for e, w in residuals) / (len(pts) - 2)
    now = rbar - slope * xbar
    out = (now, math.sqrt(var * (1 / sw + xbar * xbar / sxx)), slope, math.sqrt(var / sxx))
    return out if all(map(math.isfinite, out)) else None


def _null_rates(win: Sequence[tuple[float, float]], k: int, w: float) -> list[float]:
    """Rates over windows at least `w` long between arrivals up to index `k`."""
    null: list[float] = []
    j = 0
    for i in range(k + 1):
        ti, yi = win[i]
        j = max(j, i + 1)
        while j <= k and win[j][0] - ti < w - 1e-9:
            j += 1
        if j > k:
            break
        null.append((win[j][1] - yi) / (win[j][0] - ti))
    return null


def _deviation(
    win: Sequence[tuple[float, float]],
    k: int,
    kink: int,
    *,
    beyond: bool = True,
    min_null: int = CHANGE_MIN_NULL,
) -> float:
    """How far the rate from arrival `kink` to the newest lies from what windows of the
    same length showed up to arrival `k`, in signed robust deviations (0.0 with too
    few windows to tell). With `beyond`, a rate inside the range of the older windows
    (all but the most extreme one, which may be the growth's start-up) counts as 0.0:
    a heavy-tailed process (irregular steps) has a core that MAD measures and a tail
    it does not."""
    tk, yk = win[kink]
    tl, yl = win[-1]
    w = tl - tk
    if w <= 0:
        return 0.0
    r_new = (yl - yk) / w
    null = _null_rates(win, k, w)
    if len(null) < min_null:
        return 0.0
    if beyond:
        ordered = sorted(null)
        trim = 1 if len(ordered) >= 2 * CHANGE_MIN_NULL else 0
        lo, hi = ordered[trim], ordered[-1 - trim]
        if lo * (1 - CHANGE_REL_FLOOR) <= r_new <= hi * (1 + CHANGE_REL_FLOOR):
            return 0.0
    med = _median(null)
    mad = 1.4826 * _median([abs(x - med) for x in null])
    scale = max(mad, CHANGE_REL_FLOOR * abs(med), 2 * NOISE_BYTES / w)
    if beyond:
        # What a renewal process with the older rises' irregularity (gaps and sizes,
        # heavy tails included) varies by over a window of w: r * sqrt(cv^2 / arrivals).
        before = win[: k + 1]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(before)]
        sizes = [b[1] - a[1] for a, b in itertools.pairwise(before)]
        mean_gap = sum(gaps) / len(gaps)
        expected = w / max(mean_gap, 1e-9)  # arrivals a window of w holds
        if expected < CHANGE_MIN_ARRIVALS:
            return 0.0  # too few to tell a new rate from a cluster of steps
        cv2 = _cv2_classic(gaps) + _cv2_classic(sizes)
        scale = max(scale, abs(med) * math.sqrt(cv2 / expected))
    return (r_new - med) / scale


def _changepoint(
    win: Sequence[tuple[float, float]], arrived_t: float | None, startup: float | None = None
) -> tuple[int, float, bool] | None:
    """Do the newest arrivals grow at another rate than those before them?

    Returns the index of the kink, the new rate, and whether the change is confirmed
    (else it only widens the range); None when nothing changed. The rate since the
    kink is compared with the rates the older arrivals show over windows of the same
    length (the null: how much such a window varies while nothing changes).

    - Where a process arrived during the growth (`arrived_t`), the rate may well have
      changed there: one increment `CHANGE_Z_NEW` robust deviations away, or at a
      rate `REGIME_RATE_RATIO` times faster or slower than before (a load by one
      process, then a leak in another: too short a past for deviations), widens the
      range; two confirm.
    - At the start of the growth (`startup`: the sampling interval, when `win` begins
      at the onset): its first few arrivals, each a sample after the one before, at
      `REGIME_RATE_RATIO` times the rate of the `STARTUP_AFTER` or more that follow
      are the workload's start-up (optimizer state, activations, allocator pools;
      the first burst of bursts on a leak), not its rate: confirmed at once.
    - Anywhere else, the last m increments (m = 2..`CHANGE_MAX_M`) must lie
      `CHANGE_Z` deviations away and beyond the older windows, and still
      `CHANGE_Z_NEW` away with the kink one arrival earlier: a lull after a burst of
      steps, or a burst after a lull, is the irregularity of steps, not a new rate.
    """
    n = len(win)
    if arrived_t is not None:
        k = max((i for i, p in enumerate(win) if p[0] <= arrived_t + 1e-9), default=-1)
        m = n - 1 - k
        if k >= 1 and m >= 1:
            r_new = (win[-1][1] - win[k][1]) / (win[-1][0] - win[k][0])
            r_old = (win[k][1] - win[0][1]) / (win[k][0] - win[0][0])
            other_regime = r_old > 0 and not (
                1 / REGIME_RATE_RATIO < r_new / r_old < REGIME_RATE_RATIO
            )
            if other_regime or (
                k >= ARRIVAL_MIN_NULL
                and abs(_deviation(win, k, k, beyond=False, min_null=ARRIVAL_MIN_NULL))
                >= CHANGE_Z_NEW
            ):
                return k, r_new, m >= 2
    if startup is not None:
        found: tuple[float, int, float] | None = None
        for k in range(1, min(STARTUP_ARRIVALS, n - 1 - STARTUP_AFTER) + 1):
            if win[k][0] - win[k - 1][0] > 1.5 * startup:
                break
            if k < 2 or n - 1 - k > 2 * STARTUP_AFTER:
                continue  # one rise may be a step; long after, the start-up is history
            r_old = (win[k][1] - win[0][1]) / (win[k][0] - win[0][0])
            r_new = (win[-1][1] - win[k][1]) / (win[-1][0] - win[k][0])
            ratio = r_old / r_new if r_new > 0 else 0.0
            if ratio > REGIME_RATE_RATIO and (found is None or ratio > found[0]):
                found = (ratio, k, r_new)
        if found is not None:
            return found[1], found[2], True
    best: tuple[float, int, float] | None = None
    for m in range(2, CHANGE_MAX_M + 1):
        k = n - 1 - m
        if k < CHANGE_MIN_NULL:
            break
        z = _deviation(win, k, k)
        if abs(z) < CHANGE_Z or z * _deviation(win, k, k - 1) < CHANGE_Z_NEW * abs(z):
            continue
        if best is None or abs(z) > best[0]:
            r_new = (win[-1][1] - win[k][1]) / (win[-1][0] - win[k][0])
            best = (abs(z), k, r_new)
    return None if best is None else (best[1], best[2], True)
