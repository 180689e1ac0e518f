"""Time series of one tier's samples for the report's charts, computed once and shared by every chart.

The run's complete seconds are grouped into buckets (one second each, or wider for long runs, so a
chart never draws more than ``MAX_BUCKETS`` points per line); per bucket: requests, failures, exact
latency quantiles, cache hits among reported lookups, and the exact DB-time p95. Quantiles are the SLA engine's
exact nearest-rank ones (:mod:`trademate_load.stats`). Pure numpy and pandas; nothing is drawn here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trademate_load.stats import group_quantiles, sorted_group_quantiles

TIME_QUANTILES = (0.50, 0.95, 0.99)
MAX_BUCKETS = 600
_CACHE_CODES = {"hit": 1, "miss": 0}


@dataclass(frozen=True)
class Clock:
    """The run's time axis: epoch origin (second 0) and the SLA window in seconds since it."""

    origin: float
    warmup_end: float
    end: float

    @property
    def seconds(self) -> int:
        """Complete seconds of the run (at least one), the span every time series covers."""
        return max(math.floor(self.end + 1e-9), 1)

    @property
    def bucket_s(self) -> int:
        """Seconds per bucket: 1, or wider when the run has more than MAX_BUCKETS seconds."""
        return max(1, math.ceil(self.seconds / MAX_BUCKETS))


@dataclass(frozen=True)
class TierSeries:
    """One tier's per-bucket figures over the run, and its latencies in the SLA window (sorted)."""

    tier: str
    bucket_s: int
    starts: np.ndarray  # bucket start, seconds since the run's start
    widths: np.ndarray  # seconds in each bucket (the last may be shorter)
    requests: np.ndarray
    failures: np.ndarray
    window_requests: np.ndarray  # requests and failures inside the SLA window only
    window_failures: np.ndarray
    latency: np.ndarray  # [len(TIME_QUANTILES), buckets]; NaN where a bucket is empty
    cache_hits: np.ndarray | None  # None: the target reported no X-Cache for this tier
    cache_lookups: np.ndarray | None
    db_p95: np.ndarray | None  # None: the target reported no DB time for this tier
    window_latency: np.ndarray  # finite latencies in the SLA window, ascending

    @property
    def mids(self) -> np.ndarray:
        """Bucket centres, where each bucket's point is drawn."""
        return self.starts + self.widths / 2

    @property
    def rps(self) -> np.ndarray:
        """Requests per second in each bucket."""
        return self.requests / self.widths


def run_clock(frame: pd.DataFrame, run: Mapping) -> Clock:
    """The run's clock from run.json, falling back to the samples' own time span."""
    ts = frame["ts"].to_numpy(dtype=np.float64) if len(frame) else np.zeros(1)
    origin = _number(run.get("started_ts"), float(np.nanmin(ts)) if len(ts) else 0.0)
    end = _number(run.get("ended_ts"), float(np.nanmax(ts)) if len(ts) else 0.0) - origin
    warmup_end = min(max(_number(run.get("warmup_s"), 0.0), 0.0), max(end, 0.0))
    return Clock(origin=origin, warmup_end=warmup_end, end=end)


def tier_series(frame: pd.DataFrame, tier: str, column: str, clock: Clock) -> TierSeries:
    """Every per-bucket figure of one tier, from its rows of the sample frame and its latency column."""
    mask = tier_mask(frame, tier)
    t = frame["ts"].to_numpy(dtype=np.float64)[mask] - clock.origin
    seconds, k = clock.seconds, clock.bucket_s
    inside = (t >= 0) & (t < seconds)
    in_window = (t >= clock.warmup_end) & (t <= clock.end)
    bucket = np.zeros(len(t), np.int32)
    bucket[inside] = t[inside] // k
    del t
    buckets = math.ceil(seconds / k)
    starts = np.arange(buckets, dtype=np.float64) * k
    ok = frame["ok"].to_numpy(dtype=bool, na_value=False)[mask]
    latency = frame[column].to_numpy(dtype=np.float64)[mask]
    order = np.argsort(latency)  # one sort serves the window's ECDF and every bucket's quantiles (NaN last)
    by_value = latency[order]
    finite = np.isfinite(by_value)
    in_buckets = finite & inside[order]
    present, rows = sorted_group_quantiles(bucket[order][in_buckets], by_value[in_buckets], TIME_QUANTILES)
    quantiles = np.full((len(TIME_QUANTILES), buckets), np.nan)
    quantiles[:, present] = rows
    return TierSeries(
        tier=tier,
        bucket_s=k,
        starts=starts,
        widths=np.minimum(starts + k, seconds) - starts,
        requests=_count(bucket, inside, buckets),
        failures=_count(bucket, inside & ~ok, buckets),
        window_requests=_count(bucket, inside & in_window, buckets),
        window_failures=_count(bucket, inside & in_window & ~ok, buckets),
        latency=quantiles,
        **_cache_series(frame, mask, bucket, inside, buckets),
        db_p95=_db_series(frame, mask, bucket, inside, buckets),
        window_latency=by_value[finite & in_window[order]],
    )


