"""Change points across runs: find the level shifts in each series of the history frame (one row per run and tier).

A series is one (kind, profile, track, tier) and one figure (p95_ms, p99_ms, mean_ms, success_rate, uptime), its runs
ordered by ``started_at``; a run whose figure is null is left out of that figure's series. :func:`change_points` finds
the shifts in one series of numbers, :func:`detect` in every series of a history frame. The method and why:

- **Search: PELT** (``ruptures.Pelt``, ``min_size=2``, ``jump=1``, the ``l2`` cost). PELT finds the segmentation
  that exactly minimises the segments' cost plus a penalty per change, for any number of changes; binary
  segmentation or a sliding window would be approximate. The ``l2`` cost (squared deviations from each segment's
  mean) looks for changes of level, which is what a regression or a fix does to a figure. ``min_size=2``: a segment
  needs two runs, so one odd run (a noisy neighbour, a cold cache) is never a level shift on its own. ``jump=1``:
  every run is a candidate boundary; histories are short, and naming the exact run matters. The cost is ruptures'
  ``l2`` computed from cumulative sums (:func:`l2_cost`): the same numbers, about 8 times faster on long series.
- **Scale: a robust noise estimate from first differences.** The l2 cost is in squared units of the figure, so the
  series is divided by its noise scale first; the penalty is then in units of the noise variance and one penalty
  serves milliseconds and ratios alike. The difference of two neighbouring runs has the noise's standard deviation
  times sqrt(2) whatever the level, so a level shift adds one large difference only; the standard deviation of the
  series itself would be inflated by the very shift it should reveal. The differences' MAD (x 1.4826, consistent for
  a Gaussian) ignores that difference but is a poor estimate on 30 runs (24% relative spread; a 30% overestimate hides
  a real step, an underestimate makes false ones), so it only sets a clip: the scale is the differences' standard
  deviation winsorised at ``WINSOR`` (3) MAD-sigmas, / sqrt(2) (16% spread; a step or an outlier counts as 3 sigmas
  at most). With beta 3, on 200 seeds, flat series with a false change fell from 5 to 1 against the plain MAD. When
  more than half the differences are zero (a success rate at 1.0 in most runs, coarse values) the MAD is 0 and the
  differences' plain standard deviation stands in; when that is 0 too the series is constant and has no change.
- **Penalty: beta x log(n)**, BIC-like. With unit noise the l2 cost is -2 log-likelihood, and the BIC charges log(n)
  a parameter: 2 log(n) a change (its place and the new level). ``BETA = 3`` is stricter, to absorb the error of the
  estimated scale and latency's heavier than Gaussian tails. Measured with 10% Gaussian noise (p95 about 20 ms), 200
  seeds each: 100 flat runs show a false change in 13, 6, 1, 0 seeds with beta 2, 2.5, 3, 3.5 (two false changes: 3,
  2, 1, 0); a +5 ms step at run 20 of 30 is found within 3 runs in 196, 196, 196, 192 seeds. Beta 3 keeps detection
  and cuts the false alarms; over 1000 seeds: 96.5% found (the misses are mostly the step placed more than 3 runs
  off, which no penalty fixes), 1.1% of flat series with a false change, 0.2% with two.
- **Too short: fewer than** ``MIN_RUNS`` **(6) runs have no change.** Below that the scale rests on four differences
  and a shift would be judged on two or three runs a side.
- **Report: levels, size, p-value.** A segment's level is its median (one odd run does not move it); the size is after
  minus before. The p-value is Welch's t-test of the two adjacent segments (``scipy.stats.ttest_ind``,
  ``equal_var=False``: latency's spread grows with its level, so the two sides' variances differ). It is computed
  after PELT chose the split that best separates the two sides, so it is optimistic (a selection effect): read it as
  a ranking, not as a calibrated false-alarm rate. Changes with ``p >= ALPHA`` (0.01) are dropped, the least
  significant first, and the merged segments' remaining changes retested. With 3% of runs 50% slower the l2 cost
  mistakes outliers for levels: the filter cuts the flat series with false changes from 35 to 4 in 200, at the cost
  of a few real steps (found in 196 seeds of 200 rather than 198 without outliers, 168 rather than 176 with them).

Pure functions; ruptures and scipy.stats are imported on first use (together about a second and 50 MB), as the
history command's module imports this one at start-up.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

FIGURES = ("p95_ms", "p99_ms", "mean_ms", "success_rate", "uptime")
SERIES = ("kind", "profile", "track", "tier")  # one series per these columns, runs ordered by started_at
COLUMNS = (*SERIES, "figure", "run_id", "label", "started_at", "before", "after", "size", "size_pct", "p_value")
FLOAT_COLUMNS = ("before", "after", "size", "size_pct", "p_value")

BETA = 3.0  # penalty = BETA * log(n), in units of the noise variance
MIN_RUNS = 6  # shorter series have no change
MIN_SIZE = 2  # runs in a segment at the least
ALPHA = 0.01  # a change whose Welch p-value is not below this is dropped
WINSOR = 3.0  # differences beyond this many (MAD-estimated) standard deviations count as this many
_MAD_TO_SIGMA = 1.4826  # MAD x this estimates a Gaussian's standard deviation
# E[min(Z^2, WINSOR^2)] for a standard Gaussian Z: the winsorised variance's consistency factor (0.995 at 3)
_WINSOR_VARIANCE = (
    math.erf(WINSOR / math.sqrt(2))
    - 2 * WINSOR * math.exp(-(WINSOR**2) / 2) / math.sqrt(2 * math.pi)
    + WINSOR**2 * math.erfc(WINSOR / math.sqrt(2))
)


@dataclass(frozen=True)
class Change:
    """A level shift: ``index`` is the position in the series of the first run after it."""

    index: int
    before: float  # the level (median) of the segment before the change
    after: float  # the level (median) of the segment after it
    p_value: float  # Welch's t-test of the two adjacent segments (optimistic: the split was chosen on the data)

    @property
    def size(self) -> float:
        return self.after - self.before

    @property
    def size_pct(self) -> float | None:
        """The size as a percentage of the level before; None when that level is 0."""
        return None if self.before == 0 else 100.0 * self.size / abs(self.before)


def noise_scale(values: np.ndarray) -> float:
    """The noise's standard deviation, estimated from first differences so that a level shift does not inflate it:
    the differences' standard deviation, winsorised at ``WINSOR`` x 1.4826 x their MAD, / sqrt(2); the plain
    standard deviation of the differences when their MAD is 0; 0 for a constant series."""
    diffs = np.diff(values)
    if diffs.size < 2:
        return 0.0
    tiny = 1e-12 * max(1.0, float(np.max(np.abs(values))))  # below this, float noise: no scale
    centred = diffs - np.median(diffs)
    mad = _MAD_TO_SIGMA * float(np.median(np.abs(centred)))
    if mad > tiny:
        clipped = np.clip(centred, -WINSOR * mad, WINSOR * mad)
        spread = math.sqrt(float(np.sum(clipped**2)) / (diffs.size - 1) / _WINSOR_VARIANCE)
    else:
        spread = float(np.std(diffs, ddof=1))
    scale = spread / math.sqrt(2)
    return scale if scale > tiny else 0.0


def penalty(n: int) -> float:
    """PELT's penalty per change for a series of n runs scaled to unit noise: ``BETA`` x log(n)."""
    return BETA * math.log(n)


