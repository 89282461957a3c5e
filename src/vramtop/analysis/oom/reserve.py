"""An allocator reserving ahead (XLA's BFC doubling its regions): found in the rises,
and the time range it gives."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from vramtop.analysis.oom.constants import (
    CV2_PRIOR,
    CV2_PRIOR_WEIGHT,
    MIN_RATE_SHARE,
    RANGE_Z,
    RATE_DRIFT,
    RESERVE_EXACT,
    RESERVE_GROWTH,
    RESERVE_MIN_DOUBLINGS,
    RESERVE_MINOR,
    RESERVE_RATE_AGREE,
    RESERVE_RATIO,
    RESERVE_REGIONS,
    RESERVE_RETRY_S,
)
from vramtop.analysis.oom.rates import _Range
from vramtop.analysis.oom.stats import _cv2_classic, _median


@dataclass(frozen=True, slots=True)
class _Reserve:
    """Growth in regions an allocator reserves ahead of its demand (`_reserving`)."""

    rate: float  # the demand: a region's size over the time until the next was reserved
    cv2: float  # squared variation of the regions' demand rates
    regions: int  # how many regions the rate rests on
    since: float  # when the first region of the doubling run was reserved
    last_t: float  # when the newest region was reserved ...
    last_size: float  # ... and its size
    exact: bool  # each region twice the last, within RESERVE_EXACT (no chance run of steps)

    @property
    def region_s(self) -> float:
        """How long the demand takes to use the newest region: when the next one comes."""
        return self.last_size / self.rate


def _backed_off(before: float, size: float, room: float) -> bool:
    """Is a region of `size` after one of `before` a reserving allocator backing off,
    since the doubled region did not fit the `room` left?"""
    return size < RESERVE_RATIO[0] * before and RESERVE_GROWTH * before > room


def _reserving(rises: Sequence[tuple[float, float]], dt: float, room: float) -> _Reserve | None:
    """Growth in regions that double, each reserved when the one before is used up, as
    XLA's and TensorFlow's BFC allocator grows when it may not take the GPU at start
    (`XLA_PYTHON_CLIENT_PREALLOCATE=false`); else None.

    Each region's size over the time until the next is the demand, steady when the
    regions' times double with their sizes; the newest region is room the demand has
    still to use before the GPU must give more. Rises under `RESERVE_MINOR` of the
    region before are small allocations beside the regions. When a doubled region no
    longer fits the `room` there was before the newest rise, the allocator backs off
    to one that does. At a slow refresh each region is seen up to a sample after it
    came, so the regions' rates may disagree by more than their demand did; regions
    that double exactly still agree where the gaps they could truly have had do.
    """
    lo, hi = RESERVE_RATIO
    regions: list[tuple[float, float]] = []
    for i, (t, size) in enumerate(rises):
        minor = bool(regions) and size < RESERVE_MINOR * regions[-1][1]
        if not minor or (i == len(rises) - 1 and _backed_off(regions[-1][1], size, room)):
            regions.append((t, size))
    rises = regions
    sizes = [size for _, size in rises]
    last = len(sizes) - 1
    if last >= 1 and _backed_off(sizes[last - 1], sizes[last], room):
        last -= 1  # the doubling run ends before it
    first = last
    while first >= 1 and sizes[first - 1] > 0 and lo <= sizes[first] / sizes[first - 1] <= hi:
        first -= 1
    if last - first < RESERVE_MIN_DOUBLINGS:
        return None
    timed = [
        (gap, sizes[j - 1] / gap)
        for j in range(first + 1, len(sizes))
        for gap in [rises[j][0] - rises[j - 1][0]]
        if gap > 0 and gap >= dt - 1e-9
    ]
    # Regions a sample apart give their rate within a factor of two; two samples or more
    # within half. The finer ones are taken where two are known (a fast demand at a slow
    # refresh leaves only a sample between its first regions); else a coarse rate agrees
    # with the others anywhere down to half of it (its region may have come up to a
    # sample later than seen), and is taken as near them as it can be.
    fine = [r for gap, r in timed if gap >= 2 * dt]
    if len(fine) >= 2:
        rates = fine[-RESERVE_REGIONS:]
    else:
        near = _median(fine) if fine else None
        rates = [
            r if gap >= 2 * dt or near is None else min(r, max(r / 2, near))
            for gap, r in timed
        ][-RESERVE_REGIONS:]
    if len(rates) < 2:
        return None
    exact = all(
        abs(sizes[j] / sizes[j - 1] - RESERVE_GROWTH) <= RESERVE_EXACT
        for j in range(first + 1, last + 1)
    )
    if max(rates) > RESERVE_RATE_AGREE * min(rates):
        # Each region came up to a sample before it was seen: regions that double
        # exactly (XLA's) agree where the rates their true gaps could give do.
        ends = [(r * gap / (gap + dt), r * gap / max(gap - dt, dt)) for gap, r in timed]
        ends = ends[-RESERVE_REGIONS:]
        if not exact or max(lo for lo, _ in ends) > RESERVE_RATE_AGREE * min(hi for _, hi in ends):
            return None
    return _Reserve(
        rate=_median(rates),
        cv2=_cv2_classic(rates),
        regions=len(rates),
        since=rises[first][0],
        last_t=rises[-1][0],
        last_size=sizes[-1],
        exact=exact,
    )


def _reserve_range(res: _Reserve, t: float) -> _Range:
    """Rates of a reserving allocator's growth: the demand's, off by the variation of
    its regions' rates (plus drift). The newest region is room the demand has used since
    it was reserved, at whichever rate; when nothing fits, the BFC allocator waits
    `RESERVE_RETRY_S` for memory to come back before it fails. So each end of the range
    is (headroom + newest region) / its rate - time since the region + the wait."""
    cv2 = (res.regions * res.cv2 + CV2_PRIOR_WEIGHT * CV2_PRIOR) / (res.regions + CV2_PRIOR_WEIGHT)
    spread = math.exp(RANGE_Z * math.sqrt(cv2 / res.regions + RATE_DRIFT**2))
    fast, slow = res.rate * spread, max(MIN_RATE_SHARE * res.rate, res.rate / spread)
    delay = RESERVE_RETRY_S - (t - res.last_t)
    return _Range(res.rate, slow, fast, res.last_size, fast, slow, res.since, delay)


_time = itemgetter(0)  # the time of a (t, ...) pair: the key of sorted series