def tier_mask(frame: pd.DataFrame, tier: str) -> np.ndarray:
    """Rows of the frame that belong to a tier, as plain bools."""
    return frame["tier"].eq(tier).to_numpy(dtype=bool, na_value=False)


def frame_tiers(frame: pd.DataFrame, order: Sequence[str]) -> list[str]:
    """Tiers present in the samples: those listed in order first, then the rest sorted."""
    present = {str(tier) for tier in pd.unique(frame["tier"].dropna())}
    return [tier for tier in order if tier in present] + sorted(present - set(order))


def cache_codes(column: pd.Series) -> np.ndarray:
    """Per row: 1 cache hit, 0 miss, -1 not reported (object or categorical column)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = [_CACHE_CODES.get(str(name).lower(), -1) for name in column.cat.categories]
        return np.array([*names, -1], dtype=np.int8)[column.cat.codes.to_numpy()]  # code -1 (missing) -> last
    values = column.to_numpy(dtype=object)
    return np.where(values == "hit", 1, np.where(values == "miss", 0, -1)).astype(np.int8)


def burn_series(series: TierSeries, success_target: float | None) -> np.ndarray | None:
    """Error budget burned so far (1.0 = all used) at each bucket's end, over the SLA window; NaN before it."""
    if success_target is None or success_target >= 1:
        return None
    requests, failures = np.cumsum(series.window_requests), np.cumsum(series.window_failures)
    allowed = (1.0 - success_target) * requests
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(requests > 0, failures / allowed, np.nan)


def dense_quantiles(labels: np.ndarray, values: np.ndarray, quantiles: Sequence[float], size: int) -> np.ndarray:
    """:func:`trademate_load.stats.group_quantiles` laid out over labels 0..size-1, NaN where a label has no finite
    value."""
    present, rows = group_quantiles(labels, values, quantiles)
    dense = np.full((len(quantiles), size), np.nan)
    dense[:, present] = rows
    return dense


def ecdf_points(ordered: np.ndarray, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of ascending values (x, y = share <= x) thinned to max_points, keeping the tail."""
    n = len(ordered)
    if n <= max_points:
        ranks = np.arange(n)
    else:
        half = max_points // 2
        linear = np.linspace(0, n - 1, half).astype(np.int64)
        tail = n - np.geomspace(1, n, half).astype(np.int64)
        ranks = np.unique(np.r_[linear, tail, n - 1])
    return ordered[ranks], (ranks + 1) / max(n, 1)


def _cache_series(frame: pd.DataFrame, mask: np.ndarray, bucket: np.ndarray, inside: np.ndarray, size: int) -> dict:
    """Cache hits and reported lookups per bucket (both None when the tier reported no X-Cache)."""
    codes = cache_codes(frame["cache"][mask]) if "cache" in frame else np.full(len(bucket), -1, np.int8)
    known = inside & (codes >= 0)
    if not known.any():
        return {"cache_hits": None, "cache_lookups": None}
    return {"cache_hits": _count(bucket, known & (codes == 1), size), "cache_lookups": _count(bucket, known, size)}


def _db_series(frame: pd.DataFrame, mask: np.ndarray, bucket: np.ndarray, inside: np.ndarray, size: int):
    """Exact p95 of the DB time per bucket (None when the tier reported no Server-Timing db figure)."""
    if "db_ms" not in frame:
        return None
    db = frame["db_ms"].to_numpy(dtype=np.float64)[mask]
    known = inside & np.isfinite(db)
    if not known.any():
        return None
    return dense_quantiles(bucket[known], db[known], (0.95,), size)[0]


def _count(bucket: np.ndarray, selected: np.ndarray, size: int) -> np.ndarray:
    """Number of selected rows in each bucket 0..size-1."""
    return np.bincount(bucket[selected], minlength=size)[:size]


def _number(value: object, default: float) -> float:
    """value as a float, or default when it is missing or not a finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default
