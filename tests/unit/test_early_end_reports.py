"""A run that ended early (abort_on_fail, stop_when_decided): its verdict is a breach unless nothing was measured,
and every report says which check (or which decision) ended it and when."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.synthetic import write_synthetic_run
from trademate_load.report.console import render_console
from trademate_load.report.summary import apply_abort
from trademate_load.rundir import load_run, render_reports

ABORTED = {
    "outcome": "fail",
    "by": "abort_on_fail",
    "tier": "premium",
    "check": "p95_ms",
    "at_s": 12.0,
    "reason": "premium p95_ms: 900 of 1700 since warm-up at or above 50 ms (52.941%, allowed 5.000%); evidence ...",
    "alpha": 0.05,
    "tests": 2,
    "evidence": 1e9,
}


@pytest.mark.parametrize(
    ("code", "verdict", "expected_code", "expected_verdict"),
    [(0, "pass", 1, "fail"), (0, "inconclusive", 1, "fail"), (1, "fail", 1, "fail"), (3, "no_data", 3, "no_data")],
)
def test_an_aborted_run_is_a_breach_unless_nothing_was_measured(code, verdict, expected_code, expected_verdict):
    summary = apply_abort({"exit_code": code, "verdict": verdict, "reason": "as judged"}, dict(ABORTED))
    assert (summary["exit_code"], summary["verdict"]) == (expected_code, expected_verdict)
    assert summary["aborted"] == ABORTED
    assert "stopped at 12.0 s by abort_on_fail.p95_ms (premium): premium p95_ms: 900 of 1700" in summary["reason"]
    assert apply_abort({"exit_code": 0, "verdict": "pass", "reason": "ok"}, None) == {
        "exit_code": 0,
        "verdict": "pass",
        "reason": "ok",
        "aborted": None,
    }


def test_every_report_says_which_check_stopped_the_run_and_when(tmp_path):
    run_dir = tmp_path / "20270115-080000-premium"
    write_synthetic_run(run_dir, np.linspace(1.0, 20.0, 3_000), seconds=30.0)
    frame, run = load_run(run_dir)
    summary = render_reports(run_dir, frame, {**run, "aborted": ABORTED})
    assert summary["aborted"] == ABORTED and summary["exit_code"] == 1
    assert json.loads((run_dir / "summary.json").read_text())["aborted"] == ABORTED
    junit = ET.parse(run_dir / "junit.xml").getroot()
    (case,) = junit.findall("./testsuite[@name='abort_on_fail']/testcase")
    assert case.get("name") == "p95_ms" and "stopped at 12.0 s" in case.find("failure").get("message")
    assert junit.get("failures") == "1"
    console = render_console(summary)
    assert f"Aborted: premium p95_ms at 12.0 s: {ABORTED['reason']}" in console
    assert console.splitlines()[-1] == "SLA breached (exit 1)"
    assert "aborted at 12.0 s: premium p95_ms" in (run_dir / "index.html").read_text()
