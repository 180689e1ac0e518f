"""A real locust subprocess against the real reference API: exit codes, run directory, summary.json."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
import requests

from tests.conftest import JUDGED, ROOT, only_run_dir, run_locust, run_suite, target, wait_for, web_ui
from tests.measured import measured
from trademate_load.record import COLUMNS
from trademate_load.report.console import verdict_line

pytestmark = pytest.mark.integration
SMOKE = ["--profile", "smoke", "--run-time", "8s"]


@pytest.fixture(scope="module")
def smoke_run(api, tmp_path_factory):
    """A smoke run the suite judged valid (one judged invalid, on a busy machine, runs again: `tests.measured`)."""
    found = []

    def run(attempt: int) -> tuple:
        report_dir = tmp_path_factory.mktemp(f"reports{attempt}")
        stats = report_dir / "locust-stats"  # Locust appends .json
        proc = run_locust(*SMOKE, *target(api, report_dir), "--json-file", str(stats))
        return (proc, report_dir, stats), only_run_dir(report_dir)

    measured(run, lambda result, _run_dir: found.append(result))
    return found[0]


def test_smoke_run_passes_and_writes_a_complete_run_directory(smoke_run):
    proc, report_dir, _ = smoke_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = only_run_dir(report_dir)
    assert (report_dir / "latest").resolve() == run_dir.resolve()
    for name in ("index.html", "summary.json", "junit.xml", "samples.parquet", "run.json"):
        assert (run_dir / name).stat().st_size > 0, name
    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_code"] == 0 and run["profile"] == "smoke" and run["run_id"] == run_dir.name
    assert run["sla"]["premium"]["p95_ms"] == 50
    verdict = json.loads((run_dir / "summary.json").read_text())["verdict"]
    assert proc.stdout.rstrip().splitlines()[-1] == verdict_line(0, verdict)


def test_summary_follows_the_schema_and_comes_from_raw_samples(smoke_run):
    _, report_dir, _ = smoke_run
    run_dir = only_run_dir(report_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["schema"] == "trademate-load/summary/1"
    # A short light run cannot show 99.95% success (about 8,000 requests are needed): inconclusive, not failed.
    assert summary["verdict"] in ("pass", "inconclusive") and summary["exit_code"] == 0
    assert not summary["strict"]
    samples = pd.read_parquet(run_dir / "samples.parquet")
    assert list(samples.columns) == list(COLUMNS)
    window = samples[samples["ts"] >= summary["window"]["start_ts"]]
    for tier in ("shared", "premium"):
        figures = summary["tiers"][tier]
        rows = window[window["tier"] == tier]
        assert figures["requests"] == len(rows) > 0
        assert figures["latency_basis"] == "corrected"
        p95 = rows["latency_co_ms"].quantile(0.95, interpolation="higher")
        assert figures["latency_ms"]["p95"] == pytest.approx(p95, abs=1e-3)
        assert set(rows["plan"]) == ({"LITE", "PRO"} if tier == "shared" else {"ELITE", "BLACK"})
        assert {c["name"] for c in figures["checks"]} >= {"p95_ms", "p99_ms", "mean_ms", "success_rate"}
        assert figures["cache_hit_rate"] is not None and figures["db_ms_p95"] is not None
    assert {e["name"] for e in summary["endpoints"]} >= {"GET /api/v1/portfolio", "POST /api/v1/orders"}
    assert not any(
        name.startswith("GET /api/v1/analytics")
        for name in {e["name"] for e in summary["endpoints"] if e["tier"] == "shared"}
    )


def test_every_request_locust_counted_is_a_sample(smoke_run):
    """Locust's table (fed from the collector's rows, not by its own listener) counts what the samples hold."""
    _, report_dir, stats = smoke_run
    entries = json.loads(stats.with_suffix(".json").read_text())
    samples = pd.read_parquet(only_run_dir(report_dir) / "samples.parquet")
    assert len(samples) == sum(entry["num_requests"] for entry in entries) > 0
    by_endpoint = samples.groupby("endpoint", observed=True)
    for entry in entries:
        rows = by_endpoint.get_group(entry["name"])
        assert entry["num_requests"] == len(rows)
        assert entry["num_failures"] == (~rows["ok"]).sum()
        assert entry["total_content_length"] == rows["bytes"].sum()
        assert entry["max_response_time"] >= rows["latency_ms"].max()  # the service time ends at the kernel's receipt


def test_junit_has_one_testcase_per_check(smoke_run):
    _, report_dir, _ = smoke_run
    run_dir = only_run_dir(report_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    root = ET.parse(run_dir / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == sum(len(t["checks"]) for t in summary["tiers"].values())
    assert root.get("failures") == "0"


def test_report_rebuilds_from_the_run_directory_alone(smoke_run, tmp_path):
    _, report_dir, _ = smoke_run
    run_dir = only_run_dir(report_dir)
    before = json.loads((run_dir / "summary.json").read_text())
    copy = tmp_path / run_dir.name
    copy.mkdir()
    for name in ("samples.parquet", "run.json"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    proc = run_suite("report", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((copy / "summary.json").read_text()) == before
    assert (copy / "junit.xml").read_text() == (run_dir / "junit.xml").read_text()
    assert (copy / "index.html").stat().st_size > 0


def test_an_impossible_threshold_breaches_with_exit_1(api, tmp_path):
    sla = (ROOT / "profiles" / "sla.yaml").read_text().replace("p99_ms: 100", "p99_ms: 0.001")
    (tmp_path / "sla.yaml").write_text(sla)
    profile = (ROOT / "profiles" / "smoke.yaml").read_text()
    (tmp_path / "strict.yaml").write_text(profile)
    proc = run_locust(
        "--profile", str(tmp_path / "strict.yaml"), "--run-time", "5s", *target(api, tmp_path / "reports")
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stdout.rstrip().splitlines()[-1] == "SLA breached (exit 1)"
    run_dir = only_run_dir(tmp_path / "reports")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "fail" and summary["exit_code"] == 1
    failed = [c for c in summary["tiers"]["premium"]["checks"] if c["status"] == "failed"]
    assert [c["name"] for c in failed] == ["p99_ms"]
    assert json.loads((run_dir / "run.json").read_text())["exit_code"] == 1
    assert ET.parse(run_dir / "junit.xml").getroot().get("failures") == "1"


def test_a_malformed_profile_exits_2_naming_file_and_field(api, tmp_path):
    (tmp_path / "sla.yaml").write_text((ROOT / "profiles" / "sla.yaml").read_text())
    bad = (ROOT / "profiles" / "smoke.yaml").read_text().replace("users: 4", "users: four")
    (tmp_path / "bad.yaml").write_text(bad)
    proc = run_locust("--profile", str(tmp_path / "bad.yaml"), *target(api, tmp_path / "reports"))
    assert proc.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}: tiers.premium.users: expected a whole number >= 1, got 'four'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()


def test_an_unreachable_target_exits_3(api, tmp_path):
    _, credentials = api
    proc = run_locust("--profile", "smoke", "--run-time", "4s", *target(("http://127.0.0.1:9", credentials), tmp_path))
    assert proc.returncode == 3, proc.stdout[-2000:]
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    assert summary["verdict"] == "no_data" and summary["reason"] == "the target never answered"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "smoke", "--host", "myhostname"], "HOST='myhostname': expected an http:// or https:// URL"),
        (["run", "smoke", "--host", "http://127.0.0.1:9"], "CREDENTIALS: required with HOST"),
        (["run", "nope"], "no such profile"),
        (["validate", "profiles/nope.yaml"], "profiles/nope.yaml: (file): no such profile"),
    ],
)
def test_launcher_refuses_bad_input_with_exit_2(args, message):
    proc = run_suite(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_make_style_run_starts_and_stops_the_reference_api(tmp_path):
    proc = run_suite("run", "smoke", "--run-time", "5s", "--report-dir", str(tmp_path), timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Reference TradeMate API started at http://127.0.0.1:" in proc.stdout
    verdict = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())["verdict"]
    assert proc.stdout.rstrip().splitlines()[-1] == f"[trademate] {verdict_line(0, verdict)}"
    assert (only_run_dir(tmp_path) / "summary.json").exists()


def test_web_ui_form_runs_the_profile_and_a_stop_writes_the_run_directory(api, tmp_path):
    """`make ui`: Locust's own start form carries the profile; a bad one is refused in the form."""
    output = tmp_path / "locust.txt"
    with web_ui(api, "premium", tmp_path, output) as web:
        refused = requests.post(f"{web}/swarm", data={"profile": "nope"}, timeout=5).json()
        assert refused["success"] is False and "nope.yaml: (file): no such profile" in refused["message"]
        started = requests.post(f"{web}/swarm", data={"profile": "smoke"}, timeout=5).json()
        assert started["success"] is True, started
        time.sleep(6)
        table = requests.get(f"{web}/stats/requests", timeout=5).json()  # Locust's own, fed from the collector
        assert table["total_rps"] > 0 and {row["name"] for row in table["stats"]} >= {"GET /api/v1/portfolio"}
        assert requests.post(f"{web}/stop", timeout=5).json()["success"] is True
        wait_for((tmp_path / "latest" / "summary.json").exists, "run directory after the stop", 30)
        summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
        assert summary["profile"] == "smoke" and summary["tiers"]["premium"]["requests"] > 0
        assert json.loads((tmp_path / "latest" / "run.json").read_text())["interrupted"] is True
        samples = len(pd.read_parquet(tmp_path / "latest" / "samples.parquet"))

        def locust_counted_every_sample() -> bool:  # Locust's web UI caches its table for 2 s
            table = requests.get(f"{web}/stats/requests", timeout=5).json()["stats"]
            return [row["num_requests"] for row in table if not row["method"]] == [samples]

        wait_for(locust_counted_every_sample, "Locust's total equal to the samples", 10)
    out = output.read_text()
    assert (
        verdict_line(summary["exit_code"], summary["verdict"]) in out
    )  # the verdict table is printed when a UI test stops


