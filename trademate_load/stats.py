"""Sample-size honesty: 95% confidence intervals for exact percentiles and for rates.

- A percentile's interval is distribution-free, from order statistics: with n samples the number at or
  below the true q-quantile is Binomial(n, q), so [x_(r), x_(s)] with r, s its 2.5% and 97.5% points
  (plus one) covers the quantile with at least 95% probability. When r or s falls outside 1..n the
  sample cannot bound the quantile on that side (p99 from 50 samples): that end is None (unbounded).
- A rate's interval is Wilson's score interval, which stays sensible at 0 and n successes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import bdtr, bdtrik  # not scipy.stats: its import alone takes 0.7 s and 50 MB

CONFIDENCE = 0.95
_Z = 1.959963984540054  # two-sided 95% normal quantile


def percentile_rank(n: int, q: float) -> int:
    """1-based rank of the nearest-rank q-quantile (numpy's ``inverted_cdf``) among n sorted samples."""
    return max(1, math.ceil(q * n - 1e-9))


def exact_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """The exact nearest-rank ``qs``-quantiles of ``values`` (at least one value): the smallest value with at least
    q of the values at or below it, numpy's ``inverted_cdf``."""
    return tuple(float(v) for v in np.percentile(values, [q * 100 for q in qs], method="inverted_cdf"))


def nearest_ranks(counts: np.ndarray, q: float) -> np.ndarray:
    """:func:`percentile_rank` for groups of ``counts`` samples each (at least 1 each), in integer ten-thousandths of
    q so that 0.95 x n never rounds up wrongly."""
    scale = 10_000
    needed = (np.asarray(counts, np.int64) * round(q * scale) + scale - 1) // scale
    return np.clip(needed, 1, counts)


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
