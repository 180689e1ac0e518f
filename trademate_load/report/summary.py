"""summary.json: the verdict as plain values, schema ``trademate-load/summary/1``."""

from __future__ import annotations

import math
from typing import Any

from trademate_load.sla import Verdict
from trademate_load.sla_checks import Check
from trademate_load.sla_figures import TierResult
from trademate_load.verdict import EXIT_BREACH, EXIT_PASS, with_finding

SCHEMA = "trademate-load/summary/1"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _latency(stats: dict[str, float | None]) -> dict[str, float | None]:
    return {k: _round(v) for k, v in stats.items()}


def check_dict(check: Check) -> dict[str, Any]:
    out = {
        "name": check.name,
        "op": check.op,
        "limit": check.limit,
        "actual": _round(check.actual, 6),
        "passed": check.passed,
        "status": check.status,
    }
    if check.interval is not None:
        out["ci95"] = [_round(end, 6) for end in check.interval]
    if check.endpoint:
        out["endpoint"] = check.endpoint
    return out


def _intervals(estimates: dict[str, tuple[float | None, float | None]]) -> dict[str, list[float | None]]:
    """Each compared figure's 95% interval (the baseline gate and the history read them)."""
    return {name: [_round(end, 6) for end in ends] for name, ends in estimates.items()}


def _tier(result: TierResult, required_uptime: float | None, origin_ts: float) -> dict[str, Any]:
    return {
        "requests": result.requests,
        "failures": result.failures,
        "rps": _round(result.rps, 2),
        "target_rps": result.target_rps,
        "latency_ms": _latency(result.latency_ms),
        "ci95": _intervals(result.estimates),
        "service_latency_ms": _latency(result.service_latency_ms),
        "success_rate": _round(result.success_rate, 6),
        "sla_compliance": _round(result.sla_compliance, 6),
        "db_ms_p95": _round(result.db_ms_p95),
        "cache_hit_rate": _round(result.cache_hit_rate, 6),
        "latency_basis": result.latency_basis,
        "missed_schedule": result.missed_schedule,
        "dropped": result.dropped,
        "offered": result.offered,
        "error_budget": None
        if result.error_budget is None
        else {k: _round(v, 6) if math.isfinite(v) else None for k, v in result.error_budget.items()},
        "uptime": None if result.uptime is None else result.uptime.as_dict(required_uptime, origin_ts),
        "checks": [check_dict(c) for c in result.checks],
    }


def build_summary(verdict: Verdict, run: dict[str, Any]) -> dict[str, Any]:
    """summary.json content for a verdict and the run's metadata (run.json)."""
    summary = apply_abort(_summary(verdict, run), run.get("aborted"))
    decided = run.get("decided")
    if decided:
        summary = with_finding(summary, decided_note(decided), (), summary["verdict"], summary["exit_code"])
    return {**summary, "decided": decided}


def abort_note(aborted: dict[str, Any]) -> str:
    """``stopped at 12.0 s by abort_on_fail.p95_ms (premium): ...``"""
    where = f"{aborted.get('by', 'abort_on_fail')}.{aborted['check']} ({aborted['tier']})"
    return f"stopped at {aborted['at_s']:.1f} s by {where}: {aborted['reason']}"


def decided_note(decided: dict[str, Any]) -> str:
    """``ended early at 42.0 s by stop_when_decided: every check settled: ...``"""
    return f"ended early at {decided['at_s']:.1f} s by {decided['by']}: {decided['reason']}"


def apply_abort(summary: dict[str, Any], aborted: dict[str, Any] | None) -> dict[str, Any]:
    """``aborted``: which check stopped the run early (run.json's record) or None; an early stop is a breach
    (exit 1) unless the run could not measure at all (exit 3 stays)."""
    summary = {**summary, "aborted": aborted}
    if not aborted:
        return summary
    return with_finding(summary, abort_note(aborted), (EXIT_PASS, EXIT_BREACH), "fail", EXIT_BREACH)


def _summary(verdict: Verdict, run: dict[str, Any]) -> dict[str, Any]:
    origin = run.get("started_ts", verdict.window.start_ts)
    return {
        "schema": SCHEMA,
        "run_id": run["run_id"],
        "profile": run["profile"],
        "label": run.get("label") or "",
        "host": run["host"],
        "started_at": run["started_at"],
        "duration_s": round(verdict.window.duration_s, 3),
        "verdict": verdict.status,
        "exit_code": verdict.exit_code,
        "reason": verdict.reason,
        "strict": bool(run.get("settings", {}).get("strict", False)),
        "interrupted": bool(run.get("interrupted")),  # stopped before its planned run time (Ctrl-C, SIGTERM, UI)
        "window": {
            "start_ts": verdict.window.start_ts,
            "end_ts": verdict.window.end_ts,
            "warmup_s": run.get("warmup_s", 0.0),
        },
        "tiers": {
            tier: _tier(result, (run.get("sla") or {}).get(tier, {}).get("uptime"), origin)
            for tier, result in verdict.tiers.items()
        },
        "endpoints": [
            {
                "tier": e.tier,
                "name": e.name,
                "requests": e.requests,
                "failures": e.failures,
                "latency_ms": _latency(e.latency_ms),
                "ci95": _intervals(e.estimates),
            }
            for e in verdict.endpoints
        ],
        "errors": verdict.errors,
    }
