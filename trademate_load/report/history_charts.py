"""Draw the history page's charts: one figure of one series (kind, profile, track, tier) across its runs.

A pure function of the history frame (one row per run and tier) and its change points, returning PNG bytes by name:
each run a point coloured by its verdict, its 95% interval as a bar, the SLA limit as a dashed line, and each change
point as a dashed vertical line before its first run with the levels before and after it. Sizes, colours and the
PNG come from chart_style (the Figure API, fixed margins, no pyplot).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from trademate_load.report.chart_style import (
    LIMIT_COLOR,
    MARGINS,
    WARMUP_COLOR,
    latency_scale,
    legend,
    new_figure,
    to_png,
)

FIGURES = ("p95_ms", "p99_ms", "mean_ms", "success_rate", "uptime")
RATIOS = ("success_rate", "uptime")
FIGURE_LABELS = {
    "p95_ms": "p95 latency",
    "p99_ms": "p99 latency",
    "mean_ms": "mean latency",
    "success_rate": "success rate",
    "uptime": "uptime",
}
SERIES = ("kind", "profile", "track", "tier")
TEXT_COLUMNS = (*SERIES, "run_id", "label", "verdict", "report")
VERDICT_COLORS = {"pass": "#1b7f3b", "fail": "#c62828", "inconclusive": "#e69500"}
OTHER_VERDICT = "invalid / no data / incomplete"
OTHER_COLOR = WARMUP_COLOR
LINE_COLOR = "#8a8a8a"
CHANGE_COLOR = "#5b5b5b"
HISTORY_FIGSIZE = (9.0, 3.4)
HISTORY_MARGINS = {**MARGINS, "left": 0.095, "bottom": 0.27}  # room for percent ticks and slanted run labels
MAX_TICKS = 16
OFF_SCALE = 4.0  # a latency limit above 4x the plotted top is a note, not a line that flattens the points


def safe(part: str) -> str:
    """A name part safe in a file name: letters, digits, '_' and '-' kept, anything else '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", part) or "_"


def chart_key(kind: str, profile: str, track: str, tier: str, figure: str) -> str:
    """Name of a series' chart: ``<profile>-<track or 'all'>-<tier>-<figure>``, safe as a file name stem; the kind
    leads only when it is neither ``run`` nor the profile's name (a probe round's profile is ``probe``)."""
    parts = [profile, track or "all", tier, figure]
    if kind not in ("run", profile):
        parts.insert(0, kind)
    return "-".join(safe(part) for part in parts)


def normalized(history: pd.DataFrame) -> pd.DataFrame:
    """The history with its text columns as plain strings ("" when missing), a parsed ``_started`` (UTC), and rows
    in started_at order (then run id and tier)."""
    frame = history.copy()
    for name in TEXT_COLUMNS:
        values = frame[name] if name in frame.columns else pd.Series([""] * len(frame), index=frame.index)
        frame[name] = values.astype(object).where(values.notna(), "").astype(str).astype(object)
    started = frame["started_at"] if "started_at" in frame.columns else pd.Series([None] * len(frame), dtype=object)
    frame["_started"] = pd.to_datetime(started.to_numpy(), utc=True, format="ISO8601", errors="coerce")
    return frame.sort_values(["_started", "run_id", "tier"], kind="stable", na_position="first").reset_index(drop=True)


def series_groups(frame: pd.DataFrame) -> Iterator[tuple[tuple[str, str, str, str], pd.DataFrame]]:
    """Each (kind, profile, track, tier) series of a normalized history, sorted by key, its rows in run order."""
    if frame.empty:
        return
    for key, rows in frame.groupby(list(SERIES), sort=True):
        yield tuple(str(part) for part in key), rows.reset_index(drop=True)  # type: ignore[misc]


