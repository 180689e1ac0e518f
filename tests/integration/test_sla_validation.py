"""scripts/sla_validation.py as a real subprocess against the real reference API: exit codes, JSON, rounds, secrets."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.harness import reference_api
from trademate_load.probe import TIER_ENDPOINTS
from trademate_load.report.console import verdict_line

pytestmark = pytest.mark.integration
SCRIPT = ROOT / "scripts" / "sla_validation.py"
SLOW_PORTFOLIO = "tier=premium endpoint=/api/v1/portfolio* latency=fixed(80ms)"  # portfolio and its summary
FIGURE_KEYS = {"requests", "failures", "latency_ms", "success_rate", "verdict", "checks"}
CHECK_KEYS = {"name", "op", "limit", "actual", "passed", "status"}


def run_probe(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"


def api_requests(url: str) -> Counter:
    """Responses the API counted per tier on /api/ routes, from its own /metrics."""
    counts: Counter = Counter()
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "trademate_api_requests_total" and sample.labels["endpoint"].startswith("/api/"):
                counts[sample.labels["tier"]] += int(sample.value)
    return counts


def test_without_host_it_starts_the_reference_api_and_reports_every_request(tmp_path):
    output = tmp_path / "out" / "results.json"
    proc = run_probe("--iterations", "6", "--concurrency", "2", "--output", str(output))
    assert proc.returncode == 0, explain(proc)
    assert "Reference TradeMate API started at http://127.0.0.1:" in proc.stdout
    result = json.loads(output.read_text())
    assert proc.stdout.rstrip().splitlines()[-1] == verdict_line(0, result["verdict"])
    assert result["schema"] == "trademate-load/probe/1" and result["verdict"] in ("pass", "inconclusive")
    assert result["exit_code"] == result["overall_exit_code"] == 0 and result["iterations"] == 6
    assert set(result["tiers"]) == {"shared", "premium"}
    for tier, figures in result["tiers"].items():
        assert set(figures) >= FIGURE_KEYS
        assert set(figures["endpoints"]) == set(TIER_ENDPOINTS[tier])
        assert (
            figures["requests"]
            == 6 * len(TIER_ENDPOINTS[tier])
            == sum(e["requests"] for e in figures["endpoints"].values())
        )
        assert figures["failures"] == 0 and figures["success_rate"] == 1.0
        for name, e in [("(tier)", figures), *figures["endpoints"].items()]:
            lat = e["latency_ms"]
            assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"], name
            assert lat["mean"] <= lat["max"], name
            assert e["checks"] and all(set(c) >= CHECK_KEYS for c in e["checks"]), name
            assert e["verdict"] in ("pass", "inconclusive"), name
        assert {c["name"] for c in figures["checks"]} >= {"p95_ms", "p99_ms", "mean_ms", "success_rate"}
        for name, e in figures["endpoints"].items():
            assert e["requests"] == 6 and {c["endpoint"] for c in e["checks"]} == {name}
            assert f"{tier:<8} {name:<34} {6:>5} {0:>5}" in proc.stdout
        p99 = next(c for c in figures["checks"] if c["name"] == "p99_ms")
        assert p99["status"] == "inconclusive" and p99["passed"] is None  # 42-48 samples cannot bound a p99


@pytest.fixture
def lenient_sla(tmp_path) -> Path:
    """Limits no healthy answer comes near, for tests of the probe's mechanics: a slow moment of a busy machine
    must not turn their verdict (p99 of a few samples stays inconclusive)."""
    path = tmp_path / "lenient-sla.yaml"
    limits = "{p95_ms: 10000, p99_ms: 10000, success_rate: 0.5, uptime: 0.999, window: 60s}"
    path.write_text(f"tiers:\n  shared: {limits}\n  premium: {limits}\n")
    return path


def test_rounds_repeat_and_match_what_the_api_counted_without_leaking_a_token(api, tmp_path, lenient_sla):
    url, credentials = api
    output = tmp_path / "results.json"
    before = api_requests(url)
    proc = run_probe(
        *("--host", url, "--credentials", str(credentials), "--output", str(output), "--sla", str(lenient_sla)),
        *("--iterations", "5", "--interval", "0.2", "--count", "2", "--read-only"),
    )
    assert proc.returncode == 0, explain(proc)
    sent = api_requests(url) - before
    result = json.loads(output.read_text())
    assert result["round"] == result["rounds"] == 2 and [h["round"] for h in result["history"]] == [1, 2]
    assert proc.stdout.count("SLA probe round ") == 2 and "SLA probe round 2 of" in proc.stdout
    uptime = "uptime over the rounds: shared 100.000% (2 of 2 up), premium 100.000% (2 of 2 up)"
    assert proc.stdout.rstrip().splitlines()[-1] == f"2 rounds: 2 {result['verdict']}; {uptime}; exit 0"
    assert result["uptime_over_rounds"]["premium"] | {"down_rounds": []} == {
        "rounds": 2, "up": 2, "down": 0, "unjudged": 0, "ratio": 1.0, "down_rounds": []
    }  # fmt: skip
    for tier in ("shared", "premium"):
        reads = [name for name in TIER_ENDPOINTS[tier] if name.startswith("GET ")]
        assert sorted(result["tiers"][tier]["endpoints"]) == sorted(reads)  # --read-only: no order placed
        assert result["tiers"][tier]["requests"] == 5 * len(reads)
        assert sent[tier] == 2 * result["tiers"][tier]["requests"]  # both rounds reached the API, nothing else
    tokens = [line.rsplit(",", 1)[1] for line in credentials.read_text().splitlines()[1:] if line]
    assert len(tokens) >= 4
    text = output.read_text() + proc.stdout + proc.stderr
    assert not [token for token in tokens if token in text]


def test_strict_counts_an_inconclusive_verdict_as_a_breach(api, tmp_path, lenient_sla):
    output = tmp_path / "results.json"
    proc = run_probe(
        *("--host", api[0], "--credentials", str(api[1]), "--iterations", "2", "--strict", "--output", str(output)),
        *("--sla", str(lenient_sla)),
    )
    assert proc.returncode == 1, explain(proc)
    result = json.loads(output.read_text())
    assert result["verdict"] == "inconclusive" and result["exit_code"] == 1 and result["strict"] is True


@pytest.fixture(scope="module")
def slow_premium_api(tmp_path_factory):
    """A reference API whose premium portfolio endpoints take 80 ms: premium p95 (< 50 ms) breaks."""
    with reference_api(tmp_path_factory.mktemp("slow-api"), extra_args=["--fault", SLOW_PORTFOLIO]) as api:
        yield api


def test_a_breached_premium_p95_exits_1_and_names_the_endpoints(slow_premium_api, tmp_path):
    url, credentials = slow_premium_api
    output = tmp_path / "results.json"
    proc = run_probe(
        "--host", url, "--credentials", str(credentials), "--iterations", "20", "--concurrency", "4",
        "--output", str(output),
    )  # fmt: skip
    assert proc.returncode == 1, explain(proc)
    result = json.loads(output.read_text())
    assert result["verdict"] == "fail" and result["exit_code"] == 1
    premium = result["tiers"]["premium"]
    p95 = next(c for c in premium["checks"] if c["name"] == "p95_ms")
    assert p95["status"] == "failed" and p95["passed"] is False and p95["actual"] >= 80 > p95["limit"]
    assert premium["verdict"] == "fail" and result["tiers"]["shared"]["verdict"] != "fail"
    failed = {name for name, e in premium["endpoints"].items() if e["verdict"] == "fail"}
    assert failed == {"GET /api/v1/portfolio", "GET /api/v1/portfolio/summary"}
    assert premium["endpoints"]["GET /api/v1/portfolio"]["latency_ms"]["p50"] >= 80
    assert "premium  GET /api/v1/portfolio " in proc.stdout and "FAIL p95_ms" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1] == verdict_line(1, "fail")


def bad_input_cases(tmp: Path, credentials: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (arguments, what the one error line must name)."""
    bad_sla = tmp / "bad-sla.yaml"
    bad_sla.write_text("tiers:\n  premium: {p95: 50}\n")
    bad_credentials = tmp / "bad-credentials.csv"
    bad_credentials.write_text("user,plan\nu1,ELITE\n")
    host = ["--host", "http://127.0.0.1:9", "--credentials", str(credentials)]
    return {
        "sla file": (["--sla", str(bad_sla)], [str(bad_sla), "tiers.premium.p95", "p95_ms"]),
        "argument": (["--iterations", "0"], ["--iterations", "'0'"]),
        "bare host": (["--host", "example.com", "--credentials", str(credentials)], ["HOST", "example.com"]),
        "credentials file": (["--host", "http://127.0.0.1:9", "--credentials", str(bad_credentials)],
                             [str(bad_credentials), "header"]),
        "host without credentials": (["--host", "http://127.0.0.1:9"], ["--credentials"]),
        "output": ([*host, "--output", str(tmp)], [str(tmp)]),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case", ["sla file", "argument", "bare host", "credentials file", "host without credentials", "output"]
)
def test_invalid_input_exits_2_with_one_line_naming_it(case, api, tmp_path):
    args, named = bad_input_cases(tmp_path, api[1])[case]
    proc = run_probe(*args, "--iterations", "1") if case != "argument" else run_probe(*args)
    assert proc.returncode == 2, explain(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and all(part in lines[0] for part in named), proc.stderr
    assert "SLA probe round" not in proc.stdout and "Reference TradeMate API started" not in proc.stdout


def test_a_host_where_nothing_listens_exits_3(api, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    output = tmp_path / "results.json"
    proc = run_probe(
        "--host", f"http://127.0.0.1:{port}", "--credentials", str(api[1]), "--iterations", "5", "--output", str(output)
    )  # fmt: skip
    assert proc.returncode == 3, explain(proc)
    result = json.loads(output.read_text())
    assert result["verdict"] == "no_data" and result["exit_code"] == 3 and "GET /health" in result["reason"]
    assert proc.stdout.rstrip().splitlines()[-1] == verdict_line(3, "no_data")
