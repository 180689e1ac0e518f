"""Draw the run report's charts: pure functions from a sample frame and plain values to PNG bytes.

Time series are computed here from the raw samples (per-second exact quantiles, request and failure
counts); table figures and the verdict are never recomputed. Figures are built with the matplotlib
Figure API and rendered by Agg, so nothing touches pyplot's global state.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

FIGSIZE = (9.0, 3.2)
DPI = 100
MAX_CDF_POINTS = 2000
TIME_QUANTILES = (0.50, 0.95, 0.99)
CHART_KINDS = ("latency", "cdf", "throughput")
ERRORS_CHART = "errors"
QUANTILE_COLORS = {0.50: "#1f77b4", 0.95: "#ff7f0e", 0.99: "#d62728"}
TIER_COLORS = ("#1f77b4", "#9467bd", "#2ca02c", "#8c564b", "#e377c2")
WARMUP_COLOR = "#9e9e9e"
MARGINS = {"left": 0.075, "right": 0.83, "bottom": 0.15, "top": 0.9}  # fixed: a layout engine doubles draw time
LOG_SCALE_RATIO = 20.0  # latency axis turns logarithmic when its top exceeds 20x the median plotted value
_SCALE = 10_000  # quantiles are applied in integer ten-thousandths, so 0.95 * n never rounds up wrongly


@dataclass(frozen=True)
class Clock:
    """The run's time axis: epoch origin (second 0) and the SLA window in seconds since it."""

    origin: float
    warmup_end: float
    end: float


@dataclass(frozen=True)
class Limits:
    """One tier's plain values drawn on its charts; None leaves a line out."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    target_rps: float | None = None


def chart_name(tier: str, kind: str) -> str:
    """Key of a tier's chart in render_charts' result, safe as a file name stem."""
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', tier)}_{kind}"


def basis_column(summary: Mapping, run: Mapping, tier: str) -> str:
    """Frame column a tier's latency figures use: corrected (from intended_ts) or service time."""
    tier_summary = (summary.get("tiers") or {}).get(tier) or {}
    basis = tier_summary.get("latency_basis") or run.get("latency_basis") or "service"
    return "latency_co_ms" if basis == "corrected" else "latency_ms"


def run_clock(frame: pd.DataFrame, run: Mapping) -> Clock:
    """The run's clock from run.json, falling back to the samples' own time span."""
    ts = frame["ts"].to_numpy(dtype=np.float64) if len(frame) else np.zeros(1)
    origin = _number(run.get("started_ts"), float(np.nanmin(ts)))
    end = _number(run.get("ended_ts"), float(np.nanmax(ts))) - origin
    warmup_end = min(max(_number(run.get("warmup_s"), 0.0), 0.0), max(end, 0.0))
    return Clock(origin=origin, warmup_end=warmup_end, end=end)


def tier_limits(summary: Mapping, run: Mapping, tier: str) -> Limits:
    """A tier's SLA latency limits and target request rate from run.json (summary as fallback)."""
    sla = (run.get("sla") or {}).get(tier) or {}
    settings = ((run.get("settings") or {}).get("tiers") or {}).get(tier) or {}
    target = settings.get("rps", ((summary.get("tiers") or {}).get(tier) or {}).get("target_rps"))
    return Limits(p95_ms=sla.get("p95_ms"), p99_ms=sla.get("p99_ms"), target_rps=target)


