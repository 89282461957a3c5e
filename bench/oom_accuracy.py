"""How good are vramtop's OOM warnings? The measure of ../shared/traces/README.md.

Every recording in tests/fixtures/traces/ and ../shared/traces/ (duplicates by
content counted once; recordings with no `meta.expected` skipped) is played
through the same engine path as `vramtop replay FILE --jsonl --rate 1`
(ReplayBackend + Monitor, one sample per recording-second by default) and
scored:

- an alert is a prediction whose low end is at most `[alerts] oom_warning_seconds`;
- OOM recordings: lead = OOM time minus the start of the alert run still
  standing at the OOM; possible = OOM time minus the `start` event of the
  workload that grew: the process that ran out, unless it did not grow (a
  swinger whose swing found no room beside a leak: `grower`), then the earliest
  started of those that grew beside it; lead ratio = min(1, lead / possible); coverage = the
  share of alert samples whose true time left lies inside the range, counted
  only when the median high/low ratio over those samples is at most 2;
- no-OOM recordings (and every GPU that did not run out): any alert sample is
  a false alarm, except that where growth stops short of OOM (a `plateau`
  event) only alerts standing more than 5 s after the plateau count.

Overall: the mean lead ratio and mean coverage over OOM recordings, and how
many no-OOM recordings raised any false alarm. Targets: lead >= 0.90, no false
alarms, coverage >= 0.80.

Beside each lead ratio, its ceiling: the lead ratio of an alert raised at the first
sample (at this rate) in which a process that grew toward the OOM stood above the
size it was first seen with, and standing until the OOM. Before that sample nothing
on the GPU has grown yet, only arrived, so no predictor reading memory can warn
earlier; the time from `start` to it (importing a framework, building a CUDA
context, loading a model) is in the possible lead but no monitor's to take.

vramtop 0.1.0's predictor runs beside ours when found (`--baseline-path`, by
default build/vramtop-0.1.0; install with
`pip install --no-deps --target build/vramtop-0.1.0 vramtop==0.1.0`). It is
another distribution under the same import name, so its module is loaded from
that directory by file path and never shadows this vramtop.

    python bench/oom_accuracy.py [--rate HZ] [--json PATH] [--synthetic] [--algorithm pelt]
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import importlib.util
import json
import math
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "traces"
SHARED = ROOT.parent / "shared" / "traces"
DEFAULT_BASELINE = ROOT / "build" / "vramtop-0.1.0"
PLATEAU_GRACE_S = 5.0
GREW_WINDOW_S = 10.0  # a process grew if its lowest size over the last this many seconds ...
GREW_SINCE_S = 30.0  # ... before the OOM stands above its lowest over up to this long before
GREW_ARRIVAL_S = 2.0  # ... (not counting its first seconds: a context before its first tensors)
GREW_BYTES = 256 * 1024 * 1024  # ... by more than this
FIRST_RISE_BYTES = 4 * 1024 * 1024  # a rise above its first size: more than NVML's rounding
TARGET_LEAD, TARGET_COVERAGE, MAX_WIDTH = 0.90, 0.80, 2.0

sys.path.insert(0, str(ROOT / "src"))

from vramtop import trace as trace_mod  # noqa: E402
from vramtop.backends.replay import ReplayBackend  # noqa: E402
from vramtop.commands._common import build_monitor  # noqa: E402
from vramtop.config import Config  # noqa: E402
from vramtop.model import MemorySnapshot  # noqa: E402

# (t, low, high) per sample; low/high None when there is no prediction.
Series = list[tuple[float, float | None, float | None]]


@dataclass
class GpuScore:
    recording: str
    gpu: int
    expected: str  # "oom" or "no_oom" for this GPU
    samples: int = 0
    alert_samples: int = 0
    lead_s: float | None = None
    possible_s: float | None = None
    lead_ratio: float | None = None
    ceiling_ratio: float | None = None  # the lead ratio of an alert from the first rise
    coverage: float | None = None
    coverage_raw: float | None = None
    median_width: float | None = None
    false_alarm_samples: int = 0
    first_false_alarm_t: float | None = None
    notes: list[str] = field(default_factory=list)


# --- recordings -------------------------------------------------------------------------


def recording_paths(dirs: Iterable[Path]) -> list[Path]:
    """Every recording (*.jsonl, or *.jsonl.gz compressed) under `dirs`, once per
    content (compressed or not)."""
    seen: set[str] = set()
    out: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            continue
        for p in trace_mod.recordings_in(d):
            with trace_mod.open_text(p) as fh:
                digest = hashlib.sha256(fh.read().encode()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                out.append(p)
    return out


def load_recordings(dirs: Iterable[Path]) -> list[trace_mod.Trace]:
    out = []
    for p in recording_paths(dirs):
        tr = trace_mod.read(p)
        if tr.header.expected in ("oom", "no_oom"):
            out.append(tr)
    return out


def synthetic_recordings() -> list[trace_mod.Trace]:
    sys.path.insert(0, str(ROOT / "tests"))
    # SYNTHETIC: generated, never measured on a GPU (tests/ is on the path only now).
    import analysis_synthetic  # type: ignore[import-not-found,unused-ignore]

    scenarios: list[trace_mod.Trace] = analysis_synthetic.scenarios()
    return list(scenarios)


def name_of(tr: trace_mod.Trace) -> str:
    return tr.path.rsplit("/", 1)[-1]


# --- running the predictors ---------------------------------------------------------------


def run_vramtop(tr: trace_mod.Trace, rate_hz: float, config: Config) -> dict[int, Series]:
    """Our predictions per GPU index, through the `replay --jsonl` engine path."""
    backend = ReplayBackend(tr, step_s=1.0 / rate_hz)
    monitor = build_monitor(backend, config, enrich=False)
    monitor.open()
    out: dict[int, Series] = {}
    while True:
        frame = monitor.step()
        for g in frame.gpus:
            o = g.oom
            out.setdefault(g.device.index, []).append(
                (frame.t, o.seconds_low if o else None, o.seconds_high if o else None)
            )
        if backend.at_end:
            break
    return out


def replay_samples(tr: trace_mod.Trace, rate_hz: float) -> list[MemorySnapshot]:
    backend = ReplayBackend(tr, step_s=1.0 / rate_hz)
    out = []
    while True:
        out.append(backend.sample())
        if backend.at_end:
            return out


def load_baseline(path: Path) -> ModuleType | None:
    """vramtop 0.1.0's oom_predictor module, loaded by file path, or None."""
    f = path / "vramtop" / "analysis" / "oom_predictor.py"
    if not f.is_file():
        return None
    spec = importlib.util.spec_from_file_location("_vramtop010_oom_predictor", f)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


