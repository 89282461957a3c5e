"""OOM prediction per GPU: a time range with a confidence, only while memory grows.

OOM is a GPU-wide event, so the predictor watches the GPU's memory, with the
processes on it as evidence. The series it follows is GPU used less what processes
brought when they arrived (a process's first known size is its CUDA context and
first allocations, not growth; a small rise in the same sample is accounting). A
process that stayed still beside an established growth and allocates a large share
of the headroom at once (a model load, often the sample after NVML first listed it)
is set aside the same way (`_aside`): the room shrinks, the growth goes on. What a
process that took no part in the growth gives back leaves the series where it was
(one that gives back all it took since the onset while another grows on took no
part either: its rise was a swing), and what it takes again neither shrinks the room
nor hides the growth's own rise in that sample. From its first give-back the growth's
past is read again with it held (`_reread`): swings it made before the onset were
its own, not a swinging series'. Outside a growth (`_outside`) a process's swings
stay in the series until another process rises while it is down and the envelope
still holds its peak: from then the series holds it at that peak, over the
envelope's span too, so the other's growth is not hidden under the swing's memory
(and a growth its own swing began is over); what a process takes back, just what it
gave, is a swing, not a rise, however long it stayed down. A growth that begins
starts with these holds, and one that ends leaves them held.
Given back once, it is room (a one-off allocation); once the process has taken it
again, it swings, and what it gives back is held for it (the peak fails, however
long it rests between): the GPU fails at its next swing up after the growth has
taken the room the swing needs, which the slow end of the range reaches. One whose
tops, each short of what it gave, meet the GPU at its highest used again and again
takes what fits (a batch sized to the free memory: `_Episode.topped`): its swings
shrink as the growth takes room, and the GPU fails once the growth has taken their
room too. Beside
such processes whose rhythms are known (`_Cycle`: how long each rests and swings, and
its cycle from its first swing to its newest; up to `MAX_SCHEDULED` of them), the
range's ends are the swings the crossing's ends may meet, with the room of those
down taken too, each cycle ahead less certain than the one before. A swinging series
whose floor climbs with its peak (each burst higher, the troughs between too) is a
growth with swings on top, which may rest between its steps. Each sample it answers
two questions:

1. *If the growth goes on, when does the GPU run out?* The level that fails is
   the peak, not the mean: per-step bursts on top of a slow leak fail at the top
   of a burst, so the predictor follows the upper envelope of memory (its maximum
   over the last `ENVELOPE_S`) and measures the headroom above it.
   - **rate**: a Theil-Sen slope along the growth's *arrivals* (the level right
     after each rise), so irregular allocator steps are measured along their
     corners rather than across their flats. The window reaches back as far as
     the growth looks the same: to the onset, to the end of a pause its other gaps
     make implausible (`_long_pause`; once such pauses recur they are the
     growth's rhythm, and the window spans them from the first), or to a change
     of rate (`_changepoint`: where a process arrived, or where one that rose at
     every sample stopped while another grows on, one deviating increment
     widens the range and two move it; a growth's first few rises, a sample apart,
     three times as fast as the four or more after them, are its start-up;
     elsewhere a change must stand out of the rates older windows of the same
     length showed, including the tails of irregular steps).
   - **range**: one standard deviation either way of a renewal model of the
     rises (`RANGE_Z`): the rate measured over k rises is off by about
     cv/sqrt(k) (cv: the rises' gaps' and sizes' variation) plus unmodelled drift
     (`RATE_DRIFT`), and the k_f rises still needed before full take their own
     time, off by cv/sqrt(k_f). The failing allocation is the first step that
     does not fit: growth in steps the sampling resolves fails, on average, half
     a (size-weighted) step beyond the line. Growth that speeds up beyond doubt (a
     quadratic through the arrivals, `_acceleration`, its errors taken from the
     rates between arrivals, which are independent where the levels are not) fills
     as the quadratic does: the range is its curvature's and slope's errors either
     way. A change of rate does not hide the speeding up from before it (or from
     the newest process's arrival, which explains a change there).
   - **an allocator reserving ahead**: XLA's and TensorFlow's BFC allocator, when it
     may not take the GPU at start, grows in regions that double, each reserved when
     the ones before are used up (`_reserving`). Its rises are not steps of the
     demand: the demand is a region's size over the time until the next, the newest
     region is room still to use, a region taking most of what is left is the next
     one (not a load; it may itself complete the doubling run, where the first
     regions fell across samples), and at full the allocator waits
     `RESERVE_RETRY_S` for memory to come back before it fails.
   - **a rhythm of runs and rests** (a leak that pauses while a loop evaluates or
     checkpoints): once three runs have begun, finished runs growing alike and
     starting a steady period apart, the range is their schedule (`_Rhythm`): the
     GPU fails in the run that takes the last of the room, at the point of it where
     that room is gone, each run's growth, period and length known to within what
     the runs seen differed by and a sample.
   - **deep mode**: memory the growing processes reserved but have not allocated
     (`ProcessInfo.deep`) is handed out to them before the GPU must give more; it
     is room for their growth (at the fast end only outside split blocks).
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
     discounts growth made of a few big jumps. Two similar rises in a row make a
     trend on a *quiet* series (memory swung less before the onset than it has
     grown since; memory that only rose then did not swing), when each is a
     small share of the headroom (a few more such steps filling the GPU are
     allocation events; for a fresh start the share is per second of the sample,
     up to two, as a steady leak's rise is); on a swinging one they do only
     if the swings climb (every burst a new high, the troughs rising with the
     peaks), and in big steps only if the bursts are also one size to NVML's
     granularity (`_steady_bursts`: a training step of one shape on a leak);
     otherwise it takes `TREND_EFFECTIVE_RISES`. On a swinging series,
     however many rises, the newest two swings must climb together
     (`_climbing_cycles`: each with a higher trough and a higher peak, the troughs
     rising at the peaks' rate): random batch sizes reach new highs by chance,
     a few in a row now and then, but their troughs do not climb with them.
     A process that arrived small on the sample before (a CUDA context and at
     most `FRESH_ARRIVAL_RISES` of its first rise) and grows at once is a
     *fresh start*: its start is the growth's first step, so it counts as one
     more rise, one small rise of it on a quiet series warns (and clears at the
     next flat sample; a second rise keeps the warning the first raised), and it
     starts its own episode when what came before was not yet a trend, or a few
     MB of accounting beside its first rise. Growth in big steps
     (>= 2% of the GPU each; loads of one size count so with a few MB of
     accounting between them) with flat samples between them is a staircase of
     loads and counts about a third.
   - **consistency**: the floor must rise with the peak (`_floor_ratio`: the
     lowest memory over the last few gaps between rises against the peak's rise
     up to then); peaks that rise while the floor stays flat, or a floor far
     above where it was, are random batch sizes, not a leak. On a swinging
     series most bursts must be new highs. A process that the per-process phase
     detector sees GROWING, holding most of the growth, also counts.
   - **deceleration**: growth whose rate falls steadily over three windows is
     extrapolated as an exponential approach to a level; if that level stays
     short of full, the confidence drops. At a refresh so slow that such windows
     take a minute, four rises a sample apart, each at most 0.7 of the one before,
     say the same (`_decaying_rises`: a sum that converges).
   - **stall**: growth that stops clears fast. The confidence decays once the
     pause exceeds the longest gap seen (irregular steps, whose longest gap so far
     understates the next long one, 1.3x that); once a regular rhythm is known (a
     leak rising at every sample), a gap longer than all of them clears it at once
     (steps of very different sizes, or some under half the typical one, skip a
     sample by chance: a sample later).
     Before that, a pause that with the sample to come spans at most `STALL_HOLD_S`
     (four flat samples at 1 Hz) is a rest, not a stop, unless at the growth's rate the GPU
     would have been full by then (a load): stop-go leaks rest, and the first rest of
     one whose rises came a sample apart cost its warning the lead (`_stall`).
     Memory that fell below the peak and climbs on by the growth's own step, where
     the growth rose at every sample lately, is the growth going on (bursts meeting
     the samples in a long beat: many tops in a row, then as many troughs), and a
     sample that fell waits for the next to say which (`_climbs_on`).
     The prediction stops after 1.5x the longest gap (irregular steps 1.95x), plus
     one sample; on a quiet series growth resuming within a few typical gaps
     continues the same episode (irregular steps pause now and then), on a swinging
     one it does not.
     Growth resumes inside a sampling interval, so the first two rises after a
     pause together decide whether it is the same growth. Bursts tell sooner than
     the rhythm: one that swings from a trough after the last rise as far as the
     others do, yet sets no new high, says the floor under them stopped rising
     (`_burst_without_climb`); so does a trough after the last rise that rose from the
     one before at under half the rate the troughs climbed at (`_trough_without_climb`).

A prediction is shown from `min_confidence` on, and one whose earliest failure is
minutes off needs more (`_needed_confidence`): it can wait a few samples for its
rate at almost no cost in lead, while the first rises of a slow, noisy leak overstate
it.
None is shown for growth under `FLASH_S` old that would fill the GPU sooner than it
has grown: a burst that took most of the room at once (a first batch, weights copied
in), or a leak too fast for any warning to help.

`min_sustained_samples` therefore sets how fast confidence builds rather than a
hard wait: a hard wait of 10 samples at 1 Hz leaves the alert at most ~0.85 of
the possible lead on the reference recordings, while two rises beside a ballast
already tell a leak from a load.

With `algorithm = "pelt"`, PELT changepoints (`pelt.py`) re-base an episode at
a significant regime change (a load running straight into a leak, growth
resuming after a pause), and the engine shows PELT's latest segment as the
GPU's phase.

A process that took part in the growth leaving and freeing memory starts the
picture afresh; one that did not (a bystander of known size) leaves its memory as
room for the same growth, whose evidence stands; a single rise
that takes a large share of the headroom is an allocation event (a load, a
pre-allocation, a bigger batch), not a trend, except in a trend of irregular steps,
which make such a step now and then: its room is gone, the trend goes on
(`_jump_beside_trend`). Everything is measured in
seconds and bytes, so the same recording gives much the same warnings at 0.5 s
or 2 s refresh; sample counts matter only where evidence is counted.

Pure code: numbers in, numbers out. No clock, no I/O.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from vramtop.analysis.pelt import PeltResult, PeltTracker, segment_state
from vramtop.analysis.phase import PhaseParams
from vramtop.analysis.trends import theil_sen, thinned
from vramtop.model import (
    DeepStats,
    GPUDevice,
    GPUProcess,
    OOMPrediction,
    Phase,
    PhaseState,
    ProcessIdentity,
    ProcessInfo,
)

HORIZON_S = 3600.0
MB = 1_000_000.0

# Model constants (the shape of the model, not user preferences).
ENVELOPE_S = 10.0  # the peak envelope spans this much time (longer than a training step)
NOISE_BYTES = 1.0 * MB  # NVML granularity: smaller moves are not growth
ARRIVAL_SLACK = 0.05  # a rise under this share of an arriving process's size is accounting
# ... and so is one under this where no process already there rose (a context's first
# megabytes: 5-12 MB in the recordings, whatever the process's size)
ARRIVAL_ACCOUNTING_BYTES = 16 * MB
MIN_RISES = 2  # a slope needs two rises ...
MIN_EFFECTIVE_RISES = 1.8  # ... of similar size
TREND_EFFECTIVE_RISES = 2.5  # fewer effective rises than this: only on a quiet series ...
QUICK_TREND_SHARE = 0.05  # ... with rises under this share of the headroom each
# (a fresh start's share grows with the sample, up to 2 s: at 0.5 Hz a leak filling the
# room in 20-40 s rises 5-10% of it a sample, and a load seen so comes with its model,
# which makes no fresh start; session 21)
REBASE_MIN_RISES = 3  # PELT re-bases an episode only with this many rises after
JUMP_SHARE = 0.25  # one rise taking this share of the headroom is an allocation event
JUMP_VS_MEDIAN = 5.0  # ... when it is also this many times the episode's typical rise
FRESH_VS_BEFORE = 0.2  # growth before a fresh process's first rise under this share of it
CONTEXT_BYTES = 600 * MB  # about what a CUDA context costs (0.5 GB on an H100)
FRESH_ARRIVAL_RISES = 4.0  # a fresh start came with at most this many of its rises beyond that
# (6 until session 21: var_batch_b at 0.7 Hz, first seen with a 6.6 GB batch and then
# 1.1 GB more, 5.4 rises, was a fresh start and with the share per second alarmed; at 4,
# grower_stops_late and leaker_stops warn half a sample later at 2 Hz, and nothing else
# moved at 0.1-2 Hz)
RISE_CAP_VS_MEDIAN = 3.0  # rises are capped at this many medians when counting evidence
FLASH_S = 5.0  # growth this young that would fill the GPU sooner than it grew: a burst
BENIGN_S = 90.0  # duration scale of benign growth (loads): T(D) = 1 / (1 + D / BENIGN_S)
FIRST_GAP_TOLERANCE_S = 10.0  # before gaps are known, a pause this long still continues
STALL_RHYTHM_GAPS = 8  # with this many regular gaps known, a longer one in progress ...
STALL_RHYTHM_MIN_SPAN_S = 8.0  # ... (spanning this much: a few seconds at 4 Hz are no rhythm)
STALL_RHYTHM_MIN_GAPS = 3  # ... (or this many of one sample each, spanning STALL_RHYTHM_SPAN_S:
STALL_RHYTHM_SPAN_S = 15.0  # ... at a slow refresh a rise per sample averages many steps)
STALL_REGULAR_CV2 = 0.1  # ... clears the alert (regular: squared variation of gaps under this)
STALL_UNEVEN_CV2 = 0.25  # ... at once, unless its steps' sizes vary more than this
STALL_UNEVEN_MAX_DT = 2.0  # ... and samples come this often or more
STALL_GRANULAR_SHARE = 0.5  # ... or its smallest step is under this share of its median
IRREGULAR_PAUSE_SLACK = 1.3  # irregular steps may pause this much longer than their longest gap
# A pause is no sign of a stop while it and the sample to come span this: a young
# leak's rests of up to 5 s are held, and a stop still clears by the first sample more
# than 5 s after the one before its last rise (the measure forgives alerts up to 5 s
# after it; the stop came after that sample). 3 s until session 19 (stop_go_long's
# first rest, 4 s, cleared its alert), 4 s until session 21 (stop_go_rest5's, 5 s).
STALL_HOLD_S = 5.0
STALL_PARTIAL_STEP = 0.2  # on such a rhythm, a rise under this share of its smallest step ends it
STALL_YOUNG_PARTIAL_STEP = 0.6  # ... on a younger one of even steps, a sample apart, this share
DORMANT_FACTOR = 3.0  # growth resuming within this many such pauses continues the episode
DORMANT_SPAN_FACTOR = 8.0  # ... or later, after a pause of at most this x its duration (_resumed)
# (DORMANT_SPAN_FACTOR was 2x until session 4: a step leak rose for 3 s, paused 18 s and
# went on; no fixture recording or synthetic run scores differently between 2x and 8x,
# and with no limit one caching-allocator development seed false-alarms)
FIRST_STEP_SPAN_S = 30.0  # ... or a single step, by one as big (up to STEP_AGAIN_RATIO x) ...
STEP_AGAIN_RATIO = 1.5  # ... this soon after it (a far bigger one, after FIRST_GAP_TOLERANCE_S
# with nothing between, starts a new growth instead: `_track`); rises within it of each
# other are the same lump (`_Episode.made_rise`)
FLOOR_CLIMB_SHARE = 0.5  # a swinging series whose floor rose this share of its growth rests
RATE_SPAN_S = 60.0  # a rate window reaches back at least this far (or the predicted time)
RATE_MIN_ARRIVALS = 8  # ... and keeps at least this many arrivals
RANGE_Z = 1.0  # the range spans one standard deviation either way
RATE_DRIFT = 0.08  # unmodelled drift of the rate (relative standard deviation)
TRIM_FROM = 8  # irregularity ignores the largest gap and rise once there are this many
CV_ARRIVALS = 60  # irregularity is measured over the newest this many arrivals
CV2_PRIOR = 0.25  # irregularity assumed before it is measured ...
CV2_PRIOR_WEIGHT = 2.0  # ... worth this many arrivals
CV2_MAX = 4.0  # squared variation is capped here (a few wild values say little more)
PAUSE_ALPHA = 0.05  # a gap this unlikely among the others is a pause: rates restart after it
PAUSE_SCAN = 120  # ... looked for among the newest gaps (older ones were found then)
RHYTHM_FLAT = 2.0  # a gap over this many samples is a rest (over RHYTHM_REST x the gaps
RHYTHM_REST = 3.0  # ... within runs, where those are more than a sample) ...
RHYTHM_SCAN = 400  # ... looked for among the newest this many arrivals
RHYTHM_RUNS = 3  # ... and growth with this many runs between rests has a rhythm (_rhythm)
RHYTHM_KEEP = 8  # ... read over its newest this many runs
RHYTHM_GROWTH_RATIO = 1.5  # a steady rhythm: runs grow within this ratio of each other ...
RHYTHM_JITTER = 0.25  # ... and their periods within this share (beyond a sample each way)
RHYTHM_REST_SHARE = 0.3  # ... with rests of at least this share of it
CHANGE_MAX_M = 8  # a change of rate is looked for in the newest 2..8 increments ...
CHANGE_NULL_ARRIVALS = 48  # ... among the newest this many arrivals
CHANGE_MIN_NULL = 5  # ... against at least this many older windows
ARRIVAL_MIN_NULL = 3  # ... or this many where a process arrived (a kink known in advance)
# (4.0 until a leak in chunks of 0-3x their size showed 4.3 by chance over four arrivals)
CHANGE_Z = 4.5  # robust deviations for a confirmed change (two increments or more)
CHANGE_Z_NEW = 3.0  # ... for one increment, which only widens the range
CHANGE_MIN_ARRIVALS = 4.0  # ... over a window that holds this many arrivals, on average
CHANGE_REL_FLOOR = 0.1  # windows' rates vary at least this much (relative) in the null
MIN_RATE_SHARE = 0.2  # the slow end never drops below this share of the central rate
LOAD_STEP_SHARE = 0.02  # rises this big (of the GPU), with flat samples between: loads
SWING_SHARE = 0.01  # a process moving this much (of the GPU) at once swings (`_outside`, `_Cycle`)
CAPPED_TOPS = 3  # a swinger whose tops, short of what it gave, met the GPU this often ...
CAP_TOLERANCE_SHARE = 0.002  # ... at its highest used (to this share of the GPU) takes what fits
LUMPY_FACTOR = 0.35  # ... such a staircase of loads counts as about a third of the evidence
CLIMB_SHARE = 0.7  # on a swinging series, this share of bursts must be new highs
CYCLE_RATE_RATIO = 2.0  # ... and the newest swings' troughs rise within this factor of the peaks
STEADY_CYCLES = 2  # bursts of one size (`_steady_bursts`): this many swings in a row climbed
STEADY_AMPLITUDE_BYTES = 2 * NOISE_BYTES  # ... the last two as high above their troughs to this
BURST_SWING_SHARE = 0.5  # a burst swings at least this share of the typical one (not noise)
CONSISTENCY_FULL = 0.7  # floor rise / peak rise (either way) at which consistency is complete
REGIME_RATE_RATIO = 3.0  # PELT: a segment this many times faster before is another regime
REGIME_Z = 4.0  # ... and the difference must stand this many standard errors above noise
DECEL_MIN_WINDOW_S = 10.0  # deceleration needs three windows at least this long
STILL_SLOWING = 0.95  # the newest window's second half must grow less than this x its first
DECEL_SPAN_S = 120.0  # ... over at most this much history
DECAY_RISES = 4  # or the newest this many rises, a sample apart, each ...
DECAY_RATIO = 0.7  # ... at most this share of the one before (a sum that converges)
ACCEL_MIN_ARRIVALS = 8  # acceleration is looked for over at least this many arrivals ...
ACCEL_Z = 4.0  # ... where a quadratic's curvature stands this many standard errors above 0
ACCEL_RATE_RATIO = 1.25  # ... and the rate now is this much above the window's
ACCEL_MAX_POINTS = 240  # ... fitted through at most this many of them (thinned evenly)
STARTUP_ARRIVALS = 4  # a growth's first few arrivals REGIME_RATE_RATIO x faster ...
STARTUP_AFTER = 4  # ... than at least this many after them: a start-up, then the growth
STOP_HINT_RISES = 3  # a process that rose this many samples in a row, then not: a kink
RESERVE_RATIO = (1.6, 2.6)  # an allocator reserving ahead (XLA's BFC) doubles its regions ...
RESERVE_MIN_DOUBLINGS = 2  # ... this many times in a row
RESERVE_RATE_AGREE = 1.5  # ... each lasting as long as a steady demand takes to use it
RESERVE_REGIONS = 4  # the demand rate is taken over at most the newest this many regions
RESERVE_GROWTH = 2.0  # ... and it asks for a region twice the last, backing off when none fits
RESERVE_EXACT = 0.1  # regions within this of twice the last double exactly (not by chance)
RESERVE_MINOR = 0.05  # rises under this share of the region before are allocations beside them
RESERVE_SCAN = 64  # ... looked for among the newest this many rises (doubling, few are regions)
RESERVE_RETRY_S = 10.0  # ... and at full it waits this long for memory to come back, then fails
FAR_FROM = 0.25  # a failure predicted further off than this share of the warning window ...
FAR_EXTRA = 0.5  # ... needs up to this share more of the confidence left to 1 (all of it: half)
MAX_SCHEDULED = 4  # swinging processes whose rhythms the range follows at most
MAX_POINTS = 1200  # envelope points kept per episode (the oldest are thinned)
MAX_RISES = 2400  # rises kept per episode (the oldest go first)


_Sample = tuple[float, float]  # (t, bytes): memory over time


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
    deep_slack_bytes: float = 0.0  # reserved but unallocated inside the growers (deep mode)


@dataclass(slots=True)
class _Point:
    t: float
    peak: float  # upper envelope
    floor: float  # lower envelope
    used: float
    headroom: float


@dataclass(frozen=True, slots=True)
class _Range:
    """Growth rates of the peak (bytes/s) and how the time to full spreads around them."""

    rate: float  # central
    low: float  # slowest plausible
    high: float  # fastest plausible
    overshoot: float  # bytes beyond full at which the failing step comes, on average
    # (a reserving allocator: its newest region, counted from when it came; `delay`
    # takes off the time since)
    time_fast: float  # the equivalent rates of the time range's ends: the rate's own
    time_slow: float  # ... uncertainty and the randomness of the rises still to come
    since: float  # the start of the window the rate was measured over
    delay: float = 0.0  # seconds to add: the allocator's wait at full, less time already spent
    rhythm: _Rhythm | None = None  # growth in runs and rests: its schedule sets the times


def _spread(was: tuple[float, float] | None, x: float) -> tuple[float, float]:
    return (x, x) if was is None else (min(was[0], x), max(was[1], x))


@dataclass(slots=True)
class _Cycle:
    """How a process has swung: how long it stayed down between swings and up during
    them (shortest, longest), when it last went each way, and by how much."""

    down: tuple[float, float] | None = None
    up: tuple[float, float] | None = None
    went_down: float = -math.inf
    went_up: float = -math.inf
    swing: float = 0.0
    first_up: float = -math.inf  # its first swing up, and how many cycles since
    cycles: int = 0

    def moved(self, t: float, m: float) -> None:
        if m < -NOISE_BYTES and self.went_up >= self.went_down:
            if self.went_up > -math.inf:
                self.up = _spread(self.up, t - self.went_up)
            self.went_down = t
            self.swing = -m
        elif m > NOISE_BYTES and self.went_down >= self.went_up:
            if self.went_down > -math.inf:
                self.down = _spread(self.down, t - self.went_down)
            self.went_up = t
            if self.first_up == -math.inf:
                self.first_up = t
            else:
                self.cycles += 1

    def fails(self, t: float, c: float, dt: float, early: bool) -> float | None:
        """Seconds from `t` to the failure of a growth that has taken the room this
        process's swing needs `c` seconds from `t`: then if it is up, else at its next
        swing up; the earliest that can be (`early`) or the latest.

        Each move came up to a sample before it was seen, and each rest and swing
        measured is a sample off either way; its cycle is the time from its first swing
        up to its newest over the cycles between, a sample off either way over all of
        them (with one rest and one swing seen, their sum, two samples off). The k-th
        swing up from here starts between the earliest next start plus k of the
        shortest cycles and the latest plus k of the longest, an uncertainty that
        grows with every cycle ahead. At the late end, the failure comes by the
        latest start of the first swing that, had it started before the crossing,
        would surely still be up at it. None where it rests longer than it ever has (it
        may not come back) or its rhythm is not known yet."""
        if self.down is None or self.up is None or not math.isfinite(t + c):
            return None
        (rest_lo, rest_hi), (up_lo, up_hi) = self.down, self.up
        if self.cycles:
            span = self.went_up - self.first_up
            cycle_lo, cycle_hi = (span - dt) / self.cycles, (span + dt) / self.cycles
        else:  # one rest and one swing seen
            cycle_lo, cycle_hi = up_lo + rest_lo - 2 * dt, up_hi + rest_hi + 2 * dt
        cycle_lo = max(dt, cycle_lo)
        at = t + c
        if self.went_down > self.went_up:
            first_lo = self.went_down - dt + max(0.0, rest_lo - dt)
            first_hi = self.went_down + rest_hi + dt
            if first_hi < t:
                return None
        else:
            if at < self.went_up + max(0.0, up_lo - dt) or (
                early and at < self.went_up + up_hi + dt
            ):
                return c  # it is (or may still be) up then
            first_lo, first_hi = self.went_up - dt + cycle_lo, self.went_up + cycle_hi
        if at <= first_lo:
            return first_lo - t if early else first_hi - t
        if early:
            k = math.floor((at - first_lo) / cycle_lo)  # the last swing that may start by then
            if first_hi + k * cycle_hi + up_hi + dt >= at:
                return c  # ... may still be up then
            return first_lo + (k + 1) * cycle_lo - t
        # the first swing that, started before then, is surely still up then
        k = max(0, math.ceil((at - first_lo - max(0.0, up_lo - dt)) / cycle_lo))
        return max(at, first_hi + k * cycle_hi) - t


@dataclass(frozen=True, slots=True)
class _Reserve:
    """Growth in regions an allocator reserves ahead of its demand (`_reserving`)."""

    rate: float  # the demand: a region's size over the time until the next was reserved
    cv2: float  # squared variation of the regions' demand rates
    regions: int  # how many regions the rate rests on
    since: float  # when the first region of the doubling run was reserved
    last_t: float  # when the newest region was reserved ...
    last_size: float  # ... and its size
    exact: bool  # each region twice the last, within RESERVE_EXACT (no chance run of steps)

    @property
    def region_s(self) -> float:
        """How long the demand takes to use the newest region: when the next one comes."""
        return self.last_size / self.rate


def _backed_off(before: float, size: float, room: float) -> bool:
    """Is a region of `size` after one of `before` a reserving allocator backing off,
    since the doubled region did not fit the `room` left?"""
    return size < RESERVE_RATIO[0] * before and RESERVE_GROWTH * before > room


def _reserving(rises: Sequence[tuple[float, float]], dt: float, room: float) -> _Reserve | None:
    """Growth in regions that double, each reserved when the one before is used up, as
    XLA's and TensorFlow's BFC allocator grows when it may not take the GPU at start
    (`XLA_PYTHON_CLIENT_PREALLOCATE=false`); else None.

    Each region's size over the time until the next is the demand, steady when the
    regions' times double with their sizes; the newest region is room the demand has
    still to use before the GPU must give more. Rises under `RESERVE_MINOR` of the
    region before are small allocations beside the regions. When a doubled region no
    longer fits the `room` there was before the newest rise, the allocator backs off
    to one that does. At a slow refresh each region is seen up to a sample after it
    came, so the regions' rates may disagree by more than their demand did; regions
    that double exactly still agree where the gaps they could truly have had do.
    """
    lo, hi = RESERVE_RATIO
    regions: list[tuple[float, float]] = []
    for i, (t, size) in enumerate(rises):
        minor = bool(regions) and size < RESERVE_MINOR * regions[-1][1]
        if not minor or (i == len(rises) - 1 and _backed_off(regions[-1][1], size, room)):
            regions.append((t, size))
    rises = regions
    sizes = [size for _, size in rises]
    last = len(sizes) - 1
    if last >= 1 and _backed_off(sizes[last - 1], sizes[last], room):
        last -= 1  # the doubling run ends before it
    first = last
    while first >= 1 and sizes[first - 1] > 0 and lo <= sizes[first] / sizes[first - 1] <= hi:
        first -= 1
    if last - first < RESERVE_MIN_DOUBLINGS:
        return None
    timed = [
        (gap, sizes[j - 1] / gap)
        for j in range(first + 1, len(sizes))
        for gap in [rises[j][0] - rises[j - 1][0]]
        if gap > 0 and gap >= dt - 1e-9
    ]
    # Regions a sample apart give their rate within a factor of two; two samples or more
    # within half. The finer ones are taken where two are known (a fast demand at a slow
    # refresh leaves only a sample between its first regions); else a coarse rate agrees
    # with the others anywhere down to half of it (its region may have come up to a
    # sample later than seen), and is taken as near them as it can be.
    fine = [r for gap, r in timed if gap >= 2 * dt]
    if len(fine) >= 2:
        rates = fine[-RESERVE_REGIONS:]
    else:
        near = _median(fine) if fine else None
        rates = [
            r if gap >= 2 * dt or near is None else min(r, max(r / 2, near))
            for gap, r in timed
        ][-RESERVE_REGIONS:]
    if len(rates) < 2:
        return None
    exact = all(
        abs(sizes[j] / sizes[j - 1] - RESERVE_GROWTH) <= RESERVE_EXACT
        for j in range(first + 1, last + 1)
    )
    if max(rates) > RESERVE_RATE_AGREE * min(rates):
        # Each region came up to a sample before it was seen: regions that double
        # exactly (XLA's) agree where the rates their true gaps could give do.
        ends = [(r * gap / (gap + dt), r * gap / max(gap - dt, dt)) for gap, r in timed]
        ends = ends[-RESERVE_REGIONS:]
        if not exact or max(lo for lo, _ in ends) > RESERVE_RATE_AGREE * min(hi for _, hi in ends):
            return None
    return _Reserve(
        rate=_median(rates),
        cv2=_cv2_classic(rates),
        regions=len(rates),
        since=rises[first][0],
        last_t=rises[-1][0],
        last_size=sizes[-1],
        exact=exact,
    )


def _reserve_range(res: _Reserve, t: float) -> _Range:
    """Rates of a reserving allocator's growth: the demand's, off by the variation of
    its regions' rates (plus drift). The newest region is room the demand has used since
    it was reserved, at whichever rate; when nothing fits, the BFC allocator waits
    `RESERVE_RETRY_S` for memory to come back before it fails. So each end of the range
    is (headroom + newest region) / its rate - time since the region + the wait."""
    cv2 = (res.regions * res.cv2 + CV2_PRIOR_WEIGHT * CV2_PRIOR) / (res.regions + CV2_PRIOR_WEIGHT)
    spread = math.exp(RANGE_Z * math.sqrt(cv2 / res.regions + RATE_DRIFT**2))
    fast, slow = res.rate * spread, max(MIN_RATE_SHARE * res.rate, res.rate / spread)
    delay = RESERVE_RETRY_S - (t - res.last_t)
    return _Range(res.rate, slow, fast, res.last_size, fast, slow, res.since, delay)


_time = itemgetter(0)  # the time of a (t, ...) pair: the key of sorted series


@dataclass(slots=True)
class _Episode:
    """One run of growth of the peak envelope."""

    t0: float
    level0: float
    headroom0: float
    rises: list[tuple[float, float]] = field(default_factory=list)  # (t, size)
    gaps: list[float] = field(default_factory=list)
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (t, level after a rise)
    flat_gaps: int = 0  # gaps between rises with a flat sample or more: runs with rests
    points: list[_Point] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    base: tuple[float, float] | None = None  # rates start here (a pause or change of rate)
    before_change: tuple[float, float] | None = None  # ... where they started before a change
    rests: set[float] = field(default_factory=set)  # when the long pauses found ended
    spread0: float = 0.0  # how far memory swung (peak - floor of the envelope) at the onset
    floor0: float = 0.0  # ... and the envelope's floor then
    sizes0: dict[ProcessIdentity, float] = field(default_factory=dict)  # sizes at the onset
    aside: dict[ProcessIdentity, float] = field(default_factory=dict)  # steps set aside (_aside)
    moved: set[ProcessIdentity] = field(default_factory=set)  # processes that moved otherwise
    held: dict[ProcessIdentity, float] = field(default_factory=dict)  # given back (_aside)
    given_t: dict[ProcessIdentity, float] = field(default_factory=dict)  # ... since when
    swung: dict[ProcessIdentity, float] = field(default_factory=dict)  # taken again: longest off
    troughs: dict[ProcessIdentity, float] = field(default_factory=dict)  # sizes after giving back
    ceiling: float = 0.0  # the GPU's highest used at a swinger's top (`_Episode.topped`)
    at_ceiling: dict[ProcessIdentity, int] = field(default_factory=dict)  # ... its tops there
    capped: set[ProcessIdentity] = field(default_factory=set)  # swingers taking what fits
    least: dict[ProcessIdentity, float] = field(default_factory=dict)  # ... the least they take
    over: dict[ProcessIdentity, float] = field(default_factory=dict)  # retaken beyond what was held
    before: list[tuple[float, float]] = field(default_factory=list)  # samples before the onset
    # ... and each one's process sizes, by time (`_reread`)
    before_sizes: dict[float, Mapping[ProcessIdentity, float]] = field(default_factory=dict)
    arrived_t: float = -math.inf  # the last time a process arrived during this growth
    stopped_t: float = -math.inf  # ... or one that had grown at every sample stopped
    fresh: bool = False  # the growth began with a process that had just arrived
    quick: bool = False  # ... and its first rise was already a trend (`_predict`)
    trended: bool = False  # its rises made a trend on an earlier sample (`_predict`)
    hold_s: float = 0.0  # a pause is no stop while it and the next sample span this (`_predict`)
    climb_t: float = -math.inf  # memory last climbed on below the peak after a fall (`_climbs_on`)
    fell_t: float = -math.inf  # ... and last fell below it
    consistency: float = 1.0  # the newest consistency judged (`_predict`)

    def add_rise(self, t: float, size: float, level: float, dt: float) -> None:
        if self.rises:
            self.gaps.append(t - self.rises[-1][0])
            self.flat_gaps += self.gaps[-1] > RHYTHM_FLAT * dt
        self.rises.append((t, size))
        self.arrivals.append((t, level))
        if len(self.rises) > MAX_RISES:
            drop = len(self.rises) - MAX_RISES
            del self.rises[:drop], self.arrivals[:drop], self.gaps[:drop]

    def add_point(self, p: _Point) -> None:
        self.points.append(p)
        self.times.append(p.t)
        if len(self.points) > MAX_POINTS:
            # Thin the oldest two thirds by half; the onset point stays.
            cut = (2 * len(self.points)) // 3
            kept = [self.points[0], *self.points[1:cut:2], *self.points[cut:]]
            self.points = kept
            self.times = [q.t for q in kept]

    def arrivals_after(self, t: float) -> list[tuple[float, float]]:
        return self.arrivals[bisect.bisect_right(self.arrivals, t, key=_time) :]

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
        if i <= 0 or sum(1 for rt, _ in self.rises if rt > self.times[i]) < REBASE_MIN_RISES:
            return False
        p = self.points[i]
        self.t0, self.level0, self.headroom0 = p.t, p.peak, p.headroom
        self.rises = [r for r in self.rises if r[0] > p.t]
        self.arrivals = [a for a in self.arrivals if a[0] > p.t]
        self.gaps = [b[0] - a[0] for a, b in itertools.pairwise(self.rises)]
        if self.base is not None and self.base[0] < p.t:
            self.base = None
        self.points = self.points[i:]
        self.times = self.times[i:]
        return True

    def series(self) -> list[_Sample]:
        """Memory over time: the samples before the onset, then the growth's own."""
        return [*self.before, *((p.t, p.used) for p in self.points)]

    def swung_more_than(self, grown: float) -> bool:
        """Did memory swing, before the onset, more than the growth has `grown` since?
        Memory that only rose then (a load's last steps, a ballast settling) did not
        swing, however far it rose: the series is quiet."""
        if self.spread0 <= grown:
            return False
        levels = [v for _, v in self.before]
        return any(b < a - NOISE_BYTES for a, b in itertools.pairwise(levels))

    def grew(self, ident: ProcessIdentity, size: float) -> bool:
        """Did this process, now `size`, take part in the growth?"""
        return size - self.sizes0.get(ident, size) - self.aside.get(ident, 0.0) > NOISE_BYTES

    def swings_back(self, ident: ProcessIdentity, before: float, now: float) -> bool:
        """Did a process that rose during the growth (now `now`, `before` on the sample
        before) give back, at once, all it had gained since the onset? Its rise was a
        swing, not growth."""
        onset = self.sizes0.get(ident, before) + self.aside.get(ident, 0.0)
        gained = before - onset
        return gained > NOISE_BYTES and abs(now - onset) <= max(NOISE_BYTES, ARRIVAL_SLACK * gained)

    def fell_past_onset(
        self, ident: ProcessIdentity, before: float, now: float, swing: float
    ) -> bool:
        """Did a process not yet known to swing (none of its memory held) fall by a
        `swing` or more to below the size the onset caught it at by as much? The onset
        caught it at a batch's top: it swings, as `swings_back` says of one that gave
        back what it gained."""
        return (
            before - now >= swing
            and now < self.sizes0.get(ident, now) - swing
            and ident not in self.swung
            and self.held.get(ident, 0.0) <= 0.0
        )

    def held_for_swings(self) -> float:
        """Memory held for processes that gave theirs back and have taken it again
        since: they swing, and their next swing takes it once more (no room for the
        growth). What a process gave back once and never took again is room, and so
        is what those that take what fits (`capped`) swing by."""
        swinging = self.swinging()
        return sum(v for ident, v in self.held.items() if ident in swinging)

    def forget(self, ident: ProcessIdentity) -> None:
        """A process that took no part in the growth left: nothing is held for it."""
        for kept in (self.held, self.swung, self.troughs, self.at_ceiling, self.least):
            kept.pop(ident, None)
        self.capped.discard(ident)

    def swinging(self) -> dict[ProcessIdentity, float]:
        """The swingers whose swings the growth must leave room for (`swung` less
        those that take what fits), with the longest each stayed down."""
        return {ident: off for ident, off in self.swung.items() if ident not in self.capped}

    def capped_room(self, sizes: Mapping[ProcessIdentity, float]) -> float:
        """What the swingers that take what fits hold now above their troughs: room
        the growth takes from their next swings, not from the GPU."""
        return sum(
            max(0.0, sizes[ident] - self.troughs[ident])
            for ident in self.capped
            if ident in sizes and ident in self.troughs
        )

    def topped(self, ident: ProcessIdentity, used: float, tolerance: float, swing: float) -> None:
        """A swinger took again less than it gave, with the GPU at `used`. Where such
        tops meet the GPU at its highest used so far (to `tolerance`) `CAPPED_TOPS`
        times, the process takes what fits (a batch sized to the free memory, a cache
        that gives way): its swings shrink as the growth takes room, and the GPU fails
        when the growth has taken it all, not at its next swing. Tops count from the
        newest highest (the tops before it were not at the limit); once the room is
        nearly gone, a swinger taking what fits takes its least, and the GPU's used
        climbs past its old highest with the growth: its `swing` then is the least it
        takes (`least`), which the GPU must still find room for. (A swinger taking
        again all it gave swings again: `_aside`.)"""
        if used > self.ceiling + tolerance:
            if ident in self.capped:
                self.least[ident] = min(self.least.get(ident, swing), swing)
            self.ceiling = used
            self.at_ceiling = {ident: 1}
            return
        if used < self.ceiling - tolerance:
            return
        self.ceiling = max(self.ceiling, used)
        self.at_ceiling[ident] = self.at_ceiling.get(ident, 0) + 1
        if self.at_ceiling[ident] >= CAPPED_TOPS:
            self.capped.add(ident)

    def trend_beside(self, rise: float) -> bool:
        """Is this growth a trend next to one `rise` (a fresh process's first)?"""
        return len(self.rises) >= MIN_RISES and (
            sum(r for _, r in self.rises) >= FRESH_VS_BEFORE * rise
        )

    def made_rise(self, rise: float) -> bool:
        """Did this growth, with no other process swinging beside it, already make rises
        about as big (within `STEP_AGAIN_RATIO`) more than once: a lump it makes again and
        again (bursts seen at a phase that drifts against the samples')?"""
        if self.swung:
            return False
        return sum(size * STEP_AGAIN_RATIO >= rise for _, size in self.rises) >= 2

    def step_rate(self) -> float:
        """The growth's typical rise over its typical gap (bytes a second)."""
        if not self.gaps:
            return 0.0
        sizes = [size for _, size in self.rises[-CV_ARRIVALS:]]
        return _median(sizes) / max(_median(self.gaps[-CV_ARRIVALS:]), 1e-9)

    def median_rise(self) -> float:
        sizes = sorted(s for _, s in self.rises)
        return sizes[len(sizes) // 2] if sizes else 0.0

    def reserve(self, dt: float) -> _Reserve | None:
        """The growth as regions an allocator reserves ahead (`_reserving`), if it is."""
        if len(self.rises) <= RESERVE_MIN_DOUBLINGS:
            return None
        i = bisect.bisect_left(self.times, self.rises[-1][0]) - 1
        room = self.points[i].headroom if i >= 0 else math.inf
        return _reserving(self.rises[-RESERVE_SCAN:], dt, room)

    def continues_reserve(self, t: float, grow: float, headroom: float, dt: float) -> bool:
        """Is a rise of `grow` at `t` the next region of a reserving allocator (doubled,
        or backed off to what fits)? It may complete the doubling run itself: a region
        split across two samples hides one doubling before it."""
        reserve = self.reserve(dt)
        if reserve is not None:
            lo, hi = RESERVE_RATIO
            last = reserve.last_size
            if lo * last <= grow <= hi * last or _backed_off(last, grow, headroom):
                return True
        return _reserving([*self.rises[-RESERVE_SCAN + 1 :], (t, grow)], dt, headroom) is not None


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


def _cv2_classic(xs: Sequence[float]) -> float:
    """Squared coefficient of variation, tails included (sample variance over mean^2)."""
    if len(xs) < 2:
        return 0.0
    mean = sum(xs) / len(xs)
    if mean <= 0:
        return CV2_MAX
    # `d * d`, not `d ** 2`: under a mean of 1e-215 a ratio overflows to inf, not raises.
    return min(CV2_MAX, sum(d * d for d in (x / mean - 1 for x in xs)) / (len(xs) - 1))


def _size_weighted_mean(xs: Sequence[float]) -> float:
    """sum x^2 / sum x: the mean of values weighted by their size (0.0 for none), as
    terms that cannot overflow however large the byte counts."""
    total = sum(xs)
    return sum(x * (x / total) for x in xs) if total > 0 else 0.0


def _trimmed(xs: Sequence[float]) -> list[float]:
    """Without the largest value once there are enough to spare one (a start-up jump)."""
    return sorted(xs)[:-1] if len(xs) >= TRIM_FROM else list(xs)


def _climbing_share(pts: Sequence[_Point]) -> float:
    """The share of bursts (local maxima of memory, the newest sample aside) that were
    new highs of the envelope; 1.0 without any burst."""
    bursts = highs = 0
    for prev, p, nxt in zip(pts, pts[1:], pts[2:], strict=False):
        if prev.used <= p.used > nxt.used:
            bursts += 1
            highs += p.used >= p.peak - NOISE_BYTES
    return highs / bursts if bursts else 1.0


# A series without moves under NVML's granularity, its swings, and a trough still open.
_Swings = tuple[list[_Sample], list[tuple[_Sample | None, _Sample]], _Sample | None]


def _swings(seq: Sequence[_Sample]) -> _Swings:
    """`seq` (memory over time) without moves under NVML's granularity; its swings,
    oldest first, each a trough (None where none came before it) and the peak after
    it, the newest sample a peak only as a new high; and a trough still open."""
    comp: list[_Sample] = []
    for t, v in seq:
        if not comp or abs(v - comp[-1][1]) > NOISE_BYTES:
            comp.append((t, v))
    swings: list[tuple[_Sample | None, _Sample]] = []
    trough: _Sample | None = None
    top = max((v for _, v in comp), default=0.0)
    for i in range(1, len(comp)):
        v, before = comp[i][1], comp[i - 1][1]
        after = comp[i + 1][1] if i + 1 < len(comp) else None
        if after is None:
            if v > before and v >= top - NOISE_BYTES:
                swings.append((trough, comp[i]))
        elif before < v > after:
            swings.append((trough, comp[i]))
            trough = None
        elif before > v < after:
            trough = comp[i]
    return comp, swings, trough


def _climbing_cycles(parsed: _Swings) -> int | None:
    """How many of the newest swings in a row climbed as bursts on a leak do (None
    when memory never fell: no swings, only a rise such as a load before a leak).

    `parsed` is memory over time as `_swings` read it. A swing is a trough and the
    peak after it. Bursts on a leak climb together: each peak above the one before,
    each trough above the one before, the troughs rising at the peaks' rate (within
    `CYCLE_RATE_RATIO`). Random batch sizes reach a new high now and then, but their
    troughs do not rise with their peaks swing after swing. The first swing on record
    (nothing to compare its trough with) counts when its peak rose above where memory
    stood before it. The newest sample is a peak only as a new high; below that, its
    swing is still under way.
    """
    comp, swings, trough = parsed
    if all(low is None for low, _ in swings) and trough is None:
        return None
    count = 0
    for j in range(len(swings) - 1, -1, -1):
        low, high = swings[j]
        if j == 0 or low is None or swings[j - 1][0] is None:
            if high[1] > comp[0][1] + NOISE_BYTES:
                count += 1
            break
        plow, phigh = swings[j - 1]
        assert plow is not None
        d_peak, d_trough = high[1] - phigh[1], low[1] - plow[1]
        if d_peak <= NOISE_BYTES or d_trough <= NOISE_BYTES:
            break
        r_peak = d_peak / max(high[0] - phigh[0], 1e-9)
        r_trough = d_trough / max(low[0] - plow[0], 1e-9)
        if not 1 / CYCLE_RATE_RATIO <= r_trough / r_peak <= CYCLE_RATE_RATIO:
            break
        count += 1
    return count


def _steady_bursts(parsed: _Swings) -> bool:
    """Bursts of one size on a climbing floor: the newest swings climb as bursts on a
    leak do (`_climbing_cycles`, at least `STEADY_CYCLES`), and the last two bursts
    rose as far above their troughs as each other, to within NVML's granularity
    (`STEADY_AMPLITUDE_BYTES`). A training step of one shape allocates the same
    blocks every time; random batch sizes almost never come back that close. `parsed`
    is the series as `_swings` read it."""
    done = [(low, high) for low, high in parsed[1] if low is not None]
    if len(done) < 2 or (_climbing_cycles(parsed) or 0) < STEADY_CYCLES:
        return False
    (plow, phigh), (low, high) = done[-2], done[-1]
    climb = high[1] - phigh[1]
    amplitude_change = abs((high[1] - low[1]) - (phigh[1] - plow[1]))
    return climb > NOISE_BYTES and amplitude_change <= STEADY_AMPLITUDE_BYTES


def _burst_without_climb(parsed: _Swings, last_rise: float) -> bool:
    """Did a burst come since the growth's last rise (so without climbing)? Bursts on a
    leak each top the one before; one that swings from a trough after the last rise
    as far as the others do (`BURST_SWING_SHARE` of their typical swing or more) and
    stays under the highs says the floor under them stopped rising. So does a trough
    since the last rise that did not climb as the troughs before it did, before the
    next burst shows it (`_trough_without_climb`). `parsed` is the series as `_swings`
    read it."""
    comp, swings, _ = parsed
    done = [(low, high) for low, high in swings if low is not None]
    before = [high[1] - low[1] for low, high in done if low[0] < last_rise]
    if len(before) < 2:
        return False
    typical = _median(before)
    if any(
        low[0] > last_rise and high[1] - low[1] >= BURST_SWING_SHARE * typical
        for low, high in done
    ):
        return True
    return _trough_without_climb(comp, [low for low, _ in done], last_rise)


def _trough_without_climb(
    comp: Sequence[_Sample], troughs: Sequence[_Sample], last_rise: float
) -> bool:
    """Did memory fall, since the growth's last rise, to a trough that rose from the
    one before it at under half the rate the troughs before each climbed at (the
    floor under bursts on a leak)? The floor stopped rising: the next burst can only
    come as high. Rates, not steps: samples meet aliased bursts' troughs at uneven
    intervals. `comp` is the series without moves under NVML's granularity, `troughs`
    its finished swings' troughs, oldest first."""
    if len(comp) < 2 or not comp[-1][1] < comp[-2][1] or comp[-1][0] <= last_rise:
        return False  # the newest sample is no fall to a trough after the last rise
    lows = [low for low in troughs if low[0] < last_rise]
    pairs = list(itertools.pairwise(lows[-3:]))
    if len(pairs) < 2 or min(b[1] - a[1] for a, b in pairs) <= NOISE_BYTES:
        return False
    typical = _median([(b[1] - a[1]) / (b[0] - a[0]) for a, b in pairs])
    newest = (comp[-1][1] - lows[-1][1]) / (comp[-1][0] - lows[-1][0])
    return newest < BURST_SWING_SHARE * typical


def _median(xs: Sequence[float]) -> float:
    ordered = sorted(xs)
    n = len(ordered)
    if n == 0:
        return 0.0
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def _long_pause(pts: Sequence[tuple[float, float]], dt: float) -> tuple[float, float] | None:
    """Where growth resumed after a pause its other gaps make implausible.

    Gaps are taken as exponential with the mean of the others (irregular steps are
    close to that; a steady leak is more regular, which only makes a long pause
    stand out more): a gap g is a pause when exp(-g / mean) times the number of gaps
    is under `PAUSE_ALPHA`. Returns the flat level just before the newest such
    resumption, `(t, level)`, as the anchor of a rate window (rates across such a
    pause mix two regimes), or None.
    """
    if len(pts) < 4:
        return None
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(pts)]
    total, n = sum(gaps), len(gaps)
    for i in range(n - 2, max(-1, n - 2 - PAUSE_SCAN), -1):
        g = gaps[i]
        others = max(dt, (total - g) / (n - 1))
        if g > 2 * dt and n * math.exp(-g / others) < PAUSE_ALPHA:
            t_res = pts[i + 1][0]
            return (max(pts[i][0], t_res - max(dt, gaps[i + 1] if i + 1 < n else dt)), pts[i][1])
    return None


