"""The tools that make new GPU recordings: the workloads (against a fake CUDA) and the
event merge. The real thing runs on an H100 with bench/workloads/record_all.sh."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import types
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from vramtop import trace as trace_mod
from vramtop.model import GPUDevice, MemorySnapshot

ROOT = Path(__file__).resolve().parent.parent
GB = 1_000_000_000


def _load(name: str) -> types.ModuleType:
    path = ROOT / "bench" / "workloads" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_wl_{name}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _OOM(RuntimeError):
    pass


class FakeTorch(types.ModuleType):
    """Just enough of torch.cuda: a GPU of `capacity` bytes and tensors that hold memory."""

    uint8 = "uint8"

    def __init__(self, capacity: int) -> None:
        super().__init__("torch")
        self.capacity = capacity
        self.used = 0
        self.peak = 0
        torch = self

        class Tensor:
            n = 0  # a tensor whose allocation failed holds nothing

            def __init__(self, n: int) -> None:
                if torch.used + n > torch.capacity:
                    raise _OOM("CUDA out of memory. Tried to allocate")
                torch.used += n
                torch.peak = max(torch.peak, torch.used)
                self.n = n

            def fill_(self, _v: int) -> Tensor:
                return self

            def __del__(self) -> None:
                torch.used -= self.n

        self.cuda = types.SimpleNamespace(
            is_available=lambda: True,
            mem_get_info=lambda: (self.capacity - self.used, self.capacity),
            empty_cache=lambda: None,
            OutOfMemoryError=_OOM,
        )
        self._tensor = Tensor

    def empty(self, n: int, dtype: Any = None, device: Any = None) -> Any:
        return self._tensor(n)


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> FakeTorch:
    fake = FakeTorch(4 * GB)
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    return fake


def _run(argv: list[str]) -> tuple[int, list[dict[str, Any]]]:
    wl = _load("memory_workloads")
    out = io.StringIO()
    with redirect_stdout(out):
        code = wl.main(argv)
    return code, [json.loads(x) for x in out.getvalue().splitlines()]


def test_a_leak_runs_out_and_says_so(fake_gpu: FakeTorch) -> None:
    code, events = _run(["leak", "--rate-mb", "400", "--chunk-mb", "64", "--leave-gb", "1"])
    assert code == 3
    names = [e["event"] for e in events]
    assert names[0] == "start" and names[-1] == "oom"
    assert "ballast" in names and "model_ready" in names
    assert all(isinstance(e["unix"], float) and "pid" in e for e in events)
    assert events[-1]["free"] < 64_000_000


def test_plateau_stops_short_of_full(fake_gpu: FakeTorch) -> None:
    code, events = _run(["plateau", "--rate-mb", "250", "--stop-free-gb", "0.5", "--hold", "0"])
    assert code == 0
    names = [e["event"] for e in events]
    assert names == ["start", "model_ready", "plateau", "exit"]
    assert fake_gpu.capacity - fake_gpu.peak >= 0.5 * GB - 16_000_000


def test_a_halving_plateau_slows_and_stops_on_its_own(
    fake_gpu: FakeTorch, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    monkeypatch.setattr("time.sleep", lambda s: now.__setitem__(0, now[0] + max(0.0, s)))
    code, events = _run(
        ["plateau", "--rate-mb", "100", "--halve-s", "4", "--stop-free-gb", "0.1", "--hold", "0"]
    )
    assert code == 0
    assert [e["event"] for e in events] == ["start", "model_ready", "plateau", "exit"]
    # the rate halves every 4 s, so growth totals ~100 MB/s * 4 s / ln 2 and stops
    # once the rate is a twentieth of the first, 4 * log2(20) ~ 17.3 s in (the last
    # 16 MB chunk, at ~5 MB/s, takes it up to 3 s past)
    assert 0.4 * GB < fake_gpu.peak < 0.6 * GB
    assert 17.0 < now[0] < 20.5


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["leak", "--run-s", "8"], "--run-s and --pause-s go together"),
        (["leak", "--rate-mb", "0"], "must be positive"),
        (["leak", "--accel-mb", "-1"], "--accel-mb must be 0 or more"),
        (["plateau", "--halve-s", "0"], "--halve-s must be positive"),
        (["train-leak", "--batch-jitter", "1"], "--batch-jitter 0-1"),
        (["train-leak", "--width", "0"], "must be positive"),
        (["jax-leak", "--chunk-mb", "-16"], "must be positive"),
    ],
)
def test_bad_workload_arguments_say_what_is_wrong(
    fake_gpu: FakeTorch, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert says in err[-1] and "Traceback" not in "\n".join(err)
    assert fake_gpu.peak == 0


def test_a_jax_leak_without_jax_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)
    code, events = _run(["jax-leak"])
    assert code == 2 and [e["event"] for e in events] == ["start"]
    assert capsys.readouterr().err.strip() == "memory_workloads: JAX is not installed"


@pytest.mark.parametrize(
    "argv",
    [
        ["step-leak", "--mean-rate-mb", "150", "--max-mb", "300", "--ballast-gb", "1"],
        ["burst-leak", "--burst-gb", "1", "--leak-mb", "500"],
    ],
)
def test_other_leaks_run_out(fake_gpu: FakeTorch, argv: list[str]) -> None:
    code, events = _run(argv)
    assert code == 3 and events[-1]["event"] == "oom"


def test_variable_batches_fit(fake_gpu: FakeTorch, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 10_000))
    monkeypatch.setattr("time.monotonic", lambda: float(next(clock)) * 0.1)
    code, events = _run(
        [
            "var-batch",
            "--base-gb",
            "0.5",
            "--max-gb",
            "8",
            "--margin-gb",
            "0.2",
            "--duration",
            "5",
            "--empty-cache",
        ]
    )
    assert code == 0 and events[-1]["event"] == "exit"
    assert fake_gpu.peak <= fake_gpu.capacity


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_merge_events_puts_events_in_time_order(tmp_path: Path, name: str) -> None:
    """A plain recording stopped mid-line, or a compressed one whose recorder was
    killed (no end-of-stream marker): the whole samples stay, events join in order,
    and a compressed recording is written back compressed."""
    start = 1_800_000_000.0
    path = tmp_path / name
    dev = GPUDevice(0, "GPU-m", "m", 80 * GB, 0, 80 * GB)
    with trace_mod.create_text(path) as fh:
        w = trace_mod.TraceWriter(fh)
        w.write(trace_mod.header_dict(start, 0.1, [dev], meta={"expected": "oom"}))
        for i in range(50):
            w.write(
                trace_mod.sample_dict(MemorySnapshot(i * 0.1, start + i * 0.1, (dev,)), i * 0.1)
            )
        fh.write('{"t": 5.0, "devi')  # the recorder stopped mid-line
        fh.flush()
    if name.endswith(".gz"):
        path.write_bytes(path.read_bytes()[:-8])  # killed: the trailer never written
    events = tmp_path / "ev.jsonl"
    events.write_text(
        json.dumps({"unix": start + 1.23, "event": "start", "pid": 7, "mode": "leak"})
        + "\n"
        + "some stray output\n"
        + json.dumps({"unix": start + 4.5, "event": "oom", "pid": 7, "free": 12})
        + "\n"
    )
    merge = _load("merge_events")
    assert merge.main([str(path), str(events)]) == 0
    assert (path.read_bytes()[:2] == trace_mod.GZIP_MAGIC) == name.endswith(".gz")
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([name, "ev.jsonl"])
    tr = trace_mod.read(path)
    assert [(e.event, e.t, e.pid) for e in tr.events] == [("start", 1.23, 7), ("oom", 4.5, 7)]
    assert tr.events[1].data == {"free": 12}
    with trace_mod.open_text(path) as merged:
        ts = [json.loads(x).get("t") for x in merged.read().splitlines()[1:]]
    assert ts == sorted(ts) and len(tr.samples) == 50


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty file"),
        (b"\x1f\x8b\x08\x00garbage that is not deflate data" * 4, "corrupt compressed data"),
        (b"not json\n", "no header on line 1"),
    ],
)
def test_merge_events_refuses_a_damaged_recording_in_one_line_and_leaves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, says: str
) -> None:
    path = tmp_path / "rec.jsonl.gz"
    path.write_bytes(content)
    events = tmp_path / "ev.jsonl"
    events.write_text(json.dumps({"unix": 1.0, "event": "start", "pid": 7}) + "\n")
    merge = _load("merge_events")
    assert merge.main([str(path), str(events)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert path.read_bytes() == content
    assert sorted(x.name for x in tmp_path.iterdir()) == ["ev.jsonl", "rec.jsonl.gz"]
