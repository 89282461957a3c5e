"""NVML's process lists, merged, and who each process is (read once per identity).

NVML gives up to three lists per GPU (or per MIG instance): compute, graphics
and MPS. A PID may be in several; `merge_process_lists` folds them into one
entry per PID. `ProcessIdentities` turns the entries into GPUProcess rows:
name and command line come from /proc for the user's own processes only, once
per process identity `(pid, starttime)`, and a row is reused while nothing in
it changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from vramtop.model import GPUProcess, ProcessKind
from vramtop.pidwatch import ExitWatch
from vramtop.procfs import DEFAULT_ROOT, ProcFS
from vramtop.security import is_same_user, sanitize

# Process-list kinds, as bits so one PID can be several.
COMPUTE, GRAPHICS, MPS = 1, 2, 4
ALL_LISTS = COMPUTE | GRAPHICS | MPS
#: (bit, key for the full GPU, key for MIG instance handles, pynvml function)
PROCESS_LISTS = (
    (COMPUTE, "compute", "mig_compute", "nvmlDeviceGetComputeRunningProcesses"),
    (GRAPHICS, "graphics", "mig_graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
    (MPS, "mps", "mig_mps", "nvmlDeviceGetMPSComputeRunningProcesses"),
)

_NOT_AVAILABLE_U32 = 0xFFFFFFFF
_NOT_AVAILABLE_U64 = 0xFFFFFFFFFFFFFFFF

#: pid -> [used bytes, kind bits, gpu instance, compute instance]
Merged = dict[int, list[Any]]


def merge_process_lists(
    merged: Merged,
    lists: Iterable[tuple[int, Iterable[Any]]],
    gi: int | None,
    ci: int | None,
    *,
    mig: bool = False,
) -> None:
    """Merge `(bit, NVML process entries)` lists of one handle into `merged`.

    A PID keeps the largest memory figure any list gave it. With `mig`, the
    instance ids come from each entry (a whole-GPU list on a MIG GPU); otherwise
    they are `gi` and `ci` (the instance whose handle was asked, or None).
    """
    for bit, entries in lists:
        for p in entries:
            pid = int(p.pid)
            used = p.usedGpuMemory
            if used is not None and used >= _NOT_AVAILABLE_U64:
                used = None
            entry = merged.get(pid)
            if entry is None:
                pgi, pci = gi, ci
                if mig:
                    pgi = p.gpuInstanceId
                    pci = p.computeInstanceId
                    pgi = None if pgi is None or pgi >= _NOT_AVAILABLE_U32 else int(pgi)
                    pci = None if pci is None or pci >= _NOT_AVAILABLE_U32 else int(pci)
                merged[pid] = [used, bit, pgi, pci]
            else:
                entry[1] |= bit
                if used is not None and (entry[0] is None or used > entry[0]):
                    entry[0] = used


class _Identity:
    """What /proc said about one process identity, read once."""

    __slots__ = ("cmdline", "last", "name", "uid")

    def __init__(self, name: str, cmdline: tuple[str, ...], uid: int | None) -> None:
        self.name = name
        self.cmdline = cmdline
        self.uid = uid
        #: The GPUProcess last built per GPU index, reused while nothing changed.
        self.last: dict[int, GPUProcess] = {}


class ProcessIdentities:
    """GPUProcess rows for merged process lists, with a cache per process identity.

    `resolve_pids` False means NVML's host PIDs mean nothing in the /proc we
    can see (a container without the host PID namespace): a local PID of the
    same number is another process, so only NVML's numbers are used.

    A PID's start time is read from /proc once and then trusted while its
    pidfd says the process lives (`begin_sample` polls them all at once); where
    pidfds cannot be had, or PIDs are resolved in another /proc (the host's
    mount), it is read every sample.
    """

    def __init__(self, procfs: ProcFS, *, resolve_pids: bool = True) -> None:
        self._procfs = procfs
        self._resolve_pids = resolve_pids
        self._idents: dict[tuple[int, int], _Identity] = {}
        own_proc = procfs.root == DEFAULT_ROOT
        self._exits = ExitWatch() if resolve_pids and own_proc else None
        #: pid -> start time, for PIDs whose pidfd has not said they exited.
        self._starts: dict[int, int] = {}

    def clear(self) -> None:
        self._idents.clear()
        self._starts.clear()
        if self._exits is not None:
            self._exits.close()

    def begin_sample(self) -> None:
        """Before a sample: the start times of PIDs that exited are read again."""
        if self._exits is not None and self._starts:
            for pid in self._exits.exited():
                self._starts.pop(pid, None)

    def prune(self, seen: set[tuple[int, int]]) -> None:
        """Forget every identity not in `seen` (the ones on a GPU in this sample)."""
        if len(self._idents) > len(seen):
            for key in [k for k in self._idents if k not in seen]:
                del self._idents[key]
        if len(self._starts) > len(seen):
            for pid, start in list(self._starts.items()):
                if (pid, start) not in seen:
                    del self._starts[pid]
                    if self._exits is not None:
                        self._exits.unwatch(pid)

    def _starttime(self, pid: int) -> int | None:
        """The start time of `pid`: remembered while it lives, else from /proc."""
        start = self._starts.get(pid)
        if start is not None:
            return start
        exits = self._exits
        # The pidfd is opened before /proc is read: an exit after the read is seen.
        watched = exits is not None and exits.watch(pid)
        start = self._procfs.starttime(pid)
        if watched and exits is not None:
            if start is None:
                exits.unwatch(pid)
            else:
                self._starts[pid] = start
        return start

    def processes(
        self, index: int, merged: Merged, seen: set[tuple[int, int]]
    ) -> tuple[GPUProcess, ...]:
        """The rows of GPU `index`; adds the identities found to `seen`."""
        out = []
        for pid, (used, bits, gi, ci) in merged.items():
            if bits & (COMPUTE | MPS):
                kind = ProcessKind.BOTH if bits & GRAPHICS else ProcessKind.COMPUTE
            else:
                kind = ProcessKind.GRAPHICS
            out.append(self._process(index, pid, used, kind, bool(bits & MPS), gi, ci, seen))
        return tuple(out)

    def _process(
        self,
        index: int,
        pid: int,
        used: int | None,
        kind: ProcessKind,
        mps: bool,
        gi: int | None,
        ci: int | None,
        seen: set[tuple[int, int]],
    ) -> GPUProcess:
        starttime = self._starttime(pid) if self._resolve_pids else None
        if starttime is None:
            # Exited, or not in our PID namespace: NVML's numbers only.
            return GPUProcess(
                pid, None, used, kind, mps=mps, gpu_instance_id=gi, compute_instance_id=ci
            )
        key = (pid, starttime)
        ident = self._idents.get(key)
        if ident is None:
            ident = self._idents[key] = self._resolve(pid)
        seen.add(key)
        last = ident.last.get(index)
        if (
            last is not None
            and last.used_bytes == used
            and last.kind is kind
            and last.mps == mps
            and last.gpu_instance_id == gi
            and last.compute_instance_id == ci
        ):
            return last
        proc = GPUProcess(
            pid=pid,
            starttime=starttime,
            used_bytes=used,
            kind=kind,
            name=ident.name,
            cmdline=ident.cmdline,
            uid=ident.uid,
            mps=mps,
            gpu_instance_id=gi,
            compute_instance_id=ci,
        )
        ident.last[index] = proc
        return proc

    def _resolve(self, pid: int) -> _Identity:
        """Name and command line from /proc, for the user's own processes only."""
        procfs = self._procfs
        uid = procfs.uid(pid)
        if not is_same_user(uid):
            return _Identity("", (), uid)
        cmdline = tuple(sanitize(a) for a in procfs.cmdline(pid))
        comm = procfs.comm(pid)
        if comm:
            name = sanitize(comm)
        elif cmdline:
            name = sanitize(os.path.basename(cmdline[0]))
        else:
            name = ""
        return _Identity(name, cmdline, uid)
