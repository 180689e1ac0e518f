"""The scalability analysis of stepped runs, on synthetic frames whose steps have known rates and latencies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import T0, frame_of
from trademate_load import rundir, scalability
from trademate_load.profile import load_profile

STEP_S = 20.0
PREMIUM_USERS = (13, 25, 38, 50, 63)  # 26% .. 126% of 50 users at 10 req/s each


def stepped_run(stages_users=PREMIUM_USERS, *, warmup_s: float = 0.0, ended_after: float | None = None) -> dict:
    """run.json of a premium-only stepped run: 50 users at 500 req/s, one stage per user count."""
    stages = [{"duration_s": STEP_S, "users": {"premium": users}} for users in stages_users]
    total = STEP_S * len(stages)
    return {
        "run_id": "r-steps",
        "profile": "scalability",
        "host": "http://127.0.0.1:1",
        "started_at": "2027-01-15T08:00:00+00:00",
        "ended_at": "2027-01-15T08:01:40+00:00",
        "started_ts": T0,
        "ended_ts": T0 + (ended_after if ended_after is not None else total),
        "warmup_s": warmup_s,
        "latency_basis": "service",
        "settings": {
            "tiers": {"premium": {"users": 50, "rps": 500.0, "plans": {"ELITE": 1}}},
            "stages": stages,
            "strict": False,
        },
        "sla": {"premium": {"p95_ms": 50.0, "p99_ms": 100.0}},
        "sla_endpoints": {},
    }


def stepped_frame(rates, p95s) -> pd.DataFrame:
    """Per step: requests evenly spaced at rates[i] req/s; 2% at 2 x p95s[i] ms, 10% at p95s[i], the rest 1 ms.

    So the exact p95 of any stretch of a step is p95s[i], and its p99 twice that.
    """
    parts = []
    for i, (rate, slow) in enumerate(zip(rates, p95s, strict=True)):
        index = np.arange(round(rate * STEP_S))
        latency = np.where(index % 50 == 49, slow * 2, np.where(index % 10 == 8, slow, 1.0))
        parts.append(frame_of(latency, start=T0 + i * STEP_S, duration=STEP_S))
    return pd.concat(parts, ignore_index=True)


def offered(users) -> list[float]:
    return [u * 10.0 for u in users]


def test_no_section_without_two_stages():
    frame = stepped_frame([100.0], [2.0])
    assert scalability.analyze(frame, stepped_run((13,))) is None
    assert scalability.analyze(frame, {**stepped_run(), "settings": {"tiers": {}, "stages": []}}) is None


def test_linear_throughput_and_a_latency_bend_at_the_last_step():
    rates = [*offered(PREMIUM_USERS)[:4], 500.0]  # saturates at the target: 500 of 630 req/s at 126%
    frame = stepped_frame(rates, [2.0, 2.0, 2.5, 2.9, 9.0])
    section = scalability.analyze(frame, stepped_run())
    premium = section["tiers"]["premium"]
    steps = premium["steps"]
    assert [s["users"] for s in steps] == list(PREMIUM_USERS)
    assert [s["offered_rps"] for s in steps] == offered(PREMIUM_USERS)
    assert [s["load_pct"] for s in steps] == [26.0, 50.0, 76.0, 100.0, 126.0]
    for step, rate in zip(steps, rates, strict=True):
        assert step["achieved_rps"] == pytest.approx(rate, rel=0.01)
        assert step["requests"] == pytest.approx(rate * (STEP_S - scalability.SETTLE_S), abs=1)
    assert steps[4]["ratio"] == pytest.approx(500 / 630, rel=0.01)
    assert [s["latency_ms"]["p95"] for s in steps] == [2.0, 2.0, 2.5, 2.9, 9.0]
    assert [s["latency_ms"]["p99"] for s in steps] == [4.0, 4.0, 5.0, 5.8, 18.0]
    assert premium["linear"] is True and premium["shortfall_step"] is None
    assert premium["bend_step"] == 5
    assert premium["throughput"].startswith("throughput stayed linear up to the target")
    assert premium["latency"].startswith("latency bends at step 5 (126% of target")
    assert "p95 9.00 ms against 2.00 ms at step 1" in premium["latency"]
    assert section["steps"][1]["window_s"] == [STEP_S + scalability.SETTLE_S, 2 * STEP_S]


def test_percentiles_are_exact_over_the_step_window():
    rng = np.random.default_rng(4)
    frame = stepped_frame(offered(PREMIUM_USERS), [2.0] * 5)
    frame["latency_ms"] = rng.lognormal(1.0, 0.7, len(frame))
    step = scalability.analyze(frame, stepped_run())["tiers"]["premium"]["steps"][2]
    begin, end = T0 + 2 * STEP_S + scalability.SETTLE_S, T0 + 3 * STEP_S
    window = frame[(frame["ts"] >= begin) & (frame["ts"] < end)]["latency_ms"].to_numpy()
    expected = np.percentile(window, [50, 95, 99], method="inverted_cdf").round(3).tolist()
    assert [step["latency_ms"][k] for k in ("p50", "p95", "p99")] == expected
    assert step["requests"] == len(window)


def test_throughput_falling_behind_below_the_target_is_not_linear():
    rates = offered(PREMIUM_USERS)
    rates[2] *= 0.8  # 76% step: only 80% of its offered load went out
    section = scalability.analyze(stepped_frame(rates, [2.0] * 5), stepped_run())
    premium = section["tiers"]["premium"]
    assert premium["linear"] is False and premium["shortfall_step"] == 3
    assert premium["throughput"].startswith("throughput fell behind at step 3 (76% of target): 304.0 of 380.0")
    assert premium["bend_step"] is None
    assert premium["latency"] == "no bend observed: p95 stayed within 1.5x of 2.00 ms at step 1"


def test_a_shortfall_above_the_target_keeps_throughput_linear():
    rates = offered(PREMIUM_USERS)
    rates[4] = 400.0
    premium = scalability.analyze(stepped_frame(rates, [2.0] * 5), stepped_run())["tiers"]["premium"]
    assert premium["linear"] is True and premium["steps"][4]["ratio"] == pytest.approx(400 / 630, rel=0.01)


def test_warmup_and_a_short_run_shrink_or_drop_step_windows():
    frame = stepped_frame(offered(PREMIUM_USERS), [2.0] * 5)
    section = scalability.analyze(frame, stepped_run(warmup_s=5.0, ended_after=2.5 * STEP_S))
    assert [s["window_s"] for s in section["steps"]] == [[5.0, 20.0], [22.0, 40.0], [42.0, 50.0], None, None]
    steps = section["tiers"]["premium"]["steps"]
    assert steps[2]["achieved_rps"] == pytest.approx(380.0, rel=0.01)
    assert steps[3]["achieved_rps"] is None and steps[3]["ratio"] is None
    assert steps[3]["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert section["tiers"]["premium"]["linear"] is True  # judged on the three steps that ran


def test_a_tier_left_out_of_every_stage_is_not_analysed():
    run = stepped_run()
    run["settings"]["tiers"]["shared"] = {"users": 100, "rps": 1000.0, "plans": {"LITE": 1}}
    section = scalability.analyze(stepped_frame(offered(PREMIUM_USERS), [2.0] * 5), run)
    assert list(section["tiers"]) == ["premium"]


def test_summary_carries_the_section_only_for_stepped_runs():
    frame = stepped_frame(offered(PREMIUM_USERS), [2.0] * 5)
    run = stepped_run()
    run["sla"]["premium"].update(success_rate=0.999)
    assert rundir.judge(frame, run)["scalability"]["tiers"]["premium"]["linear"] is True
    run["settings"]["stages"] = []
    assert rundir.judge(frame, run)["scalability"] is None


def test_the_scalability_profile_steps_each_tier_from_25_to_125_percent():
    profile = load_profile("scalability")
    assert len(profile.stages) == 5
    assert sum(stage.duration_s for stage in profile.stages) == pytest.approx(profile.run_time_s)
    assert len({stage.duration_s for stage in profile.stages}) == 1
    for tier, load in profile.tiers.items():
        shares = [stage.users[tier] / load.users for stage in profile.stages]
        assert shares == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25], abs=0.02)
    assert profile.warmup_s < profile.stages[0].duration_s / 2
