"""Server adapters' parsers on every fixture body and on malformed input (no HTTP here)."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vramtop.enrichment.servers import (
    HttpResponse,
    ResponseFormatError,
    llamacpp,
    load_json,
    normalize_kind,
    ollama,
    sglang,
    vllm,
)

FIX = Path(__file__).parent / "fixtures" / "servers"


def body(variant: str, name: str) -> str:
    return (FIX / variant / name).read_text()


# --- vLLM -------------------------------------------------------------------------------


def test_vllm_v1() -> None:
    snap = vllm.parse_metrics(body("vllm", "metrics.txt"))
    assert snap.kv_cache_usage == pytest.approx(0.4213)
    assert (snap.requests_running, snap.requests_waiting) == (8, 2)
    assert (snap.prefix_queries, snap.prefix_hits) == (152032.0, 98304.0)
    assert (snap.num_gpu_blocks, snap.block_size) == (27264, 16)
    assert snap.gpu_memory_utilization == pytest.approx(0.9)
    assert snap.kv_capacity_tokens == 27264 * 16
    assert snap.kv_used_tokens == round(0.4213 * 27264 * 16)
    assert snap.model_names == ("meta-llama/Llama-3.1-8B-Instruct",)


def test_vllm_two_engines_aggregate() -> None:
    snap = vllm.parse_metrics(body("vllm-dp2", "metrics.txt"))
    assert snap.kv_cache_usage == pytest.approx((0.5 + 0.25) / 2)  # mean of usage
    assert (snap.requests_running, snap.requests_waiting) == (8, 1)  # sum of counts
    assert (snap.prefix_queries, snap.prefix_hits) == (4000.0, 1000.0)
    assert snap.num_gpu_blocks == 40000
    assert snap.kv_capacity_tokens == 2 * 20000 * 16
    assert snap.kv_used_tokens == round(0.5 * 320000 + 0.25 * 320000)


def test_vllm_transitional_prefers_new_names() -> None:
    snap = vllm.parse_metrics(body("vllm-v0.10", "metrics.txt"))
    assert snap.kv_cache_usage == pytest.approx(0.125)  # not the deprecated 0.9
    assert (snap.prefix_queries, snap.prefix_hits) == (5000.0, 1000.0)  # gpu_prefix_* counters
    assert snap.kv_capacity_tokens == 4096 * 32
    assert snap.gpu_memory_utilization == pytest.approx(0.85)


def test_vllm_v0_old_names_and_hit_rate_gauge() -> None:
    snap = vllm.parse_metrics(body("vllm-v0", "metrics.txt"))
    assert snap.kv_cache_usage == pytest.approx(0.156)
    assert snap.prefix_queries is None and snap.prefix_hit_rate_gauge == pytest.approx(0.3)
    assert snap.kv_capacity_tokens == 7281 * 16
    assert snap.model_names == ("mistralai/Mistral-7B-Instruct-v0.3",)


def test_vllm_adapter_hit_rate_from_counter_deltas() -> None:
    bodies = iter(
        [
            "vllm:prefix_cache_queries_total 1000\nvllm:prefix_cache_hits_total 100\n",
            "vllm:prefix_cache_queries_total 3000\nvllm:prefix_cache_hits_total 1600\n",
            "vllm:prefix_cache_queries_total 3000\nvllm:prefix_cache_hits_total 1600\n",
            "vllm:prefix_cache_queries_total 10\nvllm:prefix_cache_hits_total 1\n",  # reset
        ]
    )
    adapter = vllm.VllmAdapter()

    def get(path: str) -> HttpResponse:
        assert path == "/metrics"
        return HttpResponse(200, next(bodies).encode())

    rates = [adapter.refresh(get).prefix_cache_hit_rate for _ in range(4)]
    assert rates[0] is None  # first scrape: no interval yet
    assert rates[1] == pytest.approx(1500 / 2000)
    assert rates[2] is None  # nothing queried in between
    assert rates[3] is None  # counters went backwards


def test_vllm_nan_inf_and_out_of_range_are_unknown() -> None:
    snap = vllm.parse_metrics(
        "vllm:kv_cache_usage_perc NaN\nvllm:num_requests_running +Inf\n"
        "vllm:num_requests_waiting -3\n"
        'vllm:cache_config_info{num_gpu_blocks="None",block_size="16",'
        'gpu_memory_utilization="NaN"} 1\n'
    )
    assert snap.kv_cache_usage is None
    assert snap.requests_running is None and snap.requests_waiting is None
    assert snap.num_gpu_blocks is None and snap.kv_capacity_tokens is None
    assert snap.gpu_memory_utilization is None
    assert vllm.parse_metrics("vllm:kv_cache_usage_perc 1.5\n").kv_cache_usage is None


def test_vllm_bad_lines_are_skipped_not_fatal() -> None:
    snap = vllm.parse_metrics(
        "vllm:kv_cache_usage_perc{engine=0} 0.9\n"  # malformed: skipped
        'vllm:kv_cache_usage_perc{engine="1"} 0.3\n'
        "}}}} not prometheus\n"
        "vllm:num_requests_running 4 extra junk\n"
    )
    assert snap.kv_cache_usage == pytest.approx(0.3)
    assert snap.requests_running is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty response"),
        ("   \n", "empty response"),
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "no vllm metrics"),
        ("python_info 1\nprocess_open_fds 3\n", "no vllm metrics"),
        ('{"detail":"Not Found"}', "no vllm metrics"),
    ],
)
def test_vllm_not_vllm(text: str, error: str) -> None:
    with pytest.raises(ResponseFormatError, match=error):
        vllm.parse_metrics(text)


# --- Ollama -------------------------------------------------------------------------------


def test_ollama_current() -> None:
    (m,) = ollama.parse_ps(json.loads(body("ollama", "api_ps.json")))
    assert m.name == "gemma4"
    assert (m.size_bytes, m.size_vram_bytes, m.offloaded_bytes) == (6591830464, 6591830464, 0)
    assert m.context_length == 4096
    assert m.expires_at == "2025-10-17T16:47:07.93355-07:00"


def test_ollama_old_has_no_context_length() -> None:
    (m,) = ollama.parse_ps(json.loads(body("ollama-old", "api_ps.json")))
    assert m.name == "mistral:latest" and m.context_length is None


def test_ollama_partial_offload_and_empty() -> None:
    big, small = ollama.parse_ps(json.loads(body("ollama-offload", "api_ps.json")))
    assert big.offloaded_bytes == 46118223872 - 23622320128 > 0
    assert small.offloaded_bytes == 0
    assert ollama.parse_ps(json.loads(body("ollama-empty", "api_ps.json"))) == ()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], "not a valid dictionary|Input should be"),
        ({}, "models"),
        ({"models": "gemma"}, "models"),
        ({"models": [{"name": "x", "size": "big", "size_vram": 1}]}, r"models\.0\.size"),
        ({"models": [{"name": "x", "size": 1.5, "size_vram": 1}]}, r"models\.0\.size"),
        ({"models": [{"name": "x", "size": -1, "size_vram": 0}]}, r"models\.0\.size"),
        ({"models": [{"name": 7, "size": 1, "size_vram": 1}]}, r"models\.0\.name"),
        ({"models": [{"name": "x", "size": True, "size_vram": 1}]}, r"models\.0\.size"),
        ({"models": [{"name": "x", "size": 1}]}, "size_vram"),
    ],
)
def test_ollama_wrong_types(data: object, error: str) -> None:
    with pytest.raises(ResponseFormatError, match=error):
        ollama.parse_ps(data)


def test_ollama_sanitizes_names() -> None:
    data = {"models": [{"name": "\x1b[31mevil\x07", "size": 1, "size_vram": 1}]}
    (m,) = ollama.parse_ps(data)
    assert m.name == "evil"


# --- SGLang -------------------------------------------------------------------------------


def test_sglang_server_info_new_and_old() -> None:
    info = sglang.parse_server_info(json.loads(body("sglang", "server_info.json")))
    assert info.max_total_num_tokens == 442540 and info.mem_fraction_static == 0.88
    old = sglang.parse_server_info(json.loads(body("sglang-old", "get_server_info.json")))
    assert old.max_total_num_tokens == 217840 and old.mem_fraction_static == 0.9


def test_sglang_metrics_tp_ranks_count_once() -> None:
    snap = sglang.parse_metrics(body("sglang", "metrics.txt"))
    assert snap.token_usage == pytest.approx(0.28)
    assert snap.used_tokens == 123859  # two TP ranks of one pool: not doubled
    assert snap.max_total_tokens == 442540
    assert (snap.running, snap.queued) == (162, 2826)
    assert snap.cache_hit_rate == pytest.approx(0.0075)


def test_sglang_metrics_dp_ranks_aggregate() -> None:
    snap = sglang.parse_metrics(body("sglang-dp2", "metrics.txt"))
    assert snap.token_usage == pytest.approx(0.3)
    assert snap.used_tokens == 180000
    assert snap.max_total_tokens == 600000
    assert (snap.running, snap.queued) == (30, 4)


def test_sglang_old_metrics_without_rank_labels() -> None:
    snap = sglang.parse_metrics(body("sglang-oldmetrics", "metrics.txt"))
    assert snap.token_usage == pytest.approx(0.28) and snap.used_tokens == 123859
    assert snap.max_total_tokens is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([1, 2], "not a JSON object"),
        ({"model_path": "x"}, "no max_total_num_tokens"),
        ({"max_total_num_tokens": "442540"}, "max_total_num_tokens"),
        ({"max_total_num_tokens": 0}, "max_total_num_tokens"),
        ({"max_total_num_tokens": 10, "mem_fraction_static": 1.5}, "mem_fraction_static"),
        ({"max_total_num_tokens": 10, "dp_size": "2"}, "dp_size"),
    ],
)
def test_sglang_bad_server_info(data: object, error: str) -> None:
    with pytest.raises(ResponseFormatError, match=error):
        sglang.parse_server_info(data)


# --- llama.cpp ----------------------------------------------------------------------------


def test_llamacpp_current_metrics_have_no_kv() -> None:
    snap = llamacpp.parse_metrics(body("llamacpp", "metrics.txt"))
    assert (snap.requests_processing, snap.requests_deferred) == (2, 1)
    assert snap.kv_cache_usage is None and snap.kv_cache_tokens is None


def test_llamacpp_old_metrics_kv() -> None:
    snap = llamacpp.parse_metrics(body("llamacpp-old", "metrics.txt"))
    assert snap.kv_cache_usage == pytest.approx(0.0625) and snap.kv_cache_tokens == 1024


def test_llamacpp_slots_and_props() -> None:
    slots = llamacpp.parse_slots(json.loads(body("llamacpp", "slots.json")))
    assert [s.busy for s in slots] == [True, True, False, False]
    assert {s.n_ctx for s in slots} == {4096}
    old = llamacpp.parse_slots(json.loads(body("llamacpp-old", "slots.json")))
    assert [s.busy for s in old] == [True, False]  # "state" field of older builds
    props = llamacpp.parse_props(json.loads(body("llamacpp", "props.json")))
    assert props.total_slots == 4 and props.default_generation_settings is not None
    assert props.default_generation_settings.n_ctx == 4096


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"slots": []}, "not a JSON array"),
        ([{"id": "0", "n_ctx": 4096}], r"slots\.0\.id"),
        ([{"id": 0, "n_ctx": 4096, "is_processing": "yes"}], "is_processing"),
        ([{"n_ctx": 4096}], "id"),
    ],
)
def test_llamacpp_bad_slots(data: object, error: str) -> None:
    with pytest.raises(ResponseFormatError, match=error):
        llamacpp.parse_slots(data)


def test_llamacpp_adapter_falls_back_on_501() -> None:
    calls: list[str] = []
    variant = "llamacpp-noslots"

    def get(path: str) -> HttpResponse:
        calls.append(path)
        name = path.strip("/")
        status_file = FIX / variant / f"{name}.status"
        status = int(status_file.read_text()) if status_file.exists() else 200
        f = FIX / variant / f"{name}.json"
        return HttpResponse(status, f.read_bytes() if f.exists() else b"")

    adapter = llamacpp.LlamaCppAdapter()
    m = adapter.refresh(get)
    assert m.ok and m.total_slots == 4 and m.context_per_slot == 4096
    assert m.kv_capacity_tokens == 4 * 4096 and m.busy_slots is None
    assert calls == ["/metrics", "/slots", "/props"]
    calls.clear()
    adapter.refresh(get)
    assert calls == []  # 501s remembered, /props is static: nothing left to ask


# --- shared helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resp", "error"),
    [
        (HttpResponse(500, b"<html>Internal Server Error</html>"), "HTTP 500"),
        (HttpResponse(200, b""), "empty response"),
        (HttpResponse(200, b"<!DOCTYPE html><html></html>"), "not JSON"),
        (HttpResponse(200, b"\xff\xfe\x00"), "not JSON"),
        (HttpResponse(200, b"[" * 100_000), "not JSON"),
    ],
)
def test_load_json_errors(resp: HttpResponse, error: str) -> None:
    with pytest.raises(ResponseFormatError, match=error):
        load_json(resp, "/api/ps")


def test_normalize_kind() -> None:
    assert normalize_kind("llama.cpp") == normalize_kind("LlamaCpp") == "llama.cpp"
    assert normalize_kind("vllm") == "vllm" and normalize_kind("pytorch") is None
    assert normalize_kind(None) is None and normalize_kind("tgi") is None


# --- invariants ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
ps_like = st.fixed_dictionaries(
    {
        "models": st.lists(
            st.dictionaries(
                st.sampled_from(
                    ["name", "model", "size", "size_vram", "context_length", "expires_at"]
                ),
                json_values,
            ),
            max_size=3,
        )
    }
)


@settings(max_examples=300, deadline=None)
@given(json_values | ps_like)
def test_schemas_never_raise_anything_else(data: object) -> None:
    parsers = (
        ollama.parse_ps,
        sglang.parse_server_info,
        llamacpp.parse_slots,
        llamacpp.parse_props,
    )
    for parse in parsers:
        with contextlib.suppress(ResponseFormatError):
            parse(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_metric_parsers_never_raise_anything_else(text: str) -> None:
    for parse in (vllm.parse_metrics, sglang.parse_metrics, llamacpp.parse_metrics):
        with contextlib.suppress(ResponseFormatError):
            parse(text)


sizes = st.integers(min_value=0, max_value=2**50)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30),
            sizes,
            sizes,
            st.none() | st.integers(min_value=0, max_value=2**30),
        ),
        max_size=4,
    )
)
def test_ollama_round_trip(models: list[tuple[str, int, int, int | None]]) -> None:
    data = {
        "models": [
            {"name": n, "size": s, "size_vram": v, "context_length": c, "expires_at": "x"}
            for n, s, v, c in models
        ]
    }
    out = ollama.parse_ps(json.loads(json.dumps(data)))
    assert [(m.size_bytes, m.size_vram_bytes) for m in out] == [(s, v) for _, s, v, _ in models]
    assert all(
        m.offloaded_bytes == max(0, s - v) for m, (_, s, v, _) in zip(out, models, strict=True)
    )
    assert all(m.context_length == (c or None) for m, (_, _, _, c) in zip(out, models, strict=True))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=2**40),
    st.floats(min_value=0.01, max_value=1.0),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_sglang_round_trip(tokens: int, fraction: float, extra: dict[str, object]) -> None:
    data = {**extra, "max_total_num_tokens": tokens, "mem_fraction_static": fraction}
    info = sglang.parse_server_info(json.loads(json.dumps(data)))
    assert info.max_total_num_tokens == tokens and math.isclose(
        info.mem_fraction_static or 0, fraction
    )
