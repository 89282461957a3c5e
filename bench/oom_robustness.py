"""Does the OOM predictor hold on series it has never seen? The measure of overfitting.

bench/oom_accuracy.py scores the real recordings; tuning the predictor against them
alone would fit those files. This benchmark generates many SYNTHETIC series
(`tests/analysis_synthetic.py`'s `FAMILIES`: never measured on a GPU) of every kind the
predictor must tell apart, each with random parameters drawn from its seed:

- OOM kinds: leaks of 40-1500 MB/s (smooth, noisy, in allocator chunks), irregular
  allocator steps, per-step bursts on a slow leak, two leakers, a load running into a
  leak, a leak beside a process that takes 1-4 GB for part of every 6-30 s;
- no-OOM kinds: random batch sizes (activations freed, or kept by a caching allocator),
  growth that stops 1-5 GB short of full (alone, or beside such a swinging process),
  growth that levels off, model loads (ending 1-20 GB short), staircases of loads,
  stable sawtooth training, pre-allocation.

Each process appears 2-5 s after its `start` event (CUDA start-up, as on the H100
recordings), at a random phase of the sampling clock. Every series is played through
the same engine path as `vramtop replay FILE --jsonl --rate R` at several refresh
rates (2, 1 and 0.5 Hz, one sample per 5 s and per 10 s) and scored exactly as
bench/oom_accuracy.py scores the real recordings (its functions, not a copy).

Two fixed seed sets: the *tuning* seeds may be looked at while changing the
predictor; the *checking* seeds are the held-out measure and only reported.

    python bench/oom_robustness.py [--seeds tuning|checking|both] [--rates 1,0.5]
        [--kinds leak,var_batch_free] [--runs] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import oom_accuracy as acc  # noqa: E402

# SYNTHETIC: generated, never measured on a GPU.
import analysis_synthetic as syn  # type: ignore[import-not-found,unused-ignore]  # noqa: E402
from vramtop.config import Config  # noqa: E402

TUNING_SEEDS = tuple(range(8))
CHECKING_SEEDS = tuple(range(1000, 1008))
RATES_HZ = (2.0, 1.0, 0.5, 0.2, 0.1)


@dataclass
class KindScore:
    kind: str
    expected: str
    runs: int = 0
    lead_ratio: float | None = None  # mean over runs (OOM kinds)
    coverage: float | None = None  # mean over runs (OOM kinds)
    median_width: float | None = None
    false_alarm_runs: list[str] = field(default_factory=list)  # "name@t" (no-OOM kinds)
    weak_runs: list[str] = field(default_factory=list)  # "name ratio" under 0.75 (OOM kinds)


@dataclass
class RateScore:
    rate_hz: float
    seeds: str
    kinds: list[KindScore]
    lead_ratio: float | None  # mean over all OOM runs
    coverage: float | None
    false_alarm_runs: int
    no_oom_runs: int


def score_series(kind: str, seed: int, rate_hz: float, config: Config) -> acc.GpuScore:
    tr = syn.family(kind, seed)
    (score,) = acc.score_recording(
        tr, acc.run_vramtop(tr, rate_hz, config), config.alerts.oom_warning_seconds
    )
    return score


def score_rate(
    kinds: Sequence[str], seeds: Sequence[int], label: str, rate_hz: float, config: Config
) -> RateScore:
    out: list[KindScore] = []
    all_oom: list[acc.GpuScore] = []
    fa = no = 0
    for kind in kinds:
        scores = [score_series(kind, seed, rate_hz, config) for seed in seeds]
        ks = KindScore(kind, scores[0].expected, runs=len(scores))
        oom = [s for s in scores if s.expected == "oom"]
        if oom:
            ks.lead_ratio = statistics.mean(s.lead_ratio or 0.0 for s in oom)
            ks.coverage = statistics.mean(s.coverage or 0.0 for s in oom)
            widths = [s.median_width for s in oom if s.median_width is not None]
            ks.median_width = statistics.median(widths) if widths else None
            ks.weak_runs = [
                f"{s.recording.split(':')[-1]} {s.lead_ratio or 0.0:.2f}"
                for s in oom
                if (s.lead_ratio or 0.0) < 0.75
            ]
            all_oom += oom
        for s in scores:
            if s.expected == "no_oom":
                no += 1
                if s.false_alarm_samples:
                    fa += 1
                    ks.false_alarm_runs.append(
                        f"{s.recording.split(':')[-1]}@{s.first_false_alarm_t:.0f}s"
                    )
        out.append(ks)
    lead = statistics.mean(s.lead_ratio or 0.0 for s in all_oom) if all_oom else None
    cov = statistics.mean(s.coverage or 0.0 for s in all_oom) if all_oom else None
    return RateScore(rate_hz, label, out, lead, cov, fa, no)


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def report(r: RateScore, runs: bool) -> str:
    lines = [
        f"{r.seeds} seeds at {r.rate_hz:g} Hz: lead ratio {_f(r.lead_ratio)}, coverage "
        f"{_f(r.coverage)}, false-alarm runs {r.false_alarm_runs}/{r.no_oom_runs}",
        f"  {'kind':16} {'exp':>6} {'runs':>4} {'lead':>6} {'cover':>6} {'width':>6} {'false':>5}",
    ]
    for k in r.kinds:
        lines.append(
            f"  {k.kind:16} {k.expected:>6} {k.runs:>4} {_f(k.lead_ratio):>6} "
            f"{_f(k.coverage):>6} {_f(k.median_width, '{:.2f}'):>6} "
            f"{len(k.false_alarm_runs) if k.expected == 'no_oom' else '':>5}"
        )
        if runs and (k.false_alarm_runs or k.weak_runs):
            lines.append("      " + ", ".join(k.false_alarm_runs + k.weak_runs))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", choices=("tuning", "checking", "both"), default="both")
    ap.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES_HZ), help="Hz, comma")
    ap.add_argument("--kinds", default=",".join(syn.FAMILIES), help="comma-separated kinds")
    ap.add_argument("--runs", action="store_true", help="name false-alarm and weak runs")
    ap.add_argument("--algorithm", choices=("variance", "pelt"), default="variance")
    ap.add_argument("--json", metavar="PATH", help="write the scores as JSON")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in syn.FAMILIES]
    if unknown:
        ap.error(f"unknown kinds: {', '.join(unknown)} (known: {', '.join(syn.FAMILIES)})")
    try:
        rates = [float(x) for x in args.rates.split(",") if x]
    except ValueError:
        ap.error("--rates takes numbers in Hz, comma-separated")
    if not rates or not all(0.01 <= r <= 100 for r in rates):
        ap.error("--rates must be between 0.01 and 100 Hz")
    sets = {"tuning": TUNING_SEEDS, "checking": CHECKING_SEEDS}
    labels = list(sets) if args.seeds == "both" else [args.seeds]
    config = Config().with_overrides(oom_prediction={"algorithm": args.algorithm})

    results: list[RateScore] = []
    for rate in rates:
        for label in labels:
            r = score_rate(kinds, sets[label], label, rate, config)
            results.append(r)
            print(report(r, args.runs) + "\n", flush=True)
    print("summary (lead ratio / coverage over OOM runs; false-alarm runs of no-OOM runs)")
    for r in results:
        print(
            f"  {r.rate_hz:>4g} Hz {r.seeds:9} lead {_f(r.lead_ratio)}  coverage "
            f"{_f(r.coverage)}  false alarms {r.false_alarm_runs}/{r.no_oom_runs}"
        )
    if args.json:
        out: dict[str, Any] = {"results": [asdict(r) for r in results]}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