@functools.cache
def l2_cost() -> type:
    """ruptures' ``l2`` cost (a segment's squared deviations from its mean) from cumulative sums: the same numbers in
    constant time a segment instead of a pass over it, so PELT's search runs about 8 times faster (300 runs: 0.05 s
    rather than 0.4 s). Built on first use: ruptures and scipy.stats take about a second to import."""
    from ruptures.base import BaseCost

    class CumulativeL2(BaseCost):
        model = "l2"
        min_size = 1

        def fit(self, signal: np.ndarray) -> CumulativeL2:
            self.signal = signal.reshape(-1, 1)
            column = self.signal[:, 0]
            self.sums = np.concatenate([[0.0], np.cumsum(column)]).tolist()
            self.squares = np.concatenate([[0.0], np.cumsum(column**2)]).tolist()
            return self

        def error(self, start: int, end: int) -> float:
            total = self.sums[end] - self.sums[start]
            return max(0.0, self.squares[end] - self.squares[start] - total * total / (end - start))

    return CumulativeL2


def _breaks(scaled: np.ndarray) -> list[int]:
    """PELT's change positions (the first index of each new segment) in a series of unit noise."""
    import ruptures

    pelt = ruptures.Pelt(custom_cost=l2_cost()(), min_size=MIN_SIZE, jump=1)
    ends = pelt.fit_predict(scaled, pen=penalty(len(scaled)))
    return [int(end) for end in ends[:-1]]  # the last end is the series' length


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Welch's t-test between two segments (two runs or more each); a difference between two
    constant segments has p 0, no difference p 1."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 0.0 if a[0] != b[0] else 1.0
    from scipy.stats import ttest_ind

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # near-constant segments: scipy's precision-loss warning
        p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return p if math.isfinite(p) else 1.0