def per_second_quantiles(
    seconds: np.ndarray, values: np.ndarray, quantiles: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inverted-CDF quantiles of values per integer second: (seconds, array[len(quantiles), seconds])."""
    finite = np.isfinite(values)
    if not finite.all():
        seconds, values = seconds[finite], values[finite]
    del finite
    if not len(values):
        return np.empty(0, np.int64), np.empty((len(quantiles), 0))
    order = np.argsort(values)  # by value, then stably by second: values sorted within each second
    order = order[np.argsort(_compact_ints(seconds[order]), kind="stable")]
    ordered_seconds, ordered_values = seconds[order], values[order]
    del order
    starts = np.flatnonzero(np.r_[True, ordered_seconds[1:] != ordered_seconds[:-1]])
    counts = np.diff(np.r_[starts, len(ordered_values)])
    rows = [ordered_values[starts + _rank(counts, q)] for q in quantiles]
    return ordered_seconds[starts], np.vstack(rows)


def ecdf_points(values: np.ndarray, max_points: int = MAX_CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF (x sorted, y = share <= x) thinned to max_points, keeping the tail's resolution."""
    ordered = values[np.isfinite(values)]
    ordered.sort()
    n = len(ordered)
    if n <= max_points:
        ranks = np.arange(n)
    else:
        half = max_points // 2
        linear = np.linspace(0, n - 1, half).astype(np.int64)
        tail = n - np.geomspace(1, n, half).astype(np.int64)
        ranks = np.unique(np.r_[linear, tail, n - 1])
    return ordered[ranks], (ranks + 1) / max(n, 1)


def per_second_counts(seconds: np.ndarray, first: int, last: int) -> np.ndarray:
    """Number of samples in each integer second from first to last inclusive."""
    inside = (seconds >= first) & (seconds <= last)
    return np.bincount(seconds[inside] - first, minlength=last - first + 1)


def latency_chart(frame: pd.DataFrame, column: str, clock: Clock, limits: Limits, title: str) -> bytes:
    """Per-second p50/p95/p99 of one tier's latency column, the SLA limits, warm-up shaded."""
    seconds = _seconds(frame, clock)
    labels, rows = per_second_quantiles(seconds, frame[column].to_numpy(dtype=np.float64), TIME_QUANTILES)
    fig, ax = _figure(title, "seconds since start", "latency (ms)")
    _shade_warmup(ax, clock)
    if len(labels):
        span = np.arange(labels[0], labels[-1] + 1)
        for q, row in zip(TIME_QUANTILES, rows, strict=True):
            dense = np.full(len(span), np.nan)
            dense[labels - labels[0]] = row
            ax.plot(span + 0.5, dense, color=QUANTILE_COLORS[q], linewidth=1.2, label=f"p{round(q * 100)}")
    _hline(ax, limits.p95_ms, QUANTILE_COLORS[0.95], "p95 limit {value:g} ms")
    _hline(ax, limits.p99_ms, QUANTILE_COLORS[0.99], "p99 limit {value:g} ms")
    _latency_scale(ax, rows)
    return _finish(fig, ax, clock)


def cdf_chart(frame: pd.DataFrame, column: str, clock: Clock, limits: Limits, title: str) -> bytes:
    """Empirical CDF of one tier's latency over the SLA window, with the p95 and p99 limits."""
    t = frame["ts"].to_numpy(dtype=np.float64) - clock.origin
    window = (t >= clock.warmup_end) & (t <= clock.end)
    x, y = ecdf_points(frame[column].to_numpy(dtype=np.float64)[window])
    fig, ax = _figure(title, "latency (ms)", "share of requests")
    if len(x):
        ax.step(x, y, where="post", color=QUANTILE_COLORS[0.50], linewidth=1.4, label="ECDF (SLA window)")
        if x[0] > 0:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    else:
        _note(ax, "no samples in the SLA window")
    ax.axhline(0.95, color=WARMUP_COLOR, linewidth=0.8, linestyle=":")
    _vline(ax, limits.p95_ms, QUANTILE_COLORS[0.95], "p95 limit")
    _vline(ax, limits.p99_ms, QUANTILE_COLORS[0.99], "p99 limit")
    ax.set_ylim(0, 1.02)
    _legend(ax)
    return _png(fig)


def throughput_chart(frame: pd.DataFrame, clock: Clock, limits: Limits, title: str) -> bytes:
    """Achieved requests per second of one tier against its target, warm-up shaded."""
    first, last = _complete_seconds(clock)
    counts = per_second_counts(_seconds(frame, clock), first, last)
    fig, ax = _figure(title, "seconds since start", "requests / s")
    _shade_warmup(ax, clock)
    ax.plot(np.arange(first, last + 1) + 0.5, counts, color=TIER_COLORS[0], linewidth=1.2, label="achieved")
    _hline(ax, limits.target_rps, "#2ca02c", "target {value:g} req/s")
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, clock)


def errors_chart(frame: pd.DataFrame, clock: Clock, tiers: Sequence[str], title: str = "Failures per second") -> bytes:
    """Failed requests per second, one line per tier (in the order given), warm-up shaded."""
    first, last = _complete_seconds(clock)
    failed = frame.loc[~_ok(frame), ["tier", "ts"]]
    fig, ax = _figure(title, "seconds since start", "failures / s")
    _shade_warmup(ax, clock)
    for color, tier in zip(itertools.cycle(TIER_COLORS), tiers, strict=False):
        counts = per_second_counts(_seconds(failed[failed["tier"] == tier], clock), first, last)
        ax.plot(np.arange(first, last + 1) + 0.5, counts, color=color, linewidth=1.2, label=tier)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, clock)


def render_charts(frame: pd.DataFrame, summary: Mapping, run: Mapping) -> dict[str, bytes]:
    """Every chart of the report, by name (see chart_name and ERRORS_CHART); empty for an empty frame."""
    if not len(frame):
        return {}
    clock = run_clock(frame, run)
    tiers = frame_tiers(frame, list(summary.get("tiers") or {}))
    charts: dict[str, bytes] = {}
    for tier in tiers:  # one tier's columns in memory at a time
        column = basis_column(summary, run, tier)
        charts.update(tier_charts(tier_samples(frame, tier, column), tier, clock, summary, run))
    if not _ok(frame).all():
        charts[ERRORS_CHART] = errors_chart(frame, clock, tiers)
    return charts


