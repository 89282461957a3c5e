"""A parser for the Prometheus text exposition format (and its OpenMetrics cousin).

Enough of the format for inference servers' `/metrics`: metric names with colons
(`vllm:kv_cache_usage_perc`), labels in any order with escaped quotes, `NaN` and
`+Inf`, optional timestamps, comments, `# TYPE`/`# HELP` lines, OpenMetrics
exemplars and `# EOF`.

`parse_line` raises `PromParseError` for a line it cannot read; `parse` skips
such lines and counts them (`strict=True` raises instead). Nothing here raises
any other exception for any input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from vramtop.errors import ScrapeError

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NUMBER_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[Nn][Aa][Nn]|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?)"
)
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
#: Longest line looked at; a body is capped at 64 KiB upstream anyway.
MAX_LINE_CHARS = 65_536


class PromParseError(ScrapeError):
    """A line of Prometheus text that is not a sample, a comment or blank."""

    title = "Malformed Prometheus text"


Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample: labels sorted by name, the value as a float (NaN and +-Inf kept)."""

    name: str
    labels: Labels
    value: float
    timestamp: float | None = None

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None


class Exposition:
    """The parsed samples of one scrape, indexed by metric name."""

    __slots__ = ("_by_name", "samples", "skipped_lines", "types")

    def __init__(self, samples: Iterable[Sample], types: Iterable[tuple[str, str]], skipped: int):
        self.samples: tuple[Sample, ...] = tuple(samples)
        self.types: tuple[tuple[str, str], ...] = tuple(types)
        self.skipped_lines = skipped
        by_name: dict[str, list[Sample]] = {}
        for s in self.samples:
            by_name.setdefault(s.name, []).append(s)
        self._by_name = {k: tuple(v) for k, v in by_name.items()}

    def series(self, name: str) -> tuple[Sample, ...]:
        """Every sample of the metric `name` (exact, so counters need their `_total`)."""
        return self._by_name.get(name, ())

    def has(self, name: str) -> bool:
        return name in self._by_name

    def names(self) -> frozenset[str]:
        return frozenset(self._by_name)


def _number(text: str, line: str) -> float:
    if not _NUMBER_RE.fullmatch(text):
        raise PromParseError(f"not a number: {text[:40]!r} in {line[:80]!r}")
    return float(text)


def _parse_labels(line: str, pos: int) -> tuple[Labels, int]:
    """Parse `{a="x",b="y"}` from the `{` at `pos`; returns labels and the index after `}`."""
    labels: dict[str, str] = {}
    i = pos + 1
    n = len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == "}":
            return tuple(sorted(labels.items())), i + 1
        m = _LABEL_NAME_RE.match(line, i)
        if not m:
            raise PromParseError(f"bad label name in {line[:80]!r}")
        key = m.group(0)
        i = m.end()
        while i < n and line[i] in " \t":
            i += 1
        if i >= n or line[i] != "=":
            raise PromParseError(f"expected '=' after label {key!r}")
        i += 1
        while i < n and line[i] in " \t":
            i += 1
        if i >= n or line[i] != '"':
            raise PromParseError(f"label {key!r}: value not quoted")
        i += 1
        chars: list[str] = []
        while True:
            if i >= n:
                raise PromParseError(f"label {key!r}: unterminated value")
            c = line[i]
            if c == "\\":
                if i + 1 >= n:
                    raise PromParseError(f"label {key!r}: dangling backslash")
                nxt = line[i + 1]
                chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
                continue
            if c == '"':
                i += 1
                break
            chars.append(c)
            i += 1
        if key in labels:
            raise PromParseError(f"duplicate label {key!r}")
        labels[key] = "".join(chars)
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == ",":
            i += 1
            continue
        if i < n and line[i] == "}":
            return tuple(sorted(labels.items())), i + 1
        raise PromParseError(f"expected ',' or '}}' after label {key!r}")


def parse_line(line: str) -> Sample:
    """One sample line: `name{labels} value [timestamp] [# exemplar]`."""
    if len(line) > MAX_LINE_CHARS:
        raise PromParseError("line too long")
    s = line.strip()
    m = _NAME_RE.match(s)
    if not m:
        raise PromParseError(f"no metric name in {s[:80]!r}")
    name = m.group(0)
    i = m.end()
    labels: Labels = ()
    if i < len(s) and s[i] == "{":
        labels, i = _parse_labels(s, i)
    rest = s[i:]
    if rest and rest[0] not in " \t":
        raise PromParseError(f"junk after metric name in {s[:80]!r}")
    hash_at = rest.find(" # ")  # an OpenMetrics exemplar follows the value
    if hash_at >= 0:
        rest = rest[:hash_at]
    fields = rest.split()
    if not 1 <= len(fields) <= 2:
        raise PromParseError(f"expected a value and an optional timestamp in {s[:80]!r}")
    value = _number(fields[0], s)
    timestamp = None
    if len(fields) == 2:
        timestamp = _number(fields[1], s)
        if not math.isfinite(timestamp):
            raise PromParseError(f"timestamp not finite in {s[:80]!r}")
    return Sample(name, labels, value, timestamp)


def parse(text: str, *, strict: bool = False) -> Exposition:
    """Parse a whole exposition. Bad lines are skipped and counted, or raise if `strict`."""
    samples: list[Sample] = []
    types: list[tuple[str, str]] = []
    skipped = 0
    for raw in text.split("\n"):  # only \n ends a line: a raw \r may sit in a label value
        line = raw.strip(" \t\r")
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] == "EOF":
                break
            if len(parts) >= 4 and parts[1] == "TYPE" and _NAME_RE.fullmatch(parts[2]):
                types.append((parts[2], parts[3].strip()))
            continue
        try:
            samples.append(parse_line(line))
        except PromParseError:
            if strict:
                raise
            skipped += 1
    return Exposition(samples, types, skipped)


def escape_label_value(value: str) -> str:
    """The inverse of the label-value unescaping (for writers and tests)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def format_sample(sample: Sample) -> str:
    """A sample as one line of text format."""
    labels = ""
    if sample.labels:
        labels = "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sample.labels) + "}"
    ts = "" if sample.timestamp is None else f" {format_value(sample.timestamp)}"
    return f"{sample.name}{labels} {format_value(sample.value)}{ts}"