def numbers(rows: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as floats (NaN where missing or absent)."""
    if name not in rows.columns:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def render_history_charts(history: pd.DataFrame, changes: pd.DataFrame | None) -> dict[str, bytes]:
    """Every chart of the history page by chart_key: per series, one per figure of FIGURES that has any value."""
    pngs: dict[str, bytes] = {}
    frame = normalized(history)
    points = _changes(changes)
    for (kind, profile, track, tier), rows in series_groups(frame):
        for figure in FIGURES:
            values = numbers(rows, figure)
            if not np.isfinite(values).any():
                continue
            mask = (points[list(SERIES)] == [kind, profile, track, tier]).all(axis=1) & (points["figure"] == figure)
            noun = "probe rounds" if kind == "probe" else "runs"
            title = f"{profile} · {track or 'all'} · {tier}: {FIGURE_LABELS[figure]} across {len(rows)} {noun}"
            chart = history_chart(rows, figure, title, points[mask], xlabel=noun[:-1])
            pngs[chart_key(kind, profile, track, tier, figure)] = chart
    return pngs


def history_chart(rows: pd.DataFrame, figure: str, title: str, changes: pd.DataFrame, xlabel: str = "run") -> bytes:
    """One figure of one series across its runs (rows in run order), with its intervals, limit and change points."""
    ratio = figure in RATIOS
    ylabel = FIGURE_LABELS[figure] if ratio else f"{FIGURE_LABELS[figure]} (ms)"
    fig, ax = new_figure(title, xlabel, ylabel, size=HISTORY_FIGSIZE, margins=HISTORY_MARGINS)
    n = len(rows)
    x = np.arange(n, dtype="float64")
    values = numbers(rows, figure)
    low, high = numbers(rows, f"{figure}_lo"), numbers(rows, f"{figure}_hi")
    bars = np.isfinite(low) & np.isfinite(high)
    if bars.any():
        ax.vlines(x[bars], low[bars], high[bars], color=LINE_COLOR, linewidth=1.0, alpha=0.8, label="95% interval")
    ax.plot(x, values, color=LINE_COLOR, linewidth=0.8)
    _points(ax, x, values, rows["verdict"].to_numpy(dtype=object))
    shown = np.concatenate([values[np.isfinite(values)], high[bars]])
    top = float(shown.max()) if shown.size else 0.0
    _limit(ax, x, numbers(rows, f"{figure}_limit"), top, ratio)
    _change_points(ax, rows, changes, n)
    if ratio:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    else:
        latency_scale(ax, shown[np.newaxis, :])
    _run_ticks(ax, rows)
    ax.set_xlim(-0.5, max(n - 0.5, 0.5))
    legend(ax)
    return to_png(fig)


def _points(ax: Axes, x: np.ndarray, values: np.ndarray, verdicts: np.ndarray) -> None:
    """The runs' values as dots coloured by verdict: one scatter (and legend entry) per verdict present."""
    known = np.isin(verdicts, list(VERDICT_COLORS))
    groups = [(name, verdicts == name, color) for name, color in VERDICT_COLORS.items()]
    groups.append((OTHER_VERDICT, ~known, OTHER_COLOR))
    for name, group, color in groups:
        mask = group & np.isfinite(values)
        if mask.any():
            ax.scatter(
                x[mask], values[mask], s=18 if len(x) <= 60 else 9, color=color, zorder=3, label=name, edgecolors="none"
            )


def _limit(ax: Axes, x: np.ndarray, limits: np.ndarray, top: float, ratio: bool) -> None:
    """The SLA limit per run as a dashed step line (it follows a changed SLA file); a latency limit far above the
    points is a note instead."""
    finite = np.isfinite(limits)
    if not finite.any():
        return
    highest = float(limits[finite].max())
    if not ratio and top > 0 and highest > OFF_SCALE * top:
        text = f"SLA limit {highest:g} ms: above the chart"
        ax.text(0.99, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=7, color=LIMIT_COLOR)
        return
    unit = "" if ratio else " ms"
    shown = f"{highest * 100:g}%" if ratio else f"{highest:g}{unit}"
    label = f"SLA limit {shown}" if np.unique(limits[finite]).size == 1 else "SLA limit"
    ax.plot(x, limits, color=LIMIT_COLOR, linestyle="--", linewidth=1.0, drawstyle="steps-mid", label=label)


def _change_points(ax: Axes, rows: pd.DataFrame, changes: pd.DataFrame, n: int) -> None:
    """Each change point as a dashed vertical line before its first run, with the level before it (since the
    previous change) and after it (up to the next) as horizontal segments."""
    if changes.empty:
        return
    run_ids = rows["run_id"].tolist()
    found = []
    for change in changes.itertuples(index=False):
        if change.run_id in run_ids:
            found.append((run_ids.index(change.run_id) - 0.5, change.before, change.after))
    found.sort(key=lambda item: item[0])
    edges = [-0.5] + [at for at, _, _ in found] + [n - 0.5]
    for i, (at, before, after) in enumerate(found):
        ax.axvline(at, color=CHANGE_COLOR, linestyle="--", linewidth=1.0, label=None if i else "change point")
        for level, start, end, style in ((before, edges[i], at, ":"), (after, at, edges[i + 2], "-")):
            if level is not None and math.isfinite(level):
                name = None if i else ("level before" if style == ":" else "level after")
                ax.hlines(level, start, end, color=CHANGE_COLOR, linestyle=style, linewidth=1.4, label=name)


def _run_ticks(ax: Axes, rows: pd.DataFrame) -> None:
    """Tick labels: each run's label, or its start time without one; thinned to at most MAX_TICKS."""
    n = len(rows)
    step = max(1, math.ceil(n / MAX_TICKS))
    ticks = list(range(0, n, step))
    labels = [tick_label(rows.at[i, "label"], rows.at[i, "_started"], rows.at[i, "run_id"]) for i in ticks]
    ax.set_xticks(ticks, labels, rotation=30, ha="right", fontsize=7)


def tick_label(label: str, started: pd.Timestamp, run_id: str) -> str:
    """A run's short name on the axis: its label, else its start (month-day hour:minute UTC), else its run id."""
    if label:
        return label if len(label) <= 18 else label[:17] + "…"
    if not pd.isna(started):
        return started.strftime("%m-%d %H:%M")
    return run_id if len(run_id) <= 24 else run_id[:23] + "…"


def _changes(changes: pd.DataFrame | None) -> pd.DataFrame:
    """The change points with the columns this module reads, text as strings and levels as floats."""
    columns = [*SERIES, "figure", "run_id", "before", "after"]
    if changes is None or changes.empty:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in columns})
    frame = changes.copy()
    for name in columns:
        if name not in frame.columns:
            frame[name] = None
    for name in (*SERIES, "figure", "run_id"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), "").astype(str).astype(object)
    for name in ("before", "after"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame.loc[:, columns].reset_index(drop=True)
