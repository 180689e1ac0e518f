"""Draw the run report's charts: pure functions from a sample frame, summary.json and run.json to PNG bytes by name.

This module decides which charts a run gets and what each is called, and hands each drawer its inputs: time series
come from series.tier_series, computed once per tier from the raw samples and shared by every chart of that tier;
table figures and the verdict are never recomputed, and the scalability chart draws summary.json's own section.
The drawing is elsewhere: chart_style (sizes, colours, the figure and its lines), time_charts (a tier over the run),
distribution_charts (a tier's latency histogram and CDF), run_charts (across tiers and processes).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from trademate_load.report.chart_style import DPI, FIGSIZE, HALF_FIGSIZE, STRIP_FIGSIZE, Limits, per_bucket
from trademate_load.report.distribution_charts import cdf_chart, histogram_chart
from trademate_load.report.run_charts import errors_chart, generator_chart, noisy_neighbour_chart, scalability_chart
from trademate_load.report.series import Clock, TierSeries, frame_tiers, run_clock, tier_series
from trademate_load.report.time_charts import (
    budget_chart,
    cache_chart,
    db_chart,
    latency_chart,
    throughput_chart,
    uptime_chart,
)
from trademate_load.runinfo import RunInfo
from trademate_load.validity import healths

__all__ = [
    "CHART_KINDS",
    "DPI",
    "ERRORS_CHART",
    "FIGSIZE",
    "GENERATOR_CHART",
    "HALF_FIGSIZE",
    "NOISY_CHART",
    "PAIR_KINDS",
    "REPORTED_KINDS",
    "SCALABILITY_CHART",
    "STRIP_FIGSIZE",
    "TIME_KINDS",
    "basis_column",
    "chart_name",
    "render_charts",
    "tier_charts",
    "tier_limits",
]

TIME_KINDS = ("latency", "uptime", "throughput", "budget")  # full width, over the run (uptime: a strip)
PAIR_KINDS = ("histogram", "cdf", "cache", "db")  # half width, shown two by two
CHART_KINDS = TIME_KINDS + PAIR_KINDS
REPORTED_KINDS = ("cache", "db")  # drawn only when the target reports X-Cache / Server-Timing db
ERRORS_CHART = "errors"
NOISY_CHART = "noisy_neighbour"
GENERATOR_CHART = "generator"
SCALABILITY_CHART = "scalability"


def chart_name(tier: str, kind: str) -> str:
    """Key of a tier's chart in render_charts' result, safe as a file name stem."""
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', tier)}_{kind}"


def basis_column(summary: Mapping, run: RunInfo | Mapping, tier: str) -> str:
    """Frame column a tier's latency figures use: corrected (from intended_ts) or service time."""
    tier_summary = (summary.get("tiers") or {}).get(tier) or {}
    basis = tier_summary.get("latency_basis") or RunInfo.view(run).latency_basis
    return "latency_co_ms" if basis == "corrected" else "latency_ms"


def tier_limits(summary: Mapping, run: RunInfo | Mapping, tier: str) -> Limits:
    """A tier's SLA limits and target request rate from run.json (summary as fallback for the target)."""
    info = RunInfo.view(run)
    sla = info.tier_sla(tier)
    target = info.tier_settings(tier).get("rps", ((summary.get("tiers") or {}).get(tier) or {}).get("target_rps"))
    fields = {field.name for field in dataclasses.fields(Limits)} - {"target_rps"}
    return Limits(target_rps=target, **{name: sla.get(name) for name in fields})


def render_charts(frame: pd.DataFrame, summary: Mapping, run: Mapping) -> dict[str, bytes]:
    """Every chart of the report, by name (chart_name, ERRORS_CHART, NOISY_CHART, SCALABILITY_CHART).

    A tier's cache and DB charts are left out when the target reported neither; an empty frame gives
    no charts at all.
    """
    if not len(frame):
        return {}
    clock = run_clock(frame, run)
    tiers = frame_tiers(frame, list(summary.get("tiers") or {}))
    charts: dict[str, bytes] = {}
    kept: dict[str, TierSeries] = {}
    for tier in tiers:  # one tier's arrays in memory at a time
        series = tier_series(frame, tier, basis_column(summary, run, tier), clock)
        charts.update(tier_charts(series, clock, summary, run))
        kept[tier] = dataclasses.replace(series, window_latency=np.empty(0))
    if any(series.failures.any() for series in kept.values()):
        charts[ERRORS_CHART] = errors_chart(list(kept.values()), clock)
    if "premium" in kept and "shared" in kept:
        premium_limits = tier_limits(summary, run, "premium")
        charts[NOISY_CHART] = noisy_neighbour_chart(kept["premium"], kept["shared"], clock, premium_limits)
    if summary.get("scalability"):
        charts[SCALABILITY_CHART] = scalability_chart(summary["scalability"])
    health = healths(run)
    if any(len(h.end) for h in health.values()):
        charts[GENERATOR_CHART] = generator_chart(health, clock)
    return charts


def tier_charts(series: TierSeries, clock: Clock, summary: Mapping, run: Mapping) -> dict[str, bytes]:
    """One tier's charts by name: every kind of CHART_KINDS, cache and DB only when reported."""
    tier = series.tier
    column, limits = basis_column(summary, run, tier), tier_limits(summary, run, tier)
    basis = "corrected" if column == "latency_co_ms" else "service time"
    per = per_bucket(series)
    measured_p95 = (((summary.get("tiers") or {}).get(tier) or {}).get("latency_ms") or {}).get("p95")
    drawers: dict[str, Callable[[], bytes | None]] = {
        "latency": lambda: latency_chart(series, clock, limits, f"{tier}: latency {per} ({basis})"),
        "uptime": lambda: uptime_chart(tier, ((summary.get("tiers") or {}).get(tier) or {}).get("uptime"), clock),
        "throughput": lambda: throughput_chart(series, clock, limits, f"{tier}: achieved vs target req/s {per}"),
        "budget": lambda: budget_chart(series, clock, limits, f"{tier}: error rate {per} and error budget burned"),
        "histogram": lambda: histogram_chart(series, limits, measured_p95, f"{tier}: latency histogram (SLA window)"),
        "cdf": lambda: cdf_chart(series, limits, f"{tier}: latency CDF (SLA window)"),
        "cache": lambda: cache_chart(series, clock, limits, f"{tier}: cache hit rate {per}"),
        "db": lambda: db_chart(series, clock, limits, f"{tier}: DB time p95 {per}"),
    }
    drawn = {chart_name(tier, kind): drawers[kind]() for kind in CHART_KINDS}
    return {name: png for name, png in drawn.items() if png is not None}
