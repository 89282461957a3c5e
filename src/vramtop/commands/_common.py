"""What the commands share: config loading, reading recordings, building the engine."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from vramtop import config as config_mod
from vramtop import trace
from vramtop.backends.base import GPUBackend
from vramtop.config import Config, ConfigHolder
from vramtop.engine import Monitor
from vramtop.enrichment import EnrichmentSettings, ProcessEnricher
from vramtop.enrichment.scrape import ServerAugmenter, server_augmenter
from vramtop.errors import ConfigError
from vramtop.procfs import ProcFS


def load_config(args: argparse.Namespace) -> ConfigHolder:
    """The config file plus command-line overrides; errors are one-line ConfigErrors."""
    path = Path(args.config).expanduser() if getattr(args, "config", None) else None
    cfg = config_mod.load(path)
    cfg = apply_overrides(cfg, args)
    return ConfigHolder(cfg, path, overrides=lambda c: apply_overrides(c, args))


def read_recording(path: str | Path) -> trace.Trace:
    """A recording to replay; where it was cut off mid-write, one line on stderr says
    what was left out."""
    tr = trace.read(path)
    if tr.cut_notice:
        print(f"vramtop: {tr.cut_notice}", file=sys.stderr)
    return tr


def apply_overrides(cfg: Config, args: argparse.Namespace) -> Config:
    overrides: dict[str, dict[str, object]] = {}
    if getattr(args, "refresh_rate", None) is not None:
        overrides.setdefault("general", {})["refresh_rate"] = args.refresh_rate
    if getattr(args, "theme", None):
        overrides.setdefault("display", {})["theme"] = args.theme
    if getattr(args, "no_kill", False):
        overrides.setdefault("display", {})["enable_kill"] = False
    if not overrides:
        return cfg
    try:
        return cfg.with_overrides(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        flag = "--" + str(first["loc"][-1]).replace("_", "-")
        raise ConfigError(
            f"command line: {flag} {first.get('input')!r}: {first['msg']} ({key})"
        ) from None


def live_backend(
    enricher: ProcessEnricher | None = None, *, read_pcie: bool = True
) -> GPUBackend:
    """The NVML backend, resolving PIDs in the same /proc as `enricher` (the host's
    /proc mount inside a container) and not at all where they cannot be resolved.
    `read_pcie` False where PCIe throughput is not shown (each read blocks ~20 ms)."""
    from vramtop.backends.nvidia import NvidiaBackend

    if enricher is None:
        return NvidiaBackend(read_pcie=read_pcie)
    return NvidiaBackend(
        procfs=enricher.procfs, resolve_pids=enricher.resolvable, read_pcie=read_pcie
    )


def enrichment_settings(cfg: Config) -> EnrichmentSettings:
    e = cfg.enrichment
    return EnrichmentSettings(
        fd_refresh_s=e.fd_refresh_seconds,
        maps_refresh_s=e.maps_refresh_seconds,
        mps_scan_s=e.mps_scan_seconds,
        host_proc=e.host_proc,
    )


def build_enricher(
    cfg: Config, *, procfs: ProcFS | None = None, one_shot: bool = False
) -> ProcessEnricher:
    """/proc enrichment with its default augmenters (deep mode) and the inference-server
    scraper, all resolving PIDs the same way. `one_shot` (inspect) waits briefly for a
    first scrape; the live loop never waits."""
    enricher = ProcessEnricher(enrichment_settings(cfg), procfs=procfs)
    enricher.add_augmenter(server_augmenter(cfg.scraping, enricher.procfs, one_shot=one_shot))
    return enricher


def build_monitor(
    backend: GPUBackend,
    cfg: Config,
    *,
    enrich: bool = True,
    enricher: ProcessEnricher | None = None,
) -> Monitor:
    """The engine with enrichment for live sources (recordings carry their own facts)."""
    if enricher is None and enrich:
        enricher = build_enricher(cfg)
    return Monitor(backend, cfg, enricher=enricher)


def build_live_monitor(
    cfg: Config, holder: ConfigHolder | None = None, *, read_pcie: bool = True
) -> Monitor:
    """NVML plus enrichment, both resolving PIDs the same way. With `holder`, a SIGHUP
    reload also reaches the enricher's intervals and the scraper's rules."""
    enricher = build_enricher(cfg)
    if holder is not None:
        holder.on_change(lambda new: reconfigure_enricher(enricher, new))
    backend = live_backend(enricher, read_pcie=read_pcie)
    return build_monitor(backend, cfg, enricher=enricher)


def reconfigure_enricher(enricher: ProcessEnricher, cfg: Config) -> None:
    """Apply a reloaded config to a running enricher. Where PIDs are resolved
    (`host_proc`) was decided at start and stays."""
    enricher.settings = replace(
        enrichment_settings(cfg), host_proc=enricher.settings.host_proc
    )
    for augmenter in enricher.augmenters:
        if isinstance(augmenter, ServerAugmenter):
            augmenter.scraper.configure(cfg.scraping)
