"""Start and stop stand-in servers (standin.py) as real child processes for tests."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

STANDIN = Path(__file__).with_name("standin.py")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "servers"

#: Python code for a process that only sleeps, titled like a server (argv[0]).
SLEEPER = "import time\nwhile True: time.sleep(1)\n"


@dataclass
class Standin:
    proc: subprocess.Popen[bytes]
    pid: int
    port: int
    child_pid: int | None
    log: Path | None

    def requests(self) -> list[str]:
        """Request lines the server has seen ("GET /metrics")."""
        if self.log is None or not self.log.exists():
            return []
        return self.log.read_text().splitlines()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_standin(
    kind: str,
    *,
    variant: str = "",
    body_dir: Path | None = None,
    behavior: str = "normal",
    child: str | None = None,
    child_listen: bool = False,
    host: str = "127.0.0.1",
    log: Path | None = None,
    disguise: bool = True,
) -> Standin:
    cmd = [sys.executable, str(STANDIN), "--kind", kind, "--host", host, "--behavior", behavior]
    if variant:
        cmd += ["--variant", variant]
    if body_dir is not None:
        cmd += ["--dir", str(body_dir)]
    if log is not None:
        cmd += ["--log", str(log)]
    if child:
        cmd += ["--child", child]
    if child_listen:
        cmd.append("--child-listen")
    if not disguise:
        cmd.append("--no-disguise")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else b""
    if not line:
        proc.kill()
        raise RuntimeError(f"stand-in {kind} did not start")
    info = json.loads(line)
    return Standin(proc, info["pid"], info["port"], info["child_pid"], log)


def start_sleeper(title: str) -> subprocess.Popen[bytes]:
    """A process with argv[0] `title` (e.g. "vllm") that owns no port."""
    return subprocess.Popen([title, "-c", SLEEPER], executable=sys.executable)


@dataclass
class StandinFactory:
    tmp: Path
    started: list[Standin] = field(default_factory=list)
    sleepers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __call__(self, kind: str, **kwargs: object) -> Standin:
        kwargs.setdefault("log", self.tmp / f"requests-{len(self.started)}.log")
        s = start_standin(kind, **kwargs)  # type: ignore[arg-type]
        self.started.append(s)
        return s

    def sleeper(self, title: str) -> subprocess.Popen[bytes]:
        p = start_sleeper(title)
        self.sleepers.append(p)
        return p

    def close(self) -> None:
        for s in self.started:
            s.stop()
        for p in self.sleepers:
            p.kill()
            p.wait(timeout=5)


def standins(tmp: Path) -> Iterator[StandinFactory]:
    """Body of a fixture: a factory that stops every server it started."""
    factory = StandinFactory(tmp)
    try:
        yield factory
    finally:
        factory.close()


def wait_until(predicate: object, timeout_s: float = 10.0) -> bool:
    """Poll `predicate()` until true or the deadline (a hang guard, not a timing check)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
