"""Readers for /proc, with an injectable root so tests can read fixture trees.

Every reader returns None (or an empty value) when the file is gone or
unreadable: a process can vanish between any two reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vramtop.model import ProcessIdentity

DEFAULT_ROOT = Path("/proc")


@dataclass(frozen=True, slots=True)
class StatFields:
    comm: str
    state: str
    ppid: int
    starttime: int


def parse_stat(text: str) -> StatFields:
    """Parse /proc/<pid>/stat. The command name sits in parentheses and may itself
    hold spaces and parentheses, so split after the LAST ')'."""
    open_idx = text.find("(")
    close_idx = text.rfind(")")
    if open_idx < 0 or close_idx < open_idx:
        raise ValueError("malformed stat line: no (comm)")
    comm = text[open_idx + 1 : close_idx]
    rest = text[close_idx + 1 :].split()
    # rest[0] is field 3 (state); field 22 (starttime) is rest[19].
    if len(rest) < 20:
        raise ValueError("malformed stat line: too few fields")
    return StatFields(comm=comm, state=rest[0], ppid=int(rest[1]), starttime=int(rest[19]))


class ProcFS:
    """Access to one /proc tree."""

    def __init__(self, root: Path | str = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def pid_dir(self, pid: int) -> Path:
        return self.root / str(pid)

    def _read_text(self, pid: int, name: str) -> str | None:
        try:
            return (self.pid_dir(pid) / name).read_text(errors="replace")
        except (OSError, ValueError):
            return None

    def stat(self, pid: int) -> StatFields | None:
        text = self._read_text(pid, "stat")
        if text is None:
            return None
        try:
            return parse_stat(text)
        except ValueError:
            return None

    def starttime(self, pid: int) -> int | None:
        st = self.stat(pid)
        return st.starttime if st else None

    def identity(self, pid: int) -> ProcessIdentity | None:
        st = self.stat(pid)
        return ProcessIdentity(pid, st.starttime) if st else None

    def exists(self, pid: int) -> bool:
        return self.pid_dir(pid).is_dir()

    def uid(self, pid: int) -> int | None:
        """Real UID from /proc/<pid>/status, else the owner of the directory."""
        text = self._read_text(pid, "status")
        if text:
            for line in text.splitlines():
                if line.startswith("Uid:"):
                    parts = line.split()
                    if len(parts) > 1 and parts[1].isdigit():
                        return int(parts[1])
        try:
            return self.pid_dir(pid).stat().st_uid
        except OSError:
            return None

    def status_field(self, pid: int, key: str) -> str | None:
        text = self._read_text(pid, "status")
        if not text:
            return None
        prefix = key + ":"
        for line in text.splitlines():
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        return None

    def nspids(self, pid: int) -> tuple[int, ...]:
        """NSpid: this PID as seen from each nested PID namespace, outermost first."""
        value = self.status_field(pid, "NSpid")
        if not value:
            return ()
        try:
            return tuple(int(x) for x in value.split())
        except ValueError:
            return ()

    def cmdline(self, pid: int) -> tuple[str, ...]:
        try:
            raw = (self.pid_dir(pid) / "cmdline").read_bytes()
        except OSError:
            return ()
        parts = raw.split(b"\0")
        if parts and parts[-1] == b"":
            parts = parts[:-1]
        return tuple(p.decode("utf-8", errors="replace") for p in parts)

    def comm(self, pid: int) -> str | None:
        text = self._read_text(pid, "comm")
        return text.rstrip("\n") if text is not None else None

    def maps(self, pid: int) -> str | None:
        return self._read_text(pid, "maps")

    def cgroup(self, pid: int) -> str | None:
        return self._read_text(pid, "cgroup")

    def environ(self, pid: int) -> dict[str, str]:
        try:
            raw = (self.pid_dir(pid) / "environ").read_bytes()
        except OSError:
            return {}
        env: dict[str, str] = {}
        for item in raw.split(b"\0"):
            if b"=" in item:
                k, _, v = item.partition(b"=")
                env[k.decode(errors="replace")] = v.decode(errors="replace")
        return env

    def fd_targets(self, pid: int) -> list[str]:
        fd_dir = self.pid_dir(pid) / "fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            return []
        targets = []
        for name in names:
            try:
                targets.append(os.readlink(fd_dir / name))
            except OSError:
                continue
        return targets

    def fd_links(self, pid: int) -> list[tuple[str, str]]:
        """(fd number, link target) for each open file descriptor."""
        fd_dir = f"{self.root}/{pid}/fd/"  # plain strings: hundreds of fds per process
        try:
            names = os.listdir(fd_dir)
        except OSError:
            return []
        links = []
        for name in names:
            try:
                links.append((name, os.readlink(fd_dir + name)))
            except OSError:
                continue
        return links

    def mountinfo(self, who: int | str = "self") -> str | None:
        try:
            return (self.root / str(who) / "mountinfo").read_text(errors="replace")
        except (OSError, ValueError):
            return None

    def ns_inode(self, who: int | str = "self", ns: str = "pid") -> int | None:
        """The inode of a namespace link (`pid:[4026531836]` -> 4026531836)."""
        try:
            link = os.readlink(self.root / str(who) / "ns" / ns)
        except OSError:
            return None
        start, end = link.find("["), link.rfind("]")
        digits = link[start + 1 : end] if 0 <= start < end else ""
        return int(digits) if digits.isdigit() else None

    def self_pid(self) -> int | None:
        """Our own PID as this /proc instance's PID namespace sees it."""
        try:
            link = os.readlink(self.root / "self")
        except OSError:
            return None
        return int(link) if link.isdigit() else None

    def boot_time(self) -> float | None:
        try:
            text = (self.root / "stat").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
        return None

    def pids(self) -> list[int]:
        try:
            return [int(n) for n in os.listdir(self.root) if n.isdigit()]
        except OSError:
            return []


def clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


def process_start_unix(procfs: ProcFS, starttime_ticks: int) -> float | None:
    """Wall-clock start of a process from its starttime (ticks since boot)."""
    boot = procfs.boot_time()
    if boot is None:
        return None
    return boot + starttime_ticks / clock_ticks()
