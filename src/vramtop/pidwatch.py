"""Which of many processes have exited, in one poll(2) over Linux pidfds.

A process identity is (pid, starttime). Reading /proc/<pid>/stat every sample
to see a PID reused costs ~15 us per process; a pidfd turns readable when its
process exits, so one poll over all of them says which PIDs to read again.
Where pidfds cannot be had (no pidfd_open, a seccomp filter, the descriptor
budget spent), `watch` returns False and the caller reads /proc as before.
"""

from __future__ import annotations

import errno
import os
import resource
import select

#: Errors that say pidfds are not allowed here at all (as opposed to this PID).
_NOT_HERE = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES})
#: Share of the soft descriptor limit pidfds may take; the rest is the program's.
_FD_SHARE = 4


def _fd_budget() -> int:
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return 256
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(0, soft // _FD_SHARE)


class ExitWatch:
    """pidfds of the PIDs being watched; `exited()` polls all of them at once.

    Used from one thread (the sampling loop). PIDs are of vramtop's own PID
    namespace: do not watch PIDs read from another /proc.
    """

    def __init__(self, budget: int | None = None) -> None:
        self._budget = _fd_budget() if budget is None else budget
        self._fd_of: dict[int, int] = {}
        self._pid_of: dict[int, int] = {}
        supported = hasattr(os, "pidfd_open") and hasattr(select, "poll")
        self._poll = select.poll() if supported else None

    @property
    def available(self) -> bool:
        """False where pidfds cannot be had here at all."""
        return self._poll is not None

    def __len__(self) -> int:
        return len(self._fd_of)

    def __contains__(self, pid: object) -> bool:
        return pid in self._fd_of

    def watch(self, pid: int) -> bool:
        """Start watching `pid` (open its pidfd); False when it cannot be watched."""
        if pid in self._fd_of:
            return True
        if self._poll is None or len(self._fd_of) >= self._budget:
            return False
        try:
            fd = os.pidfd_open(pid)
        except OSError as e:
            if e.errno in _NOT_HERE:
                self.close()
                self._poll = None
            return False
        self._fd_of[pid] = fd
        self._pid_of[fd] = pid
        self._poll.register(fd, select.POLLIN)
        return True

    def exited(self) -> list[int]:
        """The watched PIDs whose process has exited since they were watched; they
        are no longer watched."""
        if self._poll is None or not self._fd_of:
            return []
        gone = [self._pid_of[fd] for fd, _events in self._poll.poll(0) if fd in self._pid_of]
        for pid in gone:
            self.unwatch(pid)
        return gone

    def unwatch(self, pid: int) -> None:
        fd = self._fd_of.pop(pid, None)
        if fd is None:
            return
        del self._pid_of[fd]
        if self._poll is not None:
            self._poll.unregister(fd)
        os.close(fd)

    def close(self) -> None:
        for pid in list(self._fd_of):
            self.unwatch(pid)
