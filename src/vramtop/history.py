"""Bounded ring buffers of (t, bytes), keyed by process identity or GPU: the one history."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class _Series:
    """Times and values in two deques: `values()` is one C-level copy per frame."""

    __slots__ = ("times", "values")

    def __init__(self, length: int, times: Iterable[float] = (), values: Iterable[float] = ()):
        self.times: deque[float] = deque(times, maxlen=length)
        self.values: deque[float] = deque(values, maxlen=length)


class History(Generic[K]):
    """Per-key history of `(t, value)` points, at most `length` per key."""

    def __init__(self, length: int) -> None:
        self._length = max(1, length)
        self._series: dict[K, _Series] = {}
        self._peaks: dict[K, float] = {}

    @property
    def length(self) -> int:
        return self._length

    def resize(self, length: int) -> None:
        self._length = max(1, length)
        for key, s in self._series.items():
            self._series[key] = _Series(self._length, s.times, s.values)

    def record(self, key: K, t: float, value: float) -> None:
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = _Series(self._length)
        s.times.append(t)
        s.values.append(value)
        peak = self._peaks.get(key)
        if peak is None or value > peak:
            self._peaks[key] = value

    def series(self, key: K) -> tuple[tuple[float, float], ...]:
        s = self._series.get(key)
        return tuple(zip(s.times, s.values, strict=True)) if s is not None else ()

    def values(self, key: K) -> tuple[float, ...]:
        s = self._series.get(key)
        return tuple(s.values) if s is not None else ()

    def peak(self, key: K) -> float | None:
        """Highest value recorded for `key` since it appeared (not only the retained window)."""
        return self._peaks.get(key)

    def keys(self) -> Iterable[K]:
        return self._series.keys()

    def drop(self, key: K) -> None:
        self._series.pop(key, None)
        self._peaks.pop(key, None)

    def retain(self, keep: set[K]) -> list[K]:
        """Drop every key not in `keep`; returns the dropped keys."""
        gone = [k for k in self._series if k not in keep]
        for k in gone:
            del self._series[k]
            self._peaks.pop(k, None)
        return gone

    def __len__(self) -> int:
        return len(self._series)
