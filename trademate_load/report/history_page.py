"""Render the history page: a self-contained HTML page of every run and probe round, from the history frame.

A pure function of the history frame (one row per run and tier), its change points, the daily compliance
(compliance.daily) and the charts already drawn (history_charts.render_history_charts). It shows a header, each
series' charts as base64 PNG data URIs, the change points, the daily compliance per tier and the runs, newest first;
every value is escaped by the template (jinja2 autoescape) and the page loads nothing from anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

import numpy as np
import pandas as pd

from trademate_load.formatting import DASH, finite, format_count, format_ms, format_percent, format_rate
from trademate_load.report.history_charts import (
    FIGURE_LABELS,
    FIGURES,
    RATIOS,
    chart_key,
    normalized,
    series_groups,
)
from trademate_load.report.html_parts import environment, image

TEMPLATE = "history.html.j2"
VERDICT_STYLES = {"pass": "pass", "fail": "fail", "inconclusive": "inconclusive"}  # any other verdict: grey
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def render_history_page(
    history: pd.DataFrame,
    changes: pd.DataFrame | None,
    daily: pd.DataFrame | None,
    pngs: Mapping[str, bytes],
    title: str = "TradeMate run history",
) -> str:
    """The history page as an HTML document string (an empty history gives a page that says there are no runs)."""
    return environment().get_template(TEMPLATE).render(page_context(history, changes, daily, pngs, title))


def page_context(
    history: pd.DataFrame,
    changes: pd.DataFrame | None,
    daily: pd.DataFrame | None,
    pngs: Mapping[str, bytes],
    title: str,
) -> dict:
    """Everything the template shows, as display strings and lists."""
    frame = normalized(history)
    changes = changes if changes is not None else pd.DataFrame()
    starts = {str(run_id) for run_id in changes.get("run_id", pd.Series(dtype=object)).dropna()}
    return {
        "title": title,
        "header": header(frame),
        "sections": sections(frame, pngs),
        "changes": change_rows(frame, changes),
        "daily": daily_tables(daily if daily is not None else pd.DataFrame()),
        "runs": run_rows(frame, starts),
    }


def header(frame: pd.DataFrame) -> dict:
    """How many runs and probe rounds, and the first and last day (UTC)."""
    runs = frame.drop_duplicates("run_id") if not frame.empty else frame
    days = runs["_started"].dropna() if not runs.empty else pd.Series(dtype=object)
    return {
        "runs": int((runs["kind"] == "run").sum()) if not runs.empty else 0,
        "probe_rounds": int((runs["kind"] == "probe").sum()) if not runs.empty else 0,
        "first": days.min().strftime("%Y-%m-%d") if len(days) else DASH,
        "last": days.max().strftime("%Y-%m-%d") if len(days) else DASH,
    }


def sections(frame: pd.DataFrame, pngs: Mapping[str, bytes]) -> list[dict]:
    """One section per (profile, track), runs before probe rounds, each with its tiers' charts."""
    grouped: dict[tuple[str, str, str], list[dict]] = {}
    for (kind, profile, track, tier), rows in series_groups(frame):
        noun = "probe rounds" if kind == "probe" else "runs"
        charts = []
        for figure in FIGURES:
            alt = (
                f"{FIGURE_LABELS[figure]} of tier {tier} across {len(rows)} {profile} {noun} on track "
                f"{track or 'all'}: dots coloured by verdict, SLA limit dashed, change points as dashed lines"
            )
            chart = image(pngs.get(chart_key(kind, profile, track, tier, figure)), alt)
            if chart:
                charts.append(chart)
        met = sum(_true(value) for value in rows["met"]) if "met" in rows.columns else 0
        tally = f"{len(rows)} {noun}, {met} meeting every SLA of the tier"
        grouped.setdefault((kind, profile, track), []).append({"name": tier, "tally": tally, "charts": charts})
    ordered = sorted(grouped.items(), key=lambda item: (item[0][0] != "run", item[0][1], item[0][2]))
    return [
        {"title": _section_title(kind, profile, track), "anchor": _anchor(kind, profile, track), "tiers": tiers}
        for (kind, profile, track), tiers in ordered
    ]


def _section_title(kind: str, profile: str, track: str) -> str:
    """'premium · track main', or 'SLA validation probe rounds' (with its track when it has one)."""
    if kind == "probe":
        return "SLA validation probe rounds" + (f" · track {track}" if track else "")
    return f"{profile} · track {track or 'all'}"


def change_rows(frame: pd.DataFrame, changes: pd.DataFrame) -> list[dict]:
    """The change points in the order they happened: series, figure, the first run after it (linked), the levels,
    the size and the p-value; ``worse`` marks a latency that rose or a ratio that fell."""
    if changes.empty:
        return []
    keys = frame[["run_id", "tier", "report"]].to_numpy(dtype=object)
    reports = {(run_id, tier): report for run_id, tier, report in keys}
    any_report = {run_id: report for run_id, _, report in keys}
    rows = []
    for change in changes.to_dict("records"):
        figure, run_id, tier = _text(change.get("figure")), _text(change.get("run_id")), _text(change.get("tier"))
        before, after = finite(change.get("before")), finite(change.get("after"))
        ratio = figure in RATIOS
        worse = before is not None and after is not None and ((after < before) if ratio else (after > before))
        size_pct = finite(change.get("size_pct"))
        p_value = finite(change.get("p_value"))
        rows.append(
            {
                "started": _text(change.get("started_at")),
                "series": " · ".join([_text(change.get("profile")), _text(change.get("track")) or "all", tier]),
                "figure": FIGURE_LABELS.get(figure, figure),
                "run_id": run_id,
                "label": _text(change.get("label")),
                "href": link(reports.get((run_id, tier)) or any_report.get(run_id)),
                "levels": f"{_value(figure, before)} → {_value(figure, after)}",
                "size": _size(figure, finite(change.get("size"))),
                "size_pct": DASH if size_pct is None else f"{size_pct:+.1f}%",
                "p_value": DASH if p_value is None else ("< 0.001" if p_value < 0.001 else f"{p_value:.3f}"),
                "worse": worse,
            }
        )
    return sorted(rows, key=lambda row: row["started"])


