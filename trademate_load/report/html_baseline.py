"""The HTML report's baseline section as display values: each compared figure of a tier or endpoint, then and now,
its delta, the difference's 95% interval, its tolerance and the gate's finding (regressed, improved, no change,
inconclusive) (summary.json's baseline comparison, never recomputed)."""

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
        "inconclusive": [str(name) for name in comparison.get("inconclusive") or []],
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
                "interval": _interval(figure.get("ci95"), name),
                "change": str(figure.get("change") or ("regressed" if figure.get("regressed") else "")),
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


def _interval(ends, name: str) -> str:
    """The difference's 95% interval, in the figure's unit: '[-0.12, +0.40] ms'."""
    if not ends or finite(ends[0]) is None or finite(ends[1]) is None:
        return MISSING
    if name == "success_rate":
        return f"[{ends[0] * 100:+.3f}, {ends[1] * 100:+.3f}] pp"
    return f"[{ends[0]:+,.2f}, {ends[1]:+,.2f}]" + (" ms" if name.endswith("_ms") else "")
