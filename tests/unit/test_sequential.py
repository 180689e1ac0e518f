"""The early decisions' tests: anytime-valid by construction, checked by simulating many runs looked at every second.

A test that truly holds must abort at most alpha of the runs, however often it is looked at; one that breaches by a
stated margin must be aborted; both numbers come from 1,000 simulated runs of request streams drawn from lognormal
latencies and independent failures (trademate_load.simulation), judged by the functions a live run uses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trademate_load.sequential import MeanEvidence, alternatives, share_log_evidence, threshold
from trademate_load.simulation import FAILING, PASSING, PREMIUM, Stream, breaches, simulate
from trademate_load.sla_spec import TierSla

RUNS, SECONDS, RATE = 1_000, 270, 100  # a premium run's judged 270 s, at a fifth of its rate


def test_the_mixture_on_counts_equals_the_betting_test_on_zero_one_observations():
    rng = np.random.default_rng(3)
    y = (rng.random(5_000) < 0.03).astype(float)
    bettor = MeanEvidence(0.05)
    bettor.add(y[:1_234])
    bettor.add(y[1_234:])
    against, _ = share_log_evidence(len(y), int(y.sum()), 0.05)
    assert float(bettor.log_evidence()) == pytest.approx(float(against), rel=1e-9)


def test_the_grid_brackets_the_limit_and_stays_inside_zero_and_one():
    above, below = alternatives(0.0005)
    assert above.min() == pytest.approx(0.0005 * 2**0.25) and above.max() < 1
    assert below.max() == pytest.approx(0.0005 / 2**0.25) and below.min() >= 0.0005 / 1024


@pytest.mark.parametrize(
    ("n", "k", "m", "against", "supporting"),
    [
        (10, 1, 0.0, math.inf, 0.0),  # nothing bad allowed: one bad request settles it, nothing shows it passes
        (10, 0, 0.0, 0.0, 0.0),
        (10, 0, 1.0, 0.0, math.inf),
    ],
)
def test_limits_of_nothing_and_everything_allowed(n, k, m, against, supporting):
    assert share_log_evidence(n, k, m) == (against, supporting)


def test_evidence_grows_with_bad_requests_and_the_threshold_with_the_tests_watched():
    fewer, more = share_log_evidence([10_000, 10_000], [500, 700], 0.05)[0]
    assert more > fewer and threshold(0.05, 6) == pytest.approx(math.log(120))


def test_the_simulated_streams_meet_and_breach_the_sla_as_stated():
    assert breaches(PASSING, PREMIUM) == []
    assert PASSING.quantile(0.95) < 0.85 * PREMIUM.p95_ms and PASSING.quantile(0.99) == pytest.approx(80.0)
    assert breaches(FAILING[0], PREMIUM) == ["p95_ms", "p99_ms", "mean_ms"]
    assert breaches(FAILING[1], PREMIUM) == ["success_rate"]


def test_a_thousand_runs_that_meet_the_sla_with_a_margin_abort_at_most_five_percent():
    outcome = simulate(PASSING, PREMIUM, runs=RUNS, seconds=SECONDS, rate=RATE, seed=11)
    assert outcome.abort_rate <= 0.05


def test_runs_exactly_at_the_p95_limit_still_abort_at_most_alpha():
    """No margin at all: the p95 is the limit, and the test is looked at 270 times."""
    median = 50.0 / math.exp(1.6448536269514722 * PASSING.sigma)
    at_limit = Stream("p95 exactly 50 ms", median, median * PASSING.p99_ms / PASSING.median_ms, 0.0)
    assert at_limit.quantile(0.95) == pytest.approx(50.0)
    outcome = simulate(at_limit, TierSla(p95_ms=50), runs=RUNS, seconds=SECONDS, rate=RATE, seed=12)
    assert outcome.abort_rate <= 0.05


@pytest.mark.parametrize("stream", FAILING, ids=["latency doubled", "failures x4"])
def test_a_thousand_runs_that_breach_the_sla_are_all_aborted(stream):
    outcome = simulate(stream, PREMIUM, runs=RUNS, seconds=SECONDS, rate=RATE, seed=13)
    assert outcome.abort_rate == 1.0
    assert set(outcome.aborted_by) <= {*breaches(stream, PREMIUM), "compliance"}
