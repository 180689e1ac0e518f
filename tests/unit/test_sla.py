"""The SLA engine against answers computed independently (numpy, by hand) on synthetic samples."""

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import LOADS, PREMIUM, SLA, T0, frame_of
from trademate_load.profile import TierLoad
from trademate_load.sla import evaluate
from trademate_load.sla_figures import Window
from trademate_load.sla_spec import Sla
from trademate_load.verdict import EXIT_BREACH, EXIT_NO_DATA, EXIT_PASS


def check(verdict, tier, name):
    return next(c for c in verdict.tiers[tier].checks if c.name == name)


def test_percentiles_are_exact_nearest_rank_against_numpy():
    rng = np.random.default_rng(7)
    latency = rng.lognormal(mean=1.5, sigma=0.6, size=20_011)
    verdict = evaluate(frame_of(latency), LOADS, SLA, Window(T0, T0 + 10), "service")
    figures = verdict.tiers["premium"].latency_ms
    for p in (50, 95, 99):
        assert figures[f"p{p}"] == np.percentile(latency, p, method="inverted_cdf")
        # nearest rank by hand: the ceil(p/100*n)-th smallest sample
        assert figures[f"p{p}"] == np.sort(latency)[int(np.ceil(p / 100 * len(latency))) - 1]
    assert figures["mean"] == pytest.approx(latency.mean())
    assert figures["max"] == latency.max()


def test_hand_computed_figures_and_checks():
    # 1000 requests over 10 s: 940 fast, 50 at 60 ms (over the 50 ms p95), 10 failed fast.
    latency = np.r_[np.full(940, 5.0), np.full(50, 60.0), np.full(10, 2.0)]
    ok = np.r_[np.ones(990, bool), np.zeros(10, bool)]
    cache = ["hit"] * 900 + ["miss"] * 50 + [None] * 50
    db = np.r_[np.full(500, 1.0), np.full(500, np.nan)]
    verdict = evaluate(frame_of(latency, ok=ok, cache=cache, db=db), LOADS, SLA, Window(T0, T0 + 10), "service")
    tier = verdict.tiers["premium"]
    assert tier.requests == 1000 and tier.failures == 10
    assert tier.rps == pytest.approx(100.0)
    assert tier.success_rate == pytest.approx(0.99)
    assert tier.sla_compliance == pytest.approx(0.94)  # 940 succeeded under 50 ms
    assert tier.cache_hit_rate == pytest.approx(900 / 950)
    assert tier.db_ms_p95 == 1.0
    assert tier.latency_ms["p95"] == 5.0  # the 950th smallest of 1000: 10 at 2 ms, then 940 at 5 ms
    assert tier.latency_ms["p99"] == 60.0
    assert tier.error_budget == {
        "allowed": pytest.approx(0.5),
        "failures": 10,
        "burned": pytest.approx(20.0),
        "left": 0.0,
    }
    # The point p95 (5 ms) is under 50 ms, but 950 of 1000 is too close to the edge: its interval reaches 60 ms.
    assert check(verdict, "premium", "p95_ms").interval == (5.0, 60.0)
    assert check(verdict, "premium", "p95_ms").status == "inconclusive"
    assert check(verdict, "premium", "success_rate").status == "failed"  # Wilson upper bound 0.9946 < 0.9995
    assert check(verdict, "premium", "error_rate").actual == pytest.approx(0.01)
    assert check(verdict, "premium", "error_rate").status == "inconclusive"  # [0.0054, 0.0183] straddles 1%
    assert check(verdict, "premium", "sla_compliance").status == "inconclusive"  # [0.924, 0.953] straddles 95%
    assert check(verdict, "premium", "mean_ms").status == "passed"  # the mean is judged on its point value
    assert verdict.status == "fail" and verdict.exit_code == EXIT_BREACH
    assert verdict.errors == [
        {"tier": "premium", "endpoint": "GET /api/v1/portfolio", "status": 500, "error": "HTTPError: 500", "count": 10}
    ]


def test_healthy_run_passes_and_unreported_figures_are_not_measured():
    verdict = evaluate(frame_of(np.full(20_000, 3.0)), LOADS, SLA, Window(T0, T0 + 10), "corrected")
    assert verdict.status == "pass" and verdict.exit_code == EXIT_PASS
    assert check(verdict, "premium", "db_ms_p95").status == "not_measured"
    assert check(verdict, "premium", "db_ms_p95").passed is None
    assert check(verdict, "premium", "cache_hit_rate").status == "not_measured"


