"""Render a run's self-contained HTML report: a pure function of (samples frame, summary, run info).

Table figures, the verdict, the error budget, the baseline comparison and the scalability steps come
from summary.json as computed by the SLA engine, never recomputed here; charts come from
charts.render_charts (or are passed in, already rendered) and are embedded as base64 PNG data URIs,
so the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from pathlib import Path

import jinja2
import pandas as pd

from trademate_load.formatting import (
    DASH,
    finite,
    format_count,
    format_interval,
    format_ms,
    format_number,
    format_percent,
    format_rate,
    format_value,
)
from trademate_load.losses import LOST_STATES, describe_lost
from trademate_load.report import charts
from trademate_load.runinfo import RunInfo
from trademate_load.verdict import EXIT_MEANINGS

TEMPLATE = "report.html.j2"
VERDICTS = {
    "pass": ("PASS", "pass"),
    "fail": ("FAIL", "fail"),
    "inconclusive": ("INCONCLUSIVE", "inconclusive"),
    "incomplete": ("INCOMPLETE", "nodata"),
    "invalid": ("INVALID", "nodata"),
}
NO_DATA = ("NO DATA", "nodata")
STATUSES = {True: "passed", False: "failed", None: "not_measured"}
PERCENTILES = ("mean", "p50", "p95", "p99", "max")
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
ERRORS_ALT = "Failed requests per second, per tier; warm-up shaded"
NOISY_ALT = "Premium p95 latency over time against the shared tier's requests per second (second axis)"
GENERATOR_ALT = "Per load-generator process: loop lag p99 per second, its CPU share and the machine's CPU pressure"
SCALABILITY_ALT = "p95 and p99 latency of each scalability step against its achieved requests per second, per tier"
MISSING = DASH


def render_html(frame: pd.DataFrame, summary: dict, run: dict, pngs: Mapping[str, bytes] | None = None) -> str:
    """The complete report page for one run, as an HTML document string.

    ``pngs``: the charts already rendered by charts.render_charts (rendered here when None).
    """
    if pngs is None:
        pngs = charts.render_charts(frame, summary, run)
    return _environment().get_template(TEMPLATE).render(page_context(frame, summary, run, pngs))


def page_context(frame: pd.DataFrame, summary: Mapping, run: Mapping, pngs: Mapping[str, bytes]) -> dict:
    """Everything the template shows, as plain display strings and lists."""
    return {
        "title": f"TradeMate load report {summary.get('run_id') or RunInfo.view(run).run_id}".strip(),
        "banner": banner(summary, run),
        "metadata": metadata(summary, run),
        "has_samples": len(frame) > 0,
        "tiers": [tier_view(name, tier, run, pngs) for name, tier in (summary.get("tiers") or {}).items()],
        "errors_chart": _image(pngs.get(charts.ERRORS_CHART), ERRORS_ALT),
        "noisy_chart": _image(pngs.get(charts.NOISY_CHART), NOISY_ALT),
        "generator": generator_view(summary.get("generator"), pngs),
        "scalability": scalability_view(summary.get("scalability"), pngs),
        "baseline": baseline_view(summary.get("baseline")),
        "endpoints": [endpoint_row(endpoint) for endpoint in summary.get("endpoints") or []],
        "errors": [error_row(error) for error in summary.get("errors") or []],
    }


def banner(summary: Mapping, run: Mapping) -> dict:
    """Verdict label, style and reason, exit code and its meaning, interrupted flag."""
    label, style = VERDICTS.get(summary.get("verdict"), NO_DATA)
    exit_code = summary.get("exit_code", RunInfo.view(run).exit_code)
    meaning = EXIT_MEANINGS.get(exit_code, "")
    return {
        "label": label,
        "style": style,
        "exit_code": MISSING if exit_code is None else str(exit_code),
        "exit_meaning": meaning,
        "reason": str(summary.get("reason") or ""),
        "interrupted": bool(RunInfo.view(run).interrupted),
        "aborted": _aborted_badge(summary.get("aborted")),
        "decided": _decided_badge(summary.get("decided")),
    }


def _aborted_badge(aborted: Mapping | None) -> str:
    """``aborted at 12.0 s: premium p95_ms`` for a run abort_on_fail stopped; empty otherwise."""
    return f"aborted at {aborted['at_s']:.1f} s: {aborted['tier']} {aborted['check']}" if aborted else ""


def _decided_badge(decided: Mapping | None) -> str:
    """``ended early at 42.0 s: every check settled`` for a run stop_when_decided ended; empty otherwise."""
    return f"ended early at {decided['at_s']:.1f} s: every check settled ({decided['by']})" if decided else ""


def metadata(summary: Mapping, run: Mapping) -> list[tuple[str, str]]:
    """Run facts as (label, value) pairs, in reading order; missing ones left out."""
    info = RunInfo.view(run)
    pairs = [
        ("run id", summary.get("run_id") or info.run_id),
        ("profile", summary.get("profile") or info.profile),
        ("host", summary.get("host") or info.host),
        ("started", info.started_at or summary.get("started_at")),
        ("ended", info.ended_at),
        ("run time", _seconds(_run_seconds(info))),
        ("warm-up", _seconds(info.warmup_s)),
        ("SLA window", _seconds(summary.get("duration_s"))),
        ("latency basis", info.latency_basis),
        ("spawn rate", _plain(info.settings.get("spawn_rate"), "users/s")),
        *((f"tier {name}", _tier_load(tier)) for name, tier in info.tiers.items()),
        ("versions", ", ".join(f"{name} {version}" for name, version in info.versions.items())),
        *worker_rows(info.workers),
    ]
    return [(label, str(value)) for label, value in pairs if value not in (None, "")]


def worker_rows(workers: list) -> list[tuple[str, str]]:
    """A distributed run's workers as metadata rows; a lost one says so, when, and what was kept."""
    return [
        (
            f"worker {w['id']}",
            f"LOST: {describe_lost(w)}"
            if w["state"] in LOST_STATES
            else f"pid {w['pid']}, {w['state']}, {w['samples']} samples",
        )
        for w in workers
    ]


