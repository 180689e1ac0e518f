"""A judged run as rows of the history: one flat row per tier, from its summary.json and run.json alone.

Each row holds what the history page, the change points and ``BASELINE=auto`` read (docs/history.md, "Files"):
who ran (run id, kind, profile, label and its track, start, length), the verdict and exit code, whether the tier
met every SLA, the generator's validity, uptime, the charted figures (p95, p99, mean, success rate) with their
95% intervals and SLA limits, the path of the run's report, and every check with its interval. A pure function:
the run directories stay the truth, and the history is rebuilt from them at will.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIGURES = ("p95_ms", "p99_ms", "mean_ms", "success_rate")  # charted with their intervals and limits
PROBE = "probe"  # the SLA validation probe's profile name: its rounds are the history's kind "probe"


def track(label: str) -> str:
    """The series a label belongs to: the label before its first ``@`` (``main@3f2c1a0`` -> ``main``)."""
    return label.split("@", 1)[0]


def _figure(tier: Mapping[str, Any], name: str) -> float | None:
    if name == "success_rate":
        return tier.get("success_rate")
    return (tier.get("latency_ms") or {}).get(name.removesuffix("_ms"))


def _check(check: Mapping[str, Any]) -> dict[str, Any]:
    low, high = check.get("ci95") or (None, None)
    name = check["name"] if not check.get("endpoint") else f"{check['endpoint']}.{check['name']}"
    return {
        "name": name,
        "op": check.get("op"),
        "limit": check.get("limit"),
        "actual": check.get("actual"),
        "lo": low,
        "hi": high,
        "status": check.get("status"),
    }


def _tier_row(name: str, tier: Mapping[str, Any]) -> dict[str, Any]:
    checks = tier.get("checks") or []
    limits = {c["name"]: c.get("limit") for c in checks if not c.get("endpoint")}
    intervals = tier.get("ci95") or {}
    row: dict[str, Any] = {
        "tier": name,
        "met": bool(checks) and all(c.get("status") == "passed" for c in checks),
        "requests": tier.get("requests"),
        "rps": tier.get("rps"),
    }
    for figure in FIGURES:
        low, high = intervals.get(figure) or (None, None)
        row |= {figure: _figure(tier, figure), f"{figure}_lo": low, f"{figure}_hi": high}
        row[f"{figure}_limit"] = limits.get(figure)
    row["uptime"] = (tier.get("uptime") or {}).get("ratio")
    row["uptime_limit"] = limits.get("uptime")
    row["checks"] = [_check(c) for c in checks]
    return row


def rows(summary: Mapping[str, Any], run: Mapping[str, Any], report: str) -> list[dict[str, Any]]:
    """The history's rows of one judged run (``report``: its report's path relative to the report directory)."""
    label = str(run.get("label") or summary.get("label") or "")
    generator = summary.get("generator") or {}
    head = {
        "run_id": summary.get("run_id") or run.get("run_id"),
        "kind": PROBE if (run.get("profile") or summary.get("profile")) == PROBE else "run",
        "profile": summary.get("profile") or run.get("profile"),
        "label": label,
        "track": track(label),
        "started_at": summary.get("started_at") or run.get("started_at"),
        "duration_s": summary.get("duration_s"),
        "verdict": summary.get("verdict"),
        "exit_code": summary.get("exit_code"),
        "valid": generator.get("valid"),
        "report": report,
    }
    return [{**head, **_tier_row(name, tier)} for name, tier in (summary.get("tiers") or {}).items()]