@dataclass(frozen=True, slots=True)
class _Rhythm:
    """Growth in runs with rests between, of a steady rhythm (`_rhythm`): from the
    newest run's start, the runs to come grow by `growth` each, `period` apart, over
    `lasts` each (shortest or least, longest or most)."""

    start: float  # when the newest run's first rise was seen
    grown: float  # what it has grown since the rest before it
    over: bool  # it has ended: the next run is still to come
    period: tuple[float, float]
    growth: tuple[float, float]
    lasts: tuple[float, float]

    def reaches(self, t: float, room: float, dt: float, early: bool) -> float:
        """Seconds from `t` until the runs have grown by `room` more, at the earliest
        (`early`: the most growth a run, the shortest period and run, the newest run
        begun a sample before it was seen) or at the latest; 0 where they have."""
        if room <= 0:
            return 0.0
        grow = self.growth[1] if early else self.growth[0]
        period = self.period[0] if early else self.period[1]
        lasts = self.lasts[0] if early else self.lasts[1]
        begin = self.start - dt if early else self.start
        need = room
        if self.over:
            begin += period
        else:
            need += self.grown
        runs = need / grow
        if not math.isfinite(runs):
            return math.inf if runs > 0 else 0.0
        done = max(0, math.ceil(runs) - 1)  # runs that end before the failing one
        return max(t, begin + done * period + (need - done * grow) / grow * lasts) - t


