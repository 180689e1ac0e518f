"""Unit tests of the report's time series, against numpy on synthetic samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.report_data import START, WARMUP, make_frame, make_run
from trademate_load.report import series


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


def test_long_runs_are_drawn_in_wider_buckets():
    clock = series.Clock(origin=START, warmup_end=30.0, end=7_200.0)
    assert clock.bucket_s == 12 and clock.seconds / clock.bucket_s <= series.MAX_BUCKETS
    frame = make_frame(20_000)
    frame["ts"] = START + (frame["ts"] - START) * 240  # the same samples over two hours
    built = series.tier_series(frame, "premium", "latency_ms", clock)
    assert len(built.starts) == 600 and built.bucket_s == 12
    assert built.requests.sum() == (frame["tier"] == "premium").sum()
    assert np.all(built.widths == 12)


def test_tier_series_counts_and_quantiles_match_the_samples(frame):
    clock = series.run_clock(frame, make_run())
    built = series.tier_series(frame, "shared", "latency_co_ms", clock)
    rows = frame[frame["tier"] == "shared"]
    seconds = np.floor(rows["ts"].to_numpy() - START).astype(int)
    inside = (seconds >= 0) & (seconds < clock.seconds)
    assert built.requests.tolist() == np.bincount(seconds[inside], minlength=clock.seconds).tolist()
    failed = inside & ~rows["ok"].to_numpy()
    assert built.failures.tolist() == np.bincount(seconds[failed], minlength=clock.seconds).tolist()
    second = 12
    values = rows["latency_co_ms"].to_numpy()[seconds == second]
    expected = np.percentile(values, [50, 95, 99], method="inverted_cdf")
    np.testing.assert_array_equal(built.latency[:, second], expected)
    window = rows[(rows["ts"] >= START + WARMUP) & (rows["ts"] <= START + clock.end)]["latency_co_ms"]
    np.testing.assert_array_equal(built.window_latency, np.sort(window.to_numpy()))
    hits = (rows["cache"] == "hit").to_numpy() & (seconds == second)
    assert built.cache_hits[second] == hits.sum() and built.cache_lookups[second] == (seconds == second).sum()
    db = rows["db_ms"].to_numpy()[(seconds == second) & rows["db_ms"].notna().to_numpy()]
    assert built.db_p95[second] == np.percentile(db, 95, method="inverted_cdf")


def test_cache_codes_from_object_and_categorical_columns():
    values = ["hit", "miss", None, "hit"]
    expected = [1, 0, -1, 1]
    assert series.cache_codes(pd.Series(values, dtype=object)).tolist() == expected
    assert series.cache_codes(pd.Series(values, dtype="category")).tolist() == expected


def test_error_budget_burn_over_the_sla_window():
    built = series.TierSeries(
        tier="premium",
        bucket_s=1,
        starts=np.arange(4.0),
        widths=np.ones(4),
        requests=np.array([100, 100, 100, 100]),
        failures=np.array([5, 0, 1, 1]),
        window_requests=np.array([0, 1000, 1000, 2000]),
        window_failures=np.array([0, 0, 1, 1]),
        latency=np.full((3, 4), np.nan),
        cache_hits=None,
        cache_lookups=None,
        db_p95=None,
        window_latency=np.empty(0),
    )
    burn = series.burn_series(built, 0.999)  # 1 failure allowed per 1000 requests
    assert np.isnan(burn[0])
    np.testing.assert_allclose(burn[1:], [0.0, 0.5, 0.5])
    assert series.burn_series(built, None) is None


def test_ecdf_points_are_thinned_and_keep_the_tail():
    values = np.sort(np.random.default_rng(5).lognormal(1.0, 1.0, 100_000))
    x, y = series.ecdf_points(values, max_points=2_000)
    assert len(x) <= 2_000
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
    assert x[-1] == values.max() and y[-1] == 1.0
    np.testing.assert_array_equal(x[-50:], values[-50:])  # the slowest requests are all drawn
