"""ProcessEnricher: what each GPU process is, cached per process identity.

The engine calls `enrich()` once per sample with every GPU process. For each
identity (pid, starttime):

- first sight: the same-UID check; for another user's process nothing more is
  read (ProcessInfo(readable=False), NVML data only). For our own: command line,
  ancestors' command lines (launchers, servers), cgroup (container), NSpid,
  memory maps (framework library, mapped model files) and open files;
- later samples: open files at most every `fd_refresh_s`, maps at most every
  `maps_refresh_s` (0: never again); nothing else.

Each enricher runs isolated: one raising is logged at debug level and the
others still run. Permission denied or a vanished process leaves VRAM only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from vramtop.enrichment import container as container_mod
from vramtop.enrichment import framework as fw
from vramtop.enrichment import model_files as mf
from vramtop.enrichment.deep import DeepAugmenter, DeepCollector
from vramtop.enrichment.mps import NO_MPS, MPSStatus, scan_mps
from vramtop.model import ContainerInfo, GPUProcess, ModelFile, ProcessIdentity, ProcessInfo
from vramtop.procfs import ProcFS
from vramtop.security import is_same_user, sanitize, user_name

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How far up the parent chain launchers and servers are looked for.
MAX_ANCESTORS = 4
#: Bound on cached ancestor command lines (invariant, not a tunable).
_ANCESTOR_CACHE_MAX = 4096
#: Arguments of a command line kept (a few thousand-argument command lines exist).
_MAX_ARGS = 256

NOTE_OTHER_USER = "another user's process: its /proc details are not read"
NOTE_GONE = "the process is gone"
NOTE_RECYCLED = "the PID now belongs to a different process"
NOTE_UNREADABLE = "permission denied reading /proc: VRAM only"
NOTE_UNRESOLVABLE = "host PID not visible from vramtop's PID namespace"


class InfoAugmenter(Protocol):
    """Adds facts to a same-user process's ProcessInfo each sample (scraped server
    metrics, deep-mode statistics). Must be cheap or rate-limit itself."""

    name: str

    def augment(self, info: ProcessInfo, now: float) -> ProcessInfo: ...

    def forget(self, identities: Sequence[ProcessIdentity]) -> None: ...


@dataclass(frozen=True, slots=True)
class EnrichmentSettings:
    fd_refresh_s: float = 5.0
    maps_refresh_s: float = 60.0
    mps_scan_s: float = 10.0
    host_proc: str = "auto"


class _Entry:
    """Mutable per-identity state; only the enricher touches it."""

    __slots__ = (
        "ancestors",
        "cmd_guess",
        "container",
        "fd_at",
        "files",
        "info",
        "library",
        "maps_at",
        "maps_readable",
        "readable",
    )

    def __init__(self, info: ProcessInfo, readable: bool) -> None:
        self.info = info
        self.readable = readable
        self.cmd_guess = fw.NOTHING
        self.ancestors: tuple[fw.CommandGuess, ...] = ()
        self.library: str | None = None
        self.container: ContainerInfo | None = None
        self.files = mf.ModelFileSet()
        self.fd_at: float | None = None
        self.maps_at: float | None = None
        self.maps_readable = False


class ProcessEnricher:
    """The engine's Enricher: `enrich`, `forget`, `notices`."""

    def __init__(
        self,
        settings: EnrichmentSettings | None = None,
        *,
        procfs: ProcFS | None = None,
        local_procfs: ProcFS | None = None,
        fs_root: Path = Path("/"),
        env: Mapping[str, str] | None = None,
        augmenters: Sequence[InfoAugmenter] | None = None,
    ) -> None:
        """`procfs` is where NVML PIDs are resolved; by default it is chosen from
        vramtop's PID namespace (our /proc, the host's /proc mount, or none)."""
        self.settings = settings or EnrichmentSettings()
        self.local_procfs = local_procfs or ProcFS()
        self.context = container_mod.detect_self(
            self.local_procfs, fs_root, env, self.settings.host_proc
        )
        if procfs is not None:
            self.procfs = procfs
            self.resolvable = True
        else:
            view = self.context.pid_view
            self.procfs = ProcFS(view.proc_root)
            self.resolvable = view.resolvable
        self._env = env
        # None: the defaults. Deep mode costs a stat per process per second until a
        # process opts in (vramtop.report() / vramtop wrap).
        self.augmenters: tuple[InfoAugmenter, ...] = (
            tuple(augmenters)
            if augmenters is not None
            else (DeepAugmenter(DeepCollector(procfs=self.procfs)),)
        )
        self._cache: dict[ProcessIdentity, _Entry] = {}
        self._ancestor_cache: dict[ProcessIdentity, tuple[fw.CommandGuess, ...]] = {}
        self._mps = NO_MPS
        self._mps_at: float | None = None
        self._saw_unresolvable = False

    # --- the Enricher protocol ---------------------------------------------------------

    def enrich(
        self, processes: Sequence[GPUProcess], now: float
    ) -> Mapping[ProcessIdentity, ProcessInfo]:
        merged: dict[ProcessIdentity, GPUProcess] = {}
        for p in processes:
            old = merged.get(p.identity)
            if old is None or (p.mps and not old.mps):
                merged[p.identity] = p
        if any(p.mps for p in merged.values()):
            self._refresh_mps(now)
        out: dict[ProcessIdentity, ProcessInfo] = {}
        for ident, p in merged.items():
            out[ident] = self._enrich_one(p, now)
        return out

    def forget(self, identities: Sequence[ProcessIdentity]) -> None:
        for ident in identities:
            self._cache.pop(ident, None)
        for aug in self.augmenters:
            self._guard(f"{aug.name}.forget", partial(aug.forget, identities), None)

    def notices(self) -> Sequence[str]:
        if self._saw_unresolvable:
            return (container_mod.UNRESOLVABLE_NOTICE,)
        return ()

    def add_augmenter(self, augmenter: InfoAugmenter) -> None:
        """Add one (scraper, deep mode); they run in order, after the /proc enrichers."""
        self.augmenters = (*self.augmenters, augmenter)

    def close(self) -> None:
        """Release what augmenters hold: each one's optional `close()`."""
        for aug in self.augmenters:
            close = getattr(aug, "close", None)
            if callable(close):
                self._guard(f"{aug.name}.close", close, None)

    # --- one-off questions (vramtop inspect) -------------------------------------------

    def describe(self, process: GPUProcess, now: float) -> ProcessInfo:
        """Everything about one process, read now (no cached state is kept)."""
        info = self.enrich([process], now)[process.identity]
        self.forget([process.identity])
        return info

    def mps_status(self, now: float) -> MPSStatus:
        self._refresh_mps(now)
        return self._mps

    # --- internals ---------------------------------------------------------------------

    def _guard(self, what: str, fn: Callable[[], T], default: T) -> T:
        """Run one enricher; a failure is logged and gives `default`."""
        try:
            return fn()
        except Exception:  # isolation boundary: one enricher never blocks the others
            log.debug("enricher %s failed", what, exc_info=True)
            return default

    def _refresh_mps(self, now: float) -> None:
        if self._mps_at is not None and now - self._mps_at < self.settings.mps_scan_s:
            return
        self._mps_at = now
        # The daemon lives where the GPU processes do (the host's /proc when mounted).
        root = self.procfs if self.resolvable else self.local_procfs
        self._mps = self._guard("mps", lambda: scan_mps(root, self._env), self._mps)

    def _enrich_one(self, p: GPUProcess, now: float) -> ProcessInfo:
        ident = p.identity
        entry = self._cache.get(ident)
        if entry is None:
            entry = self._guard("identity", lambda: self._first_sight(p, now), None)
            if entry is None:
                entry = _Entry(ProcessInfo(ident, readable=False), readable=False)
            self._cache[ident] = entry
        elif entry.readable:
            changed = False
            if entry.fd_at is None or now - entry.fd_at >= self.settings.fd_refresh_s:
                changed = self._scan_fds(entry, p.pid, now) or changed
            if self.settings.maps_refresh_s > 0 and (
                entry.maps_at is None or now - entry.maps_at >= self.settings.maps_refresh_s
            ):
                changed = self._scan_maps(entry, p.pid, now) or changed
            if changed:
                entry.info = self._build(entry, entry.info)
        info = entry.info
        notes = self._mps_notes(p)
        if info.mps_client != p.mps or notes:
            info = replace(info, mps_client=p.mps, notes=info.notes + notes)
        if entry.readable and self.augmenters:
            for aug in self.augmenters:
                info = self._guard(aug.name, partial(aug.augment, info, now), info)
        return info

    def _mps_notes(self, p: GPUProcess) -> tuple[str, ...]:
        if not p.mps:
            return ()
        if self._mps.control_pids:
            pids = ", ".join(str(x) for x in self._mps.control_pids)
            return (f"MPS client (MPS control daemon: pid {pids})",)
        return ("MPS client",)

    def _unreadable(self, p: GPUProcess, note: str, uid: int | None = None) -> _Entry:
        uid = uid if uid is not None else p.uid
        info = ProcessInfo(
            identity=p.identity,
            readable=False,
            user=user_name(uid),
            name=sanitize(p.name) or None,
            mps_client=p.mps,
            notes=(note,),
            uid=uid,
        )
        return _Entry(info, readable=False)

    def _first_sight(self, p: GPUProcess, now: float) -> _Entry:
        if not self.resolvable:
            self._saw_unresolvable = True
            return self._unreadable(p, NOTE_UNRESOLVABLE)
        pid = p.pid
        procfs = self.procfs
        # The same-UID check comes first: nothing else is read of another user's process.
        uid = procfs.uid(pid)
        if uid is None:
            return self._unreadable(p, NOTE_GONE)
        if not is_same_user(uid):
            return self._unreadable(p, NOTE_OTHER_USER, uid)
        st = procfs.stat(pid)
        if st is None:
            return self._unreadable(p, NOTE_GONE, uid)
        if p.starttime is not None and st.starttime != p.starttime:
            return self._unreadable(p, NOTE_RECYCLED, uid)

        user = user_name(uid)
        entry = _Entry(ProcessInfo(p.identity, uid=uid, user=user), readable=True)
        no_args: tuple[str, ...] = ()
        cmdline = self._guard("cmdline", lambda: procfs.cmdline(pid), no_args)
        name = st.comm  # the same task name as /proc/<pid>/comm, without another read
        no_pids: tuple[int, ...] = ()
        nspid = self._guard("nspid", lambda: procfs.nspids(pid), no_pids)
        entry.cmd_guess = self._guard("framework", lambda: fw.from_cmdline(cmdline), fw.NOTHING)
        entry.ancestors = self._guard("ancestors", lambda: self._ancestors(st.ppid), ())
        entry.container = self._guard("container", lambda: self._container(pid), None)
        self._scan_maps(entry, pid, now)
        self._scan_fds(entry, pid, now)
        notes: tuple[str, ...] = ()
        if not cmdline and not entry.maps_readable and procfs.exists(pid):
            notes = (NOTE_UNREADABLE,)
        base = ProcessInfo(
            identity=p.identity,
            readable=True,
            user=user,
            name=sanitize(name) if name else None,
            cmdline=tuple(sanitize(a) for a in cmdline[:_MAX_ARGS]),
            container=entry.container,
            mps_client=p.mps,
            notes=notes,
            uid=uid,
            nspid=nspid,
        )
        entry.info = self._build(entry, base)
        return entry

    def _build(self, entry: _Entry, base: ProcessInfo) -> ProcessInfo:
        framework, launcher = fw.combine(entry.cmd_guess, entry.ancestors, entry.library)
        return replace(
            base,
            framework=framework,
            launcher=sanitize(launcher) if launcher else None,
            model_files=entry.files.files(),
            weights_bytes=entry.files.weights_bytes(),
        )

    def _scan_maps(self, entry: _Entry, pid: int, now: float) -> bool:
        """Framework library and mapped model files; True when something changed."""
        entry.maps_at = now
        text = self._guard("maps", lambda: self.procfs.maps(pid), None)
        entry.maps_readable = text is not None
        if text is None:
            return False
        changed = False
        library = self._guard("framework-maps", lambda: fw.from_maps(text), None)
        if library is not None and library != entry.library:
            entry.library = library
            changed = True
        mapped: list[tuple[mf.FileKey, ModelFile]] = self._guard(
            "model-files-maps",
            lambda: list(mf.scan_mapped_files(self.procfs, pid, text)),
            [],
        )
        return entry.files.update(iter(mapped)) or changed

    def _scan_fds(self, entry: _Entry, pid: int, now: float) -> bool:
        entry.fd_at = now
        found: list[tuple[mf.FileKey, ModelFile]] = self._guard(
            "model-files-fd",
            lambda: list(mf.scan_open_files(self.procfs, pid, entry.files.paths())),
            [],
        )
        return entry.files.update(iter(found))

    def _container(self, pid: int) -> ContainerInfo | None:
        text = self.procfs.cgroup(pid)
        return container_mod.parse_cgroup(text) if text else None

    def _ancestors(self, pid: int, depth: int = MAX_ANCESTORS) -> tuple[fw.CommandGuess, ...]:
        """Command-line guesses of the parent chain from `pid` up (same-user ancestors
        only; the uid check comes before any other read). Chains are cached per
        ancestor identity: a hundred workers of one launcher cost two reads each."""
        if depth <= 0 or pid <= 1 or not is_same_user(self.procfs.uid(pid)):
            return ()
        st = self.procfs.stat(pid)
        if st is None:
            return ()
        key = ProcessIdentity(pid, st.starttime)
        chain = self._ancestor_cache.get(key)
        if chain is None:
            own = fw.from_cmdline(self.procfs.cmdline(pid))
            chain = (own, *self._ancestors(st.ppid, MAX_ANCESTORS - 1))
            if len(self._ancestor_cache) >= _ANCESTOR_CACHE_MAX:
                self._ancestor_cache.clear()
            self._ancestor_cache[key] = chain
        return chain[:depth]
