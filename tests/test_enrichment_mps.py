"""MPS daemon detection (fixture /proc tree, real pipe directory) and the [MPS] facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from vramtop import security
from vramtop.enrichment import EnrichmentSettings, ProcessEnricher
from vramtop.enrichment.mps import DEFAULT_PIPE_DIR, PIPE_DIR_ENV, scan_mps
from vramtop.model import GPUProcess
from vramtop.procfs import ProcFS

MPS_PROC = Path(__file__).parent / "fixtures" / "proc" / "mps"


@pytest.fixture(autouse=True)
def _uid0(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixture tree's processes belong to uid 0 (directory owner is whoever checked
    # it out, so pin the check to the checkout's owner instead).
    owner = MPS_PROC.stat().st_uid
    monkeypatch.setattr(security, "current_uid", lambda: owner)


def test_daemon_and_server_found_and_told_apart(tmp_path: Path) -> None:
    status = scan_mps(ProcFS(MPS_PROC), env={PIPE_DIR_ENV: str(tmp_path)})
    assert status.control_pids == (300,)
    assert status.server_pids == (301,)
    assert status.daemon_running
    assert not status.pipe_present


def test_pipe_alone_shows_a_daemon(tmp_path: Path) -> None:
    (tmp_path / "control").touch()
    status = scan_mps(ProcFS(tmp_path / "empty-proc"), env={PIPE_DIR_ENV: str(tmp_path)})
    assert status.control_pids == ()
    assert status.pipe_present and status.daemon_running
    assert status.pipe_dir == str(tmp_path)


def test_no_daemon(tmp_path: Path) -> None:
    status = scan_mps(ProcFS(tmp_path), env={PIPE_DIR_ENV: str(tmp_path / "none")})
    assert not status.daemon_running


def test_default_pipe_dir() -> None:
    status = scan_mps(ProcFS(MPS_PROC), env={})
    assert status.pipe_dir == DEFAULT_PIPE_DIR


def test_other_users_processes_are_not_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "current_uid", lambda: MPS_PROC.stat().st_uid + 4242)
    status = scan_mps(ProcFS(MPS_PROC), env={PIPE_DIR_ENV: str(tmp_path)})
    assert status.control_pids == () and status.server_pids == ()


def test_mps_client_flag_and_note(tmp_path: Path) -> None:
    enricher = ProcessEnricher(
        EnrichmentSettings(host_proc="none"),
        procfs=ProcFS(MPS_PROC),
        local_procfs=ProcFS(MPS_PROC),
        fs_root=tmp_path,
        env={PIPE_DIR_ENV: str(tmp_path)},
    )
    client = GPUProcess(302, 120, 1 << 30, mps=True)
    plain = GPUProcess(301, 110, 1 << 30)
    infos = enricher.enrich([client, plain], now=0.0)
    assert infos[client.identity].mps_client
    assert any("pid 300" in n for n in infos[client.identity].notes)
    assert not infos[plain.identity].mps_client
    assert infos[plain.identity].framework == "cuda-mps"
    assert enricher.mps_status(0.0).control_pids == (300,)
