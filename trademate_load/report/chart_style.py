"""The building blocks every report chart draws with: sizes, margins and colours, a tier's plain values drawn as
lines (Limits), the figure and its reference lines, legends and scales, and the PNG.

Figures are built with the matplotlib Figure API and rendered by Agg, so nothing touches pyplot's global state.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullLocator

from trademate_load.report.series import Clock, TierSeries

FIGSIZE = (9.0, 3.2)
HALF_FIGSIZE = (4.5, 3.2)
DPI = 100
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


def per_bucket(series: TierSeries) -> str:
    """'per second', or 'per N s' for a long run's wider buckets."""
    return "per second" if series.bucket_s == 1 else f"per {series.bucket_s} s"


def new_figure(
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


def shade_warmup(ax: Axes, clock: Clock) -> None:
    """Grey band over the warm-up, which the SLA window excludes."""
    if clock.warmup_end > 0:
        ax.axvspan(0, clock.warmup_end, color=WARMUP_COLOR, alpha=0.25, linewidth=0, label="warm-up")


def hline(ax: Axes, value: float | None, color: str, label: str, style: str = "--") -> None:
    """Horizontal reference line, left out when value is None; label ends with the value."""
    if value is not None:
        ax.axhline(value, color=color, linestyle=style, linewidth=1.0, label=label.format(value=value))


def limit_line(
    ax: Axes, limit: float | None, top: float, color: str, label: str, style: str = "--", row: int = 0
) -> None:
    """A horizontal limit line when it is within twice the plotted maximum; otherwise a note in the top right
    corner (row: which line of notes) that it is off scale, as drawing it would flatten the data."""
    if limit is None or not np.isfinite(limit):
        return
    if top > 0 and limit <= 2 * top:
        hline(ax, limit, color, f"{label} {{value:g}} ms", style=style)
    else:
        y = 0.97 - 0.08 * row
        text = f"{label} {limit:g} ms: above the chart"
        ax.text(0.99, y, text, transform=ax.transAxes, ha="right", va="top", fontsize=7, color=color)
        if top > 0:
            ax.set_ylim(top=max(ax.get_ylim()[1], top * 1.3))  # headroom for the notes


def vline(ax: Axes, value: float | None, color: str, label: str, solid: bool = False) -> None:
    """Vertical reference line (dashed, or solid for a measured figure), left out when value is None."""
    if value is not None:
        style = "-" if solid else "--"
        ax.axvline(value, color=color, linestyle=style, linewidth=1.0, label=f"{label} {value:g} ms")


def note(ax: Axes, text: str) -> None:
    """Centered grey message inside an axes with nothing to plot."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=WARMUP_COLOR)


def finish(fig: Figure, ax: Axes, clock: Clock) -> bytes:
    """Time-axis limits and legend of a time-series chart, then its PNG."""
    ax.set_xlim(0.0, max(clock.end, 1.0))
    legend(ax)
    return to_png(fig)


def legend(ax: Axes, inside: str | None = None) -> None:
    """Legend beside the plot, so it never hides a line, or inside at a fixed corner for a half-width chart."""
    if not ax.get_legend_handles_labels()[0]:
        return
    if inside:
        ax.legend(loc=inside, fontsize=7, framealpha=0.85)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)


def twin_legend(ax: Axes, twin: Axes | None) -> None:
    """One legend for both axes of a twin-axes chart, beside the second axis' tick labels."""
    handles, labels = ax.get_legend_handles_labels()
    if twin is not None:
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.09, 1.0), fontsize=8, frameon=False, borderaxespad=0)


def latency_scale(ax: Axes, rows: np.ndarray) -> None:
    """Linear latency axis from 0, or logarithmic when spikes would flatten the typical values."""
    finite = rows[np.isfinite(rows) & (rows > 0)]
    top = max(ax.get_ylim()[1], float(finite.max()) if finite.size else 0.0)
    if finite.size and top / np.median(finite) > LOG_SCALE_RATIO:
        log_axis(ax.yaxis, ax.set_yscale)
        ax.set_ylabel(ax.get_ylabel().replace(")", ", log scale)"), fontsize=9)
    else:
        ax.set_ylim(bottom=0)


def log_axis(axis: Axis, set_scale: Callable[[str], None]) -> None:
    """A logarithmic axis labelled 1, 2, 5, 10, 20, 50 ... and no minor ticks (each tick costs a layout)."""
    set_scale("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_locator(NullLocator())


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no software metadata, so the page carries no URL)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None}, pil_kwargs=PNG_OPTIONS)
    return buffer.getvalue()
