"""The SLA engine: a pure function from raw samples and thresholds to a Verdict.

Each tier's figures and checks come from :mod:`trademate_load.sla_figures` (exact percentiles, intervals, dropped
arrivals, uptime); here they are gathered with the per-endpoint checks and the errors into the run's Verdict,
whose reason names the breached or undecided checks and the arrivals dropped. Nothing here imports locust.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from trademate_load.profile import TierLoad
from trademate_load.sla_checks import Check
from trademate_load.sla_figures import (
    EndpointResult,
    Schedule,
    TierResult,
    Window,
    basis_column,
    endpoint_checks,
    endpoint_results,
    tier_columns,
    tier_result,
    window_mask,
)
from trademate_load.sla_spec import Sla
from trademate_load.verdict import EXIT_BREACH, EXIT_NO_DATA, EXIT_PASS


@dataclass
class Verdict:
    """The outcome of a run: pass, fail, inconclusive or no_data, with the exit code the suite returns."""

    status: str
    exit_code: int
    reason: str
    tiers: dict[str, TierResult]
    endpoints: list[EndpointResult]
    errors: list[dict]
    window: Window

    @property
    def checks(self) -> list[tuple[str, Check]]:
        return [(tier, check) for tier, result in self.tiers.items() for check in result.checks]


def _errors(failed: pd.DataFrame) -> list[dict]:
    """Failed requests counted by tier, endpoint, status and error text, most frequent first."""
    if failed.empty:
        return []
    grouped = (
        failed.assign(error=failed["error"].astype(object).fillna(""))
        .groupby(["tier", "endpoint", "status", "error"], sort=False, observed=True)
        .size()
        .sort_values(ascending=False)
    )
    return [
        {"tier": tier, "endpoint": endpoint, "status": int(status), "error": error or None, "count": int(count)}
        for (tier, endpoint, status, error), count in grouped.items()
    ]


def _label(tier: str, check: Check) -> str:
    return f"{tier}.{check.name}" + (f"[{check.endpoint}]" if check.endpoint else "")


def evaluate(
    frame: pd.DataFrame,
    tiers: dict[str, TierLoad],
    sla: Sla,
    window: Window,
    basis: str,
    strict: bool = False,
    dropped: Mapping[str, Sequence[Sequence[int]]] | None = None,
    scheduled: Mapping[str, Schedule] | None = None,
) -> Verdict:
    """Judge the samples of ``frame`` that fall in ``window`` against ``sla`` for each tier of ``tiers``.

    Inconclusive checks (an interval straddling its limit) fail the gate only when ``strict``. ``dropped``:
    per tier, ``[epoch second, count]`` pairs of arrivals an open-model run could not send. ``scheduled``: per
    tier, the requests its profile scheduled between two times (uptime's "nothing sent" windows).
    """
    in_sla_window = window_mask(frame, window)
    tier_column = frame["tier"]
    dropped, scheduled = dropped or {}, scheduled or {}
    results = {
        tier: tier_result(
            tier,
            frame.loc[in_sla_window & tier_column.eq(tier).to_numpy(dtype=bool, na_value=False), tier_columns(basis)],
            load,
            sla,
            window,
            basis,
            dropped.get(tier, ()),
            scheduled.get(tier),
        )
        for tier, load in tiers.items()
    }
    endpoints = endpoint_results(frame.loc[in_sla_window, ["tier", "endpoint", "ok", basis_column(basis)]], basis)
    statuses = frame["status"].to_numpy()[in_sla_window]
    for tier, checks in endpoint_checks(endpoints, sla).items():
        if tier in results:
            results[tier].checks.extend(checks)
    by_status: dict[str, list[str]] = {}
    for tier, result in results.items():
        for check in result.checks:
            by_status.setdefault(check.status, []).append(_label(tier, check))
    silent = [tier for tier, r in results.items() if r.responses == 0]
    if not len(statuses) or (statuses == 0).all():
        status, code = "no_data", EXIT_NO_DATA
        reason = "the target never answered" if len(statuses) else "no samples in the SLA window"
    elif "failed" in by_status:
        status, code, reason = "fail", EXIT_BREACH, "breached: " + ", ".join(by_status["failed"])
    elif silent:
        status, code, reason = "no_data", EXIT_NO_DATA, "no response measured for tier " + ", ".join(silent)
    elif "inconclusive" in by_status:
        status, code = "inconclusive", EXIT_BREACH if strict else EXIT_PASS
        reason = "too few samples to decide " + ", ".join(by_status["inconclusive"])
        reason += " (strict: counted as a breach)" if strict else " (not strict: not counted as a breach)"
    else:
        status, code, reason = "pass", EXIT_PASS, "every SLA met"
    drops = [f"{tier} {r.dropped} of {r.offered}" for tier, r in results.items() if r.dropped]
    if drops:
        reason += f"; arrivals dropped at max_in_flight (counted as failed requests): {', '.join(drops)}"
    failed = in_sla_window & ~frame["ok"].to_numpy(dtype=bool)
    errors = _errors(frame.loc[failed, ["tier", "endpoint", "status", "error"]])
    return Verdict(status, code, reason, results, endpoints, errors, window)
