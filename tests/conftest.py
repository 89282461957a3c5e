"""Shared pytest setup."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import settings

TRACES_DIR = Path(__file__).parent / "fixtures" / "traces"

# No time limit per example: speed is the benchmark's to check (bench/), never a test's,
# and Hypothesis's default 200 ms deadline fails a property on a loaded CI machine.
settings.register_profile("vramtop", deadline=None)
settings.load_profile("vramtop")


def _gpu_available() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return False
    try:
        return bool(pynvml.nvmlDeviceGetCount() > 0)
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any("gpu" in item.keywords for item in items):
        return
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a real NVIDIA GPU (NVML init failed or no device)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def traces_dir() -> Path:
    return TRACES_DIR


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never read or write the real user's config, data or runtime directories."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
