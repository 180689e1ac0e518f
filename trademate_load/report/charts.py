"""Draw the run report's charts: pure functions from a sample frame and plain values to PNG bytes.

Time series come from series.tier_series, computed once per tier from the raw samples and shared by
every chart of that tier; table figures and the verdict are never recomputed, and the scalability chart
draws summary.json's own section. Figures are built with the matplotlib Figure API and rendered by Agg,
so nothing touches pyplot's global state.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullLocator

from trademate_load.report.series import (
    TIME_QUANTILES,
    Clock,
    TierSeries,
    burn_series,
    ecdf_points,
    frame_tiers,
    run_clock,
    tier_series,
)
from trademate_load.runinfo import RunInfo
from trademate_load.validity import LAG_P99_MS, Health, healths

FIGSIZE = (9.0, 3.2)
HALF_FIGSIZE = (4.5, 3.2)
DPI = 100
TIME_KINDS = ("latency", "uptime", "throughput", "budget")  # full width, over the run (uptime: a strip)
PAIR_KINDS = ("histogram", "cdf", "cache", "db")  # half width, shown two by two
CHART_KINDS = TIME_KINDS + PAIR_KINDS
REPORTED_KINDS = ("cache", "db")  # drawn only when the target reports X-Cache / Server-Timing db
ERRORS_CHART = "errors"
NOISY_CHART = "noisy_neighbour"
GENERATOR_CHART = "generator"
SCALABILITY_CHART = "scalability"
QUANTILE_COLORS = {0.50: "#1f77b4", 0.95: "#ff7f0e", 0.99: "#d62728"}
TIER_COLORS = ("#1f77b4", "#9467bd", "#2ca02c", "#8c564b", "#e377c2")
WARMUP_COLOR = "#9e9e9e"
LIMIT_COLOR = "#2ca02c"
BURN_COLOR = "#9467bd"
MARGINS = {"left": 0.075, "right": 0.83, "bottom": 0.15, "top": 0.9}  # fixed: a layout engine doubles draw time
TWIN_MARGINS = {**MARGINS, "right": 0.78}
HALF_MARGINS = {"left": 0.15, "right": 0.97, "bottom": 0.15, "top": 0.9}
STRIP_FIGSIZE = (9.0, 1.3)  # the uptime strip: as wide as the latency chart, with its left and right margins
STRIP_MARGINS = {**MARGINS, "bottom": 0.36, "top": 0.76}
UPTIME_MARKS = {"U": ("up", "#2ca02c"), "D": ("down", "#d62728"), "-": ("not judged", "#d9d9d9")}
HISTOGRAM_BINS = 60
LOG_SCALE_RATIO = 20.0  # latency axis turns logarithmic when its top exceeds 20x the median plotted value
PNG_OPTIONS = {"compress_level": 3}  # zlib level: level 6 (the default) costs a third more time for 10% less


@dataclass(frozen=True)
class Limits:
    """One tier's plain values drawn on its charts; None leaves a line out."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    target_rps: float | None = None
    db_ms: float | None = None
    cache_hit_rate: float | None = None
    success_rate: float | None = None


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
    per = _per(series)
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


def latency_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes:
    """Per-bucket p50/p95/p99 of one tier's latency, the SLA limits, warm-up shaded."""
    fig, ax = _figure(title, "seconds since start", "latency (ms)")
    _shade_warmup(ax, clock)
    for q, row in zip(TIME_QUANTILES, series.latency, strict=True):
        ax.plot(series.mids, row, color=QUANTILE_COLORS[q], linewidth=1.2, label=f"p{round(q * 100)}")
    _hline(ax, limits.p95_ms, QUANTILE_COLORS[0.95], "p95 limit {value:g} ms")
    _hline(ax, limits.p99_ms, QUANTILE_COLORS[0.99], "p99 limit {value:g} ms")
    _latency_scale(ax, series.latency)
    return _finish(fig, ax, clock)


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
    _shade_warmup(ax, clock)
    marks = np.array(list(timeline))
    for mark, (label, color) in UPTIME_MARKS.items():
        chosen = marks == mark
        if chosen.any():
            spans = list(zip(starts[chosen], (ends - starts)[chosen], strict=True))
            ax.broken_barh(spans, (0.0, 1.0), facecolors=color, edgecolor="white", linewidth=0.3, label=label)
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([])
    return _finish(fig, ax, clock)


def throughput_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes:
    """Achieved requests per second of one tier against its target, warm-up shaded."""
    fig, ax = _figure(title, "seconds since start", "requests / s")
    _shade_warmup(ax, clock)
    ax.plot(series.mids, series.rps, color=TIER_COLORS[0], linewidth=1.2, label="achieved")
    _hline(ax, limits.target_rps, LIMIT_COLOR, "target {value:g} req/s")
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, clock)


