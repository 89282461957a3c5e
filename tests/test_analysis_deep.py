"""Deep mode in the analysis: allocator statistics sharpen the OOM range and survival.

A process that reports its allocator (`ProcessInfo.deep`) can still be handed the
memory it reserved but has not allocated, without the GPU giving more: the OOM
predictor counts it as room for the growers (all of it at the slow end, the part
outside split blocks at the fast end), and survival's observed peak includes the
allocator's own reserved peak. Synthetic inputs; the engine passes `infos` through.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vramtop.analysis.oom import OOMPredictor
from vramtop.analysis.survival import (
    SurvivalInput,
    estimate_peak,
    observed_peak,
    survival_for_gpu,
)
from vramtop.backends.replay import ReplayBackend
from vramtop.engine import Monitor
from vramtop.model import (
    STABLE_UNKNOWN,
    DeepStats,
    GPUDevice,
    GPUProcess,
    MemorySnapshot,
    OOMPrediction,
    Phase,
    ProcessIdentity,
    ProcessInfo,
    Verdict,
)
from vramtop.trace import Trace, TraceDevice, TraceHeader

GB = 1_000_000_000
MB = 1_000_000
TOTAL = 85 * GB
LEAKER = ProcessIdentity(2, 1)
RATE = 100 * MB


def _deep(
    allocated: float, reserved: float, *, reserved_peak: int = 0, split: int | None = None
) -> DeepStats:
    return DeepStats(
        framework="pytorch",
        cuda_device=0,
        allocated_bytes=int(allocated),
        reserved_bytes=int(reserved),
        active_bytes=int(allocated),
        reserved_peak_bytes=reserved_peak,
        inactive_split_bytes=split,
    )


def _reserved(t: float) -> float:
    return 1 * GB + RATE * max(0.0, t - 10)


def _leak_device(t: float) -> GPUDevice:
    """A ballast and a process leaking RATE from t = 10 (its NVML use: reserved + 0.5 GB
    of context)."""
    leaker = 0.5 * GB + _reserved(t)
    used = 75 * GB + leaker
    return GPUDevice(
        index=0,
        uuid="GPU-d",
        name="d",
        total_bytes=TOTAL,
        used_bytes=int(used),
        free_bytes=int(TOTAL - used),
        processes=(
            GPUProcess(pid=1, starttime=1, used_bytes=75 * GB),
            GPUProcess(pid=2, starttime=1, used_bytes=int(leaker)),
        ),
    )


def _run(slack: float | None, split: int | None = None) -> list[OOMPrediction | None]:
    """The leak, with deep stats saying `slack` bytes are reserved but not allocated."""
    p = OOMPredictor()
    out = []
    for i in range(40):
        t = float(i)
        dev = _leak_device(t)
        infos = None
        if slack is not None:
            deep = _deep(_reserved(t) - slack, _reserved(t), split=split)
            infos = {LEAKER: ProcessInfo(LEAKER, deep=deep)}
        out.append(p.update(t, dev, STABLE_UNKNOWN, (), infos=infos))
    return out


def test_reserved_but_unallocated_memory_is_room_for_the_grower() -> None:
    plain, deep = _run(None)[-1], _run(2 * GB)[-1]
    assert plain is not None and deep is not None
    # 2 GB more room at 100 MB/s: about 20 s later, at both ends.
    assert deep.seconds_low - plain.seconds_low > 15
    assert deep.seconds_high - plain.seconds_high > 15
    # The truth with the slack: all free memory plus the slack, at the leak's rate.
    free = _leak_device(39.0).free_bytes
    assert free is not None
    truth = (free + 2 * GB) / RATE
    assert deep.seconds_low <= truth <= deep.seconds_high


def test_split_blocks_only_count_at_the_slow_end() -> None:
    whole, split = _run(2 * GB)[-1], _run(2 * GB, split=2 * GB)[-1]
    assert whole is not None and split is not None
    assert split.seconds_high == whole.seconds_high
    assert split.seconds_low < whole.seconds_low - 15


def test_deep_stats_of_another_gpu_or_nonsense_are_ignored() -> None:
    plain = _run(None)[-1]
    assert plain is not None
    for deep in (
        _deep(1 * GB, 80 * GB),  # reserves more than the process uses here
        _deep(5 * GB, 1 * GB),  # allocated above reserved
    ):
        p = OOMPredictor()
        last = None
        for i in range(40):
            last = p.update(
                float(i),
                _leak_device(float(i)),
                STABLE_UNKNOWN,
                (),
                infos={LEAKER: ProcessInfo(LEAKER, deep=deep)},
            )
        assert last == plain


def test_slack_of_a_process_that_does_not_grow_is_not_room() -> None:
    """The ballast's cache cannot be handed to the leaker."""
    p = OOMPredictor()
    ballast = ProcessIdentity(1, 1)
    last = None
    for i in range(40):
        infos = {ballast: ProcessInfo(ballast, deep=_deep(60 * GB, 74 * GB))}
        last = p.update(float(i), _leak_device(float(i)), STABLE_UNKNOWN, (), infos=infos)
    assert last == _run(None)[-1]
    assert p.evidence is not None and p.evidence.deep_slack_bytes == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**40), 2**40),
            st.integers(-(2**40), 2**40),
            st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_any_deep_stats_keep_the_invariants(stats: list[tuple[int, int, int | None]]) -> None:
    p = OOMPredictor()
    for i, (alloc, reserved, split) in enumerate(stats):
        deep = DeepStats(
            framework="pytorch",
            cuda_device=0,
            allocated_bytes=alloc,
            reserved_bytes=reserved,
            active_bytes=alloc,
            inactive_split_bytes=split,
        )
        pred = p.update(
            float(i),
            _leak_device(10.0 + 3 * i),
            STABLE_UNKNOWN,
            (),
            infos={LEAKER: ProcessInfo(LEAKER, deep=deep)},
        )
        if pred is not None:
            assert 0 <= pred.seconds_low <= pred.seconds_high
            assert 0 <= pred.confidence <= 1


