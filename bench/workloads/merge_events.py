"""Put workload events (JSON lines with wall-clock `unix` times) into a recording.

    python merge_events.py TRACE.jsonl[.gz] EVENTS.jsonl [EVENTS2.jsonl ...]

Each event becomes `{"t": unix - start_unix, "event": ..., "pid": ..., ...}` (the
vramtop-trace v1 event line) and the file is rewritten with samples and events in
time order, header first (compressed where its name ends in .gz). Lines of the
events files that are not JSON objects with `unix` and `event` (a workload's stray
output) are skipped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from vramtop.trace import CutShort, TraceError, create_text, open_text, raw_lines


def read_events(path: Path, start_unix: float) -> list[dict[str, Any]]:
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict) or "event" not in obj or "unix" not in obj:
            continue
        unix = obj.pop("unix")
        if not isinstance(unix, (int, float)):
            continue
        out.append({"t": round(float(unix) - start_unix, 4), **obj})
    return out


def merge(trace_path: Path, event_paths: list[Path]) -> int:
    lines: list[str] = []
    with open_text(trace_path) as fh:
        try:
            for line in raw_lines(fh, trace_path):
                lines.append(line.rstrip("\n"))
        except CutShort:
            pass  # a compressed recording whose recorder was killed: its whole lines
    if not lines:
        raise TraceError(f"{trace_path}: empty file, not a vramtop recording")
    try:
        start = float(json.loads(lines[0])["start_unix"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise TraceError(f"{trace_path}: not a vramtop recording (no header on line 1)") from None
    items: list[tuple[float, int, str]] = []
    for i, raw in enumerate(lines[1:]):
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            continue  # a line cut off when the recorder was stopped
        if not isinstance(obj, dict):
            continue
        items.append((float(obj.get("t", 0.0)), i, raw))
    n = len(items)
    count = 0
    for path in event_paths:
        for ev in read_events(path, start):
            items.append((ev["t"], n, json.dumps(ev, separators=(",", ":"))))
            n += 1
            count += 1
    items.sort()
    tmp = trace_path.with_name(f".merging-{trace_path.name}")  # keeps a .gz name's end
    with create_text(tmp) as out:
        out.write("\n".join([lines[0], *(raw for _, _, raw in items)]) + "\n")
    os.replace(tmp, trace_path)
    return count


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        count = merge(Path(argv[0]), [Path(p) for p in argv[1:]])
    except (TraceError, OSError) as e:
        print(f"merge_events: {e}", file=sys.stderr)
        return 2
    print(f"merge_events: {count} events in {argv[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
