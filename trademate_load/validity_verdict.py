"""The validity finding: whether the load generator's health makes a run's verdict ``invalid`` (docs/verdict.md,
"Validity").

A failed verdict is put to the counterfactual (:mod:`trademate_load.validity`) process by process, the unhealthiest
first. If no check fails any more, every failure is one the generator could explain: the verdict is ``invalid``
(exit 3), never ``fail``. If a check still fails, the target breached on its own time: ``fail`` stands. A run that
sent less than ``RATE_TOLERANCE`` of its profile's rate cannot pass: a pass or an inconclusive verdict becomes
``invalid``. Pure: plain values and frames in, plain values out; nothing here imports locust.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from trademate_load.validity import RATE_TOLERANCE, Health, healths, judge_counterfactual
from trademate_load.validity_figures import describe
from trademate_load.validity_text import blame
from trademate_load.verdict import EXIT_BREACH, EXIT_NO_DATA, EXIT_PASS


def short_tiers(generator: Mapping[str, Any]) -> list[str]:
    """Tiers that sent less than RATE_TOLERANCE of their intended rate (and a request a user, lost at the stop)."""
    return [tier for tier, t in generator["tiers"].items() if t.get("short")]


def explaining(frame, run, health: Mapping[str, Health], inputs, generator: Mapping[str, Any]) -> list[str] | None:
    """The fewest processes (the unhealthiest first) without whose spoiled samples no check fails; None when even
    all of them leave a check failing (the target breached on its own time)."""
    ranked = sorted(
        (p for p, figures in generator["processes"].items() if figures["unhealthy_s"] or figures["machine_busy_s"]),
        key=lambda p: -(generator["processes"][p]["unhealthy_s"] + generator["processes"][p]["machine_busy_s"]),
    )
    for count in range(1, len(ranked) + 1):
        chosen = {p: health[p] for p in ranked[:count]}
        remaining = judge_counterfactual(frame, run, chosen, inputs)
        if not any(check.status == "failed" for _, check in remaining.checks):
            return ranked[:count]
    return None


def short_processes(generator: Mapping[str, Any]) -> list[str]:
    """Processes that sent less than RATE_TOLERANCE of what their own users intended, in some tier."""
    return [
        process
        for process, figures in generator["processes"].items()
        if any(
            t["intended_rps"] and t["achieved_rps"] < RATE_TOLERANCE * t["intended_rps"]
            for t in figures["tiers"].values()
        )
    ]


def apply(summary: dict[str, Any], frame: pd.DataFrame, run: Mapping[str, Any], inputs) -> dict[str, Any]:
    """The summary with its ``generator`` section, and the verdict made ``invalid`` where the generator explains
    every failure, or the run sent too little to pass."""
    health = healths(run)
    if not health:
        return {**summary, "generator": {"valid": None, "reason": "not measured", "processes": {}, "tiers": {}}}
    generator = describe(frame, run, health)
    code, reason = summary["exit_code"], None
    if code == EXIT_BREACH:
        culprits = explaining(frame, run, health, inputs, generator)
        if culprits is not None:
            reason = f"{blame(generator, culprits)}; every failure is one it could have caused ({summary['reason']})"
    if reason is None and short_tiers(generator) and code in (EXIT_PASS, EXIT_BREACH) and summary["verdict"] != "fail":
        culprits = short_processes(generator) or [
            p for p, figures in generator["processes"].items() if figures["unhealthy_s"]
        ]
        reason = (
            f"{blame(generator, culprits)}: less than {RATE_TOLERANCE:.0%} of the profile's rate, so it cannot pass"
        )
    generator["valid"] = reason is None
    generator["reason"] = reason or "the load generator kept up: it explains no failure"
    summary = {**summary, "generator": generator}
    if reason is None:
        return summary
    return {**summary, "verdict": "invalid", "exit_code": EXIT_NO_DATA, "reason": reason}
