"""The CSV logger: header once, GPU and process rows, rotation-safe appends, errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from export_helpers import TRACES, GiB, frame, gpu, proc
from vramtop.errors import ExportError
from vramtop.export.csv import CsvLogger
from vramtop.frame import Frame
from vramtop.metrics import CSV_COLUMNS
from vramtop.model import DeviceState


def read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def two_gpu_frame(seq: int = 1) -> Frame:
    return frame(
        gpu(0, processes=[proc(10, 2 * GiB), proc(11, GiB)]),
        gpu(1, used=None, state=DeviceState.LOST),
        seq=seq,
    )


def test_rows_per_gpu_and_process_with_header_once(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    logger = CsvLogger(path)
    logger(two_gpu_frame(1))
    logger(two_gpu_frame(2))
    logger.close()
    rows = read(path)
    assert rows[0] == list(CSV_COLUMNS)
    assert sum(1 for r in rows if r == list(CSV_COLUMNS)) == 1
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [r["kind"] for r in body] == ["gpu", "process", "process", "gpu"] * 2
    g0 = body[0]
    assert g0["used_bytes"] == str(10 * GiB) and g0["state"] == "ok" and g0["pid"] == ""
    p10 = body[1]
    assert p10["pid"] == "10" and p10["used_bytes"] == str(2 * GiB)
    assert p10["uuid"] == "GPU-0" and p10["phase"] == "stable"
    lost = body[3]
    assert lost["state"] == "lost" and lost["used_bytes"] == ""  # unknown is empty, never 0


def test_appends_to_an_existing_file_without_a_second_header(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    a = CsvLogger(path)
    a(two_gpu_frame(1))
    a.close()
    b = CsvLogger(path)
    b(two_gpu_frame(2))
    b.close()
    rows = read(path)
    assert sum(1 for r in rows if r == list(CSV_COLUMNS)) == 1
    assert len(rows) == 1 + 8


def test_moved_file_is_reopened_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    logger = CsvLogger(path)
    logger(two_gpu_frame(1))
    rotated = tmp_path / "log.csv.1"
    os.rename(path, rotated)  # logrotate's default: move, then the writer reopens
    logger(two_gpu_frame(2))
    logger.close()
    old, new = read(rotated), read(path)
    assert old[0] == list(CSV_COLUMNS) and len(old) == 5
    assert new[0] == list(CSV_COLUMNS) and len(new) == 5
    assert new[1][CSV_COLUMNS.index("t")] == "2.000"


def test_truncated_file_gets_the_header_again(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    logger = CsvLogger(path)
    logger(two_gpu_frame(1))
    with path.open("r+") as fh:  # copytruncate
        fh.truncate(0)
    logger(two_gpu_frame(2))
    logger.close()
    rows = read(path)
    assert rows[0] == list(CSV_COLUMNS)
    assert len(rows) == 5
    assert "\x00" not in path.read_text()


def test_unwritable_paths_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot write"):
        CsvLogger(tmp_path / "missing-dir" / "log.csv")
    with pytest.raises(ExportError, match="is a directory"):
        CsvLogger(tmp_path)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ExportError):
            CsvLogger(ro / "log.csv")


def test_write_errors_are_counted_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    logger = CsvLogger(path)
    logger(two_gpu_frame(1))
    path.unlink()
    path.mkdir()  # the path can no longer be opened for writing, even by root
    logger(two_gpu_frame(2))
    logger(two_gpu_frame(3))
    assert logger.errors == 2
    path.rmdir()
    logger(two_gpu_frame(4))  # writable again: a fresh file with its header
    logger.close()
    rows = read(path)
    assert rows[0] == list(CSV_COLUMNS) and rows[1][CSV_COLUMNS.index("t")] == "4.000"


def test_spreadsheet_formulas_are_neutralized(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    logger = CsvLogger(path)
    logger(frame(gpu(processes=[proc(10, GiB, name="=HYPERLINK(1)")])))
    logger.close()
    rows = read(path)
    assert rows[2][CSV_COLUMNS.index("process_name")] == "'=HYPERLINK(1)"


def test_cli_replay_jsonl_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "replay.csv"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "vramtop",
            "replay",
            str(TRACES / "linear_leak_150.jsonl"),
            "--jsonl",
            "--export-csv",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    rows = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in read(out)[1:]]
    gpu_rows = [r for r in rows if r["kind"] == "gpu"]
    assert len(gpu_rows) == len(res.stdout.splitlines())
    assert any(r["oom_alert"] == "1" for r in gpu_rows)
    assert {r["pid"] for r in rows if r["kind"] == "process"} >= {"855", "871"}


def test_cli_unwritable_csv_is_one_line(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "vramtop",
            "replay",
            str(TRACES / "staircase.jsonl"),
            "--jsonl",
            "--export-csv",
            str(tmp_path / "no" / "such" / "dir.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "--export-csv" in res.stderr
    assert res.stdout == ""