def _tested(values: np.ndarray, breaks: list[int]) -> list[Change]:
    """Each break's levels and p-value between its neighbouring breaks (or the series' ends)."""
    bounds = [0, *breaks, len(values)]
    changes = []
    for i, index in enumerate(breaks):
        left, right = values[bounds[i] : index], values[index : bounds[i + 2]]
        changes.append(Change(index, float(np.median(left)), float(np.median(right)), welch_p(left, right)))
    return changes


def change_points(values: Sequence[float]) -> list[Change]:
    """Level shifts in one series (NaN-free, in run order), earliest first; none in fewer than ``MIN_RUNS`` runs or
    in a constant series. Changes whose Welch p-value is ``ALPHA`` or more are dropped, the least significant first,
    and the rest retested on the merged segments."""
    series = np.asarray(values, dtype=float)
    if series.ndim != 1 or not np.all(np.isfinite(series)):
        raise ValueError("change_points needs a one-dimensional series of finite numbers")
    if series.size < MIN_RUNS:
        return []
    scale = noise_scale(series)
    if scale == 0.0:
        return []
    breaks = _breaks((series - np.median(series)) / scale)
    while True:
        changes = _tested(series, breaks)
        weakest = max(changes, key=lambda change: change.p_value, default=None)
        if weakest is None or weakest.p_value < ALPHA:
            return changes
        breaks.remove(weakest.index)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=float if column in FLOAT_COLUMNS else object) for column in COLUMNS})


def detect(history: pd.DataFrame, figures: Sequence[str] = FIGURES) -> pd.DataFrame:
    """Every change point of every series and figure: one row each with columns kind, profile, track, tier, figure,
    run_id (the first run after the change), label, started_at, before, after, size, size_pct, p_value. Rows with a
    null figure are left out of that figure's series; a figure the frame lacks has none. Empty frame (with those
    columns) when none."""
    if history.empty:
        return _empty()
    at = pd.to_datetime(history["started_at"], utc=True, format="ISO8601")
    ordered = history.assign(_at=at).sort_values(["_at", "run_id"], kind="stable")
    rows = []
    for key, series in ordered.groupby(list(SERIES), sort=True, dropna=False):
        for figure in figures:
            if figure not in series.columns:
                continue
            numbers = pd.to_numeric(series[figure], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            kept = series[np.isfinite(numbers)]
            for change in change_points(numbers[np.isfinite(numbers)]):
                run = kept.iloc[change.index]
                rows.append(
                    {
                        **dict(zip(SERIES, key, strict=True)),
                        "figure": figure,
                        "run_id": run["run_id"],
                        "label": run["label"],
                        "started_at": run["started_at"],
                        "before": change.before,
                        "after": change.after,
                        "size": change.size,
                        "size_pct": np.nan if change.size_pct is None else change.size_pct,
                        "p_value": change.p_value,
                    }
                )
    if not rows:
        return _empty()
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(dict.fromkeys(FLOAT_COLUMNS, float))