def _rhythm(
    pts: Sequence[tuple[float, float]], before: float, t: float, dt: float, whole: bool
) -> _Rhythm | None:
    """Growth in runs of rises with rests between, of a steady rhythm: at least
    `RHYTHM_RUNS` runs, the finished ones growing within `RHYTHM_GROWTH_RATIO` of each
    other, their starts a steady period apart (within `RHYTHM_JITTER` of it beyond a
    sample each way), each rest at least `RHYTHM_REST_SHARE` of it. A rest is a gap
    of more than `RHYTHM_FLAT` samples and `RHYTHM_REST` times the median gap within
    runs; a staircase, rising once a step, is runs of one rise. `pts`: the growth's
    arrivals (time, level), from its start (`whole`) or from inside it (its first run
    then unread); `before`: the level before them. None where there is no such
    rhythm, or where the newest run grows or lasts longer, or the rest after it lasts
    longer, than any before (the rhythm may have changed: the renewal model of the
    rises reads it).

    A run was seen up to a sample after it began and ended, so its length is known
    to a sample either way; its period, from the span of the starts over the cycles
    between, to a sample over all of them (with jitter beyond that added); what a run
    grows, from the finished runs after the first (which may have begun before the
    growth was seen, or with a process's arrival), give or take `RATE_DRIFT`."""
    if len(pts) < RHYTHM_RUNS:
        return None
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(pts)]
    within = [g for g in gaps if g <= RHYTHM_FLAT * dt]
    cut = max(RHYTHM_FLAT * dt, RHYTHM_REST * _median(within) if within else 0.0)
    firsts = [0, *(i + 1 for i, g in enumerate(gaps) if g > cut)]
    if not whole:
        firsts = firsts[1:]
    firsts = firsts[-RHYTHM_KEEP:]
    if len(firsts) < RHYTHM_RUNS:
        return None
    ends = [b - 1 for b in firsts[1:]]
    finished = list(zip(firsts, ends, strict=False))
    growths = [pts[e][1] - (pts[f - 1][1] if f else before) for f, e in finished[1:]]
    runs = [pts[e][0] - pts[f][0] for f, e in finished]
    inside = max((gaps[i] for f, e in finished for i in range(f, e)), default=dt)
    starts = [pts[f][0] for f in firsts]
    periods = [b - a for a, b in itertools.pairwise(starts)]
    if min(growths) <= 0 or max(growths) > RHYTHM_GROWTH_RATIO * min(growths):
        return None
    mean = (starts[-1] - starts[0]) / len(periods)
    jitter = max(0.0, (max(periods) - min(periods) - 2 * dt) / 2)
    rests = [gaps[f - 1] for f in firsts[1:]]
    if jitter > RHYTHM_JITTER * mean or min(rests) < RHYTHM_REST_SHARE * mean:
        return None
    newest = firsts[-1]
    grown = pts[-1][1] - pts[newest - 1][1]
    over = t - pts[-1][0] > max(dt, inside)
    lasts = (max(0.0, min(runs) - dt), max(runs) + dt)
    if over and t - starts[-1] > mean + jitter + 2 * dt:
        return None  # the next run is late
    if not over and (grown > RHYTHM_GROWTH_RATIO * min(growths) or t - starts[-1] > lasts[1]):
        return None
    cycles = len(periods)
    return _Rhythm(
        start=starts[-1],
        grown=grown,
        over=over,
        period=(
            max(dt, (starts[-1] - starts[0] - dt) / cycles - jitter),
            (starts[-1] - starts[0] + dt) / cycles + jitter,
        ),
        growth=(min(growths) * math.exp(-RATE_DRIFT), max(growths) * math.exp(RATE_DRIFT)),
        lasts=lasts,
    )


