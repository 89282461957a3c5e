"""The Prometheus text parser: real-world lines, malformed lines, and invariants."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramtop.enrichment import promtext
from vramtop.enrichment.promtext import PromParseError, Sample


def test_colon_names_labels_in_any_order_and_escapes() -> None:
    a = promtext.parse_line(
        'vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B"} 0.4213'
    )
    b = promtext.parse_line(
        'vllm:kv_cache_usage_perc{ model_name = "meta-llama/Llama-3.1-8B" , engine="0", } 0.4213'
    )
    assert a == b
    assert a.name == "vllm:kv_cache_usage_perc"
    assert a.label("engine") == "0" and a.label("model_name") == "meta-llama/Llama-3.1-8B"
    assert a.value == pytest.approx(0.4213)
    esc = promtext.parse_line(r'm{path="C:\\dir\\x",msg="say \"hi\"\nbye",odd="\q"} 1')
    assert esc.label("path") == "C:\\dir\\x"
    assert esc.label("msg") == 'say "hi"\nbye'
    assert esc.label("odd") == "\\q"  # unknown escapes are kept as written


def test_special_values_timestamps_and_exemplars() -> None:
    assert math.isnan(promtext.parse_line("x NaN").value)
    assert promtext.parse_line("x +Inf").value == math.inf
    assert promtext.parse_line("x -Inf").value == -math.inf
    assert promtext.parse_line("x 1.5e+09").value == 1.5e9
    s = promtext.parse_line('http_requests_total{code="200"} 1027 1395066363000')
    assert s.value == 1027 and s.timestamp == 1395066363000
    om = promtext.parse_line('foo_bucket{le="0.5"} 3 # {trace_id="abc"} 0.4 1.6e9')
    assert om.value == 3 and om.timestamp is None and om.label("le") == "0.5"
    assert promtext.parse_line('x{le="+Inf"} 7').label("le") == "+Inf"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "{} 1",
        "9metric 1",
        "metric",
        "metric one",
        "metric 1 2 3",
        "metric 0x10",
        "metric 1_000",
        'metric{a="1" 2',
        "metric{a=1} 2",
        'metric{a="1",a="2"} 3',
        'metric{a="unterminated} 1',
        'metric{a="x"}1',
        'metric{"utf8.name"} 1',
        "metric 1 NaN",
        "metric\x00 1",
        "<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_bad_lines_raise_parse_error(line: str) -> None:
    with pytest.raises(PromParseError):
        promtext.parse_line(line)


def test_parse_skips_and_counts_bad_lines_and_stops_at_eof() -> None:
    text = (
        "# HELP a The a.\n# TYPE a gauge\n"
        "a 1\n"
        "garbage line here\n"
        "\n   \n"
        "# a free comment\n"
        'b{x="y"} 2\r\n'
        "b{x=} 3\n"
        "# EOF\n"
        "c 4\n"
    )
    exp = promtext.parse(text)
    assert [s.name for s in exp.samples] == ["a", "b"]
    assert exp.skipped_lines == 2
    assert exp.types == (("a", "gauge"),)
    assert exp.series("c") == ()
    assert exp.has("b") and exp.names() == frozenset({"a", "b"})
    with pytest.raises(PromParseError):
        promtext.parse(text, strict=True)


def test_html_page_parses_to_nothing() -> None:
    exp = promtext.parse("<!DOCTYPE html>\n<html><head><title>Error</title></head>\n</html>\n")
    assert exp.samples == () and exp.skipped_lines == 3


# --- invariants -------------------------------------------------------------------------

names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,30}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
label_values = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
values = st.floats(allow_nan=True, allow_infinity=True)
timestamps = st.none() | st.integers(min_value=-(2**53), max_value=2**53).map(float)


@st.composite
def samples(draw: st.DrawFn) -> Sample:
    labels = draw(st.dictionaries(label_names, label_values, max_size=5))
    return Sample(draw(names), tuple(sorted(labels.items())), draw(values), draw(timestamps))


def _same(a: Sample, b: Sample) -> bool:
    value_ok = (math.isnan(a.value) and math.isnan(b.value)) or a.value == b.value
    return a.name == b.name and a.labels == b.labels and value_ok and a.timestamp == b.timestamp


@settings(max_examples=300, deadline=None)
@given(samples())
def test_round_trip(sample: Sample) -> None:
    parsed = promtext.parse_line(promtext.format_sample(sample))
    assert _same(parsed, sample)


@settings(max_examples=100, deadline=None)
@given(st.lists(samples(), max_size=10))
def test_round_trip_whole_exposition(items: list[Sample]) -> None:
    text = "\n".join(promtext.format_sample(s) for s in items)
    exp = promtext.parse(text, strict=True)
    assert len(exp.samples) == len(items)
    assert all(_same(a, b) for a, b in zip(exp.samples, items, strict=True))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_never_raises_anything_else(text: str) -> None:
    exp = promtext.parse(text)  # lenient: never raises
    assert exp.skipped_lines >= 0
    with contextlib.suppress(PromParseError):
        promtext.parse(text, strict=True)
    for line in text.splitlines():
        with contextlib.suppress(PromParseError):
            promtext.parse_line(line)


line_parts = st.sampled_from(
    ["m", "vllm:x", "{", "}", '"', "\\", ",", "=", "a", " ", "1", "NaN", "+Inf", "#", ".", "e"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(line_parts, max_size=25).map("".join))
def test_near_miss_lines_only_raise_parse_error(line: str) -> None:
    with contextlib.suppress(PromParseError):
        promtext.parse_line(line)
