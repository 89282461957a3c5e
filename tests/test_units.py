from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtop import units


@pytest.mark.parametrize(
    ("n", "text"),
    [(None, "?"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (85520809984, "79.6 GiB"),
     (float("nan"), "?"), (-2048, "-2.0 KiB")],
)
def test_fmt_bytes(n: float | None, text: str) -> None:
    assert units.fmt_bytes(n) == text


def test_fmt_rate_and_duration() -> None:
    assert units.fmt_rate(None) == "?"
    assert units.fmt_rate(150e6) == "+150.0 MB/s"
    assert units.fmt_rate(-2e6) == "-2.0 MB/s"
    assert units.fmt_rate(1.0) == "0.0 MB/s"
    assert units.fmt_duration(75) == "1m15s"
    assert units.fmt_duration(4000) == "1h06m"
    assert units.fmt_duration(None) == "?"


def test_oom_range() -> None:
    assert units.fmt_oom_range(60, 120) == "~60-120s"
    assert units.fmt_oom_range(12.2, 54.7) == "~12-55s"
    assert units.fmt_oom_range(130, 400) == "~2-7m"
    assert units.fmt_oom_range(4000, 4000) == ">1h"


def test_confidence_meter() -> None:
    assert units.confidence_meter(0.6) == "[■■■□□]"
    assert units.confidence_meter(0) == "[□□□□□]"
    assert units.confidence_meter(float("nan")) == "[□□□□□]"
    assert units.confidence_meter(7) == "[■■■■■]"


@given(st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-(2**70), 2**70)))
def test_formatters_never_raise(x: float | None) -> None:
    for f in (units.fmt_bytes, units.fmt_mib, units.fmt_rate, units.fmt_duration, units.fmt_percent,
              units.fmt_watts):
        assert isinstance(f(x), str)  # type: ignore[operator]
    if x is not None and math.isfinite(x) and x >= 0:
        assert isinstance(units.fmt_oom_range(float(x), float(x) * 2), str)
