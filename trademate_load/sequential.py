"""Anytime-valid tests: is a share (or a bounded mean) above its limit, or below it, looked at as often as wanted.

For observations Y in [0, 1] (1: a bad request) and a limit m on their mean, the wealth of a bettor who stakes a
fraction λ of it on "the mean is above m" at every observation,

    K_n(λ) = Π_i (1 + λ (Y_i − m)),   0 < λ < 1/m,

has expectation at most 1 at every step while the mean is at most m: it is a nonnegative supermartingale, and so
is any average of such products over a fixed grid of λ. Ville's inequality (1939) bounds the chance that it ever
reaches 1/α, at any of any number of looks, by α. The mirror bet, Π (1 − λ (Y_i − m)), tests "the mean is below
m" in the same way. For 0/1 observations each product is Wald's likelihood ratio of Bernoulli(q) against
Bernoulli(m), q = m + λ m (1 − m): the average is Robbins' mixture sequential probability ratio test, computed
from the counts alone (Wald 1945; Robbins 1970; as "always valid p-values" in Johari, Koomen, Pekelis and Walsh,
Operations Research 2022; for bounded means, Waudby-Smith and Ramdas, JRSS B 2024).

The grid holds the alternatives q = m·2^(j/4) on each side (above: up to 1; below: down to m/1024), equally
weighted: whatever the true share, a grid point lies within 19% of it, for a price of log(grid size) in the
threshold (a grid twice as coarse decided a p95 5% under its limit in 11% of simulated runs instead of 96%).
Nothing here imports locust; every function works on numpy arrays, so a simulation of many runs calls the code
a live run calls.
"""

from __future__ import annotations

import math

import numpy as np

GRID_RATIO = 2.0**0.25
BELOW_SPAN = 1024.0  # the smallest alternative below m is m / BELOW_SPAN


def alternatives(m: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid's alternatives above ``m`` (strictly below 1) and below it (strictly above 0)."""
    steps = np.arange(1, 200)
    above = m * GRID_RATIO**steps
    below = m / GRID_RATIO**steps
    return above[above < 1.0], below[below >= m / BELOW_SPAN]


def _log_mean_exp(values: np.ndarray) -> np.ndarray:
    """log of the mean of exp(values) along the last axis, without overflow (-inf for an empty grid)."""
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1], -np.inf)
    top = np.max(values, axis=-1, keepdims=True)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(finite_top, -1) + np.log(np.mean(np.exp(values - finite_top), axis=-1))


def share_log_evidence(n, k, m: float) -> tuple[np.ndarray, np.ndarray]:
    """Log e-values from ``k`` bad observations among ``n`` (arrays broadcast): (against "share <= m", against
    "share >= m"). A large first value is evidence the share is above m; a large second, below it."""
    n, k = np.asarray(n, np.float64), np.asarray(k, np.float64)
    good = n - k
    if m <= 0.0:  # nothing bad allowed: one bad observation settles it; it can never be shown to be below 0
        return np.where(k > 0, np.inf, 0.0), np.zeros(np.broadcast(n, k).shape)
    if m >= 1.0:
        return np.zeros(np.broadcast(n, k).shape), np.where(good > 0, np.inf, 0.0)
    above, below = alternatives(m)
    k, good = k[..., np.newaxis], good[..., np.newaxis]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_above = k * np.log(above / m) + good * np.log((1.0 - above) / (1.0 - m))
        log_below = k * np.log(below / m) + good * np.log((1.0 - below) / (1.0 - m))
    return _log_mean_exp(log_above), _log_mean_exp(log_below)


class MeanEvidence:
    """The betting test against "the mean of observations in [0, 1] is at most ``m``", updated batch by batch.

    ``runs``: simulate that many independent runs at once (observations then come as ``[runs, batch]``)."""

    def __init__(self, m: float, runs: tuple[int, ...] = ()):
        self.m = m
        above = alternatives(m)[0] if 0.0 < m < 1.0 else np.empty(0)
        self.bets = (above - m) / (m * (1.0 - m))  # λ in (0, 1/m): for 0/1 observations, the alternatives above
        self.log_wealth = np.zeros((*runs, len(above)))

    def add(self, y: np.ndarray) -> None:
        """Bet on each observation of ``y`` (its last axis)."""
        if not np.size(y) or not len(self.bets):
            return
        centred = (np.asarray(y, np.float64) - self.m)[..., np.newaxis]
        self.log_wealth += np.log1p(centred * self.bets).sum(axis=-2)

    def log_evidence(self) -> np.ndarray:
        """The log e-value against "mean <= m" (of each run, when simulating)."""
        return _log_mean_exp(self.log_wealth)


def threshold(alpha: float, tests: int) -> float:
    """The log e-value at which one of ``tests`` tests decides, so that all of them together err at most alpha."""
    return math.log(max(tests, 1) / alpha)
