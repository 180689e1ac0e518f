"""The HTML report's baseline section as display values: each compared figure of a tier or endpoint, then and now,
its delta and tolerance, regressions flagged (summary.json's baseline comparison, never recomputed)."""

from __future__ import annotations

from collections.abc import Mapping

from trademate_load.formatting import finite, format_value
from trademate_load.report.html_parts import MISSING


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
