"""Enrichment: what each GPU process is (framework, launcher, model files,
container, MPS), read from /proc with the same-UID rules and cached per
process identity."""

from __future__ import annotations

from vramtop.enrichment.orchestrator import (
    EnrichmentSettings,
    InfoAugmenter,
    ProcessEnricher,
)

__all__ = ["EnrichmentSettings", "InfoAugmenter", "ProcessEnricher"]