# --- survival ----------------------------------------------------------------------------


def test_observed_peak_includes_the_allocators_reserved_peak() -> None:
    """NVML saw at most 12 GB, but the allocator once reserved 20 GB (between samples):
    the observed peak is 20 GB plus what NVML counts outside the allocator (0.5 GB)."""
    inp = SurvivalInput(
        used_bytes=int(10.5 * GB),
        phase=Phase.GROWING,
        peak_bytes=12 * GB,
        deep=_deep(8 * GB, 10 * GB, reserved_peak=20 * GB),
    )
    assert observed_peak(inp) == int(20.5 * GB)
    estimate, _ = estimate_peak(inp)
    assert estimate == int(20.5 * GB)  # above 10.5 GB x 1.5 (unknown workload)


def test_survival_ignores_deep_stats_that_do_not_fit() -> None:
    inp = SurvivalInput(
        used_bytes=10 * GB,
        phase=Phase.GROWING,
        peak_bytes=12 * GB,
        deep=_deep(8 * GB, 30 * GB, reserved_peak=40 * GB),  # another GPU's
    )
    assert observed_peak(inp) == 12 * GB


def test_survival_for_gpu_uses_the_deep_stats_its_inputs_carry() -> None:
    plain_input = SurvivalInput(used_bytes=int(10.5 * GB), phase=Phase.GROWING)
    deep_input = replace(plain_input, deep=_deep(8 * GB, 10 * GB, reserved_peak=30 * GB))
    (plain,) = survival_for_gpu([plain_input], gpu_free_bytes=20 * GB, gpu_total_bytes=80 * GB)
    (sharp,) = survival_for_gpu([deep_input], gpu_free_bytes=20 * GB, gpu_total_bytes=80 * GB)
    assert plain.verdict is Verdict.OK  # 10.5 x 1.5 = 15.75 GB: 5.25 more, 20 free
    assert sharp.estimated_peak_bytes == int(30.5 * GB)
    assert sharp.verdict is Verdict.TIGHT  # 20 GB more needed, 20 free: fits, barely


# --- through the engine ---------------------------------------------------------------------


class _Enricher:
    def __init__(self, infos: dict[ProcessIdentity, ProcessInfo]) -> None:
        self.infos = infos

    def enrich(self, processes: object, now: float) -> dict[ProcessIdentity, ProcessInfo]:
        return self.infos

    def forget(self, identities: object) -> None:
        pass

    def notices(self) -> list[str]:
        return []


def _trace() -> Trace:
    samples = tuple(
        MemorySnapshot(t=float(i), unix_time=1e9 + i, devices=(_leak_device(float(i)),))
        for i in range(40)
    )
    header = TraceHeader(1e9, 1.0, None, None, (TraceDevice(0, "d", "GPU-d", TOTAL),))
    return Trace("deep", header, samples, ())


def _last_oom(infos: dict[ProcessIdentity, ProcessInfo]) -> OOMPrediction | None:
    m = Monitor(ReplayBackend(_trace(), step_s=1.0), enricher=_Enricher(infos))
    m.open()
    frame = m.step()
    for _ in range(39):
        frame = m.step()
    return frame.gpus[0].oom


def test_the_engine_passes_deep_stats_to_the_predictor() -> None:
    deep = _deep(_reserved(39.0) - 2 * GB, _reserved(39.0))
    plain = _last_oom({})
    sharp = _last_oom({LEAKER: ProcessInfo(LEAKER, deep=deep)})
    assert plain is not None and sharp is not None
    assert sharp.seconds_high > plain.seconds_high + 15
