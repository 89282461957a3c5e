"""Configuration: pydantic models, TOML loading, and reload on SIGHUP."""

from __future__ import annotations

import ipaddress
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vramtop import paths
from vramtop.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

THEMES = ("dark", "light", "nord", "catppuccin", "dracula", "solarized")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class GeneralConfig(_Section):
    refresh_rate: float = Field(1.0, ge=0.5, le=10, description="Seconds between samples.")
    history_length: int = Field(
        300, ge=10, le=100_000, description="Samples of history kept per process and GPU."
    )


class AlertsConfig(_Section):
    oom_warning_seconds: float = Field(
        300, gt=0, le=86_400, description="Alert when the OOM range's low end is within this."
    )
    temp_warning_celsius: int = Field(85, ge=30, le=120, description="Warn above this.")
    oom_min_confidence: float = Field(
        0.3,
        ge=0,
        le=1,
        description=(
            "OOM predictions below this confidence are not shown; one whose earliest"
            " failure is further off than a quarter of oom_warning_seconds needs more,"
            " up to halfway from this to 1 at oom_warning_seconds."
        ),
    )


class DisplayConfig(_Section):
    theme: Literal["dark", "light", "nord", "catppuccin", "dracula", "solarized"] = Field(
        "dark", description="Colour theme."
    )
    layout: Literal["auto", "full", "compact", "mini"] = Field(
        "auto", description="Layout; auto picks from the terminal size."
    )
    show_other_users: bool = Field(
        False, description="List other users' processes (NVML data only, never /proc)."
    )
    enable_kill: bool = Field(True, description="Offer the `k` kill action.")
    phase_indicator: bool = Field(True, description="Show phase badges.")


class ScrapingConfig(_Section):
    enable: bool = Field(True, description="Scrape inference servers' metrics on localhost.")
    rate_limit_seconds: float = Field(
        5, ge=0.5, le=3600, description="Minimum seconds between scrapes of one endpoint."
    )
    timeout_ms: int = Field(500, ge=10, le=10_000, description="HTTP timeout per scrape.")
    allowed_ports: list[int] = Field(
        default_factory=lambda: [8000, 8080, 11434, 3000],
        description="Only these localhost ports are ever scraped.",
    )

    @field_validator("allowed_ports")
    @classmethod
    def _ports(cls, v: list[int]) -> list[int]:
        for port in v:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} outside 1..65535")
        return v


class OOMPredictionConfig(_Section):
    algorithm: Literal["variance", "pelt"] = Field(
        "variance", description="Phase/changepoint algorithm feeding the OOM predictor."
    )
    min_sustained_samples: int = Field(
        10,
        ge=2,
        le=10_000,
        description=(
            "Samples of sustained growth after which the OOM evidence is complete: a "
            "prediction needs at least 2 (3 where memory swings), and its confidence "
            "grows until this many."
        ),
    )
    min_rate_mb_per_sec: float = Field(
        1.0, ge=0, le=1_000_000, description="No prediction below this growth rate (MB/s)."
    )
    pelt_min_size: int = Field(
        5, ge=2, le=1000, description="PELT: fewest samples' rates in one segment."
    )
    leak_prior: float = Field(
        0.05,
        gt=0,
        le=1,
        description=(
            "Prior share of memory-growth episodes that are leaks rather than bounded "
            "allocations (model loads, pre-allocation). Higher warns earlier on an emptier GPU, "
            "and more often during big loads."
        ),
    )


class EnrichmentConfig(_Section):
    fd_refresh_seconds: float = Field(
        5.0, ge=0.5, le=3600, description="Seconds between re-reads of a process's open files."
    )
    maps_refresh_seconds: float = Field(
        60.0,
        ge=0,
        le=86_400,
        description="Seconds between re-reads of a process's memory maps (libraries, mapped "
        "model files); 0 reads them once per process.",
    )
    mps_scan_seconds: float = Field(
        10.0, ge=1, le=3600, description="Seconds between scans for the CUDA MPS daemon."
    )
    host_proc: str = Field(
        "auto",
        description="Where the host's /proc is mounted when vramtop runs in a container "
        "without the host PID namespace: a path, 'auto' (try /host/proc) or 'none'.",
    )


class PhaseConfig(_Section):
    window: int = Field(10, ge=3, le=1000, description="Rates in the sliding window.")
    hysteresis: int = Field(3, ge=1, le=100, description="Samples before a phase change.")
    noise_floor_mb: float = Field(1.0, ge=0, description="Rates within +-this (MB/s) are noise.")
    variance_threshold: float = Field(4.0, ge=0, description="Rate variance below this: stable.")
    ema_alpha: float = Field(0.3, gt=0, le=1, description="Smoothing of the reported rate.")


