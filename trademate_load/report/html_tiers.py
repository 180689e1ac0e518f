"""The HTML report's section of one tier as display values: its headline figures, SLA checks, error budget, uptime
and down stretches, latency rows, and its charts (full-width time series, half-width pairs) with their alt text;
a cache or DB chart the target gave no data for becomes a note."""

from __future__ import annotations

from collections.abc import Mapping

from trademate_load.formatting import (
    finite,
    format_count,
    format_interval,
    format_ms,
    format_number,
    format_percent,
    format_rate,
    format_value,
)
from trademate_load.report import charts
from trademate_load.report.html_parts import PERCENTILES, image, seconds
from trademate_load.runinfo import RunInfo

STATUSES = {True: "passed", False: "failed", None: "not_measured"}
CHART_ALTS = {
    "latency": "{tier}: p50, p95 and p99 latency ({basis}) over time against the p95 and p99 limits; warm-up shaded",
    "uptime": "{tier}: uptime windows over time, up, down or not judged, on the latency chart's time axis",
    "throughput": "{tier}: achieved requests per second against the target of {target} req/s; warm-up shaded",
    "budget": "{tier}: error rate over time and the share of the error budget burned in the SLA window",
    "histogram": "{tier}: histogram of latency ({basis}) in the SLA window, with the measured p95 and the limits",
    "cdf": "{tier}: cumulative distribution of latency ({basis}) in the SLA window, with the SLA limits",
    "cache": "{tier}: cache hit rate (X-Cache) over time against the SLA minimum; warm-up shaded",
    "db": "{tier}: p95 of the database time (Server-Timing db) over time against the SLA limit; warm-up shaded",
}
NOT_REPORTED = {
    "cache": "Cache hit rate: not reported by the target (no X-Cache header on its responses).",
    "db": "Database time: not reported by the target (no Server-Timing db entry on its responses).",
}


def tier_view(name: str, tier: Mapping, run: Mapping, pngs: Mapping[str, bytes]) -> dict:
    """One tier's figures, checks, error budget, latency rows and charts, ready to display.

    ``charts`` holds the full-width time series, ``pairs`` the half-width ones; a cache or DB chart the
    target gave no data for becomes a note saying so (only when the tier has charts at all).
    """
    basis = tier.get("latency_basis") or RunInfo.view(run).latency_basis
    target = tier.get("target_rps")
    images = {
        kind: image(pngs.get(charts.chart_name(name, kind)), _alt(kind, name, basis, target))
        for kind in charts.CHART_KINDS
    }
    charted = any(images.values())
    return {
        "name": name,
        "figures": tier_figures(tier),
        "checks": [check_row(check) for check in tier.get("checks") or []],
        "budget": budget_view(tier.get("error_budget"), tier.get("requests")),
        "uptime": uptime_view(tier.get("uptime")),
        "latency_rows": latency_rows(tier, basis),
        "charts": [images[kind] for kind in charts.TIME_KINDS if images[kind]],
        "pairs": [
            images[kind] or {"note": NOT_REPORTED[kind]}
            for kind in charts.PAIR_KINDS
            if images[kind] or (charted and kind in NOT_REPORTED)
        ],
    }


def tier_figures(tier: Mapping) -> list[tuple[str, str]]:
    """A tier's headline figures as (label, value) pairs."""
    rps, target = tier.get("rps"), tier.get("target_rps")
    achieved = f"{format_number(rps)} / {format_number(target)} req/s"
    if rps is not None and target:
        achieved += f" ({format_rate(rps / target)})"
    return [
        ("requests", format_count(tier.get("requests"))),
        ("failures", format_count(tier.get("failures"))),
        ("achieved / target", achieved),
        ("missed schedule", format_count(tier.get("missed_schedule"))),
        ("success rate", format_rate(tier.get("success_rate"))),
        ("SLA compliance", format_rate(tier.get("sla_compliance"))),
        ("DB p95", format_ms(tier.get("db_ms_p95"))),
        ("cache hit rate", format_rate(tier.get("cache_hit_rate"))),
    ]


