"""summary.json: the verdict as plain values, schema ``trademate-load/summary/1``."""

from __future__ import annotations

import math
from typing import Any

from trademate_load.sla import Check, TierResult, Verdict

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


def _tier(result: TierResult) -> dict[str, Any]:
    return {
        "requests": result.requests,
        "failures": result.failures,
        "rps": _round(result.rps, 2),
        "target_rps": result.target_rps,
        "latency_ms": _latency(result.latency_ms),
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
        "checks": [check_dict(c) for c in result.checks],
    }


def build_summary(verdict: Verdict, run: dict[str, Any]) -> dict[str, Any]:
    """summary.json content for a verdict and the run's metadata (run.json)."""
    return {
        "schema": SCHEMA,
        "run_id": run["run_id"],
        "profile": run["profile"],
        "host": run["host"],
        "started_at": run["started_at"],
        "duration_s": round(verdict.window.duration_s, 3),
        "verdict": verdict.status,
        "exit_code": verdict.exit_code,
        "reason": verdict.reason,
        "strict": bool(run.get("settings", {}).get("strict", False)),
        "window": {
            "start_ts": verdict.window.start_ts,
            "end_ts": verdict.window.end_ts,
            "warmup_s": run.get("warmup_s", 0.0),
        },
        "tiers": {tier: _tier(result) for tier, result in verdict.tiers.items()},
        "endpoints": [
            {
                "tier": e.tier,
                "name": e.name,
                "requests": e.requests,
                "failures": e.failures,
                "latency_ms": _latency(e.latency_ms),
            }
            for e in verdict.endpoints
        ],
        "errors": verdict.errors,
    }
