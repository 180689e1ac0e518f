"""Confidence intervals: checked by hand and by simulation against known populations."""

import numpy as np
import pytest

from trademate_load.stats import order_statistic_ranks, percentile_interval, percentile_rank, wilson_interval


def test_wilson_by_hand():
    # 1000 of 1000: the lower bound is n / (n + z^2)
    low, high = wilson_interval(1000, 1000)
    assert low == pytest.approx(1000 / (1000 + 1.959963984540054**2))
    assert high == 1.0
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)


def test_nearest_rank():
    assert [percentile_rank(100, q) for q in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]
    assert percentile_rank(1000, 0.95) == 950


def test_ranks_unbounded_when_the_sample_is_too_small():
    r, s = order_statistic_ranks(50, 0.99)
    assert s > 50  # p99 from 50 samples has no upper bound
    r, s = order_statistic_ranks(10_000, 0.99)
    assert 1 <= r < 9900 < s <= 10_000


def test_percentile_interval_covers_the_true_quantile_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(42)
    true_p95 = -np.log(0.05)  # exponential(1)
    trials, covered = 400, 0
    for _ in range(trials):
        low, high = percentile_interval(rng.exponential(size=500), 0.95)
        covered += low <= true_p95 <= high
    assert covered / trials >= 0.93  # at least 95% in theory; 400 trials allow a little sampling slack


def test_wilson_covers_the_true_rate():
    rng = np.random.default_rng(7)
    trials = 1000
    hits = rng.binomial(2000, 0.995, size=trials)
    covered = sum(low <= 0.995 <= high for low, high in (wilson_interval(int(h), 2000) for h in hits))
    assert covered / trials >= 0.93


def test_interval_contains_the_point_estimate():
    values = np.random.default_rng(1).lognormal(size=5000)
    low, high = percentile_interval(values, 0.99)
    assert low <= np.percentile(values, 99, method="inverted_cdf") <= high
