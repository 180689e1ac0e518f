"""The load generator's health as text: the console's one line, and the culprits a verdict made invalid names.

Both read summary.json's ``generator`` section (:mod:`trademate_load.validity_figures`) and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trademate_load.formatting import fixed, percent


def health_line(generator: Mapping[str, Any]) -> str:
    """``Load generator healthy: local loop lag p50 0.5 / p99 3.6 / max 73.6 ms, CPU 55% ...``: one line."""
    if not generator.get("processes"):
        return "Load generator: not measured (a run directory from before the monitor)"
    parts = []
    for process, p in generator["processes"].items():
        lag = p["lag_ms"]
        figures = [
            f"loop lag p50 {fixed(lag['p50'], 1)} / p99 {fixed(lag['p99'], 1)} / max {fixed(lag['max'], 1)} ms",
            f"CPU {percent(p['cpu']['mean'], 0)}",
            f"waited for a CPU {percent(p['wait']['mean'], 0)}",
            f"machine CPU pressure {percent(p['pressure']['mean'], 0)}",
            f"steal {percent(p['steal']['mean'], 0)}",
            f"I/O pressure {percent(p['io']['mean'], 0)}",
        ]
        unhealthy = f"{p['unhealthy_s']:.0f} of {p['judged_s']:.0f} s unhealthy"
        parts.append(f"{process} {', '.join(figures)}; {unhealthy}")
    rates = ", ".join(
        f"{tier} {t['achieved_rps']:.1f} of {t['intended_rps']:g} req/s" for tier, t in generator["tiers"].items()
    )
    state = {True: "healthy", False: "INVALID", None: "measured"}[generator.get("valid")]
    return f"Load generator {state}: " + "; ".join(parts) + f"; sent {rates}"


def blame(generator: Mapping[str, Any], culprits: list[str]) -> str:
    """The ``culprits`` with their figures, and what the run sent: ``load generator local unhealthy 25 of 25 s: loop
    lag p99 152.5 ms (max 494.3), CPU 20%, waited for a CPU 80%, machine CPU pressure 85%, steal 1%; sent shared
    401.2 of 1000 req/s, premium 200.4 of 500 req/s``."""
    named = []
    for process in culprits:
        p = generator["processes"][process]
        what = "load generator" if process in ("local", "master") else "load generator worker"
        lag = p["lag_ms"]
        busy = f" (its machine busy {p['machine_busy_s']:.0f} s)" if p["machine_busy_s"] else ""
        named.append(
            f"{what} {process} unhealthy {p['unhealthy_s']:.0f} of {p['judged_s']:.0f} s{busy}: loop lag p99 "
            f"{fixed(lag['p99'], 1)} ms (max {fixed(lag['max'], 1)}), CPU {percent(p['cpu']['mean'], 0)}, "
            f"waited for a CPU {percent(p['wait']['mean'], 0)}, machine CPU pressure "
            f"{percent(p['pressure']['mean'], 0)}, steal {percent(p['steal']['mean'], 0)}, I/O pressure "
            f"{percent(p['io']['mean'], 0)}"
        )
    sent = ", ".join(
        f"{tier} {t['achieved_rps']:.1f} of {t['intended_rps']:g} req/s" for tier, t in generator["tiers"].items()
    )
    return "; ".join([*named, f"sent {sent}"]) if named else f"the load generator sent {sent}"
