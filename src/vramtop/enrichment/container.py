"""Containers: which container a process runs in (from its cgroup path), whether
vramtop itself runs in one, what GPUs it was given, and how NVML's host PIDs
can be resolved from here.

cgroup paths of every runtime (facts.md §10): Docker (cgroupfs and systemd
drivers, v1 and v2, docker-in-docker), Podman (rootful and rootless),
containerd and CRI-O under Kubernetes (systemd and cgroupfs drivers, pod
UIDs), dockershim, nerdctl, LXC.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vramtop.model import ContainerInfo
from vramtop.procfs import ProcFS
from vramtop.security import sanitize

DOCKER = "docker"
PODMAN = "podman"
CONTAINERD = "containerd"
CRIO = "cri-o"
KUBERNETES = "kubernetes"
LXC = "lxc"
UNKNOWN_RUNTIME = "container"

#: Inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel).
INIT_PID_NS_INODE = 0xEFFFFFFC
DEFAULT_HOST_PROC = "/host/proc"

_HEX64 = r"[0-9a-f]{64}"
# A scope/segment naming a container: prefix-<id>[.scope]
_SCOPE_RE = re.compile(
    rf"^(?P<prefix>docker|libpod|cri-containerd|crio|containerd|nerdctl)-(?P<id>{_HEX64})(?:\.scope)?$"
)
_BARE_ID_RE = re.compile(rf"^{_HEX64}$")
_POD_RE = re.compile(
    r"pod(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_LXC_RE = re.compile(r"^lxc\.payload\.(?P<name>[^/]+)$")
_PREFIX_RUNTIME = {
    "docker": DOCKER,
    "libpod": PODMAN,
    "cri-containerd": CONTAINERD,
    "containerd": CONTAINERD,
    "nerdctl": CONTAINERD,
    "crio": CRIO,
}


def parse_cgroup_path(path: str) -> ContainerInfo | None:
    """The container a cgroup path belongs to; the innermost one when nested
    (docker-in-docker). None for host processes."""
    segments = [s for s in path.strip().split("/") if s]
    runtime: str | None = None
    cid: str | None = None
    pod_uid: str | None = None
    for i, seg in enumerate(segments):
        pod = _POD_RE.search(seg)
        if pod and (seg.startswith("pod") or "-pod" in seg):
            pod_uid = pod.group("uid").replace("_", "-")
            continue
        m = _SCOPE_RE.match(seg)
        if m:
            runtime, cid = _PREFIX_RUNTIME[m.group("prefix")], m.group("id")
            continue
        if _BARE_ID_RE.match(seg):
            parent = segments[i - 1] if i else ""
            if parent == "docker" or parent.startswith("docker-"):
                runtime = DOCKER
            elif pod_uid is not None:
                runtime = KUBERNETES
            else:
                runtime = UNKNOWN_RUNTIME
            cid = seg
            continue
        lxc = _LXC_RE.match(seg)
        if lxc:
            runtime, cid = LXC, lxc.group("name")
            continue
        if seg == "lxc" and i + 1 < len(segments):
            runtime, cid = LXC, segments[i + 1]
    if cid is None:
        if pod_uid is not None:
            return ContainerInfo(runtime=KUBERNETES, container_id=None, pod_uid=pod_uid)
        return None
    return ContainerInfo(
        runtime=runtime or UNKNOWN_RUNTIME,
        container_id=sanitize(cid, 128),
        pod_uid=pod_uid,
        source="cgroup",
    )


def parse_cgroup(text: str) -> ContainerInfo | None:
    """The container of a process from its /proc/<pid>/cgroup (v1 or v2).

    v2 has one line `0::<path>`; v1 has one line per hierarchy
    `ID:controllers:path`. The first line that names a container wins, the v2
    line first.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    paths: list[str] = []
    for ln in lines:
        parts = ln.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            paths.insert(0, parts[2])
        else:
            paths.append(parts[2])
    pod_only: ContainerInfo | None = None
    for p in paths:
        info = parse_cgroup_path(p)
        if info is None:
            continue
        if info.container_id is not None:
            return info
        pod_only = pod_only or info
    return pod_only


