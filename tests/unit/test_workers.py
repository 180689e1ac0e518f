"""The worker roster of a distributed run, on plain values (the real distributed runs: tests/integration)."""

from __future__ import annotations

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
