"""Exact statistics: the one definition of a percentile, and 95% confidence intervals for percentiles and rates.

- Every percentile of the suite is exact and nearest-rank (numpy's ``inverted_cdf``, ``PERCENTILE_METHOD``): the
  smallest sample with at least q of the samples at or below it, the sample of rank ``ceil(q n)``. This module
  computes it for every caller: of an array (:func:`exact_quantiles`), of a few values (:func:`quantile`), of
  distinct values with their counts (:func:`weighted_quantiles`), of groups (:func:`group_quantiles`,
  :func:`sorted_group_quantiles`, :func:`quantile_per_group`), and the rank itself (:func:`percentile_rank`,
  :func:`nearest_ranks`).
- A percentile's interval is distribution-free, from order statistics: with n samples the number at or
  below the true q-quantile is Binomial(n, q), so [x_(r), x_(s)] with r, s its 2.5% and 97.5% points
  (plus one) covers the quantile with at least 95% probability. When r or s falls outside 1..n the
  sample cannot bound the quantile on that side (p99 from 50 samples): that end is None (unbounded).
- A rate's interval is Wilson's score interval, which stays sensible at 0 and n successes; a mean's is the normal one.
- Two runs' estimates differ by an interval built from their own intervals (MOVER), the baseline gate's test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import bdtr, bdtrik  # not scipy.stats: its import alone takes 0.7 s and 50 MB

PERCENTILE_METHOD = "inverted_cdf"  # numpy's name for the nearest-rank definition
CONFIDENCE = 0.95
_Z = 1.959963984540054  # two-sided 95% normal quantile


def percentile_rank(n: int, q: float) -> int:
    """1-based rank of the nearest-rank q-quantile (numpy's ``inverted_cdf``) among n sorted samples."""
    return max(1, math.ceil(q * n - 1e-9))


def quantile(values: Sequence[float], q: float) -> float:
    """The exact nearest-rank q-quantile of a few values (at least one), without numpy: a second's loop ticks."""
    return sorted(values)[percentile_rank(len(values), q) - 1]


def exact_quantiles(values: np.ndarray, qs: Sequence[float]) -> tuple[float, ...]:
    """The exact nearest-rank ``qs``-quantiles of ``values`` (at least one value): the smallest value with at least
    q of the values at or below it, numpy's ``inverted_cdf``."""
    return tuple(float(v) for v in np.percentile(values, [q * 100 for q in qs], method=PERCENTILE_METHOD))


def weighted_quantiles(values: np.ndarray, counts: np.ndarray, qs: Sequence[float]) -> tuple[float, ...]:
    """:func:`exact_quantiles` of a sample held as distinct ``values`` with their ``counts`` (at least one)."""
    picked = np.percentile(values, [q * 100 for q in qs], method=PERCENTILE_METHOD, weights=counts)
    return tuple(float(v) for v in picked)


def nearest_ranks(counts: np.ndarray, q: float) -> np.ndarray:
    """:func:`percentile_rank` for groups of ``counts`` samples each (at least 1 each), in integer ten-thousandths of
    q so that 0.95 x n never rounds up wrongly."""
    scale = 10_000
    needed = (np.asarray(counts, np.int64) * round(q * scale) + scale - 1) // scale
    return np.clip(needed, 1, counts)


def quantile_per_group(group: np.ndarray, values: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """The exact nearest-rank q-quantile of each group 0..len(counts)-1 (NaN for an empty one): ``group`` is each
    value's group, ``counts`` each group's size."""
    order = np.lexsort((values, group))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    picked = np.full(len(counts), np.nan)
    filled = counts > 0
    picked[filled] = values[order][starts[filled] + nearest_ranks(counts[filled], q) - 1]
    return picked


def group_quantiles(labels: np.ndarray, values: np.ndarray, qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest-rank quantiles of the finite values per integer label: (labels, array[len(qs), labels])."""
    finite = np.isfinite(values)
    if not finite.all():
        labels, values = labels[finite], values[finite]
    del finite
    order = np.argsort(values)
    return sorted_group_quantiles(labels[order], values[order], qs)


def sorted_group_quantiles(
    labels: np.ndarray, values: np.ndarray, qs: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_quantiles` of finite values already in ascending order (labels in the same order)."""
    if not len(values):
        return np.empty(0, np.int64), np.empty((len(qs), 0))
    regroup = np.argsort(_compact_ints(labels), kind="stable")  # stable: values stay sorted within each label
    ordered_labels, ordered_values = labels[regroup], values[regroup]
    del regroup
    starts = np.flatnonzero(np.r_[True, ordered_labels[1:] != ordered_labels[:-1]])
    counts = np.diff(np.r_[starts, len(ordered_values)])
    rows = [ordered_values[starts + nearest_ranks(counts, q) - 1] for q in qs]
    return ordered_labels[starts], np.vstack(rows)


def _compact_ints(values: np.ndarray) -> np.ndarray:
    """Integers shifted to start at 0 in the narrowest dtype, so a stable argsort can use radix sort."""
    shifted = values - values.min()
    for dtype in (np.uint8, np.uint16):
        if shifted.max() <= np.iinfo(dtype).max:
            return shifted.astype(dtype)
    return shifted


def order_statistic_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int]:
    """1-based ranks (r, s) of the interval's ends; r < 1 or s > n mean that end is unbounded."""
    alpha = 1.0 - confidence
    r = binom_ppf(alpha / 2, n, q)
    s = binom_ppf(1 - alpha / 2, n, q) + 1
    return r, s


def binom_ppf(level: float, n: int, p: float) -> int:
    """Smallest k with P(Binomial(n, p) <= k) >= level, for 0 < level < 1: scipy.stats.binom.ppf, computed
    as scipy computes it (continuous inverse, then one step back when the CDF allows)."""
    k = math.ceil(bdtrik(level, n, p))
    if k > 0 and bdtr(k - 1, n, p) >= level:
        k -= 1
    return min(max(k, 0), n)


def percentile_interval(values: np.ndarray, q: float, confidence: float = CONFIDENCE) -> tuple[float | None, ...]:
    """(low, high) bounds on the q-quantile of the population ``values`` were drawn from."""
    n = len(values)
    if n == 0:
        return None, None
    r, s = order_statistic_ranks(n, q, confidence)
    wanted = [k - 1 for k in (r, s) if 1 <= k <= n]
    picked = np.partition(values, wanted) if wanted else values
    low = float(picked[r - 1]) if 1 <= r <= n else None
    high = float(picked[s - 1]) if 1 <= s <= n else None
    return low, high


def wilson_interval(successes: int, n: int) -> tuple[float | None, float | None]:
    """Wilson's 95% score interval for a proportion."""
    if n == 0:
        return None, None
    p = successes / n
    denominator = 1 + _Z**2 / n
    centre = (p + _Z**2 / (2 * n)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """The normal 95% interval of the mean, mean +- z s / sqrt(n) (None with fewer than two samples)."""
    n = len(values)
    if n < 2:
        return None, None
    mean, half = float(values.mean()), _Z * float(values.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def difference_interval(
    now: float, now_ci: Sequence[float | None], before: float, before_ci: Sequence[float | None]
) -> tuple[float, float] | None:
    """The 95% interval of ``now - before`` for two independent estimates, from each one's own 95% interval.

    MOVER (Zou and Donner, 2008): each end of the difference takes the distances to the two estimates' own
    interval ends in quadrature, so the asymmetric interval of a tail percentile keeps its shape. None when an
    estimate is unbounded on a side the difference needs.
    """
    (now_lo, now_hi), (before_lo, before_hi) = now_ci, before_ci
    if None in (now_lo, now_hi, before_lo, before_hi):
        return None
    delta = now - before
    low = delta - math.hypot(now - now_lo, before_hi - before)
    high = delta + math.hypot(now_hi - now, before - before_lo)
    return low, high