# --- vramtop's own surroundings ------------------------------------------------------

_MOUNT_ID_PATTERNS = (
    (DOCKER, re.compile(rf"/docker/containers/({_HEX64})/")),
    (PODMAN, re.compile(rf"/overlay-containers/({_HEX64})/userdata")),
    (CONTAINERD, re.compile(rf"/io\.containerd\.runtime\.v2\.task/[^/\s]+/({_HEX64})/")),
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KUBELET_POD_RE = re.compile(rf"/kubelet/pods/({_UUID})/")
_CONTAINERENV_RE = re.compile(r'^(\w+)="?(.*?)"?$')
_CDI_KIND_RE = re.compile(r'^kind:\s*"?([\w./-]+)"?', re.MULTILINE)
_CDI_NAME_RE = re.compile(r'^\s*-\s*name:\s*"?([\w:./-]+)"?', re.MULTILINE)
CDI_SPEC_DIRS = ("etc/cdi", "var/run/cdi")
NVIDIA_DEVICES_DIR = "var/run/nvidia-container-devices"
_CDI_MAX_BYTES = 1 << 20


def parse_mountinfo(text: str) -> ContainerInfo | None:
    """Our own container from /proc/self/mountinfo: Docker and Podman bind-mount
    /etc/hostname from a directory named after the container (this works under
    cgroup namespaces, where /proc/self/cgroup only says `0::/`)."""
    pod = _KUBELET_POD_RE.search(text)
    pod_uid = pod.group(1) if pod else None
    for runtime, pattern in _MOUNT_ID_PATTERNS:
        m = pattern.search(text)
        if m:
            return ContainerInfo(runtime, m.group(1), pod_uid=pod_uid, source="mountinfo")
    if pod_uid:
        return ContainerInfo(KUBERNETES, None, pod_uid=pod_uid, source="mountinfo")
    return None


def parse_containerenv(text: str) -> dict[str, str]:
    """Podman's /run/.containerenv: `key="value"` lines (engine, name, id, image, ...)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _CONTAINERENV_RE.match(line.strip())
        if m:
            out[m.group(1)] = sanitize(m.group(2))
    return out


@dataclass(frozen=True, slots=True)
class CDISpec:
    path: str
    kind: str | None
    devices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PidView:
    """How NVML's PIDs (always host PIDs) are looked up from where vramtop runs.

    mode: "host" (vramtop shares the host PID namespace), "host-proc" (it does not,
    but the host's /proc is mounted at `proc_root`), or "unresolvable".
    """

    mode: str
    proc_root: str

    @property
    def resolvable(self) -> bool:
        return self.mode != "unresolvable"


@dataclass(frozen=True, slots=True)
class SelfContext:
    """Where vramtop itself runs."""

    container: ContainerInfo | None
    kubernetes: bool
    nvidia_visible_devices: str | None
    nvidia_container_devices: tuple[str, ...]
    cdi_specs: tuple[CDISpec, ...]
    pid_view: PidView

    @property
    def in_container(self) -> bool:
        return self.container is not None or self.kubernetes


UNRESOLVABLE_NOTICE = (
    "vramtop runs in a container without the host's PID namespace: NVML reports host "
    "PIDs, which cannot be looked up here, so process names and details are missing. "
    "Run the container with --pid=host (docker) or hostPID: true (Kubernetes), or mount "
    "the host's /proc (-v /proc:/host/proc:ro)."
)


def resolve_pid_view(local: ProcFS, host_proc: str = "auto") -> PidView:
    """Decide where NVML PIDs are resolved.

    In the initial PID namespace (namespace inode 0xEFFFFFFC) NVML's PIDs are ours.
    Otherwise a host /proc mount is usable when `self` there is a different PID
    from `self` here (it is the procfs of an outer PID namespace).
    """
    inode = local.ns_inode("self", "pid")
    if inode is None or inode == INIT_PID_NS_INODE:
        return PidView("host", str(local.root))
    setting = host_proc.strip()
    if setting.lower() in ("", "none", "off"):
        candidates: list[str] = []
    elif setting.lower() == "auto":
        candidates = [DEFAULT_HOST_PROC]
    else:
        candidates = [setting]
    own = local.self_pid()
    for cand in candidates:
        outer = ProcFS(cand).self_pid()
        if outer is not None and outer != own:
            return PidView("host-proc", cand)
    return PidView("unresolvable", str(local.root))


def _read_small(path: Path, limit: int = _CDI_MAX_BYTES) -> str | None:
    try:
        with path.open("rb") as fh:
            return fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def cdi_specs(fs_root: Path) -> tuple[CDISpec, ...]:
    """CDI spec files in /etc/cdi and /var/run/cdi with their kind and device names."""
    out: list[CDISpec] = []
    for rel in CDI_SPEC_DIRS:
        d = fs_root / rel
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".yaml", ".yml", ".json")):
                continue
            text = _read_small(d / name) or ""
            kind = _CDI_KIND_RE.search(text)
            if kind is None:
                m = re.search(r'"kind"\s*:\s*"([^"]+)"', text)
                kind_s = m.group(1) if m else None
            else:
                kind_s = kind.group(1)
            names_found = _CDI_NAME_RE.findall(text) or re.findall(r'"name"\s*:\s*"([^"]+)"', text)
            out.append(
                CDISpec(
                    path=sanitize(str(Path("/") / rel / name)),
                    kind=sanitize(kind_s) if kind_s else None,
                    devices=tuple(sanitize(n) for n in names_found[:64]),
                )
            )
    return tuple(out)


def nvidia_container_devices(fs_root: Path) -> tuple[str, ...]:
    """GPUs handed in as volume mounts under /var/run/nvidia-container-devices."""
    try:
        return tuple(sanitize(n) for n in sorted(os.listdir(fs_root / NVIDIA_DEVICES_DIR)))
    except OSError:
        return ()


def own_container(local: ProcFS, fs_root: Path) -> ContainerInfo | None:
    """vramtop's own container: cgroup, then mountinfo, then the marker files."""
    found: ContainerInfo | None = None
    me = local.self_pid()
    cg = local.cgroup(me) if me is not None else None
    if cg:
        found = parse_cgroup(cg)
    if found is None or found.container_id is None:
        mi = local.mountinfo("self")
        from_mounts = parse_mountinfo(mi) if mi else None
        if from_mounts is not None and (found is None or from_mounts.container_id):
            found = from_mounts
    if found is not None and found.container_id is not None:
        return found
    if (fs_root / ".dockerenv").exists():
        pod_uid = found.pod_uid if found else None
        return ContainerInfo(DOCKER, None, pod_uid=pod_uid, source="/.dockerenv")
    env_text = _read_small(fs_root / "run" / ".containerenv", 64 * 1024)
    if env_text is not None:
        fields = parse_containerenv(env_text)
        engine = fields.get("engine", "")
        runtime = PODMAN if not engine or engine.startswith("podman") else engine.split("-")[0]
        cid = fields.get("id") or None
        return ContainerInfo(runtime, cid, source="/run/.containerenv")
    return found


def detect_self(
    local: ProcFS,
    fs_root: Path = Path("/"),
    env: Mapping[str, str] | None = None,
    host_proc: str = "auto",
) -> SelfContext:
    """Where vramtop runs: its container, its GPUs, its PID namespace."""
    env = os.environ if env is None else env
    visible = env.get("NVIDIA_VISIBLE_DEVICES")
    return SelfContext(
        container=own_container(local, fs_root),
        kubernetes="KUBERNETES_SERVICE_HOST" in env,
        nvidia_visible_devices=sanitize(visible) if visible is not None else None,
        nvidia_container_devices=nvidia_container_devices(fs_root),
        cdi_specs=cdi_specs(fs_root),
        pid_view=resolve_pid_view(local, host_proc),
    )
