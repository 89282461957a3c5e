"""The NVML backend against a fake `pynvml` (tests/fakenvml.py): every failure mode."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakenvml import (
    NO_INSTANCE,
    NVML_DEVICE_MIG_ENABLE,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH,
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_FUNCTION_NOT_FOUND,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_LIBRARY_NOT_FOUND,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_ERROR_TIMEOUT,
    NVML_ERROR_UNINITIALIZED,
    NVML_ERROR_UNKNOWN,
    FakeGPU,
    FakeMig,
    FakeNVML,
    FakeProc,
    GiB,
    MiB,
    NVMLError,
    NVMLLibraryMismatchError,
    error_class,
)
from vramtop import security
from vramtop.backends.nvidia import NvidiaBackend
from vramtop.errors import BackendError, DriverError, NoGPUError
from vramtop.model import DeviceState, GPUDevice, MemorySnapshot, ProcessKind
from vramtop.procfs import ProcFS

TESTS_DIR = Path(__file__).parent
SRC_DIR = TESTS_DIR.parent / "src"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class CountingProcFS(ProcFS):
    """The real /proc, counting reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()

    def starttime(self, pid: int) -> int | None:
        self.reads["starttime"] += 1
        return super().starttime(pid)

    def uid(self, pid: int) -> int | None:
        self.reads["uid"] += 1
        return super().uid(pid)

    def cmdline(self, pid: int) -> tuple[str, ...]:
        self.reads["cmdline"] += 1
        return super().cmdline(pid)

    def comm(self, pid: int) -> str | None:
        self.reads["comm"] += 1
        return super().comm(pid)


def make(
    gpus: list[FakeGPU] | None = None, *, procfs: ProcFS | None = None
) -> tuple[FakeNVML, NvidiaBackend, Sleeps, FakeClock]:
    fake = FakeNVML(gpus)
    sleeps = Sleeps()
    clock = FakeClock()
    backend = NvidiaBackend(fake, procfs=procfs, sleep=sleeps, clock=clock)
    return fake, backend, sleeps, clock


def two_gpus() -> list[FakeGPU]:
    return [
        FakeGPU(uuid="GPU-aaaa", name="NVIDIA H100 80GB HBM3"),
        FakeGPU(uuid="GPU-bbbb", name="NVIDIA H100 80GB HBM3", used=20 * GiB),
    ]


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A real process of ours, with an escape sequence in its command line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "evil\x1b[31mred"],
    )
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def other_user_child(monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    """A real process owned by another user (root can start one as nobody); as a
    normal user, our own process seen by a backend that believes it runs as another UID."""
    if os.geteuid() == 0:
        proc = subprocess.Popen(["sleep", "60"], user=65534, group=65534)
    else:
        proc = subprocess.Popen(["sleep", "60"])
        monkeypatch.setattr(security, "current_uid", lambda: os.getuid() + 12345)
    yield proc
    proc.kill()
    proc.wait()


def only(snap: MemorySnapshot, index: int = 0) -> GPUDevice:
    return snap.devices[index]


# --- the fake itself matches the real module ----------------------------------------


def test_fake_error_hierarchy_matches_pynvml() -> None:
    lost = NVMLError(NVML_ERROR_GPU_IS_LOST)
    assert type(lost).__name__ == "NVMLError_GpuIsLost"
    assert isinstance(lost, NVMLError)
    assert lost.value == 15
    assert str(lost) == "GPU is lost"
    unknown = error_class(NVML_ERROR_UNKNOWN)()  # type: ignore[call-arg]  # as in pynvml
    assert isinstance(unknown, NVMLError) and unknown.value == NVML_ERROR_UNKNOWN
    assert not issubclass(NVMLLibraryMismatchError, NVMLError)
    fake = FakeNVML()
    assert fake.NVMLError_GpuIsLost is error_class(NVML_ERROR_GPU_IS_LOST)
    assert not hasattr(fake, "NVMLError_GPUIsLost")


def test_fake_names_match_the_installed_pynvml() -> None:
    pynvml = pytest.importorskip("pynvml")
    real = {n for n in dir(pynvml) if n.startswith(("NVMLError_", "NVML_ERROR_"))}
    fake = {n for n in dir(FakeNVML()) if n.startswith(("NVMLError_", "NVML_ERROR_"))}
    assert fake <= real
    assert {"NVMLError_GpuIsLost", "NVMLError_Unknown", "NVMLError_LibraryNotFound"} <= fake
    for name in fake:
        if name.startswith("NVML_ERROR_"):
            assert getattr(FakeNVML(), name) == getattr(pynvml, name), name
    assert FakeNVML().nvmlMemory_v2 == pynvml.nvmlMemory_v2
    assert not issubclass(pynvml.NVMLLibraryMismatchError, pynvml.NVMLError)


# --- open / close -------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_DRIVER_NOT_LOADED, NVML_ERROR_UNKNOWN]
)
def test_init_failure_is_no_gpu(code: int) -> None:
    fake, backend, _, _ = make()
    fake.fail("nvmlInit", code)
    with pytest.raises(NoGPUError) as exc:
        backend.open()
    assert str(NVMLError(code)) in str(exc.value)
    assert "No NVIDIA GPU detected" in exc.value.user_message()


