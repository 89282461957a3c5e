"""Bounded ring buffers of (t, bytes), keyed by process identity or GPU: the one history."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class _Series:
    """Times and values in two deques (`values()` is one C-level copy per frame), and
    the highest value recorded since the key appeared."""

    __slots__ = ("peak", "times", "values")

    def __init__(
        self,
        length: int,
        times: Iterable[float] = (),
        values: Iterable[float] = (),
        peak: float | None = None,
    ):
        self.times: deque[float] = deque(times, maxlen=length)
        self.values: deque[float] = deque(values, maxlen=length)
        self.peak = peak


class History(Generic[K]):
    """Per-key history of `(t, value)` points, at most `length` per key."""

    def __init__(self, length: int) -> None:
        self._length = max(1, length)
        self._series: dict[K, _Series] = {}

    @property
    def length(self) -> int:
        return self._length

    def resize(self, length: int) -> None:
        self._length = max(1, length)
        for key, s in self._series.items():
            self._series[key] = _Series(self._length, s.times, s.values, s.peak)

    def record(self, key: K, t: float, value: float) -> float:
        """Append a point; returns the key's peak, this value included."""
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = _Series(self._length)
        s.times.append(t)
        s.values.append(value)
        peak = s.peak
        if peak is None or value > peak:
            peak = s.peak = value
        return peak

    def series(self, key: K) -> tuple[tuple[float, float], ...]:
        s = self._series.get(key)
        return tuple(zip(s.times, s.values, strict=True)) if s is not None else ()

    def values(self, key: K) -> tuple[float, ...]:
        s = self._series.get(key)
        return tuple(s.values) if s is not None else ()

    def peak(self, key: K) -> float | None:
        """Highest value recorded for `key` since it appeared (not only the retained window)."""
        s = self._series.get(key)
        return s.peak if s is not None else None

    def keys(self) -> Iterable[K]:
        return self._series.keys()

    def drop(self, key: K) -> None:
        self._series.pop(key, None)

    def retain(self, keep: set[K]) -> list[K]:
        """Drop every key not in `keep`; returns the dropped keys."""
        gone = [k for k in self._series if k not in keep]
        for k in gone:
            del self._series[k]
        return gone

    def __len__(self) -> int:
        return len(self._series)