def tier_view(name: str, tier: Mapping, run: Mapping, pngs: Mapping[str, bytes]) -> dict:
    """One tier's figures, checks, error budget, latency rows and charts, ready to display.

    ``charts`` holds the full-width time series, ``pairs`` the half-width ones; a cache or DB chart the
    target gave no data for becomes a note saying so (only when the tier has charts at all).
    """
    basis = tier.get("latency_basis") or RunInfo.view(run).latency_basis
    target = tier.get("target_rps")
    images = {
        kind: _image(pngs.get(charts.chart_name(name, kind)), _alt(kind, name, basis, target))
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


def generator_view(generator: Mapping | None, pngs: Mapping[str, bytes]) -> dict | None:
    """The load generator panel: whether it kept up, per process its figures, per tier intended and achieved req/s,
    and its chart."""
    if not generator or not generator.get("processes"):
        return None
    processes = [
        {
            "name": str(name),
            "lag": [format_number((p.get("lag_ms") or {}).get(key)) for key in ("p50", "p99", "max")],
            "cpu": format_percent(finite((p.get("cpu") or {}).get("mean"))),
            "wait": format_percent(finite((p.get("wait") or {}).get("mean"))),
            "pressure": format_percent(finite((p.get("pressure") or {}).get("mean"))),
            "io": format_percent(finite((p.get("io") or {}).get("mean"))),
            "steal": format_percent(finite((p.get("steal") or {}).get("mean"))),
            "freeze": format_ms(p.get("freeze_max_ms")),
            "unhealthy": f"{finite(p.get('unhealthy_s')) or 0:,.0f} of {finite(p.get('judged_s')) or 0:,.0f} s",
        }
        for name, p in generator["processes"].items()
    ]
    tiers = [
        {
            "name": str(name),
            "intended": format_number(t.get("intended_rps")),
            "achieved": format_number(t.get("achieved_rps")),
            "dropped": f"{format_count(t.get('dropped_by_generator'))} / {format_count(t.get('dropped_at_bound'))}",
        }
        for name, t in (generator.get("tiers") or {}).items()
    ]
    valid = generator.get("valid")
    return {
        "status": {True: "passed", False: "failed"}.get(valid, "not_measured"),
        "status_label": {True: "kept up", False: "invalid"}.get(valid, "not judged"),
        "reason": str(generator.get("reason") or ""),
        "processes": processes,
        "tiers": tiers,
        "chart": _image(pngs.get(charts.GENERATOR_CHART), GENERATOR_ALT),
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
            "length": _seconds((finite(d.get("end_s")) or 0) - (finite(d.get("start_s")) or 0)),
            "cause": str(d.get("cause") or ""),
        }
        for d in uptime.get("down") or []
    ]
    return {
        "figures": [
            ("uptime", format_rate(ratio) if ratio is not None else "not measured (no window judged)"),
            ("required", format_rate(required)),
            ("window", _seconds(uptime.get("window_s"))),
            ("windows", f"{len(timeline):,} ({timeline.count('D'):,} down, {timeline.count('-'):,} not judged)"),
            ("judged", _seconds(uptime.get("judged_s"))),
            ("down", _seconds(uptime.get("down_s"))),
            ("judged from", f"{format_count(uptime.get('min_requests'))} requests due in a window"),
        ],
        "down": down,
        "status": "passed" if ratio is None or required is None or ratio >= required else "failed",
    }