def _acceleration(
    win: Sequence[tuple[float, float]], headroom: float, rate: float
) -> tuple[float, float, float] | None:
    """`(rate_now, fast, slow)` of growth that speeds up beyond doubt, else None.

    A least-squares quadratic through the arrivals; its curvature must stand `ACCEL_Z`
    standard errors above zero and its slope now `ACCEL_RATE_RATIO` above the window's
    rate. The range comes from a line through the rates between arrivals (`_rate_line`):
    `rate_now` is its rate now, and `fast` and `slow` fill `headroom` as a quadratic
    with its rate now and its slope `RANGE_Z` standard errors above, and below, do.
    """
    # A slow leak's window may hold thousands of arrivals: the fit's cost stays bounded.
    win = thinned(win, ACCEL_MAX_POINTS)
    n = len(win)
    if n < ACCEL_MIN_ARRIVALS or headroom <= 0:
        return None
    t_end = win[-1][0]
    xs = [p[0] - t_end for p in win]
    ys = [(p[1] - win[-1][1]) / MB for p in win]
    # Normal equations of y = a + b x + c x^2, solved by Cramer's rule.
    s0, s1 = float(n), sum(xs)
    s2 = sum(x * x for x in xs)
    s3 = sum(x**3 for x in xs)
    s4 = sum(x**4 for x in xs)
    t0, t1 = sum(ys), sum(x * y for x, y in zip(xs, ys, strict=True))
    t2 = sum(x * x * y for x, y in zip(xs, ys, strict=True))
    det = s0 * (s2 * s4 - s3 * s3) - s1 * (s1 * s4 - s3 * s2) + s2 * (s1 * s3 - s2 * s2)
    if not math.isfinite(det) or det <= 1e-12:
        return None
    a = (t0 * (s2 * s4 - s3 * s3) - s1 * (t1 * s4 - s3 * t2) + s2 * (t1 * s3 - s2 * t2)) / det
    b = (s0 * (t1 * s4 - s3 * t2) - t0 * (s1 * s4 - s3 * s2) + s2 * (s1 * t2 - t1 * s2)) / det
    c = (s0 * (s2 * t2 - t1 * s3) - s1 * (s1 * t2 - t1 * s2) + t0 * (s1 * s3 - s2 * s2)) / det
    sse = sum((y - (a + b * x + c * x * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    var = sse / (n - 3) / det
    se_c = math.sqrt(max(0.0, var * (s0 * s2 - s1 * s1)))
    if not c > ACCEL_Z * se_c or not b * MB > ACCEL_RATE_RATIO * rate:
        return None
    # The fit's errors take the levels as independent; they are sums of the rises, so a
    # noisy leak's wander looks like curvature. The rates between arrivals are
    # independent: a line through them (slope 2c) gives honest estimates and errors.
    line = _rate_line(xs, ys)
    if line is None:
        return None
    now, se_now, slope, se_slope = line
    se_c = max(se_c, se_slope / 2)
    if not c > ACCEL_Z * se_c:
        return None
    room = headroom / MB

    def rate_to_full(rate_now: float, curvature: float) -> float:
        """The rate (bytes/s) that fills `headroom` as soon as this quadratic does."""
        rate_now, curvature = max(0.0, rate_now), max(0.0, curvature)
        return headroom * (rate_now + math.sqrt(rate_now**2 + 4 * curvature * room)) / (2 * room)

    fast = rate_to_full(now + RANGE_Z * se_now, (slope + RANGE_Z * se_slope) / 2)
    slow = rate_to_full(now - RANGE_Z * se_now, (slope - RANGE_Z * se_slope) / 2)
    if not (now > 0 and math.isfinite(fast) and slow > 0):
        return None  # arrivals too close together or too odd for a rate to come of them
    return now * MB, fast, slow


def _rate_line(
    xs: Sequence[float], ys: Sequence[float]
) -> tuple[float, float, float, float] | None:
    """A line through the rates between successive points, each weighted by its
    interval: `(rate at x = 0, its standard error, slope, its standard error)`, or None
    with fewer than three intervals."""
    pts = [
        ((x0 + x1) / 2, (y1 - y0) / (x1 - x0), x1 - x0)
        for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys, strict=True))
        if x1 > x0
    ]
    if len(pts) < 3:
        return None
    sw = sum(w for _, _, w in pts)
    xbar = sum(w * x for x, _, w in pts) / sw
    rbar = sum(w * r for _, r, w in pts) / sw
    sxx = sum(w * (x - xbar) * (x - xbar) for x, _, w in pts)
    if not sxx > 0:
        return None
    slope = sum(w * (x - xbar) * (r - rbar) for x, r, w in pts) / sxx
    # Products, not powers: intervals a hair apart give rates whose squares overflow
    # (to inf here, where `**` raises).
    residuals = [(r - rbar - slope * (x - xbar), w) for x, r, w in pts]
    var = sum(w * e * e for e, w in residuals) / (len(pts) - 2)
    now = rbar - slope * xbar
    out = (now, math.sqrt(var * (1 / sw + xbar * xbar / sxx)), slope, math.sqrt(var / sxx))
    return out if all(map(math.isfinite, out)) else None


def _null_rates(win: Sequence[tuple[float, float]], k: int, w: float) -> list[float]:
    """Rates over windows at least `w` long between arrivals up to index `k`."""
    null: list[float] = []
    j = 0
    for i in range(k + 1):
        ti, yi = win[i]
        j = max(j, i + 1)
        while j <= k and win[j][0] - ti < w - 1e-9:
            j += 1
        if j > k:
            break
        null.append((win[j][1] - yi) / (win[j][0] - ti))
    return null


def _deviation(
    win: Sequence[tuple[float, float]],
    k: int,
    kink: int,
    *,
    beyond: bool = True,
    min_null: int = CHANGE_MIN_NULL,
) -> float:
    """How far the rate from arrival `kink` to the newest lies from what windows of the
    same length showed up to arrival `k`, in signed robust deviations (0.0 with too
    few windows to tell). With `beyond`, a rate inside the range of the older windows
    (all but the most extreme one, which may be the growth's start-up) counts as 0.0:
    a heavy-tailed process (irregular steps) has a core that MAD measures and a tail
    it does not."""
    tk, yk = win[kink]
    tl, yl = win[-1]
    w = tl - tk
    if w <= 0:
        return 0.0
    r_new = (yl - yk) / w
    null = _null_rates(win, k, w)
    if len(null) < min_null:
        return 0.0
    if beyond:
        ordered = sorted(null)
        trim = 1 if len(ordered) >= 2 * CHANGE_MIN_NULL else 0
        lo, hi = ordered[trim], ordered[-1 - trim]
        if lo * (1 - CHANGE_REL_FLOOR) <= r_new <= hi * (1 + CHANGE_REL_FLOOR):
            return 0.0
    med = _median(null)
    mad = 1.4826 * _median([abs(x - med) for x in null])
    scale = max(mad, CHANGE_REL_FLOOR * abs(med), 2 * NOISE_BYTES / w)
    if beyond:
        # What a renewal process with the older rises' irregularity (gaps and sizes,
        # heavy tails included) varies by over a window of w: r * sqrt(cv^2 / arrivals).
        before = win[: k + 1]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(before)]
        sizes = [b[1] - a[1] for a, b in itertools.pairwise(before)]
        mean_gap = sum(gaps) / len(gaps)
        expected = w / max(mean_gap, 1e-9)  # arrivals a window of w holds
        if expected < CHANGE_MIN_ARRIVALS:
            return 0.0  # too few to tell a new rate from a cluster of steps
        cv2 = _cv2_classic(gaps) + _cv2_classic(sizes)
        scale = max(scale, abs(med) * math.sqrt(cv2 / expected))
    return (r_new - med) / scale


def _changepoint(
    win: Sequence[tuple[float, float]], arrived_t: float | None, startup: float | None = None
) -> tuple[int, float, bool] | None:
    """Do the newest arrivals grow at another rate than those before them?

    Returns the index of the kink, the new rate, and whether the change is confirmed
    (else it only widens the range); None when nothing changed. The rate since the
    kink is compared with the rates the older arrivals show over windows of the same
    length (the null: how much such a window varies while nothing changes).

    - Where a process arrived during the growth (`arrived_t`), the rate may well have
      changed there: one increment `CHANGE_Z_NEW` robust deviations away, or at a
      rate `REGIME_RATE_RATIO` times faster or slower than before (a load by one
      process, then a leak in another: too short a past for deviations), widens the
      range; two confirm.
    - At the start of the growth (`startup`: the sampling interval, when `win` begins
      at the onset): its first few arrivals, each a sample after the one before, at
      `REGIME_RATE_RATIO` times the rate of the `STARTUP_AFTER` or more that follow
      are the workload's start-up (optimizer state, activations, allocator pools;
      the first burst of bursts on a leak), not its rate: confirmed at once.
    - Anywhere else, the last m increments (m = 2..`CHANGE_MAX_M`) must lie
      `CHANGE_Z` deviations away and beyond the older windows, and still
      `CHANGE_Z_NEW` away with the kink one arrival earlier: a lull after a burst of
      steps, or a burst after a lull, is the irregularity of steps, not a new rate.
    """
    n = len(win)
    if arrived_t is not None:
        k = max((i for i, p in enumerate(win) if p[0] <= arrived_t + 1e-9), default=-1)
        m = n - 1 - k
        if k >= 1 and m >= 1:
            r_new = (win[-1][1] - win[k][1]) / (win[-1][0] - win[k][0])
            r_old = (win[k][1] - win[0][1]) / (win[k][0] - win[0][0])
            other_regime = r_old > 0 and not (
                1 / REGIME_RATE_RATIO < r_new / r_old < REGIME_RATE_RATIO
            )
            if other_regime or (
                k >= ARRIVAL_MIN_NULL
                and abs(_deviation(win, k, k, beyond=False, min_null=ARRIVAL_MIN_NULL))
                >= CHANGE_Z_NEW
            ):
                return k, r_new, m >= 2
    if startup is not None:
        found: tuple[float, int, float] | None = None
        for k in range(1, min(STARTUP_ARRIVALS, n - 1 - STARTUP_AFTER) + 1):
            if win[k][0] - win[k - 1][0] > 1.5 * startup:
                break
            if k < 2 or n - 1 - k > 2 * STARTUP_AFTER:
                continue  # one rise may be a step; long after, the start-up is history
            r_old = (win[k][1] - win[0][1]) / (win[k][0] - win[0][0])
            r_new = (win[-1][1] - win[k][1]) / (win[-1][0] - win[k][0])
            ratio = r_old / r_new if r_new > 0 else 0.0
            if ratio > REGIME_RATE_RATIO and (found is None or ratio > found[0]):
                found = (ratio, k, r_new)
        if found is not None:
            return found[1], found[2], True
    best: tuple[float, int, float] | None = None
    for m in range(2, CHANGE_MAX_M + 1):
        k = n - 1 - m
        if k < CHANGE_MIN_NULL:
            break
        z = _deviation(win, k, k)
        if abs(z) < CHANGE_Z or z * _deviation(win, k, k - 1) < CHANGE_Z_NEW * abs(z):
            continue
        if best is None or abs(z) > best[0]:
            r_new = (win[-1][1] - win[k][1]) / (win[-1][0] - win[k][0])
            best = (abs(z), k, r_new)
    return None if best is None else (best[1], best[2], True)