def tier_charts(frame: pd.DataFrame, tier: str, clock: Clock, summary: Mapping, run: Mapping) -> dict[str, bytes]:
    """One tier's latency-over-time, latency-CDF and throughput charts, by name."""
    column, limits = basis_column(summary, run, tier), tier_limits(summary, run, tier)
    basis = "corrected" if column == "latency_co_ms" else "service time"
    return {
        chart_name(tier, "latency"): latency_chart(
            frame, column, clock, limits, f"{tier}: latency per second ({basis})"
        ),
        chart_name(tier, "cdf"): cdf_chart(
            frame, column, clock, limits, f"{tier}: latency distribution in the SLA window ({basis})"
        ),
        chart_name(tier, "throughput"): throughput_chart(
            frame, clock, limits, f"{tier}: achieved vs target requests per second"
        ),
    }


def frame_tiers(frame: pd.DataFrame, order: Sequence[str]) -> list[str]:
    """Tiers present in the samples: those listed in order first, then the rest sorted."""
    present = set(pd.unique(frame["tier"]).tolist())
    return [tier for tier in order if tier in present] + sorted(present - set(order))


def tier_samples(frame: pd.DataFrame, tier: str, column: str) -> pd.DataFrame:
    """One tier's ts and latency column, the only columns its charts read."""
    mask = frame["tier"].eq(tier).to_numpy(dtype=bool, na_value=False)
    return pd.DataFrame({name: frame[name].to_numpy()[mask] for name in ("ts", column)}, copy=False)


def _ok(frame: pd.DataFrame) -> np.ndarray:
    """The ok column as plain bools (a missing value counts as a failure)."""
    return frame["ok"].to_numpy(dtype=bool, na_value=False)


def _rank(counts: np.ndarray, q: float) -> np.ndarray:
    """0-based rank of the inverted-CDF q-quantile within groups of the given sizes."""
    needed = (counts * round(q * _SCALE) + _SCALE - 1) // _SCALE
    return np.clip(needed, 1, counts) - 1


def _compact_ints(values: np.ndarray) -> np.ndarray:
    """Integers shifted to start at 0 in the narrowest dtype, so a stable argsort can use radix sort."""
    shifted = values - values.min()
    for dtype in (np.uint8, np.uint16):
        if shifted.max() <= np.iinfo(dtype).max:
            return shifted.astype(dtype)
    return shifted


def _seconds(frame: pd.DataFrame, clock: Clock) -> np.ndarray:
    """Integer second since the run's start of each sample (int32: half the memory of int64)."""
    t = frame["ts"].to_numpy(dtype=np.float64) - clock.origin
    return np.floor(t, out=t).astype(np.int32)


def _complete_seconds(clock: Clock) -> tuple[int, int]:
    """First and last whole second of the run, so a partial final second does not read as a drop."""
    return 0, max(int(np.floor(clock.end + 1e-9)) - 1, 0)


def _number(value: object, default: float) -> float:
    """value as a float, or default when it is missing or not a finite number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if np.isfinite(number) else default


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    """A fresh report-sized figure with one titled, labelled axes."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(**MARGINS)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, linewidth=0.4, alpha=0.5)
    return fig, ax


def _shade_warmup(ax: Axes, clock: Clock) -> None:
    """Grey band over the warm-up, which the SLA window excludes."""
    if clock.warmup_end > 0:
        ax.axvspan(0, clock.warmup_end, color=WARMUP_COLOR, alpha=0.25, linewidth=0, label="warm-up")


def _hline(ax: Axes, value: float | None, color: str, label: str) -> None:
    """Dashed horizontal reference line, left out when value is None; label ends with the value."""
    if value is not None:
        ax.axhline(value, color=color, linestyle="--", linewidth=1.0, label=label.format(value=value))


def _vline(ax: Axes, value: float | None, color: str, label: str) -> None:
    """Dashed vertical reference line, left out when value is None."""
    if value is not None:
        ax.axvline(value, color=color, linestyle="--", linewidth=1.0, label=f"{label} {value:g} ms")


def _note(ax: Axes, text: str) -> None:
    """Centered grey message inside an axes with nothing to plot."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=WARMUP_COLOR)


def _finish(fig: Figure, ax: Axes, clock: Clock) -> bytes:
    """Time-axis limits and legend of a time-series chart, then its PNG."""
    ax.set_xlim(0.0, max(clock.end, 1.0))
    _legend(ax)
    return _png(fig)


def _legend(ax: Axes) -> None:
    """Legend beside the plot, so it never hides a line (none when nothing is labelled)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)


def _latency_scale(ax: Axes, rows: np.ndarray) -> None:
    """Linear latency axis from 0, or logarithmic when spikes would flatten the typical values."""
    finite = rows[np.isfinite(rows) & (rows > 0)]
    top = max(ax.get_ylim()[1], float(finite.max()) if finite.size else 0.0)
    if finite.size and top / np.median(finite) > LOG_SCALE_RATIO:
        ax.set_yscale("log")
        ax.set_ylabel("latency (ms, log scale)", fontsize=9)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    else:
        ax.set_ylim(bottom=0)


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no software metadata, so the page carries no URL)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    fig.clear()
    return buffer.getvalue()