def test_with_host_and_credentials_the_suite_starts_no_api(api, tmp_path):
    url = api[0]
    proc = run_suite("run", "smoke", "--run-time", "4s", *target(api, tmp_path))
    run = json.loads((only_run_dir(tmp_path) / "run.json").read_text())
    # The verdict itself may vary here (the session's API has been up past the premium cache TTL, and a busy
    # machine may make the run invalid): the point is that the run aimed at HOST, started nothing, and judged.
    assert proc.returncode == run["exit_code"] in JUDGED, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Reference TradeMate API started" not in proc.stdout
    assert run["host"] == url


def test_sigint_to_the_launcher_keeps_every_sample_taken_so_far(tmp_path):
    cmd = [sys.executable, "-m", "trademate_load", "run", "smoke", "--report-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    seen = []
    for line in proc.stdout:  # wait until every user runs, then past the 3 s warm-up of the 15 s run
        seen.append(line)
        if "All users spawned" in line:
            break
    time.sleep(5)
    proc.send_signal(signal.SIGINT)
    out = "".join(seen) + proc.communicate(timeout=60)[0]
    run_dir = only_run_dir(tmp_path)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["interrupted"] is True
    assert proc.returncode == run["exit_code"] in JUDGED
    assert len(pd.read_parquet(run_dir / "samples.parquet")) == run["samples"] > 0
    assert out.rstrip().splitlines()[-1].startswith("[trademate] ")