def _allocation_event(
    t: float, rise: float, headroom: float, ep: _Episode | None, dt: float
) -> bool:
    """Is a rise (seen at `t`) one allocation taking a large share of what was left (a
    load, a pre-allocation, a bigger batch), not a step of the growth `ep` (where there
    is one): far above its typical rise, not a lump it has made twice already
    (`made_rise`), and not the next region of an allocator reserving ahead?
    """
    return rise > JUMP_SHARE * max(headroom, 1.0) and (
        ep is None
        or (
            rise > JUMP_VS_MEDIAN * ep.median_rise()
            and not ep.made_rise(rise)
            and not ep.continues_reserve(t, rise, headroom, dt)
        )
    )


def _retaken(rise: float, held: float) -> float:
    """How much of a process's `rise` takes back the `held` bytes it gave: all of it
    when it is a few MB more than that (the same allocation), else what was held."""
    return rise if rise <= held + max(NOISE_BYTES, ARRIVAL_SLACK * held) else held


def _one_sample(gap: float, dt: float) -> bool:
    """Is a gap between rises one sampling interval (not two or more)?"""
    return gap < 1.5 * dt


def _regular_rhythm(gaps: Sequence[float], dt: float) -> bool:
    """Has the growth shown a regular rhythm of rises (`_stall`): `STALL_RHYTHM_GAPS`
    gaps spanning `STALL_RHYTHM_MIN_SPAN_S` (the same 8 s at every refresh from 1 Hz
    up: a stop-go leak's first run of 4 s shows 16 gaps at 4 Hz, and is no rhythm that
    never rests), or at a slow refresh fewer, each of one sample, spanning
    `STALL_RHYTHM_SPAN_S`, that vary little?"""
    gaps = gaps[-CV_ARRIVALS:]
    known = (len(gaps) >= STALL_RHYTHM_GAPS and sum(gaps) >= STALL_RHYTHM_MIN_SPAN_S) or (
        len(gaps) >= STALL_RHYTHM_MIN_GAPS
        and sum(gaps) >= STALL_RHYTHM_SPAN_S
        and _one_sample(max(gaps), dt)
    )
    return known and _cv2_classic(gaps) <= STALL_REGULAR_CV2


def _pause_slack(longest: float, dt: float) -> float:
    """How much longer than the longest gap so far a pause may run before it counts
    against the growth: growth that rose at every sample shows its rhythm exactly, but
    the longest gap of irregular steps (some longer than a sample) understates the next
    long one, the tail of their gaps being what a few of them show least."""
    return 1.0 if _one_sample(longest, dt) else IRREGULAR_PAUSE_SLACK


def _decaying_rises(ep: _Episode, dt: float, headroom: float) -> float:
    """The newest `DECAY_RISES` rises, a sample apart, each at most `DECAY_RATIO` of the
    one before: growth decaying geometrically, whose rises still to come sum to about
    last * q / (1 - q). Only where windows long enough for `_slowing` take a minute or
    more (a refresh slower than one sample in `DECEL_MIN_WINDOW_S / 4`): there a few
    samples already show it, and each averages seconds of growth, so irregular steps
    seldom shrink so by chance (at a fast refresh they do, and `_slowing` is soon)."""
    if 4 * dt < DECEL_MIN_WINDOW_S or len(ep.rises) < DECAY_RISES:
        return 1.0
    rises = ep.rises[-DECAY_RISES:]
    if not all(_one_sample(b[0] - a[0], dt) for a, b in itertools.pairwise(rises)):
        return 1.0
    q = max(b[1] / a[1] for a, b in itertools.pairwise(rises))  # rises are all > 0
    if q > DECAY_RATIO:
        return 1.0
    still_to_come = rises[-1][1] * q / (1 - q)
    return min(1.0, still_to_come / max(headroom, 1.0)) ** 2


def _climbs_on(
    ep: _Episode, t: float, pt: float, plevel: float, level: float, peak: float, dt: float
) -> None:
    """Note in `ep` a sample where memory, fallen below the envelope's peak since the
    growth's last rise, fell (`fell_t`) or climbed on by about the growth's own step
    for the time between the samples (`climb_t`, within `CYCLE_RATE_RATIO`). Bursts a
    little slower or faster than the refresh meet the samples in a long beat: for
    many samples each shows a burst's top, then for as many a trough, one burst lower,
    climbing at the same rate; the growth goes on under the peak the tops left. Only
    for growth that rose at every sample lately (`STALL_RHYTHM_MIN_GAPS` gaps of one
    sample), as the tops do: new highs of random batches come now and then."""
    lately = ep.gaps[-STALL_RHYTHM_MIN_GAPS:]
    if (
        not ep.trended
        or len(lately) < STALL_RHYTHM_MIN_GAPS
        or not all(_one_sample(g, dt) for g in lately)
        or level >= peak - NOISE_BYTES
    ):
        return
    if level < plevel - NOISE_BYTES:
        ep.fell_t = t
        return
    step = level - plevel
    expected = ep.step_rate() * (t - pt)
    if step > NOISE_BYTES and expected / CYCLE_RATE_RATIO <= step <= CYCLE_RATE_RATIO * expected:
        ep.climb_t = t