def run_baseline(mod: ModuleType, tr: trace_mod.Trace, rate_hz: float) -> dict[int, Series]:
    """0.1.0's predictor fed the same samples (MiB, as 0.1.0's NVML layer reported them)."""
    mib = 1024.0 * 1024.0
    preds: dict[int, Any] = {}
    prev: dict[int, tuple[float, float]] = {}
    out: dict[int, Series] = {}
    for snap in replay_samples(tr, rate_hz):
        for d in snap.devices:
            if d.used_bytes is None or d.total_bytes is None or d.free_bytes is None:
                out.setdefault(d.index, []).append((snap.t, None, None))
                continue
            p = preds.setdefault(d.index, mod.OOMPredictor())
            used = d.used_bytes / mib
            last = prev.get(d.index)
            delta, dt = (0.0, 1.0) if last is None else (used - last[1], snap.t - last[0])
            prev[d.index] = (snap.t, used)
            r = p.update(used, d.free_bytes / mib, d.total_bytes / mib, delta, max(dt, 1e-3))
            low, high = r.seconds_low, r.seconds_high
            out.setdefault(d.index, []).append(
                (snap.t, low, high)
                if low is not None and high is not None
                else (snap.t, None, None)
            )
    return out


# --- scoring ------------------------------------------------------------------------------


