"""Which inference server a GPU process belongs to, found from the process tree.

The server is the process itself or a same-user ancestor (vLLM's API server
above its engine cores, `ollama serve` above its runner) that owns a listening
port in our network namespace, alone, among `[scraping] allowed_ports`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from vramtop.enrichment.framework import from_cmdline
from vramtop.enrichment.scrape_rules import owned_endpoints, same_netns
from vramtop.enrichment.servers import DEFAULT_PORTS, normalize_kind
from vramtop.model import ProcessIdentity
from vramtop.procfs import ProcFS
from vramtop.security import current_uid

#: How far above the GPU process the port owner may be (worker, engine core, API server, launcher).
MAX_ANCESTORS = 3


@dataclass(frozen=True, slots=True)
class Target:
    """A verified server: its kind, the process that owns the port, the endpoint."""

    kind: str
    owner: ProcessIdentity
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the process tree says: no server (`kind` None), a target, or why there is none."""

    kind: str | None
    target: Target | None = None
    error: str | None = None
    port: int | None = None


NOT_A_SERVER = Resolution(None)


def _port_order(kind: str, host: str, port: int) -> tuple[int, int, int]:
    hints = DEFAULT_PORTS.get(kind, ())
    return (hints.index(port) if port in hints else len(hints), host != "127.0.0.1", port)


def resolve(
    procfs: ProcFS, pid: int, framework: str | None, allowed_ports: Collection[int]
) -> Resolution:
    """Find the inference server that `pid` belongs to: `pid` itself or a same-user
    ancestor (up to MAX_ANCESTORS up) that is a server and owns an allowed port."""
    uid = current_uid()
    chain: list[tuple[ProcessIdentity, str]] = []
    p = pid
    for depth in range(MAX_ANCESTORS + 1):
        st = procfs.stat(p)
        if st is None or procfs.uid(p) != uid:
            break
        kind = normalize_kind(from_cmdline(procfs.cmdline(p)).framework)
        if depth == 0:
            kind = normalize_kind(framework) or kind
        if kind is not None:
            chain.append((ProcessIdentity(p, st.starttime), kind))
        if st.ppid <= 1:
            break
        p = st.ppid
    if not chain:
        return NOT_A_SERVER
    foreign_netns = False
    disallowed: set[int] = set()
    for ident, server in chain:
        if not same_netns(procfs, ident.pid):
            foreign_netns = True
            continue
        endpoints = owned_endpoints(procfs, ident.pid)
        allowed = [(h, port) for h, port in endpoints if port in allowed_ports]
        disallowed.update(port for _, port in endpoints if port not in allowed_ports)
        if allowed:
            host, port = min(allowed, key=lambda e: _port_order(server, *e))
            return Resolution(server, Target(server, ident, host, port))
    first = chain[0][1]
    if disallowed:
        ports = ", ".join(str(x) for x in sorted(disallowed)[:4])
        error = f"port {ports} not in [scraping] allowed_ports"
        return Resolution(first, None, error, min(disallowed))
    if foreign_netns:
        return Resolution(first, None, "server runs in another network namespace (container)")
    return Resolution(first, None, "no listening port found (server still starting?)")
