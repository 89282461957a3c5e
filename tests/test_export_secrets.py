"""Secrets: environment first, then a private secrets.toml; never echoed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from export_helpers import TRACES
from vramtop import paths
from vramtop.errors import ConfigError
from vramtop.secrets import Secrets, load_secrets

URL = "https://hooks.example.com/services/T1/B2/SECRETPART"
TOKEN = "tok-0123456789abcdef"


def write(path: Path, text: str, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_environment_wins_and_the_file_is_not_read(tmp_path: Path) -> None:
    f = write(tmp_path / "secrets.toml", 'token = "x"\n', 0o644)  # would be refused
    got = load_secrets({"VRAMTOP_WEBHOOK_URL": URL, "VRAMTOP_TOKEN": TOKEN}, f)
    assert got == Secrets(webhook_url=URL, token=TOKEN)


def test_private_file_fills_what_the_environment_lacks(tmp_path: Path) -> None:
    f = write(tmp_path / "secrets.toml", f'webhook_url = "{URL}"\ntoken = "file-{TOKEN}"\n', 0o600)
    got = load_secrets({"VRAMTOP_TOKEN": TOKEN}, f)
    assert got.webhook_url == URL and got.token == TOKEN
    assert load_secrets({}, f).token == f"file-{TOKEN}"


def test_default_path_is_the_config_dir() -> None:
    f = write(paths.secrets_file(), f'token = "{TOKEN}"\n', 0o600)
    assert f.parent == paths.config_dir()
    assert load_secrets({}).token == TOKEN


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_readable_file_is_refused(tmp_path: Path, mode: int) -> None:
    f = write(tmp_path / "secrets.toml", f'token = "{TOKEN}"\n', mode)
    with pytest.raises(ConfigError) as e:
        load_secrets({}, f)
    assert "chmod 600" in str(e.value) and TOKEN not in str(e.value)


def test_missing_file_is_no_secrets(tmp_path: Path) -> None:
    assert load_secrets({}, tmp_path / "none.toml") == Secrets()


def test_bad_contents_are_refused_without_echoing_them(tmp_path: Path) -> None:
    f = write(tmp_path / "s.toml", 'webhook = "x"\n', 0o600)
    with pytest.raises(ConfigError, match="unknown key"):
        load_secrets({}, f)
    f = write(tmp_path / "s.toml", "token = 5\n", 0o600)
    with pytest.raises(ConfigError, match="must be a string"):
        load_secrets({}, f)
    with pytest.raises(ConfigError) as e:
        load_secrets({"VRAMTOP_WEBHOOK_URL": "ftp://secret.example/x"}, f)
    assert "secret.example" not in str(e.value)
    with pytest.raises(ConfigError, match="shorter"):
        load_secrets({"VRAMTOP_TOKEN": "short"}, tmp_path / "none.toml")


def test_repr_hides_values() -> None:
    text = repr(Secrets(webhook_url=URL, token=TOKEN))
    assert URL not in text and TOKEN not in text


def test_export_refuses_an_open_secrets_file(tmp_path: Path) -> None:
    write(paths.secrets_file(), f'token = "{TOKEN}"\n', 0o644)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "vramtop",
            "export",
            "--port",
            "0",
            "--replay",
            str(TRACES / "staircase.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "chmod 600" in res.stderr
    assert TOKEN not in res.stderr