class ExportConfig(_Section):
    prometheus_bind: str = Field("127.0.0.1", description="Exporter bind address.")
    prometheus_port: int = Field(0, ge=0, le=65535, description="Exporter port; 0 = off.")
    max_processes_per_gpu: int = Field(
        64,
        ge=0,
        le=4096,
        description="Per-process series exported per GPU (largest VRAM first); bounds cardinality.",
    )
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="HTTP timeout per webhook POST.")
    webhook_retries: int = Field(
        4, ge=0, le=20, description="Retries of a failed webhook POST, with exponential backoff."
    )
    webhook_queue_size: int = Field(
        100, ge=1, le=10_000, description="Webhook events waiting to be sent; the oldest drop."
    )
    remote_timeout_s: float = Field(
        1.0, gt=0, le=30, description="Fleet view: HTTP timeout per remote host and sample."
    )
    remote_retry_max_s: float = Field(
        30.0, ge=0, le=3600, description="Fleet view: longest wait before retrying a down host."
    )

    @field_validator("prometheus_bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            if v != "localhost":
                raise ValueError(f"{v!r} is not an IP address") from None
        return v


class Config(_Section):
    general: GeneralConfig = Field(default_factory=GeneralConfig)  # type: ignore[arg-type]
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)  # type: ignore[arg-type]
    display: DisplayConfig = Field(default_factory=DisplayConfig)  # type: ignore[arg-type]
    scraping: ScrapingConfig = Field(default_factory=ScrapingConfig)  # type: ignore[arg-type]
    oom_prediction: OOMPredictionConfig = Field(default_factory=OOMPredictionConfig)  # type: ignore[arg-type]
    phase: PhaseConfig = Field(default_factory=PhaseConfig)  # type: ignore[arg-type]
    export: ExportConfig = Field(default_factory=ExportConfig)  # type: ignore[arg-type]
    enrichment: EnrichmentConfig = Field(default_factory=EnrichmentConfig)  # type: ignore[arg-type]

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A copy with some keys replaced, e.g. `with_overrides(general={"refresh_rate": 2})`."""
        data = self.model_dump()
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        return Config.model_validate(data)


def _format_validation_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        reason = "unknown key"
    else:
        reason = first["msg"]
        if "input" in first and kind != "missing":
            reason += f" (got {first['input']!r})"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{path}: {loc}: {reason}{more}"


def load(path: Path | None = None, *, required: bool = False) -> Config:
    """Load the config file; a missing default file gives defaults.

    Raises ConfigError with the file, key and reason on one line.
    """
    explicit = path is not None
    path = path or paths.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit or required:
            raise ConfigError(f"{path}: no such file") from None
        return Config()
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(path, e)) from None


class ConfigHolder:
    """The current config, reloadable on SIGHUP; a bad reload keeps the old config.

    The signal handler only sets a flag; `poll()` (called by the engine loop or
    the UI timer) performs the reload and returns what happened.
    """

    def __init__(
        self,
        config: Config,
        path: Path | None,
        overrides: Callable[[Config], Config] | None = None,
    ) -> None:
        """`overrides` re-applies the command line's settings to every reloaded file,
        so `--refresh-rate 2` survives a SIGHUP."""
        self._config = config
        self._path = path
        self._overrides = overrides
        self._reload_requested = threading.Event()
        self._listeners: list[Callable[[Config], None]] = []

    @property
    def config(self) -> Config:
        return self._config

    def on_change(self, listener: Callable[[Config], None]) -> None:
        self._listeners.append(listener)

    def install_sighup(self) -> bool:
        if (
            not hasattr(signal, "SIGHUP")
            or threading.current_thread() is not threading.main_thread()
        ):
            return False
        signal.signal(signal.SIGHUP, lambda _sig, _frm: self._reload_requested.set())
        return True

    def request_reload(self) -> None:
        self._reload_requested.set()

    def poll(self) -> str | None:
        """Reload if asked to; returns a one-line message for the user, or None."""
        if not self._reload_requested.is_set():
            return None
        self._reload_requested.clear()
        try:
            new = load(self._path)
            if self._overrides is not None:
                new = self._overrides(new)
        except ConfigError as e:
            return f"Config reload failed, keeping the old config: {e}"
        self._config = new
        for listener in self._listeners:
            listener(new)
        return "Config reloaded"
