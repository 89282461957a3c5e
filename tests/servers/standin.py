#!/usr/bin/env python3
"""A stand-in inference server: answers like vLLM, Ollama, SGLang or llama.cpp.

Standard library only, so it runs anywhere:

    python tests/servers/standin.py --kind vllm --port 8000
    vramtop inspect <the pid it prints>

It disguises its command line as the real server's (`vllm ...`, `ollama ...`,
`sglang ...`, `llama-server ...`) so vramtop recognises it, and serves the
bodies in tests/fixtures/servers/<kind>[-<variant>]/ (or `--dir`, re-read on
every request, so a test can change them between scrapes). A file
`<route>.status` next to a body sets the HTTP status; a route with no file
is a 404. `--behavior` makes it misbehave (redirect, drip, huge, hang).
`--child NAME` starts a child process titled NAME (vLLM's engine core,
Ollama's runner), which is where a real server's GPU memory would be.

When ready it prints one JSON line: {"pid": ..., "port": ..., "child_pid": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "servers"
DISGUISE = {"vllm": "vllm", "ollama": "ollama", "sglang": "sglang", "llamacpp": "llama-server"}
CHILD_CODE = (
    "import os, sys, time, socket\n"
    "parent = int(sys.argv[1])\n"
    "s = None\n"
    "if sys.argv[2] == 'listen':\n"
    "    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(4)\n"
    "while os.getppid() == parent:\n"
    "    time.sleep(0.2)\n"
)


def route_file(base: Path, path: str) -> tuple[int, bytes, str] | None:
    name = path.split("?", 1)[0].strip("/").replace("/", "_") or "index"
    status_file = base / f"{name}.status"
    status = int(status_file.read_text().strip()) if status_file.exists() else 200
    for ext, ctype in (
        (".txt", "text/plain; version=0.0.4; charset=utf-8"),
        (".json", "application/json"),
        (".html", "text/html"),
    ):
        f = base / f"{name}{ext}"
        if f.exists():
            return status, f.read_bytes(), ctype
    if status_file.exists():
        return status, b"", "text/plain"
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "standin"
    base: Path
    behavior: str
    log_file: str | None

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _count(self) -> None:
        if self.log_file:
            with open(self.log_file, "a") as f:
                f.write(f"{self.command} {self.path}\n")
                f.flush()

    def do_GET(self) -> None:
        self._count()
        b = self.behavior
        try:
            if b.startswith("redirect:"):
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{b.split(':', 1)[1]}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if b == "hang":
                time.sleep(30)
                return
            if b == "close":  # accept, read the request, answer nothing
                return
            if b == "garbage":
                self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\nnot http at all")
                return
            if b in ("chunked", "truncated"):
                found = route_file(self.base, self.path)
                payload = found[1] if found else b""
                if b == "chunked":
                    head = (
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                    parts = [payload[i : i + 700] for i in range(0, len(payload), 700)]
                    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in parts)
                    self.wfile.write(head + chunks + b"0\r\n\r\n")
                else:
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(payload) + 500)
                    self.wfile.write(head + payload)
                return
            if b == "slow-headers":
                for ch in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                    self.wfile.write(bytes([ch]))
                    self.wfile.flush()
                    time.sleep(0.02)
                return
            if b in ("drip", "huge", "huge-length"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                if b == "huge-length":
                    self.send_header("Content-Length", str(10 * 1024 * 1024))
                self.end_headers()
                if b == "drip":
                    for _ in range(2000):
                        self.wfile.write(b"#")
                        self.wfile.flush()
                        time.sleep(0.02)
                else:
                    block = b"vllm:num_requests_running 1\n" * 2048
                    sent = 0
                    while sent < 10 * 1024 * 1024:
                        self.wfile.write(block)
                        sent += len(block)
                return
            found = route_file(self.base, self.path)
            if found is None:
                status, body, ctype = 404, b'{"detail":"Not Found"}', "application/json"
            else:
                status, body, ctype = found
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


class Server6(Server):
    address_family = socket.AF_INET6


def main(argv: list[str] | None = None) -> int:
    # The harness stops a stand-in with SIGINT: restore its default, which a suite
    # started in the background by a shell without job control inherits ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", required=True, choices=sorted(DISGUISE))
    ap.add_argument("--variant", default="", help="fixture variant, e.g. v0 for vllm-v0")
    ap.add_argument("--dir", help="serve bodies from this directory instead of the fixtures")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1, ::1, 0.0.0.0 or ::")
    ap.add_argument(
        "--behavior",
        default="normal",
        help="normal | redirect:PORT | drip | huge | huge-length | hang | slow-headers"
        " | close | garbage | chunked | truncated",
    )
    ap.add_argument("--log", help="append one line per request to this file")
    ap.add_argument("--child", help="start a child process with this argv[0]")
    ap.add_argument("--child-listen", action="store_true", help="the child listens on a port too")
    ap.add_argument("--no-disguise", action="store_true")
    args = ap.parse_args(argv)

    exe = os.readlink("/proc/self/exe")
    if not args.no_disguise and os.path.basename(sys.orig_argv[0]) != DISGUISE[args.kind]:
        os.execv(exe, [DISGUISE[args.kind], os.path.abspath(__file__), *sys.argv[1:]])

    base = (
        Path(args.dir)
        if args.dir
        else FIXTURES / (args.kind + (f"-{args.variant}" if args.variant else ""))
    )
    Handler.base = base
    Handler.behavior = args.behavior
    Handler.log_file = args.log
    cls = Server6 if ":" in args.host else Server
    httpd = cls((args.host, args.port), Handler)
    child = None
    if args.child:
        mode = "listen" if args.child_listen else "idle"
        child = subprocess.Popen(
            [args.child, "-c", CHILD_CODE, str(os.getpid()), mode], executable=exe
        )
    ready = {
        "pid": os.getpid(),
        "port": httpd.server_address[1],
        "child_pid": child.pid if child else None,
    }
    print(json.dumps(ready), flush=True)
    try:
        httpd.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        if child is not None:
            child.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
