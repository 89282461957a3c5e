"""Resident memory that follows what is alive: large blocks are given back when freed.

`vramtop.cli` calls `map_large_blocks` first, before its imports: blocks freed
before the call have raised the threshold already and left the heap grown.

glibc maps a block of 128 KiB or more on its own and unmaps it when freed, but
each time it frees such a block it raises that threshold to the block's size
(up to 32 MiB). From then on blocks of that size come from the heap, whose top
is given back only when nothing above it is alive. In the TUI the first such
block (a 288 KiB dict table that a bounded cache of rich rebuilds now and
then) was freed after some 2,000 frames, and the next one stayed in the heap:
+0.3 MB of resident memory for good, out of +0.54 MB in an hour (+0.25 and
+0.37 with the threshold fixed, 2-core machine). Large blocks stay mapped and
are given back; they are rare (none per frame), so the extra system calls cost
nothing measurable. The TUI, the exporter and the recorder run for hours.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
LARGE_BLOCK_BYTES = 128 * 1024  # glibc's default threshold, kept from now on


def map_large_blocks() -> bool:
    """Fix glibc's mmap threshold at its default; False where there is no glibc mallopt
    (macOS, musl's no-op). Idempotent."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))
