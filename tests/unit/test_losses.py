"""The lost-worker rule, and how the console and JUnit name a lost worker, on plain values."""

from __future__ import annotations

import pytest

from trademate_load import losses
from trademate_load.report.console import render_console, render_workers, verdict_line
from trademate_load.report.junit import render_junit


def _summary(verdict: str, exit_code: int) -> dict:
    return {"verdict": verdict, "exit_code": exit_code, "reason": "r"}


LOST = {
    "id": "w1",
    "pid": 7,
    "state": "missing",
    "samples": 64,
    "reports": 2,
    "last_shipment_at": "2026-01-01T00:00:03.000+00:00",
    "lost_at": "2026-01-01T00:00:08.000+00:00",
    "lost_after_s": 8.0,
}
FINE = {**LOST, "id": "w2", "state": "finished", "lost_at": None, "lost_after_s": None}


@pytest.mark.parametrize(
    ("verdict", "code", "expected"),
    [
        ("pass", 0, ("incomplete", 3)),
        ("inconclusive", 0, ("incomplete", 3)),
        ("inconclusive", 1, ("inconclusive", 1)),  # strict: already a failure
        ("fail", 1, ("fail", 1)),  # a breach under less load is still a breach
        ("no_data", 3, ("no_data", 3)),
    ],
)
def test_a_lost_worker_never_lets_a_run_pass(verdict, code, expected):
    summary = losses.apply(_summary(verdict, code), [LOST, FINE])
    assert (summary["verdict"], summary["exit_code"]) == expected
    assert "lost worker w1 (pid 7) missing at 2026-01-01T00:00:08.000+00:00, 8 s into the run" in summary["reason"]
    assert "64 samples kept (up to its last shipment at 2026-01-01T00:00:03.000+00:00)" in summary["reason"]
    assert summary["workers"] == [LOST, FINE]


def test_workers_that_all_finished_change_nothing():
    assert losses.apply(_summary("pass", 0), [FINE]) == {**_summary("pass", 0), "workers": [FINE]}


def test_console_and_junit_name_the_lost_worker():
    lines = render_workers([LOST, FINE])
    assert lines[1] == "Workers (2):" and lines[2].startswith("  WARNING: lost worker w1 (pid 7) missing")
    assert lines[3] == "  w2 (pid 7): finished, 64 samples"
    assert verdict_line(3, "incomplete") == "Run incomplete: a load worker was lost (exit 3)"
    summary = {
        **losses.apply(_summary("pass", 0), [LOST]),
        "profile": "smoke",
        "host": "http://x",
        "duration_s": 1.0,
        "tiers": {},
    }
    assert "WARNING: lost worker w1" in render_console(summary)
    assert 'type="WorkerLost"' in render_junit(summary)