def baseline_view(comparison: Mapping | None) -> dict | None:
    """The baseline section: each compared figure then and now with its delta; regressions flagged."""
    if not comparison:
        return None
    return {
        "run_id": str(comparison.get("run_id") or MISSING),
        "tiers": [row for scope in comparison.get("tiers") or [] for row in _baseline_rows(scope)],
        "endpoints": [row for scope in comparison.get("endpoints") or [] for row in _baseline_rows(scope)],
        "regressions": [str(name) for name in comparison.get("regressions") or []],
        "notes": [str(note) for note in comparison.get("notes") or []],
    }


def scalability_view(section: Mapping | None, pngs: Mapping[str, bytes]) -> dict | None:
    """The scalability section: per tier, one row per step and the two statements; the chart."""
    if not section:
        return None
    tiers = []
    for name, tier in (section.get("tiers") or {}).items():
        rows = []
        for step in tier.get("steps") or []:
            latency = step.get("latency_ms") or {}
            ratio = finite(step.get("ratio"))
            rows.append(
                {
                    "step": format_count(step.get("step")),
                    "users": format_count(step.get("users")),
                    "load": format_percent(finite(step.get("load_pct")), scale=1),
                    "offered": format_number(step.get("offered_rps")),
                    "achieved": format_number(step.get("achieved_rps")),
                    "ratio": format_percent(ratio),
                    "short": ratio is not None and ratio < (finite(section.get("linear_ratio")) or 0),
                    "latency": [format_number(latency.get(key)) for key in ("p50", "p95", "p99")],
                    "failures": format_count(step.get("failures")),
                }
            )
        statements = [str(tier.get(key) or "") for key in ("throughput", "latency")]
        tiers.append({"name": name, "rows": rows, "statements": [text for text in statements if text]})
    return {
        "tiers": tiers,
        "settle_s": f"{finite(section.get('settle_s')) or 0:g}",
        "basis": str(section.get("latency_basis") or ""),
        "chart": _image(pngs.get(charts.SCALABILITY_CHART), SCALABILITY_ALT),
    }


def endpoint_row(endpoint: Mapping) -> dict:
    """One endpoint's row: tier, name, requests, failures and latency percentiles."""
    latency = endpoint.get("latency_ms") or {}
    return {
        "tier": str(endpoint.get("tier", "")),
        "name": str(endpoint.get("name", "")),
        "requests": format_count(endpoint.get("requests")),
        "failures": format_count(endpoint.get("failures")),
        "latency": [format_number(latency.get(key)) for key in PERCENTILES],
    }


