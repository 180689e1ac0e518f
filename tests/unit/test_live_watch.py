"""The early end (trademate_load.live_watch) on synthetic runs stepped second by second: abort_on_fail stops on a
decided failure and names tier, check and time, a fast run never aborts, an outage aborts on uptime,
stop_when_decided ends a settled run; and the profile's abort_on_fail, stop_when_decided, decision_alpha and
live_window settings parse or name the field at fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.live_data import (
    LOADS,
    SECONDS,
    WARMUP,
    live_run,
    run_steps,
    slow_after,
    stalled_premium,
    with_healthy_shared,
)
from tests.synthetic import T0, frame_of
from trademate_load.config import ConfigError
from trademate_load.live import LiveBoard
from trademate_load.profile import load_profile
from trademate_load.record import SampleBuffer
from trademate_load.sla_spec import Sla, TierSla
from trademate_load.webtab import FAIL_MARK, tab_rows


def test_abort_on_fail_stops_once_the_test_decides_the_p95_fails_and_names_tier_check_and_time():
    frame = slow_after(20.0)
    board = LiveBoard(SampleBuffer())
    board.start(live_run(abort_on_fail=("p95_ms",)))
    fired = run_steps(board, frame)
    assert len(fired) == 1
    ((second, record),) = fired.items()
    assert record["outcome"] == "fail" and record["by"] == "abort_on_fail"
    assert (record["tier"], record["check"]) == ("premium", "p95_ms")
    # 800 fast requests after warm-up, then 50 slow ones a second: decided within seconds of the slowdown
    # (samples reach the board a second late, and its figures end a settle second before now).
    assert 21 <= record["at_s"] <= 28 and record["at_s"] == second - 1
    assert record["tests"] == 2 and record["alpha"] == 0.05  # p95_ms of both tiers share the 5%
    assert record["evidence"] >= 2 / 0.05
    assert "premium p95_ms: " in record["reason"] and "since warm-up at or above 50 ms" in record["reason"]
    assert board.snapshot["aborted"] == record
    assert tab_rows(board.snapshot)[1]["figure"] == f"{FAIL_MARK} ABORTED by abort_on_fail.p95_ms"


def test_a_fast_run_never_aborts_and_warm_up_is_never_judged():
    frame = slow_after(SECONDS)
    frame.loc[frame["ts"] < T0 + WARMUP - 1, "latency_ms"] = 500.0  # a slow warm-up does not count
    frame["latency_co_ms"] = frame["latency_ms"]
    board = LiveBoard(SampleBuffer())
    board.start(live_run(abort_on_fail=("p95_ms", "success_rate", "mean_ms", "compliance")))
    assert run_steps(board, frame) == {}
    states = {d["check"]: d["state"] for d in board.snapshot["tiers"]["premium"]["decisions"]}
    assert states["p95_ms"] == "passed" and states["mean_ms"] == "holds"
    assert states["success_rate"] == "open"  # 1,800 requests cannot show 99.95%


def test_a_failure_rate_far_above_the_allowance_aborts_within_seconds_of_warm_up():
    frame = frame_of(np.full(2000, 5.0), ok=np.arange(2000) % 50 != 0, duration=SECONDS)  # 2% fail
    board = LiveBoard(SampleBuffer())
    board.start(live_run(abort_on_fail=("success_rate",)))
    (record,) = run_steps(board, frame).values()
    assert record["check"] == "success_rate" and record["at_s"] <= WARMUP + 5
    assert "premium success_rate: " in record["reason"] and "failed (2.0" in record["reason"]


def test_an_outage_longer_than_the_planned_run_allows_aborts_on_uptime():
    sla = Sla(tiers={t: TierSla(p95_ms=50, uptime=0.999, window=2.0) for t in LOADS})
    board = LiveBoard(SampleBuffer())
    board.start(live_run(sla=sla, abort_on_fail=("uptime",)))
    (record,) = run_steps(board, stalled_premium()).values()
    assert (record["tier"], record["check"]) == ("premium", "uptime") and record["evidence"] is None
    # the window 12-14 s is judged once its requests have had their 1 s timeout, a settle second later
    assert 15 <= record["at_s"] <= 17
    assert "premium uptime: down 2.0 s (12.0-14.0 s: p95 900.0 ms (limit < 50 ms))" in record["reason"]
    assert "more than the 0.04 s that 99.900% of the planned 36 s allows" in record["reason"]


def test_stop_when_decided_ends_a_healthy_run_once_every_check_is_settled():
    sla = Sla(tiers={t: TierSla(p95_ms=50, mean_ms=25, success_rate=0.95, uptime=0.99, window=5.0) for t in LOADS})
    rng = np.random.default_rng(5)
    frame = pd.concat(
        [frame_of(rng.lognormal(np.log(5.0), 0.3, 2000), tier=tier, duration=SECONDS) for tier in LOADS],
        ignore_index=True,
    ).sort_values("ts", kind="stable", ignore_index=True)
    board = LiveBoard(SampleBuffer())
    board.start(live_run(sla=sla, stop_when_decided=True))
    fired = run_steps(board, frame)
    _, record = min(fired.items())
    assert record["outcome"] == "pass" and record["by"] == "stop_when_decided" and record["tests"] == 6
    assert WARMUP < record["at_s"] < 20
    assert "every check settled: 4 passed its sequential test (alpha 0.05 over 6 tests), 4 hold" in record["reason"]
    assert board.snapshot["decided"] == record and board.snapshot["aborted"] is None


def test_stop_when_decided_ends_a_failing_run_as_an_abort():
    board = LiveBoard(SampleBuffer())
    board.start(live_run(stop_when_decided=True))
    _, record = min(run_steps(board, with_healthy_shared(slow_after(20.0))).items())
    assert record["outcome"] == "fail" and record["by"] == "stop_when_decided"
    assert record["tier"] == "premium" and record["check"] in ("p95_ms", "compliance")


SLA_TEXT = "tiers:\n  premium: {p95_ms: 50, success_rate: 0.999}\n"
PROFILE = "run_time: 30s\ntiers:\n  premium: {users: 1, rps: 10}\nsla: sla.yaml\n"


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("abort_on_fail: {p95: true}", "abort_on_fail.p95", "did you mean 'p95_ms'"),
        ("abort_on_fail: {p95_ms: 10s}", "abort_on_fail.p95_ms", "expected true or false, got '10s' (a check"),
        ("abort_on_fail: {p95_ms: [1]}", "abort_on_fail.p95_ms", "expected true or false"),
        (
            "abort_on_fail: {error_budget: true}",
            "abort_on_fail.error_budget",
            "retired: use abort_on_fail.success_rate",
        ),
        ("abort_on_fail: {p99_ms: true}", "abort_on_fail.p99_ms", "sets p99_ms: nothing to check"),
        ("abort_on_fail: [p95_ms]", "abort_on_fail", "expected a mapping"),
        ("stop_when_decided: yes please", "stop_when_decided", "expected true or false"),
        ("decision_alpha: 0.5", "decision_alpha", "below 0.5"),
        ("decision_alpha: 0", "decision_alpha", "greater than 0"),
        ("live_window: 0s", "live_window", "longer than 0 s"),
        ("live_window: soon", "live_window", "duration"),
    ],
)
def test_bad_abort_on_fail_and_live_window_name_file_and_field(tmp_path, extra, field, words):
    (tmp_path / "sla.yaml").write_text(SLA_TEXT)
    (tmp_path / "p.yaml").write_text(PROFILE + extra + "\n")
    with pytest.raises(ConfigError) as caught:
        load_profile(str(tmp_path / "p.yaml"))
    assert caught.value.field == field and caught.value.path == str(tmp_path / "p.yaml")
    assert words in str(caught.value)


def test_abort_on_fail_and_live_window_parse(tmp_path):
    (tmp_path / "sla.yaml").write_text(SLA_TEXT)
    extra = "live_window: 1m\nabort_on_fail: {success_rate: true, p95_ms: true, compliance: false}\n"
    (tmp_path / "p.yaml").write_text(PROFILE + extra + "stop_when_decided: true\ndecision_alpha: 0.01\n")
    profile = load_profile(str(tmp_path / "p.yaml"))
    assert profile.abort_on_fail == ("success_rate", "p95_ms")
    assert profile.live_window_s == 60.0 and profile.stop_when_decided and profile.decision_alpha == 0.01
    settings = profile.settings()
    assert settings["abort_on_fail"] == ["success_rate", "p95_ms"] and settings["stop_when_decided"] is True
    smoke = load_profile("smoke")
    assert smoke.abort_on_fail == () and smoke.live_window_s == 30.0 and not smoke.stop_when_decided
    assert smoke.decision_alpha == 0.05
