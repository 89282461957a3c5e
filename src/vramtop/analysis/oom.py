"""OOM prediction per GPU: a time range with a confidence, only while memory grows.

OOM is a GPU-wide event, so the predictor watches the GPU's memory, with the
processes on it as evidence. Each sample it answers two questions:

1. *If the growth goes on, when does the GPU run out?* The level that fails is
   the peak, not the mean: per-step bursts on top of a slow leak fail at the top
   of a burst, so the predictor follows the upper envelope of used memory (its
   maximum over the last `ENVELOPE_S`) and measures the headroom above it. The
   growth rate is a Theil-Sen slope of that envelope over a window that grows
   with the horizon being predicted (short windows for imminent OOM, long ones
   to average out allocator steps); the range's ends come from the fastest and
   slowest windowed rates and from the scatter around the fitted line: the low
   end is the fastest plausible growth, the high end the slowest.
2. *Will the growth go on?* That is the confidence, a probability-like product:
   - **prior**: a growth episode is either a leak (unbounded, prior
     `leak_prior`) or a bounded allocation such as a model load, a JAX
     pre-allocation or a staircase of loads, whose total size is taken as
     uniform over the GPU and whose duration has a heavy tail (`BENIGN_S`).
     Given that it has already grown by `g` (share of the GPU) for `D`
     seconds, the chance that it fills the `F0` that was free when it began is
     `(pi + (1-pi)(1-F0)T(D)) / (pi + (1-pi)(1-g)T(D))`. A 20 GB load into an
     empty 80 GB GPU stays near 0.1; the same growth beside a 60 GB ballast
     starts near 0.8. This is what tells a load from a leak early.
   - **evidence**: `sqrt(effective rises / min_sustained_samples)`, where a
     rise is a sample in which the envelope grew, and the effective count
     discounts growth made of a few big jumps (a variable batch size reaching
     new highs is not a trend). At least `MIN_RISES` rises are needed. Growth
     in big steps (>= 2% of the GPU each) with flat samples between them is a
     staircase of loads and counts half.
   - **consistency**: the lower envelope (or, early on, the raw samples) must
     rise with the upper one; peaks that rise while the floor stays flat are
     bigger bursts, not a leak. A process that the per-process phase detector
     sees GROWING, holding most of the episode's growth, also counts.
   - **deceleration**: growth whose rate falls steadily over three windows is
     extrapolated as an exponential approach to a level; if that level stays
     short of full, the confidence drops.
   - **stall**: growth that stops clears fast. An episode ends once no rise
     has come for 1.5x the longest gap seen between its rises (plus one
     sample), and the confidence decays before that.

`min_sustained_samples` therefore sets how fast confidence builds rather than a
hard wait: a hard wait of 10 samples at 1 Hz leaves the alert at most ~0.85 of
the possible lead on the reference recordings, below the 0.90 target, while
three rises beside a ballast already tell a leak from a load.

With `algorithm = "pelt"`, PELT changepoints (`pelt.py`) re-base an episode at
a significant regime change (a load running straight into a leak, growth
resuming after a pause), and the engine shows PELT's latest segment as the
GPU's phase.

Rises caused by a process appearing (its first sample) are not growth; a
process leaving and freeing memory starts the picture afresh; a single rise
that takes a large share of the headroom is an allocation event (a load, a
pre-allocation, a bigger batch), not a trend. Everything is measured in
seconds and bytes, so the same recording gives the same warnings at 0.5 s or
2 s refresh; sample counts matter only where evidence is counted.

Pure code: numbers in, numbers out. No clock, no I/O.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from vramtop.analysis.pelt import PeltResult, PeltTracker, segment_state
from vramtop.analysis.phase import PhaseParams
from vramtop.analysis.trends import theil_sen
from vramtop.model import (
    GPUDevice,
    GPUProcess,
    OOMPrediction,
    Phase,
    PhaseState,
    ProcessIdentity,
)

HORIZON_S = 3600.0
MB = 1_000_000.0

# Model constants (the shape of the model, not user preferences).
ENVELOPE_S = 10.0  # the peak envelope spans this much time (longer than a training step)
NOISE_BYTES = 1.0 * MB  # NVML granularity: smaller moves are not growth
MIN_RISES = 3  # a slope needs three rises
MIN_EFFECTIVE_RISES = 2.5  # ... not dominated by one or two jumps
JUMP_SHARE = 0.25  # one rise taking this share of the headroom is an allocation event
JUMP_VS_MEDIAN = 5.0  # ... when it is also this many times the episode's typical rise
RISE_CAP_VS_MEDIAN = 3.0  # rises are capped at this many medians when counting evidence
BENIGN_S = 90.0  # duration scale of benign growth (loads): T(D) = 1 / (1 + D / BENIGN_S)
FIRST_GAP_TOLERANCE_S = 10.0  # before gaps are known, a pause this long still continues
RATE_WINDOW_S = 10.0  # shortest window for a rate
RATE_WINDOW_RISES = 8  # ... or the time the last 8 rises took, if longer
HORIZON_SHARE = 0.5  # rate window grows to this share of the predicted time
RATE_MARGIN = 0.10  # unmodelled variation added to both ends of the rate range
SCATTER_Z = 1.5  # residual scatter, in rate-window units, widening the range
MIN_RATE_SHARE = 0.2  # the slow end never drops below this share of the central rate
LOAD_STEP_SHARE = 0.02  # rises this big (of the GPU), with flat samples between: loads
LUMPY_FACTOR = 0.5  # ... such a staircase of loads counts as half the evidence
CONSISTENCY_FULL = 0.5  # floor slope / peak slope at which consistency is complete
REGIME_RATE_RATIO = 3.0  # PELT: a segment this many times faster before is another regime
REGIME_Z = 4.0  # ... and the difference must stand this many standard errors above noise
DECEL_MIN_WINDOW_S = 10.0
STILL_SLOWING = 0.95  # the newest window's second half must grow less than this x its first
DECEL_SPAN_S = 120.0
MAX_POINTS = 1200
WINDOW_POINTS = 15


@dataclass(frozen=True, slots=True)
class OOMSettings:
    """What the engine passes in from `[oom_prediction]` and `[alerts]`."""

    min_sustained_samples: int = 10
    min_rate_bytes_per_s: float = 1.0 * MB
    warning_seconds: float = 300.0
    min_confidence: float = 0.3
    leak_prior: float = 0.05
    algorithm: str = "variance"  # or "pelt": changepoints re-base growth episodes
    pelt_min_size: int = 5
    pelt_every: int = 5  # re-run PELT every this many samples
    phase: PhaseParams = field(default_factory=PhaseParams)


@dataclass(frozen=True, slots=True)
class OOMEvidence:
    """What the latest prediction rested on (for tests, benchmarks and detail views)."""

    onset_t: float
    rises: int
    effective_rises: float
    growth_bytes: float
    headroom_bytes: float
    headroom_at_onset_bytes: float
    rate_bytes_per_s: float
    prior: float
    evidence: float
    consistency: float
    deceleration: float
    stall: float
    confidence: float


@dataclass(slots=True)
class _Point:
    t: float
    peak: float  # upper envelope
    floor: float  # lower envelope
    used: float
    headroom: float


@dataclass(slots=True)
class _Episode:
    """One run of growth of the peak envelope."""

    t0: float
    level0: float
    headroom0: float
    rises: list[tuple[float, float]] = field(default_factory=list)  # (t, size)
    gaps: list[float] = field(default_factory=list)
    points: list[_Point] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def add_point(self, p: _Point) -> None:
        self.points.append(p)
        self.times.append(p.t)
        if len(self.points) > MAX_POINTS:
            # Thin the oldest two thirds by half; the onset point stays.
            cut = (2 * len(self.points)) // 3
            kept = [self.points[0], *self.points[1:cut:2], *self.points[cut:]]
            self.points = kept
            self.times = [q.t for q in kept]

    def level_at(self, t: float) -> float:
        """Peak level of the last point at or before `t`."""
        i = bisect.bisect_right(self.times, t) - 1
        return self.points[max(0, i)].peak

    def between(self, start: float, end: float) -> list[_Point]:
        lo = bisect.bisect_left(self.times, start - 1e-9)
        hi = bisect.bisect_right(self.times, end + 1e-9)
        return self.points[lo:hi]

    def rebase(self, t: float) -> bool:
        """Start the episode at `t` (a changepoint inside it); False if too little follows."""
        i = bisect.bisect_right(self.times, t) - 1
        if i <= 0 or sum(1 for rt, _ in self.rises if rt > self.times[i]) < MIN_RISES:
            return False
        p = self.points[i]
        self.t0, self.level0, self.headroom0 = p.t, p.peak, p.headroom
        self.rises = [r for r in self.rises if r[0] > p.t]
        self.gaps = [b[0] - a[0] for a, b in itertools.pairwise(self.rises)]
        self.points = self.points[i:]
        self.times = self.times[i:]
        return True

    def median_rise(self) -> float:
        sizes = sorted(s for _, s in self.rises)
        return sizes[len(sizes) // 2] if sizes else 0.0


def _finite(x: float | int | None) -> float | None:
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _clamp01(x: float) -> float:
    return 0.0 if not math.isfinite(x) or x <= 0 else (1.0 if x >= 1 else x)


class OOMPredictor:
    """One per GPU. Feed it every sample; it returns a prediction or None."""

    def __init__(self, settings: OOMSettings | None = None) -> None:
        self.settings = settings or OOMSettings()
        self.reset()

    def reset(self) -> None:
        self._window: deque[tuple[float, float]] = deque()
        self._prev: tuple[float, float, float] | None = None  # t, peak, headroom
        self._episode: _Episode | None = None
        self._sizes: dict[ProcessIdentity, float] = {}
        self._dts: deque[float] = deque(maxlen=21)
        self._last: OOMPrediction | None = None
        self._evidence: OOMEvidence | None = None
        s = self.settings
        self._pelt: PeltTracker | None = (
            PeltTracker(min_size=s.pelt_min_size, every=s.pelt_every, params=s.phase)
            if s.algorithm == "pelt"
            else None
        )
        self._pelt_result: PeltResult | None = None

    @property
    def pelt_phase(self) -> PhaseState | None:
        """The GPU's phase from the latest PELT segment (algorithm "pelt" with ruptures)."""
        r = self._pelt_result
        if r is None or not r.available or r.last is None:
            return None
        return segment_state(r.last)

    @property
    def pelt_result(self) -> PeltResult | None:
        return self._pelt_result

    @property
    def evidence(self) -> OOMEvidence | None:
        """The evidence behind the latest computed prediction (shown or not)."""
        return self._evidence

    def _interval(self) -> float:
        if not self._dts:
            return 1.0
        ordered = sorted(self._dts)
        return ordered[len(ordered) // 2]

    # --- one sample ---------------------------------------------------------------------

    def update(
        self,
        t: float,
        device: GPUDevice,
        gpu_phase: PhaseState,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]] = (),
        *,
        pelt_preset: str | None = None,
    ) -> OOMPrediction | None:
        """One sample of one GPU. `pelt_preset` names the PELT penalty preset."""
        tt = _finite(t)
        used = _finite(device.used_bytes)
        total = _finite(device.total_bytes)
        if tt is None or used is None or total is None or total <= 0 or used < 0:
            return None
        if self._prev is not None:
            if tt == self._prev[0]:
                return self._last  # the same sample again
            if tt < self._prev[0]:
                self.reset()  # the clock went back (a replay was rewound): a new timeline
        free = _finite(device.free_bytes)
        if free is None:
            free = total - (_finite(device.reserved_bytes) or 0.0) - used
        free = max(0.0, free)
        if self._pelt is not None:
            self._pelt_result = self._pelt.update(tt, used, pelt_preset)
        self._last = self._step(tt, used, free, total, device, process_phases)
        return self._last

    def _step(
        self,
        t: float,
        used: float,
        free: float,
        total: float,
        device: GPUDevice,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]],
    ) -> OOMPrediction | None:
        self._evidence = None
        sizes = {p.identity: max(0.0, _finite(p.used_bytes) or 0.0) for p in device.processes}
        appeared = sum(v for ident, v in sizes.items() if ident not in self._sizes)
        left = any(ident not in sizes for ident in self._sizes)
        if left and self._window and used < self._window[-1][1] - NOISE_BYTES:
            # A process left and took its memory with it: the picture starts afresh.
            self._window.clear()
            self._prev = None
            self._episode = None
        self._sizes = sizes
        if self._prev is not None:
            self._dts.append(t - self._prev[0])
        dt = self._interval()

        span = max(ENVELOPE_S, 2.5 * dt)
        self._window.append((t, used))
        while self._window and self._window[0][0] < t - span:
            self._window.popleft()
        peak = max(v for _, v in self._window)
        floor = min(v for _, v in self._window)
        headroom = max(0.0, free - (peak - used))
        prev = self._prev
        self._prev = (t, peak, headroom)
        if prev is None:
            return None
        pt, ppeak, phead = prev
        if not self._track(t, pt, ppeak, phead, peak, appeared, total, dt):
            return None
        ep = self._episode
        assert ep is not None
        ep.add_point(_Point(t, peak, floor, used, headroom))
        pr = self._pelt_result
        long_enough = [
            g
            for g in (pr.segments[:-1] if pr else ())
            if g.rates >= 2 * self.settings.pelt_min_size
        ]
        if pr is not None and pr.segments and long_enough:
            last, before = pr.segments[-1], long_enough[-1]
            rate, rate_before = last.mean_rate_bytes_per_s, before.mean_rate_bytes_per_s
            # Variances are in (MB/s)^2, as the phase detector keeps them.
            spread = MB * math.sqrt(
                max(0.0, last.variance) / max(1, last.rates)
                + max(0.0, before.variance) / max(1, before.rates)
            )
            regime_change = (
                min(last.rates, before.rates) >= 2 * self.settings.pelt_min_size
                and abs(rate - rate_before) > REGIME_Z * spread
                and (
                    rate_before > REGIME_RATE_RATIO * rate or rate_before * REGIME_RATE_RATIO < rate
                )
            )
            if last.phase is Phase.GROWING and regime_change and last.start_t > ep.t0:
                # PELT found where this growth regime began: after a load that ran
                # straight into a leak, or after a pause the episode bridged.
                ep.rebase(last.start_t)
        return self._predict(ep, t, peak, headroom, total, dt, process_phases)

    def _track(
        self,
        t: float,
        pt: float,
        ppeak: float,
        phead: float,
        peak: float,
        appeared: float,
        total: float,
        dt: float,
    ) -> bool:
        """Update the growth episode; False when there is none to predict from."""
        ep = self._episode
        d_peak = peak - ppeak
        noise = max(NOISE_BYTES, self.settings.min_rate_bytes_per_s * (t - pt))
        shift = min(appeared, max(0.0, d_peak))
        if ep is not None and shift > 0:
            # A process arriving is not growth, but it takes room the growth had.
            ep.level0 += shift
            ep.headroom0 -= shift
        grow = d_peak - appeared
        if grow > max(noise, 0.05 * d_peak):
            jump = grow > JUMP_SHARE * max(phead, 1.0) and (
                ep is None or grow > JUMP_VS_MEDIAN * ep.median_rise()
            )
            if jump:
                # One allocation that takes a large share of what was left: an event
                # (a load, a pre-allocation, a bigger batch), not a trend.
                self._episode = None
                return False
            if ep is None:
                ep = self._episode = _Episode(t0=pt, level0=ppeak, headroom0=phead)
                ep.add_point(_Point(pt, ppeak, ppeak, ppeak, phead))
            if ep.rises:
                ep.gaps.append(t - ep.rises[-1][0])
            ep.rises.append((t, grow))
        elif d_peak < -max(noise, 0.02 * total):
            self._episode = None  # memory was given back: this growth is over
            return False
        if ep is None:
            return False
        pause = t - ep.rises[-1][0]
        longest = max(ep.gaps) if ep.gaps else dt
        limit = max(2 * dt, 1.5 * longest + dt, FIRST_GAP_TOLERANCE_S / max(1, len(ep.gaps)))
        if pause > limit:
            self._episode = None  # growth stopped
            return False
        return True

    # --- the prediction -------------------------------------------------------------------

    def _predict(
        self,
        ep: _Episode,
        t: float,
        peak: float,
        headroom: float,
        total: float,
        dt: float,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]],
    ) -> OOMPrediction | None:
        s = self.settings
        n = len(ep.rises)
        if n < MIN_RISES:
            return None
        sizes = sorted(size for _, size in ep.rises)
        cap = RISE_CAP_VS_MEDIAN * sizes[len(sizes) // 2]
        capped_sizes = [min(x, cap) for x in sizes]
        sq = sum(x * x for x in capped_sizes)
        n_eff = sum(capped_sizes) ** 2 / sq if sq > 0 else 0.0
        if n_eff < MIN_EFFECTIVE_RISES:
            return None
        dur = t - ep.t0
        if dur <= 0:
            return None

        rate, r_lo, r_hi = self._rates(ep, t, peak, headroom, dt, n, dur)
        if rate < s.min_rate_bytes_per_s or r_hi <= 0:
            return None
        low = headroom / r_hi
        high = headroom / r_lo if r_lo > 0 else math.inf

        pi = min(1.0, max(0.0, s.leak_prior))
        f0 = min(1.0, max(0.0, ep.headroom0 / total))
        g = min(1.0, max(0.0, (peak - ep.level0) / total))
        benign = 1.0 / (1.0 + dur / BENIGN_S)
        denom = pi + (1 - pi) * (1 - g) * benign
        prior = (pi + (1 - pi) * (1 - f0) * benign) / denom if denom > 0 else 1.0
        evidence = math.sqrt(min(1.0, n_eff / max(1, s.min_sustained_samples)))
        gaps = sorted(ep.gaps)
        if (
            gaps
            and sizes[len(sizes) // 2] >= LOAD_STEP_SHARE * total
            and (gaps[len(gaps) // 2] >= 2 * dt)
        ):
            # Big steps that flatten between them: a staircase of loads, not a leak.
            evidence *= LUMPY_FACTOR
        consistency = self._consistency(ep, t, dur, dt, peak, process_phases)
        deceleration = self._deceleration(ep, t, dur, dt, peak, headroom)
        longest = max(ep.gaps) if ep.gaps else dt
        pause = t - ep.rises[-1][0]
        stall = math.exp(-max(0.0, pause - longest) / max(longest, dt))
        confidence = _clamp01(prior * evidence * consistency * deceleration * stall)
        self._evidence = OOMEvidence(
            onset_t=ep.t0,
            rises=n,
            effective_rises=n_eff,
            growth_bytes=peak - ep.level0,
            headroom_bytes=headroom,
            headroom_at_onset_bytes=ep.headroom0,
            rate_bytes_per_s=rate,
            prior=_clamp01(prior),
            evidence=evidence,
            consistency=consistency,
            deceleration=deceleration,
            stall=stall,
            confidence=confidence,
        )
        if confidence < s.min_confidence:
            return None
        capped = low >= HORIZON_S
        if capped:
            low = high = HORIZON_S
        else:
            high = max(low, min(high, HORIZON_S))
        return OOMPrediction(
            seconds_low=low,
            seconds_high=high,
            confidence=confidence,
            rate_low_bytes_per_s=r_lo,
            rate_high_bytes_per_s=r_hi,
            capped=capped,
            alert=(not capped) and low <= s.warning_seconds,
        )

    def _rates(
        self, ep: _Episode, t: float, peak: float, headroom: float, dt: float, n: int, dur: float
    ) -> tuple[float, float, float]:
        """Central, slowest and fastest plausible growth rate of the peak (bytes/s)."""
        recent = t - ep.rises[-RATE_WINDOW_RISES][0] + dt if n >= RATE_WINDOW_RISES else dur
        length = min(dur, max(RATE_WINDOW_S, 3 * dt, recent))
        first = (peak - ep.level_at(t - length)) / length
        if first > 0:
            length = min(dur, max(length, HORIZON_SHARE * headroom / first))
        rates: list[float] = []
        for j in range(5):
            end = t - j * length / 4
            start = end - length
            if start < ep.t0 - 1e-9:
                continue
            pts = [(p.t, p.peak) for p in ep.between(start, end)]
            if len(pts) >= 2:
                rates.append(theil_sen(pts, WINDOW_POINTS))
        if not rates:
            rates.append((peak - ep.level0) / dur)
        rate = rates[0]
        scatter = 0.0
        window = [(p.t, p.peak) for p in ep.between(t - length, t)]
        if rate > 0 and len(window) >= 3:
            offsets = sorted(v - rate * x for x, v in window)
            icpt = offsets[len(offsets) // 2]
            resid = sorted(abs(v - (icpt + rate * x)) for x, v in window)
            sigma = 1.4826 * resid[len(resid) // 2]
            scatter = SCATTER_Z * sigma / (rate * length) + sigma / max(headroom, 1.0)
        r_hi = max(max(rates), rate * (1 + scatter)) * (1 + RATE_MARGIN)
        r_lo = min(min(rates), rate * max(MIN_RATE_SHARE, 1 - scatter)) * (1 - RATE_MARGIN)
        return rate, max(0.0, r_lo), r_hi

    def _consistency(
        self,
        ep: _Episode,
        t: float,
        dur: float,
        dt: float,
        peak: float,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]],
    ) -> float:
        """Does the floor rise with the peak? Bigger bursts lift only the peak."""
        span = max(ENVELOPE_S, 2.5 * dt)
        if dur >= 2 * span:
            pts = ep.between(ep.t0 + span, t)
            floor_slope = theil_sen([(p.t, p.floor) for p in pts])
            peak_slope = theil_sen([(p.t, p.peak) for p in pts])
        else:
            floor_slope = theil_sen([(p.t, p.used) for p in ep.points], 60)
            peak_slope = theil_sen([(p.t, p.peak) for p in ep.points], 60)
        ratio = _clamp01(floor_slope / peak_slope / CONSISTENCY_FULL) if peak_slope > 0 else 0.0
        # Per-process evidence: a process the phase detector sees GROWING, holding most
        # of this episode's growth, is a floor that rises.
        growth = peak - ep.level0
        if growth > 0:
            for _proc, phase in process_phases:
                rate = _finite(phase.rate_bytes_per_s) or 0.0
                grown = rate * min(dur, phase.duration_samples * dt)
                if phase.phase is Phase.GROWING and grown >= 0.5 * growth:
                    ratio = max(ratio, _clamp01(phase.confidence))
        return ratio

    def _deceleration(
        self, ep: _Episode, t: float, dur: float, dt: float, peak: float, headroom: float
    ) -> float:
        """Growth slowing steadily toward a level short of full is not heading for OOM."""
        span = min(dur, DECEL_SPAN_S)
        third = span / 3
        if third < max(DECEL_MIN_WINDOW_S, 4 * dt):
            return 1.0
        start = t - span
        levels = [ep.level_at(start + i * third) for i in range(3)] + [peak]
        rates = [(levels[i + 1] - levels[i]) / third for i in range(3)]
        counts = [
            sum(1 for rt, _ in ep.rises if start + i * third < rt <= start + (i + 1) * third)
            for i in range(3)
        ]
        sig = [1 + 2 / math.sqrt(max(1, min(counts[i], counts[i + 1]))) for i in range(2)]
        if not (rates[0] > 0 and rates[1] * sig[0] < rates[0] and rates[2] * sig[1] < rates[1]):
            return 1.0
        if rates[2] <= 0:
            return 0.0
        if math.log(rates[1] / rates[2]) < 0.5 * math.log(rates[0] / rates[1]):
            return 1.0  # a drop that then levels off (a load ending in a leak), not a decay
        mid = t - third / 2
        newer, older = (peak - ep.level_at(mid)), (ep.level_at(mid) - ep.level_at(t - third))
        if newer >= STILL_SLOWING * older:
            return 1.0  # the newest stretch is not slowing down any more: it levelled into a trend
        lam = math.log(rates[1] / rates[2]) / third
        rate_now = rates[2] * math.exp(-lam * third / 2)
        still_to_come = rate_now / lam
        return min(1.0, still_to_come / max(headroom, 1.0)) ** 2