def test_no_devices_is_no_gpu_and_shuts_down() -> None:
    fake, backend, _, _ = make([])
    with pytest.raises(NoGPUError, match="no devices"):
        backend.open()
    assert fake.initialized == 0


def test_count_failure_is_no_gpu() -> None:
    fake, backend, _, _ = make()
    fake.fail("nvmlDeviceGetCount", NVML_ERROR_UNINITIALIZED)
    with pytest.raises(NoGPUError, match="count"):
        backend.open()
    assert fake.initialized == 0


def test_open_returns_info_and_reads_static_fields_once() -> None:
    fake, backend, _, _ = make(two_gpus())
    info = backend.open()
    assert info.source == "nvml"
    assert info.driver_version == "580.159.04"
    assert info.nvml_version == "13.580.159.04"
    assert info.cuda_driver_version == 13000
    assert info.hostname
    for _ in range(3):
        snap = backend.sample()
    assert [d.uuid for d in snap.devices] == ["GPU-aaaa", "GPU-bbbb"]
    assert fake.calls["nvmlDeviceGetName"] == 2
    assert fake.calls["nvmlDeviceGetUUID"] == 2
    assert snap.devices[0].total_bytes == 80 * GiB


def test_close_is_idempotent_and_sample_needs_open() -> None:
    fake, backend, _, _ = make()
    with pytest.raises(BackendError):
        backend.sample()
    backend.open()
    backend.close()
    backend.close()
    assert fake.calls["nvmlShutdown"] == 1
    assert fake.initialized == 0


