"""vramtop: the htop of GPU memory.

Public API: the model types and `report()` (deep mode). Never imports textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.2.0"


def report(device: int | None = None) -> Path | None:
    """Deep mode: serve this process's CUDA allocator statistics to vramtop.

    Idempotent and never raises; torch is read only if the program already
    imported it. Returns the socket path, or None if reporting could not start.
    """
    from vramtop.reporter import report as _report

    return _report(device)


__all__ = ["__version__", "report"]
