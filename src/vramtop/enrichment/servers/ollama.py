"""Ollama: `GET /api/ps` lists the loaded models (JSON, validated here).

`size` is the whole loaded model (GPU plus system memory), `size_vram` the part
in GPU memory: less than `size` means a partial CPU offload. There is no PID in
the answer and no `/metrics` route; the GPU memory sits in the runner child of
`ollama serve`, which the scraper attributes through the process tree.
"""

from __future__ import annotations

from pydantic import Field

from vramtop.enrichment.servers import (
    OLLAMA,
    Adapter,
    Getter,
    Schema,
    clean_name,
    load_json,
    validate_json,
)
from vramtop.model import LoadedModel, ServerMetrics
from vramtop.security import sanitize

PATH = "/api/ps"
_MAX_BYTES = 1 << 53  # JSON numbers beyond this are not exact; nothing has that much memory


class PsModel(Schema):
    name: str = Field(max_length=4096)
    model: str | None = Field(None, max_length=4096)
    size: int = Field(ge=0, le=_MAX_BYTES)
    size_vram: int = Field(ge=0, le=_MAX_BYTES)
    context_length: int | None = Field(None, ge=0, le=1 << 40)
    expires_at: str | None = Field(None, max_length=100)
    digest: str | None = Field(None, max_length=200)


class PsResponse(Schema):
    models: list[PsModel] = Field(max_length=1000)


def parse_ps(data: object) -> tuple[LoadedModel, ...]:
    """LoadedModel entries from a decoded `/api/ps` body; raises ResponseFormatError."""
    ps = validate_json(PsResponse, data, PATH)
    return tuple(
        LoadedModel(
            name=clean_name(m.name or m.model or ""),
            size_bytes=m.size,
            size_vram_bytes=m.size_vram,
            context_length=m.context_length or None,
            expires_at=sanitize(m.expires_at, 64) if m.expires_at else None,
            offloaded_bytes=max(0, m.size - m.size_vram),
        )
        for m in ps.models
    )


class OllamaAdapter(Adapter):
    kind = OLLAMA

    def refresh(self, get: Getter) -> ServerMetrics:
        models = parse_ps(load_json(get(PATH), PATH))
        return ServerMetrics(server=OLLAMA, port=None, ok=True, models=models)
