from __future__ import annotations

from pathlib import Path

from vramtop import config as config_mod
from vramtop.commands._common import build_enricher, reconfigure_enricher
from vramtop.config import ConfigHolder
from vramtop.enrichment.scrape import ServerAugmenter


def test_reload_reaches_the_enricher_and_the_scraper(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[enrichment]\nfd_refresh_seconds = 5\n")
    holder = ConfigHolder(config_mod.load(path), path)
    enricher = build_enricher(holder.config)
    try:
        holder.on_change(lambda new: reconfigure_enricher(enricher, new))
        host_proc = enricher.settings.host_proc
        path.write_text(
            "[enrichment]\nfd_refresh_seconds = 9\n[scraping]\nenable = false\n"
        )
        holder.request_reload()
        assert holder.poll() == "Config reloaded"
        assert enricher.settings.fd_refresh_s == 9
        assert enricher.settings.host_proc == host_proc
        scrapers = [a.scraper for a in enricher.augmenters if isinstance(a, ServerAugmenter)]
        assert scrapers
        assert all(s.settings.enable is False for s in scrapers)
    finally:
        enricher.close()
