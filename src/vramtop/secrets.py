"""Secrets (the webhook URL, the exporter's bearer token): environment first, then
`~/.config/vramtop/secrets.toml`, which is refused when group or others can read it.

Secrets never go into config.toml and are never logged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vramtop import paths
from vramtop.errors import ConfigError
from vramtop.security import check_private_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_WEBHOOK_URL = "VRAMTOP_WEBHOOK_URL"
ENV_TOKEN = "VRAMTOP_TOKEN"
#: Keys secrets.toml may hold.
KEYS = ("webhook_url", "token")
#: A shorter bearer token is refused: it could be guessed.
MIN_TOKEN_LEN = 16


@dataclass(frozen=True, slots=True)
class Secrets:
    webhook_url: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never print a secret by accident
        return (
            f"Secrets(webhook_url={'<set>' if self.webhook_url else None}, "
            f"token={'<set>' if self.token else None})"
        )


def _read_file(path: Path) -> dict[str, str]:
    check_private_file(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    out: dict[str, str] = {}
    for key, value in data.items():
        if key not in KEYS:
            raise ConfigError(f"{path}: {key}: unknown key (known: {', '.join(KEYS)})")
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key}: must be a string")
        if value.strip():
            out[key] = value.strip()
    return out


def validate_webhook_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The URL itself is a secret: name the source, not the value.
        raise ConfigError(f"{where}: webhook URL must be an http:// or https:// URL")
    return url


def validate_token(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_LEN:
        raise ConfigError(f"{where}: token is shorter than {MIN_TOKEN_LEN} characters")
    if any(c.isspace() for c in token) or not token.isprintable():
        raise ConfigError(f"{where}: token must be printable and without spaces")
    return token


def load_secrets(env: Mapping[str, str] | None = None, path: Path | None = None) -> Secrets:
    """Secrets from the environment, then the secrets file (if it exists and is private).

    The file is only read when the environment does not already give every
    secret. Raises ConfigError (one line, never containing a secret).
    """
    env = os.environ if env is None else env
    url = env.get(ENV_WEBHOOK_URL, "").strip() or None
    token = env.get(ENV_TOKEN, "").strip() or None
    url_where, token_where = ENV_WEBHOOK_URL, ENV_TOKEN
    path = path or paths.secrets_file()
    if (url is None or token is None) and path.exists():
        data = _read_file(path)
        if url is None and "webhook_url" in data:
            url, url_where = data["webhook_url"], f"{path}: webhook_url"
        if token is None and "token" in data:
            token, token_where = data["token"], f"{path}: token"
    if url is not None:
        validate_webhook_url(url, url_where)
    if token is not None:
        validate_token(token, token_where)
    return Secrets(webhook_url=url, token=token)
