"""The OOM predictor (`OOMPredictor`): episodes of growth per GPU, turned into a time
range with a confidence (the method: this package's docstring)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from vramtop.analysis.oom.confidence import _consistency, _deceleration, _stall
from vramtop.analysis.oom.constants import (
    ARRIVAL_ACCOUNTING_BYTES,
    ARRIVAL_SLACK,
    BENIGN_S,
    CAP_TOLERANCE_SHARE,
    CLIMB_SHARE,
    CONSISTENCY_FULL,
    CONTEXT_BYTES,
    CV_ARRIVALS,
    DORMANT_FACTOR,
    ENVELOPE_S,
    FAR_EXTRA,
    FAR_FROM,
    FIRST_GAP_TOLERANCE_S,
    FLASH_S,
    FLOOR_CLIMB_SHARE,
    FRESH_ARRIVAL_RISES,
    HORIZON_S,
    JUMP_SHARE,
    LOAD_STEP_SHARE,
    LUMPY_FACTOR,
    MAX_SCHEDULED,
    MB,
    MIN_EFFECTIVE_RISES,
    MIN_RISES,
    NOISE_BYTES,
    QUICK_TREND_SHARE,
    REGIME_RATE_RATIO,
    REGIME_Z,
    RISE_CAP_VS_MEDIAN,
    STALL_HOLD_S,
    STALL_UNEVEN_CV2,
    STEP_AGAIN_RATIO,
    STOP_HINT_RISES,
    SWING_SHARE,
    TREND_EFFECTIVE_RISES,
)
from vramtop.analysis.oom.cycle import _Cycle
from vramtop.analysis.oom.episode import _Episode, _resumed
from vramtop.analysis.oom.growth_range import _growth_rates
from vramtop.analysis.oom.records import OOMEvidence, OOMSettings, _Point
from vramtop.analysis.oom.reserve import _reserve_range
from vramtop.analysis.oom.stats import (
    _clamp01,
    _cv2_classic,
    _finite,
    _size_weighted_mean,
)
from vramtop.analysis.oom.steps import (
    _allocation_event,
    _climbs_on,
    _pause_slack,
    _regular_rhythm,
    _retaken,
)
from vramtop.analysis.oom.swings import (
    _climbing_cycles,
    _climbing_share,
    _steady_bursts,
    _Swings,
    _swings,
)
from vramtop.analysis.pelt import PeltResult, PeltTracker, segment_state
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
        # NVML counts for a GPU and for its processes differing while a context is made;
        # so is one in the sample after, where only processes that had just arrived rose
        # (the context finished).
        accounting = (
            ARRIVAL_ACCOUNTING_BYTES
            if (self._arrived and not any(m > NOISE_BYTES for m in moves.values()))
            or (
                self._arrived_before
                and all(i in self._arrived_before for i, m in moves.items() if m > NOISE_BYTES)
            )
            else 0.0
        )
        prev_sample = (pt, ppeak, phead, pfloor, plevel)
        risers = {ident for ident, m in moves.items() if m > NOISE_BYTES}
        if not self._track(t, prev_sample, peak, level, appeared, accounting, total, dt, risers):
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
          is growth (bursts on its own leak); one topping all it gave right after a
          batch smaller than it gave, batches of random size, takes the more as a
          load. One whose tops take what fits (`_Episode.topped`) swings by room of
          the growth.
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
                if m > take and ep.over.get(ident, 0.0) < -NOISE_BYTES:
                    # A bigger batch right after a smaller one: batches of random size,
                    # whose new high is set aside as a load is, not growth.
                    ep.aside[ident] = ep.aside.get(ident, 0.0) + (m - take)
                    take = m
                elif not climbs:
                    ep.aside[ident] = ep.aside.get(ident, 0.0) + max(0.0, over)
                ep.over[ident] = over
                ep.held[ident] = max(0.0, held - take)
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
        risers: set[ProcessIdentity],
    ) -> bool:
        """Update the growth episode; False when there is none to predict from.
        `accounting`: a rise up to this is no growth (a process arrived); `risers`: the
        processes that rose this sample."""
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
                resumed = _resumed(self._dormant, t, ep.rises[0][1] + grow, appeared, risers)
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
                ep = self._episode = _resumed(self._dormant, t, grow, appeared, risers)
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
        rr = _growth_rates(ep, t, headroom, dt) if reserve is None else _reserve_range(reserve, t)
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
            else _consistency(ep, t, rr.since, dt, peak, process_phases, cycles)
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
        deceleration = _deceleration(ep, t, dur, dt, peak, headroom)
        # Leaks rest (stop-go loops, an allocator between segments), and one resting
        # where its rises came a sample apart shows no rhythm of rests yet: a pause
        # says nothing a leak's rest would not until the sample after it would come
        # STALL_HOLD_S after the last rise, or once the GPU would have been full by
        # then had the growth gone on (a load, not a leak at rest).
        regular = _regular_rhythm(ep.gaps, dt)
        ep.hold_s = 0.0 if regular else min(STALL_HOLD_S, low)
        stall = _stall(ep, t, dt, parsed, reserve, regular)
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