def daily_tables(daily: pd.DataFrame) -> list[dict]:
    """compliance.daily's rows as one table per tier, newest day first; ``unmet`` marks a day below 100%."""
    if daily.empty:
        return []
    tables = []
    for tier, rows in daily.groupby("tier", sort=True):
        shown = []
        for row in rows.sort_values("day", ascending=False).to_dict("records"):
            share = finite(row.get("met_share"))
            shown.append(
                {
                    "day": str(row.get("day", "")),
                    "runs": format_count(row.get("runs")),
                    "probe_rounds": format_count(row.get("probe_rounds")),
                    "met_share": format_percent(share),
                    "probe_uptime": format_rate(row.get("probe_uptime")),
                    "unmet": share is not None and share < 1,
                }
            )
        tables.append({"tier": str(tier), "rows": shown})
    return tables


def run_rows(frame: pd.DataFrame, starts: set[str]) -> list[dict]:
    """One row per run or probe round, newest first: its facts, each tier's figures, and its CSS classes
    (``verdict-<verdict>``, and ``change-start`` for the first run after a change point)."""
    if frame.empty:
        return []
    ordered = frame.sort_values(["_started", "run_id"], ascending=False, kind="stable", na_position="last")
    runs: dict[str, list[dict]] = {}
    for record in _records(ordered):  # one conversion: a DataFrame per run would cost seconds for a long history
        runs.setdefault(str(record["run_id"]), []).append(record)
    return [run_row(run_id, tiers, run_id in starts) for run_id, tiers in runs.items()]


def run_row(run_id: str, tiers: list[dict], change_start: bool) -> dict:
    """A run's row of the Runs table from its rows of the history (one per tier)."""
    first = tiers[0]
    verdict = str(first["verdict"]) or "no_data"
    classes = [f"verdict-{re.sub(r'[^a-z0-9_-]', '_', verdict.lower())}"] + (["change-start"] if change_start else [])
    started = first["_started"]
    return {
        "classes": " ".join(classes),
        "started": DASH if pd.isna(started) else started.strftime("%Y-%m-%d %H:%M"),
        "run_id": run_id,
        "href": link(first["report"]),
        "kind": str(first["kind"]),
        "profile": str(first["profile"]),
        "label": str(first["label"]),
        "tiers": [{"name": str(tier["tier"]), "met": _true(tier.get("met"))} for tier in tiers],
        "verdict": verdict,
        "verdict_style": VERDICT_STYLES.get(verdict, "other"),
        "exit_code": format_count(first.get("exit_code")),
        "figures": [_per_tier(tiers, name) for name in ("p95_ms", "p99_ms", "uptime")],
        "valid": _valid(first.get("valid")),
        "change_start": change_start,
    }


def link(report: object) -> str | None:
    """A report's path relative to the page, URL-quoted; None when missing, absolute or with a scheme."""
    path = str(report or "")
    if not path or path.startswith(("/", "\\")) or SCHEME.match(path):
        return None
    return quote(path, safe="/._-~")


def _per_tier(tiers: list[dict], name: str) -> list[str]:
    """A figure of each tier of a run, as 'tier value' strings (none when the history has no such column)."""
    return [f"{row['tier']} {_value(name, finite(row[name]))}" for row in tiers if name in row]


def _records(frame: pd.DataFrame) -> list[dict]:
    """The frame's rows as dicts, without the bulky ``checks`` lists."""
    return frame.drop(columns=["checks"], errors="ignore").to_dict("records")


def _value(figure: str, value: float | None) -> str:
    """A figure in its unit: a ratio as a percentage, a latency in ms."""
    return format_rate(value) if figure in RATIOS else format_ms(value)


def _size(figure: str, size: float | None) -> str:
    """A change's size, signed: percentage points for a ratio, ms for a latency."""
    if size is None:
        return DASH
    return f"{size * 100:+.3g} pp" if figure in RATIOS else f"{size:+,.1f} ms"


def _valid(value: object) -> str:
    """The load generator's validity as yes / no, or the missing mark (probe rounds and old runs)."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return DASH


def _true(value: object) -> bool:
    """True only for a true boolean (a missing ``met`` is not met)."""
    return isinstance(value, bool | np.bool_) and bool(value)


def _text(value: object) -> str:
    """A cell as text, "" when missing."""
    missing = value is None or (pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value))
    return "" if missing else str(value)


def _anchor(kind: str, profile: str, track: str) -> str:
    """A section's id: its kind, profile and track, safe in a URL fragment."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{kind}-{profile}-{track or 'all'}")
