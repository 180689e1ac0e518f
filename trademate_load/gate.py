"""The baseline gate: compare a run's summary with an earlier run's, tier by tier and endpoint by endpoint.

A pure function of two summary.json dicts and the tolerances. Each figure's change is judged statistically:
the 95% interval of the difference (now minus then) is built from each run's own interval of the figure
(``ci95``; :func:`trademate_load.stats.difference_interval`). A figure with a tolerance

- ``regressed`` when the interval excludes zero and the difference is worse than the tolerance, in both senses a
  tolerance gives: relative (``pct``) and absolute (``abs``); ``improved`` the same way in the better direction;
- ``no change`` when the difference is within the tolerance;
- ``inconclusive`` when the difference is beyond the tolerance but its interval holds zero (too few samples to
  tell), or a summary has no interval for it (one written before intervals were recorded).

A figure without a tolerance is informational: ``worse`` or ``better`` when its interval excludes zero,
``inconclusive`` when a run cannot bound it (p99 of a short run), else ``no change``. Only ``regressed`` fails the
gate. The default tolerance flags p95 worse by more than 20% and more than 2 ms. Latency is worse when higher;
success rate and req/s when lower. req/s is a count over the judged window, not an estimate, so it is judged on
its value.
"""

from __future__ import annotations

from typing import Any

from trademate_load.sla_spec import DEFAULT_TOLERANCES, Tolerance
from trademate_load.stats import difference_interval
from trademate_load.verdict import EXIT_BREACH, EXIT_PASS, with_finding

REGRESSED, IMPROVED, NO_CHANGE, INCONCLUSIVE = "regressed", "improved", "no change", "inconclusive"
WORSE, BETTER = "worse", "better"
EXACT_FIGURES = {"rps"}  # a count over the window: no sampling interval

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


def _interval(source: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    ends = (source.get("ci95") or {}).get(name)
    return (ends[0], ends[1]) if isinstance(ends, list | tuple) and len(ends) == 2 else (None, None)


def difference(name: str, now: float, before: float, current: dict, baseline: dict) -> tuple[float, float] | None:
    """The 95% interval of ``now - before`` for figure ``name`` (None: a summary cannot bound it)."""
    if name in EXACT_FIGURES:
        return now - before, now - before
    return difference_interval(now, _interval(current, name), before, _interval(baseline, name))


def classify(
    now: float, before: float, interval: tuple[float, float] | None, tolerance: Tolerance | None, higher_is_worse: bool
) -> str:
    """A figure's change (see the module docstring)."""
    holds_zero = interval is None or interval[0] <= 0 <= interval[1]
    delta = now - before
    if tolerance is None:
        if interval is None and delta != 0:
            return INCONCLUSIVE  # a run too short to bound the figure: no interval, no claim either way
        if holds_zero or delta == 0:
            return NO_CHANGE
        return WORSE if (delta > 0) == higher_is_worse else BETTER
    worse, better = (
        tolerance.exceeded(before, now, higher_is_worse),
        tolerance.exceeded(before, now, not higher_is_worse),
    )
    if not (worse or better):
        return NO_CHANGE
    if holds_zero:
        return INCONCLUSIVE
    return REGRESSED if worse else IMPROVED


def _figure(name: str, current: dict, baseline: dict, tolerance: Tolerance | None) -> dict[str, Any]:
    path, higher_is_worse = FIGURES[name]
    now, before = _read(current, path), _read(baseline, path)
    delta = None if now is None or before is None else now - before
    interval = None if delta is None else difference(name, now, before, current, baseline)
    change = None if delta is None else classify(now, before, interval, tolerance, higher_is_worse)
    return {
        "baseline": before,
        "current": now,
        "delta": None if delta is None else round(delta, 6),
        "delta_pct": None if delta is None or not before else round(delta / abs(before) * 100, 3),
        "ci95": None if interval is None else [round(end, 6) for end in interval],
        "change": change,
        "regressed": change == REGRESSED,
        "tolerance": None if tolerance is None else {"pct": tolerance.pct, "abs": tolerance.abs},
    }


def _row(scope: dict[str, Any], current: dict, baseline: dict, names, tolerances: dict[str, Tolerance]) -> dict:
    return {**scope, "figures": {name: _figure(name, current, baseline, tolerances.get(name)) for name in names}}


def _names(rows: list[dict], change: str) -> list[str]:
    return [
        f"{row['tier']}" + (f"[{row['endpoint']}]" if "endpoint" in row else "") + f".{name}"
        for row in rows
        for name, figure in row["figures"].items()
        if figure["change"] == change and figure["tolerance"] is not None  # only gated figures pass or fail it
    ]


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
    regressions, inconclusive = _names(tiers + endpoints, REGRESSED), _names(tiers + endpoints, INCONCLUSIVE)
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
        "inconclusive": inconclusive,
        "change": REGRESSED if regressions else INCONCLUSIVE if inconclusive else NO_CHANGE,
        "notes": notes,
    }


def apply(summary: dict[str, Any], comparison: dict[str, Any]) -> dict[str, Any]:
    """The summary with its ``baseline`` section; a regression turns a passing verdict into a breach (exit 1), an
    inconclusive comparison is noted without changing the verdict."""
    summary = {**summary, "baseline": comparison}
    regressions, inconclusive = comparison["regressions"], comparison.get("inconclusive") or []
    if regressions:
        note = f"regressed against baseline {comparison['run_id']}: " + ", ".join(regressions)
        return with_finding(summary, note, (EXIT_PASS, EXIT_BREACH), "fail", EXIT_BREACH)
    if inconclusive:
        note = f"against baseline {comparison['run_id']}, inconclusive: " + ", ".join(inconclusive)
        return with_finding(summary, note, (), summary["verdict"], summary["exit_code"])
    return summary


def tolerances_from(settings: dict[str, Any]) -> dict[str, Tolerance]:
    """Tolerances recorded in run.json's profile settings (the defaults when none were given)."""
    recorded = settings.get("baseline_tolerance")
    if recorded is None:
        return dict(DEFAULT_TOLERANCES)
    return {name: Tolerance(**limits) for name, limits in recorded.items()}
