"""The predictor's settings, the evidence it reports, and the envelope points it keeps."""

from __future__ import annotations

from dataclasses import dataclass, field

from vramtop.analysis.oom.constants import MB
from vramtop.analysis.phase import PhaseParams

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
