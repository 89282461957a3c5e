"""Large blocks stay mapped and are given back when freed (`vramtop.resident`): `vramtop`
sets it before its imports."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from vramtop import resident

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc only",
)

# A freed 8 MiB block raises glibc's threshold to 8 MiB; sixteen 300 kB blocks then
# come from the heap, and after they are freed the heap keeps them resident.
CHILD = """
import sys
from vramtop import resident
if sys.argv[1] == "fixed":
    assert resident.map_large_blocks()
elif sys.argv[1] == "cli":
    import vramtop.cli
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
block = bytearray(8 << 20)
del block
before = rss()
blocks = [bytearray(300_000) for _ in range(16)]
del blocks
print((rss() - before) / 1e6)
"""


def kept_mb(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def test_freed_large_blocks_leave_the_resident_set() -> None:
    # Without the fixed threshold the probe sees the blocks kept, or it proves nothing.
    assert kept_mb("default") > 2.0
    assert kept_mb("fixed") < 0.5


def test_it_is_idempotent() -> None:
    assert resident.map_large_blocks()
    assert resident.map_large_blocks()


def test_the_vramtop_command_fixes_it_before_its_imports() -> None:
    assert kept_mb("cli") < 0.5
