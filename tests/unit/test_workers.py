"""The worker roster and the lost-worker rule, on plain values (the real distributed runs: tests/integration)."""

from __future__ import annotations

import pytest

from trademate_load import workers
from trademate_load.report.console import render_console, render_workers, verdict_line
from trademate_load.report.junit import render_junit
from trademate_load.workers import Roster

T0 = 1_700_000_000.0


def test_roster_counts_shipments_and_follows_connections():
    roster = Roster()
    roster.reported("a", 100, 11, T0 + 3)
    roster.reported("b", 90, 12, T0 + 3)
    roster.reported("a", 0, 11, T0 + 6)  # a report without samples does not move the last shipment
    assert roster.observe({"a": "running", "b": "running"}, T0 + 6, test_stopped=False) == []
    lost = roster.observe({"a": "running", "b": "missing"}, T0 + 7, test_stopped=False)
    assert [r.id for r in lost] == ["b"]
    assert roster.observe({"a": "running", "b": "missing"}, T0 + 8, test_stopped=False) == []  # noted once
    assert roster.observe({"a": "running"}, T0 + 70, test_stopped=False) == []  # Locust drops it later: still lost
    roster.observe({}, T0 + 80, test_stopped=True)
    a, b = roster.as_list(T0)
    assert (a["state"], a["pid"], a["samples"], a["reports"], a["lost_at"]) == ("finished", 11, 100, 2, None)
    assert a["last_shipment_at"] == "2023-11-14T22:13:23.000+00:00"
    assert (b["state"], b["samples"], b["lost_after_s"]) == ("missing", 90, 7.0)


def test_a_worker_that_leaves_before_the_test_stops_quit_and_one_that_answers_again_runs():
    roster = Roster()
    roster.observe({"a": "running", "b": "missing"}, T0 + 1, test_stopped=False)
    assert [r.id for r in roster.observe({"b": "missing"}, T0 + 2, test_stopped=False)] == ["a"]
    roster.observe({"b": "running"}, T0 + 3, test_stopped=False)
    states = {w["id"]: (w["state"], w["lost_after_s"]) for w in roster.as_list(T0)}
    assert states == {"a": ("quit", 2.0), "b": ("running", 1.0)}


def test_a_worker_without_a_final_report_is_given_up():
    roster = Roster()
    roster.reported("a", 5, 11, T0 + 3)
    roster.give_up(["a"], T0 + 20)
    assert roster.as_list(T0)[0]["state"] == "missing" and roster.as_list(T0)[0]["lost_after_s"] == 20.0


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
    summary = workers.apply(_summary(verdict, code), [LOST, FINE])
    assert (summary["verdict"], summary["exit_code"]) == expected
    assert "lost worker w1 (pid 7) missing at 2026-01-01T00:00:08.000+00:00, 8 s into the run" in summary["reason"]
    assert "64 samples kept (up to its last shipment at 2026-01-01T00:00:03.000+00:00)" in summary["reason"]
    assert summary["workers"] == [LOST, FINE]


def test_workers_that_all_finished_change_nothing():
    assert workers.apply(_summary("pass", 0), [FINE]) == {**_summary("pass", 0), "workers": [FINE]}


def test_console_and_junit_name_the_lost_worker():
    lines = render_workers([LOST, FINE])
    assert lines[1] == "Workers (2):" and lines[2].startswith("  WARNING: lost worker w1 (pid 7) missing")
    assert lines[3] == "  w2 (pid 7): finished, 64 samples"
    assert verdict_line(3, "incomplete") == "Run incomplete: a load worker was lost (exit 3)"
    summary = {
        **workers.apply(_summary("pass", 0), [LOST]),
        "profile": "smoke",
        "host": "http://x",
        "duration_s": 1.0,
        "tiers": {},
    }
    assert "WARNING: lost worker w1" in render_console(summary)
    assert 'type="WorkerLost"' in render_junit(summary)
