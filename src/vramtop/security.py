"""Sanitizing untrusted strings and the same-user rules."""

from __future__ import annotations

import functools
import os
import pwd
import re
import stat
from pathlib import Path

from vramtop.errors import ConfigError

MAX_DISPLAY_LEN = 256

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other two-byte escapes, and C1 CSI.
_ANSI_RE = re.compile(
    r"(?:\x1b\[[0-?]*[ -/]*[@-~])"
    r"|(?:\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?)"
    r"|(?:\x1b[PX^_][^\x1b]*(?:\x1b\\)?)"
    r"|(?:\x1b[@-Z\\-_])"
    r"|(?:\x9b[0-?]*[ -/]*[@-~])"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def sanitize(text: object, max_len: int = MAX_DISPLAY_LEN) -> str:
    """Strip ANSI escapes and control characters and cap the length.

    Idempotent: `sanitize(sanitize(x)) == sanitize(x)`.
    """
    s = text if isinstance(text, str) else str(text)
    # Loop because removing one escape can join the pieces of another. Control
    # characters go last: every escape starts with one, so the result is stable.
    while True:
        cleaned = _ANSI_RE.sub("", s)
        if cleaned == s:
            break
        s = cleaned
    return _CONTROL_RE.sub("", s)[:max_len]


@functools.lru_cache(maxsize=256)
def user_name(uid: int | None) -> str | None:
    """The login name of `uid`, its number when it has none, None when the uid is unknown.

    Cached: NSS look-ups can go over the network.
    """
    if uid is None:
        return None
    try:
        return sanitize(pwd.getpwuid(uid).pw_name, 32)
    except KeyError:
        return str(uid)


def current_uid() -> int:
    return os.getuid()


def is_same_user(uid: int | None) -> bool:
    """True only when `uid` is known and is ours. Root is not given a pass."""
    return uid is not None and uid == current_uid()


def check_private_file(path: Path) -> None:
    """Refuse a secrets file that group or others can read or write."""
    st = path.stat()
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: readable by group or others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run `chmod 600 {path}`"
        )
    if st.st_uid != current_uid():
        raise ConfigError(f"{path}: not owned by the current user")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 and tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid == current_uid() and stat.S_IMODE(st.st_mode) != 0o700:
        path.chmod(0o700)
    return path
