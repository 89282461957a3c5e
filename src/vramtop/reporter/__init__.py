"""Deep mode, the side that runs inside the user's program.

`report()` starts a daemon thread that serves this process's allocator
statistics over a Unix socket (see `protocol`). This package imports nothing
at module level: `import vramtop` stays free, and the serving machinery is
loaded only when `report()` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def report(device: int | None = None) -> Path | None:
    """Start reporting allocator statistics for this process (idempotent).

    `device`: the CUDA device (torch index) to report; None picks the device
    holding the most reserved memory at each reading. Returns the socket path,
    or None when the reporter could not start; never raises.
    """
    from vramtop.reporter import pytorch

    return pytorch.start(device)


def stop() -> None:
    """Stop reporting and remove the socket (done automatically at exit)."""
    from vramtop.reporter import pytorch

    pytorch.stop()


__all__ = ["report", "stop"]
