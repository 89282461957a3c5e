"""Trends of a memory series: robust slopes, EMA-smoothed allocation rate, windowed rate.

Pure numbers: `(t seconds, bytes)` in, bytes per second out. Used by the OOM
predictor, PELT and survival, and usable by anything that holds a history.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

Point = tuple[float, float]

THEIL_SEN_POINTS = 40  # pairwise slopes grow as n^2: thin longer inputs to this many


def thinned(points: Sequence[Point], max_points: int) -> Sequence[Point]:
    """`points`, or `max_points` of them evenly spread (first and last kept) if longer."""
    if len(points) > max_points >= 2:
        step = (len(points) - 1) / (max_points - 1)
        return [points[round(i * step)] for i in range(max_points)]
    return points


def theil_sen(points: Sequence[Point], max_points: int = THEIL_SEN_POINTS) -> float:
    """Median of the pairwise slopes (robust to a few jumps); 0.0 without two times.

    Inputs longer than `max_points` are thinned evenly (first and last kept).
    """
    # Sums are finite only when every term is (or a huge series overflowed, which the
    # filter then handles): the common case thins a long series without copying it.
    clean = math.isfinite(sum(map(itemgetter(0), points)) + sum(map(itemgetter(1), points)))
    if not clean:
        points = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
    pts = thinned(points, max_points)
    slopes: list[float] = []
    for i in range(len(pts)):
        ti, vi = pts[i]
        for j in range(i + 1, len(pts)):
            dt = pts[j][0] - ti
            if dt > 0:
                slopes.append((pts[j][1] - vi) / dt)
    if not slopes:
        return 0.0
    slopes.sort()
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else 0.5 * (slopes[mid - 1] + slopes[mid])


def ema_rate(points: Sequence[Point], alpha: float = 0.3) -> float | None:
    """EMA of the sample-to-sample rates (bytes/s); None with fewer than two usable samples."""
    rate: float | None = None
    prev: Point | None = None
    for t, v in points:
        if not (math.isfinite(t) and math.isfinite(v)):
            continue
        if prev is not None and t > prev[0]:
            r = (v - prev[1]) / (t - prev[0])
            rate = r if rate is None else alpha * r + (1 - alpha) * rate
        if prev is None or t > prev[0]:
            prev = (t, v)
    return rate


def allocation_rate(points: Sequence[Point], window_s: float) -> float | None:
    """Theil-Sen rate (bytes/s) over the last `window_s` seconds; None without two samples."""
    pts = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
    if len(pts) < 2:
        return None
    end = pts[-1][0]
    recent = [p for p in pts if p[0] >= end - window_s]
    if len(recent) < 2:
        recent = pts[-2:]
    if recent[-1][0] <= recent[0][0]:
        return None
    return theil_sen(recent)


@dataclass(frozen=True, slots=True)
class Trend:
    """Where a series is heading: smoothed and windowed rates, and its peak so far."""

    ema_rate_bytes_per_s: float
    window_rate_bytes_per_s: float
    peak_bytes: float
    samples: int


class TrendTracker:
    """Feed `(t, bytes)`; keeps a bounded window and an EMA of the rate.

    Samples with a non-finite value or a time that does not move forward are ignored.
    """

    def __init__(self, alpha: float = 0.3, window_s: float = 30.0, max_samples: int = 600) -> None:
        self.alpha = min(1.0, max(1e-6, alpha))
        self.window_s = max(1e-6, window_s)
        self._points: deque[Point] = deque(maxlen=max(2, max_samples))
        self._ema: float | None = None
        self._peak = -math.inf
        self._n = 0

    def update(self, t: float, value: float | None) -> Trend | None:
        if value is None or not (math.isfinite(t) and math.isfinite(value)):
            return self.trend
        if self._points and t <= self._points[-1][0]:
            return self.trend
        if self._points:
            t0, v0 = self._points[-1]
            r = (value - v0) / (t - t0)
            if math.isfinite(r):
                a = self.alpha
                self._ema = r if self._ema is None else a * r + (1 - a) * self._ema
        self._points.append((t, value))
        while self._points and self._points[0][0] < t - self.window_s:
            self._points.popleft()
        self._peak = max(self._peak, value)
        self._n += 1
        return self.trend

    @property
    def trend(self) -> Trend | None:
        if self._ema is None:
            return None
        window = allocation_rate(self._points, self.window_s)
        return Trend(
            ema_rate_bytes_per_s=self._ema,
            window_rate_bytes_per_s=window if window is not None else self._ema,
            peak_bytes=self._peak,
            samples=self._n,
        )
