"""Uptime's window arithmetic against hand-computed cases, then the check in every report of a run with an outage."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.synthetic import T0, frame_of
from trademate_load.profile import TierLoad, load_profile
from trademate_load.report.console import render_console
from trademate_load.rundir import render_reports
from trademate_load.sla import evaluate
from trademate_load.sla_figures import Window
from trademate_load.sla_spec import Sla, TierSla
from trademate_load.uptime import (
    DOWN,
    ERROR_RATE,
    NO_ANSWER,
    P95,
    UNJUDGED,
    UP,
    Uptime,
    UptimeRule,
    tier_uptime,
    window_edges,
)

RULE = UptimeRule(window_s=5.0, p95_ms=50.0, error_rate=0.01)  # judged from 101 requests


def requests(start: float, seconds: float, rate: float, latency: float = 2.0, **columns) -> dict:
    """``rate`` requests a second due from ``start`` for ``seconds``, all answered with ``latency`` ms."""
    n = round(seconds * rate)
    due = start + (np.arange(n) + 0.5) / rate
    data = {"intended_ts": due, "latency_ms": np.full(n, latency), "ok": np.ones(n, bool), "status": np.full(n, 200)}
    return data | {k: np.asarray(v) for k, v in columns.items()}


def joined(*parts: dict) -> dict:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def uptime_of(rows: dict, start: float = T0, end: float = T0 + 20.0, rule: UptimeRule = RULE, **kwargs) -> Uptime:
    return tier_uptime(rows["intended_ts"], rows["latency_ms"], rows["ok"], rows["status"], start, end, rule, **kwargs)


def states(uptime: Uptime) -> list[str]:
    return [window.state for window in uptime.windows]


@pytest.mark.parametrize(
    ("error_rate", "needed"), [(0.01, 101), (0.02, 51), (0.001, 1001), (0.1, 20), (None, 20), (0.0, 20)]
)
def test_a_window_needs_more_requests_than_one_failure_can_breach_and_at_least_twenty(error_rate, needed):
    assert UptimeRule(5.0, 50.0, error_rate).min_requests == needed


def test_windows_start_at_the_sla_window_and_the_last_is_shorter():
    assert window_edges(T0, T0 + 12.0, 5.0).tolist() == [T0, T0 + 5, T0 + 10, T0 + 12]
    assert window_edges(T0, T0 + 10.0, 5.0).tolist() == [T0, T0 + 5, T0 + 10]  # a whole number: no sliver
    assert window_edges(T0, T0 + 3.0, 5.0).tolist() == [T0, T0 + 3]


def test_a_healthy_tier_is_up_in_every_window():
    uptime = uptime_of(requests(T0, 20, 50))
    assert states(uptime) == [UP] * 4 and uptime.ratio == 1.0 and uptime.stretches() == []
    assert [w.due for w in uptime.windows] == [250] * 4


def test_the_p95_of_a_window_breaches_once_more_than_five_percent_is_slow():
    # 200 requests in each window; window 2 has 10 slow ones (5%: its p95 is still fast), window 3 has 11.
    fast = requests(T0, 20, 40)
    slow = fast["latency_ms"].copy()
    slow[(fast["intended_ts"] >= T0 + 5) & (fast["intended_ts"] < T0 + 5.25)] = 80.0  # 10 of window 2
    slow[(fast["intended_ts"] >= T0 + 10) & (fast["intended_ts"] < T0 + 10.275)] = 80.0  # 11 of window 3
    uptime = uptime_of({**fast, "latency_ms": slow})
    assert states(uptime) == [UP, UP, DOWN, UP]
    assert uptime.windows[1].p95_ms == 2.0 and uptime.windows[2].p95_ms == 80.0
    assert uptime.windows[2].causes == (P95,)
    assert uptime.ratio == 15 / 20


def test_the_error_rate_counts_failures_and_dropped_arrivals_over_those_due():
    rows = requests(T0, 20, 40)
    ok = rows["ok"].copy()
    ok[:2] = False  # window 1: 2 of 200 failed, exactly the 1% limit: down
    uptime = uptime_of({**rows, "ok": ok})
    assert states(uptime) == [DOWN, UP, UP, UP] and uptime.windows[0].causes == (ERROR_RATE,)
    assert uptime.windows[0].error_rate == 0.01
    # one failure in 200 (0.5%) is up; two dropped arrivals in the same window bring it to 1.49%: down
    ok[1] = True
    assert states(uptime_of({**rows, "ok": ok})) == [UP] * 4
    dropped = [[int(T0) + 1, 2]]  # the second whose middle is T0 + 1.5 s
    uptime = uptime_of({**rows, "ok": ok}, dropped=dropped)
    assert states(uptime) == [DOWN, UP, UP, UP] and uptime.windows[0].due == 202


def test_a_window_where_nothing_due_was_answered_is_down_however_few_were_sent():
    rows = requests(T0, 20, 40)
    status = rows["status"].copy()
    ok = rows["ok"].copy()
    window_3 = (rows["intended_ts"] >= T0 + 10) & (rows["intended_ts"] < T0 + 15)
    status[window_3], ok[window_3] = 0, False  # refused or timed out: no answer at all
    uptime = uptime_of({**rows, "status": status, "ok": ok})
    assert states(uptime) == [UP, UP, DOWN, UP] and uptime.windows[2].causes == (NO_ANSWER,)
    assert uptime.stretches()[0].cause == "no answer (200 requests due, none answered)"


def test_an_empty_window_is_down_when_the_profile_scheduled_requests_in_it_and_not_judged_otherwise():
    rows = joined(requests(T0, 10, 40), requests(T0 + 15, 5, 40))  # nothing due 10-15 s
    assert states(uptime_of(rows)) == [UP, UP, UNJUDGED, UP]
    scheduled = uptime_of(rows, scheduled=lambda start, end: 40 * (end - start))
    assert states(scheduled) == [UP, UP, DOWN, UP]
    assert scheduled.stretches()[0].cause == "no answer (nothing sent)"
    idle = uptime_of(rows, scheduled=lambda start, end: 0.0)  # a stage without users of this tier
    assert states(idle) == [UP, UP, UNJUDGED, UP]


def test_a_window_with_too_few_requests_is_not_judged_and_not_counted():
    rows = joined(requests(T0, 5, 40), requests(T0 + 5, 5, 20, latency=80.0))  # 100 slow requests: too few
    uptime = uptime_of(rows, end=T0 + 10)
    assert states(uptime) == [UP, UNJUDGED]
    assert uptime.ratio == 1.0 and uptime.seconds(UNJUDGED) == 5.0
    assert uptime_of(requests(T0, 5, 10)).ratio is None  # nothing judged: no ratio at all


def test_the_last_partial_window_is_judged_like_the_others_and_counts_for_its_length():
    rows = joined(requests(T0, 10, 40), requests(T0 + 10, 2.6, 40, latency=80.0))  # 104 slow ones, 10-12.6 s
    uptime = uptime_of(rows, end=T0 + 12.6)
    assert states(uptime) == [UP, UP, DOWN]
    assert uptime.windows[2].duration_s == pytest.approx(2.6)
    assert uptime.ratio == pytest.approx(10 / 12.6)
    assert states(uptime_of(rows, end=T0 + 12.4)) == [UP, UP, UNJUDGED]  # 96 due by 12.4 s: too few


def test_requests_count_in_the_window_they_were_due_and_edges_belong_to_the_later_window():
    on_edge = {"intended_ts": np.array([T0 + 5.0]), "latency_ms": np.array([1.0]), "ok": np.array([True])}
    uptime = uptime_of({**on_edge, "status": np.array([200])}, rule=UptimeRule(5.0, 50.0, None))
    assert [w.due for w in uptime.windows] == [0, 1, 0, 0]
    at_end = {**on_edge, "intended_ts": np.array([T0 + 20.0]), "status": np.array([200])}
    assert [w.due for w in uptime_of(at_end, rule=UptimeRule(5.0, 50.0, None)).windows] == [0, 0, 0, 1]


def test_warm_up_is_excluded_whatever_happened_in_it():
    warm_up = requests(T0 - 10, 10, 40, latency=900.0, ok=np.zeros(400, bool), status=np.zeros(400, int))
    uptime = uptime_of(joined(warm_up, requests(T0, 20, 40)))
    assert states(uptime) == [UP] * 4 and sum(w.due for w in uptime.windows) == 800


def test_adjacent_down_windows_form_one_stretch_with_their_worst_figures():
    rows = requests(T0, 20, 40)
    latency, ok = rows["latency_ms"].copy(), rows["ok"].copy()
    latency[(rows["intended_ts"] >= T0 + 5) & (rows["intended_ts"] < T0 + 10)] = 120.0
    latency[(rows["intended_ts"] >= T0 + 10) & (rows["intended_ts"] < T0 + 15)] = 300.0
    ok[(rows["intended_ts"] >= T0 + 10) & (rows["intended_ts"] < T0 + 11)] = False  # 40 of 200: 20%
    (stretch,) = uptime_of({**rows, "latency_ms": latency, "ok": ok}).stretches()
    assert (stretch.start_ts, stretch.end_ts, stretch.windows) == (T0 + 5, T0 + 15, 2)
    assert stretch.cause == "p95 300.0 ms (limit < 50 ms); error rate 20.00% (limit < 1%)"


def stalled_frame(stall_at: float, seconds: float = 20.0):
    """Premium at 500 req/s answering in 2 ms, except a 0.9 s stall at ``stall_at`` s: the requests due in it were
    sent late (their service time stays 2 ms; their corrected latency runs to the stall's end)."""
    n = int(500 * seconds)
    intended = np.arange(n) / 500
    in_stall = (intended >= stall_at) & (intended < stall_at + 0.9)
    late = np.where(in_stall, stall_at + 0.9 - intended, 0.0)
    return frame_of(np.full(n, 2.0), duration=seconds, late_s=late)


@pytest.mark.parametrize(("basis", "expected"), [("corrected", "UDUU"), ("service", "UUUU")])
def test_the_verdicts_latency_basis_decides_whether_a_stall_is_down(basis, expected):
    frame = stalled_frame(7.0)
    sla = Sla(tiers={"premium": TierSla(p95_ms=50, error_rate=0.01, uptime=0.999, window=5.0)})
    loads = {"premium": TierLoad(users=50, rps=500, plans={"ELITE": 1})}
    verdict = evaluate(frame, loads, sla, Window(T0, T0 + 20), basis)
    result = verdict.tiers["premium"]
    timeline = "".join({"up": "U", "down": "D"}[w.state] for w in result.uptime.windows)
    assert timeline == expected
    (check,) = result.checks[-1:]
    assert check.name == "uptime" and check.interval is None  # judged on its point value
    assert check.status == ("failed" if basis == "corrected" else "passed")


@pytest.mark.parametrize("stall_at", [7.0, 9.55, 12.0])  # inside a window, or split evenly across an edge
def test_a_stall_of_0_9_s_is_caught_wherever_it_falls_in_5_s_windows(stall_at):
    frame = stalled_frame(stall_at)
    sla = load_profile("premium").sla
    loads = {"premium": TierLoad(users=50, rps=500, plans={"ELITE": 1})}
    result = evaluate(frame, loads, sla, Window(T0, T0 + 20), "corrected").tiers["premium"]
    assert result.uptime.seconds(DOWN) >= 5.0 and result.figure("uptime") < 0.999
    assert result.latency_ms["p95"] < 50  # the whole run's p95 does not see it


def test_every_report_names_the_down_window_with_its_start_and_cause(tmp_path):
    profile = load_profile("premium")
    frame = stalled_frame(7.0)
    run = {
        "run_id": "r",
        "profile": "premium",
        "host": "http://127.0.0.1:1",
        "started_at": "2027-01-15T08:00:00+00:00",
        "ended_at": "2027-01-15T08:00:20+00:00",
        "started_ts": T0,
        "ended_ts": T0 + 20,
        "warmup_s": 0.0,
        "latency_basis": "corrected",
        "settings": profile.settings(),
        "sla": {tier: vars(limits) for tier, limits in profile.sla.tiers.items()},
        "sla_endpoints": {},
    }
    summary = render_reports(tmp_path, frame, run)
    uptime = summary["tiers"]["premium"]["uptime"]
    assert summary["exit_code"] == 1 and "premium.uptime" in summary["reason"]
    assert uptime["ratio"] == 0.75 and uptime["window_s"] == 5.0 and uptime["timeline"] == "UDUU"
    (down,) = uptime["down"]
    assert (down["start_s"], down["end_s"]) == (5.0, 10.0)
    assert down["start"] == "2027-01-15T08:00:05.000+00:00" and down["cause"].startswith("p95 ")
    assert json.loads((tmp_path / "summary.json").read_text())["tiers"]["premium"]["uptime"] == uptime
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    (case,) = junit.findall("./testsuite[@name='sla.premium']/testcase[@name='uptime']")
    message = case.find("failure").get("message")
    assert "uptime = 0.75, required >= 0.999; down 5.0-10.0 s after the start (2027-01-15T08:00:05" in message
    console = render_console(summary)
    assert "DOWN 5.0-10.0 s after the start (2027-01-15T08:00:05.000+00:00 to " in console
    html = (tmp_path / "index.html").read_text()
    assert '<tr class="down"><td>2027-01-15T08:00:05.000+00:00</td>' in html
    assert down["cause"].replace("<", "&lt;") in html