@pytest.mark.parametrize(("strict", "code"), [(False, EXIT_PASS), (True, EXIT_BREACH)])
def test_too_few_samples_is_inconclusive_and_fails_only_when_strict(strict, code):
    # 1000 flawless requests cannot show 99.95% success: Wilson's lower bound is 0.9962.
    verdict = evaluate(frame_of(np.full(1000, 3.0)), LOADS, SLA, Window(T0, T0 + 10), "service", strict=strict)
    assert check(verdict, "premium", "success_rate").status == "inconclusive"
    assert verdict.status == "inconclusive" and verdict.exit_code == code
    assert "premium.success_rate" in verdict.reason


def test_p99_from_50_samples_is_inconclusive():
    verdict = evaluate(frame_of(np.full(50, 3.0)), LOADS, SLA, Window(T0, T0 + 10), "service")
    p99 = check(verdict, "premium", "p99_ms")
    assert p99.actual == 3.0 and p99.interval[1] is None  # the sample cannot bound the 99th percentile from above
    assert p99.status == "inconclusive"


def test_corrected_latency_is_the_default_basis_and_counts_missed_schedule():
    # 2% of requests sent 2 s late: service time is fine, the corrected latency is not.
    n = 20_000
    latency = np.full(n, 4.0)
    late = np.r_[np.zeros(n - 400), np.full(400, 2.0)]
    frame = frame_of(latency, late_s=late)
    service = evaluate(frame, LOADS, SLA, Window(T0, T0 + 10), "service")
    corrected = evaluate(frame, LOADS, SLA, Window(T0, T0 + 10), "corrected")
    assert service.status == "pass"
    assert corrected.status == "fail"
    assert corrected.tiers["premium"].latency_ms["p99"] == pytest.approx(2004.0)
    assert corrected.tiers["premium"].service_latency_ms["p99"] == 4.0
    assert corrected.tiers["premium"].missed_schedule == 400  # later than one period (0.1 s)


def test_warmup_outside_the_window_is_excluded():
    warm = frame_of(np.full(100, 900.0), start=T0, duration=2)
    steady = frame_of(np.full(20_000, 3.0), start=T0 + 2, duration=8)
    frame = pd.concat([warm, steady], ignore_index=True)
    verdict = evaluate(frame, LOADS, SLA, Window(T0 + 2, T0 + 10), "service")
    assert verdict.tiers["premium"].requests == 20_000
    assert verdict.tiers["premium"].latency_ms["max"] == 3.0
    assert verdict.status == "pass"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (frame_of(np.array([])), "no samples in the SLA window"),
        (frame_of(np.full(50, 1.0), ok=np.zeros(50, bool), status=np.zeros(50, int)), "the target never answered"),
    ],
)
def test_nothing_measured_exits_3(frame, reason):
    verdict = evaluate(frame, LOADS, SLA, Window(T0, T0 + 10), "service")
    assert verdict.exit_code == EXIT_NO_DATA and verdict.status == "no_data"
    assert verdict.reason == reason


def test_a_tier_without_responses_cannot_pass():
    loads = {**LOADS, "shared": TierLoad(users=10, rps=100, plans={"LITE": 1})}
    verdict = evaluate(frame_of(np.full(100, 1.0)), loads, SLA, Window(T0, T0 + 10), "service")
    assert verdict.exit_code == EXIT_NO_DATA
    assert "shared" in verdict.reason


def test_endpoint_overrides_add_checks():
    sla = Sla(tiers={"premium": PREMIUM}, endpoints={"premium": {"GET /api/v1/portfolio": {"p95_ms": 2.0}}})
    verdict = evaluate(frame_of(np.full(1000, 3.0)), LOADS, sla, Window(T0, T0 + 10), "service")
    extra = [c for c in verdict.tiers["premium"].checks if c.endpoint]
    assert [(c.name, c.endpoint, c.status) for c in extra] == [("p95_ms", "GET /api/v1/portfolio", "failed")]
    assert verdict.exit_code == EXIT_BREACH