def oom_gpu(tr: trace_mod.Trace, pid: int | None) -> int | None:
    """The GPU the process that ran out was on (the last sample that shows it)."""
    if pid is None:
        return None
    for snap in reversed(tr.samples):
        for d in snap.devices:
            if any(p.pid == pid for p in d.processes):
                return d.index
    return None


def _grew(tr: trace_mod.Trace, gpu: int, pid: int, t_oom: float) -> bool:
    """Did this process grow toward the OOM? Its lowest size over the last
    `GREW_WINDOW_S` before it against its lowest over up to `GREW_SINCE_S` before that
    (from its first seconds on, if later): a leak's troughs climb, a swinger's and a
    still process's do not."""
    sizes = [
        (snap.t, float(p.used_bytes))
        for snap in tr.samples
        if snap.t < t_oom
        for d in snap.devices
        if d.index == gpu
        for p in d.processes
        if p.pid == pid and p.used_bytes is not None
    ]
    if not sizes:
        return False
    since = max(sizes[0][0] + GREW_ARRIVAL_S, t_oom - GREW_WINDOW_S - GREW_SINCE_S)
    then = [v for t, v in sizes if since <= t < max(t_oom - GREW_WINDOW_S, since + 1.0)]
    last = [v for t, v in sizes if t >= t_oom - GREW_WINDOW_S]
    return bool(then and last) and min(last) - min(then) > GREW_BYTES


def grower(tr: trace_mod.Trace, gpu: int, oom_pid: int | None, t_oom: float) -> int | None:
    """The workload that grew toward the OOM: the process that ran out if it grew,
    else the earliest started of the others on the GPU that did (None if none did)."""
    if oom_pid is None or _grew(tr, gpu, oom_pid, t_oom):
        return oom_pid
    starts = sorted(
        (e.t, e.pid)
        for e in tr.events
        if e.event == "start" and e.pid is not None and e.pid != oom_pid and e.t <= t_oom
    )
    return next((pid for _, pid in starts if _grew(tr, gpu, pid, t_oom)), oom_pid)


def first_rise(
    tr: trace_mod.Trace, gpu: int, times: Sequence[float], t_oom: float, grew: int | None
) -> float | None:
    """The first of `times` (sample times) whose sample shows a process that grew
    toward the OOM (`grew`, the workload the possible lead counts from, or another
    that `_grew`) above the size it was first seen with at these times; None when
    none does. Each time reads the latest recorded sample at or before it,
    as the replay does."""
    stamps = [snap.t for snap in tr.samples]
    first: dict[int, float] = {}
    growers: dict[int, bool] = {} if grew is None else {grew: True}
    for t in times:
        if t >= t_oom:
            return None
        i = bisect.bisect_right(stamps, t) - 1
        if i < 0:
            continue
        for d in tr.samples[i].devices:
            if d.index != gpu:
                continue
            for p in d.processes:
                if p.used_bytes is None:
                    continue
                size = float(p.used_bytes)
                seen = first.setdefault(p.pid, size)
                if size - seen <= FIRST_RISE_BYTES:
                    continue
                if p.pid not in growers:
                    growers[p.pid] = _grew(tr, gpu, p.pid, t_oom)
                if growers[p.pid]:
                    return t
    return None


