"""CUDA MPS (Multi-Process Service): is the daemon running, and where.

Which processes are MPS clients comes from NVML's MPS process list (the
backend sets GPUProcess.mps); here we only look for the daemon itself:
same-user processes named `nvidia-cuda-mps-control` / `nvidia-cuda-mps-server`
(the owner of /proc/<pid> is checked before its name is read), and the control
pipe in the MPS pipe directory, which also shows a daemon of another user.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vramtop.procfs import ProcFS
from vramtop.security import is_same_user, sanitize

MPS_CONTROL = "nvidia-cuda-mps-control"
MPS_SERVER = "nvidia-cuda-mps-server"
DEFAULT_PIPE_DIR = "/tmp/nvidia-mps"
PIPE_DIR_ENV = "CUDA_MPS_PIPE_DIRECTORY"
# /proc/<pid>/comm holds at most 15 characters: both names start like this.
_COMM_PREFIX = MPS_CONTROL[:15]


@dataclass(frozen=True, slots=True)
class MPSStatus:
    control_pids: tuple[int, ...] = ()
    server_pids: tuple[int, ...] = ()
    pipe_dir: str = DEFAULT_PIPE_DIR
    pipe_present: bool = False

    @property
    def daemon_running(self) -> bool:
        return bool(self.control_pids) or self.pipe_present


NO_MPS = MPSStatus()


def scan_mps(procfs: ProcFS, env: Mapping[str, str] | None = None) -> MPSStatus:
    """One pass over /proc (same-user processes only) and the MPS pipe directory."""
    env = os.environ if env is None else env
    control: list[int] = []
    server: list[int] = []
    for pid in procfs.pids():
        try:
            owner = os.stat(procfs.pid_dir(pid)).st_uid
        except OSError:
            continue
        if not is_same_user(owner):
            continue
        comm = procfs.comm(pid)
        if comm is None or not comm.startswith(_COMM_PREFIX):
            continue
        # Both names share their first 15 characters: the command line tells them apart.
        argv = procfs.cmdline(pid)
        name = os.path.basename(argv[0]) if argv else comm
        if name == MPS_CONTROL:
            control.append(pid)
        elif name == MPS_SERVER:
            server.append(pid)
    pipe_dir = env.get(PIPE_DIR_ENV) or DEFAULT_PIPE_DIR
    pipe_present = (Path(pipe_dir) / "control").exists()
    return MPSStatus(
        control_pids=tuple(sorted(control)),
        server_pids=tuple(sorted(server)),
        pipe_dir=sanitize(pipe_dir),
        pipe_present=pipe_present,
    )
