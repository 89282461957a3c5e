"""Per-server adapters: what to ask an inference server and how to read its answer.

An adapter never opens a socket: it gets a `Getter` from the scraper, which is
the only code that talks HTTP and which enforces the five rules on every
request. Adapters keep what they learned between scrapes (counters for
deltas, static server info, endpoints the server does not support), so one
adapter instance belongs to one server process.
"""

from __future__ import annotations

import abc
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from vramtop.enrichment import promtext
from vramtop.errors import ScrapeError
from vramtop.model import LoadedModel, ServerMetrics
from vramtop.security import sanitize

VLLM = "vllm"
OLLAMA = "ollama"
SGLANG = "sglang"
LLAMACPP = "llama.cpp"

#: Usual ports of each server, used only to order the ports a server really listens on.
DEFAULT_PORTS: dict[str, tuple[int, ...]] = {
    VLLM: (8000,),
    OLLAMA: (11434,),
    SGLANG: (8000, 30000),
    LLAMACPP: (8080,),
}

#: HTTP statuses that mean "this server has no such endpoint" (a normal answer).
UNSUPPORTED_STATUSES = frozenset({404, 501})


class ResponseFormatError(ScrapeError):
    """A response that is not what the server's documented format says."""

    title = "Unexpected server response"


class RateLimited(ScrapeError):
    """Not an error: the endpoint was asked too recently; keep what we have."""

    title = "Rate limited"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete, size-capped HTTP response (redirects never reach an adapter)."""

    status: int
    body: bytes
    content_type: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def unsupported(self) -> bool:
        return self.status in UNSUPPORTED_STATUSES

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


#: `get(path)` performs one checked request; raises ScrapeError (RateLimited included).
Getter = Callable[[str], HttpResponse]


def normalize_kind(framework: str | None) -> str | None:
    """Our server kind for a framework name ("llama.cpp", "llamacpp", "VLLM", ...)."""
    if not framework:
        return None
    key = framework.strip().lower().replace("_", "").replace("-", "").replace(".", "")
    return {"vllm": VLLM, "ollama": OLLAMA, "sglang": SGLANG, "llamacpp": LLAMACPP}.get(key)


def http_error(resp: HttpResponse, path: str) -> ResponseFormatError:
    return ResponseFormatError(f"{path}: HTTP {resp.status}")


def require_ok(resp: HttpResponse, path: str) -> None:
    if not resp.ok:
        raise http_error(resp, path)


class Schema(BaseModel):
    """Base of the JSON schemas: unknown fields ignored (servers add fields), no coercion."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


SchemaT = TypeVar("SchemaT", bound=BaseModel)


def load_json(resp: HttpResponse, path: str) -> object:
    """The JSON body of a 2xx response; anything else is a ResponseFormatError."""
    require_ok(resp, path)
    if not resp.body.strip():
        raise ResponseFormatError(f"{path}: empty response")
    try:
        return json.loads(resp.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ResponseFormatError(f"{path}: not JSON") from None


def validate_json(schema: type[SchemaT], data: object, path: str) -> SchemaT:
    """Validate decoded JSON against a schema; errors become one-line ResponseFormatErrors."""
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "body"
        raise ResponseFormatError(sanitize(f"{path}: {loc}: {first['msg']}")) from None
    except (ValueError, TypeError, RecursionError):
        raise ResponseFormatError(f"{path}: unexpected structure") from None


def parse_exposition(text: str, path: str, server: str) -> promtext.Exposition:
    """A `/metrics` body holding at least one `<server>:` metric; else ResponseFormatError."""
    if not text.strip():
        raise ResponseFormatError(f"{path}: empty response")
    exp = promtext.parse(text)
    prefix = server + ":"
    if not any(n.startswith(prefix) for n in exp.names()):
        raise ResponseFormatError(f"{path}: no {server} metrics in response")
    return exp


def finite(value: float | None, lo: float | None = None, hi: float | None = None) -> float | None:
    """`value` if it is a finite number within [lo, hi], else None (unknown)."""
    if value is None or not math.isfinite(value):
        return None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None
    return value


def count(value: float | None) -> int | None:
    """A non-negative finite count as an int, else None."""
    v = finite(value, 0.0)
    return None if v is None else round(v)


def total(values: Iterable[float]) -> float | None:
    """The sum, or None (unknown) when there is no value."""
    vals = list(values)
    return sum(vals) if vals else None


def mean(values: Iterable[float]) -> float | None:
    """The mean, or None (unknown) when there is no value."""
    vals = list(values)
    return fmean(vals) if vals else None


def clean_name(text: str) -> str:
    return sanitize(text, 200)


def loaded(names: Sequence[str]) -> tuple[LoadedModel, ...]:
    """LoadedModel entries for model names, deduplicated in order."""
    seen: dict[str, None] = {}
    for n in names:
        n = clean_name(n)
        if n:
            seen.setdefault(n, None)
    return tuple(LoadedModel(name=n) for n in seen)


class Adapter(abc.ABC):
    """One adapter per server process; `refresh` runs on a scraper worker thread."""

    kind: ClassVar[str]

    @abc.abstractmethod
    def refresh(self, get: Getter) -> ServerMetrics:
        """Ask the server and return what it says (port and times are filled in by the caller).

        Raises ScrapeError (or a subclass) when nothing usable came back.
        """
