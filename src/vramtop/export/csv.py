"""The CSV logger: one row per GPU and one per process per sample.

The header comes from the metric table (`vramtop.metrics.CSV_COLUMNS`) and is
written once per file. Appends are rotation-safe: before each write the path
is checked, and when the file was moved away, replaced or truncated it is
reopened and a new file gets the header again.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import threading
from pathlib import Path

from vramtop.errors import ExportError
from vramtop.frame import Frame, GPUView, ProcessView
from vramtop.metrics import (
    CSV_COLUMNS,
    GPU_METRICS,
    PROCESS_METRICS,
    gpu_host,
    process_container,
    process_framework,
    process_name,
)
from vramtop.model import DeviceState
from vramtop.security import sanitize

log = logging.getLogger(__name__)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """Sanitized text that a spreadsheet will not run as a formula."""
    s = sanitize(value)
    return "'" + s if s.startswith(_FORMULA_START) else s


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    return _text(str(value))


def gpu_row(frame: Frame, gpu: GPUView) -> dict[str, str]:
    d = gpu.device
    row = {
        "kind": "gpu",
        "unix_time": f"{frame.unix_time:.3f}",
        "t": f"{frame.t:.3f}",
        "hostname": _text(gpu_host(frame, gpu)),
        "gpu": str(d.index),
        "uuid": _text(d.uuid),
        "gpu_name": _text(d.name),
        "state": d.state.value,
    }
    for m in GPU_METRICS:
        if m.csv and m.gpu_value is not None:
            row[m.csv] = _cell(m.gpu_value(frame, gpu))
    return row


def process_row(frame: Frame, gpu: GPUView, pv: ProcessView) -> dict[str, str]:
    d = gpu.device
    row = {
        "kind": "process",
        "unix_time": f"{frame.unix_time:.3f}",
        "t": f"{frame.t:.3f}",
        "hostname": _text(gpu_host(frame, gpu)),
        "gpu": str(d.index),
        "uuid": _text(d.uuid),
        "gpu_name": _text(d.name),
        "state": d.state.value,
        "pid": str(pv.process.pid),
        "starttime": _cell(pv.process.starttime),
        "process_name": _text(process_name(pv)),
        "framework": _text(process_framework(pv)),
        "container": _text(process_container(pv)),
    }
    for m in PROCESS_METRICS:
        if m.csv and m.process_value is not None:
            row[m.csv] = _cell(m.process_value(pv))
    return row


def frame_rows(frame: Frame, *, include_others: bool = True) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for gpu in frame.gpus:
        rows.append(gpu_row(frame, gpu))
        if gpu.device.state is DeviceState.LOST:
            continue
        rows.extend(process_row(frame, gpu, pv) for pv in gpu.processes if include_others or pv.own)
    return rows


def render_rows(rows: list[dict[str, str]], *, header: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class CsvLogger:
    """Appends frames to a CSV file; use as a frame subscriber (`logger(frame)`).

    The constructor opens the file, so an unwritable path is an ExportError at
    start. Later write errors are logged once and counted, never raised into
    the engine.
    """

    def __init__(self, path: str | Path, *, include_others: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.include_others = include_others
        self.errors = 0
        self.rows_written = 0
        self._lock = threading.Lock()
        self._fh: io.TextIOWrapper | None = None
        self._ident: tuple[int, int] | None = None
        self._failing = False
        if self.path.is_dir():
            raise ExportError(f"--export-csv {self.path}: is a directory")
        try:
            self._open()
        except OSError as e:
            raise ExportError(f"--export-csv {self.path}: cannot write ({e.strerror})") from None

    def _open(self) -> None:
        fh = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115 - kept open
        st = os.fstat(fh.fileno())
        self._fh = fh
        self._ident = (st.st_dev, st.st_ino)
        if st.st_size == 0:
            fh.write(render_rows([], header=True))
            fh.flush()

    def _check_rotation(self) -> None:
        """Reopen when the path no longer names our file, or the file was truncated."""
        assert self._fh is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self._ident:
            log.info("CSV log %s was moved or replaced; reopening", self.path)
            self._fh.close()
            self._open()
            return
        if st.st_size < self._fh.tell() or st.st_size == 0:
            # Truncated in place (copytruncate): continue at the new end, header first.
            self._fh.seek(0, os.SEEK_END)
            if st.st_size == 0:
                self._fh.write(render_rows([], header=True))

    def __call__(self, frame: Frame) -> None:
        self.write(frame)

    def write(self, frame: Frame) -> None:
        rows = frame_rows(frame, include_others=self.include_others)
        with self._lock:
            try:
                if self._fh is None:
                    self._open()
                else:
                    self._check_rotation()
                assert self._fh is not None
                self._fh.write(render_rows(rows, header=False))
                self._fh.flush()
                self.rows_written += len(rows)
                if self._failing:
                    log.warning("CSV log %s: writing again", self.path)
                    self._failing = False
            except OSError as e:
                self.errors += 1
                if not self._failing:
                    log.warning("CSV log %s: write failed (%s)", self.path, e.strerror or e)
                    self._failing = True
                if self._fh is not None:
                    with contextlib.suppress(OSError):
                        self._fh.close()
                    self._fh = None

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                try:
                    self._fh.close()
                except OSError as e:
                    log.warning("CSV log %s: close failed (%s)", self.path, e.strerror or e)
                self._fh = None
