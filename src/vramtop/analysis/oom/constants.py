"""The predictor's tunables: each says what it measures and why it has its value."""

from __future__ import annotations

HORIZON_S = 3600.0
MB = 1_000_000.0

# Model constants (the shape of the model, not user preferences).
ENVELOPE_S = 10.0  # the peak envelope spans this much time (longer than a training step)
NOISE_BYTES = 1.0 * MB  # NVML granularity: smaller moves are not growth
ARRIVAL_SLACK = 0.05  # a rise under this share of an arriving process's size is accounting
# ... and so is one under this where no process already there rose, or the sample after
# where only those arrivals rose (a context's first megabytes: 5-12 MB in the recordings,
# whatever the process's size)
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
