"""The core commands as a user runs them: output or a one-line error, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vramtop import trace
from vramtop.backends.replay import ReplayBackend
from vramtop.cli import main
from vramtop.commands.record import record

TRACES = Path(__file__).parent / "fixtures" / "traces"
LEAK = TRACES / "linear_leak_150.jsonl"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vramtop", *args], capture_output=True, text=True, timeout=timeout
    )


def test_replay_jsonl_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(LEAK), "--jsonl", "--rate", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    tr = trace.read(LEAK)
    assert len(lines) == pytest.approx(tr.duration_s, abs=2)
    objs = [json.loads(line) for line in lines]
    required = {"t", "gpu", "used", "free", "total", "phase", "oom_low_s", "oom_high_s",
                "oom_confidence", "processes"}
    for o in objs:
        assert required <= o.keys()
        for p in o["processes"]:
            assert {"pid", "starttime", "used", "phase", "rate"} <= p.keys()
    assert [o["t"] for o in objs] == sorted(o["t"] for o in objs)
    assert any(o["oom_low_s"] is not None for o in objs)


def test_replay_jsonl_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(LEAK), "--jsonl", "--rate", "0.5"]) == 0
    n = len(capsys.readouterr().out.splitlines())
    assert n == pytest.approx(trace.read(LEAK).duration_s / 2, abs=2)


def test_replay_jsonl_piped_to_head_is_quiet() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m vramtop replay {LEAK} --jsonl | head -n 2",
        shell=True, capture_output=True, text=True, timeout=60,
    )
    assert len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": "nope"}\n', "not a vramtop recording"),
        ("garbage\n", "line 1 is not JSON"),
    ],
)
def test_corrupt_trace_one_line_error(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    proc = run_cli("replay", str(bad), "--jsonl")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_corrupt_middle_of_trace(tmp_path: Path) -> None:
    lines = LEAK.read_text().splitlines()
    lines[50] = lines[50][:30]
    bad = tmp_path / "cut.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    proc = run_cli("replay", str(bad), "--jsonl")
    assert proc.returncode == 2 and "line 51" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_recording_cut_mid_line_replays_whole_samples_and_says_so(tmp_path: Path) -> None:
    lines = LEAK.read_text().splitlines()
    whole = sum(1 for line in lines[1:] if '"devices"' in line)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines) + "\n" + lines[-1][:40])
    proc = run_cli("replay", str(cut), "--jsonl", "--rate", "1")
    assert proc.returncode == 0
    assert proc.stderr.strip() == (
        f"vramtop: {cut}: line {len(lines) + 1} is incomplete (the recording was cut off"
        f" mid-write) and is left out; replaying the {whole} samples before it"
    )
    frames = [json.loads(x) for x in proc.stdout.splitlines()]
    full = run_cli("replay", str(LEAK), "--jsonl", "--rate", "1")
    assert full.returncode == 0 and full.stderr == ""
    assert frames == [json.loads(x) for x in full.stdout.splitlines()]


def test_config_typo_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[general]\nrefresh_rat = 2\n")
    proc = run_cli("--config", str(cfg), "replay", str(LEAK), "--jsonl")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"vramtop: Config error: {cfg}: general.refresh_rat: unknown key"
    )


def test_bad_refresh_rate_flag() -> None:
    proc = run_cli("replay", str(LEAK), "--jsonl", "--refresh-rate", "0.01")
    assert proc.returncode == 2 and "refresh_rate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_trace_file() -> None:
    proc = run_cli("replay", "/nonexistent/x.jsonl", "--jsonl")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_record_writes_a_valid_recording(tmp_path: Path) -> None:
    src = trace.read(LEAK)
    out = tmp_path / "rec.jsonl"
    stop = threading.Event()
    n = record(ReplayBackend(src, step_s=1.0), out, interval_s=0.01, duration_s=0.3, stop=stop,
               meta={"expected": "oom"})
    assert n >= 2
    again = trace.read(out)
    assert again.header.expected == "oom"
    assert len(again.samples) == n
    assert again.samples[0].devices[0].used_bytes == src.samples[0].devices[0].used_bytes
    assert again.header.devices[0].uuid == src.header.devices[0].uuid


def test_record_compresses_a_gz_file_and_replay_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = trace.read(LEAK)
    out = tmp_path / "rec.jsonl.gz"
    n = record(ReplayBackend(src, step_s=1.0), out, interval_s=0.01, duration_s=0.3,
               stop=threading.Event(), meta={"expected": "oom"})
    assert out.read_bytes()[:2] == trace.GZIP_MAGIC
    again = trace.read(out)
    assert len(again.samples) == n and again.header.expected == "oom"
    assert main(["replay", str(out), "--jsonl", "--rate", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) >= 1


def test_record_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "exists.jsonl"
    out.write_text("keep me")
    proc = run_cli("record", str(out), "--duration", "1")
    assert proc.returncode == 2 and "exists" in proc.stderr
    assert out.read_text() == "keep me"


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("vramtop ")
