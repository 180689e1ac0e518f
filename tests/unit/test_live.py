"""The live figures (trademate_load.live, live_scope) on synthetic samples: the run so far and the window equal
sla.evaluate's figures, the run so far starts after warm-up, checks are point flags, and the live uptime equals the
verdict's at the end."""

from __future__ import annotations

import numpy as np
import pytest

from tests.live_data import (
    LOADS,
    SECONDS,
    SLA,
    WARMUP,
    WINDOW,
    append_rows,
    feed,
    live_run,
    stalled_premium,
    two_tier_frame,
)
from tests.synthetic import T0, frame_of
from trademate_load.live import LiveBoard
from trademate_load.record import SampleBuffer
from trademate_load.sla import evaluate
from trademate_load.sla_figures import Window
from trademate_load.sla_spec import Sla, TierSla


@pytest.mark.parametrize("basis", ["corrected", "service"])
def test_run_so_far_and_window_figures_equal_sla_evaluate(basis):
    frame = two_tier_frame()
    snapshot = feed(frame, live_run(basis)).snapshot
    assert snapshot["state"] == "stopped"
    end = T0 + SECONDS
    for scope, window in (("run", Window(T0 + WARMUP, end)), ("window", Window(end - WINDOW, end))):
        verdict = evaluate(frame, LOADS, SLA, window, basis)
        for tier, expected in verdict.tiers.items():
            live = snapshot["tiers"][tier][scope]
            assert live["requests"] == expected.requests > 0
            assert live["failures"] == expected.failures > 0
            assert live["rps"] == pytest.approx(expected.rps)
            assert live["success_rate"] == pytest.approx(expected.success_rate)
            assert live["sla_compliance"] == pytest.approx(expected.sla_compliance)
            assert live["error_budget"] == pytest.approx(expected.error_budget)
            # The run so far keeps latencies to the microsecond; the window keeps them raw.
            tolerance = 0.0005 if scope == "run" else 1e-12
            for stat in ("mean", "p50", "p95", "p99", "max"):
                assert live["latency_ms"][stat] == pytest.approx(expected.latency_ms[stat], abs=tolerance), stat
            checks = {c["name"]: c for c in live["checks"]}
            for check in expected.checks:
                if check.name in checks:
                    assert checks[check.name]["actual"] == pytest.approx(check.actual, abs=tolerance)


def test_the_run_so_far_starts_after_warm_up_and_the_window_is_recent():
    frame = two_tier_frame()
    run = live_run()
    board = LiveBoard(SampleBuffer())
    board.start(run)
    append_rows(board.tail.buffer, frame[frame["ts"] < T0 + WARMUP])
    board.poll()
    early = run.update(T0 + WARMUP)
    assert early["tiers"]["premium"]["run"]["requests"] == 0
    assert early["tiers"]["premium"]["run"]["rps"] is None  # nothing measured yet: not a failing 0 req/s
    assert early["tiers"]["premium"]["window"]["requests"] > 0


def test_checks_are_point_flags_against_the_sla():
    slow = frame_of(np.full(2000, 70.0), duration=SECONDS)  # premium p95 70 ms against 50 ms
    snapshot = feed(slow, live_run()).snapshot
    window = {c["name"]: c for c in snapshot["tiers"]["premium"]["window"]["checks"]}
    assert window["p95_ms"]["passed"] is False and window["p95_ms"]["actual"] == 70.0
    assert window["p99_ms"]["passed"] is True
    assert window["sla_compliance"]["passed"] is False and window["sla_compliance"]["actual"] == 0.0
    assert window["rps"]["passed"] is True  # 50 req/s against 50
    assert window["error_budget"]["passed"] is True
    shared = {c["name"]: c for c in snapshot["tiers"]["shared"]["window"]["checks"]}
    assert shared["rps"]["actual"] == 0.0 and shared["rps"]["passed"] is False  # no shared traffic at all
    assert "p95_ms" not in shared or shared["p95_ms"]["actual"] is None


def test_live_uptime_equals_the_verdicts_at_the_end():
    frame = stalled_premium()
    sla = Sla(tiers={t: TierSla(p95_ms=50, uptime=0.999, window=5.0) for t in LOADS})
    snapshot = feed(frame, live_run(sla=sla)).snapshot
    verdict = evaluate(frame, LOADS, sla, Window(T0 + WARMUP, T0 + SECONDS), "corrected")
    for tier in LOADS:
        live, expected = snapshot["tiers"][tier]["uptime"], verdict.tiers[tier].uptime
        assert live["timeline"] == "".join({"up": "U", "down": "D"}.get(w.state, "-") for w in expected.windows)
        assert live["ratio"] == pytest.approx(expected.ratio)
    assert snapshot["tiers"]["premium"]["uptime"]["timeline"] == "UDUUUUUU"
    assert snapshot["tiers"]["shared"]["uptime"]["timeline"] == "UUUUUUUU"


def test_rows_read_after_the_stop_began_count_only_up_to_it():
    """A worker keeps sending until it hears of the stop: what it sent after the run's end reaches the master later,
    and counts no more in the live figures than in the summary's window."""
    frame = two_tier_frame()
    end = T0 + SECONDS - 2.0
    buffer = SampleBuffer()
    board = LiveBoard(buffer)
    board.start(live_run())
    append_rows(buffer, frame[frame["ts"] <= end])
    board.poll()
    board.ends_at(end)
    append_rows(buffer, frame[frame["ts"] > end])  # the stragglers, read before the run's last figures
    board.poll()
    snapshot = board.finish(end)
    verdict = evaluate(frame, LOADS, SLA, Window(T0 + WARMUP, end), "corrected")
    for tier, expected in verdict.tiers.items():
        assert snapshot["tiers"][tier]["run"]["requests"] == expected.requests < (frame["tier"] == tier).sum()
