"""Draw one tier's latency distribution over the SLA window: the histogram and the empirical CDF, with the
measured p95 and the SLA limits; pure functions of the tier's series and plain values, returning PNG bytes."""

from __future__ import annotations

import numpy as np

from trademate_load.report.chart_style import (
    HALF_FIGSIZE,
    HALF_MARGINS,
    LOG_SCALE_RATIO,
    QUANTILE_COLORS,
    WARMUP_COLOR,
    Limits,
    legend,
    log_axis,
    new_figure,
    note,
    to_png,
    vline,
)
from trademate_load.report.series import TierSeries, ecdf_points

HISTOGRAM_BINS = 60


def histogram_chart(series: TierSeries, limits: Limits, measured_p95: float | None, title: str) -> bytes:
    """Share of the SLA window's requests per latency bin, with the measured p95 and the limits.

    Log bins when latency spans more than LOG_SCALE_RATIO; otherwise linear bins up to the slowest
    request, and a limit beyond that is listed as off scale rather than squashing the bars.
    """
    fig, ax = new_figure(title, "latency (ms)", "share of requests (%)", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    values = series.window_latency
    positive = values[np.searchsorted(values, 0.0, side="right") :]
    right = None  # end of a linear latency axis
    if len(positive):
        low, high = float(positive[0]), float(positive[-1])
        if high / low > LOG_SCALE_RATIO:
            edges = np.geomspace(low, high, HISTOGRAM_BINS + 1)
            log_axis(ax.xaxis, ax.set_xscale)
        else:
            edges = np.linspace(0.0, high * 1.0001, HISTOGRAM_BINS + 1)
            right = max(high, measured_p95 or 0.0) * 1.05
        counts = np.diff(np.r_[np.searchsorted(values, edges[:-1], side="left"), len(values)])
        ax.stairs(counts / len(values) * 100, edges, fill=True, color=QUANTILE_COLORS[0.50], alpha=0.8)
    else:
        note(ax, "no samples in the SLA window")
    vline(ax, measured_p95, "#444444", "p95", solid=True)
    for q, limit in ((0.95, limits.p95_ms), (0.99, limits.p99_ms)):
        label = f"p{round(q * 100)} limit"
        if limit is not None and right is not None and limit > right:
            ax.plot([], [], color=QUANTILE_COLORS[q], linestyle="--", label=f"{label} {limit:g} ms (off scale)")
        else:
            vline(ax, limit, QUANTILE_COLORS[q], label)
    if right is not None:
        ax.set_xlim(0, right)
    ax.set_ylim(bottom=0)
    legend(ax, inside="upper right")
    return to_png(fig)


def cdf_chart(series: TierSeries, limits: Limits, title: str) -> bytes:
    """Empirical CDF of one tier's latency over the SLA window, with the p95 and p99 limits."""
    fig, ax = new_figure(title, "latency (ms)", "share of requests", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    x, y = ecdf_points(series.window_latency)
    if len(x):
        ax.step(x, y, where="post", color=QUANTILE_COLORS[0.50], linewidth=1.4, label="ECDF")
        if x[0] > 0:
            log_axis(ax.xaxis, ax.set_xscale)
    else:
        note(ax, "no samples in the SLA window")
    ax.axhline(0.95, color=WARMUP_COLOR, linewidth=0.8, linestyle=":")
    vline(ax, limits.p95_ms, QUANTILE_COLORS[0.95], "p95 limit")
    vline(ax, limits.p99_ms, QUANTILE_COLORS[0.99], "p99 limit")
    ax.set_ylim(0, 1.02)
    legend(ax, inside="lower right")
    return to_png(fig)
