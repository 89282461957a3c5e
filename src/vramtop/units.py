"""The only place where bytes, rates and durations are formatted for people (IEC units)."""

from __future__ import annotations

import math

_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
UNKNOWN = "?"
MIB = 1024 * 1024
MB = 1_000_000


def fmt_bytes(n: int | float | None, precision: int = 1) -> str:
    """`1536` -> `1.5 KiB`; `None` -> `?` (unknown is never shown as 0)."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return UNKNOWN
    value = float(n)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in _IEC:
        if value < 1024 or unit == _IEC[-1]:
            if unit == "B":
                return f"{sign}{int(value)} B"
            return f"{sign}{value:.{precision}f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_mib(n: int | float | None) -> str:
    """Bytes as whole MiB, the unit nvidia-smi uses: `1048576` -> `1 MiB`."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return UNKNOWN
    return f"{round(n / MIB):,} MiB"


def fmt_rate(bytes_per_s: float | None) -> str:
    """A memory rate in MB/s with a sign: `+12.3 MB/s`."""
    if bytes_per_s is None or not math.isfinite(bytes_per_s):
        return UNKNOWN
    mb = bytes_per_s / MB
    if abs(mb) < 0.05:
        return "0.0 MB/s"
    return f"{mb:+.1f} MB/s"


def fmt_duration(seconds: float | None) -> str:
    """`75` -> `1m15s`; `4000` -> `1h06m`; `None` -> `?`."""
    if seconds is None or not math.isfinite(seconds):
        return UNKNOWN
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def fmt_oom_range(low_s: float, high_s: float) -> str:
    """`~60-120s`, `~2-5m`, or `>1h` for the capped case."""
    if low_s >= 3600:
        return ">1h"
    if high_s < 180:
        return f"~{int(low_s)}-{math.ceil(high_s)}s"
    lo_m = max(1, int(low_s // 60))
    hi_m = math.ceil(min(high_s, 3600) / 60)
    suffix = "m" if high_s < 3600 else "m+"
    return f"~{lo_m}-{hi_m}{suffix}"


def fmt_percent(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return UNKNOWN
    return f"{ratio * 100:.0f}%"


def fmt_watts(watts: float | None) -> str:
    if watts is None or not math.isfinite(watts):
        return UNKNOWN
    return f"{watts:.0f} W"


def fmt_temp(celsius: int | float | None) -> str:
    if celsius is None:
        return UNKNOWN
    return f"{celsius:.0f}°C"


def confidence_meter(confidence: float, cells: int = 5) -> str:
    """`0.6` -> `[■■■□□]`."""
    c = min(1.0, max(0.0, confidence if math.isfinite(confidence) else 0.0))
    filled = round(c * cells)
    return "[" + "■" * filled + "□" * (cells - filled) + "]"
