"""Uptime in a real run from `make`: a 0.9 s outage that the whole-run totals absorb fails the premium gate.

The reference API holds every request for 0.9 s (its stall fault, shorter than the premium client timeout), in
the middle of `make loadtest-premium` aimed at it with HOST. The run's p95 (425 late requests of 12,000) and
success rate pass; its uptime does not, and every report names the down window with its start and cause. (In a
5-minute run its p99 passes too.)
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT, only_run_dir
from tests.harness import reference_api

pytestmark = pytest.mark.integration


def test_a_0_9_s_outage_fails_make_loadtest_premium_on_uptime_naming_the_down_window(tmp_path):
    reports = tmp_path / "reports"
    # The stall's clock starts with the API, about 3 s before Locust's: it falls 13 s into the 30 s run, after its
    # 6 s warm-up.
    with reference_api(tmp_path, extra_args=["--fault", "stall=16s+0.9s"]) as (url, credentials):
        variables = [f"HOST={url}", f"CREDENTIALS={credentials}", "RUN_TIME=30s", f"REPORT_DIR={reports}"]
        make = ["make", "--no-print-directory", "-o", ".venv", "loadtest-premium", *variables]
        proc = subprocess.run(make, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]  # make fails: the suite exited 1
    assert proc.stdout.rstrip().splitlines()[-1] == "[trademate] SLA breached (exit 1)"
    run_dir = only_run_dir(reports)
    summary = json.loads((run_dir / "summary.json").read_text())
    premium = summary["tiers"]["premium"]
    checks = {c["name"]: c["status"] for c in premium["checks"]}
    assert checks["uptime"] == "failed" and checks["success_rate"] != "failed" and checks["p95_ms"] == "passed"
    assert summary["exit_code"] == 1 and "premium.uptime" in summary["reason"]
    uptime = premium["uptime"]
    assert uptime["ratio"] < 0.999 and uptime["down"], uptime
    down = uptime["down"][0]
    assert 6.0 <= down["start_s"] < down["end_s"] <= 31.0 and down["cause"].startswith("p95 ")
    assert f"DOWN {down['start_s']:.1f}-{down['end_s']:.1f} s after the start ({down['start']} to " in proc.stdout
    junit = ET.parse(run_dir / "junit.xml").getroot()
    (case,) = junit.findall("./testsuite[@name='sla.premium']/testcase[@name='uptime']")
    assert f"down {down['start_s']:.1f}-{down['end_s']:.1f} s after the start ({down['start']})" in case.find(
        "failure"
    ).get("message")
    html = (run_dir / "index.html").read_text()
    assert f'<tr class="down"><td>{down["start"]}</td>' in html
