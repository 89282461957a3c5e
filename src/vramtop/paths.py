"""XDG directories in one place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _xdg(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value) if value and os.path.isabs(value) else default


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", Path.home() / ".config") / "vramtop"


def config_file() -> Path:
    return config_dir() / "config.toml"


def secrets_file() -> Path:
    return config_dir() / "secrets.toml"


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", Path.home() / ".local" / "share") / "vramtop"


def audit_log() -> Path:
    return data_dir() / "audit.log"


def runtime_dir() -> Path:
    """Where deep-mode sockets live: $XDG_RUNTIME_DIR/vramtop, else a per-user temp dir."""
    value = os.environ.get("XDG_RUNTIME_DIR")
    if value and os.path.isabs(value):
        return Path(value) / "vramtop"
    return Path(tempfile.gettempdir()) / f"vramtop-{os.getuid()}"


def screenshot_dir() -> Path:
    return Path.cwd()
