from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from pydantic import ValidationError

from vramtop import config as config_mod
from vramtop.config import Config, ConfigHolder
from vramtop.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_defaults_match_spec() -> None:
    c = Config()
    assert c.general.refresh_rate == 1.0 and c.general.history_length == 300
    assert c.alerts.oom_warning_seconds == 300 and c.alerts.temp_warning_celsius == 85
    assert c.alerts.oom_min_confidence == 0.3
    assert c.display.theme == "dark" and c.display.layout == "auto"
    assert c.display.show_other_users is False and c.display.enable_kill is True
    assert c.display.phase_indicator is True
    assert c.scraping.enable and c.scraping.rate_limit_seconds == 5
    assert c.scraping.timeout_ms == 500 and c.scraping.allowed_ports == [8000, 8080, 11434, 3000]
    assert c.oom_prediction.algorithm == "variance"
    assert c.oom_prediction.min_sustained_samples == 10
    assert c.oom_prediction.min_rate_mb_per_sec == 1.0
    assert c.export.prometheus_bind == "127.0.0.1" and c.export.prometheus_port == 0
    assert c.phase.window == 10 and c.phase.hysteresis == 3


def test_every_field_documented() -> None:
    for section in Config.model_fields:
        model = type(getattr(Config(), section))
        for name, field in model.model_fields.items():
            assert field.description, f"[{section}] {name} has no description"


def test_missing_default_file_gives_defaults() -> None:
    assert config_mod.load() == Config()


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        config_mod.load(tmp_path / "nope.toml")


def test_valid_file(tmp_path: Path) -> None:
    c = config_mod.load(write(tmp_path, "[general]\nrefresh_rate = 2.5\n[display]\ntheme='nord'\n"))
    assert c.general.refresh_rate == 2.5 and c.display.theme == "nord"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[general]\nrefresh_rat = 2\n", r"config.toml: general.refresh_rat: unknown key"),
        ("[generl]\n", r"generl: unknown key"),
        (
            "[general]\nrefresh_rate = 0.1\n",
            r"general.refresh_rate: .*greater than or equal to 0.5",
        ),
        ("[general]\nrefresh_rate = 11\n", r"general.refresh_rate"),
        ("[display]\ntheme = 'pink'\n", r"display.theme"),
        ("[scraping]\nallowed_ports = [0]\n", r"scraping.allowed_ports"),
        ("[export]\nprometheus_bind = 'not-an-ip'\n", r"export.prometheus_bind"),
        ("[general\n", r"invalid TOML"),
    ],
)
def test_bad_config_one_line(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        config_mod.load(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_sighup_reload_keeps_old_on_error(tmp_path: Path) -> None:
    p = write(tmp_path, "[general]\nrefresh_rate = 2\n")
    holder = ConfigHolder(config_mod.load(p), p)
    seen: list[Config] = []
    holder.on_change(seen.append)
    assert holder.install_sighup()
    try:
        assert holder.poll() is None
        p.write_text("[general]\nrefresh_rate = 3\n")
        os.kill(os.getpid(), signal.SIGHUP)
        assert holder.poll() == "Config reloaded"
        assert holder.config.general.refresh_rate == 3
        assert seen and seen[-1].general.refresh_rate == 3
        p.write_text("[general]\nrefresh_rate = 'fast'\n")
        os.kill(os.getpid(), signal.SIGHUP)
        msg = holder.poll()
        assert msg is not None and msg.startswith("Config reload failed, keeping the old config")
        assert holder.config.general.refresh_rate == 3
    finally:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_overrides_validated() -> None:
    c = Config().with_overrides(general={"refresh_rate": 5})
    assert c.general.refresh_rate == 5
    with pytest.raises(ValidationError):
        Config().with_overrides(general={"refresh_rate": 50})


def test_reload_keeps_command_line_overrides(tmp_path: Path) -> None:
    p = write(tmp_path, "[general]\nrefresh_rate = 2\n[display]\ntheme = 'nord'\n")

    def flags(c: Config) -> Config:
        return c.with_overrides(general={"refresh_rate": 5})

    holder = ConfigHolder(flags(config_mod.load(p)), p, overrides=flags)
    p.write_text("[general]\nrefresh_rate = 3\n[display]\ntheme = 'dracula'\n")
    holder.request_reload()
    assert holder.poll() == "Config reloaded"
    assert holder.config.general.refresh_rate == 5  # the flag still wins
    assert holder.config.display.theme == "dracula"  # the file's change applies
