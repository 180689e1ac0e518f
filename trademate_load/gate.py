"""The baseline gate: compare a run's summary with an earlier run's, tier by tier and endpoint by endpoint.

A pure function of two summary.json dicts and the tolerances. A figure regresses when it is worse than
the baseline's by more than its tolerance, in both senses a tolerance gives: relative (``pct``) and
absolute (``abs``). The default flags p95 worse by more than 20% and more than 2 ms. Latency is worse
when higher; success rate and req/s when lower.
"""

from __future__ import annotations

from typing import Any

from trademate_load.sla_spec import DEFAULT_TOLERANCES, Tolerance
from trademate_load.verdict import EXIT_BREACH, EXIT_PASS, with_finding

# Compared figure (the profile's ``baseline_tolerance`` keys) -> (how to read it from a tier or endpoint summary,
# higher is worse)
FIGURES: dict[str, tuple[tuple[str, ...], bool]] = {
    "p50_ms": (("latency_ms", "p50"), True),
    "p95_ms": (("latency_ms", "p95"), True),
    "p99_ms": (("latency_ms", "p99"), True),
    "mean_ms": (("latency_ms", "mean"), True),
    "success_rate": (("success_rate",), False),
    "rps": (("rps",), False),
}
ENDPOINT_FIGURES = ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "success_rate")


def _read(source: dict[str, Any], path: tuple[str, ...]) -> float | None:
    for key in path:
        source = source.get(key) if isinstance(source, dict) else None
    return source if isinstance(source, int | float) else None


def _row(scope: dict[str, Any], current: dict, baseline: dict, names, tolerances: dict[str, Tolerance]) -> dict:
    figures = {}
    for name in names:
        path, higher_is_worse = FIGURES[name]
        now, before = _read(current, path), _read(baseline, path)
        delta = None if now is None or before is None else now - before
        tolerance = tolerances.get(name)
        figures[name] = {
            "baseline": before,
            "current": now,
            "delta": None if delta is None else round(delta, 6),
            "delta_pct": None if delta is None or not before else round(delta / abs(before) * 100, 3),
            "regressed": bool(tolerance and delta is not None and tolerance.exceeded(before, now, higher_is_worse)),
            "tolerance": None if tolerance is None else {"pct": tolerance.pct, "abs": tolerance.abs},
        }
    return {**scope, "figures": figures}


def compare(current: dict[str, Any], baseline: dict[str, Any], tolerances: dict[str, Tolerance]) -> dict[str, Any]:
    """The ``baseline`` section of summary.json: per tier and endpoint, each figure then and now, and regressions."""
    tiers = [
        _row({"tier": tier}, figures, baseline["tiers"][tier], FIGURES, tolerances)
        for tier, figures in current["tiers"].items()
        if tier in baseline.get("tiers", {})
    ]
    before = {(e["tier"], e["name"]): e for e in baseline.get("endpoints", [])}
    endpoints = [
        _row(
            {"tier": e["tier"], "endpoint": e["name"]}, e, before[(e["tier"], e["name"])], ENDPOINT_FIGURES, tolerances
        )
        for e in current.get("endpoints", [])
        if (e["tier"], e["name"]) in before
    ]
    regressions = [
        f"{row['tier']}" + (f"[{row['endpoint']}]" if "endpoint" in row else "") + f".{name}"
        for row in tiers + endpoints
        for name, figure in row["figures"].items()
        if figure["regressed"]
    ]
    notes = []
    for tier, figures in current["tiers"].items():
        basis_then = baseline.get("tiers", {}).get(tier, {}).get("latency_basis")
        if basis_then and basis_then != figures.get("latency_basis"):
            notes.append(f"{tier}: latency basis {figures.get('latency_basis')} now, {basis_then} in the baseline")
    return {
        "run_id": baseline.get("run_id"),
        "tolerances": {name: {"pct": t.pct, "abs": t.abs} for name, t in tolerances.items()},
        "tiers": tiers,
        "endpoints": endpoints,
        "regressions": regressions,
        "notes": notes,
    }


def apply(summary: dict[str, Any], comparison: dict[str, Any]) -> dict[str, Any]:
    """The summary with its ``baseline`` section; a regression turns a passing verdict into a breach (exit 1)."""
    summary = {**summary, "baseline": comparison}
    regressions = comparison["regressions"]
    if not regressions:
        return summary
    note = f"regressed against baseline {comparison['run_id']}: " + ", ".join(regressions)
    return with_finding(summary, note, (EXIT_PASS, EXIT_BREACH), "fail", EXIT_BREACH)


def tolerances_from(settings: dict[str, Any]) -> dict[str, Tolerance]:
    """Tolerances recorded in run.json's profile settings (the defaults when none were given)."""
    recorded = settings.get("baseline_tolerance")
    if recorded is None:
        return dict(DEFAULT_TOLERANCES)
    return {name: Tolerance(**limits) for name, limits in recorded.items()}
