from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vramtop.errors import ConfigError
from vramtop.security import (
    MAX_DISPLAY_LEN,
    check_private_file,
    ensure_private_dir,
    is_same_user,
    sanitize,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("python3 train.py", "python3 train.py"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("title\x1b]0;pwned\x07end", "titleend"),
        ("a\x00b\x07c\nd\te", "abcde"),
        ("\x9b31mx", "x"),
        ("\x1b[\x1b[31m31mx", "x"),
        ("ok\u202egnp.exe", "okgnp.exe"),
    ],
)
def test_sanitize_examples(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


def test_sanitize_caps_length() -> None:
    assert len(sanitize("x" * 1000)) == MAX_DISPLAY_LEN


def test_sanitize_non_str() -> None:
    assert sanitize(42) == "42"


@given(st.text())
def test_sanitize_idempotent_and_clean(s: str) -> None:
    once = sanitize(s)
    assert sanitize(once) == once
    assert len(once) <= MAX_DISPLAY_LEN
    assert "\x1b" not in once
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in once)


@given(st.binary())
def test_sanitize_decoded_bytes(b: bytes) -> None:
    s = b.decode("utf-8", errors="replace")
    assert sanitize(sanitize(s)) == sanitize(s)


def test_same_user() -> None:
    assert is_same_user(os.getuid())
    assert not is_same_user(None)
    assert not is_same_user(os.getuid() + 12345)


def test_private_file_rules(tmp_path: Path) -> None:
    f = tmp_path / "secrets.toml"
    f.write_text("x=1")
    f.chmod(0o600)
    check_private_file(f)
    f.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        check_private_file(f)
    f.chmod(0o604)
    with pytest.raises(ConfigError):
        check_private_file(f)


def test_private_dir(tmp_path: Path) -> None:
    d = tmp_path / "a" / "b"
    ensure_private_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    d.chmod(0o755)
    ensure_private_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