def _without_gpu(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m vramtop ARGS` where nvmlInit raises LibraryNotFound."""
    (tmp_path / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(TESTS_DIR)!r})
            import fakenvml
            fake = fakenvml.FakeNVML()
            fake.fail("nvmlInit", fakenvml.NVML_ERROR_LIBRARY_NOT_FOUND)
            fake.install()
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(SRC_DIR)]))
    return subprocess.run(
        [sys.executable, "-m", "vramtop", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _one_line_no_gpu(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "vramtop: No NVIDIA GPU detected. vramtop requires an NVIDIA GPU with drivers installed."
    )
    assert "NVML Shared Library Not Found" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_once_without_gpu_is_one_line_exit_2(tmp_path: Path) -> None:
    """`vramtop --once` where nvmlInit raises LibraryNotFound: one line, exit 2."""
    _one_line_no_gpu(_without_gpu(tmp_path, "--once"))


def test_record_without_gpu_is_one_line_and_no_file(tmp_path: Path) -> None:
    """`vramtop record FILE` without a GPU says only that (not that it is recording
    first), exits 2 and leaves no file."""
    out = tmp_path / "rec.jsonl"
    _one_line_no_gpu(_without_gpu(tmp_path, "record", str(out)))
    assert not out.exists()


# --- memory and sensors -------------------------------------------------------------


def test_sample_reads_every_field_in_base_units() -> None:
    _, backend, _, _ = make()
    backend.open()
    d = only(backend.sample())
    assert d.state is DeviceState.OK and d.error is None
    assert (d.total_bytes, d.reserved_bytes, d.used_bytes) == (80 * GiB, 512 * MiB, 10 * GiB)
    assert d.free_bytes == 80 * GiB - 10 * GiB - 512 * MiB
    assert (d.util_gpu_pct, d.util_memory_pct, d.temperature_c) == (37, 12, 41)
    assert d.power_watts == pytest.approx(123.456)
    assert d.power_limit_watts == pytest.approx(700.0)
    assert (d.sm_clock_mhz, d.memory_clock_mhz) == (1980, 2619)
    assert (d.pcie_tx_bytes_per_s, d.pcie_rx_bytes_per_s) == (100 * 1024, 250 * 1024)
    assert d.mig_instances == ()


def test_pcie_throughput_read_at_most_every_interval() -> None:
    # Each PCIe read blocks ~20 ms inside NVML (21 ms measured on an H100).
    fake, backend, _, clock = make()
    backend.open()
    first = only(backend.sample())
    for _ in range(5):
        clock.now += 1
        again = only(backend.sample())
        assert again.pcie_tx_bytes_per_s == first.pcie_tx_bytes_per_s  # the last reading, kept
    assert fake.calls["nvmlDeviceGetPcieThroughput"] == 2  # tx and rx, once
    clock.now += 10
    backend.sample()
    assert fake.calls["nvmlDeviceGetPcieThroughput"] == 4


def test_pcie_throughput_not_read_where_it_is_not_shown() -> None:
    fake = FakeNVML([FakeGPU()])
    backend = NvidiaBackend(fake, read_pcie=False)
    backend.open()
    d = only(backend.sample())
    assert (d.pcie_tx_bytes_per_s, d.pcie_rx_bytes_per_s) == (None, None)
    assert d.state is DeviceState.OK and d.used_bytes == 10 * GiB
    assert fake.calls["nvmlDeviceGetPcieThroughput"] == 0


def test_snapshot_clock() -> None:
    _, backend, _, _ = make()
    backend.open()
    a = backend.sample()
    b = backend.sample()
    assert 0 <= a.t <= b.t
    assert a.unix_time > 1e9


@pytest.mark.parametrize(
    "code",
    [NVML_ERROR_FUNCTION_NOT_FOUND, NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_ARGUMENT_VERSION_MISMATCH],
)
def test_memory_v2_falls_back_to_v1_and_remembers(code: int) -> None:
    fake, backend, _, _ = make()
    fake.fail("nvmlDeviceGetMemoryInfo_v2", code)
    backend.open()
    for _ in range(3):
        d = only(backend.sample())
    assert d.state is DeviceState.OK
    assert d.reserved_bytes is None  # v1 has no reserved figure
    assert d.used_bytes == 10 * GiB + 512 * MiB  # v1 used includes reserved
    assert d.total_bytes == 80 * GiB
    assert fake.calls["nvmlDeviceGetMemoryInfo_v2"] == 1  # asked once, at open


def test_memory_v2_missing_symbol_falls_back() -> None:
    fake, backend, _, _ = make()
    fake.missing.add("nvmlDeviceGetMemoryInfo_v2")
    backend.open()
    d = only(backend.sample())
    assert d.reserved_bytes is None and d.used_bytes == 10 * GiB + 512 * MiB


SENSORS = {
    "nvmlDeviceGetUtilizationRates": ("util_gpu_pct", "util_memory_pct"),
    "nvmlDeviceGetPowerUsage": ("power_watts",),
    "nvmlDeviceGetEnforcedPowerLimit": ("power_limit_watts",),
    "nvmlDeviceGetClockInfo": ("sm_clock_mhz", "memory_clock_mhz"),
    "nvmlDeviceGetPcieThroughput": ("pcie_tx_bytes_per_s", "pcie_rx_bytes_per_s"),
}


@pytest.mark.parametrize("func", sorted(SENSORS))
@pytest.mark.parametrize("code", [NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NO_PERMISSION])
def test_unsupported_sensor_is_none_and_not_asked_again(func: str, code: int) -> None:
    fake, backend, _, _ = make()
    fake.fail(func, code)
    backend.open()
    for _ in range(4):
        d = only(backend.sample())
    assert d.state is DeviceState.OK and d.error is None
    for attr in SENSORS[func]:
        assert getattr(d, attr) is None
    assert d.used_bytes == 10 * GiB  # everything else still there
    assert d.temperature_c == 41
    per_sample = 2 if func in ("nvmlDeviceGetClockInfo", "nvmlDeviceGetPcieThroughput") else 1
    assert fake.calls[func] == per_sample  # the first sample only


def test_transient_sensor_error_is_none_for_that_sample_only() -> None:
    fake, backend, _, _ = make()
    backend.open()
    fake.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_TIMEOUT, times=1)
    assert only(backend.sample()).power_watts is None
    assert only(backend.sample()).power_watts == pytest.approx(123.456)


def test_temperature_v_falls_back_to_deprecated_call() -> None:
    fake, backend, _, _ = make()
    fake.missing.add("nvmlDeviceGetTemperatureV")
    backend.open()
    for _ in range(3):
        d = only(backend.sample())
    assert d.temperature_c == 41
    assert fake.calls["nvmlDeviceGetTemperatureV"] == 1
    assert fake.calls["nvmlDeviceGetTemperature"] == 3


def test_no_temperature_at_all() -> None:
    fake, backend, _, _ = make()
    fake.fail("nvmlDeviceGetTemperatureV", NVML_ERROR_NOT_SUPPORTED)
    fake.fail("nvmlDeviceGetTemperature", NVML_ERROR_NOT_SUPPORTED)
    backend.open()
    for _ in range(3):
        d = only(backend.sample())
    assert d.temperature_c is None and d.state is DeviceState.OK
    assert fake.calls["nvmlDeviceGetTemperature"] == 1


def test_nvml_strings_are_sanitized() -> None:
    fake, backend, _, _ = make([FakeGPU(name="\x1b[2JNVIDIA\x07 H100", uuid="GPU-\x1b]0;x\x07ab")])
    fake.driver_version = "580\x1b[31m.1"
    info = backend.open()
    d = only(backend.sample())
    assert d.name == "NVIDIA H100"
    assert d.uuid == "GPU-ab"
    assert info.driver_version == "580.1"


# --- process lists ------------------------------------------------------------------


def test_used_memory_none_stays_unknown() -> None:
    _, backend, _, _ = make([FakeGPU(compute=[FakeProc(4242001, None), FakeProc(4242002, 0)])])
    backend.open()
    procs = {p.pid: p for p in only(backend.sample()).processes}
    assert procs[4242001].used_bytes is None
    assert procs[4242002].used_bytes == 0


def test_not_available_sentinel_is_unknown() -> None:
    _, backend, _, _ = make([FakeGPU(compute=[FakeProc(4242001, 0xFFFFFFFFFFFFFFFF)])])
    backend.open()
    assert only(backend.sample()).processes[0].used_bytes is None


def test_compute_and_graphics_merge_by_pid() -> None:
    gpu = FakeGPU(
        compute=[FakeProc(4242001, 100 * MiB), FakeProc(4242002, None), FakeProc(4242003, 5)],
        graphics=[FakeProc(4242001, 300 * MiB), FakeProc(4242002, 7 * MiB), FakeProc(4242004, 9)],
    )
    _, backend, _, _ = make([gpu])
    backend.open()
    procs = {p.pid: p for p in only(backend.sample()).processes}
    assert len(procs) == 4
    assert procs[4242001].kind is ProcessKind.BOTH
    assert procs[4242001].used_bytes == 300 * MiB  # the larger known figure
    assert procs[4242002].kind is ProcessKind.BOTH
    assert procs[4242002].used_bytes == 7 * MiB  # a number beats unknown
    assert procs[4242003].kind is ProcessKind.COMPUTE
    assert procs[4242004].kind is ProcessKind.GRAPHICS
    assert ProcessKind.BOTH.value == "compute+graphics"


def test_mps_clients_are_flagged() -> None:
    gpu = FakeGPU(
        compute=[FakeProc(4242001, 50 * MiB)],
        mps=[FakeProc(4242002, 2 * GiB), FakeProc(4242001, 40 * MiB)],
    )
    _, backend, _, _ = make([gpu])
    backend.open()
    procs = {p.pid: p for p in only(backend.sample()).processes}
    assert procs[4242002].mps and procs[4242002].kind is ProcessKind.COMPUTE
    assert procs[4242002].used_bytes == 2 * GiB
    assert procs[4242001].mps and procs[4242001].used_bytes == 50 * MiB


COMPUTE_LIST = "nvmlDeviceGetComputeRunningProcesses_v3"
SIDE_LISTS = (
    "nvmlDeviceGetGraphicsRunningProcesses_v3",
    "nvmlDeviceGetMPSComputeRunningProcesses_v3",
)


def side_reads(fake: FakeNVML) -> list[int]:
    return [fake.calls[name] for name in SIDE_LISTS]


def test_compute_list_read_once_per_sample_empty_side_lists_rest() -> None:
    fake, backend, _, clock = make(two_gpus())
    backend.open()
    for _ in range(3):
        clock.now += 1
        backend.sample()
    assert fake.calls[COMPUTE_LIST] == 3 * 2
    assert side_reads(fake) == [2, 2]  # the first sample, on each GPU
    clock.now += 5  # SIDE_LISTS_INTERVAL_S after the first read
    backend.sample()
    assert side_reads(fake) == [4, 4]


def test_a_listed_graphics_process_keeps_the_side_lists_read_every_sample() -> None:
    gpu = FakeGPU(compute=[FakeProc(4242001, GiB)], graphics=[FakeProc(4242002, 64 * MiB)])
    fake, backend, _, _ = make([gpu])
    backend.open()
    for _ in range(3):
        d = only(backend.sample())
    assert side_reads(fake) == [3, 3]
    assert {p.pid: p.kind for p in d.processes}[4242002] is ProcessKind.GRAPHICS
    gpu.graphics.clear()
    backend.sample()
    backend.sample()
    assert side_reads(fake) == [4, 4]  # read once more to see it gone, then rest


def test_new_unlisted_memory_reads_the_side_lists_at_once() -> None:
    gpu = FakeGPU(compute=[FakeProc(4242001, GiB)])
    fake, backend, _, _ = make([gpu])
    backend.open()
    backend.sample()
    backend.sample()
    assert side_reads(fake) == [1, 1]
    # An MPS client (not in the compute list) takes 500 MiB.
    gpu.mps.append(FakeProc(4242003, 500 * MiB))
    gpu.used += 500 * MiB
    d = only(backend.sample())
    assert side_reads(fake) == [2, 2]
    assert {p.pid: p.mps for p in d.processes} == {4242001: False, 4242003: True}
    # Memory the compute list accounts for is not a reason to look again.
    gpu.mps.clear()
    gpu.used -= 500 * MiB
    backend.sample()  # still listed last time: read, now empty
    gpu.compute[0].used += 4 * GiB
    gpu.used += 4 * GiB
    backend.sample()
    assert side_reads(fake) == [3, 3]


def test_a_change_in_the_compute_list_reads_the_side_lists() -> None:
    # A process in both lists shows as compute+graphics from its first sample.
    gpu = FakeGPU(compute=[FakeProc(4242001, GiB)])
    fake, backend, _, _ = make([gpu])
    backend.open()
    backend.sample()
    gpu.compute.append(FakeProc(4242002, 0))
    gpu.graphics.append(FakeProc(4242002, 0))
    d = only(backend.sample())
    assert side_reads(fake) == [2, 2]
    assert {p.pid: p.kind for p in d.processes}[4242002] is ProcessKind.BOTH


def test_mig_mode_read_at_most_every_interval() -> None:
    fake, backend, _, clock = make([FakeGPU(mig_mode=0)])  # MIG-capable, disabled
    backend.open()
    for _ in range(5):
        clock.now += 1
        backend.sample()
    assert fake.calls["nvmlDeviceGetMigMode"] == 1
    clock.now += 10
    backend.sample()
    assert fake.calls["nvmlDeviceGetMigMode"] == 2


def test_v3_process_functions_fall_back_to_v2_on_library_mismatch() -> None:
    gpu = FakeGPU(compute=[FakeProc(4242001, 1 * GiB)], graphics=[FakeProc(4242001, 1 * GiB)])
    fake, backend, _, _ = make([gpu])
    for name in ("Compute", "Graphics", "MPSCompute"):
        fake.missing.add(f"nvmlDeviceGet{name}RunningProcesses_v3")
    with pytest.raises(NVMLLibraryMismatchError):
        fake.initialized = 1
        fake.nvmlDeviceGetComputeRunningProcesses(fake.nvmlDeviceGetHandleByIndex(0))
    fake.initialized = 0
    backend.open()
    for _ in range(3):
        d = only(backend.sample())
    assert d.state is DeviceState.OK
    assert [(p.pid, p.kind, p.used_bytes) for p in d.processes] == [
        (4242001, ProcessKind.BOTH, 1 * GiB)
    ]
    # The mismatch is met once per list; after that only _v2 is called.
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses_v3"] == 1 + 1
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses_v2"] == 3
    assert fake.calls["nvmlDeviceGetMPSComputeRunningProcesses_v2"] == 3


def test_unsupported_graphics_list_does_not_hide_compute() -> None:
    fake, backend, _, _ = make([FakeGPU(compute=[FakeProc(4242001, 1 * GiB)])])
    fake.fail("nvmlDeviceGetGraphicsRunningProcesses_v3", NVML_ERROR_NOT_SUPPORTED)
    fake.fail("nvmlDeviceGetMPSComputeRunningProcesses_v3", NVML_ERROR_NOT_SUPPORTED)
    backend.open()
    for _ in range(3):
        d = only(backend.sample())
    assert d.state is DeviceState.OK
    assert [p.pid for p in d.processes] == [4242001]
    assert fake.calls["nvmlDeviceGetGraphicsRunningProcesses_v3"] == 1


# --- lost, unknown and dead drivers -------------------------------------------------


def test_gpu_lost_on_one_of_two_keeps_the_other_live() -> None:
    fake, backend, _, clock = make(two_gpus())
    backend.open()
    fake.fail("nvmlDeviceGetMemoryInfo_v2", NVML_ERROR_GPU_IS_LOST, gpu=1)
    snap = backend.sample()
    live, lost = snap.devices
    assert live.state is DeviceState.OK and live.used_bytes == 10 * GiB
    assert lost.state is DeviceState.LOST
    assert (lost.uuid, lost.total_bytes) == ("GPU-bbbb", 80 * GiB)
    assert lost.name == "NVIDIA H100 80GB HBM3"
    assert lost.used_bytes is None and lost.free_bytes is None
    assert lost.error == "GPU is lost"
    # Not queried again while lost, and not re-acquired before the interval.
    before = sum(fake.calls.values())
    calls_gpu0 = fake.calls["nvmlDeviceGetPowerUsage"]
    snap = backend.sample()
    assert snap.devices[1].state is DeviceState.LOST and snap.devices[0].state is DeviceState.OK
    assert fake.calls["nvmlDeviceGetPowerUsage"] == calls_gpu0 + 1  # GPU 0 only
    assert fake.calls["nvmlDeviceGetHandleByIndex"] == 2  # only at open
    assert sum(fake.calls.values()) > before
    # After the interval the handle is asked for again; the GPU is still lost.
    fake.fail("nvmlDeviceGetHandleByIndex", NVML_ERROR_GPU_IS_LOST, gpu=1)
    clock.now += 30.0
    assert backend.sample().devices[1].state is DeviceState.LOST
    assert fake.calls["nvmlDeviceGetHandleByIndex"] == 3
    backend.sample()
    assert fake.calls["nvmlDeviceGetHandleByIndex"] == 3
    # The GPU comes back.
    fake.heal()
    clock.now += 30.0
    back = backend.sample().devices[1]
    assert back.state is DeviceState.OK and back.used_bytes == 20 * GiB


def test_gpu_lost_in_a_sensor_call_marks_it_lost() -> None:
    fake, backend, _, _ = make(two_gpus())
    backend.open()
    fake.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_GPU_IS_LOST, gpu=0)
    snap = backend.sample()
    assert [d.state for d in snap.devices] == [DeviceState.LOST, DeviceState.OK]


def test_gpu_lost_at_open() -> None:
    fake, backend, _, clock = make(two_gpus())
    fake.fail("nvmlDeviceGetHandleByIndex", NVML_ERROR_GPU_IS_LOST, gpu=0, times=1)
    backend.open()
    snap = backend.sample()
    assert [d.state for d in snap.devices] == [DeviceState.LOST, DeviceState.OK]
    clock.now += 31
    assert backend.sample().devices[0].uuid == "GPU-aaaa"


def test_unknown_is_retried_three_times_then_degraded() -> None:
    fake, backend, sleeps, _ = make(two_gpus())
    backend.open()
    fake.fail("nvmlDeviceGetMemoryInfo_v2", NVML_ERROR_UNKNOWN, gpu=0)
    before = fake.calls["nvmlDeviceGetMemoryInfo_v2"]
    snap = backend.sample()
    bad, good = snap.devices
    assert fake.calls["nvmlDeviceGetMemoryInfo_v2"] - before == 4 + 1  # 1 + 3 retries, GPU 1
    assert sleeps == [0.01, 0.02, 0.04]  # exponential backoff
    assert bad.state is DeviceState.DEGRADED
    assert bad.error and "Unknown Error" in bad.error
    assert bad.used_bytes is None and bad.total_bytes == 80 * GiB
    assert bad.temperature_c == 41  # the rest of the device still read
    assert good.state is DeviceState.OK and good.used_bytes == 20 * GiB
    # Recovery: the next sample is clean.
    fake.heal()
    sleeps.clear()
    assert only(backend.sample()).state is DeviceState.OK
    assert sleeps == []


def test_unknown_that_clears_on_retry_is_not_degraded() -> None:
    fake, backend, sleeps, _ = make()
    backend.open()
    fake.fail("nvmlDeviceGetComputeRunningProcesses_v3", NVML_ERROR_UNKNOWN, times=2)
    d = only(backend.sample())
    assert d.state is DeviceState.OK
    assert sleeps == [0.01, 0.02]


def test_unknown_on_a_process_list_degrades_that_gpu() -> None:
    fake, backend, _, _ = make([FakeGPU(compute=[FakeProc(4242001, 1)])])
    backend.open()
    fake.fail("nvmlDeviceGetComputeRunningProcesses_v3", NVML_ERROR_UNKNOWN)
    d = only(backend.sample())
    assert d.state is DeviceState.DEGRADED and d.processes == ()
    assert d.used_bytes == 10 * GiB


def test_driver_gone_on_every_gpu_raises_driver_error() -> None:
    fake, backend, _, _ = make(two_gpus())
    backend.open()
    fake.fail("nvmlDeviceGetMemoryInfo_v2", NVML_ERROR_UNINITIALIZED)
    with pytest.raises(DriverError, match="every GPU"):
        backend.sample()


def test_driver_error_on_one_gpu_degrades_only_that_one() -> None:
    fake, backend, _, _ = make(two_gpus())
    backend.open()
    fake.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_UNINITIALIZED, gpu=1)
    ok, bad = backend.sample().devices
    assert ok.state is DeviceState.OK
    assert bad.state is DeviceState.DEGRADED and bad.error and "Uninitialized" in bad.error


def test_lost_everywhere_is_not_a_driver_error() -> None:
    fake, backend, _, _ = make(two_gpus())
    backend.open()
    fake.fail("nvmlDeviceGetMemoryInfo_v2", NVML_ERROR_GPU_IS_LOST)
    assert [d.state for d in backend.sample().devices] == [DeviceState.LOST] * 2


# --- MIG ----------------------------------------------------------------------------


def mig_gpu() -> FakeGPU:
    return FakeGPU(
        mig_mode=NVML_DEVICE_MIG_ENABLE,
        migs=[
            FakeMig(1, 0, "MIG-1111", total=40 * GiB, used=3 * GiB),
            None,  # an empty slot
            FakeMig(2, 0, "MIG-2222", name="NVIDIA H100 MIG 3g.40gb", total=20 * GiB, used=GiB),
        ],
        compute=[FakeProc(4242001, 3 * GiB, 1, 0), FakeProc(4242002, GiB, 2, 0)],
    )


def test_mig_instances_listed_with_their_own_memory() -> None:
    _, backend, _, _ = make([mig_gpu(), FakeGPU(uuid="GPU-plain", compute=[FakeProc(4242003, 1)])])
    backend.open()
    mig, plain = backend.sample().devices
    assert [(m.gpu_instance_id, m.compute_instance_id, m.uuid) for m in mig.mig_instances] == [
        (1, 0, "MIG-1111"),
        (2, 0, "MIG-2222"),
    ]
    first, second = mig.mig_instances
    assert (first.total_bytes, first.used_bytes) == (40 * GiB, 3 * GiB)
    assert first.free_bytes == 40 * GiB - 3 * GiB - 64 * MiB
    assert second.name == "NVIDIA H100 MIG 3g.40gb"
    procs = {p.pid: p for p in mig.processes}
    assert (procs[4242001].gpu_instance_id, procs[4242001].compute_instance_id) == (1, 0)
    assert procs[4242002].gpu_instance_id == 2
    assert plain.mig_instances == ()
    assert plain.processes[0].gpu_instance_id is None  # ids only on MIG GPUs
    assert plain.processes[0].compute_instance_id is None


def test_mig_disabled_gpu_has_no_instances() -> None:
    gpu = FakeGPU(mig_mode=0, compute=[FakeProc(4242001, 1, NO_INSTANCE, NO_INSTANCE)])
    _, backend, _, _ = make([gpu])
    backend.open()
    d = only(backend.sample())
    assert d.mig_instances == () and d.processes[0].gpu_instance_id is None


def test_mig_without_privilege_for_whole_gpu_lists_asks_each_instance() -> None:
    fake, backend, _, _ = make([mig_gpu()])
    for name in ("Compute", "Graphics", "MPSCompute"):
        fake.fail(f"nvmlDeviceGet{name}RunningProcesses_v3", NVML_ERROR_NO_PERMISSION, mig=False)
    backend.open()
    for _ in range(2):
        d = only(backend.sample())
    procs = {p.pid: p for p in d.processes}
    assert set(procs) == {4242001, 4242002}
    assert procs[4242002].gpu_instance_id == 2 and procs[4242002].compute_instance_id == 0


# --- process identity and the same-user rule ----------------------------------------


def test_own_process_gets_name_cmdline_and_starttime(child: subprocess.Popen[bytes]) -> None:
    procfs = ProcFS()
    _, backend, _, _ = make([FakeGPU(compute=[FakeProc(child.pid, GiB)])], procfs=procfs)
    backend.open()
    p = only(backend.sample()).processes[0]
    assert p.starttime == procfs.starttime(child.pid) and p.starttime is not None
    assert p.uid == os.getuid()
    assert p.name == procfs.comm(child.pid)
    assert p.cmdline[1:3] == ("-c", "import time; time.sleep(60)")
    assert p.cmdline[3] == "evilred"  # the escape sequence is gone
    assert p.identity.starttime == p.starttime


def test_unresolvable_pids_are_not_read_from_local_proc(
    child: subprocess.Popen[bytes],
) -> None:
    # Inside a container without the host PID namespace a local PID of the same
    # number is another process: nothing may be read for it.
    procfs = CountingProcFS()
    fake = FakeNVML([FakeGPU(compute=[FakeProc(child.pid, GiB)])])
    backend = NvidiaBackend(fake, procfs=procfs, resolve_pids=False)
    backend.open()
    p = only(backend.sample()).processes[0]
    assert (p.starttime, p.name, p.cmdline, p.uid) == (None, "", (), None)
    assert p.used_bytes == GiB
    assert sum(procfs.reads.values()) == 0


def test_other_users_process_gets_nvml_data_only(
    other_user_child: subprocess.Popen[bytes],
) -> None:
    procfs = CountingProcFS()
    gpu = FakeGPU(compute=[FakeProc(other_user_child.pid, 2 * GiB)])
    _, backend, _, _ = make([gpu], procfs=procfs)
    backend.open()
    p = only(backend.sample()).processes[0]
    assert (p.name, p.cmdline) == ("", ())
    assert p.used_bytes == 2 * GiB
    assert p.starttime is not None
    assert procfs.reads["cmdline"] == 0 and procfs.reads["comm"] == 0
    assert not security.is_same_user(p.uid)


def test_exited_process_keeps_nvml_data_without_identity() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _, backend, _, _ = make([FakeGPU(compute=[FakeProc(gone.pid, 3 * GiB)])])
    backend.open()
    p = only(backend.sample()).processes[0]
    assert (p.pid, p.starttime, p.used_bytes, p.name, p.uid) == (gone.pid, None, 3 * GiB, "", None)


def test_identity_cache_reads_proc_once_per_identity(child: subprocess.Popen[bytes]) -> None:
    procfs = CountingProcFS()
    gpus = [FakeGPU(compute=[FakeProc(child.pid, GiB)]), FakeGPU(compute=[FakeProc(child.pid, 1)])]
    fake, backend, _, _ = make(gpus, procfs=procfs)
    backend.open()
    first = backend.sample()
    for _ in range(4):
        snap = backend.sample()
    assert procfs.reads["uid"] == 1
    assert procfs.reads["cmdline"] == 1
    assert procfs.reads["comm"] == 1
    # The start time is read once; then the process's pidfd says it still lives.
    assert procfs.reads["starttime"] == 1
    # Unchanged processes are the same objects: no per-sample allocation.
    assert snap.devices[0].processes[0] is first.devices[0].processes[0]
    # A changed figure makes a new object with the cached name.
    fake.gpus[0].compute[0].used = 2 * GiB
    changed = backend.sample().devices[0].processes[0]
    assert changed.used_bytes == 2 * GiB and changed.name == first.devices[0].processes[0].name
    assert procfs.reads["cmdline"] == 1
    # The process leaves the GPUs: its entry is evicted; when it shows up again, /proc
    # is read again.
    fake.gpus[0].compute.clear()
    fake.gpus[1].compute.clear()
    backend.sample()
    fake.gpus[0].compute.append(FakeProc(child.pid, GiB))
    backend.sample()
    assert procfs.reads["cmdline"] == 2


def test_start_time_is_read_again_after_the_process_exits() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    procfs = CountingProcFS()
    _, backend, _, _ = make([FakeGPU(compute=[FakeProc(proc.pid, GiB)])], procfs=procfs)
    backend.open()
    try:
        alive = [only(backend.sample()).processes[0] for _ in range(3)]
        assert procfs.reads["starttime"] == 1
        assert {p.starttime for p in alive} == {procfs.starttime(proc.pid)} - {None}
        proc.kill()
        proc.wait()
        # NVML still lists the PID (its answer can lag the exit): /proc is asked again,
        # and a process that is gone has no identity.
        gone = only(backend.sample()).processes[0]
        assert gone.starttime is None and gone.used_bytes == GiB
        assert procfs.reads["starttime"] == 2 + 1  # the check above read once itself
    finally:
        proc.kill()
        proc.wait()
        backend.close()


def test_without_pidfds_the_start_time_is_read_every_sample(
    child: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open")

    monkeypatch.setattr(os, "pidfd_open", refused, raising=False)
    procfs = CountingProcFS()
    _, backend, _, _ = make([FakeGPU(compute=[FakeProc(child.pid, GiB)])], procfs=procfs)
    backend.open()
    for _ in range(3):
        p = only(backend.sample()).processes[0]
    assert p.starttime is not None and p.name
    assert procfs.reads["starttime"] == 3


def test_recycled_pid_is_a_new_identity(tmp_path: Path) -> None:
    """A fake /proc tree whose stat changes under the same PID."""
    pid_dir = tmp_path / "4242001"
    pid_dir.mkdir()
    uid = os.getuid()

    def write(comm: str, starttime: int) -> None:
        fields = ["S", "1"] + ["0"] * 17 + [str(starttime)] + ["0"] * 10
        (pid_dir / "stat").write_text(f"4242001 ({comm}) " + " ".join(fields) + "\n")
        (pid_dir / "comm").write_text(comm + "\n")
        (pid_dir / "cmdline").write_bytes(comm.encode() + b"\0--flag\0")
        (pid_dir / "status").write_text(f"Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")

    write("old job", 100)
    _, backend, _, _ = make([FakeGPU(compute=[FakeProc(4242001, GiB)])], procfs=ProcFS(tmp_path))
    backend.open()
    old = only(backend.sample()).processes[0]
    assert (old.starttime, old.name, old.cmdline) == (100, "old job", ("old job", "--flag"))
    write("new (job)", 200)
    new = only(backend.sample()).processes[0]
    assert (new.starttime, new.name) == (200, "new (job)")
