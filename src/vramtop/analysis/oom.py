"""OOM prediction per GPU: a time range, only during sustained growth.

Baseline (SPEC §4): predict only while the GPU is GROWING, after
`min_sustained_samples`, above `min_rate`, as a range between the fastest and
slowest smoothed rate seen in the growing run, capped at one hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vramtop.model import GPUDevice, GPUProcess, OOMPrediction, Phase, PhaseState

HORIZON_S = 3600.0
MB = 1_000_000.0


@dataclass(frozen=True, slots=True)
class OOMSettings:
    min_sustained_samples: int = 10
    min_rate_bytes_per_s: float = 1.0 * MB
    warning_seconds: float = 300.0
    min_confidence: float = 0.3


class OOMPredictor:
    """One per GPU. Feed it every sample; it returns a prediction or None."""

    def __init__(self, settings: OOMSettings | None = None) -> None:
        self.settings = settings or OOMSettings()
        self._growing_samples = 0
        self._rate_min = math.inf
        self._rate_max = 0.0

    def reset(self) -> None:
        self._growing_samples = 0
        self._rate_min = math.inf
        self._rate_max = 0.0

    def update(
        self,
        t: float,
        device: GPUDevice,
        gpu_phase: PhaseState,
        process_phases: Sequence[tuple[GPUProcess, PhaseState]] = (),
    ) -> OOMPrediction | None:
        if gpu_phase.phase is not Phase.GROWING:
            self.reset()
            return None
        rate = gpu_phase.rate_bytes_per_s
        if not math.isfinite(rate):
            return None
        self._growing_samples += 1
        self._rate_min = min(self._rate_min, rate)
        self._rate_max = max(self._rate_max, rate)
        s = self.settings
        if self._growing_samples < s.min_sustained_samples or rate < s.min_rate_bytes_per_s:
            return None
        free = device.free_bytes
        if free is None or free < 0:
            return None
        lo_rate = max(self._rate_min, s.min_rate_bytes_per_s)
        hi_rate = max(self._rate_max, lo_rate)
        seconds_low = free / hi_rate
        seconds_high = free / lo_rate
        confidence = min(1.0, max(0.0, gpu_phase.confidence))
        capped = seconds_low >= HORIZON_S
        if capped:
            seconds_low, seconds_high = HORIZON_S, HORIZON_S
        alert = (not capped) and seconds_low <= s.warning_seconds and confidence >= s.min_confidence
        if confidence < s.min_confidence:
            return None
        return OOMPrediction(
            seconds_low=seconds_low,
            seconds_high=seconds_high,
            confidence=confidence,
            rate_low_bytes_per_s=lo_rate,
            rate_high_bytes_per_s=hi_rate,
            capped=capped,
            alert=alert,
        )
