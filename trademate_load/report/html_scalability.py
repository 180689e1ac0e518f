"""The HTML report's scalability section as display values: per tier one row per step and its two statements,
and the chart (summary.json's scalability section, never recomputed)."""

from __future__ import annotations

from collections.abc import Mapping

from trademate_load.formatting import finite, format_count, format_number, format_percent
from trademate_load.report import charts
from trademate_load.report.html_parts import image

SCALABILITY_ALT = "p95 and p99 latency of each scalability step against its achieved requests per second, per tier"


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
        "chart": image(pngs.get(charts.SCALABILITY_CHART), SCALABILITY_ALT),
    }