def error_row(error: Mapping) -> dict:
    """One error group's row: tier, endpoint, status, message, count."""
    return {
        "tier": str(error.get("tier", "")),
        "endpoint": str(error.get("endpoint", "")),
        "status": str(error.get("status", "")),
        "error": str(error.get("error") or ""),
        "count": format_count(error.get("count")),
    }


@functools.cache
def _environment() -> jinja2.Environment:
    """The template environment (autoescaping), built on first use."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _image(png: bytes | None, alt: str) -> dict | None:
    """An embeddable image (data URI, alt text, and its pixel size from the PNG header), or None without a chart."""
    if not png:
        return None
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return {"src": src, "alt": alt, "width": width, "height": height}


def _alt(kind: str, tier: str, basis: str, target: object) -> str:
    """Alt text of a tier's chart."""
    return CHART_ALTS[kind].format(tier=tier, basis=basis, target=format_number(target))


def _baseline_rows(scope: Mapping) -> list[dict]:
    """Display rows of one baseline scope (a tier, or one of its endpoints): one per compared figure."""
    label = str(scope.get("tier", "")) + (f" {scope['endpoint']}" if scope.get("endpoint") else "")
    rows = []
    for name, figure in (scope.get("figures") or {}).items():
        rate = name == "success_rate"
        delta = finite(figure.get("delta"))
        if delta is None:
            delta_text = MISSING
        elif rate:
            delta_text = f"{delta * 100:+.3f} pp"
        else:
            delta_text = f"{delta:+,.2f}" + (" ms" if name.endswith("_ms") else "")
        pct = finite(figure.get("delta_pct"))
        rows.append(
            {
                "scope": label,
                "figure": name,
                "baseline": format_value(name, figure.get("baseline")),
                "current": format_value(name, figure.get("current")),
                "delta": delta_text,
                "delta_pct": MISSING if pct is None else f"{pct:+.1f}%",
                "tolerance": _tolerance(figure.get("tolerance"), name),
                "regressed": bool(figure.get("regressed")),
            }
        )
    return rows


def _tolerance(tolerance: Mapping | None, name: str) -> str:
    """A figure's tolerance: 'worse by > 20% and > 2 ms', or — when not gated."""
    if not tolerance:
        return MISSING
    parts = [f"{tolerance['pct']:g}%"] if finite(tolerance.get("pct")) is not None else []
    absolute = finite(tolerance.get("abs"))
    if absolute is not None:
        unit = " pp" if name == "success_rate" else " ms" if name.endswith("_ms") else ""
        parts.append(f"{absolute * 100 if name == 'success_rate' else absolute:g}{unit}")
    return "worse by > " + " and > ".join(parts) if parts else MISSING


def _latency_row(label: str, latency: Mapping | None) -> dict:
    """A labelled row of latency percentiles in ms."""
    latency = latency or {}
    return {"label": label, "values": [format_number(latency.get(key)) for key in PERCENTILES]}


def _tier_load(tier: Mapping) -> str:
    """A tier's configured load: users and target request rate."""
    return f"{format_count(tier.get('users'))} users, target {format_number(tier.get('rps'))} req/s"


def _run_seconds(info: RunInfo) -> float | None:
    """Wall-clock length of the run from run.json's timestamps."""
    started, ended = finite(info.started_ts), finite(info.ended_ts)
    return None if started is None or ended is None else ended - started


def _seconds(value: object) -> str | None:
    """A duration in seconds for display, or None when missing."""
    number = finite(value)
    return None if number is None else f"{number:,.1f} s"


def _plain(value: object, unit: str) -> str | None:
    """A number with its unit, or None when missing."""
    number = finite(value)
    return None if number is None else f"{format_number(value)} {unit}"
