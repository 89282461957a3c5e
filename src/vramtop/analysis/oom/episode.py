"""One growth episode (`_Episode`): its rises, envelope, swingers and holds, from onset to end."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from vramtop.analysis.oom.constants import (
    ARRIVAL_SLACK,
    CAPPED_TOPS,
    CV_ARRIVALS,
    DORMANT_SPAN_FACTOR,
    FIRST_STEP_SPAN_S,
    FRESH_VS_BEFORE,
    MAX_POINTS,
    MAX_RISES,
    MIN_RISES,
    NOISE_BYTES,
    REBASE_MIN_RISES,
    RESERVE_MIN_DOUBLINGS,
    RESERVE_RATIO,
    RESERVE_SCAN,
    RHYTHM_FLAT,
    STEADY_CYCLES,
    STEP_AGAIN_RATIO,
)
from vramtop.analysis.oom.records import _Point, _Sample
from vramtop.analysis.oom.reserve import _backed_off, _Reserve, _reserving, _time
from vramtop.analysis.oom.stats import _median
from vramtop.analysis.oom.swings import _steady_bursts, _swings
from vramtop.model import ProcessIdentity


@dataclass(slots=True)
class _Episode:
    """One run of growth of the peak envelope."""

    t0: float
    level0: float
    headroom0: float
    rises: list[tuple[float, float]] = field(default_factory=list)  # (t, size)
    gaps: list[float] = field(default_factory=list)
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (t, level after a rise)
    flat_gaps: int = 0  # gaps between rises with a flat sample or more: runs with rests
    points: list[_Point] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    base: tuple[float, float] | None = None  # rates start here (a pause or change of rate)
    before_change: tuple[float, float] | None = None  # ... where they started before a change
    rests: set[float] = field(default_factory=set)  # when the long pauses found ended
    spread0: float = 0.0  # how far memory swung (peak - floor of the envelope) at the onset
    floor0: float = 0.0  # ... and the envelope's floor then
    sizes0: dict[ProcessIdentity, float] = field(default_factory=dict)  # sizes at the onset
    aside: dict[ProcessIdentity, float] = field(default_factory=dict)  # steps set aside (_aside)
    moved: set[ProcessIdentity] = field(default_factory=set)  # processes that moved otherwise
    held: dict[ProcessIdentity, float] = field(default_factory=dict)  # given back (_aside)
    given_t: dict[ProcessIdentity, float] = field(default_factory=dict)  # ... since when
    swung: dict[ProcessIdentity, float] = field(default_factory=dict)  # taken again: longest off
    troughs: dict[ProcessIdentity, float] = field(default_factory=dict)  # sizes after giving back
    ceiling: float = 0.0  # the GPU's highest used at a swinger's top (`_Episode.topped`)
    at_ceiling: dict[ProcessIdentity, int] = field(default_factory=dict)  # ... its tops there
    capped: set[ProcessIdentity] = field(default_factory=set)  # swingers taking what fits
    least: dict[ProcessIdentity, float] = field(default_factory=dict)  # ... the least they take
    over: dict[ProcessIdentity, float] = field(default_factory=dict)  # retaken beyond what was held
    before: list[tuple[float, float]] = field(default_factory=list)  # samples before the onset
    # ... and each one's process sizes, by time (`_reread`)
    before_sizes: dict[float, Mapping[ProcessIdentity, float]] = field(default_factory=dict)
    arrived_t: float = -math.inf  # the last time a process arrived during this growth
    stopped_t: float = -math.inf  # ... or one that had grown at every sample stopped
    fresh: bool = False  # the growth began with a process that had just arrived
    quick: bool = False  # ... and its first rise was already a trend (`_predict`)
    trended: bool = False  # its rises made a trend on an earlier sample (`_predict`)
    hold_s: float = 0.0  # a pause is no stop while it and the next sample span this (`_predict`)
    climb_t: float = -math.inf  # memory last climbed on below the peak after a fall (`_climbs_on`)
    fell_t: float = -math.inf  # ... and last fell below it
    consistency: float = 1.0  # the newest consistency judged (`_predict`)

    def add_rise(self, t: float, size: float, level: float, dt: float) -> None:
        if self.rises:
            self.gaps.append(t - self.rises[-1][0])
            self.flat_gaps += self.gaps[-1] > RHYTHM_FLAT * dt
        self.rises.append((t, size))
        self.arrivals.append((t, level))
        if len(self.rises) > MAX_RISES:
            drop = len(self.rises) - MAX_RISES
            del self.rises[:drop], self.arrivals[:drop], self.gaps[:drop]

    def add_point(self, p: _Point) -> None:
        self.points.append(p)
        self.times.append(p.t)
        if len(self.points) > MAX_POINTS:
            # Thin the oldest two thirds by half; the onset point stays.
            cut = (2 * len(self.points)) // 3
            kept = [self.points[0], *self.points[1:cut:2], *self.points[cut:]]
            self.points = kept
            self.times = [q.t for q in kept]

    def arrivals_after(self, t: float) -> list[tuple[float, float]]:
        return self.arrivals[bisect.bisect_right(self.arrivals, t, key=_time) :]

    def level_at(self, t: float) -> float:
        """Peak level of the last point at or before `t`."""
        i = bisect.bisect_right(self.times, t) - 1
        return self.points[max(0, i)].peak

    def between(self, start: float, end: float) -> list[_Point]:
        lo = bisect.bisect_left(self.times, start - 1e-9)
        hi = bisect.bisect_right(self.times, end + 1e-9)
        return self.points[lo:hi]

    def rebase(self, t: float) -> bool:
        """Start the episode at `t` (a changepoint inside it); False if too little follows."""
        i = bisect.bisect_right(self.times, t) - 1
        if i <= 0 or sum(1 for rt, _ in self.rises if rt > self.times[i]) < REBASE_MIN_RISES:
            return False
        p = self.points[i]
        self.t0, self.level0, self.headroom0 = p.t, p.peak, p.headroom
        self.rises = [r for r in self.rises if r[0] > p.t]
        self.arrivals = [a for a in self.arrivals if a[0] > p.t]
        self.gaps = [b[0] - a[0] for a, b in itertools.pairwise(self.rises)]
        if self.base is not None and self.base[0] < p.t:
            self.base = None
        self.points = self.points[i:]
        self.times = self.times[i:]
        return True

    def series(self) -> list[_Sample]:
        """Memory over time: the samples before the onset, then the growth's own."""
        return [*self.before, *((p.t, p.used) for p in self.points)]

    def swung_more_than(self, grown: float) -> bool:
        """Did memory swing, before the onset, more than the growth has `grown` since?
        Memory that only rose then (a load's last steps, a ballast settling) did not
        swing, however far it rose: the series is quiet."""
        if self.spread0 <= grown:
            return False
        levels = [v for _, v in self.before]
        return any(b < a - NOISE_BYTES for a, b in itertools.pairwise(levels))

    def grew(self, ident: ProcessIdentity, size: float) -> bool:
        """Did this process, now `size`, take part in the growth?"""
        return size - self.sizes0.get(ident, size) - self.aside.get(ident, 0.0) > NOISE_BYTES

    def swings_back(self, ident: ProcessIdentity, before: float, now: float) -> bool:
        """Did a process that rose during the growth (now `now`, `before` on the sample
        before) give back, at once, all it had gained since the onset? Its rise was a
        swing, not growth."""
        onset = self.sizes0.get(ident, before) + self.aside.get(ident, 0.0)
        gained = before - onset
        return gained > NOISE_BYTES and abs(now - onset) <= max(NOISE_BYTES, ARRIVAL_SLACK * gained)

    def fell_past_onset(
        self, ident: ProcessIdentity, before: float, now: float, swing: float
    ) -> bool:
        """Did a process not yet known to swing (none of its memory held) fall by a
        `swing` or more to below the size the onset caught it at by as much? The onset
        caught it at a batch's top: it swings, as `swings_back` says of one that gave
        back what it gained."""
        return (
            before - now >= swing
            and now < self.sizes0.get(ident, now) - swing
            and ident not in self.swung
            and self.held.get(ident, 0.0) <= 0.0
        )

    def held_for_swings(self) -> float:
        """Memory held for processes that gave theirs back and have taken it again
        since: they swing, and their next swing takes it once more (no room for the
        growth). What a process gave back once and never took again is room, and so
        is what those that take what fits (`capped`) swing by."""
        swinging = self.swinging()
        return sum(v for ident, v in self.held.items() if ident in swinging)

    def forget(self, ident: ProcessIdentity) -> None:
        """A process that took no part in the growth left: nothing is held for it."""
        for kept in (self.held, self.swung, self.troughs, self.at_ceiling, self.least):
            kept.pop(ident, None)
        self.capped.discard(ident)

    def swinging(self) -> dict[ProcessIdentity, float]:
        """The swingers whose swings the growth must leave room for (`swung` less
        those that take what fits), with the longest each stayed down."""
        return {ident: off for ident, off in self.swung.items() if ident not in self.capped}

    def capped_room(self, sizes: Mapping[ProcessIdentity, float]) -> float:
        """What the swingers that take what fits hold now above their troughs: room
        the growth takes from their next swings, not from the GPU."""
        return sum(
            max(0.0, sizes[ident] - self.troughs[ident])
            for ident in self.capped
            if ident in sizes and ident in self.troughs
        )

    def topped(self, ident: ProcessIdentity, used: float, tolerance: float, swing: float) -> None:
        """A swinger took again less than it gave, with the GPU at `used`. Where such
        tops meet the GPU at its highest used so far (to `tolerance`) `CAPPED_TOPS`
        times, the process takes what fits (a batch sized to the free memory, a cache
        that gives way): its swings shrink as the growth takes room, and the GPU fails
        when the growth has taken it all, not at its next swing. Tops count from the
        newest highest (the tops before it were not at the limit); once the room is
        nearly gone, a swinger taking what fits takes its least, and the GPU's used
        climbs past its old highest with the growth: its `swing` then is the least it
        takes (`least`), which the GPU must still find room for. (A swinger taking
        again all it gave swings again: `_aside`.)"""
        if used > self.ceiling + tolerance:
            if ident in self.capped:
                self.least[ident] = min(self.least.get(ident, swing), swing)
            self.ceiling = used
            self.at_ceiling = {ident: 1}
            return
        if used < self.ceiling - tolerance:
            return
        self.ceiling = max(self.ceiling, used)
        self.at_ceiling[ident] = self.at_ceiling.get(ident, 0) + 1
        if self.at_ceiling[ident] >= CAPPED_TOPS:
            self.capped.add(ident)

    def trend_beside(self, rise: float) -> bool:
        """Is this growth a trend next to one `rise` (a fresh process's first)?"""
        return len(self.rises) >= MIN_RISES and (
            sum(r for _, r in self.rises) >= FRESH_VS_BEFORE * rise
        )

    def made_rise(self, rise: float) -> bool:
        """Did this growth, with no other process swinging beside it, already make rises
        about as big (within `STEP_AGAIN_RATIO`) more than once: a lump it makes again and
        again (bursts seen at a phase that drifts against the samples')?"""
        if self.swung:
            return False
        return sum(size * STEP_AGAIN_RATIO >= rise for _, size in self.rises) >= 2

    def climbs_as_bursts(self, rise: float) -> bool:
        """Is a rise of the peak about as big (within `STEP_AGAIN_RATIO`) as the newest
        bursts each topped the one before, where they are bursts of one size on a
        climbing floor (`_steady_bursts`): the next burst, which falls back, not an
        allocation? Unlike `made_rise`, it holds beside a swinger: the series' own
        swings say it (a swinger's batches beside a leak are seldom of one size)."""
        parsed = _swings(self.series())
        if not _steady_bursts(parsed):
            return False
        peaks = [high[1] for low, high in parsed[1] if low is not None][-STEADY_CYCLES - 1 :]
        climb = max((b - a for a, b in itertools.pairwise(peaks)), default=0.0)
        return rise <= STEP_AGAIN_RATIO * climb

    def step_rate(self) -> float:
        """The growth's typical rise over its typical gap (bytes a second)."""
        if not self.gaps:
            return 0.0
        sizes = [size for _, size in self.rises[-CV_ARRIVALS:]]
        return _median(sizes) / max(_median(self.gaps[-CV_ARRIVALS:]), 1e-9)

    def median_rise(self) -> float:
        sizes = sorted(s for _, s in self.rises)
        return sizes[len(sizes) // 2] if sizes else 0.0

    def reserve(self, dt: float) -> _Reserve | None:
        """The growth as regions an allocator reserves ahead (`_reserving`), if it is."""
        if len(self.rises) <= RESERVE_MIN_DOUBLINGS:
            return None
        i = bisect.bisect_left(self.times, self.rises[-1][0]) - 1
        room = self.points[i].headroom if i >= 0 else math.inf
        return _reserving(self.rises[-RESERVE_SCAN:], dt, room)

    def continues_reserve(self, t: float, grow: float, headroom: float, dt: float) -> bool:
        """Is a rise of `grow` at `t` the next region of a reserving allocator (doubled,
        or backed off to what fits)? It may complete the doubling run itself: a region
        split across two samples hides one doubling before it."""
        reserve = self.reserve(dt)
        if reserve is not None:
            lo, hi = RESERVE_RATIO
            last = reserve.last_size
            if lo * last <= grow <= hi * last or _backed_off(last, grow, headroom):
                return True
        return _reserving([*self.rises[-RESERVE_SCAN + 1 :], (t, grow)], dt, headroom) is not None


def _resumed(
    dormant: _Episode,
    t: float,
    grow: float,
    appeared: float,
    risers: AbstractSet[ProcessIdentity],
) -> _Episode | None:
    """The dormant growth again, if this rise resumes it; else None (a new growth).

    Irregular allocator steps pause now and then for longer than their gaps so far
    suggested. Growth that resumes with a step at least as big as its typical one,
    nothing given back and no process arrived in between, after a pause no longer
    than `DORMANT_SPAN_FACTOR` times what it had grown for, is the same growth: its
    evidence stands, and the pause joins its gaps (later pauses of that length are
    its rhythm). A caching allocator's high-water mark rises ever more rarely by
    ever smaller steps: its next rise starts afresh. So does a rise made only by
    processes that swung beside the growth and took no part in it (`risers`): a
    bigger batch, not the growth resuming.
    """
    last = dormant.rises[-1][0]
    typical = dormant.median_rise()
    # A single step, then the same step again within `FIRST_STEP_SPAN_S`: a
    # staircase (its gaps say from here whether it goes on), not a one-off.
    again = len(dormant.rises) == 1 and grow <= STEP_AGAIN_RATIO * typical
    if (
        appeared > 0
        or (risers and risers <= dormant.swung.keys() - dormant.moved)
        or dormant.arrived_t > last
        or grow < typical
        or t - last
        > (FIRST_STEP_SPAN_S if again else DORMANT_SPAN_FACTOR * (last - dormant.t0))
    ):
        return None
    return dormant
