"""The backend contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from vramtop.model import BackendInfo, MemorySnapshot


class GPUBackend(ABC):
    """A source of MemorySnapshots.

    `open()` raises NoGPUError (or BackendError) when the source is unusable.
    `sample()` never raises for one bad GPU: that GPU comes back LOST or
    DEGRADED and the others stay live.
    """

    #: True when `sample()` follows a virtual clock (recordings), not wall time.
    virtual_clock: bool = False

    @abstractmethod
    def open(self) -> BackendInfo: ...

    @abstractmethod
    def sample(self) -> MemorySnapshot: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the source."""

    def __enter__(self) -> GPUBackend:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
