"""The HTML report's load generator panel as display values: whether it kept up, each process's figures, each
tier's intended and achieved req/s, and its chart (summary.json's generator section, never recomputed)."""

from __future__ import annotations

from collections.abc import Mapping

from trademate_load.formatting import finite, format_count, format_ms, format_number, format_percent
from trademate_load.report import charts
from trademate_load.report.html_parts import image

GENERATOR_ALT = "Per load-generator process: loop lag p99 per second, its CPU share and the machine's CPU pressure"


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
        "chart": image(pngs.get(charts.GENERATOR_CHART), GENERATOR_ALT),
    }
