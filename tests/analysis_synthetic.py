"""SYNTHETIC GPU memory recordings for the analysis tests and `bench/oom_accuracy.py --synthetic`.

Nothing here was measured on a GPU. These generators build vramtop-trace `Trace`
objects (10 Hz, an 80 GB H100's total and reserved memory) for the harder kinds
of workload the real recordings in tests/fixtures/traces/ do not cover yet:
steeper and noisier leaks, per-step bursts on top of a slow leak, two leakers,
allocator-style irregular steps, growth that plateaus near full, variable batch
sizes, big model loads. Each carries the same events a real recording would
(`start`, `oom`, `plateau`, `exit`) and `meta.expected`, so the benchmark's
scoring applies to them unchanged. A process that asks for more than the free
memory gets an `oom` event and exits, as with a real CUDA OOM.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vramtop.model import GPUDevice, GPUProcess, MemorySnapshot
from vramtop.trace import Trace, TraceDevice, TraceEvent, TraceHeader

TOTAL = 85_520_809_984
RESERVED = 503_316_480
CAPACITY = TOTAL - RESERVED
GB = 1_000_000_000
MB = 1_000_000
CONTEXT = 530 * MB  # what a CUDA context costs on an H100
UUID = "GPU-synthetic-0000"

# A workload is a function of time since its start -> bytes it wants (None: not running).
Demand = Callable[[float], float | None]


@dataclass
class Workload:
    pid: int
    start_s: float
    demand: Demand
    name: str = "python3"
    end_s: float | None = None
    plateau_s: float | None = None  # time since start at which growth stops, if it does
    # ... or, growth of an uncertain pace, once its demand reaches this many bytes (a
    # workload announces its plateau after its last allocation)
    plateau_bytes: float | None = None
    events: list[tuple[float, str]] = field(default_factory=list)
    # Seconds between the `start` event and the process's first memory (CUDA start-up:
    # about 4-5 s on the H100 recordings); its demand runs from then on.
    init_s: float = 0.0


def ballast(gb: float) -> Demand:
    return lambda _t: CONTEXT + gb * GB


def leak(
    rate_mb_s: float,
    *,
    rng: random.Random,
    jitter: float = 0.0,
    delay_s: float = 0.0,
    chunk_mb: float = 0.0,
) -> Demand:
    """A leak of `rate_mb_s`; `jitter` is the relative noise of each 0.1 s increment;
    `chunk_mb` > 0 makes it grow in allocator chunks of that size."""
    incs: list[float] = []

    def f(t: float) -> float:
        g = max(0.0, t - delay_s)
        n = int(g * 10)
        while len(incs) < n:
            incs.append(max(0.0, rate_mb_s * MB / 10 * (1 + jitter * rng.gauss(0, 1))))
        grown = sum(incs[:n])
        if chunk_mb > 0:
            grown = math.floor(grown / (chunk_mb * MB)) * chunk_mb * MB
        return CONTEXT + grown

    return f


def step_leak(
    mean_rate_mb_s: float, *, rng: random.Random, min_mb: float, max_mb: float, mean_gap_s: float
) -> Demand:
    """Irregular allocator steps: random sizes at random (exponential) intervals."""
    steps: list[tuple[float, float]] = []
    scale = mean_rate_mb_s * mean_gap_s / ((min_mb + max_mb) / 2)

    def f(t: float) -> float:
        while not steps or steps[-1][0] < t:
            last = steps[-1][0] if steps else 0.0
            size = rng.uniform(min_mb, max_mb) * scale * MB
            steps.append((last + rng.expovariate(1.0 / mean_gap_s), size))
        return CONTEXT + sum(s for ts, s in steps if ts <= t)

    return f


def sawtooth(
    base_gb: float, burst_gb: float, period_s: float, leak_mb_s: float, duty: float = 0.5
) -> Demand:
    """Per-step bursts (activations returned to the driver each step) on a slow leak."""

    def f(t: float) -> float:
        phase = (t % period_s) / period_s
        burst = burst_gb * GB if phase < duty else 0.0
        return CONTEXT + base_gb * GB + leak_mb_s * MB * t + burst

    return f


def load(size_gb: float, rate_gb_s: float, then_leak_mb_s: float = 0.0) -> Demand:
    def f(t: float) -> float:
        loaded = min(size_gb * GB, rate_gb_s * GB * t)
        after = max(0.0, t - size_gb / rate_gb_s)
        return CONTEXT + loaded + then_leak_mb_s * MB * after

    return f


def plateau(rate_mb_s: float, stop_gb: float) -> Demand:
    return lambda t: CONTEXT + min(stop_gb * GB, rate_mb_s * MB * t)


def saturating(size_gb: float, tau_s: float) -> Demand:
    """Growth that slows down and levels off (a cache filling): size * (1 - exp(-t/tau))."""
    return lambda t: CONTEXT + size_gb * GB * (1 - math.exp(-t / tau_s))


def variable_batch(
    base_gb: float,
    min_gb: float,
    max_gb: float,
    step_s: float,
    *,
    rng: random.Random,
    caching: bool,
) -> Demand:
    """Training with random batch sizes. `caching`: the allocator keeps its high-water
    mark (reserved never shrinks); otherwise activations go back to the driver."""
    acts: list[float] = []

    def f(t: float) -> float:
        i = int(t / step_s)
        while len(acts) <= i:
            acts.append(rng.uniform(min_gb, max_gb) * GB)
        act = max(acts[: i + 1]) if caching else acts[i]
        return CONTEXT + base_gb * GB + act

    return f


def staircase(step_gb: float, gap_s: float, steps: int) -> Demand:
    return lambda t: CONTEXT + step_gb * GB * min(steps, 1 + int(t / gap_s))


def build(
    name: str,
    workloads: Sequence[Workload],
    duration_s: float,
    *,
    expected: str,
    description: str = "",
    dt: float = 0.1,
) -> Trace:
    """Simulate `workloads` on one 80 GB GPU at `dt` and return the recording."""
    samples: list[MemorySnapshot] = []
    events: list[TraceEvent] = []
    alive: dict[int, float] = {}
    done: set[int] = set()
    n = round(duration_s / dt)
    for i in range(n + 1):
        t = round(i * dt, 4)
        for w in workloads:
            if w.pid in done or t < w.start_s:
                continue
            if w.pid not in alive and not any(
                e.event == "start" and e.pid == w.pid for e in events
            ):
                events.append(TraceEvent(t, "start", w.pid, {"mode": name}))
            if t < w.start_s + w.init_s - 1e-9:
                continue
            if w.end_s is not None and t >= w.end_s:
                alive.pop(w.pid, None)
                done.add(w.pid)
                events.append(TraceEvent(t, "exit", w.pid, {}))
                continue
            want = w.demand(t - w.start_s - w.init_s)
            if (
                w.plateau_s is not None
                and t - w.start_s - w.init_s >= w.plateau_s
                and (w.plateau_bytes is None or (want or 0.0) >= w.plateau_bytes)
                and not any(e.event == "plateau" and e.pid == w.pid for e in events)
            ):
                events.append(TraceEvent(t, "plateau", w.pid, {}))
            if want is None:
                continue
            others = sum(v for p, v in alive.items() if p != w.pid)
            if others + want > CAPACITY:
                free = CAPACITY - others - alive.get(w.pid, 0.0)
                events.append(TraceEvent(round(t - dt / 2, 4), "oom", w.pid, {"free": int(free)}))
                alive.pop(w.pid, None)
                done.add(w.pid)
                continue
            alive[w.pid] = want
        procs = tuple(
            GPUProcess(
                pid=p,
                starttime=1000 + p,
                used_bytes=int(v),
                name="python3",
                cmdline=("python3", f"{name}.py"),
            )
            for p, v in sorted(alive.items())
        )
        used = int(sum(alive.values()))
        dev = GPUDevice(
            index=0,
            uuid=UUID,
            name="NVIDIA H100 80GB HBM3 (synthetic)",
            total_bytes=TOTAL,
            used_bytes=used,
            free_bytes=CAPACITY - used,
            reserved_bytes=RESERVED,
            processes=procs,
        )
        samples.append(MemorySnapshot(t=t, unix_time=1.8e9 + t, devices=(dev,)))
        if (
            any(e.event == "oom" for e in events)
            and t > max(e.t for e in events if e.event == "oom") + 1.5
        ):
            break
    header = TraceHeader(
        start_unix=1.8e9,
        interval_s=dt,
        driver="synthetic",
        nvml="synthetic",
        devices=(TraceDevice(0, "NVIDIA H100 80GB HBM3 (synthetic)", UUID, TOTAL),),
        meta={
            "scenario": name,
            "description": "SYNTHETIC: " + description,
            "expected": expected,
            "synthetic": True,
        },
    )
    return Trace(
        path=f"synthetic:{name}",
        header=header,
        samples=tuple(samples),
        events=tuple(sorted(events, key=lambda e: e.t)),
    )


def scenarios(seed: int = 0) -> list[Trace]:
    """The harder kinds, each SYNTHETIC, with their expected outcome."""
    r = random.Random(seed)

    def W(pid: int, start: float, demand: Demand, **kw: float | None) -> Workload:
        return Workload(pid, start, demand, **kw)  # type: ignore[arg-type]

    out = [
        build(
            "syn_leak_60",
            [W(1, 3, ballast(74)), W(2, 6, leak(60, rng=r, jitter=0.2))],
            200,
            expected="oom",
            description="60 MB/s leak beside a 74 GB ballast",
        ),
        build(
            "syn_leak_400",
            [W(1, 3, ballast(50)), W(2, 6, leak(400, rng=r, jitter=0.2))],
            120,
            expected="oom",
            description="400 MB/s leak beside a 50 GB ballast",
        ),
        build(
            "syn_leak_1500",
            [W(1, 3, ballast(20)), W(2, 6, leak(1500, rng=r, jitter=0.3))],
            80,
            expected="oom",
            description="1.5 GB/s leak beside a 20 GB ballast",
        ),
        build(
            "syn_noisy_leak",
            [W(1, 3, ballast(62)), W(2, 6, leak(200, rng=r, jitter=1.5))],
            150,
            expected="oom",
            description="200 MB/s leak with very noisy increments",
        ),
        build(
            "syn_burst_leak",
            [W(1, 3, ballast(55)), W(2, 6, sawtooth(2, 8, 3.0, 80))],
            250,
            expected="oom",
            description="8 GB per-step bursts every 3 s on a 80 MB/s leak",
        ),
        build(
            "syn_burst_leak_fast",
            [W(1, 3, ballast(45)), W(2, 6, sawtooth(4, 12, 1.3, 250, duty=0.4))],
            150,
            expected="oom",
            description="12 GB bursts every 1.3 s on a 250 MB/s leak",
        ),
        build(
            "syn_two_leakers",
            [
                W(1, 3, ballast(55)),
                W(2, 6, leak(90, rng=r, jitter=0.3)),
                W(3, 25, leak(140, rng=r, jitter=0.3)),
            ],
            200,
            expected="oom",
            description="two leakers (90 and 140 MB/s), the second starting 19 s later",
        ),
        build(
            "syn_step_leak",
            [
                W(1, 3, ballast(60)),
                W(2, 6, step_leak(150, rng=r, min_mb=20, max_mb=600, mean_gap_s=1.5)),
            ],
            200,
            expected="oom",
            description="irregular allocator steps, 150 MB/s on average",
        ),
        build(
            "syn_chunk_leak",
            [W(1, 3, ballast(66)), W(2, 6, leak(100, rng=r, jitter=0.2, chunk_mb=512))],
            200,
            expected="oom",
            description="100 MB/s leak seen in 512 MB allocator chunks",
        ),
        build(
            "syn_load_then_leak",
            [W(1, 3, ballast(30)), W(2, 6, load(25, 2.0, 180))],
            200,
            expected="oom",
            description="25 GB load at 2 GB/s, then a 180 MB/s leak",
        ),
        build(
            "syn_plateau_near_full",
            [W(1, 3, ballast(60), plateau_s=None), W(2, 6, plateau(250, 21.5), plateau_s=86)],
            140,
            expected="no_oom",
            description="250 MB/s growth that stops 2.5 GB short of full",
        ),
        build(
            "syn_saturating",
            [W(1, 3, ballast(55)), W(2, 6, saturating(26, 25), plateau_s=75)],
            160,
            expected="no_oom",
            description="growth that slows and levels off 3.5 GB from full",
        ),
        build(
            "syn_varbatch_cache",
            [W(1, 3, ballast(50)), W(2, 6, variable_batch(4, 2, 26, 0.7, rng=r, caching=True))],
            120,
            expected="no_oom",
            description="random batch sizes, caching allocator",
        ),
        build(
            "syn_varbatch_free",
            [W(1, 3, ballast(50)), W(2, 6, variable_batch(4, 2, 26, 0.7, rng=r, caching=False))],
            120,
            expected="no_oom",
            description="random batch sizes, activations freed",
        ),
        build(
            "syn_big_load",
            [W(1, 3, load(62, 2.0))],
            90,
            expected="no_oom",
            description="a 62 GB model load at 2 GB/s on an empty GPU",
        ),
        build(
            "syn_load_into_tight",
            [W(1, 3, ballast(40)), W(2, 8, load(30, 3.0), plateau_s=10.1)],
            60,
            expected="no_oom",
            description="a 30 GB load at 3 GB/s beside a 40 GB ballast",
        ),
        build(
            "syn_staircase_fast",
            [W(1, 3, staircase(6.5, 4, 9))],
            60,
            expected="no_oom",
            description="9 loads of 6.5 GB, 4 s apart, up to 59 GB",
        ),
        build(
            "syn_leak_empty_gpu",
            [W(2, 3, leak(300, rng=r, jitter=0.2))],
            320,
            expected="oom",
            description="300 MB/s leak on an otherwise empty GPU",
        ),
        build(
            "syn_slow_load",
            [W(1, 3, load(30, 0.4))],
            130,
            expected="no_oom",
            description="a 30 GB load at 400 MB/s (slow disk)",
        ),
    ]
    return out


# --- randomised families: many unseen series of every kind (bench/oom_robustness.py) -----


def _u(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi)


def _logu(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _t(rng: random.Random, lo: float, hi: float) -> float:
    """A start time on the 10 Hz grid, so that 1 Hz sampling meets it at any phase."""
    return round(rng.uniform(lo, hi), 1)


def _init(rng: random.Random) -> float:
    return round(rng.uniform(2.0, 5.0), 1)


def _ballast_for(headroom: float, *others: float) -> float:
    """Ballast (GB, beside its context) that leaves `headroom` bytes free above `others`."""
    return max(0.0, (CAPACITY - headroom - sum(others) - CONTEXT) / GB)


def fam_leak(rng: random.Random, name: str) -> Trace:
    rate = _logu(rng, 40, 1500)
    jitter = rng.choice([0.0, 0.2, 0.5, 1.5])
    chunk = rng.choice([0.0, 0.0, 2.0, 20.0, 256.0])
    room = min(70 * GB, rate * MB * _u(rng, 35, 150))
    b = _ballast_for(room, CONTEXT)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2,
                _t(rng, 4, 10),
                leak(rate, rng=rng, jitter=jitter, chunk_mb=chunk),
                init_s=_init(rng),
            ),
        ],
        400,
        expected="oom",
        description=f"{rate:.0f} MB/s leak (jitter {jitter}, chunks {chunk} MB), "
        f"{room / GB:.1f} GB free",
    )


def fam_step_leak(rng: random.Random, name: str) -> Trace:
    rate = _logu(rng, 50, 400)
    gap = _u(rng, 0.4, 3.0)
    lo = _u(rng, 2, 50)
    hi = lo * _u(rng, 3, 30)
    room = rate * MB * _u(rng, 40, 150)
    b = _ballast_for(room, CONTEXT)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2,
                _t(rng, 4, 10),
                step_leak(rate, rng=rng, min_mb=lo, max_mb=hi, mean_gap_s=gap),
                init_s=_init(rng),
            ),
        ],
        400,
        expected="oom",
        description=f"irregular steps, {rate:.0f} MB/s, mean gap {gap:.1f} s",
    )


def fam_burst_leak(rng: random.Random, name: str) -> Trace:
    rate = _logu(rng, 40, 300)
    burst = _u(rng, 1, 12)
    period = _u(rng, 0.7, 4.0)
    duty = _u(rng, 0.3, 0.7)
    base = _u(rng, 1, 6)
    room = rate * MB * _u(rng, 40, 150)
    b = _ballast_for(room, CONTEXT, CONTEXT, base * GB, burst * GB)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2, _t(rng, 4, 10), sawtooth(base, burst, period, rate, duty), init_s=_init(rng)
            ),
        ],
        400,
        expected="oom",
        description=f"{burst:.1f} GB bursts every {period:.1f} s on a {rate:.0f} MB/s leak",
    )


def fam_two_leakers(rng: random.Random, name: str) -> Trace:
    r1, r2 = _logu(rng, 40, 300), _logu(rng, 40, 300)
    later = _u(rng, 5, 30)
    room = r1 * MB * later + (r1 + r2) * MB * _u(rng, 30, 120)
    b = _ballast_for(room, 2 * CONTEXT)
    s1 = _t(rng, 4, 8)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(2, s1, leak(r1, rng=rng, jitter=0.3, chunk_mb=20), init_s=_init(rng)),
            Workload(
                3,
                round(s1 + later, 1),
                leak(r2, rng=rng, jitter=0.3, chunk_mb=20),
                init_s=_init(rng),
            ),
        ],
        400,
        expected="oom",
        description=f"two leakers ({r1:.0f}, {r2:.0f} MB/s), the second {later:.0f} s later",
    )


def fam_load_then_leak(rng: random.Random, name: str) -> Trace:
    size, speed = _u(rng, 5, 30), _u(rng, 1, 4)
    rate = _logu(rng, 60, 400)
    room = size * GB + rate * MB * _u(rng, 40, 150)
    b = _ballast_for(room, CONTEXT)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(2, _t(rng, 4, 10), load(size, speed, rate), init_s=_init(rng)),
        ],
        400,
        expected="oom",
        description=f"{size:.0f} GB load at {speed:.1f} GB/s, then a {rate:.0f} MB/s leak",
    )


def _swinger(rng: random.Random) -> tuple[float, Demand, str]:
    """A process beside the growth taking `swing` GB for part of every period, longer
    than a few seconds (an evaluation, a batch job): its size, demand and description."""
    swing = _u(rng, 1, 4)
    period = _u(rng, 6, 30)
    duty = _u(rng, 0.2, 0.6)
    return (
        swing,
        sawtooth(0.0, swing, period, 0.0, duty),
        (f"{swing:.1f} GB for {duty * period:.0f} s of every {period:.0f} s"),
    )


def _leak_and_swinger(rng: random.Random, name: str, *, swinger_first: bool) -> Trace:
    """A leak beside a process swinging (`_swinger`): arriving 3-20 s after the leak
    began, or (`swinger_first`) already swinging 8-12 s before it begins."""
    rate = _logu(rng, 60, 300)
    swing, swinger, what = _swinger(rng)
    start = _t(rng, 15, 45) if swinger_first else _t(rng, 4, 10)
    room = rate * MB * _u(rng, 50, 150)
    b = _ballast_for(room, CONTEXT, CONTEXT, swing * GB)
    work = [Workload(1, _t(rng, 0.5, 3), ballast(b))]
    if swinger_first:
        work.append(Workload(3, round(start - _u(rng, 8, 12), 1), swinger, init_s=_init(rng)))
    work.append(Workload(2, start, leak(rate, rng=rng, jitter=0.2), init_s=_init(rng)))
    if not swinger_first:
        work.append(Workload(3, round(start + _u(rng, 3, 20), 1), swinger, init_s=_init(rng)))
    where = (
        "beginning beside a process already taking" if swinger_first else "beside a process taking"
    )
    return build(
        name, work, 400, expected="oom", description=f"a {rate:.0f} MB/s leak {where} {what}"
    )


def fam_swinger_leak(rng: random.Random, name: str) -> Trace:
    return _leak_and_swinger(rng, name, swinger_first=False)


def fam_swinger_then_leak(rng: random.Random, name: str) -> Trace:
    return _leak_and_swinger(rng, name, swinger_first=True)


def fam_swinger_plateau(rng: random.Random, name: str) -> Trace:
    rate = _logu(rng, 60, 400)
    swing, swinger, what = _swinger(rng)
    short = _u(rng, 1, 4)
    grow_s = _u(rng, 20, 90)
    size = rate * MB * grow_s
    start = _t(rng, 4, 10)
    b = _ballast_for(short * GB, CONTEXT, size, CONTEXT, swing * GB)
    demand = _growth_to(size, rate, rng, 0.2)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(3, round(start - _u(rng, 0, 10), 1), swinger, init_s=_init(rng)),
            Workload(
                2, start, demand, plateau_s=0.0, plateau_bytes=CONTEXT + size, init_s=_init(rng)
            ),
        ],
        grow_s + 80,
        expected="no_oom",
        description=f"{rate:.0f} MB/s growth that stops {short:.1f} GB short of full, "
        f"beside a process taking {what}",
    )


def fam_var_batch(rng: random.Random, name: str, *, caching: bool) -> Trace:
    base = _u(rng, 1, 10)
    top = _u(rng, 4, 28)
    bottom = _u(rng, 0.5, 0.5 * top)
    step = _u(rng, 0.4, 3.0)
    margin = _u(rng, 1, 8)
    b = _ballast_for(margin * GB, CONTEXT, base * GB, top * GB)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2,
                _t(rng, 4, 10),
                variable_batch(base, bottom, top, step, rng=rng, caching=caching),
                init_s=_init(rng),
            ),
        ],
        150,
        expected="no_oom",
        description=(
            f"random batches of {bottom:.1f}-{top:.1f} GB every {step:.1f} s "
            f"({'cached' if caching else 'freed'}), {margin:.1f} GB spare at the largest"
        ),
    )


def fam_var_batch_free(rng: random.Random, name: str) -> Trace:
    return fam_var_batch(rng, name, caching=False)


def fam_var_batch_cache(rng: random.Random, name: str) -> Trace:
    return fam_var_batch(rng, name, caching=True)


def _growth_to(size: float, rate_mb_s: float, rng: random.Random, jitter: float) -> Demand:
    """A leak of `rate_mb_s` that stops once it has grown `size` bytes."""
    growth = leak(rate_mb_s, rng=rng, jitter=jitter)
    return lambda t: min(CONTEXT + size, growth(t) or 0.0)


def fam_plateau(rng: random.Random, name: str) -> Trace:
    rate = _logu(rng, 60, 800)
    short = _u(rng, 1, 5)
    grow_s = _u(rng, 20, 90)
    size = rate * MB * grow_s
    jitter = rng.choice([0.0, 0.2, 0.5])
    b = _ballast_for(short * GB, CONTEXT, size)
    demand = _growth_to(size, rate, rng, jitter)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2,
                _t(rng, 4, 10),
                demand,
                plateau_s=0.0,
                plateau_bytes=CONTEXT + size,
                init_s=_init(rng),
            ),
        ],
        grow_s + 70,
        expected="no_oom",
        description=f"{rate:.0f} MB/s growth that stops {short:.1f} GB short of full",
    )


def fam_saturating(rng: random.Random, name: str) -> Trace:
    tau = _u(rng, 8, 40)
    short = _u(rng, 1, 5)
    size = _u(rng, 5, 40)
    b = _ballast_for(short * GB, CONTEXT, size * GB)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2, _t(rng, 4, 10), saturating(size, tau), plateau_s=3 * tau, init_s=_init(rng)
            ),
        ],
        5 * tau + 30,
        expected="no_oom",
        description=f"{size:.0f} GB levelling off (tau {tau:.0f} s), {short:.1f} GB short",
    )


def fam_load(rng: random.Random, name: str) -> Trace:
    size = _u(rng, 5, 60)
    speed = _logu(rng, 0.3, 6)
    short = _u(rng, 1, 20)
    b = _ballast_for(short * GB, CONTEXT, size * GB)
    loads = [
        Workload(2, _t(rng, 4, 10), load(size, speed), plateau_s=size / speed, init_s=_init(rng))
    ]
    work = [Workload(1, _t(rng, 0.5, 3), ballast(b)), *loads] if b > 0.5 else loads
    return build(
        name,
        work,
        size / speed + 60,
        expected="no_oom",
        description=f"a {size:.0f} GB load at {speed:.1f} GB/s, {short:.1f} GB short of full",
    )


def fam_staircase(rng: random.Random, name: str) -> Trace:
    step = _u(rng, 1.5, 8)
    gap = _u(rng, 2, 10)
    n = rng.randint(3, 10)
    short = _u(rng, 2, 15)
    b = _ballast_for(short * GB, CONTEXT, n * step * GB)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2,
                _t(rng, 4, 10),
                staircase(step, gap, n),
                plateau_s=(n - 1) * gap,
                init_s=_init(rng),
            ),
        ],
        n * gap + 60,
        expected="no_oom",
        description=f"{n} loads of {step:.1f} GB, {gap:.1f} s apart, {short:.1f} GB short",
    )


def fam_sawtooth_train(rng: random.Random, name: str) -> Trace:
    base = _u(rng, 2, 30)
    burst = _u(rng, 1, 20)
    period = _u(rng, 0.5, 5)
    short = _u(rng, 1, 10)
    b = _ballast_for(short * GB, CONTEXT, (base + burst) * GB)
    return build(
        name,
        [
            Workload(1, _t(rng, 0.5, 3), ballast(b)),
            Workload(
                2,
                _t(rng, 4, 10),
                sawtooth(base, burst, period, 0.0, _u(rng, 0.3, 0.7)),
                init_s=_init(rng),
            ),
        ],
        150,
        expected="no_oom",
        description=f"training, {burst:.1f} GB every {period:.1f} s, {short:.1f} GB spare",
    )


def fam_prealloc(rng: random.Random, name: str) -> Trace:
    share = _u(rng, 0.6, 0.95)
    other = _u(rng, 0, 0.95 - share) * CAPACITY / GB
    work = [Workload(2, _t(rng, 4, 10), ballast(share * CAPACITY / GB), init_s=_init(rng))]
    if other > 1:
        work.insert(0, Workload(1, _t(rng, 0.5, 3), ballast(other)))
    return build(name, work, 90, expected="no_oom", description=f"pre-allocation of {share:.0%}")


# kind -> (generator, expected outcome)
FAMILIES: dict[str, Callable[[random.Random, str], Trace]] = {
    "leak": fam_leak,
    "step_leak": fam_step_leak,
    "burst_leak": fam_burst_leak,
    "two_leakers": fam_two_leakers,
    "load_then_leak": fam_load_then_leak,
    "var_batch_free": fam_var_batch_free,
    "var_batch_cache": fam_var_batch_cache,
    "plateau": fam_plateau,
    "saturating": fam_saturating,
    "load": fam_load,
    "staircase": fam_staircase,
    "sawtooth_train": fam_sawtooth_train,
    "prealloc": fam_prealloc,
    "swinger_leak": fam_swinger_leak,
    "swinger_plateau": fam_swinger_plateau,
    "swinger_then_leak": fam_swinger_then_leak,
}


def family(kind: str, seed: int) -> Trace:
    """One SYNTHETIC series of `kind` (a key of `FAMILIES`), the same for the same seed."""
    name = f"{kind}#{seed}"
    return FAMILIES[kind](random.Random(name), name)