def score_gpu(tr: trace_mod.Trace, gpu: int, series: Series, warning_s: float = 300.0) -> GpuScore:
    ooms = [e for e in tr.events if e.event == "oom"]
    oom = next((e for e in ooms if oom_gpu(tr, e.pid) == gpu), None)
    if oom is None and ooms and len(tr.header.devices) <= 1 and len(tr.samples[0].devices) <= 1:
        oom = ooms[0]  # one GPU: the OOM is this GPU's even if the pid was never sampled
    s = GpuScore(name_of(tr), gpu, "oom" if oom else "no_oom", samples=len(series))

    def alert(low: float | None) -> bool:
        return low is not None and math.isfinite(low) and low <= warning_s

    if oom is None:
        plateaus = [e.t for e in tr.events if e.event == "plateau"]
        for t, low, _high in series:
            if not alert(low):
                continue
            s.alert_samples += 1
            if plateaus and t <= min(plateaus) + PLATEAU_GRACE_S:
                continue  # growth that stopped short of OOM: only alerts standing later count
            s.false_alarm_samples += 1
            if s.first_false_alarm_t is None:
                s.first_false_alarm_t = t
        return s

    t_oom = oom.t
    grew = grower(tr, gpu, oom.pid, t_oom)
    if grew != oom.pid:
        s.notes.append(f"the process that ran out did not grow; possible from pid {grew}'s start")
    starts = [e.t for e in tr.events if e.event == "start" and e.pid == grew and e.t <= t_oom]
    if not starts:
        s.notes.append("no start event for the workload that grew; possible from first sample")
    t_start = starts[-1] if starts else tr.samples[0].t
    before = [(t, lo, hi) for t, lo, hi in series if t < t_oom]
    run_start: float | None = None
    for t, low, _ in reversed(before):
        if alert(low):
            run_start = t
        else:
            break
    s.possible_s = t_oom - t_start
    s.lead_s = t_oom - run_start if run_start is not None else 0.0
    s.lead_ratio = min(1.0, s.lead_s / s.possible_s) if s.possible_s > 0 else 0.0
    rose = first_rise(tr, gpu, [t for t, _, _ in series], t_oom, grew)
    if rose is not None and s.possible_s > 0:
        s.ceiling_ratio = min(1.0, (t_oom - rose) / s.possible_s)
    alerts = [(t, lo, hi) for t, lo, hi in before if alert(lo)]
    s.alert_samples = len(alerts)
    if alerts:
        widths = [hi / lo if lo and hi is not None and lo > 0 else math.inf for _, lo, hi in alerts]
        s.median_width = statistics.median(widths)
        inside = sum(
            1 for t, lo, hi in alerts if lo is not None and hi is not None and lo <= t_oom - t <= hi
        )
        s.coverage_raw = inside / len(alerts)
        s.coverage = s.coverage_raw if s.median_width <= MAX_WIDTH else 0.0
    else:
        s.coverage = s.coverage_raw = 0.0
    return s


def score_recording(
    tr: trace_mod.Trace, per_gpu: dict[int, Series], warning_s: float
) -> list[GpuScore]:
    return [score_gpu(tr, gpu, series, warning_s) for gpu, series in sorted(per_gpu.items())]


@dataclass
class Summary:
    predictor: str
    oom_recordings: int
    no_oom_gpus: int
    lead_ratio: float | None
    ceiling_ratio: float | None  # the mean ceiling over the same recordings
    coverage: float | None
    median_width: float | None
    false_alarm_recordings: int
    meets_target: bool


def summarize(name: str, scores: Sequence[GpuScore]) -> Summary:
    oom = [s for s in scores if s.expected == "oom"]
    no = [s for s in scores if s.expected == "no_oom"]
    lead = statistics.mean(s.lead_ratio or 0.0 for s in oom) if oom else None
    # (a recording whose growth never showed at this rate has a ceiling of 0)
    ceiling = statistics.mean(s.ceiling_ratio or 0.0 for s in oom) if oom else None
    cov = statistics.mean(s.coverage or 0.0 for s in oom) if oom else None
    widths = [s.median_width for s in oom if s.median_width is not None]
    fa = len({s.recording for s in no if s.false_alarm_samples > 0})
    ok = (
        (lead is None or lead >= TARGET_LEAD)
        and fa == 0
        and (cov is None or cov >= TARGET_COVERAGE)
    )
    return Summary(
        name,
        len(oom),
        len(no),
        lead,
        ceiling,
        cov,
        statistics.median(widths) if widths else None,
        fa,
        ok,
    )


