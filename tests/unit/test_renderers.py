"""summary.json, junit.xml and the console table for a synthetic run with known answers."""

import json
import xml.etree.ElementTree as ET

import numpy as np

from tests.synthetic import LOADS, SLA, T0, frame_of
from trademate_load.report.console import render_console
from trademate_load.report.junit import render_junit
from trademate_load.report.summary import SCHEMA, build_summary
from trademate_load.sla import evaluate
from trademate_load.sla_figures import Window

RUN = {
    "run_id": "r1",
    "profile": "premium",
    "host": "http://127.0.0.1:1",
    "started_at": "2027-01-15T08:00:00+00:00",
    "warmup_s": 0.0,
}


def summary_for(frame):
    return build_summary(evaluate(frame, LOADS, SLA, Window(T0, T0 + 10), "service"), RUN)


def test_summary_schema_and_figures():
    # 1000 requests: 990 at 4 ms, 10 failed at 200 ms; the hand-computed answers below.
    latency = np.r_[np.full(990, 4.0), np.full(10, 200.0)]
    ok = np.r_[np.ones(990, bool), np.zeros(10, bool)]
    summary = summary_for(frame_of(latency, ok=ok, cache=["hit"] * 1000, db=np.full(1000, 0.5)))
    assert summary["schema"] == SCHEMA
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    tier = summary["tiers"]["premium"]
    assert tier["requests"] == 1000 and tier["failures"] == 10 and tier["rps"] == 100.0
    assert tier["latency_ms"] == {"mean": 5.96, "p50": 4.0, "p95": 4.0, "p99": 4.0, "max": 200.0}
    assert tier["success_rate"] == 0.99 and tier["sla_compliance"] == 0.99
    assert tier["db_ms_p95"] == 0.5 and tier["cache_hit_rate"] == 1.0
    assert summary["verdict"] == "fail" and summary["exit_code"] == 1
    statuses = {c["name"]: c["status"] for c in tier["checks"]}
    # Wilson: 990/1000 is at most 0.9946 (< 99.95%: failed); the 1% error rate's interval [0.5%, 1.8%] straddles
    # its limit, and so does p99's [4 ms, 200 ms] (inconclusive).
    assert statuses == {
        "p95_ms": "passed",
        "p99_ms": "inconclusive",
        "mean_ms": "passed",
        "db_ms_p95": "passed",
        "success_rate": "failed",
        "sla_compliance": "passed",
        "error_rate": "inconclusive",
        "cache_hit_rate": "passed",
    }
    assert summary["endpoints"][0]["requests"] == 1000
    assert summary["errors"][0]["count"] == 10


def test_junit_counts_failures_and_skips_unmeasured():
    summary = summary_for(frame_of(np.full(1000, 70.0)))  # p95 over 50 ms; no DB time, no cache header
    root = ET.fromstring(render_junit(summary))
    cases = root.findall(".//testcase")
    assert len(cases) == 8
    failed = sorted(c.get("name") for c in cases if c.find("failure") is not None)
    skipped = sorted(c.get("name") for c in cases if c.find("skipped") is not None)
    assert failed == ["mean_ms", "p95_ms", "sla_compliance"]
    assert skipped == ["cache_hit_rate", "db_ms_p95", "success_rate"]  # not measured, not measured, inconclusive
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("8", "3", "3")


def test_junit_escapes_and_reports_no_data_as_an_error():
    summary = summary_for(frame_of(np.array([])))
    summary["profile"] = 'a"<b>&'
    root = ET.fromstring(render_junit(summary))
    assert root.get("name") == 'trademate-sla a"<b>&'
    assert root.find(".//error").get("type") == "NoData"


def test_console_table_shows_targets_results_and_the_exit_code_last():
    summary = summary_for(frame_of(np.full(1000, 70.0)))
    text = render_console(summary)
    assert "p95                    70.00 ms     < 50.00 ms  FAIL" in text
    assert "cache hit rate              n/a     >= 95.000%  not measured" in text
    assert text.splitlines()[-1] == "SLA breached (exit 1)"


def test_console_for_a_pass():
    n = 20_000
    frame = frame_of(np.full(n, 2.0), cache=["hit"] * n, db=np.full(n, 0.1))
    assert render_console(summary_for(frame)).splitlines()[-1] == "Every SLA met (exit 0)"


def test_console_for_an_inconclusive_run():
    text = render_console(summary_for(frame_of(np.full(500, 2.0))))
    assert "success rate           100.000%     >= 99.950%  inconclusive" in text
    assert text.splitlines()[-1] == "SLA inconclusive: too few samples to decide (exit 0)"


def test_junit_inconclusive_is_skipped_unless_strict():
    summary = summary_for(frame_of(np.full(500, 2.0)))
    case = next(c for c in ET.fromstring(render_junit(summary)).iter("testcase") if c.get("name") == "success_rate")
    assert case.find("skipped") is not None
    summary["strict"] = True
    case = next(c for c in ET.fromstring(render_junit(summary)).iter("testcase") if c.get("name") == "success_rate")
    assert case.find("failure").get("type") == "SLAInconclusive"
