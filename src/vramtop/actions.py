"""Signalling a process by identity, and the audit log of every attempt.

A process is `(pid, starttime)`. Right before each signal the identity is read
again from /proc: if the PID is gone, now belongs to another process (PID
recycled: a different start time) or to another user, nothing is sent.
psutil then sends the signal and itself refuses a PID reused since it looked.
Every attempt, sent or refused, is appended to the audit log.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psutil

from vramtop import paths
from vramtop.model import ProcessIdentity
from vramtop.procfs import ProcFS, process_start_unix
from vramtop.security import (
    current_uid,
    ensure_private_dir,
    is_same_user,
    sanitize,
    user_name,
)

log = logging.getLogger(__name__)

ZOMBIE_STATES = frozenset({"Z", "X", "x"})


class Outcome(str, enum.Enum):
    SENT = "sent"
    REFUSED = "refused"
    GONE = "gone"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SignalResult:
    identity: ProcessIdentity
    signal: str
    outcome: Outcome
    message: str

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


@dataclass(frozen=True, slots=True)
class AuditEntry:
    time: str
    user: str
    uid: int
    pid: int
    starttime: int | None
    signal: str
    result: str
    name: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "time": self.time,
                "user": self.user,
                "uid": self.uid,
                "pid": self.pid,
                "starttime": self.starttime,
                "signal": self.signal,
                "result": self.result,
                "name": self.name,
            },
            ensure_ascii=False,
        )


class AuditLog:
    """Append-only JSON Lines at `paths.audit_log()`: directory 0700, file 0600."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.audit_log()

    def append(self, entry: AuditEntry) -> None:
        """Write one line; raises OSError when the log cannot be written."""
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(entry.to_json() + "\n")

    def record(
        self, identity: ProcessIdentity, sig: str, result: str, name: str = ""
    ) -> str | None:
        """Append an entry for `identity`; returns an error message instead of raising."""
        uid = current_uid()
        entry = AuditEntry(
            time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            user=user_name(uid) or str(uid),
            uid=uid,
            pid=identity.pid,
            starttime=identity.starttime,
            signal=sig,
            result=result,
            name=sanitize(name, 64),
        )
        try:
            self.append(entry)
        except OSError as e:
            log.warning("audit log %s not written: %s", self.path, e)
            return f"audit log not written ({e.strerror or e})"
        return None


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def verify(identity: ProcessIdentity, procfs: ProcFS | None = None) -> tuple[Outcome, str] | None:
    """Why `identity` must not be signalled now, or None when it may be.

    Refuses a PID without a known start time, PIDs 0/1 and our own, a process
    that exited (or is a zombie), a PID now held by a different process, and a
    process of another user (root is not given a pass).
    """
    fs = procfs or ProcFS()
    pid = identity.pid
    if pid <= 1 or pid == os.getpid():
        return Outcome.REFUSED, f"refusing to signal PID {pid}"
    if identity.starttime is None:
        return (
            Outcome.REFUSED,
            f"PID {pid}: start time unknown, cannot prove it is the same process",
        )
    st = fs.stat(pid)
    if st is None or st.state in ZOMBIE_STATES:
        return Outcome.GONE, f"PID {pid} has already exited"
    if st.starttime != identity.starttime:
        return (
            Outcome.REFUSED,
            f"PID {pid} now belongs to a different process (PID recycled); nothing sent",
        )
    uid = fs.uid(pid)
    if not is_same_user(uid):
        owner = user_name(uid) or "an unknown user"
        return (
            Outcome.REFUSED,
            f"PID {pid} belongs to {owner}; vramtop only signals your own processes",
        )
    return None


def send_signal(
    identity: ProcessIdentity,
    sig: int,
    *,
    name: str = "",
    procfs: ProcFS | None = None,
    audit: AuditLog | None = None,
) -> SignalResult:
    """Verify `identity` against /proc, then signal it; every call is audited."""
    sig_name = signal_name(sig)
    audit = audit or AuditLog()
    result = _send(identity, sig, sig_name, procfs)
    problem = audit.record(identity, sig_name, f"{result.outcome.value}: {result.message}", name)
    if problem:
        result = SignalResult(
            result.identity, result.signal, result.outcome, f"{result.message} ({problem})"
        )
    return result


def _send(
    identity: ProcessIdentity, sig: int, sig_name: str, procfs: ProcFS | None
) -> SignalResult:
    try:
        # psutil records the process's creation time now and checks it again when
        # signalling, so a PID reused after this line is refused by psutil itself.
        proc = psutil.Process(identity.pid)
    except psutil.NoSuchProcess:
        return SignalResult(
            identity, sig_name, Outcome.GONE, f"PID {identity.pid} has already exited"
        )
    problem = verify(identity, procfs)
    if problem is not None:
        return SignalResult(identity, sig_name, problem[0], problem[1])
    try:
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return SignalResult(
            identity, sig_name, Outcome.GONE, f"PID {identity.pid} exited before {sig_name}"
        )
    except psutil.AccessDenied:
        return SignalResult(
            identity, sig_name, Outcome.FAILED, f"permission denied for PID {identity.pid}"
        )
    except OSError as e:
        return SignalResult(
            identity, sig_name, Outcome.FAILED, f"{sig_name} failed: {e.strerror or e}"
        )
    return SignalResult(identity, sig_name, Outcome.SENT, f"{sig_name} sent to PID {identity.pid}")


def refuse(
    identity: ProcessIdentity,
    sig: int,
    reason: str,
    *,
    name: str = "",
    audit: AuditLog | None = None,
) -> SignalResult:
    """Record a refusal decided before any /proc check (e.g. another user's row)."""
    sig_name = signal_name(sig)
    (audit or AuditLog()).record(identity, sig_name, f"refused: {reason}", name)
    return SignalResult(identity, sig_name, Outcome.REFUSED, reason)


def is_running(identity: ProcessIdentity, procfs: ProcFS | None = None) -> bool:
    """True while the process with this identity exists and is not a zombie."""
    st = (procfs or ProcFS()).stat(identity.pid)
    if st is None or st.state in ZOMBIE_STATES:
        return False
    return identity.starttime is None or st.starttime == identity.starttime


def process_age_s(
    identity: ProcessIdentity, procfs: ProcFS | None = None, now: float | None = None
) -> float | None:
    """Seconds since the process started, from its start time and the boot time."""
    if identity.starttime is None:
        return None
    start = process_start_unix(procfs or ProcFS(), identity.starttime)
    if start is None:
        return None
    return max(0.0, (time.time() if now is None else now) - start)
