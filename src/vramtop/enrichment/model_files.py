"""Model weight files a process has open (/proc/<pid>/fd) or memory-mapped
(/proc/<pid>/maps), with their sizes and a weights estimate.

A file both open and mapped is one file; so is the same file seen under two
names (keyed by device and inode).
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from dataclasses import dataclass

from vramtop.model import ModelFile
from vramtop.procfs import ProcFS
from vramtop.security import sanitize

MODEL_EXTENSIONS = (".safetensors", ".gguf", ".pt", ".bin", ".onnx", ".pth", ".h5", ".tflite")
#: Bound on the files remembered per process (a checkpoint directory can hold thousands).
MAX_MODEL_FILES = 512
_DELETED = " (deleted)"
_NOT_FILES = ("/proc/", "/sys/", "/dev/", "socket:", "pipe:", "anon_inode:", "/memfd:")

FileKey = tuple[int, int] | tuple[str, str]


def is_model_path(path: str) -> bool:
    if path.endswith(_DELETED):
        path = path[: -len(_DELETED)]
    if path.startswith(_NOT_FILES):
        return False
    return path.lower().endswith(MODEL_EXTENSIONS)


@dataclass(frozen=True, slots=True)
class MappedPath:
    """A file-backed mapping from /proc/<pid>/maps."""

    path: str
    inode: int


def mapped_model_paths(maps_text: str) -> list[MappedPath]:
    """Model files among a process's mappings, each path once."""
    lowered = maps_text.lower()
    # Find the few candidate lines by their extension instead of splitting ~1000 lines.
    spans: set[tuple[int, int]] = set()
    for ext in MODEL_EXTENSIONS:
        i = lowered.find(ext)
        while i >= 0:
            start = maps_text.rfind("\n", 0, i) + 1
            end = maps_text.find("\n", i)
            end = len(maps_text) if end < 0 else end
            spans.add((start, end))
            i = lowered.find(ext, end)
    seen: set[str] = set()
    out: list[MappedPath] = []
    for start, end in sorted(spans):
        # address perms offset dev inode pathname (the path may hold spaces)
        parts = maps_text[start:end].split(maxsplit=5)
        if len(parts) < 6:
            continue
        path = parts[5]
        if path in seen or not is_model_path(path):
            continue
        seen.add(path)
        try:
            inode = int(parts[4])
        except ValueError:
            inode = 0
        out.append(MappedPath(path, inode))
    return out


def _display(path: str) -> str:
    return sanitize(path, max_len=1024)


def scan_open_files(
    procfs: ProcFS, pid: int, known: Container[str] = ()
) -> Iterator[tuple[FileKey, ModelFile]]:
    """Model files among the open file descriptors; sizes via the fd link itself
    (which works across mount namespaces). Paths in `known` are not stat'ed again."""
    fd_dir = f"{procfs.root}/{pid}/fd/"
    for fd, target in procfs.fd_links(pid):
        if target in known or not is_model_path(target):
            continue
        try:
            st = os.stat(fd_dir + fd)
        except OSError:
            yield ("path", target), ModelFile(_display(target), None, mapped=False)
            continue
        yield (st.st_dev, st.st_ino), ModelFile(_display(target), st.st_size, mapped=False)


def scan_mapped_files(
    procfs: ProcFS, pid: int, maps_text: str
) -> Iterator[tuple[FileKey, ModelFile]]:
    """Memory-mapped model files; sizes through /proc/<pid>/root (the process's own
    mount namespace), else the same path here when it is the same inode."""
    root = f"{procfs.root}/{pid}/root/"
    for m in mapped_model_paths(maps_text):
        path = m.path[: -len(_DELETED)] if m.path.endswith(_DELETED) else m.path
        st: os.stat_result | None = None
        for candidate in (root + path.lstrip("/"), path):
            try:
                s = os.stat(candidate)
            except OSError:
                continue
            if m.inode and s.st_ino != m.inode:
                continue
            st = s
            break
        if st is None:
            yield ("path", m.path), ModelFile(_display(m.path), None, mapped=True)
        else:
            yield (st.st_dev, st.st_ino), ModelFile(_display(m.path), st.st_size, mapped=True)


class ModelFileSet:
    """The model files seen in one process so far, one entry per file.

    Weights are usually loaded once and then closed or unmapped, so files stay
    in the set for the life of the process: the weights estimate does not vanish
    once loading is over.
    """

    __slots__ = ("_files",)

    def __init__(self) -> None:
        self._files: dict[FileKey, ModelFile] = {}

    def add(self, key: FileKey, file: ModelFile) -> bool:
        """Add or merge one file; returns True when the set changed."""
        old = self._files.get(key)
        if old is None:
            if len(self._files) >= MAX_MODEL_FILES:
                return False
            self._files[key] = file
            return True
        merged = ModelFile(
            path=old.path,
            size_bytes=file.size_bytes if file.size_bytes is not None else old.size_bytes,
            mapped=old.mapped or file.mapped,
        )
        if merged != old:
            self._files[key] = merged
            return True
        return False

    def update(self, items: Iterator[tuple[FileKey, ModelFile]]) -> bool:
        changed = False
        for key, file in items:
            changed = self.add(key, file) or changed
        return changed

    def paths(self) -> frozenset[str]:
        """Paths whose size is already known."""
        return frozenset(f.path for f in self._files.values() if f.size_bytes is not None)

    def files(self) -> tuple[ModelFile, ...]:
        """Largest first."""
        return tuple(sorted(self._files.values(), key=lambda f: (-(f.size_bytes or 0), f.path)))

    def weights_bytes(self) -> int | None:
        """Sum of the known sizes; None when no file (or no size) is known."""
        sizes = [f.size_bytes for f in self._files.values() if f.size_bytes is not None]
        return sum(sizes) if sizes else None

    def __len__(self) -> int:
        return len(self._files)
