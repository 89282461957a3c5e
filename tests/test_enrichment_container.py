"""Containers: cgroup paths of every runtime (v1 and v2), vramtop's own container,
GPUs handed to it, and where NVML's host PIDs can be resolved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtop.enrichment import container as c
from vramtop.model import ContainerInfo
from vramtop.procfs import ProcFS

FIXTURES = Path(__file__).parent / "fixtures"
CGROUP_DIR = FIXTURES / "cgroup"
PROC_DIR = FIXTURES / "proc"
EXPECTED: dict[str, dict[str, str | None] | None] = json.loads(
    (CGROUP_DIR / "expected.json").read_text()
)


def test_every_fixture_has_an_expectation() -> None:
    files = {p.stem for p in CGROUP_DIR.glob("*.cgroup")}
    assert files == set(EXPECTED)
    # facts.md §10: every runtime, cgroup v1 and v2.
    for runtime in ("docker", "podman", "containerd", "cri-o", "kubernetes"):
        cases = [n for n, e in EXPECTED.items() if e and e["runtime"] == runtime]
        assert cases, runtime
    assert any(n.endswith("_v1") for n in EXPECTED) and any(n.endswith("_v2") for n in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cgroup_fixture(name: str) -> None:
    info = c.parse_cgroup((CGROUP_DIR / f"{name}.cgroup").read_text())
    expected = EXPECTED[name]
    if expected is None:
        assert info is None
        return
    assert info is not None
    assert info.runtime == expected["runtime"]
    assert info.container_id == expected["id"]
    assert info.pod_uid == expected["pod_uid"]
    assert info.source == "cgroup"
    if info.container_id and len(info.container_id) == 64:
        assert info.short_id == info.container_id[:12]


def test_docker_in_docker_takes_the_innermost() -> None:
    outer, inner = "a" * 64, "b" * 64
    info = c.parse_cgroup(f"4:memory:/docker/{outer}/docker/{inner}\n")
    assert info is not None and info.container_id == inner


def test_pod_without_container_scope_is_kubernetes() -> None:
    text = (
        "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
        "0b5e4c1a_7f32_4c55_9a0e_3b1d2c4e5f60.slice\n"
    )
    info = c.parse_cgroup(text)
    assert info is not None
    assert info.runtime == c.KUBERNETES
    assert info.container_id is None
    assert info.pod_uid == "0b5e4c1a-7f32-4c55-9a0e-3b1d2c4e5f60"


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "garbage", "0::", "1:cpu", "::::", "0::/docker/xyz", "0::/docker/" + "a" * 63],
)
def test_malformed_or_foreign_is_none(text: str) -> None:
    assert c.parse_cgroup(text) is None


# --- properties -------------------------------------------------------------------------

HEX64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
UUID = st.uuids().map(str)
TEMPLATES = {
    "docker-cgroupfs": ("docker", "/docker/{id}"),
    "docker-systemd": ("docker", "/system.slice/docker-{id}.scope"),
    "podman": ("podman", "/machine.slice/libpod-{id}.scope"),
    "podman-rootless": (
        "podman",
        "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{id}.scope/container",
    ),
    "k8s-containerd": (
        "containerd",
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod_}.slice/"
        "cri-containerd-{id}.scope",
    ),
    "k8s-crio": (
        "cri-o",
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{pod_}.slice/"
        "crio-{id}.scope",
    ),
    "k8s-cgroupfs": ("kubernetes", "/kubepods/burstable/pod{pod}/{id}"),
}


@given(
    kind=st.sampled_from(sorted(TEMPLATES)),
    cid=HEX64,
    pod=UUID,
    v1=st.booleans(),
    noise=st.lists(st.sampled_from(["0::/", "3:cpuset:/", "5:devices:/user.slice"]), max_size=3),
)
def test_generated_paths_round_trip(
    kind: str, cid: str, pod: str, v1: bool, noise: list[str]
) -> None:
    runtime, template = TEMPLATES[kind]
    path = template.format(id=cid, pod=pod, pod_=pod.replace("-", "_"))
    line = f"12:memory:{path}" if v1 else f"0::{path}"
    text = "\n".join([*noise, line]) + "\n"
    info = c.parse_cgroup(text)
    assert info is not None
    assert info.runtime == runtime
    assert info.container_id == cid
    assert info.short_id == cid[:12]
    if "{pod" in template:
        assert info.pod_uid == pod
    else:
        assert info.pod_uid is None


@given(depth=st.integers(1, 4), ids=st.lists(HEX64, min_size=4, max_size=4))
def test_nested_docker_is_innermost(depth: int, ids: list[str]) -> None:
    path = "".join(f"/docker/{i}" for i in ids[:depth])
    info = c.parse_cgroup(f"0::{path}\n")
    assert info is not None and info.container_id == ids[depth - 1]


@given(st.text(max_size=400))
def test_parser_never_raises_and_ids_come_from_the_text(text: str) -> None:
    info = c.parse_cgroup(text)
    if info is not None and info.container_id is not None:
        assert info.container_id in text
    if info is not None and info.pod_uid is not None:
        assert re.fullmatch(r"[0-9a-f-]{36}", info.pod_uid)


@given(st.lists(st.text(alphabet="abcdef0123456789-_./:", max_size=40), max_size=6))
def test_host_like_paths_without_ids_are_none(segments: list[str]) -> None:
    path = "/" + "/".join(s for s in segments if len(s) < 60)
    text = f"0::{path}\n"
    info = c.parse_cgroup(text)
    if info is not None:
        # Only an lxc name, a pod or a 64-hex id can make it a container.
        assert info.runtime in (c.LXC, c.KUBERNETES) or re.search(r"[0-9a-f]{64}", text)


# --- vramtop's own container -----------------------------------------------------------


def test_mountinfo_gives_the_docker_id_under_a_cgroup_namespace() -> None:
    text = (PROC_DIR / "container_ns" / "12" / "mountinfo").read_text()
    info = c.parse_mountinfo(text)
    assert info is not None
    assert info.runtime == c.DOCKER
    assert info.container_id is not None and len(info.container_id) == 64
    assert info.source == "mountinfo"


def test_mountinfo_podman_and_kubelet() -> None:
    cid = "c" * 64
    text = (
        f"1 2 0:1 /var/lib/containers/storage/overlay-containers/{cid}/userdata/hostname "
        "/etc/hostname rw - ext4 /dev/sda rw\n"
        "3 2 0:1 /var/lib/kubelet/pods/12345678-90ab-4cde-8f01-23456789abcd/volumes/x /x rw\n"
    )
    info = c.parse_mountinfo(text)
    assert info == ContainerInfo(
        c.PODMAN, cid, pod_uid="12345678-90ab-4cde-8f01-23456789abcd", source="mountinfo"
    )
    assert c.parse_mountinfo("22 27 0:21 / /proc rw - proc proc rw\n") is None


def test_containerenv() -> None:
    fields = c.parse_containerenv(
        'engine="podman-4.9.3"\nname="gpu-job"\nid="' + "d" * 64 + '"\nrootless=1\n'
    )
    assert fields["engine"] == "podman-4.9.3"
    assert fields["name"] == "gpu-job"
    assert fields["id"] == "d" * 64
    assert fields["rootless"] == "1"


def _fs(tmp_path: Path) -> Path:
    root = tmp_path / "fs"
    root.mkdir()
    return root


def test_detect_self_in_docker_with_host_proc_and_gpus(tmp_path: Path) -> None:
    root = _fs(tmp_path)
    (root / ".dockerenv").touch()
    devs = root / "var/run/nvidia-container-devices"
    devs.mkdir(parents=True)
    (devs / "GPU-11111111-2222-3333-4444-555555555555").touch()
    cdi = root / "etc/cdi"
    cdi.mkdir(parents=True)
    (cdi / "nvidia.yaml").write_text(
        "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n"
        '- name: "0"\n  containerEdits: {}\n- name: all\n  containerEdits: {}\n'
    )
    (cdi / "notes.txt").write_text("ignored")
    ctx = c.detect_self(
        ProcFS(PROC_DIR / "container_ns"),
        root,
        env={"NVIDIA_VISIBLE_DEVICES": "GPU-1111,1", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
        host_proc=str(PROC_DIR / "host"),
    )
    assert ctx.in_container and ctx.kubernetes
    assert ctx.container is not None
    assert ctx.container.runtime == c.DOCKER
    assert ctx.container.source == "mountinfo"  # the id beats the bare marker file
    assert ctx.nvidia_visible_devices == "GPU-1111,1"
    assert ctx.nvidia_container_devices == ("GPU-11111111-2222-3333-4444-555555555555",)
    assert [s.path for s in ctx.cdi_specs] == ["/etc/cdi/nvidia.yaml"]
    assert ctx.cdi_specs[0].kind == "nvidia.com/gpu"
    assert ctx.cdi_specs[0].devices == ("0", "all")
    assert ctx.pid_view == c.PidView("host-proc", str(PROC_DIR / "host"))


def test_detect_self_podman_marker(tmp_path: Path) -> None:
    root = _fs(tmp_path)
    (root / "run").mkdir()
    (root / "run/.containerenv").write_text('engine="podman-5.0"\nid="' + "e" * 64 + '"\n')
    local = tmp_path / "proc"
    (local / "5").mkdir(parents=True)
    (local / "self").symlink_to("5")
    (local / "5" / "cgroup").write_text("0::/\n")
    ctx = c.detect_self(ProcFS(local), root, env={}, host_proc="none")
    assert ctx.container == ContainerInfo(c.PODMAN, "e" * 64, source="/run/.containerenv")
    assert ctx.nvidia_visible_devices is None
    assert ctx.cdi_specs == () and ctx.nvidia_container_devices == ()


def test_detect_self_on_the_host(tmp_path: Path) -> None:
    local = tmp_path / "proc"
    (local / "5" / "ns").mkdir(parents=True)
    (local / "self").symlink_to("5")
    (local / "5" / "ns" / "pid").symlink_to(f"pid:[{c.INIT_PID_NS_INODE}]")
    (local / "5" / "cgroup").write_text("0::/user.slice/user-1000.slice/session-2.scope\n")
    ctx = c.detect_self(ProcFS(local), _fs(tmp_path), env={})
    assert not ctx.in_container
    assert ctx.pid_view.mode == "host" and ctx.pid_view.resolvable


# --- PID namespaces ---------------------------------------------------------------------


def test_pid_view_unresolvable_without_host_proc() -> None:
    view = c.resolve_pid_view(ProcFS(PROC_DIR / "container_ns"), "none")
    assert view.mode == "unresolvable" and not view.resolvable


def test_pid_view_rejects_a_host_proc_of_our_own_namespace() -> None:
    # A "host" /proc whose `self` is our own PID is just our /proc again.
    own = str(PROC_DIR / "container_ns")
    view = c.resolve_pid_view(ProcFS(own), own)
    assert view.mode == "unresolvable"


def test_pid_view_auto_without_host_mount_is_unresolvable(tmp_path: Path) -> None:
    view = c.resolve_pid_view(ProcFS(PROC_DIR / "container_ns"), "auto")
    # /host/proc does not exist on the test machine.
    assert view.mode == ("host-proc" if Path("/host/proc/self").exists() else "unresolvable")


def test_pid_view_on_this_machine_is_consistent() -> None:
    view = c.resolve_pid_view(ProcFS())
    inode = ProcFS().ns_inode("self", "pid")
    if inode == c.INIT_PID_NS_INODE:
        assert view.mode == "host"
    else:
        assert view.mode in ("host-proc", "unresolvable")
