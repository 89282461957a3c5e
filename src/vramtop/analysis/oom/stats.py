"""Small robust statistics over sizes and gaps."""

from __future__ import annotations

import math
from collections.abc import Sequence

from vramtop.analysis.oom.constants import CV2_MAX, TRIM_FROM


def _finite(x: float | int | None) -> float | None:
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _clamp01(x: float) -> float:
    return 0.0 if not math.isfinite(x) or x <= 0 else (1.0 if x >= 1 else x)


def _cv2_classic(xs: Sequence[float]) -> float:
    """Squared coefficient of variation, tails included (sample variance over mean^2)."""
    if len(xs) < 2:
        return 0.0
    mean = sum(xs) / len(xs)
    if mean <= 0:
        return CV2_MAX
    # `d * d`, not `d ** 2`: under a mean of 1e-215 a ratio overflows to inf, not raises.
    return min(CV2_MAX, sum(d * d for d in (x / mean - 1 for x in xs)) / (len(xs) - 1))


def _size_weighted_mean(xs: Sequence[float]) -> float:
    """sum x^2 / sum x: the mean of values weighted by their size (0.0 for none), as
    terms that cannot overflow however large the byte counts."""
    total = sum(xs)
    return sum(x * (x / total) for x in xs) if total > 0 else 0.0


def _trimmed(xs: Sequence[float]) -> list[float]:
    """Without the largest value once there are enough to spare one (a start-up jump)."""
    return sorted(xs)[:-1] if len(xs) >= TRIM_FROM else list(xs)


def _median(xs: Sequence[float]) -> float:
    ordered = sorted(xs)
    n = len(ordered)
    if n == 0:
        return 0.0
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])
