"""Draw the run-level charts, across tiers or processes: failures per second per tier, the noisy neighbour
(premium p95 against shared load), the load generator's health, and the scalability steps.

Pure functions of the tiers' series, the generator's health rows or summary.json's scalability section (drawn as
the SLA engine computed it), returning PNG bytes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from trademate_load.report.chart_style import (
    QUANTILE_COLORS,
    TIER_COLORS,
    TWIN_MARGINS,
    Limits,
    finish,
    hline,
    latency_scale,
    legend,
    limit_line,
    new_figure,
    per_bucket,
    shade_warmup,
    to_png,
    twin_legend,
)
from trademate_load.report.series import Clock, TierSeries
from trademate_load.validity import LAG_P99_MS, Health


def errors_chart(tiers: Sequence[TierSeries], clock: Clock, title: str = "Failures per second") -> bytes:
    """Failed requests per second, one line per tier (in the order given), warm-up shaded."""
    fig, ax = new_figure(title, "seconds since start", "failures / s")
    shade_warmup(ax, clock)
    for color, series in zip(itertools.cycle(TIER_COLORS), tiers, strict=False):
        ax.plot(series.mids, series.failures / series.widths, color=color, linewidth=1.2, label=series.tier)
    ax.set_ylim(bottom=0)
    return finish(fig, ax, clock)


def noisy_neighbour_chart(premium: TierSeries, shared: TierSeries, clock: Clock, limits: Limits) -> bytes:
    """Premium p95 per bucket (left axis) against the shared tier's req/s (right axis): does shared load hurt?

    The premium p95 limit is drawn only when within reach of the plotted p95 (it would flatten the line).
    """
    title = f"Noisy neighbour: premium p95 against shared load {per_bucket(premium)}"
    fig, ax = new_figure(title, "seconds since start", "premium p95 (ms)", margins=TWIN_MARGINS)
    shade_warmup(ax, clock)
    p95 = premium.latency[1]
    ax.plot(premium.mids, p95, color=QUANTILE_COLORS[0.95], linewidth=1.2, label="premium p95")
    limit_line(ax, limits.p95_ms, float(np.nanmax(p95, initial=0.0)), QUANTILE_COLORS[0.95], "p95 limit")
    latency_scale(ax, p95[np.newaxis, :])
    twin = ax.twinx()
    twin.tick_params(labelsize=8)
    twin.set_ylabel("shared requests / s", fontsize=9)
    twin.plot(shared.mids, shared.rps, color=TIER_COLORS[0], linewidth=1.0, alpha=0.8, label="shared req/s")
    twin.set_ylim(bottom=0, top=max(float(np.nanmax(shared.rps, initial=0.0)) * 1.15, 1.0))
    ax.set_xlim(0.0, max(clock.end, 1.0))
    twin_legend(ax, twin)
    return to_png(fig)


def generator_chart(health: Mapping[str, Health], clock: Clock) -> bytes:
    """Each process's loop lag p99 per second (left axis, with the threshold of an unhealthy second) and its CPU
    share and the machine's CPU pressure (right axis), on the latency chart's time axis; warm-up shaded."""
    title = "Load generator: loop lag, CPU and CPU pressure per second"
    fig, ax = new_figure(title, "seconds since start", "loop lag p99 (ms)", margins=TWIN_MARGINS)
    shade_warmup(ax, clock)
    twin = ax.twinx()
    twin.tick_params(labelsize=8)
    twin.set_ylabel("share of a second (%)", fontsize=9)
    lags = []
    for color, (process, h) in zip(itertools.cycle(TIER_COLORS), health.items(), strict=False):
        mids = (h.start + h.end) / 2 - clock.origin
        lag = h.columns["lag_p99_ms"]
        lags.append(lag)
        ax.plot(mids, lag, color=color, linewidth=1.2, label=f"{process} loop lag p99")
        twin.plot(mids, h.columns["cpu"] * 100, color=color, linewidth=0.9, linestyle=":", label=f"{process} CPU")
        pressure = h.columns["pressure"] * 100
        twin.plot(mids, pressure, color=color, linewidth=0.9, linestyle="--", label=f"{process} CPU pressure")
    hline(ax, LAG_P99_MS, QUANTILE_COLORS[0.99], "unhealthy > {value:g} ms", style=":")
    latency_scale(ax, np.concatenate([*lags, [LAG_P99_MS]])[np.newaxis, :])
    twin.set_ylim(bottom=0, top=110)
    ax.set_xlim(0.0, max(clock.end, 1.0))
    twin_legend(ax, twin)
    return to_png(fig)


def scalability_chart(section: Mapping) -> bytes:
    """p95 (solid) and p99 (dashed) of each step against its achieved req/s, one colour per tier.

    Each p95 point is labelled with its step's share of the target; a tier's p95 limit is drawn only when
    it is within reach of the plotted latencies (otherwise it would flatten them).
    """
    fig, ax = new_figure(
        "Scalability: latency against achieved load, per step", "achieved requests / s", "latency (ms)"
    )
    tiers = list((section.get("tiers") or {}).items())
    drawn = []
    for index, (tier, result) in enumerate(tiers):
        color = TIER_COLORS[index % len(TIER_COLORS)]
        steps = [step for step in result.get("steps") or [] if step.get("achieved_rps") is not None]
        x = np.array([step["achieved_rps"] for step in steps], dtype=np.float64)
        p95, p99 = (np.array([_float((s.get("latency_ms") or {}).get(k)) for s in steps]) for k in ("p95", "p99"))
        ax.plot(x, p95, "-", color=color, marker="o", markersize=4, linewidth=1.3, label=f"{tier} p95")
        ax.plot(x, p99, "--", color=color, marker="s", markersize=3, linewidth=1.0, label=f"{tier} p99")
        offset = (3, 5) if index % 2 == 0 else (3, -11)  # tiers' labels on opposite sides of their points
        for step, xi, yi in zip(steps, x, p95, strict=True):
            if np.isfinite(yi):
                label = f"{_float(step.get('load_pct')):.0f}%"
                ax.annotate(label, (xi, yi), fontsize=7, color=color, xytext=offset, textcoords="offset points")
        drawn += [p95, p99]
    values = np.concatenate(drawn) if drawn else np.empty(0)
    top = float(np.nanmax(values, initial=0.0))
    for index, (tier, result) in enumerate(tiers):
        limit = result.get("p95_limit_ms")
        color = TIER_COLORS[index % len(TIER_COLORS)]
        limit_line(ax, _float(limit), top, color, f"{tier} p95 limit", style=":", row=index)
    latency_scale(ax, values[np.newaxis, :])
    ax.set_xlim(left=0)
    legend(ax)
    return to_png(fig)


def _float(value: object) -> float:
    """value as a float, NaN when missing."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan
