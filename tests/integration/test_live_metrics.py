"""The live branch in real locust runs: /metrics on METRICS_PORT while a headless run goes on, /metrics and the SLA
tab's data on the web UI of a distributed run (its run-so-far figures equal summary.json's), and abort_on_fail
stopping a run early against the reference API's injected faults, and stop_when_decided ending a healthy one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import JUDGED, ROOT, run_locust, target
from tests.harness import reference_api
from tests.measured import measured
from trademate_load.launcher import LOCUSTFILE, free_port, locust_command
from trademate_load.webtab import TAB_KEY

pytestmark = pytest.mark.integration
TIERS = ("shared", "premium")
GAUGES = (
    "trademate_sla_compliance_ratio",
    "trademate_latency_p95_seconds",
    "trademate_latency_p99_seconds",
    "trademate_sla_p95_target_seconds",
    "trademate_error_budget_remaining_ratio",
)
UPTIME = "trademate_uptime_ratio"  # once a window is judged: its end, the tier's timeout and a settle second later


def scrape(url: str) -> dict[str, list]:
    """metric family name -> its samples, parsed with prometheus_client's own parser."""
    text = requests.get(url, timeout=5).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def by_tier(samples: list, name: str) -> dict[str, float]:
    return {s.labels["tier"]: s.value for s in samples if s.name == name}


