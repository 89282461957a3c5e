"""The backend contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

from vramtop.model import BackendInfo, DeviceState, GPUDevice, MemorySnapshot


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


def unread_device(
    index: int,
    uuid: str,
    name: str,
    total_bytes: int | None,
    state: DeviceState,
    error: str,
    *,
    host: str | None = None,
) -> GPUDevice:
    """A GPU this sample could not read (LOST or DEGRADED): what is known of it
    stays, its memory is unknown (never 0), and `error` says why."""
    return GPUDevice(
        index=index,
        uuid=uuid,
        name=name,
        total_bytes=total_bytes,
        used_bytes=None,
        free_bytes=None,
        state=state,
        error=error,
        host=host,
    )