def budget_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes:
    """Error rate per bucket (left axis) and the share of the error budget burned so far (right axis).

    The budget is the failures the success-rate target allows, (1 - target) x requests, counted over the
    SLA window; burned = failures so far / failures allowed so far, so 100% is the SLA's edge.
    """
    fig, ax = _figure(title, "seconds since start", "error rate (%)", margins=TWIN_MARGINS)
    _shade_warmup(ax, clock)
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
    _twin_legend(ax, twin)
    return _png(fig)


def histogram_chart(series: TierSeries, limits: Limits, measured_p95: float | None, title: str) -> bytes:
    """Share of the SLA window's requests per latency bin, with the measured p95 and the limits.

    Log bins when latency spans more than LOG_SCALE_RATIO; otherwise linear bins up to the slowest
    request, and a limit beyond that is listed as off scale rather than squashing the bars.
    """
    fig, ax = _figure(title, "latency (ms)", "share of requests (%)", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    values = series.window_latency
    positive = values[np.searchsorted(values, 0.0, side="right") :]
    right = None  # end of a linear latency axis
    if len(positive):
        low, high = float(positive[0]), float(positive[-1])
        if high / low > LOG_SCALE_RATIO:
            edges = np.geomspace(low, high, HISTOGRAM_BINS + 1)
            _log_axis(ax.xaxis, ax.set_xscale)
        else:
            edges = np.linspace(0.0, high * 1.0001, HISTOGRAM_BINS + 1)
            right = max(high, measured_p95 or 0.0) * 1.05
        counts = np.diff(np.r_[np.searchsorted(values, edges[:-1], side="left"), len(values)])
        ax.stairs(counts / len(values) * 100, edges, fill=True, color=QUANTILE_COLORS[0.50], alpha=0.8)
    else:
        _note(ax, "no samples in the SLA window")
    _vline(ax, measured_p95, "#444444", "p95", solid=True)
    for q, limit in ((0.95, limits.p95_ms), (0.99, limits.p99_ms)):
        label = f"p{round(q * 100)} limit"
        if limit is not None and right is not None and limit > right:
            ax.plot([], [], color=QUANTILE_COLORS[q], linestyle="--", label=f"{label} {limit:g} ms (off scale)")
        else:
            _vline(ax, limit, QUANTILE_COLORS[q], label)
    if right is not None:
        ax.set_xlim(0, right)
    ax.set_ylim(bottom=0)
    _legend(ax, inside="upper right")
    return _png(fig)


def cdf_chart(series: TierSeries, limits: Limits, title: str) -> bytes:
    """Empirical CDF of one tier's latency over the SLA window, with the p95 and p99 limits."""
    fig, ax = _figure(title, "latency (ms)", "share of requests", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    x, y = ecdf_points(series.window_latency)
    if len(x):
        ax.step(x, y, where="post", color=QUANTILE_COLORS[0.50], linewidth=1.4, label="ECDF")
        if x[0] > 0:
            _log_axis(ax.xaxis, ax.set_xscale)
    else:
        _note(ax, "no samples in the SLA window")
    ax.axhline(0.95, color=WARMUP_COLOR, linewidth=0.8, linestyle=":")
    _vline(ax, limits.p95_ms, QUANTILE_COLORS[0.95], "p95 limit")
    _vline(ax, limits.p99_ms, QUANTILE_COLORS[0.99], "p99 limit")
    ax.set_ylim(0, 1.02)
    _legend(ax, inside="lower right")
    return _png(fig)


def cache_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes | None:
    """Cache hit rate among reported lookups per bucket, with the SLA's minimum; None when never reported."""
    if series.cache_hits is None or series.cache_lookups is None:
        return None
    fig, ax = _figure(title, "seconds since start", "hit rate (%)", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    _shade_warmup(ax, clock)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(series.cache_lookups > 0, series.cache_hits / series.cache_lookups * 100, np.nan)
    ax.plot(series.mids, rate, color=TIER_COLORS[0], linewidth=1.2, label="hit rate")
    minimum = None if limits.cache_hit_rate is None else limits.cache_hit_rate * 100
    _hline(ax, minimum, LIMIT_COLOR, "minimum {value:g}%")
    low = float(np.nanmin(rate, initial=100.0))
    ax.set_ylim(bottom=max(0.0, min(low, minimum if minimum is not None else low) - 5), top=101)
    ax.set_xlim(0.0, max(clock.end, 1.0))
    _legend(ax, inside="lower right")
    return _png(fig)


def db_chart(series: TierSeries, clock: Clock, limits: Limits, title: str) -> bytes | None:
    """Exact p95 of the DB time (Server-Timing db) per bucket, with the SLA's limit; None when never reported."""
    if series.db_p95 is None:
        return None
    fig, ax = _figure(title, "seconds since start", "DB time p95 (ms)", size=HALF_FIGSIZE, margins=HALF_MARGINS)
    _shade_warmup(ax, clock)
    ax.plot(series.mids, series.db_p95, color=QUANTILE_COLORS[0.95], linewidth=1.2, label="DB p95")
    _hline(ax, limits.db_ms, LIMIT_COLOR, "limit {value:g} ms")
    _latency_scale(ax, series.db_p95[np.newaxis, :])
    ax.set_xlim(0.0, max(clock.end, 1.0))
    _legend(ax, inside="upper right")
    return _png(fig)


def errors_chart(tiers: Sequence[TierSeries], clock: Clock, title: str = "Failures per second") -> bytes:
    """Failed requests per second, one line per tier (in the order given), warm-up shaded."""
    fig, ax = _figure(title, "seconds since start", "failures / s")
    _shade_warmup(ax, clock)
    for color, series in zip(itertools.cycle(TIER_COLORS), tiers, strict=False):
        ax.plot(series.mids, series.failures / series.widths, color=color, linewidth=1.2, label=series.tier)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, clock)


def noisy_neighbour_chart(premium: TierSeries, shared: TierSeries, clock: Clock, limits: Limits) -> bytes:
    """Premium p95 per bucket (left axis) against the shared tier's req/s (right axis): does shared load hurt?

    The premium p95 limit is drawn only when within reach of the plotted p95 (it would flatten the line).
    """
    title = f"Noisy neighbour: premium p95 against shared load {_per(premium)}"
    fig, ax = _figure(title, "seconds since start", "premium p95 (ms)", margins=TWIN_MARGINS)
    _shade_warmup(ax, clock)
    p95 = premium.latency[1]
    ax.plot(premium.mids, p95, color=QUANTILE_COLORS[0.95], linewidth=1.2, label="premium p95")
    _limit_line(ax, limits.p95_ms, float(np.nanmax(p95, initial=0.0)), QUANTILE_COLORS[0.95], "p95 limit")
    _latency_scale(ax, p95[np.newaxis, :])
    twin = ax.twinx()
    twin.tick_params(labelsize=8)
    twin.set_ylabel("shared requests / s", fontsize=9)
    twin.plot(shared.mids, shared.rps, color=TIER_COLORS[0], linewidth=1.0, alpha=0.8, label="shared req/s")
    twin.set_ylim(bottom=0, top=max(float(np.nanmax(shared.rps, initial=0.0)) * 1.15, 1.0))
    ax.set_xlim(0.0, max(clock.end, 1.0))
    _twin_legend(ax, twin)
    return _png(fig)


def generator_chart(health: Mapping[str, Health], clock: Clock) -> bytes:
    """Each process's loop lag p99 per second (left axis, with the threshold of an unhealthy second) and its CPU
    share and the machine's CPU pressure (right axis), on the latency chart's time axis; warm-up shaded."""
    fig, ax = _figure("Load generator: loop lag, CPU and CPU pressure per second", "seconds since start",
                      "loop lag p99 (ms)", margins=TWIN_MARGINS)  # fmt: skip
    _shade_warmup(ax, clock)
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
        twin.plot(mids, h.columns["pressure"] * 100, color=color, linewidth=0.9, linestyle="--",
                  label=f"{process} CPU pressure")  # fmt: skip
    _hline(ax, LAG_P99_MS, QUANTILE_COLORS[0.99], "unhealthy > {value:g} ms", style=":")
    _latency_scale(ax, np.concatenate([*lags, [LAG_P99_MS]])[np.newaxis, :])
    twin.set_ylim(bottom=0, top=110)
    ax.set_xlim(0.0, max(clock.end, 1.0))
    _twin_legend(ax, twin)
    return _png(fig)


def scalability_chart(section: Mapping) -> bytes:
    """p95 (solid) and p99 (dashed) of each step against its achieved req/s, one colour per tier.

    Each p95 point is labelled with its step's share of the target; a tier's p95 limit is drawn only when
    it is within reach of the plotted latencies (otherwise it would flatten them).
    """
    fig, ax = _figure("Scalability: latency against achieved load, per step", "achieved requests / s", "latency (ms)")
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
        _limit_line(ax, _float(limit), top, color, f"{tier} p95 limit", style=":", row=index)
    _latency_scale(ax, values[np.newaxis, :])
    ax.set_xlim(left=0)
    _legend(ax)
    return _png(fig)


def _per(series: TierSeries) -> str:
    """'per second', or 'per N s' for a long run's wider buckets."""
    return "per second" if series.bucket_s == 1 else f"per {series.bucket_s} s"


def _float(value: object) -> float:
    """value as a float, NaN when missing."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def _figure(
    title: str, xlabel: str, ylabel: str, *, size: tuple[float, float] = FIGSIZE, margins: Mapping = MARGINS
) -> tuple[Figure, Axes]:
    """A fresh report-sized figure with one titled, labelled axes."""
    fig = Figure(figsize=size, dpi=DPI)
    fig.subplots_adjust(**margins)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10, loc="left", y=1.0, pad=6)  # a fixed position: auto-placing costs a layout
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8 if size[0] > HALF_FIGSIZE[0] else 5))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    return fig, ax


def _shade_warmup(ax: Axes, clock: Clock) -> None:
    """Grey band over the warm-up, which the SLA window excludes."""
    if clock.warmup_end > 0:
        ax.axvspan(0, clock.warmup_end, color=WARMUP_COLOR, alpha=0.25, linewidth=0, label="warm-up")


def _hline(ax: Axes, value: float | None, color: str, label: str, style: str = "--") -> None:
    """Horizontal reference line, left out when value is None; label ends with the value."""
    if value is not None:
        ax.axhline(value, color=color, linestyle=style, linewidth=1.0, label=label.format(value=value))


def _limit_line(
    ax: Axes, limit: float | None, top: float, color: str, label: str, style: str = "--", row: int = 0
) -> None:
    """A horizontal limit line when it is within twice the plotted maximum; otherwise a note in the top right
    corner (row: which line of notes) that it is off scale, as drawing it would flatten the data."""
    if limit is None or not np.isfinite(limit):
        return
    if top > 0 and limit <= 2 * top:
        _hline(ax, limit, color, f"{label} {{value:g}} ms", style=style)
    else:
        y = 0.97 - 0.08 * row
        note = f"{label} {limit:g} ms: above the chart"
        ax.text(0.99, y, note, transform=ax.transAxes, ha="right", va="top", fontsize=7, color=color)
        if top > 0:
            ax.set_ylim(top=max(ax.get_ylim()[1], top * 1.3))  # headroom for the notes


def _vline(ax: Axes, value: float | None, color: str, label: str, solid: bool = False) -> None:
    """Vertical reference line (dashed, or solid for a measured figure), left out when value is None."""
    if value is not None:
        style = "-" if solid else "--"
        ax.axvline(value, color=color, linestyle=style, linewidth=1.0, label=f"{label} {value:g} ms")


def _note(ax: Axes, text: str) -> None:
    """Centered grey message inside an axes with nothing to plot."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=WARMUP_COLOR)


def _finish(fig: Figure, ax: Axes, clock: Clock) -> bytes:
    """Time-axis limits and legend of a time-series chart, then its PNG."""
    ax.set_xlim(0.0, max(clock.end, 1.0))
    _legend(ax)
    return _png(fig)


def _legend(ax: Axes, inside: str | None = None) -> None:
    """Legend beside the plot, so it never hides a line, or inside at a fixed corner for a half-width chart."""
    if not ax.get_legend_handles_labels()[0]:
        return
    if inside:
        ax.legend(loc=inside, fontsize=7, framealpha=0.85)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)


def _twin_legend(ax: Axes, twin: Axes | None) -> None:
    """One legend for both axes of a twin-axes chart, beside the second axis' tick labels."""
    handles, labels = ax.get_legend_handles_labels()
    if twin is not None:
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.09, 1.0), fontsize=8, frameon=False, borderaxespad=0)


def _latency_scale(ax: Axes, rows: np.ndarray) -> None:
    """Linear latency axis from 0, or logarithmic when spikes would flatten the typical values."""
    finite = rows[np.isfinite(rows) & (rows > 0)]
    top = max(ax.get_ylim()[1], float(finite.max()) if finite.size else 0.0)
    if finite.size and top / np.median(finite) > LOG_SCALE_RATIO:
        _log_axis(ax.yaxis, ax.set_yscale)
        ax.set_ylabel(ax.get_ylabel().replace(")", ", log scale)"), fontsize=9)
    else:
        ax.set_ylim(bottom=0)


def _log_axis(axis: Axis, set_scale: Callable[[str], None]) -> None:
    """A logarithmic axis labelled 1, 2, 5, 10, 20, 50 ... and no minor ticks (each tick costs a layout)."""
    set_scale("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_locator(NullLocator())


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no software metadata, so the page carries no URL)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None}, pil_kwargs=PNG_OPTIONS)
    return buffer.getvalue()
