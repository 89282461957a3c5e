"""How a swinging process has swung (`_Cycle`): its rests, its swings, their sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vramtop.analysis.oom.constants import NOISE_BYTES


def _spread(was: tuple[float, float] | None, x: float) -> tuple[float, float]:
    return (x, x) if was is None else (min(was[0], x), max(was[1], x))


@dataclass(slots=True)
class _Cycle:
    """How a process has swung: how long it stayed down between swings and up during
    them (shortest, longest), when it last went each way, and by how much."""

    down: tuple[float, float] | None = None
    up: tuple[float, float] | None = None
    went_down: float = -math.inf
    went_up: float = -math.inf
    swing: float = 0.0
    first_up: float = -math.inf  # its first swing up, and how many cycles since
    cycles: int = 0

    def moved(self, t: float, m: float) -> None:
        if m < -NOISE_BYTES and self.went_up >= self.went_down:
            if self.went_up > -math.inf:
                self.up = _spread(self.up, t - self.went_up)
            self.went_down = t
            self.swing = -m
        elif m > NOISE_BYTES and self.went_down >= self.went_up:
            if self.went_down > -math.inf:
                self.down = _spread(self.down, t - self.went_down)
            self.went_up = t
            if self.first_up == -math.inf:
                self.first_up = t
            else:
                self.cycles += 1

    def fails(self, t: float, c: float, dt: float, early: bool) -> float | None:
        """Seconds from `t` to the failure of a growth that has taken the room this
        process's swing needs `c` seconds from `t`: then if it is up, else at its next
        swing up; the earliest that can be (`early`) or the latest.

        Each move came up to a sample before it was seen, and each rest and swing
        measured is a sample off either way; its cycle is the time from its first swing
        up to its newest over the cycles between, a sample off either way over all of
        them (with one rest and one swing seen, their sum, two samples off). The k-th
        swing up from here starts between the earliest next start plus k of the
        shortest cycles and the latest plus k of the longest, an uncertainty that
        grows with every cycle ahead. At the late end, the failure comes by the
        latest start of the first swing that, had it started before the crossing,
        would surely still be up at it. None where it rests longer than it ever has (it
        may not come back) or its rhythm is not known yet."""
        if self.down is None or self.up is None or not math.isfinite(t + c):
            return None
        (rest_lo, rest_hi), (up_lo, up_hi) = self.down, self.up
        if self.cycles:
            span = self.went_up - self.first_up
            cycle_lo, cycle_hi = (span - dt) / self.cycles, (span + dt) / self.cycles
        else:  # one rest and one swing seen
            cycle_lo, cycle_hi = up_lo + rest_lo - 2 * dt, up_hi + rest_hi + 2 * dt
        cycle_lo = max(dt, cycle_lo)
        at = t + c
        if self.went_down > self.went_up:
            first_lo = self.went_down - dt + max(0.0, rest_lo - dt)
            first_hi = self.went_down + rest_hi + dt
            if first_hi < t:
                return None
        else:
            if at < self.went_up + max(0.0, up_lo - dt) or (
                early and at < self.went_up + up_hi + dt
            ):
                return c  # it is (or may still be) up then
            first_lo, first_hi = self.went_up - dt + cycle_lo, self.went_up + cycle_hi
        if at <= first_lo:
            return first_lo - t if early else first_hi - t
        if early:
            k = math.floor((at - first_lo) / cycle_lo)  # the last swing that may start by then
            if first_hi + k * cycle_hi + up_hi + dt >= at:
                return c  # ... may still be up then
            return first_lo + (k + 1) * cycle_lo - t
        # the first swing that, started before then, is surely still up then
        k = max(0, math.ceil((at - first_lo - max(0.0, up_lo - dt)) / cycle_lo))
        return max(at, first_hi + k * cycle_hi) - t