class OOMPredictor:
    """One per GPU. Feed it every sample; it returns a prediction or None."""

    def __init__(self, settings: OOMSettings | None = None) -> None:
        self.settings = settings or OOMSettings()
        self.reset()

    def reset(self) -> None:
        self._window: deque[tuple[float, float]] = deque()  # (t, used less arrivals)
        # The previous sample: t, peak, headroom, floor, level.
        self._prev: tuple[float, float, float, float, float] | None = None
        self._episode: _Episode | None = None
        self._dormant: _Episode | None = None  # a quiet growth that paused past its rest
        self._sizes: dict[ProcessIdentity, float] = {}
        self._offset = 0.0  # memory brought by processes at their first known size
        self._present: set[ProcessIdentity] = set()
        self._onset_sizes: dict[ProcessIdentity, float] = {}
        self._arrived: set[ProcessIdentity] = set()  # processes first seen this sample ...
        self._arrived_before: set[ProcessIdentity] = set()  # ... and the sample before
        self._rising: dict[ProcessIdentity, int] = {}  # samples in a row each process rose
        # Outside a growth (`_outside`): processes below the size they last gave back
        # from (size then, since when), what the series holds for them (bytes, since
        # when), and how long those that took it again stayed down.
        self._down: dict[ProcessIdentity, tuple[float, float]] = {}
        self._kept: dict[ProcessIdentity, tuple[float, float]] = {}
        self._swingers: dict[ProcessIdentity, float] = {}
        self._cycles: dict[ProcessIdentity, _Cycle] = {}  # every process's swings
        # Each sample's process sizes over the envelope's span (to re-read the past), and
        # by how much the series then held each process above its size.
        self._history: deque[
            tuple[float, Mapping[ProcessIdentity, float], dict[ProcessIdentity, float]]
        ] = deque()
        self._deep: dict[ProcessIdentity, DeepStats] = {}  # this sample's, where they fit
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
        infos: Mapping[ProcessIdentity, ProcessInfo] | None = None,
    ) -> OOMPrediction | None:
        """One sample of one GPU. `pelt_preset` names the PELT penalty preset; `infos`
        (enrichment, by identity) brings deep-mode allocator statistics where processes
        report them (`_deep_room`)."""
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
        self._take_deep(device, infos)
        self._last = self._step(tt, used, free, total, device, process_phases, pelt_preset)
        return self._last

    def _take_deep(
        self, device: GPUDevice, infos: Mapping[ProcessIdentity, ProcessInfo] | None
    ) -> None:
        """Keep this sample's deep-mode statistics of the processes on this GPU.

        Statistics that cannot be this GPU's (more reserved than NVML sees the process
        use here: its job runs on another GPU too) or that do not add up are ignored.
        """
        self._deep = {}
        if infos:
            for p in device.processes:
                info = infos.get(p.identity)
                d = info.deep if info is not None else None
                used = _finite(p.used_bytes)
                if d is None or used is None:
                    continue
                alloc, reserved = _finite(d.allocated_bytes), _finite(d.reserved_bytes)
                if alloc is None or reserved is None or not 0 <= alloc <= reserved:
                    continue
                if reserved > used + NOISE_BYTES:
                    continue
                self._deep[p.identity] = d

    def _step(
        self,
        t: float,
        used: float,
        free: float,
        total: float,
        device: GPUDevice,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]],
        pelt_preset: str | None,
    ) -> OOMPrediction | None:
        self._evidence = None
        sizes: dict[ProcessIdentity, float] = {}
        for p in device.processes:
            v = _finite(p.used_bytes)
            if v is not None:
                sizes[p.identity] = max(0.0, v)
        # A process's first known size is an arrival, not growth: the series the
        # predictor follows is GPU used less what processes brought when they came.
        appeared = sum(v for ident, v in sizes.items() if ident not in self._sizes)
        self._arrived_before = self._arrived
        self._arrived = {ident for ident in sizes if ident not in self._sizes}
        seen = {p.identity for p in device.processes}
        gone = self._present - seen
        self._present = seen
        departed = {ident: v for ident, v in self._sizes.items() if ident in gone}
        for ident in gone:
            self._down.pop(ident, None)
            self._kept.pop(ident, None)
            self._swingers.pop(ident, None)
            self._cycles.pop(ident, None)
        dropped = gone and self._window and used - self._offset < self._window[-1][1] - NOISE_BYTES
        if dropped and self._prev is not None and self._bystanders(gone, departed):
            # Processes that took no part in the growth left: their memory is room for
            # it, and the growth goes on from the level it had (the processes still
            # here moved by what NVML says they did).
            moved = sum(v - self._sizes[i] for i, v in sizes.items() if i in self._sizes)
            self._offset = used - appeared - (self._prev[4] + moved)
            for ep in (self._episode, self._dormant):
                if ep is not None:
                    ep.headroom0 += sum(departed.values())
                    for ident in departed:
                        ep.forget(ident)
        elif dropped:
            # A process that grew left (or one of unknown size) and took its memory with
            # it: the picture starts afresh.
            self._window.clear()
            self._prev = None
            self._episode = self._dormant = None
            self._offset = 0.0
            self._down.clear()
            self._kept.clear()
            appeared = 0.0
            if self._pelt is not None:
                self._pelt.reset()
        moves = {
            ident: m
            for ident, v in sizes.items()
            if ident in self._sizes and abs(m := v - self._sizes[ident]) > NOISE_BYTES
        }
        self._note_stops(sizes, moves)
        swing = SWING_SHARE * total
        for ident, m in moves.items():
            if abs(m) >= swing:
                self._cycles.setdefault(ident, _Cycle()).moved(t, m)
        swings, loads = self._aside(t, sizes, moves, swing, used, total)
        if self._episode is None:
            swings += self._outside(t, sizes, moves, swing)
        appeared += loads
        kept = {ident: v for ident, v in self._sizes.items() if ident in seen}
        # Sizes at the previous sample (arrivals: their first size) for a new onset.
        self._onset_sizes = {**sizes, **kept}
        self._sizes = {**kept, **sizes}
        if self._episode is not None:
            for ident, v in sizes.items():
                self._episode.sizes0.setdefault(ident, v)
        self._offset += appeared + swings
        level = used - self._offset
        if self._pelt is not None:
            self._pelt_result = self._pelt.update(t, level, pelt_preset)
        if self._prev is not None:
            self._dts.append(t - self._prev[0])
        dt = self._interval()
        jump = self._jump_beside_trend(t, level, dt)
        self._offset += jump
        level -= jump

        span = max(ENVELOPE_S, 2.5 * dt)
        self._window.append((t, level))
        while self._window and self._window[0][0] < t - span:
            self._window.popleft()
        holds = {ident: held for ident, (held, _) in self._kept.items()}
        if self._episode is not None:
            holds.update(self._episode.held)
        self._history.append((t, sizes, holds))
        while self._history[0][0] < t - span:
            self._history.popleft()
        peak = max(v for _, v in self._window)
        floor = min(v for _, v in self._window)
        held, spare = 0.0, 0.0
        if self._episode is not None:
            held = self._episode.held_for_swings()
            spare = self._episode.capped_room(sizes)
        headroom = max(0.0, free + spare - held - (peak - level))
        past = max(0.0, held + (peak - level) - free - spare)  # taken beyond it: swings' room
        prev = self._prev
        self._prev = (t, peak, headroom, floor, level)
        if prev is None:
            return None
        pt, ppeak, phead, pfloor, plevel = prev
        # A rise in the sample a process arrived, where none already there rose, is what
        # NVML counts for a GPU and for its processes differing while a context is made.
        accounting = (
            ARRIVAL_ACCOUNTING_BYTES
            if self._arrived and not any(m > NOISE_BYTES for m in moves.values())
            else 0.0
        )
        prev_sample = (pt, ppeak, phead, pfloor, plevel)
        if not self._track(t, prev_sample, peak, level, appeared, accounting, total, dt):
            return None
        ep = self._episode
        assert ep is not None
        ep.add_point(_Point(t, peak, floor, level, headroom))
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
        return self._predict(ep, t, peak, headroom, past, total, dt, process_phases)

    def _jump_beside_trend(self, t: float, level: float, dt: float) -> float:
        """Bytes to set aside of a rise to `level` that is one allocation (a large share
        of the headroom, far above the growth's typical rise: `_allocation_event`) in a
        growth of irregular steps (sizes varying more than `STALL_UNEVEN_CV2`) that
        already made a trend: such steps make a rise that big now and then. The room
        shrinks and the trend goes on, at greater risk, keeping a rise as big as the
        biggest it counts (`RISE_CAP_VS_MEDIAN` medians). Elsewhere such a rise starts
        the picture afresh (a load, then what grows after it; a burst on a steady leak,
        which falls back)."""
        ep = self._episode
        if ep is None or not ep.trended or self._prev is None:
            return 0.0
        _, ppeak, phead, _, _ = self._prev
        rise = level - ppeak
        if not _allocation_event(t, rise, phead, ep, dt):
            return 0.0
        if _cv2_classic([size for _, size in ep.rises[-CV_ARRIVALS:]]) <= STALL_UNEVEN_CV2:
            return 0.0
        aside = rise - min(rise, RISE_CAP_VS_MEDIAN * ep.median_rise())
        ep.headroom0 = max(0.0, ep.headroom0 - aside)
        return aside

    def _note_stops(
        self, sizes: Mapping[ProcessIdentity, float], moves: Mapping[ProcessIdentity, float]
    ) -> None:
        """A process that grew at every one of the last `STOP_HINT_RISES` samples or more
        and now did not, while another grows on: the growth's rate may change from its
        last rise, as where a process arrives (the episode's `stopped_t`). (The only
        grower stopping is a pause, which the stall and rest logic read.) `moves`: this
        sample's moves of the processes that were here before."""
        rising = {ident: self._rising.get(ident, 0) + 1 for ident, m in moves.items() if m > 0}
        stopped = any(
            run >= STOP_HINT_RISES and ident in sizes and ident not in rising
            for ident, run in self._rising.items()
        )
        if stopped and rising and self._episode is not None and self._prev is not None:
            self._episode.stopped_t = self._prev[0]
        self._rising = rising

    def _aside(
        self,
        t: float,
        sizes: Mapping[ProcessIdentity, float],
        moves: Mapping[ProcessIdentity, float],
        swing: float,
        used: float,
        total: float,
    ) -> tuple[float, float]:
        """Bytes by which processes that took no part in the growth (`moved` holds
        those that did) moved this sample, which the growth's series leaves out: what
        they took again less what they gave back (swings, which leave the room as it
        was), and loads (which take room, as an arrival does).

        - A load beside an established growth, large enough to be an event (often the
          sample after NVML first listed the process), is set aside as an arrival is:
          the room shrinks and the growth goes on at its own rate.
        - Memory such a process gives back is kept in `_Episode.held` and the series
          stays where it was (from its first fall, at its highest over the envelope's
          span: a bigger batch before that one set the peak the growth must pass).
          Until the process takes it again it is room; taken again, it is set aside
          once more, and the process swings (`swung`, with
          the longest it stayed down): from then on what it gives back is no room
          for the growth (`held_for_swings`). Such a swinger that takes all it gave
          and a little more (a batch topping its highest within `_retaken`'s slack)
          still swings while another process grows: its next fall is held too; where
          it takes a little more a second time running, its tops climb and the more
          is growth (bursts on its own leak). One whose tops take what fits
          (`_Episode.topped`) swings by room of the growth.
        - A process not yet known to swing that falls by a swing to below the size
          it had at the onset (which caught it at a batch's top) swung: its fall is
          set aside as `swings_back`'s is.

        `moves`: this sample's moves of the processes that were here before.
        """
        ep = self._episode
        if ep is None or self._prev is None:
            return 0.0, 0.0
        # A process whose rise in the growth was a swing (it gave it all back while
        # another grows on, or, not yet known to swing, fell by a swing below the size
        # the onset caught it at) stands outside it from here, as if it had first moved
        # down.
        # Where nothing else grew, the growth was that swing (or bursts of a leak): should
        # another process rise while it is still down, the growth is over and the series
        # holds the swing for it as outside a growth (`_outside`).
        back = set()
        span = max(ENVELOPE_S, 2.5 * self._interval())
        for ident, v in sizes.items():
            before = self._sizes.get(ident)
            if before is None:
                continue
            if v - before > NOISE_BYTES:
                if any(o != ident and t - since <= span for o, (_, since) in self._down.items()):
                    self._release(ep)
                    self._episode = None
                    return 0.0, 0.0
                self._down.pop(ident, None)
            elif ep.swings_back(ident, before, v) or ep.fell_past_onset(ident, before, v, swing):
                if any(ep.grew(o, w) for o, w in sizes.items() if o != ident):
                    back.add(ident)
                else:
                    self._down[ident] = (before, t)
        ep.moved -= back
        moves = {ident: m for ident, m in moves.items() if ident not in ep.moved}
        again = 0.0
        for ident, m in moves.items():
            held = ep.held.get(ident, 0.0)
            if m > NOISE_BYTES and held > 0.0:
                take = _retaken(m, held)
                over = take - held
                # Taking a little more than it gave a second time running: the tops
                # climb (bursts on the process's own leak), and the more is growth.
                climbs = over > NOISE_BYTES and ep.over.get(ident, 0.0) > NOISE_BYTES
                ep.over[ident] = over
                ep.held[ident] = max(0.0, held - take)
                if not climbs:
                    ep.aside[ident] = ep.aside.get(ident, 0.0) + max(0.0, over)
                ep.swung[ident] = max(ep.swung.get(ident, 0.0), t - ep.given_t[ident])
                if take < held - NOISE_BYTES:
                    tolerance = max(CAP_TOLERANCE_SHARE * total, ep.step_rate() * self._interval())
                    ep.topped(ident, used, tolerance, take)
                else:
                    ep.capped.discard(ident)
                moves[ident] = m - take
                again += held if climbs else take
        step = sum(m for m in moves.values() if m > NOISE_BYTES)
        established = len(ep.rises) >= MIN_RISES
        load = (
            established
            and step > NOISE_BYTES
            and _allocation_event(t, step, self._prev[2], ep, self._interval())
        )
        given = 0.0
        for ident, m in moves.items():
            if m > NOISE_BYTES and load:
                ep.aside[ident] = ep.aside.get(ident, 0.0) + m
            elif m < -NOISE_BYTES and (
                ident in back
                or (ident in ep.swung and ident not in ep.moved and bool(ep.moved))
                or not ep.grew(ident, self._sizes[ident] + ep.held.get(ident, 0.0))
            ):
                fell = abs(m)
                if ep.held.get(ident, 0.0) <= 0.0:
                    if ident not in ep.given_t and ident not in ep.aside:
                        # Its first fall: held at its highest over the envelope's
                        # span, where a bigger batch than this one set the peak.
                        top = max(
                            [self._sizes[ident]]
                            + [sz[ident] for _, sz, _ in self._history if ident in sz]
                        )
                        self._reread(ep, ident, top)
                        fell += top - self._sizes[ident]
                    ep.given_t[ident] = t
                ep.held[ident] = ep.held.get(ident, 0.0) + fell
                ep.troughs[ident] = sizes[ident]
                given += fell
            elif abs(m) > NOISE_BYTES:
                ep.moved.add(ident)
        return again - given, step if load else 0.0

    def _reread(self, ep: _Episode, ident: ProcessIdentity, top: float) -> None:
        """Read the growth's past again with `ident` at `top`, the size it now gives
        back from, as it is held from here on.

        Until a process outside the growth first gives memory back, its moves were the
        series' own: swings before the onset made it a swinging series (whose swings
        must climb to be a trend), its troughs lay under the growth's floor. Where its
        sizes are known (before the onset, and over the envelope's span), the past is
        lifted by what it lacked of `top`, up to the peak the envelope then stood at (a
        swing up it made after the onset was read as a rise of the growth: the peak
        holds it).
        """
        known = {**ep.before_sizes, **{tb: v for tb, v, _ in self._history}}

        def lift(tb: float) -> float:
            v = known.get(tb, {}).get(ident)
            return max(0.0, top - v) if v is not None else 0.0

        if ep.before:
            top0 = max(v for _, v in ep.before)
            ep.before = [(tb, min(top0, v + lift(tb))) for tb, v in ep.before]
            levels = [v for _, v in ep.before]
            ep.floor0 = min(levels)
            ep.spread0 = min(ep.spread0, top0 - ep.floor0)
        for p in ep.points:
            p.used = min(p.peak, p.used + lift(p.t))

    def _outside(
        self,
        t: float,
        sizes: Mapping[ProcessIdentity, float],
        moves: Mapping[ProcessIdentity, float],
        swing: float,
    ) -> float:
        """Bytes by which processes' swings move the series' offset while no growth is
        open, as `_aside` does inside one.

        A process that gives memory back is *down* from the size it gave it back from.
        While it is down and the envelope still holds its peak, another process's rise
        is growth the envelope would hide until it outgrew that peak. From then on the
        series holds the process at that size (`_kept`), over the envelope's span too
        (its swings there were its own, not the series'), and what it takes again is a
        swing, not growth. A process's own bursts with nothing else moving stay in the
        series as they are (random batch sizes must not become a high-water mark). A
        growth that begins starts with these holds (`_seed`). `moves`: this sample's
        moves of the processes that were here before; `swing`: the least give-back that
        makes a process down (smaller ones hide little under the envelope).
        """
        if self._prev is None:
            self._down.clear()
            return 0.0
        span = max(ENVELOPE_S, 2.5 * self._interval())
        swings = 0.0
        risers: set[ProcessIdentity] = set()
        lifts: list[tuple[ProcessIdentity, float, float]] = []
        down, kept_all = self._down, self._kept
        for ident, m in moves.items():
            if m < 0:
                if m <= -swing and ident not in down:
                    down[ident] = (self._sizes[ident], t)
                continue
            if ident in down:
                before = self._sizes[ident]
                top, since = down.pop(ident)
                if (
                    -max(NOISE_BYTES, ARRIVAL_SLACK * (top - before))
                    <= before + m - top
                    <= ARRIVAL_ACCOUNTING_BYTES
                ):
                    # It took back just what it gave (after the envelope forgot its peak,
                    # perhaps): a swing, as if it had stayed there, not a rise. (Taking
                    # back more, beyond accounting, is a burst topping the last on a
                    # leak: its trough stays the growth's own.)
                    lifts.append((ident, top, since))
                    self._swingers[ident] = max(self._swingers.get(ident, 0.0), t - since)
                    continue
            kept = kept_all.get(ident) if kept_all else None
            if kept is not None:
                held, since = kept
                take = _retaken(m, held)
                swings += take
                m -= take
                self._swingers[ident] = max(self._swingers.get(ident, 0.0), t - since)
                if held - take > NOISE_BYTES:
                    kept_all[ident] = (held - take, since)
                else:
                    del kept_all[ident]
            if m > NOISE_BYTES:
                risers.add(ident)
        if risers and down:
            for ident, (top, since) in list(down.items()):
                now = sizes.get(ident)
                if ident in risers or now is None or t - since > span or top - now <= NOISE_BYTES:
                    continue
                lifts.append((ident, top, -math.inf))
                held, first = self._kept.get(ident, (0.0, since))
                self._kept[ident] = (held + top - now, first)
                del self._down[ident]
                swings -= top - now
        if lifts:
            self._hold_past(lifts)
        return swings

    def _hold_past(self, lifts: Sequence[tuple[ProcessIdentity, float, float]]) -> None:
        """Lift the envelope's past by what each process lacked of its size `top` from
        `start` on (ident, top, start), less what the series already held for it then
        (as if it had stayed there), and the previous sample with it."""
        if self._prev is None:
            return
        firsts = {
            ident: next((sz[ident] for _, sz, _ in self._history if ident in sz), None)
            for ident, _, _ in lifts
        }
        by_t: dict[float, float] = {}
        for tb, sz, holds in self._history:
            for ident, top, start in lifts:
                v = sz.get(ident, firsts[ident])
                if v is None or tb < start:
                    continue
                lift = top - v - holds.get(ident, 0.0)
                if lift > 0.0:
                    by_t[tb] = by_t.get(tb, 0.0) + lift
                    holds[ident] = holds.get(ident, 0.0) + lift
        if not by_t:
            return
        self._window = deque((tb, v + by_t.get(tb, 0.0)) for tb, v in self._window)
        if not self._window:
            return
        pt, ppeak, phead, _pfloor, plevel = self._prev
        peak = max(v for _, v in self._window)
        level = self._window[-1][1]
        head = max(0.0, phead - (peak - ppeak) + (level - plevel))
        self._prev = (pt, peak, head, min(v for _, v in self._window), level)

    def _seed(self, ep: _Episode) -> None:
        """A growth begins (or resumes) with what the series holds for processes
        outside it (`_outside`): each at the size it gave back from, held until it
        takes it again; those that swung before swing on."""
        for ident, (held, since) in self._kept.items():
            ep.held[ident] = ep.held.get(ident, 0.0) + held
            ep.given_t.setdefault(ident, since)
            ep.sizes0[ident] = self._sizes.get(ident, 0.0) + ep.held[ident]
        for ident, off in self._swingers.items():
            ep.swung[ident] = max(ep.swung.get(ident, 0.0), off)
        self._kept.clear()
        self._down.clear()

    def _release(self, *eps: _Episode | None) -> None:
        """A growth ends: what the series holds for processes outside it stays held
        (the offset keeps it), so what they take again stays a swing."""
        for ep in eps:
            if ep is None:
                continue
            for ident, held in ep.held.items():
                if held > NOISE_BYTES and ident in self._sizes:
                    was, first = self._kept.get(ident, (0.0, ep.given_t.get(ident, ep.t0)))
                    self._kept[ident] = (was + held, first)
            for ident, off in ep.swung.items():
                self._swingers[ident] = max(self._swingers.get(ident, 0.0), off)
            ep.held = {}

    def _bystanders(
        self, gone: set[ProcessIdentity], departed: Mapping[ProcessIdentity, float]
    ) -> bool:
        """Did the processes that left, all of known size, take no part in the growth?"""
        if len(departed) < len(gone):
            return False
        return not any(
            ep.grew(ident, v)
            for ep in (self._episode, self._dormant)
            if ep is not None
            for ident, v in departed.items()
        )

    def _track(
        self,
        t: float,
        prev: tuple[float, float, float, float, float],
        peak: float,
        level: float,
        appeared: float,
        accounting: float,
        total: float,
        dt: float,
    ) -> bool:
        """Update the growth episode; False when there is none to predict from.
        `accounting`: a rise up to this is no growth (a process arrived)."""
        pt, ppeak, phead, pfloor, plevel = prev
        ep = self._episode
        if ep is not None and appeared > 0:
            # A process arriving is not growth, but it takes room the growth had, and
            # the growth may change its rate from here.
            ep.headroom0 = max(0.0, ep.headroom0 - appeared)
            ep.arrived_t = pt
        grow = peak - ppeak
        # What NVML counts for a GPU and for its processes differs by a little (contexts):
        # a small rise in the sample where a big process arrived is that difference.
        noise = max(
            NOISE_BYTES,
            self.settings.min_rate_bytes_per_s * (t - pt),
            ARRIVAL_SLACK * appeared,
            accounting,
        )
        if grow > noise:
            if _allocation_event(t, grow, phead, ep, dt):
                # An event, not a trend. The envelope starts at the new level: a
                # growth after it is measured from there, not against the floor from
                # before the load.
                self._release(self._episode, self._dormant)
                self._episode = self._dormant = None
                self._window.clear()
                self._window.append((t, peak))
                if self._prev is not None:  # this sample, as _step left it: floor raised
                    self._prev = (t, peak, self._prev[2], peak, peak)
                return False
            # A process that arrived on the sample before, small, and grows at once
            # (most of this rise is its own, and not a sliver of what it came with):
            # its workload began with this growth. One that came with a CUDA context
            # and many times this rise (a model and its first batch) ran before it.
            own = sum(
                self._sizes.get(i, 0.0) - self._onset_sizes.get(i, 0.0)
                for i in self._arrived_before
            )
            came = sum(self._onset_sizes.get(i, 0.0) for i in self._arrived_before)
            fresh = (
                bool(self._arrived_before)
                and own >= max(0.5 * grow, ARRIVAL_SLACK * came)
                and came - CONTEXT_BYTES <= FRESH_ARRIVAL_RISES * own
            )
            if fresh and ep is not None and not ep.trend_beside(own):
                self._release(ep)
                ep = None  # what came before it was not a trend (yet): start from here
            elif (
                ep is not None
                and len(ep.rises) == 1
                and grow > STEP_AGAIN_RATIO * ep.rises[0][1]
                and pt - ep.rises[0][0] > FIRST_GAP_TOLERANCE_S
            ):
                # A single step long ago, then one far bigger: a new growth, not the
                # first's next step (a ballast's last allocation, then a workload).
                self._release(ep)
                ep = None
            if ep is not None and self._dormant is not None and len(ep.rises) == 1:
                # The first rise after a pause spans only part of a sampling interval
                # (growth resumed somewhere inside it): the first two rises together
                # say whether the dormant growth resumed.
                resumed = self._resumed(self._dormant, t, ep.rises[0][1] + grow, appeared)
                if resumed is not None:
                    resumed.add_rise(ep.rises[0][0], ep.rises[0][1], ep.arrivals[0][1], dt)
                    # (with the holds the growth began with: `_seed`)
                    resumed.held = ep.held
                    resumed.given_t.update(ep.given_t)
                    resumed.sizes0.update({i: ep.sizes0[i] for i in ep.held})
                    resumed.swung.update(ep.swung)
                    ep = self._episode = resumed
                self._dormant = None
            if ep is None and self._dormant is not None:
                ep = self._episode = self._resumed(self._dormant, t, grow, appeared)
                if ep is not None:
                    self._dormant = None  # else kept for the next rise (above)
                    self._seed(ep)
            if ep is None:
                ep = self._episode = _Episode(
                    t0=pt,
                    level0=ppeak,
                    headroom0=max(0.0, phead - appeared),
                    spread0=ppeak - pfloor,
                    floor0=pfloor,
                    sizes0=dict(self._onset_sizes),
                    before=[q for q in self._window if q[0] < t],
                    before_sizes={tb: v for tb, v, _ in self._history if tb < t},
                )
                ep.add_point(_Point(pt, ppeak, pfloor, plevel, phead))
                ep.fresh = fresh
                self._seed(ep)
            ep.add_rise(t, grow, peak, dt)
        elif grow < -max(noise, 0.02 * total):
            self._release(self._episode, self._dormant)
            self._episode = self._dormant = None  # memory was given back: growth is over
            return False
        if ep is None:
            return False
        _climbs_on(ep, t, pt, plevel, level, peak, dt)
        pause = t - max(ep.rises[-1][0], ep.climb_t)
        longest = max(ep.gaps) if ep.gaps else dt
        reserve = ep.reserve(dt)
        if reserve is not None:
            # The next region comes when the demand has used this one.
            longest = max(longest, reserve.region_s)
        limit = max(
            2 * dt,
            _pause_slack(longest, dt) * 1.5 * longest + dt,
            FIRST_GAP_TOLERANCE_S / max(1, len(ep.gaps)),
            ep.hold_s - dt,
        )
        # A pause past the limit stops the prediction (the stall factor has cleared the
        # alert by then). On a quiet series, growth resuming soon after continues the
        # same episode (irregular allocator steps); on a swinging one, a new high after
        # a long pause is just a bigger batch.
        # How long it may rest is measured in its typical gap, not its longest: a
        # high-water mark of random batch sizes (a caching allocator) rises ever more
        # rarely and must not stay one growth for ever.
        mean_gap = sum(ep.gaps) / len(ep.gaps) if ep.gaps else dt
        rest = DORMANT_FACTOR * max(
            2 * dt, 1.5 * mean_gap + dt, FIRST_GAP_TOLERANCE_S / max(1, len(ep.gaps))
        )
        # A swinging series whose floor rose with its peak is a growth with swings on
        # top (each burst higher, the troughs between too), not new highs of random
        # batches over a floor that stays: it may rest as a quiet one may.
        grown = peak - ep.level0
        floor = self._prev[3] if self._prev is not None else ep.floor0
        quiet = ep.spread0 <= grown or floor - ep.floor0 >= FLOOR_CLIMB_SHARE * grown > NOISE_BYTES
        if pause > (max(limit, rest) if quiet else limit):
            self._release(ep, self._dormant)
            self._episode = None  # growth stopped, or rests longer than it did before
            self._dormant = ep if quiet else None
            return False
        return pause <= limit

    @staticmethod
    def _resumed(dormant: _Episode, t: float, grow: float, appeared: float) -> _Episode | None:
        """The dormant growth again, if this rise resumes it; else None (a new growth).

        Irregular allocator steps pause now and then for longer than their gaps so far
        suggested. Growth that resumes with a step at least as big as its typical one,
        nothing given back and no process arrived in between, after a pause no longer
        than `DORMANT_SPAN_FACTOR` times what it had grown for, is the same growth: its
        evidence stands, and the pause joins its gaps (later pauses of that length are
        its rhythm). A caching allocator's high-water mark rises ever more rarely by
        ever smaller steps: its next rise starts afresh.
        """
        last = dormant.rises[-1][0]
        typical = dormant.median_rise()
        # A single step, then the same step again within `FIRST_STEP_SPAN_S`: a
        # staircase (its gaps say from here whether it goes on), not a one-off.
        again = len(dormant.rises) == 1 and grow <= STEP_AGAIN_RATIO * typical
        if (
            appeared > 0
            or dormant.arrived_t > last
            or grow < typical
            or t - last
            > (FIRST_STEP_SPAN_S if again else DORMANT_SPAN_FACTOR * (last - dormant.t0))
        ):
            return None
        return dormant

    # --- the prediction -------------------------------------------------------------------

    def _predict(
        self,
        ep: _Episode,
        t: float,
        peak: float,
        headroom: float,
        past: float,
        total: float,
        dt: float,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]],
    ) -> OOMPrediction | None:
        """`headroom`: the room left with every swinging process up; `past`: what the
        growth has taken beyond it, out of the room their swings leave."""
        s = self.settings
        n = len(ep.rises)
        if n < 1:
            return None
        parsed = _swings(ep.series())
        sizes = sorted(size for _, size in ep.rises)
        cap = RISE_CAP_VS_MEDIAN * sizes[len(sizes) // 2]
        capped_sizes = [min(x, cap) for x in sizes]
        weighted = _size_weighted_mean(capped_sizes)
        n_eff = sum(capped_sizes) / weighted if weighted > 0 else 0.0
        # A process that arrived and grew at once: its start is the growth's first step,
        # so on a quiet series one small rise of it is as much a trend as two of
        # anything else; it counts as one more rise of evidence throughout.
        fresh = ep.fresh and not ep.swung_more_than(peak - ep.level0)
        if n == 1:
            # ... while it rises: at the next flat sample it is not (yet) a trend.
            trend = (
                fresh
                and t <= ep.rises[-1][0]
                and self._few_rises_suffice(ep, t, peak, dt, parsed)
            )
            ep.quick = trend
        else:
            # Where that one rise already made a trend, the next counts it too: a second
            # rise a little over the share of the headroom a quick trend allows does
            # not withdraw the warning the first one raised.
            gate = n_eff + 1 if fresh and ep.quick else n_eff
            trend = gate >= MIN_EFFECTIVE_RISES and (
                gate >= TREND_EFFECTIVE_RISES
                or ep.trended
                or self._few_rises_suffice(ep, t, peak, dt, parsed)
            )
        if not trend:
            return None
        # Rises are evidence that only grows: once two or more made a trend, it stays
        # one, whether a bigger rise came after them (irregular steps, a burst seen at
        # another phase) or the same rises are judged again against a later trough.
        # What says the growth stopped or was random (stall, consistency) still counts.
        ep.trended = n > 1
        if fresh:
            n_eff += 1
        cycles = _climbing_cycles(parsed)
        if ep.spread0 > peak - ep.level0 and cycles is not None and cycles < MIN_RISES:
            return None  # memory swings more than it has grown: the swings must climb
        dur = t - ep.t0
        if dur <= 0:
            return None

        reserve = ep.reserve(dt)
        rr = self._rates(ep, t, headroom, dt) if reserve is None else _reserve_range(reserve, t)
        rate, r_lo, r_hi, fast, slow = rr.rate, rr.low, rr.high, rr.time_fast, rr.time_slow
        slack, usable = self._deep_room(ep)
        if rate < s.min_rate_bytes_per_s or r_hi <= 0:
            return None
        room = headroom + rr.overshoot
        rhythm = rr.rhythm

        # Swingers taking what fits still take their least (`_Episode.topped`): at the
        # fast end, that is room the growth cannot have.
        least = sum(v for ident, v in ep.least.items() if ident in ep.capped)

        def crossing(more: float, early: bool) -> float:
            """Seconds until the growth has taken the room and `more` (before now
            where negative), at the fast end or the slow end."""
            if early:
                more -= least
            if rhythm is not None:
                return rhythm.reaches(t, room + more, dt, early) + rr.delay
            if early:
                return (room + more) / fast + rr.delay
            return (room + more) / slow + rr.delay if slow > 0 else math.inf

        # Memory the growers reserved but have not allocated is handed out to them
        # before the GPU has to give more (deep mode); split blocks may not fit, so
        # the fast end counts only the rest.
        if ep.swinging() and slow > 0:
            # The room left beside swinging processes is what their swings leave: the
            # GPU fails at a swing up after the growth has taken that (`_at_swing`).
            low, high = self._at_swing(
                ep,
                t,
                lambda more, early: crossing(more - past + (usable if early else slack), early),
                dt,
            )
        else:
            off = max(ep.swinging().values(), default=0.0)  # (none, unless no slow rate)
            low, high = max(0.0, crossing(usable, True)), max(0.0, crossing(slack, False)) + off

        pi = min(1.0, max(0.0, s.leak_prior))
        f0 = min(1.0, max(0.0, ep.headroom0 / total))
        g = min(1.0, max(0.0, (peak - ep.level0) / total))
        benign = 1.0 / (1.0 + dur / BENIGN_S)
        denom = pi + (1 - pi) * (1 - g) * benign
        prior = (pi + (1 - pi) * (1 - f0) * benign) / denom if denom > 0 else 1.0
        evidence = math.sqrt(min(1.0, n_eff / max(1, s.min_sustained_samples)))
        gaps = sorted(ep.gaps)
        # Loads of one size with a few MB of accounting between them (rises under
        # `ARRIVAL_SLACK` of the biggest) are big steps too.
        loads = [x for x in sizes if x >= ARRIVAL_SLACK * sizes[-1]]
        step = sizes[len(sizes) // 2]
        if loads[-1] <= STEP_AGAIN_RATIO * loads[0]:
            step = max(step, loads[0])
        if (
            gaps
            and reserve is None
            and step >= LOAD_STEP_SHARE * total
            and (gaps[len(gaps) // 2] >= 2 * dt)
        ):
            # Big steps that flatten between them: a staircase of loads, not a leak.
            evidence *= LUMPY_FACTOR
        # One rise (of a fresh process, on a quiet series) has no floor behind it yet.
        consistency = (
            1.0
            if n == 1
            else self._consistency(ep, t, rr.since, dt, peak, process_phases, cycles)
        )
        before = ep.points[-2].t if len(ep.points) > 1 else -math.inf
        if ep.climb_t >= t:
            consistency = 1.0  # memory climbs on at the growth's step below its peak
        elif ep.fell_t >= t or (ep.fell_t >= before and ep.rises[-1][0] >= t):
            # A fall says nothing until the next sample; a rise then back to the
            # growth's peak says it was a trough seen once.
            consistency = max(consistency, ep.consistency)
        ep.consistency = consistency
        if ep.spread0 > peak - ep.level0:
            # Memory swings more than it has grown: the swings must climb (most bursts
            # new highs), or new highs are just the bigger of random batches.
            share = _climbing_share(ep.between(max(ep.t0, rr.since), t))
            consistency *= _clamp01(share / CLIMB_SHARE)
        deceleration = self._deceleration(ep, t, dur, dt, peak, headroom)
        # Leaks rest (stop-go loops, an allocator between segments), and one resting
        # where its rises came a sample apart shows no rhythm of rests yet: a pause
        # says nothing a leak's rest would not until the sample after it would come
        # STALL_HOLD_S after the last rise, or once the GPU would have been full by
        # then had the growth gone on (a load, not a leak at rest).
        regular = _regular_rhythm(ep.gaps, dt)
        ep.hold_s = 0.0 if regular else min(STALL_HOLD_S, low)
        stall = self._stall(ep, t, dt, parsed, reserve, regular)
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
            deep_slack_bytes=slack,
        )
        if confidence < self._needed_confidence(low):
            return None
        if (
            dur <= FLASH_S
            and high < dur
            and max(size for _, size in ep.rises) >= JUMP_SHARE * ep.headroom0
        ):
            # Growth under FLASH_S old that would fill the GPU sooner than it has grown,
            # in rises as big as allocation events: a load's burst (a process's first
            # batch, weights copied in). A young leak of small rises into little room
            # still leaves seconds a warning can use.
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

    def _at_swing(
        self,
        ep: _Episode,
        t: float,
        crossing: Callable[[float, bool], float],
        dt: float,
    ) -> tuple[float, float]:
        """The range beside swinging processes whose rhythms are known: the growth
        takes the room left with all of them up, and `more`, `crossing(more, early)`
        seconds from now at the fast end (`early`) or the slow end (before now where
        negative: it has taken some of their swings' room already), and the GPU fails
        once it has taken what those down would need too, at a time those up are up
        (`_Cycle.fails`). At the fast end, any set of them may be up
        together (each may be up then; together they may be up no earlier than the
        last of them); at the slow end, the first that is surely up once the growth
        has taken the others' swings, or the growth taking all of their swings while
        they rest. Where a rhythm is not known, one rests longer than it ever has, or
        more swing than `MAX_SCHEDULED` do, the slow end reaches as far past the
        crossing as any stayed down (`off`)."""
        swinging = ep.swinging()
        off = max(swinging.values())
        fallback = max(0.0, crossing(0.0, True)), max(0.0, crossing(0.0, False)) + off
        if len(swinging) > MAX_SCHEDULED:
            return fallback
        swings: list[tuple[_Cycle, float]] = []
        for ident in swinging:
            cycle = self._cycles.get(ident)
            if cycle is None:
                return fallback
            swings.append((cycle, max(ep.held.get(ident, 0.0), cycle.swing)))
        total = sum(swing for _, swing in swings)
        early, late = crossing(total, True), min(fallback[1], crossing(total, False))
        for chosen in range(1, 1 << len(swings)):
            up = [cycle for k, (cycle, _) in enumerate(swings) if chosen >> k & 1]
            down = sum(swing for k, (_, swing) in enumerate(swings) if not chosen >> k & 1)
            starts = [cycle.fails(t, crossing(down, True), dt, early=True) for cycle in up]
            if len(up) == 1:
                last = up[0].fails(t, crossing(down, False), dt, early=False)
                if last is None:
                    return fallback
                late = min(late, last)
            if None in starts:
                return fallback
            early = min(early, max(s for s in starts if s is not None))
        early = max(0.0, early)
        return early, max(early, late)

    def _needed_confidence(self, low: float) -> float:
        """`min_confidence`, and more the further off the failure could come at the
        earliest: a warning minutes ahead can wait a few samples for more evidence at
        almost no cost in lead (a slow, noisy leak's first rises overstate its rate),
        one seconds ahead cannot. From `FAR_FROM` of the warning window to all of it,
        the confidence needed rises by `FAR_EXTRA` of what is left up to 1."""
        s = self.settings
        w = s.warning_seconds
        if not w > 0:
            return s.min_confidence
        far = 1.0 if low >= w else _clamp01((low - FAR_FROM * w) / ((1 - FAR_FROM) * w))
        return s.min_confidence + (1 - s.min_confidence) * FAR_EXTRA * far

    @staticmethod
    def _stall(
        ep: _Episode,
        t: float,
        dt: float,
        parsed: _Swings,
        reserve: _Reserve | None,
        regular: bool,
    ) -> float:
        """Has the growth stopped? 1.0 while it goes on, toward 0 as a pause outlasts it.

        The confidence decays once the pause exceeds the longest gap seen (times
        `_pause_slack`, for irregular steps). Once a regular rhythm is known (a leak
        rising at every sample or so, `regular`, of `_regular_rhythm`), a gap already
        longer (counting the sample still to come) than every one of its gaps says it
        stopped: as likely as one gap in n + 1 being the longest (Laplace); where its
        steps' sizes vary widely (a training loop's outputs) or some were under half
        the typical one (allocator chunks, a chunk or two a sample at a fast refresh),
        only once it is past the longest, for such growth skips a sample now and then
        at a refresh of a second or two or faster. On such a rhythm, a newest rise under
        a fifth of its smallest step is growth that stopped within that interval (a leak
        ending between two samples), so the pause runs from the rise before it; a sample
        a process arrived in hides a rise as small as NVML's accounting differences, so
        it does not count.
        Before such a rhythm is known, rises a sample apart and of one size, the newest
        under `STALL_YOUNG_PARTIAL_STEP` of the smallest, are growth that stopped within
        the newest's interval too (its decay runs from the rise before it).
        Irregular steps have long pauses now and then; for them the exponential decay
        says how long is too long. Before a regular rhythm is known, a pause within
        `ep.hold_s` (`_predict`: `STALL_HOLD_S`, or the predicted time to failure where
        shorter) says nothing yet. A burst that came since the last rise without
        climbing, or a trough since then that stopped climbing with the troughs before,
        says it stopped at once (`_burst_without_climb`). Memory that fell below the
        peak and climbs on at the growth's step (`_climbs_on`: bursts meeting the
        samples in a long beat, troughs seen for many samples in a row) is the growth
        going on, and a sample that fell waits for the one after it to say which.
        """
        longest = max(ep.gaps) if ep.gaps else dt
        if reserve is not None:
            longest = max(longest, reserve.region_s)
        last = ep.rises[-1][0]
        pause = t - max(last, ep.climb_t)

        def decay(pause: float) -> float:
            slack = _pause_slack(longest, dt) * longest
            return math.exp(-max(0.0, pause - slack) / max(longest, dt))

        stall = decay(pause)
        if _burst_without_climb(parsed, last):
            return min(stall, 1 / (len(ep.gaps) + 1))
        if pause + dt <= ep.hold_s + 1e-9:
            return 1.0
        # The newest rise well short of the steps before it, all of a size: growth that
        # stopped within that sample's interval, so the pause runs from the rise before.
        steps = [size for _, size in ep.rises[-CV_ARRIVALS - 1 : -1]]
        cv2 = _cv2_classic(steps)
        share = STALL_PARTIAL_STEP if regular else STALL_YOUNG_PARTIAL_STEP
        partial = bool(steps) and ep.rises[-1][1] < share * min(steps) and cv2 <= STALL_REGULAR_CV2
        if not regular:
            # (too few rises yet for a rhythm: only where each came a sample apart)
            if (
                partial
                and len(ep.gaps) > STALL_RHYTHM_MIN_GAPS
                and all(_one_sample(g, dt) for g in ep.gaps[-CV_ARRIVALS:])
                and ep.arrived_t < last
            ):
                stall = decay(t - ep.rises[-2][0])
            return stall
        if ep.arrived_t >= last:
            # A process arrived since the newest rise: a rise as small as NVML's
            # accounting differences went unseen in that sample, so it says nothing.
            pause -= dt
        if partial:
            pause = t - ep.rises[-2][0]
        # Steps of very different sizes (a training loop's outputs, an allocator's
        # segments) skip a sample of a second or two now and then: the gap must be
        # past the longest (slower samples each span many steps).
        # So do steps some samples held under half the typical one of: a leak of
        # allocator chunks sampled a chunk or two at a time (a fast refresh) now and
        # then meets a sample that holds none.
        granular = bool(steps) and min(steps) < STALL_GRANULAR_SHARE * _median(steps)
        uneven = dt <= STALL_UNEVEN_MAX_DT and (cv2 > STALL_UNEVEN_CV2 or granular)
        ahead = 0.0 if uneven or ep.fell_t >= t else dt
        if pause > 0 and pause + ahead > longest + 1e-9:
            stall = min(stall, 1 / (len(ep.gaps) + 1))
        return stall

    @staticmethod
    def _floor_ratio(ep: _Episode, t: float, since: float, dt: float, peak: float) -> float | None:
        """How much the floor rose since `since`, per byte the peak rose (None when the
        peak has not risen up to a window ago: too young to judge).

        The floor now is the lowest sample over the last few gaps between rises (a
        sawtooth's trough, a leak itself), the floor then the lowest over as long a
        window at `since`; the peak's rise is taken up to a window ago, where the
        floor's stands. A steady leak gives about 1, bursts on a leak too, new highs
        of variable batches about 0 (their floor stays) or far above 1 (the floor then
        was a low phase the peak never left).
        """
        i = max(0, bisect.bisect_right(ep.times, since) - 1)
        start = ep.points[i]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(ep.rises[-4:]) if a[0] >= start.t]
        w = max(2 * dt, max(gaps, default=dt) + dt)
        # The floor over the last window stands for the level a window ago: compare it
        # with the peak's rise up to then.
        growth = ep.level_at(t - w + dt) - start.peak
        if growth <= 0:
            return None
        recent = [p.used for p in ep.between(t - w, t) if p.t > max(start.t, t - w)]
        # ... and the floor then over as long a window around `since` (after it, too:
        # a process that arrived at the top of a burst shows its trough only then).
        # Where the rate window starts at a change of rate, what came before it is
        # another regime (a load before a leak), not this growth's floor.
        then_end = max(start.t, min(start.t + w, t - w))
        then_start = start.t if since > ep.t0 else start.t - w
        then = [p.used for p in ep.between(then_start, then_end)]
        then += [v for tb, v in ep.before if tb >= then_start - 1e-9]
        if not recent or not then:
            return 0.0
        return (min(recent) - min(then)) / growth

    def _few_rises_suffice(
        self, ep: _Episode, t: float, peak: float, dt: float, parsed: _Swings
    ) -> bool:
        """Are two rises a trend here?

        On a quiet series (memory swung less, before the onset, than it has grown
        since) two similar rises in a row are. On a swinging one, new highs come by
        chance (variable batch sizes) unless the swings themselves climb, as bursts on
        a leak do: every burst since the onset was a new high, and the lowest sample
        since the onset (before the newest) rose from the floor at the onset at the
        peak's rate, within `CONSISTENCY_FULL` either way.
        """
        growth = peak - ep.level0
        if growth <= 0 or t <= ep.t0:
            return False
        headroom = self._prev[2] if self._prev is not None else 0.0
        share = QUICK_TREND_SHARE * (min(2.0, max(1.0, dt)) if ep.fresh else 1.0)
        if ep.median_rise() > share * headroom and not _steady_bursts(parsed):
            # A few more such steps fill the GPU: allocation events, unless they are
            # an allocator's regions doubling exactly, which the demand fills in turn.
            reserve = ep.reserve(dt)
            if reserve is None or not reserve.exact:
                return False
        if not ep.swung_more_than(growth):
            return True
        pts = ep.between(ep.t0, t)
        inner = pts[1:-1]
        if not inner:
            return False
        if _climbing_share(pts) < 1.0:
            return False  # a burst that did not reach the highs: swings, not a climb
        trough = min(inner, key=lambda p: p.used)
        # A floor that rose in a step (bursts each keeping a share) stood at its trough
        # for a while from the step on, which came as early as the first sample there
        # says or up to the middle of that stand.
        stand = [p.t for p in inner if p.used <= trough.used + NOISE_BYTES]
        # The peak it rose from stood since the onset, or since a burst's top before it.
        topped = [tb for tb, v in ep.before if v >= ep.level0 - NOISE_BYTES]
        return any(
            CONSISTENCY_FULL
            <= (trough.used - ep.floor0) / (at - ep.t0) / (growth / (t - since))
            <= 1 / CONSISTENCY_FULL
            for at in (stand[0], (stand[0] + stand[-1]) / 2)
            for since in {ep.t0, min(ep.t0, max(topped, default=ep.t0))}
        )

    def _deep_room(self, ep: _Episode) -> tuple[float, float]:
        """Memory the processes that grew during this episode reserved but have not
        allocated (deep mode): all of it, and the part outside split blocks.

        Their allocator hands it out to them before the GPU has to give more, so it is
        room for their growth. The growth rate stays the one NVML sees: what the
        allocator reserves is what the GPU runs out of (small tensors in bigger
        segments reserve more than they allocate, and split blocks may never fit).
        """
        growers = [ident for ident, v in self._sizes.items() if ep.grew(ident, v)]
        slack = usable = 0.0
        for ident in growers:
            d = self._deep.get(ident)
            if d is None:
                continue
            inside = max(0.0, float(d.reserved_bytes - d.allocated_bytes))
            slack += inside
            usable += max(0.0, inside - (_finite(d.inactive_split_bytes) or 0.0))
        return slack, usable

    def _rates(self, ep: _Episode, t: float, headroom: float, dt: float) -> _Range:
        """Central, slowest and fastest plausible growth rate of the peak (bytes/s), and
        the typical step it grows by.

        Rates are measured on the growth's arrivals (the level right after each rise),
        so a staircase of irregular steps is measured along its corners rather than
        across its flats. The window reaches back as far as the growth looks the same:
        to the onset, to the end of a long pause, or to a change of rate found on an
        earlier sample (`_changepoint`), at most `RATE_SPAN_S` or the predicted time.
        The range comes from how irregular the rises are (their gaps' and sizes'
        variation, as in a renewal process): the rate measured over k rises is off by
        about cv/sqrt(k), and the k_f rises still to come before full add cv/sqrt(k_f).
        """
        base = ep.base if ep.base is not None and ep.base[0] > ep.t0 else (ep.t0, ep.level0)
        pts = [base, *ep.arrivals_after(base[0])]
        pause = _long_pause(pts, dt)
        if pause is not None:
            ep.rests.add(pause[0])
            if len(ep.rests) < 2:
                ep.base = base = pause
                ep.before_change = None
                pts = [base, *ep.arrivals_after(base[0])]
            # else the pauses recur: they are the growth's rhythm, and its rate is
            # measured across them, from the end of the first one.
        win = pts
        rate = theil_sen(win)
        if rate > 0:
            span = max(RATE_SPAN_S, headroom / rate)
            older = bisect.bisect_left(win, t - span, key=_time)
            if older and len(win) - older >= RATE_MIN_ARRIVALS:
                win = win[older:]
                rate = theil_sen(win)
        recent_rate: float | None = None
        kink = max(ep.arrived_t, ep.stopped_t)
        arrived = kink if kink > win[0][0] else None
        recent = win[-CHANGE_NULL_ARRIVALS:]
        change = _changepoint(recent, arrived, startup=dt if recent[0][0] == ep.t0 else None)
        if change is not None:
            k, r_new, confirmed = change
            if confirmed:
                if ep.before_change is None:
                    ep.before_change = win[0]
                ep.base = recent[k]
                win = recent[k:]
                rate = theil_sen(win)
            else:
                recent_rate = r_new
        if rate <= 0 or len(win) < 2:
            return _Range(rate, 0.0, 0.0, 0.0, 0.0, 0.0, win[0][0])
        # How irregular the rises are: their gaps' and sizes' variation (the newest
        # `CV_ARRIVALS` in the window; a guess worth `CV2_PRIOR_WEIGHT` before that).
        hist = win[-CV_ARRIVALS - 1 :]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(hist)]
        sizes = [b[1] - a[1] for a, b in itertools.pairwise(hist)]
        n_inc = len(gaps)
        if hist[0][0] == ep.t0 and len(gaps) > 1:
            # The onset is the last sample before the first rise, not a rise: the time
            # from it to the first rise is not a gap between rises (bursts on a leak
            # have their onset a sample before a burst, whatever their period).
            gaps = gaps[1:]
        cv2 = _cv2_classic(_trimmed(gaps)) + _cv2_classic(_trimmed(sizes))
        cv2 = (n_inc * cv2 + CV2_PRIOR_WEIGHT * CV2_PRIOR) / (n_inc + CV2_PRIOR_WEIGHT)
        incs = [max(0.0, b[1] - a[1]) for a, b in itertools.pairwise(win)]
        k = len(incs)
        total = sum(incs)
        mean_inc = max(total / k, 1.0)
        # Growth arrives in steps, and the one that fails is the first that does not fit:
        # it comes, on average, when the line would be this far beyond full (a renewal
        # process's overshoot, E[X^2] / 2E[X]; half a step for equal steps). Only steps
        # the sampling resolves count: a rise in every sample is many smaller ones.
        resolved = max(0.0, 1.0 - dt / max(_median(gaps), dt)) if gaps else 0.0
        overshoot = resolved * _size_weighted_mean(incs) / 2
        # Log-spreads: the rate measured over k rises is off by about cv / sqrt(k) (plus
        # unmodelled drift); the k_f rises still to come before full take their own
        # time, off by cv / sqrt(k_f). The two are independent.
        s_rate = math.sqrt(cv2 / k + RATE_DRIFT**2)
        s_time = math.sqrt(s_rate**2 + cv2 / max(1.0, headroom / mean_inc))
        r_lo = rate * max(MIN_RATE_SHARE, math.exp(-RANGE_Z * s_rate))
        r_hi = rate * math.exp(RANGE_Z * s_rate)
        fast, slow = rate * math.exp(RANGE_Z * s_time), rate * math.exp(-RANGE_Z * s_time)
        if recent_rate is not None and recent_rate > 0:
            # The newest rises run at another rate, not yet confirmed: both are possible.
            r_hi = max(r_hi, recent_rate * math.exp(RANGE_Z * s_rate))
            r_lo = min(r_lo, recent_rate * math.exp(-RANGE_Z * s_rate))
            fast = max(fast, recent_rate * math.exp(RANGE_Z * s_rate))
            slow = min(slow, recent_rate * math.exp(-RANGE_Z * s_rate))
        slow = max(slow, MIN_RATE_SHARE * rate)
        accel = _acceleration(win, headroom, rate)
        if accel is None and ep.before_change is not None and ep.t0 <= ep.before_change[0]:
            # Rates that rose at a change may be growth speeding up all along: since
            # before the change, or since a process arrived, which explains a change
            # there.
            if ep.arrived_t < ep.before_change[0]:
                whole = [ep.before_change, *ep.arrivals_after(ep.before_change[0])]
            else:
                whole = ep.arrivals_after(ep.arrived_t)
            accel = _acceleration(whole, headroom, theil_sen(whole))
        if accel is not None:
            # Growth speeding up fills as its quadratic does, give or take the fit's
            # errors and the unmodelled drift every rate has.
            rate_now, to_full_fast, to_full_slow = accel
            fast = max(fast, to_full_fast * math.exp(RANGE_Z * RATE_DRIFT))
            slow = max(slow, to_full_slow * math.exp(-RANGE_Z * RATE_DRIFT))
            r_hi = max(r_hi, rate_now)
        rhythm = None
        if ep.flat_gaps >= RHYTHM_RUNS - 1:
            scan = ep.arrivals[-RHYTHM_SCAN - 1 :]
            entire = len(scan) == len(ep.arrivals)
            rhythm = _rhythm(
                scan if entire else scan[1:], ep.level0 if entire else scan[0][1], t, dt, entire
            )
        # (a rhythm's schedule says when the failing run comes: no overshoot on it)
        room_over = overshoot if rhythm is None else 0.0
        return _Range(rate, r_lo, r_hi, room_over, fast, slow, win[0][0], rhythm=rhythm)

    def _consistency(
        self,
        ep: _Episode,
        t: float,
        since: float,
        dt: float,
        peak: float,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]],
        cycles: int | None,
    ) -> float:
        """Does the floor rise with the peak? Bigger bursts lift only the peak.

        Over the rate's window (`since`): after a pause or a change of rate, what came
        before says nothing about this growth. `_floor_ratio` compares the floor's
        rise with the peak's: about 1 for a leak (with or without bursts on it), 0 for
        batches reaching new highs over a flat floor, and far above 1 when the floor
        then was a low phase the peak never left (randomness, not a leak). Swings that
        climb together (`cycles`, of `_climbing_cycles`, at least `MIN_RISES`) are
        consistent whatever the ratio.
        """
        base = max(ep.t0, since)
        r = self._floor_ratio(ep, t, base, dt, peak)
        if r is None and base > ep.t0:
            # A rate window just re-based at a change of rate, whose peak has not risen
            # up to a window ago: the floor over the whole growth says more.
            r = self._floor_ratio(ep, t, ep.t0, dt, peak)
        ratio = _clamp01(min(r, 1 / r) / CONSISTENCY_FULL) if r is not None and r > 0 else 0.0
        if ratio < 1.0 and (cycles or 0) >= MIN_RISES:
            # Swings whose troughs climb at their peaks' rate are a floor rising with
            # the peak, whatever an onset before the first of them makes of the ratio
            # (the peak's rise from there holds a burst's height).
            ratio = 1.0
        # Per-process evidence: a process the phase detector sees GROWING, holding most
        # of this episode's growth, is a floor that rises.
        growth = peak - ep.level_at(since)
        if growth > 0:
            for _proc, phase in process_phases:
                rate = _finite(phase.rate_bytes_per_s) or 0.0
                grown = rate * min(t - since, phase.duration_samples * dt)
                if phase.phase is Phase.GROWING and grown >= 0.5 * growth:
                    ratio = max(ratio, _clamp01(phase.confidence))
        return ratio

    def _deceleration(
        self, ep: _Episode, t: float, dur: float, dt: float, peak: float, headroom: float
    ) -> float:
        """Growth slowing steadily toward a level short of full is not heading for OOM."""
        return min(self._slowing(ep, t, dur, dt, peak, headroom), _decaying_rises(ep, dt, headroom))

    def _slowing(
        self, ep: _Episode, t: float, dur: float, dt: float, peak: float, headroom: float
    ) -> float:
        """Three windows of the growth, each slower than the one before."""
        span = min(dur, DECEL_SPAN_S)
        third = span / 3
        if third < max(DECEL_MIN_WINDOW_S, 4 * dt):
            return 1.0
        start = t - span
        levels = [ep.level_at(start + i * third) for i in range(3)] + [peak]
        rates = [(levels[i + 1] - levels[i]) / third for i in range(3)]
        edges = [bisect.bisect_right(ep.rises, start + i * third, key=_time) for i in range(4)]
        counts = [edges[i + 1] - edges[i] for i in range(3)]
        sig = [1 + 2 / math.sqrt(max(1, min(counts[i], counts[i + 1]))) for i in range(2)]
        if not (rates[0] > 0 and rates[1] * sig[0] < rates[0] and rates[2] * sig[1] < rates[1]):
            return 1.0
        if rates[2] <= 0:
            return 0.0
        if math.log(rates[1] / rates[2]) < 0.5 * math.log(rates[0] / rates[1]):
            return 1.0  # a drop that then levels off (a load ending in a leak), not a decay
        mid = t - third / 2
        newer, older = (peak - ep.level_at(mid)), (ep.level_at(mid) - ep.level_at(t - third))
        if older > 0 and newer >= STILL_SLOWING * older:
            return 1.0  # the newest stretch is not slowing down any more: it levelled into a trend
        lam = math.log(rates[1] / rates[2]) / third
        rate_now = rates[2] * math.exp(-lam * third / 2)
        still_to_come = rate_now / lam
        return min(1.0, still_to_come / max(headroom, 1.0)) ** 2
