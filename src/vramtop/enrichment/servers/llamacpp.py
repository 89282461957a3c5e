"""llama.cpp `llama-server`: `/metrics` (only with `--metrics`), `/slots`, `/props`.

Current builds export no KV-cache metric (`llamacpp:kv_cache_usage_ratio` and
`llamacpp:kv_cache_tokens` were removed in 2025; older binaries still have
them and they are used when present). `/slots` (on unless `--no-slots`) gives
the busy slots and the context per slot; `/props` the slot count. A server
without an endpoint answers HTTP 501 (`not_supported_error`): that is a normal
answer, remembered, and the next endpoint is asked instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from vramtop.enrichment import promtext
from vramtop.enrichment.servers import (
    LLAMACPP,
    Adapter,
    Getter,
    ResponseFormatError,
    Schema,
    count,
    finite,
    load_json,
    loaded,
    parse_exposition,
    require_ok,
    validate_json,
)
from vramtop.model import ServerMetrics

METRICS_PATH = "/metrics"
SLOTS_PATH = "/slots"
PROPS_PATH = "/props"
_MAX_CTX = 1 << 32


class Slot(Schema):
    id: int = Field(ge=0)
    n_ctx: int | None = Field(None, ge=0, le=_MAX_CTX)
    is_processing: bool | None = None
    state: int | None = None  # builds before is_processing: 0 idle, else busy

    @property
    def busy(self) -> bool | None:
        if self.is_processing is not None:
            return self.is_processing
        return None if self.state is None else self.state != 0


class Slots(Schema):
    slots: list[Slot] = Field(max_length=4096)


class GenerationSettings(Schema):
    n_ctx: int | None = Field(None, ge=0, le=_MAX_CTX)


class Props(Schema):
    total_slots: int | None = Field(None, ge=0, le=4096)
    default_generation_settings: GenerationSettings | None = None
    model_path: str | None = Field(None, max_length=4096)


def parse_slots(data: object) -> list[Slot]:
    if not isinstance(data, list):
        raise ResponseFormatError(f"{SLOTS_PATH}: not a JSON array")
    return validate_json(Slots, {"slots": data}, SLOTS_PATH).slots


def parse_props(data: object) -> Props:
    if not isinstance(data, dict):
        raise ResponseFormatError(f"{PROPS_PATH}: not a JSON object")
    return validate_json(Props, data, PROPS_PATH)


@dataclass(frozen=True, slots=True)
class LlamaSnapshot:
    requests_processing: int | None
    requests_deferred: int | None
    kv_cache_usage: float | None
    kv_cache_tokens: int | None


def _one(exp: promtext.Exposition, name: str, lo: float, hi: float) -> float | None:
    values = [v for s in exp.series(name) if (v := finite(s.value, lo, hi)) is not None]
    return values[-1] if values else None


def parse_metrics(text: str) -> LlamaSnapshot:
    exp = parse_exposition(text, METRICS_PATH, "llamacpp")
    inf = float("inf")
    return LlamaSnapshot(
        requests_processing=count(_one(exp, "llamacpp:requests_processing", 0, inf)),
        requests_deferred=count(_one(exp, "llamacpp:requests_deferred", 0, inf)),
        kv_cache_usage=_one(exp, "llamacpp:kv_cache_usage_ratio", 0.0, 1.0),
        kv_cache_tokens=count(_one(exp, "llamacpp:kv_cache_tokens", 0, inf)),
    )


class LlamaCppAdapter(Adapter):
    kind = LLAMACPP

    def __init__(self) -> None:
        self._metrics_supported = True
        self._slots_supported = True
        self._props: Props | None = None
        self._props_supported = True

    def _metrics(self, get: Getter, errors: list[ResponseFormatError]) -> LlamaSnapshot | None:
        if not self._metrics_supported:
            return None
        resp = get(METRICS_PATH)
        if resp.unsupported:  # 501: started without --metrics
            self._metrics_supported = False
            return None
        try:
            require_ok(resp, METRICS_PATH)
            return parse_metrics(resp.text())
        except ResponseFormatError as e:
            errors.append(e)
            return None

    def _slots(self, get: Getter, errors: list[ResponseFormatError]) -> list[Slot] | None:
        if not self._slots_supported:
            return None
        resp = get(SLOTS_PATH)
        if resp.unsupported:  # 501: --no-slots
            self._slots_supported = False
            return None
        try:
            return parse_slots(load_json(resp, SLOTS_PATH))
        except ResponseFormatError as e:
            errors.append(e)
            return None

    def _fetch_props(self, get: Getter, errors: list[ResponseFormatError]) -> None:
        if self._props is not None or not self._props_supported:
            return
        resp = get(PROPS_PATH)
        if resp.unsupported:
            self._props_supported = False
            return
        try:
            self._props = parse_props(load_json(resp, PROPS_PATH))
        except ResponseFormatError as e:
            errors.append(e)

    def refresh(self, get: Getter) -> ServerMetrics:
        errors: list[ResponseFormatError] = []
        snap = self._metrics(get, errors)
        slots = self._slots(get, errors)
        self._fetch_props(get, errors)  # static: asked until it answers once
        props = self._props
        if snap is None and slots is None and props is None:
            raise errors[0] if errors else ResponseFormatError("no /metrics, /slots or /props")

        total = props.total_slots if props and props.total_slots else None
        if total is None and slots:
            total = len(slots)
        ctx: int | None = None
        if slots:
            ctx = max((s.n_ctx for s in slots if s.n_ctx), default=None)
        if ctx is None and props and props.default_generation_settings:
            ctx = props.default_generation_settings.n_ctx or None
        busy: int | None = None
        if slots is not None:
            flags = [s.busy for s in slots]
            busy = None if any(f is None for f in flags) else sum(1 for f in flags if f)
        running = snap.requests_processing if snap else None
        return ServerMetrics(
            server=LLAMACPP,
            port=None,
            ok=True,
            kv_cache_usage=snap.kv_cache_usage if snap else None,
            kv_capacity_tokens=ctx * total if ctx and total else None,
            kv_used_tokens=snap.kv_cache_tokens if snap else None,
            requests_running=running if running is not None else busy,
            requests_waiting=snap.requests_deferred if snap else None,
            busy_slots=busy,
            total_slots=total,
            context_per_slot=ctx,
            models=loaded([props.model_path or ""]) if props else (),
        )