def wait_for(check, timeout_s: float, what: str):
    """Call ``check`` until it returns something truthy (connection errors count as not yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if result:
                return result
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def assert_agreed_metrics(families: dict[str, list]) -> None:
    """Every agreed name, labelled by tier (and endpoint), with requests counted."""
    for name in GAUGES:
        assert set(by_tier(families[name], name)) == set(TIERS), name
    requests_total = by_tier(families["trademate_requests"], "trademate_requests_total")
    assert set(requests_total) == set(TIERS) and min(requests_total.values()) > 0
    assert set(by_tier(families["trademate_request_failures"], "trademate_request_failures_total")) == set(TIERS)
    histogram = families["trademate_request_latency_seconds"]
    counts = [s for s in histogram if s.name == "trademate_request_latency_seconds_count"]
    assert {s.labels["tier"] for s in counts} == set(TIERS)
    assert all(s.labels["endpoint"].startswith(("GET /", "POST /")) and s.value > 0 for s in counts)
    assert sum(s.value for s in counts) == sum(requests_total.values())
    assert by_tier(families["trademate_sla_p95_target_seconds"], "trademate_sla_p95_target_seconds") == {
        "shared": 0.1,
        "premium": 0.05,
    }


def test_a_headless_run_serves_metrics_on_METRICS_PORT_while_it_runs(api, tmp_path):
    port = free_port()
    metrics = f"http://127.0.0.1:{port}/metrics"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
    cmd += ["--profile", "smoke", "--run-time", "16s", *target(api, tmp_path)]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "METRICS_PORT": str(port)},
    )
    try:

        def measured():  # every gauge of both tiers: the window and the run so far (after warm-up) hold samples
            families = scrape(metrics)
            gauges = [by_tier(families.get(name, []), name) for name in GAUGES]
            return families if all(set(tiers) == set(TIERS) for tiers in gauges) else None

        first = wait_for(measured, 30, "every gauge of both tiers on METRICS_PORT")
        assert_agreed_metrics(first)
        assert proc.poll() is None  # scraped during the run
        time.sleep(2.5)
        later = scrape(metrics)
        before = by_tier(first["trademate_requests"], "trademate_requests_total")
        after = by_tier(later["trademate_requests"], "trademate_requests_total")
        assert all(after[tier] > before[tier] for tier in TIERS)  # live: the counters move while the run goes on

        def judged():
            uptime = by_tier(scrape(metrics).get(UPTIME, []), UPTIME)
            return uptime if set(uptime) == set(TIERS) else None

        assert wait_for(judged, 15, "a judged uptime window of each tier") == {tier: 1.0 for tier in TIERS}
        families = scrape(metrics)
        for name in ("trademate_generator_lag_seconds", "trademate_generator_cpu_ratio"):
            (sample,) = families[name]
            assert sample.labels == {"process": "local"} and 0 <= sample.value < 5, sample
    finally:
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode in JUDGED, out[-3000:]


def test_a_busy_metrics_port_exits_2_naming_the_option(api, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_locust("--profile", "smoke", "--metrics-port", str(busy.getsockname()[1]), *target(api, tmp_path))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "(command line): --metrics-port (METRICS_PORT): cannot serve metrics on 127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr


@contextmanager
def web_ui(api, report_dir: Path, workers: int = 0) -> Iterator[str]:
    """A locust web UI (the `make ui` command line) on a free port; yields its base URL; stops it after."""
    url, credentials = api
    port = free_port()
    cmd = locust_command(
        "smoke", url, credentials, ui=True, run_time="", report_dir=str(report_dir), workers=workers, web_port=port
    )
    if workers:  # a master port of its own: another run on this machine may hold Locust's default
        master_port = str(free_port())
        cmd += ["--master-port", master_port, "--master-bind-port", master_port]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    web = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(web, timeout=2).status_code == 200, 30, "the web UI")
        yield web
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
        assert "Traceback" not in out, out[-3000:]


def test_the_web_ui_of_a_distributed_run_serves_metrics_and_the_sla_tab(api, tmp_path):
    with web_ui(api, tmp_path, workers=2) as web:
        page = requests.get(web, timeout=5).text
        assert '"extended_tabs": [{"key": "trademate-sla", "title": "SLA (live)"}]' in page
        wait_for(lambda: requests.get(f"{web}/worker-count", timeout=2).json()["worker_count"] == 2, 30, "2 workers")
        assert requests.post(f"{web}/swarm", data={"profile": "smoke", "run_time": "12s"}, timeout=5).json()["success"]

        def running():
            live = requests.get(f"{web}/trademate/live", timeout=5).json()
            figures = [live["tiers"][t][scope]["requests"] for t in TIERS for scope in ("window", "run")]
            return live if live["state"] == "running" and all(figures) else None

        live = wait_for(running, 40, "live figures of both tiers")
        assert live["profile"] == "smoke" and live["latency_basis"] == "corrected"
        assert_agreed_metrics(scrape(f"{web}/metrics"))
        stats = requests.get(f"{web}/stats/requests", timeout=5).json()
        (tab,) = [table for table in stats["extended_stats"] if table["key"] == TAB_KEY]
        figures = {(row["tier"], row["figure"]) for row in tab["data"]}
        assert {("premium", "p95"), ("shared", "compliance"), ("shared", "error budget left")} <= figures
        assert {("premium", "uptime (5 s windows)"), ("shared", "early decisions (alpha 0.05)")} <= figures
        summary_path = tmp_path / "latest" / "summary.json"
        wait_for(summary_path.exists, 60, "the run directory after the run time")
        summary = json.loads(summary_path.read_text())
        final = requests.get(f"{web}/trademate/live", timeout=5).json()
    assert final["state"] == "stopped" and final["run_id"] == summary["run_id"]
    for tier in TIERS:
        run, expected = final["tiers"][tier]["run"], summary["tiers"][tier]
        assert run["requests"] == expected["requests"] > 0
        assert run["failures"] == expected["failures"]
        assert run["rps"] == pytest.approx(expected["rps"], abs=0.01)
        for stat in ("mean", "p95", "p99"):
            assert run["latency_ms"][stat] == pytest.approx(expected["latency_ms"][stat], abs=0.002), stat
        assert run["sla_compliance"] == pytest.approx(expected["sla_compliance"], abs=1e-6)


ABORTABLE = """
name: abortable
run_time: 60s
warmup: 2s
spawn_rate: 20
tiers:
  shared: {users: 6, rps: 60}
  premium: {users: 4, rps: 40}