def latency_rows(tier: Mapping, basis: str) -> list[dict]:
    """Latency percentile rows: the basis the checks use, then service time beside a corrected basis."""
    rows = [_latency_row(f"latency ({basis})", tier.get("latency_ms"))]
    if basis == "corrected" and tier.get("service_latency_ms"):
        rows.append(_latency_row("service time", tier["service_latency_ms"]))
    return rows


def check_row(check: Mapping) -> dict:
    """One SLA check as display strings: name, scope (tier or endpoint), op and limit, actual, 95% interval, status."""
    name = str(check.get("name", ""))
    status = check.get("status") or STATUSES.get(check.get("passed"), "not_measured")
    return {
        "name": name,
        "endpoint": str(check.get("endpoint") or ""),
        "op": str(check.get("op", "")),
        "limit": format_value(name, check.get("limit")),
        "actual": format_value(name, check.get("actual")) if check.get("actual") is not None else "not measured",
        "interval": format_interval(name, check.get("ci95")) if check.get("actual") is not None else "",
        "status": status,
        "status_label": status.replace("_", " "),
    }


def budget_view(budget: Mapping | None, requests: object) -> dict | None:
    """A tier's error budget in the SLA window: failures allowed, used, share burned, whether it held."""
    if not budget:
        return None
    burned = finite(budget.get("burned"))
    failures = finite(budget.get("failures")) or 0
    over = failures > 0 if burned is None else burned > 1
    return {
        "figures": [
            ("allowed failures", format_number(finite(budget.get("allowed")))),
            ("used (failures)", format_count(budget.get("failures"))),
            ("burned", "∞ (no failures allowed)" if burned is None and failures else format_percent(burned)),
            ("left", format_number(finite(budget.get("left")))),
            ("requests", format_count(requests)),
        ],
        "status": "failed" if over else "passed",
        "status_label": "over budget" if over else "within budget",
    }


def uptime_view(uptime: Mapping | None) -> dict | None:
    """A tier's uptime: its figures, and each down stretch with start, end, length and cause."""
    if not uptime:
        return None
    timeline = str(uptime.get("timeline") or "")
    ratio, required = finite(uptime.get("ratio")), finite(uptime.get("required"))
    down = [
        {
            "start": str(d.get("start", "")),
            "end": str(d.get("end", "")),
            "offset": f"{finite(d.get('start_s')) or 0:,.1f}–{finite(d.get('end_s')) or 0:,.1f} s",
            "length": seconds((finite(d.get("end_s")) or 0) - (finite(d.get("start_s")) or 0)),
            "cause": str(d.get("cause") or ""),
        }
        for d in uptime.get("down") or []
    ]
    return {
        "figures": [
            ("uptime", format_rate(ratio) if ratio is not None else "not measured (no window judged)"),
            ("required", format_rate(required)),
            ("window", seconds(uptime.get("window_s"))),
            ("windows", f"{len(timeline):,} ({timeline.count('D'):,} down, {timeline.count('-'):,} not judged)"),
            ("judged", seconds(uptime.get("judged_s"))),
            ("down", seconds(uptime.get("down_s"))),
            ("judged from", f"{format_count(uptime.get('min_requests'))} requests due in a window"),
        ],
        "down": down,
        "status": "passed" if ratio is None or required is None or ratio >= required else "failed",
    }


def _alt(kind: str, tier: str, basis: str, target: object) -> str:
    """Alt text of a tier's chart."""
    return CHART_ALTS[kind].format(tier=tier, basis=basis, target=format_number(target))


def _latency_row(label: str, latency: Mapping | None) -> dict:
    """A labelled row of latency percentiles in ms."""
    latency = latency or {}
    return {"label": label, "values": [format_number(latency.get(key)) for key in PERCENTILES]}
