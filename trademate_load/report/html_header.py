"""The HTML report's header as display values: the verdict banner (label, style, reason, exit code and its meaning,
badges of an interrupted, aborted or early-ended run) and the run's facts (metadata, a distributed run's workers)."""

from __future__ import annotations

from collections.abc import Mapping

from trademate_load.formatting import finite, format_count, format_number, format_value
from trademate_load.losses import LOST_STATES, describe_lost
from trademate_load.report.html_parts import MISSING, seconds
from trademate_load.runinfo import RunInfo
from trademate_load.verdict import EXIT_MEANINGS

VERDICTS = {
    "pass": ("PASS", "pass"),
    "fail": ("FAIL", "fail"),
    "inconclusive": ("INCONCLUSIVE", "inconclusive"),
    "incomplete": ("INCOMPLETE", "nodata"),
    "invalid": ("INVALID", "nodata"),
}
NO_DATA = ("NO DATA", "nodata")


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
        ("label", summary.get("label") or info.label),
        ("host", summary.get("host") or info.host),
        ("started", info.started_at or summary.get("started_at")),
        ("ended", info.ended_at),
        ("run time", seconds(_run_seconds(info))),
        ("warm-up", seconds(info.warmup_s)),
        ("SLA window", seconds(summary.get("duration_s"))),
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


def _tier_load(tier: Mapping) -> str:
    """A tier's configured load: users and target request rate."""
    return f"{format_count(tier.get('users'))} users, target {format_number(tier.get('rps'))} req/s"


def _run_seconds(info: RunInfo) -> float | None:
    """Wall-clock length of the run from run.json's timestamps."""
    started, ended = finite(info.started_ts), finite(info.ended_ts)
    return None if started is None or ended is None else ended - started


def _plain(value: object, unit: str) -> str | None:
    """A number with its unit, or None when missing."""
    number = finite(value)
    return None if number is None else f"{format_number(value)} {unit}"


def change_line(change: Mapping) -> str:
    """``premium p95_ms: 3.10 -> 8.20 (+164.5%, p = 0.0001)``: a change in the history this run is the first after."""
    size_pct = change.get("size_pct")
    pct = "" if size_pct is None else f"{size_pct:+.1f}%, "
    before, after = (format_value(change["figure"], change.get(k)) for k in ("before", "after"))
    return f"{change['tier']} {change['figure']}: {before} -> {after} ({pct}p = {change.get('p_value', 0):.2g})"
