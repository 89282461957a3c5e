"""A real Prometheus server (Debian's `prometheus` package) scraping `vramtop export --replay`.

The package is installed by the test when it is missing and apt can do it
(root, apt-get present); otherwise the tests skip and say why. A failed
install is remembered for a day so that every run does not retry apt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from export_helpers import TRACES, exporter, wait_for
from vramtop.metrics import METRICS

ROOT = Path(__file__).parent.parent
RULES = ROOT / "dashboards" / "prometheus-rules.yml"
DASHBOARD = ROOT / "dashboards" / "grafana-vramtop.json"
UNAVAILABLE_MARK = Path(tempfile.gettempdir()) / "vramtop-test-prometheus-unavailable"

_checked: dict[str, str | None] = {}


def _apt_install() -> str | None:
    """Install Debian's prometheus; returns None on success, else why not."""
    if os.geteuid() != 0:
        return "not root: cannot `apt-get install prometheus`"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            subprocess.run(
                ["apt-get", "update"], env=env, capture_output=True, text=True, timeout=300
            )
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"apt-get failed: {e}"
    if res.returncode != 0 or shutil.which("prometheus") is None:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["?"]
        return f"`apt-get install prometheus` failed: {tail[0]}"
    return None


def prometheus_binary() -> str:
    if "reason" not in _checked:
        reason: str | None = None
        if shutil.which("prometheus") is None:
            if (
                UNAVAILABLE_MARK.exists()
                and time.time() - UNAVAILABLE_MARK.stat().st_mtime < 86_400
            ):
                reason = UNAVAILABLE_MARK.read_text().strip() + " (cached for a day)"
            else:
                reason = _apt_install()
                if reason:
                    UNAVAILABLE_MARK.write_text(reason + "\n")
        _checked["reason"] = reason
    if _checked["reason"]:
        pytest.skip(f"no Prometheus server: {_checked['reason']}")
    path = shutil.which("prometheus")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prom:
    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, path: str, **params: str) -> Any:
        q = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{q}", timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        return list(data["result"])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Prom, int]]:
    """A Prometheus scraping 127.0.0.1:<port> every second; yields (api, port)."""
    binary = prometheus_binary()
    target_port = free_port()
    web_port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n  - job_name: vramtop\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    p = subprocess.Popen(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{web_port}"

    def ready() -> bool:
        if p.poll() is not None:
            raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()}")
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    try:
        wait_for(ready, timeout=30, interval=0.2)
        yield Prom(url), target_port
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def test_prometheus_scrapes_the_exporter_during_an_oom_recording(
    prometheus: tuple[Prom, int],
) -> None:
    prom, port = prometheus
    args = [
        "--port",
        str(port),
        "--replay",
        str(TRACES / "linear_leak_150.jsonl"),
        "--speed",
        "8",
    ]
    with exporter(args) as exp:
        used = wait_for(lambda: prom.query("vramtop_gpu_memory_used_bytes > 0"), timeout=30)
        assert isinstance(used, list)
        [series] = used
        labels = series["metric"]
        assert labels["job"] == "vramtop"
        assert labels["uuid"].startswith("GPU-") and labels["gpu"] == "0"
        assert labels["hostname"] and labels["name"] == "NVIDIA H100 80GB HBM3"
        assert float(series["value"][1]) > 70e9  # the leak sits beside a 70 GB allocation

        # The OOM alert and the example rule, as recorded by Prometheus (range queries, so
        # a slow machine that queries after the alert window still sees what was scraped).
        alert = wait_for(
            lambda: prom.query("max_over_time(vramtop_oom_alert[5m]) == 1"), timeout=40
        )
        assert alert[0]["metric"]["uuid"] == labels["uuid"]  # type: ignore[index]
        wait_for(
            lambda: prom.query('max_over_time(ALERTS{alertname="VramtopOOMPredicted"}[5m])'),
            timeout=15,
        )
        eta = prom.query("min_over_time(vramtop_oom_eta_low_seconds[5m])")
        assert eta and 0 < float(eta[0]["value"][1]) < 300
        procs = prom.query("max_over_time(vramtop_process_gpu_memory_used_bytes[5m])")
        assert {s["metric"]["pid"] for s in procs} == {"855", "871"}

        # The recording ends with the OOM: the processes leave and their series go stale.
        wait_for(lambda: '"finished"' in exp.get("/healthz")[1], timeout=60)
        wait_for(lambda: not prom.query("vramtop_process_gpu_memory_used_bytes"), timeout=15)
        assert prom.query("vramtop_gpu_memory_used_bytes")  # the GPU series stays
        wait_for(lambda: prom.query("vramtop_oom_alert == 0"), timeout=15)  # cleared after OOM


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dash["annotations"]["list"] if "expr" in a]
    return exprs


def test_dashboard_queries_are_valid_promql_on_real_data(prometheus: tuple[Prom, int]) -> None:
    prom, port = prometheus
    args = ["--port", str(port), "--replay", str(TRACES / "staircase.jsonl"), "--loop"]
    with exporter(args):
        wait_for(lambda: prom.query("vramtop_gpu_memory_used_bytes"), timeout=30)
        for expr in _dashboard_exprs():
            q = (
                expr.replace("$hostname", ".*")
                .replace("$gpu", ".*")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m")
            )
            prom.query(q)  # raises on a PromQL error


def test_dashboard_uses_only_exported_metric_names() -> None:
    known = {m.name for m in METRICS}
    used = set()
    for expr in _dashboard_exprs():
        used |= set(re.findall(r"\bvramtop_[a-z_]+", expr))
    assert used and used <= known, used - known
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for needed in ("gpu memory used", "per process", "oom alert", "phase"):
        assert needed in titles


RULE_TEST = """
rule_files: ['{rules}']
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'vramtop_oom_alert{{hostname="n1",gpu="0",uuid="GPU-a",name="H100"}}'
        values: '0 0 1 1 1 0'
      - series: 'vramtop_oom_eta_low_seconds{{hostname="n1",gpu="0",uuid="GPU-a",name="H100"}}'
        values: '_ _ 90 75 60 _'
      - series: 'vramtop_oom_eta_high_seconds{{hostname="n1",gpu="0",uuid="GPU-a",name="H100"}}'
        values: '_ _ 240 200 180 _'
    alert_rule_test:
      - eval_time: 15s
        alertname: VramtopOOMPredicted
        exp_alerts: []
      - eval_time: 30s
        alertname: VramtopOOMPredicted
        exp_alerts:
          - exp_labels: {{severity: critical, hostname: n1, gpu: "0", uuid: GPU-a, name: H100}}
            exp_annotations:
              summary: "GPU 0 on n1 is predicted to run out of memory"
              description: >-
                vramtop predicts an out-of-memory on n1 GPU 0 (H100, GPU-a)
                in 1m 30s to 4m 0s (an estimate). Look at the growing processes:
                vramtop_process_phase{{hostname="n1",uuid="GPU-a",phase="growing"}} == 1
      - eval_time: 75s
        alertname: VramtopOOMPredicted
        exp_alerts: []
"""


def test_alert_rule_with_promtool(tmp_path: Path) -> None:
    prometheus_binary()  # installs the package (and promtool) when it can
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    res = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(RULE_TEST.format(rules=RULES))
    res = subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
