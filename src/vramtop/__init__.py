"""vramtop: the htop of GPU memory.

Public API: the model types and `report()` (deep mode). Never imports textual.
"""

from __future__ import annotations

__version__ = "0.2.0"

__all__ = ["__version__"]