# --- output -------------------------------------------------------------------------------


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def table(label: str, scores: Sequence[GpuScore]) -> str:
    lines = [
        f"{label}",
        f"{'recording':38} {'gpu':>3} {'exp':>6} {'lead/possible s':>16} {'ratio':>6} "
        f"{'ceil':>5} {'cover':>6} {'width':>6} {'alerts':>6} {'false':>6}",
    ]
    for s in scores:
        lp = f"{_f(s.lead_s, '{:.1f}')}/{_f(s.possible_s, '{:.1f}')}" if s.expected == "oom" else ""
        cov = "" if s.expected != "oom" else _f(s.coverage)
        if s.expected == "oom" and s.coverage == 0 and s.coverage_raw:
            cov = f"0({s.coverage_raw:.2f})"
        lines.append(
            f"{s.recording[:38]:38} {s.gpu:>3} {s.expected:>6} {lp:>16} "
            f"{_f(s.lead_ratio) if s.expected == 'oom' else '':>6} "
            f"{_f(s.ceiling_ratio) if s.expected == 'oom' else '':>5} {cov:>6} "
            f"{_f(s.median_width) if s.expected == 'oom' else '':>6} {s.alert_samples:>6} "
            f"{s.false_alarm_samples if s.expected == 'no_oom' else '':>6}"
        )
    return "\n".join(lines)


def summary_line(m: Summary) -> str:
    return (
        f"{m.predictor:14} lead ratio {_f(m.lead_ratio, '{:.3f}')} "
        f"(ceiling {_f(m.ceiling_ratio, '{:.3f}')})  "
        f"coverage {_f(m.coverage, '{:.3f}')} "
        f"(median width {_f(m.median_width)}x)  false-alarm recordings {m.false_alarm_recordings}"
        f"/{m.no_oom_gpus}  {'meets the target' if m.meets_target else 'misses the target'}"
    )


def evaluate(
    recordings: Sequence[trace_mod.Trace],
    predictor: Callable[[trace_mod.Trace], dict[int, Series]],
    warning_s: float,
) -> list[GpuScore]:
    scores: list[GpuScore] = []
    for tr in recordings:
        scores.extend(score_recording(tr, predictor(tr), warning_s))
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=1.0, help="samples per recording-second (1 Hz)")
    ap.add_argument("--json", metavar="PATH", help="write the scores as JSON")
    ap.add_argument("--synthetic", action="store_true", help="also score SYNTHETIC harder kinds")
    ap.add_argument("--algorithm", choices=("variance", "pelt"), default="variance")
    ap.add_argument(
        "--baseline-path",
        type=Path,
        default=DEFAULT_BASELINE,
        help="a --target install of vramtop==0.1.0",
    )
    ap.add_argument("--dir", type=Path, action="append", help="score these directories instead")
    args = ap.parse_args(argv)
    if not 0.01 <= args.rate <= 100:
        ap.error("--rate must be between 0.01 and 100 Hz")

    config = Config().with_overrides(oom_prediction={"algorithm": args.algorithm})
    warning_s = config.alerts.oom_warning_seconds
    recordings = load_recordings(args.dir or [FIXTURES, SHARED])
    if args.synthetic:
        recordings += synthetic_recordings()
    if not recordings:
        print("no recordings with meta.expected found", file=sys.stderr)
        return 1
    print(f"{len(recordings)} recordings at {args.rate:g} Hz, algorithm {args.algorithm}\n")

    ours = evaluate(recordings, lambda tr: run_vramtop(tr, args.rate, config), warning_s)
    results: dict[str, Any] = {"rate_hz": args.rate, "algorithm": args.algorithm}
    print(table("vramtop", ours) + "\n")
    summaries = [summarize("vramtop", ours)]
    results["vramtop"] = [asdict(s) for s in ours]

    base = load_baseline(args.baseline_path)
    if base is None:
        print(
            f"vramtop 0.1.0 is not installed at {args.baseline_path} "
            "(pip install --no-deps --target build/vramtop-0.1.0 vramtop==0.1.0)\n"
        )
        results["vramtop_0_1_0"] = None
    else:
        theirs = evaluate(recordings, lambda tr: run_baseline(base, tr, args.rate), warning_s)
        print(table("vramtop 0.1.0", theirs) + "\n")
        summaries.append(summarize("vramtop 0.1.0", theirs))
        results["vramtop_0_1_0"] = [asdict(s) for s in theirs]

    print("overall (targets: lead ratio >= 0.90, 0 false-alarm recordings, coverage >= 0.80)")
    for m in summaries:
        print("  " + summary_line(m))
    results["summary"] = [asdict(m) for m in summaries]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
