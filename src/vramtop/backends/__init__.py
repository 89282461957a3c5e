"""Backends turn a source (NVML, a recording, another host) into MemorySnapshots."""

from vramtop.backends.base import GPUBackend

__all__ = ["GPUBackend"]
