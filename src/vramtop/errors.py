"""The exception hierarchy. Each error carries a one-line, user-facing title."""

from __future__ import annotations


class VramtopError(Exception):
    """Base of every error vramtop raises on purpose."""

    title = "vramtop error"
    exit_code = 1

    def user_message(self) -> str:
        detail = str(self)
        return f"{self.title}: {detail}" if detail else self.title


class BackendError(VramtopError):
    title = "GPU backend error"


class NoGPUError(BackendError):
    """NVML could not be initialised: no driver, no library or no device."""

    title = "No NVIDIA GPU detected"
    exit_code = 2

    def user_message(self) -> str:
        msg = "No NVIDIA GPU detected. vramtop requires an NVIDIA GPU with drivers installed."
        detail = str(self)
        return f"{msg} ({detail})" if detail else msg


class GPULostError(BackendError):
    title = "GPU lost"


class DriverError(BackendError):
    title = "NVIDIA driver error"


class ConfigError(VramtopError):
    title = "Config error"
    exit_code = 2


class TraceError(VramtopError):
    title = "Recording error"
    exit_code = 2


class ScrapeError(VramtopError):
    title = "Scrape failed"


class ScrapeRefusedError(ScrapeError):
    title = "Scrape refused"


class ExportError(VramtopError):
    """An exporter, CSV log or webhook that cannot start (port taken, file not writable)."""

    title = "Export error"
    exit_code = 2


class RemoteError(BackendError):
    """Another vramtop's /api/frame could not be read or did not follow the schema."""

    title = "Remote host"


class IPCError(VramtopError):
    title = "Deep-mode error"


class ProcessGoneError(VramtopError):
    title = "No such process"


class PermissionDeniedError(VramtopError):
    title = "Permission denied"
