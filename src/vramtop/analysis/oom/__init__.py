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

from vramtop.analysis.oom.constants import HORIZON_S
from vramtop.analysis.oom.predictor import OOMPredictor
from vramtop.analysis.oom.records import OOMEvidence, OOMSettings

__all__ = ["HORIZON_S", "OOMEvidence", "OOMPredictor", "OOMSettings"]
