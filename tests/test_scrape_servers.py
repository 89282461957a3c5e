"""ServerScraper end to end: stand-in servers as real child processes, real HTTP."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.standin_harness import FIXTURES, StandinFactory, standins
from vramtop.config import ScrapingConfig
from vramtop.enrichment.scrape import ServerAugmenter, ServerScraper, server_augmenter
from vramtop.model import ProcessIdentity, ProcessInfo, ServerMetrics
from vramtop.procfs import ProcFS

WAIT = 5.0  # hang guard for the first answer, not a timing check


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandinFactory]:
    yield from standins(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandinFactory]:
    """Read-only fixture servers, started once for the module."""
    yield from standins(tmp_path_factory.mktemp("shared"))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def scraper(port: int, *, clock: Clock | None = None, **kw: object) -> ServerScraper:
    settings = ScrapingConfig.model_validate({"allowed_ports": [port], "timeout_ms": 300, **kw})
    return ServerScraper(settings, clock=clock or Clock())


def scrape_once(port: int, pid: int, framework: str | None = None) -> ServerMetrics | None:
    s = scraper(port)
    try:
        return s.scrape_wait(pid, framework, WAIT)
    finally:
        s.close()


# --- every server and version variant ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "variant", "expected"),
    [
        (
            "vllm",
            "",
            dict(kv_cache_usage=0.4213, requests_running=8, requests_waiting=2,
                 num_gpu_blocks=27264, block_size=16, gpu_memory_utilization=0.9,
                 kv_capacity_tokens=436224, prefix_cache_hit_rate=None),
        ),
        (
            "vllm",
            "dp2",
            dict(kv_cache_usage=0.375, requests_running=8, requests_waiting=1,
                 num_gpu_blocks=40000, kv_capacity_tokens=640000),
        ),
        ("vllm", "v0.10", dict(kv_cache_usage=0.125, kv_capacity_tokens=131072, block_size=32)),
        ("vllm", "v0", dict(kv_cache_usage=0.156, prefix_cache_hit_rate=0.3, requests_running=1)),
        (
            "sglang",
            "",
            dict(kv_cache_usage=0.28, kv_used_tokens=123859, kv_capacity_tokens=442540,
                 requests_running=162, requests_waiting=2826, gpu_memory_utilization=0.88),
        ),
        ("sglang", "dp2", dict(kv_cache_usage=0.3, kv_used_tokens=180000,
                               kv_capacity_tokens=600000)),
        ("sglang", "old", dict(kv_capacity_tokens=217840, gpu_memory_utilization=0.9,
                               kv_cache_usage=None)),
        ("sglang", "oldmetrics", dict(kv_cache_usage=0.28, kv_used_tokens=123859,
                                      kv_capacity_tokens=217840)),
        (
            "llamacpp",
            "",
            dict(requests_running=2, requests_waiting=1, busy_slots=2, total_slots=4,
                 context_per_slot=4096, kv_capacity_tokens=16384, kv_cache_usage=None),
        ),
        ("llamacpp", "old", dict(kv_cache_usage=0.0625, kv_used_tokens=1024, busy_slots=1,
                                 total_slots=2, context_per_slot=2048)),
        ("llamacpp", "nometrics", dict(busy_slots=2, total_slots=4, requests_running=2,
                                       requests_waiting=None)),
        ("llamacpp", "noslots", dict(busy_slots=None, total_slots=4, context_per_slot=4096)),
    ],
)  # fmt: skip
def test_variants(
    shared: StandinFactory, kind: str, variant: str, expected: dict[str, object]
) -> None:
    s = shared(kind, variant=variant)
    m = scrape_once(s.port, s.pid)
    assert m is not None and m.ok, m
    assert m.port == s.port and m.owner_pid == s.pid and m.scraped_at is not None
    for key, want in expected.items():
        got = getattr(m, key)
        assert got == (pytest.approx(want) if isinstance(want, float) else want), key


@pytest.mark.parametrize(
    ("variant", "names", "offloaded"),
    [
        ("", ["gemma4"], [0]),
        ("old", ["mistral:latest"], [0]),
        ("offload", ["llama3.1:70b", "nomic-embed-text:latest"], [22495903744, 0]),
        ("empty", [], []),
    ],
)
def test_ollama_variants(
    shared: StandinFactory, variant: str, names: list[str], offloaded: list[int]
) -> None:
    s = shared("ollama", variant=variant)
    m = scrape_once(s.port, s.pid)
    assert m is not None and m.ok and m.server == "ollama"
    assert [x.name for x in m.models] == names
    assert [x.offloaded_bytes for x in m.models] == offloaded
    assert m.kv_cache_usage is None  # Ollama says nothing about a KV cache


# --- attribution across the process tree -------------------------------------------------


def test_vllm_engine_core_child_gets_the_api_servers_metrics(standin: StandinFactory) -> None:
    s = standin("vllm", child="VLLM::EngineCore")
    assert s.child_pid is not None
    m = scrape_once(s.port, s.child_pid)
    assert m is not None and m.ok and m.server == "vllm"
    assert m.owner_pid == s.pid and m.kv_cache_usage == pytest.approx(0.4213)


def test_ollama_runner_is_attributed_to_ollama_serve(standin: StandinFactory) -> None:
    # The runner listens on a port of its own (not allowed); the parent owns the API port.
    s = standin("ollama", child="ollama", child_listen=True)
    assert s.child_pid is not None
    m = scrape_once(s.port, s.child_pid, "ollama")
    assert m is not None and m.ok and m.owner_pid == s.pid
    assert [x.name for x in m.models] == ["gemma4"]


def test_two_workers_of_one_server_share_one_scrape(standin: StandinFactory) -> None:
    s = standin("vllm", child="VLLM::EngineCore")
    assert s.child_pid is not None
    sc = scraper(s.port)
    try:
        a = sc.scrape_wait(s.child_pid, "vllm", WAIT)
        b = sc.scrape_wait(s.pid, "vllm", WAIT)
        assert a is not None and a is b  # the same cached answer
        assert s.requests() == ["GET /metrics"]
    finally:
        sc.close()


# --- refusals: nothing is sent -----------------------------------------------------------


def test_port_of_another_process_is_not_scraped(standin: StandinFactory) -> None:
    s = standin("vllm")
    impostor = standin.sleeper("vllm")  # looks like vLLM, owns no port
    m = scrape_once(s.port, impostor.pid, "vllm")
    assert m is not None and not m.ok
    assert m.error is not None and "no listening port" in m.error
    assert s.requests() == []


def test_port_not_in_allowed_ports(standin: StandinFactory) -> None:
    s = standin("vllm")
    sc = ServerScraper(ScrapingConfig.model_validate({"allowed_ports": [8000]}), clock=Clock())
    try:
        m = sc.scrape_wait(s.pid, None, WAIT)
    finally:
        sc.close()
    assert m is not None and not m.ok and m.port == s.port
    assert m.error == f"port {s.port} not in [scraping] allowed_ports"
    assert s.requests() == []


def test_disabled_does_nothing(standin: StandinFactory) -> None:
    s = standin("vllm")
    before = threading.active_count()
    sc = scraper(s.port, enable=False)
    assert sc.scrape(s.pid, "vllm") is None
    assert sc.scrape_wait(s.pid, "vllm", 0.2) is None
    assert threading.active_count() == before
    sc.close()
    assert s.requests() == []


def test_not_a_server_and_gone_processes(standin: StandinFactory) -> None:
    sc = scraper(8000)
    try:
        assert sc.scrape_wait(os.getpid(), None, WAIT) is None  # pytest is no server
        assert sc.scrape(2**22 + 12345, "vllm") is None  # no such process
    finally:
        sc.close()


def test_redirect_refused_and_target_untouched(standin: StandinFactory) -> None:
    target = standin("vllm")
    s = standin("vllm", behavior=f"redirect:{target.port}")
    m = scrape_once(s.port, s.pid)
    assert m is not None and not m.ok and m.error == "redirect refused (HTTP 302)"
    assert target.requests() == []


# --- rate limiting, counted at the server ------------------------------------------------


def test_rate_limit_counted_server_side(standin: StandinFactory) -> None:
    s = standin("vllm")
    clock = Clock()
    sc = scraper(s.port, clock=clock, rate_limit_seconds=5)
    try:
        assert sc.scrape_wait(s.pid, "vllm", WAIT) is not None
        assert len(s.requests()) == 1
        for dt in (0.0, 1.0, 3.9):  # up to 4.9 s after the first request
            clock.t += dt
            assert sc.scrape(s.pid, "vllm") is not None
            assert sc.wait_idle(WAIT)
        assert len(s.requests()) == 1  # inside the window: the server was not asked
        clock.t += 0.2  # 5.1 s after the first request
        sc.scrape(s.pid, "vllm")
        assert sc.wait_idle(WAIT)
        assert len(s.requests()) == 2
    finally:
        sc.close()


def test_prefix_cache_hit_rate_between_scrapes(standin: StandinFactory, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    template = (FIXTURES / "vllm" / "metrics.txt").read_text()

    def write(queries: float, hits: float) -> None:
        text = template.replace("152032.0", repr(queries)).replace("98304.0", repr(hits))
        (bodies / "metrics.txt").write_text(text)

    write(1000.0, 100.0)
    s = standin("vllm", body_dir=bodies)
    clock = Clock()
    sc = scraper(s.port, clock=clock)
    try:
        first = sc.scrape_wait(s.pid, "vllm", WAIT)
        assert first is not None and first.prefix_cache_hit_rate is None
        write(3000.0, 1600.0)
        clock.t += 5
        sc.scrape(s.pid, "vllm")
        assert sc.wait_idle(WAIT)
        second = sc.scrape(s.pid, "vllm")
        assert second is not None
        assert second.prefix_cache_hit_rate == pytest.approx(0.75)
    finally:
        sc.close()


# --- malformed answers: each gets its documented result, nothing else changes -----------


@pytest.mark.parametrize(
    ("kind", "files", "error"),
    [
        ("vllm", {"metrics.txt": "bad line {{{\nvllm:kv_cache_usage_perc{engine=0 1\n"},
         "/metrics: no vllm metrics in response"),
        ("vllm", {"metrics.txt": ""}, "/metrics: empty response"),
        ("vllm", {"metrics.html": "<html><body>Internal Server Error</body></html>",
                  "metrics.status": "500"}, "/metrics: HTTP 500"),
        ("vllm", {"metrics.html": "<!DOCTYPE html><html><title>Login</title></html>"},
         "/metrics: no vllm metrics in response"),
        ("ollama", {"api_ps.json": '{"models":[{"name":"x","size":"big","size_vram":1}]}'},
         "/api/ps: models.0.size: Input should be a valid integer"),
        ("ollama", {"api_ps.json": '{"models": {"name": "x"}}'}, "/api/ps: models"),
        ("ollama", {"api_ps.json": ""}, "/api/ps: empty response"),
        ("ollama", {"api_ps.html": "<html>502 Bad Gateway</html>"}, "/api/ps: not JSON"),
        ("ollama", {"api_ps.json": "null"}, "/api/ps: body"),
        ("sglang", {"server_info.json": '["not", "an", "object"]'},
         "/server_info: not a JSON object"),
        ("sglang", {"server_info.json": '{"max_total_num_tokens": "many"}'},
         "/server_info: max_total_num_tokens"),
        ("llamacpp", {"metrics.txt": "", "slots.json": "{}", "props.json": "[]"},
         "/metrics: empty response"),
    ],
)  # fmt: skip
def test_malformed(
    standin: StandinFactory, tmp_path: Path, kind: str, files: dict[str, str], error: str
) -> None:
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    for name, text in files.items():
        (bodies / name).write_text(text)
    s = standin(kind, body_dir=bodies)
    m = scrape_once(s.port, s.pid)
    assert m is not None and not m.ok
    assert m.error is not None and m.error.startswith(error), m.error
    # A failure carries its reason and nothing else.
    assert m == ServerMetrics(
        server=m.server,
        port=s.port,
        ok=False,
        error=m.error,
        scraped_at=m.scraped_at,
        owner_pid=s.pid,
    )


def test_vllm_nan_and_bad_lines_still_answer(standin: StandinFactory, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    (bodies / "metrics.txt").write_text(
        "vllm:kv_cache_usage_perc NaN\n"
        "this is not prometheus\n"
        'vllm:num_requests_running{engine="0"} 3\n'
        'vllm:num_requests_waiting{engine="0" 9\n'
    )
    s = standin("vllm", body_dir=bodies)
    m = scrape_once(s.port, s.pid)
    assert m is not None and m.ok
    assert m.kv_cache_usage is None and m.requests_running == 3 and m.requests_waiting is None


@pytest.mark.parametrize(
    ("behavior", "error"),
    [
        ("drip", "timed out after 300 ms"),
        ("huge", "response over 64 KB"),
        ("huge-length", "response over 64 KB"),
        ("hang", "timed out after 300 ms"),
    ],
)
def test_hostile_servers(standin: StandinFactory, behavior: str, error: str) -> None:
    s = standin("vllm", behavior=behavior)
    m = scrape_once(s.port, s.pid)
    assert m is not None and not m.ok and m.error == error


def test_failure_then_recovery(standin: StandinFactory, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    good = (FIXTURES / "vllm" / "metrics.txt").read_text()
    (bodies / "metrics.txt").write_text(good)
    s = standin("vllm", body_dir=bodies)
    clock = Clock()
    sc = scraper(s.port, clock=clock)
    try:
        assert (m := sc.scrape_wait(s.pid, "vllm", WAIT)) is not None and m.ok
        (bodies / "metrics.txt").write_text("<html>oops</html>")
        clock.t += 5
        sc.scrape(s.pid, "vllm")
        assert sc.wait_idle(WAIT)
        bad = sc.scrape(s.pid, "vllm")
        assert bad is not None and not bad.ok and bad.kv_cache_usage is None
        (bodies / "metrics.txt").write_text(good)
        clock.t += 5
        sc.scrape(s.pid, "vllm")
        assert sc.wait_idle(WAIT)
        again = sc.scrape(s.pid, "vllm")
        assert again is not None and again.ok and again.kv_cache_usage == pytest.approx(0.4213)
    finally:
        sc.close()


def test_server_gone_is_a_refusal_then_a_new_search(standin: StandinFactory) -> None:
    s = standin("vllm")
    clock = Clock()
    sc = scraper(s.port, clock=clock)
    try:
        assert sc.scrape_wait(s.pid, "vllm", WAIT) is not None
        s.stop()
        assert sc.scrape(s.pid, "vllm") is None  # the process is gone: nothing to say
    finally:
        sc.close()


# --- the orchestrator hook ----------------------------------------------------------------


def test_augmenter(standin: StandinFactory) -> None:
    s = standin("sglang")
    ident = ProcFS().identity(s.pid)
    assert ident is not None
    aug = ServerAugmenter(scraper(s.port), wait_s=WAIT)
    try:
        info = aug.augment(ProcessInfo(ident, framework="sglang"), 0.0)
        assert info.server is not None and info.server.ok
        assert info.server.kv_capacity_tokens == 442540
        plain = ProcessInfo(ident, framework="pytorch")
        assert aug.augment(plain, 0.0) is plain
        aug.forget([ident, ProcessIdentity(1, 1)])
    finally:
        aug.close()
    assert aug.scraper.scrape(s.pid, "sglang") is None  # closed: nothing more
    one_shot = server_augmenter(ScrapingConfig.model_validate({}), one_shot=True)
    assert one_shot.wait_s > 0 and one_shot.name == "scrape"
    one_shot.scraper.close()


def test_reloaded_config_applies_to_the_next_request(standin: StandinFactory) -> None:
    s = standin("llamacpp")
    clock = Clock()
    sc = scraper(s.port, clock=clock)
    try:
        assert (m := sc.scrape_wait(s.pid, None, WAIT)) is not None and m.ok
        asked = len(s.requests())
        sc.configure(ScrapingConfig.model_validate({"allowed_ports": [8080], "timeout_ms": 300}))
        clock.t += 5
        sc.scrape(s.pid, None)
        assert sc.wait_idle(WAIT)
        refused = sc.scrape(s.pid, None)
        assert refused is not None and not refused.ok
        assert refused.error == f"port {s.port} not in [scraping] allowed_ports"
        assert len(s.requests()) == asked  # refused before anything was sent
        sc.configure(ScrapingConfig.model_validate({"enable": False}))
        assert sc.scrape(s.pid, None) is None
    finally:
        sc.close()
