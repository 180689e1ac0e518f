"""Draw one tier's time-series charts over the run: latency percentiles, the uptime strip, achieved against target
req/s, error rate and error budget burned, cache hit rate and DB time.

Each is a pure function of the tier's series (series.tier_series), the run's clock and plain values, returning
PNG bytes; a cache or DB chart is None when the target never reported the figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trademate_load.report.chart_style import (
    BURN_COLOR,
    DPI,
    HALF_FIGSIZE,
    HALF_MARGINS,
    LIMIT_COLOR,
    QUANTILE_COLORS,
    STRIP_FIGSIZE,
    STRIP_MARGINS,
    TIER_COLORS,
    TWIN_MARGINS,
    Limits,
    finish,
    hline,
    latency_scale,
    legend,
    new_figure,
    shade_warmup,
    to_png,
    twin_legend,
)
from trademate_load.report.series import TIME_QUANTILES, Clock, TierSeries, burn_series

UPTIME_MARKS = {"U": ("up", "#2ca02c"), "D": ("down", "#d62728"), "-": ("not judged", "#d9d9d9")}


def latency_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes:
    """Per-bucket p50/p95/p99 of one tier's latency, the SLA limits, warm-up shaded."""
    fig, ax = new_figure(title, "seconds since start", "latency (ms)")
    shade_warmup(ax, clock)
    for q, row in zip(TIME_QUANTILES, series.latency, strict=True):
        ax.plot(series.mids, row, color=QUANTILE_COLORS[q], linewidth=1.2, label=f"p{round(q * 100)}")
    hline(ax, limits.p95_ms, QUANTILE_COLORS[0.95], "p95 limit {value:g} ms")
    hline(ax, limits.p99_ms, QUANTILE_COLORS[0.99], "p99 limit {value:g} ms")
    latency_scale(ax, series.latency)
    return finish(fig, ax, clock)


def uptime_chart(tier: str, uptime: Mapping | None, clock: Clock) -> bytes | None:
    """A strip of the tier's uptime windows (summary.json's timeline) on the latency chart's time axis: up, down or
    not judged; None without windows."""
    timeline = (uptime or {}).get("timeline")
    if not timeline:
        return None
    window_s = float(uptime["window_s"])
    starts = clock.warmup_end + np.arange(len(timeline)) * window_s
    ends = np.minimum(starts + window_s, max(clock.end, clock.warmup_end))
    ratio = uptime.get("ratio")
    shown = "not measured" if ratio is None else f"{ratio * 100:.3f}".rstrip("0").rstrip(".") + "%"
    title = f"{tier}: uptime {shown} in windows of {window_s:g} s"
    fig = Figure(figsize=STRIP_FIGSIZE, dpi=DPI)
    fig.subplots_adjust(**STRIP_MARGINS)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10, loc="left", y=1.0, pad=6)
    ax.set_xlabel("seconds since start", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8))
    shade_warmup(ax, clock)
    marks = np.array(list(timeline))
    for mark, (label, color) in UPTIME_MARKS.items():
        chosen = marks == mark
        if chosen.any():
            spans = list(zip(starts[chosen], (ends - starts)[chosen], strict=True))
            ax.broken_barh(spans, (0.0, 1.0), facecolors=color, edgecolor="white", linewidth=0.3, label=label)
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([])
    return finish(fig, ax, clock)


def throughput_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes:
    """Achieved requests per second of one tier against its target, warm-up shaded."""
    fig, ax = new_figure(title, "seconds since start", "requests / s")
    shade_warmup(ax, clock)
    ax.plot(series.mids, series.rps, color=TIER_COLORS[0], linewidth=1.2, label="achieved")
    hline(ax, limits.target_rps, LIMIT_COLOR, "target {value:g} req/s")
    ax.set_ylim(bottom=0)
    return finish(fig, ax, clock)


def budget_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes:
    """Error rate per bucket (left axis) and the share of the error budget burned so far (right axis).

    The budget is the failures the success-rate target allows, (1 - target) x requests, counted over the
    SLA window; burned = failures so far / failures allowed so far, so 100% is the SLA's edge.
    """
    fig, ax = new_figure(title, "seconds since start", "error rate (%)", margins=TWIN_MARGINS)
    shade_warmup(ax, clock)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(series.requests > 0, series.failures / series.requests * 100, np.nan)
    ax.plot(series.mids, rate, color=QUANTILE_COLORS[0.99], linewidth=1.2, label="error rate")
    ax.set_ylim(bottom=0, top=max(float(np.nanmax(rate, initial=0.0)) * 1.15, 0.1))
    burn = burn_series(series, limits.success_rate)
    twin = None
    if burn is not None:
        twin = ax.twinx()
        twin.tick_params(labelsize=8)
        twin.set_ylabel("error budget burned (%)", fontsize=9)
        shown = series.starts + series.widths > clock.warmup_end
        twin.plot(series.starts[shown] + series.widths[shown], burn[shown] * 100, color=BURN_COLOR, linewidth=1.4)
        twin.lines[-1].set_label("budget burned")
        twin.axhline(100, color=BURN_COLOR, linestyle="--", linewidth=1.0, label="budget used up")
        twin.set_ylim(bottom=0, top=max(float(np.nanmax(burn * 100, initial=0.0)) * 1.15, 110.0))
    ax.set_xlim(0.0, max(clock.end, 1.0))
    twin_legend(ax, twin)
    return to_png(fig)


def cache_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes | None:
    """Cache hit rate among reported lookups per bucket, with the SLA's minimum; None when never reported."""
    if series.cache_hits is None or series.cache_lookups is None:
        return None
    fig, ax = new_figure(title, "seconds since start", "hit rate (%)", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    shade_warmup(ax, clock)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(series.cache_lookups > 0, series.cache_hits / series.cache_lookups * 100, np.nan)
    ax.plot(series.mids, rate, color=TIER_COLORS[0], linewidth=1.2, label="hit rate")
    minimum = None if limits.cache_hit_rate is None else limits.cache_hit_rate * 100
    hline(ax, minimum, LIMIT_COLOR, "minimum {value:g}%")
    low = float(np.nanmin(rate, initial=100.0))
    ax.set_ylim(bottom=max(0.0, min(low, minimum if minimum is not None else low) - 5), top=101)
    ax.set_xlim(0.0, max(clock.end, 1.0))
    legend(ax, inside="lower right")
    return to_png(fig)


def db_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes | None:
    """Exact p95 of the DB time (Server-Timing db) per bucket, with the SLA's limit; None when never reported."""
    if series.db_p95 is None:
        return None
    fig, ax = new_figure(title, "seconds since start", "DB time p95 (ms)", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    shade_warmup(ax, clock)
    ax.plot(series.mids, series.db_p95, color=QUANTILE_COLORS[0.95], linewidth=1.2, label="DB p95")
    hline(ax, limits.db_ms, LIMIT_COLOR, "limit {value:g} ms")
    latency_scale(ax, series.db_p95[np.newaxis, :])
    ax.set_xlim(0.0, max(clock.end, 1.0))
    legend(ax, inside="upper right")
    return to_png(fig)
