"""What the TUI costs a user's machine: CPU, resident memory, first frame, start-up.

Every figure comes from a real vramtop process drawing to a pseudo-terminal
(160x50, TERM=xterm-256color) whose output this script keeps reading, as a
terminal emulator would; CPU and RSS are read from outside with psutil, so the
benchmark's own work is never counted.

1. CPU at 1 Hz: `vramtop replay T16 --loop --refresh-rate 1` on a synthetic
   recording of 1 GPU x 16 processes; the child's CPU time (user + system, all
   threads) over --duration seconds (default 60) after --warmup seconds (5),
   as % of one core.
2. Resident memory after an hour: the bounded histories are counted in
   samples (history_length, 300 by default), so an hour at 1 Hz means 3600
   frames through the engine and the screen. `vramtop replay` cannot sample
   faster than every 0.5 s (and at x60 with a 0.5 s refresh it draws 120
   frames per simulated hour), so this benchmark starts the same app on the
   same engine in its own process (`tui_perf.py hour-child`, the composition
   of `vramtop replay`) and asks for the next 1 s sample as soon as the
   previous frame has been drawn: 3600 frames of 1 s recording time, every one
   rendered to the terminal. RSS after --hour-warmup frames (600) and at the
   end; growth = end - after warm-up.
3. Time to first frame: from fork() to the first terminal output that shows
   the recording's GPU ("Synthetic GPU" in the card title), median of --runs.
4. Start-up without a GPU: wall time of `vramtop replay ONE --jsonl` on a
   1-sample recording and of `vramtop --version` (medians of --runs), the
   import time of `vramtop.cli` (python -X importtime: total, top 5 modules
   by own time, top-level packages by cumulative time), and which heavy
   packages each path imports.

    python bench/tui_perf.py                       # everything, about 4 minutes
    python bench/tui_perf.py --duration 20 --hour-frames 1200 --json out.json
    python bench/tui_perf.py --only cpu --against ../old-checkout --pairs 3
                                                   # CPU of both, run alternately

Needs only vramtop's own dependencies (psutil, textual) and a POSIX pty.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import inspect
import json
import os
import platform
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
sys.path.insert(0, str(BENCH))

from synth_trace import generate  # noqa: E402

SIZE = (160, 50)
MARKER = b"Synthetic GPU"  # the GPU card's title once a frame with data is drawn
HEAVY = ("textual", "rich", "pydantic", "psutil", "prometheus_client", "pynvml", "ruptures")
MB = 1e6
GROWTH_TOLERANCE_MB = 0.5  # what "no growth" allows: a few allocator pages


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    target: str
    met: bool | None
    how: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)


# --- a child process on a pseudo-terminal ----------------------------------------------


class PtyChild:
    """`argv` started on a new pty of `size` (cols, rows) as its controlling terminal.

    A thread reads everything the child writes (so it never blocks on a full
    pty) and notes when `marker` first appears.
    """

    def __init__(
        self,
        argv: list[str],
        size: tuple[int, int] = SIZE,
        marker: bytes = MARKER,
        src: Path = SRC,
    ) -> None:
        cols, rows = size
        env = dict(child_env(src), TERM="xterm-256color", COLORTERM="truecolor")
        env.pop("NO_COLOR", None)
        winsize = struct.pack("HHHH", rows, cols, 0, 0)
        self.marker = marker
        self.t0 = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: size the terminal before the app asks for it
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, winsize)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        import psutil  # here, not at the top: `hour-child` (the measured app) must not load it

        self.proc = psutil.Process(pid)
        self.first_output_s: float | None = None
        self.marker_s: float | None = None
        self.bytes = 0
        self.last_output = b""
        self._tail = b""
        self._closed = threading.Event()
        self._status: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if not ready:
                    if self._exited():
                        break
                    continue
                chunk = os.read(self.fd, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            now = time.perf_counter() - self.t0
            if self.first_output_s is None:
                self.first_output_s = now
            self.bytes += len(chunk)
            self.last_output = (self.last_output + chunk)[-8192:]
            if self.marker_s is None:
                window = self._tail + chunk
                if self.marker in window:
                    self.marker_s = now
                self._tail = window[-len(self.marker) :]
        self._closed.set()

    def _exited(self) -> bool:
        if self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return False
            self._status = status
        return True

    def wait_marker(self, timeout: float = 30.0) -> float:
        deadline = time.perf_counter() + timeout
        while self.marker_s is None:
            if time.perf_counter() > deadline or self._closed.is_set():
                text = re.sub(
                    rb"\x1b\[[0-9;?<>=$]*[A-Za-z~]|\x1b[()=>][0-9A-B]?", b"", self.last_output
                )
                raise RuntimeError(
                    f"{self.marker!r} never appeared on the terminal; it last showed:\n"
                    + text.decode("utf-8", "replace")[-2000:]
                )
            time.sleep(0.002)
        return self.marker_s

    def cpu_s(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def rss_mb(self) -> float:
        return self.proc.memory_info().rss / MB

    def quit(self, timeout: float = 10.0) -> int | None:
        """Press q; SIGTERM, then SIGKILL, if the app does not leave."""
        with contextlib.suppress(OSError):
            os.write(self.fd, b"q")
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
            deadline = time.perf_counter() + timeout
            while time.perf_counter() < deadline:
                if self._exited():
                    self._reader.join(2)
                    os.close(self.fd)
                    return self._status
                time.sleep(0.02)
        return None


def child_env(src: Path = SRC) -> dict[str, str]:
    """The environment of every measured process: this checkout's vramtop first, so the
    figures are those of the code beside this script, whatever is installed."""
    env = dict(os.environ)
    if (src / "vramtop").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    return env


def vramtop_argv() -> list[str]:
    """`vramtop` as this interpreter runs it (no shell wrapper such as a pyenv shim)."""
    return [sys.executable, "-m", "vramtop"]


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


# --- 1. CPU at 1 Hz ----------------------------------------------------------------------


def cpu_window(
    trace: Path, duration: float, warmup: float, src: Path = SRC
) -> tuple[float, dict[str, object]]:
    """One TUI process of the vramtop in `src` at 1 Hz: its CPU over `duration` seconds as
    % of one core, and the details."""
    child = PtyChild(
        [*vramtop_argv(), "replay", str(trace), "--loop", "--refresh-rate", "1"], src=src
    )
    try:
        child.wait_marker()
        time.sleep(warmup)
        c0, b0, t0 = child.cpu_s(), child.bytes, time.perf_counter()
        load0 = loadavg()
        time.sleep(duration)
        c1, b1, t1 = child.cpu_s(), child.bytes, time.perf_counter()
        rss = child.rss_mb()
        threads = child.proc.num_threads()
    finally:
        child.quit()
    return 100 * (c1 - c0) / (t1 - t0), {
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "terminal_bytes_per_s": (b1 - b0) / (t1 - t0),
        "rss_mb": rss,
        "threads": threads,
        "loadavg_at_start": load0,
    }


def cpu_1hz(
    res: Results, trace: Path, duration: float, warmup: float, against: Path | None, pairs: int
) -> None:
    """CPU at 1 Hz. With `against` (another checkout), the two run alternately `pairs`
    times: from run to run the figure moves by more than most changes being measured."""
    how = (
        f"vramtop replay --loop --refresh-rate 1, pty 160x50, {duration:.0f} s after {warmup:.0f} s"
    )
    name = "TUI at 1 Hz, 1 GPU x 16 processes: CPU"
    if against is None:
        pct, details = cpu_window(trace, duration, warmup)
        res.rows.append(Row(name, pct, "% of one core", "< 1", pct < 1, how))
        res.details["cpu_1hz"] = details
        return
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(pairs):
        ours.append(cpu_window(trace, duration, warmup)[0])
        theirs.append(cpu_window(trace, duration, warmup, against / "src")[0])
    mine, other = statistics.median(ours), statistics.median(theirs)
    how = f"median of {pairs}, alternately with {against}: {how}"
    res.rows.append(Row(name, mine, "% of one core", "< 1", mine < 1, how))
    res.rows.append(Row(f"  the same, {against}", other, "% of one core", "< 1", other < 1, ""))
    res.details["cpu_1hz_pairs"] = {"this": ours, "against": theirs, "against_path": str(against)}


# --- 2. memory over an hour of samples ---------------------------------------------------


def hour_child(trace: str, progress: str, frames: int, every: int) -> int:
    """The app of `vramtop replay TRACE --refresh-rate 1`, each sample taken as soon as the
    previous frame was drawn; writes `frames_seen monotonic_s` to `progress` every
    `every` frames and quits after `frames`."""
    # vramtop.cli first: it sets the process's malloc policy before anything else is
    # imported, as it does in `vramtop` (vramtop.resident).
    from vramtop.cli import build_parser  # noqa: I001
    from vramtop import trace as trace_mod
    from vramtop.backends.replay import ReplayBackend
    from vramtop.commands._common import build_monitor, load_config
    from vramtop.export.runner import attach, tui_options
    from vramtop.ui.app import VramtopApp
    from vramtop.ui.messages import FrameReady

    args = build_parser().parse_args(["replay", trace, "--loop", "--refresh-rate", "1"])
    holder = load_config(args)
    cfg = holder.config
    backend = ReplayBackend(trace_mod.read(trace), step_s=cfg.general.refresh_rate, loop=True)
    monitor = build_monitor(backend, cfg, enrich=False)
    monitor.open()
    consumers = attach(
        monitor, cfg, tui_options(cfg, None, include_others=True, webhooks=False), strict=False
    )
    out = open(progress, "w")  # noqa: SIM115 - closed below

    class PacedApp(VramtopApp):
        # Textual finds CSS_PATH beside the module that defines the class: point it home.
        CSS_PATH = str(Path(inspect.getfile(VramtopApp)).with_name("vramtop.tcss"))
        seen = 0

        def _start_timer(self) -> None:  # paced by frames below, not by the clock
            pass

        def on_frame_ready(self, message: FrameReady) -> None:
            # Textual calls every class's handler in turn: VramtopApp's draws the frame
            # after this one (calling it here too would draw every frame twice).
            self.seen += 1
            if self.seen % every == 0:
                out.write(f"{self.seen} {time.monotonic()}\n")
                out.flush()
            if self.seen >= frames:
                self.exit(0)
            else:
                # Taken as soon as the sampling thread is free.
                self.call_after_refresh(self.request_sample)

    app = PacedApp(monitor, holder)
    try:
        app.run()
    finally:
        consumers.close()
        monitor.close()
        # Bounded caches of rich and Textual that fill as new styles are drawn.
        from rich.style import Style
        from textual.strip import Strip

        ansi, add = Strip.render_ansi.cache_info(), Style._add.cache_info()
        out.write(f"caches render_ansi={ansi.currsize}/{ansi.maxsize} style_add={add.currsize}\n")
        out.close()
    return 0


def memory_hour(res: Results, trace: Path, frames: int, warmup_frames: int) -> None:
    import psutil

    every = 50
    with tempfile.TemporaryDirectory() as tmp:
        progress = Path(tmp) / "progress"
        progress.touch()
        child = PtyChild(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "hour-child",
                str(trace),
                str(progress),
                str(frames),
                str(every),
            ]
        )
        curve: list[tuple[int, float]] = []
        t_start = time.perf_counter()
        cpu0 = 0.0
        seen = 0
        try:
            child.wait_marker(60)
            while seen < frames:
                counts = [
                    int(fields[0])
                    for fields in (line.split() for line in progress.read_text().splitlines())
                    if len(fields) == 2 and fields[0].isdigit()
                ]
                n = counts[-1] if counts else 0
                if n > seen:
                    seen = n
                    try:
                        curve.append((seen, child.rss_mb()))
                        cpu0 = child.cpu_s()
                    except psutil.NoSuchProcess:  # the app left early
                        break
                if child._exited():
                    break
                time.sleep(0.05)
            wall = time.perf_counter() - t_start
        finally:
            status = child.quit()
            progress_text = progress.read_text()
    caches = [line for line in progress_text.splitlines() if line.startswith("caches")]
    if not curve or curve[-1][0] < frames:
        raise RuntimeError(f"hour-child stopped after {seen} frames (status {status})")
    after_warmup = next(rss for n, rss in curve if n >= warmup_frames)
    end = curve[-1][1]
    peak = max(rss for n, rss in curve if n >= warmup_frames)
    growth = end - after_warmup
    sims = f"{frames} frames of 1 s (= {frames / 3600:.2g} h at 1 Hz)"
    res.rows.append(
        Row(
            f"TUI resident memory after {warmup_frames} frames (warm-up)",
            after_warmup,
            "MB",
            "< 80",
            after_warmup < 80,
            "RSS of the app process (hour-child), pty 160x50",
        )
    )
    res.rows.append(
        Row(
            f"TUI resident memory after {frames} frames",
            end,
            "MB",
            "< 80",
            end < 80,
            sims,
        )
    )
    res.rows.append(
        Row(
            "TUI memory growth after warm-up",
            growth,
            "MB",
            "none (<= 0.5)",
            growth <= GROWTH_TOLERANCE_MB,
            f"RSS at frame {frames} minus frame {warmup_frames}; peak {peak:.1f} MB",
        )
    )
    half = (warmup_frames + frames) // 2
    late = end - next(rss for n, rss in curve if n >= half)
    res.rows.append(
        Row(
            "TUI memory growth, second half of the run",
            late,
            "MB",
            "none (<= 0.5)",
            late <= GROWTH_TOLERANCE_MB,
            f"RSS at frame {frames} minus frame {half}: flattening or still growing",
        )
    )
    res.details["memory_hour"] = {
        "frames": frames,
        "warmup_frames": warmup_frames,
        "wall_s": wall,
        "frames_per_s": frames / wall,
        "cpu_ms_per_frame": 1000 * cpu0 / frames if cpu0 else None,
        "rss_curve_mb": curve,
        "caches_at_end": caches[0] if caches else None,
    }


# --- 3. first frame ----------------------------------------------------------------------


def first_frame(res: Results, trace: Path, runs: int) -> None:
    marks, firsts = [], []
    for _ in range(runs):
        child = PtyChild([*vramtop_argv(), "replay", str(trace), "--loop", "--refresh-rate", "1"])
        try:
            marks.append(child.wait_marker())
            firsts.append(child.first_output_s or float("nan"))
        finally:
            child.quit()
    med = statistics.median(marks)
    res.rows.append(
        Row(
            "Time to first TUI frame (with data)",
            1000 * med,
            "ms",
            "< 1000",
            med < 1.0,
            f"fork() to 'Synthetic GPU' on the pty, median of {runs} (max {1000 * max(marks):.0f})",
        )
    )
    res.details["first_frame"] = {
        "to_first_frame_ms": [1000 * x for x in marks],
        "to_first_output_ms": [1000 * x for x in firsts],
    }


# --- 4. start-up and imports -------------------------------------------------------------


def wall_ms(argv: list[str], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
            env=child_env(),
        )
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), times


_IMPORT = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_profile(code: list[str]) -> list[tuple[int, int, int, str]]:
    """(self_us, cumulative_us, depth, module) for each import `python -X importtime` saw."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", *code],
        capture_output=True,
        text=True,
        check=False,
        env=child_env(),
    )
    rows = []
    for line in p.stderr.splitlines():
        m = _IMPORT.match(line)
        if m:
            rows.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    return rows