sla: sla.yaml
live_window: 5s
"""


@pytest.mark.parametrize(
    ("fault", "rule", "tier", "check", "words"),
    [
        ("tier=premium latency=fixed(80ms)", "{p95_ms: true}", "premium", "p95_ms", "at or above 50 ms (100.000%"),
        ("tier=shared error=5% status=503", "{success_rate: true}", "shared", "success_rate", "since warm-up failed"),
    ],
)
def test_abort_on_fail_stops_the_run_early_with_exit_1_naming_the_check(tmp_path, fault, rule, tier, check, words):
    (tmp_path / "sla.yaml").write_text((ROOT / "profiles" / "sla.yaml").read_text())
    profile = tmp_path / "abortable.yaml"
    profile.write_text(ABORTABLE + f"abort_on_fail: {rule}\n")
    reports = tmp_path / "reports"
    with reference_api(tmp_path, extra_args=["--fault", fault, "--fault-seed", "7"]) as api:
        started = time.monotonic()
        proc = run_locust("--profile", str(profile), *target(api, reports), timeout=90)
        took = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert took < 40  # stopped well before its 60 s run time
    run_dir = reports / "latest"
    summary = json.loads((run_dir / "summary.json").read_text())
    aborted = summary["aborted"]
    assert (aborted["tier"], aborted["check"]) == (tier, check)
    assert 2.0 <= aborted["at_s"] < 30 and words in aborted["reason"]
    assert summary["verdict"] == "fail" and summary["exit_code"] == 1
    assert f"abort_on_fail.{check} ({tier})" in summary["reason"]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["aborted"] == aborted and run["exit_code"] == 1 and run["interrupted"] is True
    assert run["settings"]["abort_on_fail"] == [check] and aborted["by"] == "abort_on_fail"
    assert summary["generator"]["valid"] is True  # a slow target, a quiet generator: a breach, not "invalid"
    assert aborted["evidence"] >= aborted["tests"] / aborted["alpha"]
    junit = ET.parse(run_dir / "junit.xml").getroot()
    (case,) = junit.findall("./testsuite[@name='abort_on_fail']/testcase")
    assert case.get("name") == check and words in case.find("failure").get("message")
    assert f"aborted at {aborted['at_s']:.1f} s: {tier} {check}" in (run_dir / "index.html").read_text()
    assert f"Aborted: {tier} {check} at {aborted['at_s']:.1f} s: " in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1] == "SLA breached (exit 1)"


def test_stop_when_decided_ends_a_healthy_run_once_every_check_is_settled(tmp_path):
    """Its claim needs a healthy target measured by a healthy generator: a private target, and a run again when the
    suite judged the run invalid (`tests.measured`)."""
    (tmp_path / "sla.yaml").write_text(
        "tiers:\n  premium: {p95_ms: 50, p99_ms: 100, mean_ms: 25, success_rate: 0.99, uptime: 0.999, window: 2s}\n"
    )
    profile = tmp_path / "decided.yaml"
    profile.write_text(
        "name: decided\nrun_time: 60s\nwarmup: 2s\nspawn_rate: 50\ntiers:\n  premium: {users: 20, rps: 200}\n"
        "sla: sla.yaml\nstop_when_decided: true\n"
    )

    def run(attempt: int) -> tuple:
        workdir = tmp_path / f"attempt{attempt}"
        workdir.mkdir()
        with reference_api(workdir) as api:
            started = time.monotonic()
            proc = run_locust("--profile", str(profile), *target(api, workdir / "reports"), timeout=90)
        return (proc, time.monotonic() - started), workdir / "reports" / "latest"

    measured(run, lambda result, run_dir: check_decided(*result, run_dir))


def check_decided(proc: subprocess.CompletedProcess, took: float, run_dir: Path) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert took < 40  # settled well before its 60 s run time
    summary = json.loads((run_dir / "summary.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    decided = summary["decided"]
    assert decided == run["decided"] and decided["outcome"] == "pass" and decided["by"] == "stop_when_decided"
    assert 2.0 < decided["at_s"] < 30 and "every check settled: 3 passed" in decided["reason"]
    assert summary["verdict"] == "pass" and run["interrupted"] is False and summary["aborted"] is None
    assert f"ended early at {decided['at_s']:.1f} s by stop_when_decided" in summary["reason"]
    assert f"Ended early: ended early at {decided['at_s']:.1f} s" in proc.stdout
    junit = ET.parse(run_dir / "junit.xml").getroot()
    (case,) = junit.findall("./testsuite[@name='stop_when_decided']/testcase")
    assert case.find("system-out").text.startswith(f"ended early at {decided['at_s']:.1f} s")
    assert f"ended early at {decided['at_s']:.1f} s: every check settled" in (run_dir / "index.html").read_text()
