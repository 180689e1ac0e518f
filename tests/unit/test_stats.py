"""Exact nearest-rank quantiles, each form against numpy's inverted_cdf; confidence intervals, checked by hand and by
simulation against known populations."""

import math

import numpy as np
import pytest

from trademate_load.stats import (
    difference_interval,
    exact_quantiles,
    group_quantiles,
    mean_interval,
    order_statistic_ranks,
    percentile_interval,
    percentile_rank,
    quantile,
    quantile_per_group,
    weighted_quantiles,
    wilson_interval,
)


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


def test_group_quantiles_match_numpy_inverted_cdf():
    rng = np.random.default_rng(3)
    seconds = rng.integers(-2, 40, 50_000)
    values = rng.lognormal(1.0, 1.0, 50_000)
    values[::97] = np.nan
    labels, rows = group_quantiles(seconds, values, (0.5, 0.95, 0.99))
    assert labels.tolist() == sorted(set(seconds[np.isfinite(values)].tolist()))
    for i, second in enumerate(labels):
        group = values[(seconds == second) & np.isfinite(values)]
        expected = np.percentile(group, [50, 95, 99], method="inverted_cdf")
        np.testing.assert_array_equal(rows[:, i], expected)


@pytest.mark.parametrize("size", [1, 20, 100])
def test_group_quantiles_on_exact_ranks(size):
    values = np.arange(1.0, size + 1)
    _, rows = group_quantiles(np.zeros(size, np.int64), values, (0.5, 0.95, 0.99))
    expected = np.percentile(values, [50, 95, 99], method="inverted_cdf")
    np.testing.assert_array_equal(rows[:, 0], expected)


def test_every_form_of_quantile_is_numpys_inverted_cdf():
    rng = np.random.default_rng(11)
    values = np.round(rng.lognormal(2.0, 1.0, 5_001), 1)
    expected = np.percentile(values, [50, 95, 99], method="inverted_cdf")
    assert exact_quantiles(values, (0.5, 0.95, 0.99)) == tuple(expected)
    assert [quantile(values.tolist(), q) for q in (0.5, 0.95, 0.99)] == expected.tolist()
    distinct, counts = np.unique(values, return_counts=True)
    assert weighted_quantiles(distinct, counts, (0.5, 0.95, 0.99)) == tuple(expected)
    group = rng.integers(0, 4, len(values))
    per_group = quantile_per_group(group, values, np.bincount(group, minlength=5), 0.95)
    assert np.isnan(per_group[4])
    for g in range(4):
        assert per_group[g] == np.percentile(values[group == g], 95, method="inverted_cdf")


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


def test_the_difference_interval_of_two_percentiles_covers_the_true_difference_at_its_confidence():
    """Two runs drawn from lognormals whose p95 differ by a known amount: the MOVER interval built from each run's
    order-statistic interval covers the true difference in about 95% of 400 trials (and so is not too wide)."""
    rng = np.random.default_rng(11)
    true_p95 = {m: math.exp(math.log(m) + 0.5 * 1.6448536) for m in (4.0, 4.4)}
    covered = 0
    for _ in range(400):
        now, before = rng.lognormal(np.log(4.4), 0.5, 2000), rng.lognormal(np.log(4.0), 0.5, 2000)
        estimates = [(exact_quantiles(x, (0.95,))[0], percentile_interval(x, 0.95)) for x in (now, before)]
        low, high = difference_interval(estimates[0][0], estimates[0][1], estimates[1][0], estimates[1][1])
        covered += low <= true_p95[4.4] - true_p95[4.0] <= high
    assert 0.92 <= covered / 400 <= 0.995


def test_the_difference_interval_keeps_each_side_of_an_asymmetric_interval_and_needs_both_ends():
    low, high = difference_interval(10.0, (9.0, 14.0), 8.0, (7.0, 8.5))
    assert (low, high) == pytest.approx((2.0 - math.hypot(1.0, 0.5), 2.0 + math.hypot(4.0, 1.0)))
    assert difference_interval(10.0, (9.0, None), 8.0, (7.0, 8.5)) is None


def test_the_mean_interval_is_the_normal_one():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    low, high = mean_interval(values)
    half = 1.959963984540054 * values.std(ddof=1) / 2
    assert (low, high) == pytest.approx((2.5 - half, 2.5 + half))
    assert mean_interval(np.array([1.0])) == (None, None)
