"""Model files: open (fd) and memory-mapped, real child processes, dedupe, sizes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtop.enrichment import model_files as mf
from vramtop.model import ModelFile
from vramtop.procfs import ProcFS

Spawn = Callable[..., "subprocess.Popen[str]"]

# Opens every path given, mmaps the ones after "--mmap", closes the fds of the
# mapped ones (the mapping stays), then waits for stdin to close.
CHILD = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
args = sys.argv[1:]
split = args.index("--mmap") if "--mmap" in args else len(args)
opened, mapped = args[:split], args[split + 1:]
keep = [open(p, "rb") for p in opened]
for p in mapped:
    # As safetensors does: map the file, close the descriptor, keep the mapping.
    fd = os.open(p, os.O_RDONLY)
    addr = libc.mmap(None, os.fstat(fd).st_size, 1, 2, fd, 0)  # PROT_READ, MAP_PRIVATE
    assert addr not in (None, ctypes.c_void_p(-1).value)
    os.close(fd)
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def child() -> Iterator[Spawn]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-c", CHILD, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
        return p

    yield start
    for p in procs:
        if p.stdin:
            p.stdin.close()
        p.kill()
        p.wait()


def _file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def test_open_safetensors_and_gguf_with_sizes(tmp_path: Path, child: Spawn) -> None:
    st_file = _file(tmp_path / "model-00001-of-00002.safetensors", 3 * 1024 * 1024)
    gguf = _file(tmp_path / "llama-3-8b.Q4_K_M.gguf", 5 * 1024 * 1024)
    other = _file(tmp_path / "notes.txt", 100)
    p = child(str(st_file), str(gguf), str(other))
    found = dict(mf.scan_open_files(ProcFS(), p.pid))
    by_path = {f.path: f for f in found.values()}
    assert set(by_path) == {str(st_file), str(gguf)}
    assert by_path[str(st_file)] == ModelFile(str(st_file), 3 * 1024 * 1024, mapped=False)
    assert by_path[str(gguf)].size_bytes == 5 * 1024 * 1024


def test_mmapped_file_found_in_maps(tmp_path: Path, child: Spawn) -> None:
    weights = _file(tmp_path / "pytorch_model.bin", 2 * 1024 * 1024)
    p = child("--mmap", str(weights))
    procfs = ProcFS()
    assert list(mf.scan_open_files(procfs, p.pid)) == []  # the fd was closed
    maps = procfs.maps(p.pid)
    assert maps is not None
    files = [f for _, f in mf.scan_mapped_files(procfs, p.pid, maps)]
    assert files == [ModelFile(str(weights), 2 * 1024 * 1024, mapped=True)]


def test_open_and_mapped_same_file_counted_once(tmp_path: Path, child: Spawn) -> None:
    a = _file(tmp_path / "a.safetensors", 4096 * 10)
    b = _file(tmp_path / "b.gguf", 4096 * 3)
    link = tmp_path / "alias.safetensors"
    link.symlink_to(a)  # the same inode under another name: still one file
    p = child(str(a), str(b), "--mmap", str(a), str(link))
    procfs = ProcFS()
    files = mf.ModelFileSet()
    files.update(mf.scan_open_files(procfs, p.pid))
    files.update(mf.scan_mapped_files(procfs, p.pid, procfs.maps(p.pid) or ""))
    assert len(files) == 2
    by_path = {f.path: f for f in files.files()}
    assert by_path[str(a)].mapped is True
    assert by_path[str(b)].mapped is False
    assert files.weights_bytes() == 4096 * 13
    assert [f.path for f in files.files()] == [str(a), str(b)]  # largest first


def test_is_model_path() -> None:
    for ok in (
        "/m/x.safetensors",
        "/m/X.GGUF",
        "/m/a.pt",
        "/m/a.bin",
        "/m/a.onnx",
        "/m/a.pth",
        "/m/a.h5",
        "/m/a.tflite",
        "/m/a.safetensors (deleted)",
    ):
        assert mf.is_model_path(ok), ok
    for no in (
        "/m/a.txt",
        "socket:[12]",
        "pipe:[3]",
        "anon_inode:[eventfd]",
        "/dev/nvidia0",
        "/proc/1/maps.bin",
        "/m/a.safetensors.lock",
        "/memfd:x.bin",
    ):
        assert not mf.is_model_path(no), no


def test_mapped_model_paths_parses_spaces_and_skips_libraries() -> None:
    text = (
        "7f00-7f01 r--p 00000000 fd:01 77 /data/my models/w.safetensors\n"
        "7f01-7f02 r--p 00001000 fd:01 77 /data/my models/w.safetensors\n"
        "7f02-7f03 r-xp 00000000 fd:01 78 /usr/lib/libtorch.so\n"
        "7f03-7f04 rw-p 00000000 00:00 0 \n"
        "7f04-7f05 r--p 00000000 fd:01 79 /old/w.gguf (deleted)\n"
        "broken line\n"
    )
    assert mf.mapped_model_paths(text) == [
        mf.MappedPath("/data/my models/w.safetensors", 77),
        mf.MappedPath("/old/w.gguf (deleted)", 79),
    ]
    assert mf.mapped_model_paths("7f03-7f04 r-xp 00000000 fd:01 1 /usr/lib/libc.so\n") == []


def test_unknown_sizes_are_not_zero() -> None:
    files = mf.ModelFileSet()
    assert files.weights_bytes() is None
    files.add(("path", "/gone.safetensors"), ModelFile("/gone.safetensors", None))
    assert files.weights_bytes() is None
    files.add(("path", "/x.gguf"), ModelFile("/x.gguf", 10))
    assert files.weights_bytes() == 10


def test_merge_keeps_size_and_mapped_flag() -> None:
    files = mf.ModelFileSet()
    key = (1, 2)
    assert files.add(key, ModelFile("/a.pt", 100, mapped=False))
    assert files.add(key, ModelFile("/a.pt", None, mapped=True))
    assert files.files() == (ModelFile("/a.pt", 100, mapped=True),)
    assert not files.add(key, ModelFile("/a.pt", 100, mapped=False))


def test_set_is_bounded() -> None:
    files = mf.ModelFileSet()
    for i in range(mf.MAX_MODEL_FILES + 50):
        files.add(("path", f"/w/{i}.bin"), ModelFile(f"/w/{i}.bin", 1))
    assert len(files) == mf.MAX_MODEL_FILES


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 1000), st.booleans()), max_size=40))
def test_weights_is_sum_of_unique_files(items: list[tuple[int, int, bool]]) -> None:
    files = mf.ModelFileSet()
    sizes: dict[int, int] = {}
    for ino, size, mapped in items:
        files.add((1, ino), ModelFile(f"/m/{ino}.bin", size, mapped))
        sizes[ino] = size  # a later stat of the same file wins
    assert len(files) == len(sizes)
    assert files.weights_bytes() == (sum(sizes.values()) if sizes else None)


def test_vanished_process_gives_nothing() -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert list(mf.scan_open_files(ProcFS(), p.pid)) == []