def startup(res: Results, one: Path, runs: int) -> None:
    vt = vramtop_argv()
    py_ms, _ = wall_ms([sys.executable, "-c", "pass"], runs)
    jsonl_ms, jsonl_all = wall_ms([*vt, "replay", str(one), "--jsonl"], runs)
    version_ms, _ = wall_ms([*vt, "--version"], runs)
    res.rows.append(
        Row(
            "`vramtop replay ONE --jsonl` wall time (no-GPU proxy of --once)",
            jsonl_ms,
            "ms",
            "< 500",
            jsonl_ms < 500,
            f"1-sample recording, median of {runs}; bare `python -c pass`: {py_ms:.0f} ms",
        )
    )
    res.rows.append(
        Row(
            "`vramtop --version` wall time",
            version_ms,
            "ms",
            "",
            None,
            f"median of {runs}",
        )
    )
    # Import cost of vramtop.cli (best of 3 to keep the noise of a shared machine out).
    profiles = [import_profile(["-c", "import vramtop.cli"]) for _ in range(3)]
    prof = min(profiles, key=lambda p: next(c for s, c, d, m in p if m == "vramtop.cli"))
    total = next(c for s, c, d, m in prof if m == "vramtop.cli") / 1000
    res.rows.append(
        Row("import vramtop.cli", total, "ms", "", None, "python -X importtime, best of 3")
    )
    top_self = sorted(prof, reverse=True)[:5]
    packages: dict[str, int] = {}
    for _s, c, d, m in prof:
        if d == 0 or (m.split(".")[0] != "vramtop" and "." not in m):
            packages[m] = max(packages.get(m, 0), c)
    # Which heavy packages does each path import?
    paths = {
        "import vramtop.cli": ["-c", "import vramtop.cli"],
        "vramtop --version": ["-m", "vramtop", "--version"],
        "vramtop replay ONE --jsonl": ["-m", "vramtop", "replay", str(one), "--jsonl"],
    }
    imports = {}
    for name, code in paths.items():
        mods = {m for s, c, d, m in import_profile(code)}
        imports[name] = {h: h in mods for h in HEAVY}
    res.details["startup"] = {
        "python_pass_ms": py_ms,
        "replay_jsonl_ms_all": jsonl_all,
        "import_total_ms": total,
        "top5_self_ms": [(m, s / 1000) for s, c, d, m in top_self],
        "top_level_cumulative_ms": sorted(
            ((m, c / 1000) for m, c in packages.items() if c >= 2000),
            key=lambda x: -x[1],
        )[:10],
        "heavy_imports_by_path": imports,
    }


