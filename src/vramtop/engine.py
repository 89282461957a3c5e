"""The Monitor: samples a backend, keeps history, runs analysis and enrichment,
and publishes immutable Frames. It owns all mutable state.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from vramtop.analysis import pelt
from vramtop.analysis.breakdown import estimate_breakdown
from vramtop.analysis.oom import OOMPredictor, OOMSettings
from vramtop.analysis.phase import PhaseDetector, PhaseParams
from vramtop.analysis.survival import SurvivalInput, new_survival_input, survival_for_gpu
from vramtop.backends.base import GPUBackend
from vramtop.backends.replay import ReplayBackend
from vramtop.config import Config
from vramtop.errors import BackendError
from vramtop.frame import Frame, GPUView, ReplayStatus, new_process_view
from vramtop.history import History
from vramtop.model import (
    BackendInfo,
    DeviceState,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    PhaseState,
    ProcessIdentity,
    ProcessInfo,
)
from vramtop.security import current_uid

log = logging.getLogger(__name__)

Subscriber = Callable[[Frame], None]
#: Per-process state key: (GPU key, pid, starttime). Plain tuples hash fast.
ProcKey = tuple[str, int, int | None]
MB = 1_000_000.0


class Enricher(Protocol):
    """What the engine needs from enrichment (implemented in `vramtop.enrichment`)."""

    def enrich(
        self, processes: Sequence[GPUProcess], now: float
    ) -> Mapping[ProcessIdentity, ProcessInfo]: ...

    def forget(self, identities: Sequence[ProcessIdentity]) -> None: ...

    def notices(self) -> Sequence[str]: ...


def phase_params(config: Config) -> PhaseParams:
    p = config.phase
    return PhaseParams(
        window=p.window,
        hysteresis=p.hysteresis,
        noise_floor_mb=p.noise_floor_mb,
        variance_threshold=p.variance_threshold,
        ema_alpha=p.ema_alpha,
    )


def oom_settings(config: Config) -> OOMSettings:
    return OOMSettings(
        min_sustained_samples=config.oom_prediction.min_sustained_samples,
        min_rate_bytes_per_s=config.oom_prediction.min_rate_mb_per_sec * MB,
        warning_seconds=config.alerts.oom_warning_seconds,
        min_confidence=config.alerts.oom_min_confidence,
        leak_prior=config.oom_prediction.leak_prior,
        algorithm=config.oom_prediction.algorithm,
        pelt_min_size=config.oom_prediction.pelt_min_size,
        phase=phase_params(config),
    )


class Monitor:
    """One sampling loop. `step()` is the whole pipeline; `start()` runs it on a thread."""

    def __init__(
        self,
        backend: GPUBackend,
        config: Config | None = None,
        *,
        enricher: Enricher | None = None,
        hostname: str | None = None,
    ) -> None:
        self.backend = backend
        self.config = config or Config()
        self.enricher = enricher
        self.hostname = hostname or socket.gethostname()
        self.info: BackendInfo | None = None
        self._uid = current_uid()
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._latest: Frame | None = None
        self._seq = 0
        self._errors = 0
        self._notices: list[str] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        #: Wall seconds between samples of the loop when they differ from refresh_rate
        #: (a recording played faster than real time by `vramtop export --replay --speed`).
        self.pace_s: float | None = None
        self._reset_analysis()

    def _reset_analysis(self) -> None:
        length = self.config.general.history_length
        self._proc_history: History[ProcKey] = History(length)
        self._gpu_history: History[str] = History(length)
        self._proc_phase: dict[ProcKey, PhaseDetector] = {}
        self._gpu_phase: dict[str, PhaseDetector] = {}
        self._oom: dict[str, OOMPredictor] = {}
        # Per GPU: the start time each PID had last sample, to see PIDs recycled.
        self._pid_starttime: dict[str, dict[int, int | None]] = {}

    # --- lifecycle --------------------------------------------------------------------

    def open(self) -> BackendInfo:
        self.info = self.backend.open()
        return self.info

    def close(self) -> None:
        self.stop()
        self.backend.close()

    def apply_config(self, config: Config) -> None:
        """Take a reloaded config; analysis state restarts only if its parameters changed."""
        with self._lock:
            old = self.config
            self.config = config
            if old.phase != config.phase or old.oom_prediction != config.oom_prediction:
                self._reset_analysis()
            else:
                self._proc_history.resize(config.general.history_length)
                self._gpu_history.resize(config.general.history_length)
                for predictor in self._oom.values():
                    predictor.settings = oom_settings(config)
        self._wake.set()

    @property
    def notices(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._notices)

    def add_notice(self, text: str) -> None:
        with self._lock:
            if text not in self._notices:
                self._notices.append(text)

    # --- publishing -------------------------------------------------------------------

    @property
    def latest(self) -> Frame | None:
        return self._latest

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _publish(self, frame: Frame) -> None:
        self._latest = frame
        with self._lock:
            subscribers = list(self._subscribers)
        for cb in subscribers:
            try:
                cb(frame)
            except Exception:  # a consumer's bug must not stop sampling
                log.exception("frame subscriber failed")

    def process_history(
        self, gpu_uuid: str, identity: ProcessIdentity
    ) -> tuple[tuple[float, float], ...]:
        with self._lock:
            return self._proc_history.series((gpu_uuid, identity.pid, identity.starttime))

    # --- the pipeline -----------------------------------------------------------------

    def step(self) -> Frame:
        started = time.perf_counter()
        try:
            snapshot = self.backend.sample()
        except BackendError as e:
            with self._lock:
                self._errors += 1
            raise e
        with self._lock:
            frame = self._analyse(snapshot, started)
        self._publish(frame)
        return frame

    def _analyse(self, snap: MemorySnapshot, started: float) -> Frame:
        cfg = self.config
        params = phase_params(cfg)
        live_keys: set[ProcKey] = set()
        all_procs: list[GPUProcess] = []
        for dev in snap.devices:
            all_procs.extend(dev.processes)
        infos: Mapping[ProcessIdentity, ProcessInfo] = {}
        if self.enricher is not None:
            try:
                infos = self.enricher.enrich(all_procs, snap.t)
            except Exception:  # enrichment must never cost a sample
                log.exception("enrichment failed")
                self._errors += 1

        gpus: list[GPUView] = []
        for dev in snap.devices:
            gpus.append(self._analyse_device(dev, snap.t, params, infos, live_keys))

        gone = self._proc_history.retain(live_keys)
        for key in gone:
            self._proc_phase.pop(key, None)
            log.debug("process %s (starttime %s) left GPU %s", key[1], key[2], key[0])
        if gone and self.enricher is not None:
            still = {k[1:] for k in live_keys}
            self.enricher.forget(
                [ProcessIdentity(k[1], k[2]) for k in gone if k[1:] not in still]
            )
        for key in [k for k in self._proc_phase if k not in live_keys]:
            del self._proc_phase[key]

        notices = list(self._notices)
        if self.enricher is not None:
            notices.extend(n for n in self.enricher.notices() if n not in notices)
        self._seq += 1
        return Frame(
            seq=self._seq,
            t=snap.t,
            unix_time=snap.unix_time,
            source=self.info.source if self.info else "unknown",
            hostname=self.hostname,
            gpus=tuple(gpus),
            notices=tuple(notices),
            sample_duration_s=time.perf_counter() - started,
            errors_total=self._errors,
            replay=self._replay_status(),
        )

    def _analyse_device(
        self,
        dev: GPUDevice,
        t: float,
        params: PhaseParams,
        infos: Mapping[ProcessIdentity, ProcessInfo],
        live_keys: set[ProcKey],
    ) -> GPUView:
        gkey = dev.key
        if dev.state is DeviceState.LOST:
            self._oom.pop(gkey, None)
            self._gpu_phase.pop(gkey, None)
            return GPUView(device=dev, timeline=self._gpu_history.values(gkey))
        if dev.state is DeviceState.DEGRADED and not dev.processes:
            # The process list failed this sample: keep what we know of its processes.
            for pid, start in self._pid_starttime.get(gkey, {}).items():
                live_keys.add((gkey, pid, start))

        pairs: list[tuple[GPUProcess, PhaseState]] = []
        surv_inputs: list[SurvivalInput] = []
        peaks: list[int | None] = []
        proc_infos: list[ProcessInfo | None] = []
        previous_starts = self._pid_starttime.get(gkey, {})
        starts: dict[int, int | None] = {}
        history = self._proc_history
        detectors = self._proc_phase
        for proc in dev.processes:
            pid, start, used = proc.pid, proc.starttime, proc.used_bytes
            key = (gkey, pid, start)
            # A recycled PID (same pid, new starttime) is a new process: start afresh.
            prev_start = previous_starts.get(pid, start)
            if prev_start != start:
                old = (gkey, pid, prev_start)
                history.drop(old)
                detectors.pop(old, None)
            starts[pid] = start
            live_keys.add(key)
            detector = detectors.get(key)
            if detector is None:
                detector = detectors[key] = PhaseDetector(params)
            if used is not None:
                peak: float | None = history.record(key, t, used)
                state = detector.update(t, used)
            else:
                peak = history.peak(key)
                state = detector.state
            peak_bytes = int(peak) if peak is not None else None
            pairs.append((proc, state))
            info = infos.get(proc.identity) if infos else None
            peaks.append(peak_bytes)
            proc_infos.append(info)
            if info is None:
                surv_inputs.append(
                    new_survival_input(
                        used, state.phase, peak_bytes, None, proc.cmdline, None, None, None
                    )
                )
            else:
                surv_inputs.append(
                    new_survival_input(
                        used,
                        state.phase,
                        peak_bytes,
                        info.framework,
                        info.cmdline or proc.cmdline,
                        info.weights_bytes,
                        info.server,
                        info.deep,
                    )
                )
        self._pid_starttime[gkey] = starts

        gdet = self._gpu_phase.get(gkey)
        if gdet is None:
            gdet = self._gpu_phase[gkey] = PhaseDetector(params)
        if dev.used_bytes is not None:
            self._gpu_history.record(gkey, t, dev.used_bytes)
            gphase = gdet.update(t, dev.used_bytes)
        else:
            gphase = gdet.state
        predictor = self._oom.get(gkey)
        if predictor is None:
            predictor = self._oom[gkey] = OOMPredictor(oom_settings(self.config))
        preset = None
        if self.config.oom_prediction.algorithm == "pelt":
            if not pelt.available():
                self.add_notice(pelt.NOTICE)
            preset = pelt.preset_for(
                [i.framework for i in surv_inputs], [i.cmdline for i in surv_inputs]
            )
        oom = (
            predictor.update(t, dev, gphase, pairs, pelt_preset=preset, infos=infos)
            if dev.state is DeviceState.OK
            else None
        )
        if predictor.pelt_phase is not None:
            gphase = predictor.pelt_phase  # PELT's latest segment refines the GPU's phase
        verdicts = survival_for_gpu(
            surv_inputs, gpu_free_bytes=dev.free_bytes, gpu_total_bytes=dev.total_bytes
        )
        total = dev.total_bytes
        index, uuid, uid = dev.index, dev.uuid, self._uid
        views = [
            new_process_view(
                proc,
                index,
                uuid,
                state,
                proc.used_bytes / total if proc.used_bytes is not None and total else None,
                proc.uid is not None and proc.uid == uid,
                peak,
                info,
                verdict,
                None
                if info is None
                else estimate_breakdown(proc.used_bytes, info.weights_bytes, info.deep),
            )
            for (proc, state), peak, info, verdict in zip(
                pairs, peaks, proc_infos, verdicts, strict=True
            )
        ]
        views.sort(key=lambda v: -(v.process.used_bytes or 0))
        temp_warning = (
            dev.temperature_c is not None
            and dev.temperature_c >= self.config.alerts.temp_warning_celsius
        )
        return GPUView(
            device=dev,
            phase=gphase,
            oom=oom,
            processes=tuple(views),
            timeline=self._gpu_history.values(gkey),
            temp_warning=temp_warning,
        )

    def _replay_status(self) -> ReplayStatus | None:
        b = self.backend
        if not isinstance(b, ReplayBackend):
            return None
        return ReplayStatus(
            path=b.trace.path,
            position_s=b.recording_time(),
            duration_s=b.trace.duration_s,
            speed=b.step_s / (self.pace_s or self.config.general.refresh_rate),
            paused=b.paused,
            at_end=b.at_end,
        )

    # --- the loop ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vramtop-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def wake(self) -> None:
        """Take the next sample now (after a seek or a key press)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.step()
            except BackendError as e:
                self.add_notice(e.user_message())
                log.warning("sample failed: %s", e)
            except Exception:
                log.exception("engine step failed")
                with self._lock:
                    self._errors += 1
            interval = self.pace_s or self.config.general.refresh_rate
            delay = max(0.0, interval - (time.monotonic() - started))
            self._wake.wait(delay)
            self._wake.clear()
