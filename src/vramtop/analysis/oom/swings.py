"""A series read as swings: peaks and troughs, whether they climb, and whether a burst
or a trough says the growth stopped."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from vramtop.analysis.oom.constants import (
    BURST_SWING_SHARE,
    CYCLE_RATE_RATIO,
    NOISE_BYTES,
    STEADY_AMPLITUDE_BYTES,
    STEADY_CYCLES,
)
from vramtop.analysis.oom.records import _Point, _Sample
from vramtop.analysis.oom.stats import _median


def _climbing_share(pts: Sequence[_Point]) -> float:
    """The share of bursts (local maxima of memory, the newest sample aside) that were
    new highs of the envelope; 1.0 without any burst."""
    bursts = highs = 0
    for prev, p, nxt in zip(pts, pts[1:], pts[2:], strict=False):
        if prev.used <= p.used > nxt.used:
            bursts += 1
            highs += p.used >= p.peak - NOISE_BYTES
    return highs / bursts if bursts else 1.0


# A series without moves under NVML's granularity, its swings, and a trough still open.
_Swings = tuple[list[_Sample], list[tuple[_Sample | None, _Sample]], _Sample | None]


def _swings(seq: Sequence[_Sample]) -> _Swings:
    """`seq` (memory over time) without moves under NVML's granularity; its swings,
    oldest first, each a trough (None where none came before it) and the peak after
    it, the newest sample a peak only as a new high; and a trough still open."""
    comp: list[_Sample] = []
    for t, v in seq:
        if not comp or abs(v - comp[-1][1]) > NOISE_BYTES:
            comp.append((t, v))
    swings: list[tuple[_Sample | None, _Sample]] = []
    trough: _Sample | None = None
    top = max((v for _, v in comp), default=0.0)
    for i in range(1, len(comp)):
        v, before = comp[i][1], comp[i - 1][1]
        after = comp[i + 1][1] if i + 1 < len(comp) else None
        if after is None:
            if v > before and v >= top - NOISE_BYTES:
                swings.append((trough, comp[i]))
        elif before < v > after:
            swings.append((trough, comp[i]))
            trough = None
        elif before > v < after:
            trough = comp[i]
    return comp, swings, trough


def _climbing_cycles(parsed: _Swings) -> int | None:
    """How many of the newest swings in a row climbed as bursts on a leak do (None
    when memory never fell: no swings, only a rise such as a load before a leak).

    `parsed` is memory over time as `_swings` read it. A swing is a trough and the
    peak after it. Bursts on a leak climb together: each peak above the one before,
    each trough above the one before, the troughs rising at the peaks' rate (within
    `CYCLE_RATE_RATIO`). Random batch sizes reach a new high now and then, but their
    troughs do not rise with their peaks swing after swing. The first swing on record
    (nothing to compare its trough with) counts when its peak rose above where memory
    stood before it. The newest sample is a peak only as a new high; below that, its
    swing is still under way.
    """
    comp, swings, trough = parsed
    if all(low is None for low, _ in swings) and trough is None:
        return None
    count = 0
    for j in range(len(swings) - 1, -1, -1):
        low, high = swings[j]
        if j == 0 or low is None or swings[j - 1][0] is None:
            if high[1] > comp[0][1] + NOISE_BYTES:
                count += 1
            break
        plow, phigh = swings[j - 1]
        assert plow is not None
        d_peak, d_trough = high[1] - phigh[1], low[1] - plow[1]
        if d_peak <= NOISE_BYTES or d_trough <= NOISE_BYTES:
            break
        r_peak = d_peak / max(high[0] - phigh[0], 1e-9)
        r_trough = d_trough / max(low[0] - plow[0], 1e-9)
        if not 1 / CYCLE_RATE_RATIO <= r_trough / r_peak <= CYCLE_RATE_RATIO:
            break
        count += 1
    return count


def _steady_bursts(parsed: _Swings) -> bool:
    """Bursts of one size on a climbing floor: the newest swings climb as bursts on a
    leak do (`_climbing_cycles`, at least `STEADY_CYCLES`), and the last two bursts
    rose as far above their troughs as each other, to within NVML's granularity
    (`STEADY_AMPLITUDE_BYTES`). A training step of one shape allocates the same
    blocks every time; random batch sizes almost never come back that close. `parsed`
    is the series as `_swings` read it."""
    done = [(low, high) for low, high in parsed[1] if low is not None]
    if len(done) < 2 or (_climbing_cycles(parsed) or 0) < STEADY_CYCLES:
        return False
    (plow, phigh), (low, high) = done[-2], done[-1]
    climb = high[1] - phigh[1]
    amplitude_change = abs((high[1] - low[1]) - (phigh[1] - plow[1]))
    return climb > NOISE_BYTES and amplitude_change <= STEADY_AMPLITUDE_BYTES


def _burst_without_climb(parsed: _Swings, last_rise: float) -> bool:
    """Did a burst come since the growth's last rise (so without climbing)? Bursts on a
    leak each top the one before; one that swings from a trough after the last rise
    as far as the others do (`BURST_SWING_SHARE` of their typical swing or more) and
    stays under the highs says the floor under them stopped rising. So does a trough
    since the last rise that did not climb as the troughs before it did, before the
    next burst shows it (`_trough_without_climb`). `parsed` is the series as `_swings`
    read it."""
    comp, swings, _ = parsed
    done = [(low, high) for low, high in swings if low is not None]
    before = [high[1] - low[1] for low, high in done if low[0] < last_rise]
    if len(before) < 2:
        return False
    typical = _median(before)
    if any(
        low[0] > last_rise and high[1] - low[1] >= BURST_SWING_SHARE * typical
        for low, high in done
    ):
        return True
    return _trough_without_climb(comp, [low for low, _ in done], last_rise)


def _trough_without_climb(
    comp: Sequence[_Sample], troughs: Sequence[_Sample], last_rise: float
) -> bool:
    """Did memory fall, since the growth's last rise, to a trough that rose from the
    one before it at under half the rate the troughs before each climbed at (the
    floor under bursts on a leak)? The floor stopped rising: the next burst can only
    come as high. Rates, not steps: samples meet aliased bursts' troughs at uneven
    intervals. `comp` is the series without moves under NVML's granularity, `troughs`
    its finished swings' troughs, oldest first."""
    if len(comp) < 2 or not comp[-1][1] < comp[-2][1] or comp[-1][0] <= last_rise:
        return False  # the newest sample is no fall to a trough after the last rise
    lows = [low for low in troughs if low[0] < last_rise]
    pairs = list(itertools.pairwise(lows[-3:]))
    if len(pairs) < 2 or min(b[1] - a[1] for a, b in pairs) <= NOISE_BYTES:
        return False
    typical = _median([(b[1] - a[1]) / (b[0] - a[0]) for a, b in pairs])
    newest = (comp[-1][1] - lows[-1][1]) / (comp[-1][0] - lows[-1][0])
    return newest < BURST_SWING_SHARE * typical