# --- main --------------------------------------------------------------------------------


def print_table(res: Results) -> None:
    w = max(len(r.figure) for r in res.rows)
    print(f"{'figure':{w}}  {'value':>9}  {'unit':13}  {'target':12}  met")
    for r in res.rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        print(f"{r.figure:{w}}  {r.value:9.2f}  {r.unit:13}  {r.target:12}  {met:3}  {r.how}")
    d = res.details
    if "startup" in d:
        s = d["startup"]
        assert isinstance(s, dict)
        print("import vramtop.cli, top 5 by own time (ms):")
        for m, ms in s["top5_self_ms"]:
            print(f"  {ms:6.1f}  {m}")
        print("top-level imports by cumulative time (ms):")
        for m, ms in s["top_level_cumulative_ms"]:
            print(f"  {ms:6.1f}  {m}")
        print("heavy packages imported, by path:")
        for path, mods in s["heavy_imports_by_path"].items():
            print(f"  {path:28} " + " ".join(m for m, yes in mods.items() if yes))
    print("load average (1, 5, 15 min):", " ".join(f"{x:.2f}" for x in loadavg()))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "hour-child":
        trace, progress, frames, every = sys.argv[2:6]
        return hour_child(trace, progress, int(frames), int(every))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60.0, help="CPU window, seconds (60)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds before the CPU window (5)")
    ap.add_argument("--hour-frames", type=int, default=3600, help="frames for the memory run")
    ap.add_argument("--hour-warmup", type=int, default=600, help="frames before the RSS baseline")
    ap.add_argument("--runs", type=int, default=7, help="repeats of start-up figures (7)")
    ap.add_argument(
        "--only",
        choices=("cpu", "memory", "first-frame", "startup"),
        action="append",
        help="run only these (repeatable)",
    )
    ap.add_argument(
        "--against",
        type=Path,
        metavar="CHECKOUT",
        help="CPU: run another checkout's vramtop (CHECKOUT/src) alternately with this one",
    )
    ap.add_argument("--pairs", type=int, default=3, help="with --against: runs of each (3)")
    ap.add_argument("--json", metavar="PATH", help="write the table and details as JSON")
    args = ap.parse_args()
    if args.hour_warmup >= args.hour_frames:
        ap.error("--hour-warmup must be below --hour-frames")
    if args.against is not None and not (args.against / "src" / "vramtop").is_dir():
        ap.error(f"--against: {args.against} has no src/vramtop")
    if args.pairs < 1:
        ap.error("--pairs must be at least 1")
    only = set(args.only or ("cpu", "memory", "first-frame", "startup"))
    res = Results()
    load_start = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        t16 = Path(tmp) / "synthetic-1gpu-16proc.jsonl"
        generate(t16, gpus=1, processes=16, samples=600)
        one = Path(tmp) / "synthetic-1sample.jsonl"
        generate(one, gpus=1, processes=16, samples=1)
        if "startup" in only:
            startup(res, one, args.runs)
        if "first-frame" in only:
            first_frame(res, t16, args.runs)
        if "cpu" in only:
            cpu_1hz(res, t16, args.duration, args.warmup, args.against, args.pairs)
        if "memory" in only:
            memory_hour(res, t16, args.hour_frames, args.hour_warmup)
    res.details["machine"] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
    }
    print_table(res)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": [asdict(r) for r in res.rows], "details": res.details}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
