"""summary.json's ``generator`` section: per process, the load generator's health figures over the judged time
and what each tier it sent; per tier, the rate intended and achieved and the arrivals dropped, by the generator or at
the in-flight bound; the thresholds the validity rules (:mod:`trademate_load.validity`) judged them by. Pure; nothing
here imports locust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from trademate_load.profile import TierLoad, scheduled_requests
from trademate_load.stats import exact_quantiles
from trademate_load.validity import (
    CPU_SATURATED,
    FREEZE_MS,
    LAG_P99_MS,
    PRESSURE_SHARE,
    RATE_TOLERANCE,
    STEAL_SHARE,
    Health,
    overlapping,
    unhealthy_spans,
)


def _stat(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {"mean": None, "max": None}
    return {"mean": round(float(finite.mean()), 4), "max": round(float(finite.max()), 4)}


def describe(frame: pd.DataFrame, run: Mapping[str, Any], health: Mapping[str, Health]) -> dict[str, Any]:
    """summary.json's ``generator``: per process its figures over the judged time, per tier intended and achieved
    req/s (``valid`` and ``reason`` are filled in by :func:`trademate_load.validity_verdict.apply`)."""
    start, end = run["started_ts"] + run["warmup_s"], run["ended_ts"]
    duration = max(end - start, 1e-9)
    loads = run["settings"]["tiers"]
    stages = run["settings"].get("stages") or []
    in_window = ((frame["ts"] >= start) & (frame["ts"] <= end)).to_numpy()
    workers = frame["worker"].astype(str).to_numpy()
    tier_of = frame["tier"].astype(str).to_numpy()
    lateness_ms = (frame["ts"] - frame["intended_ts"]).to_numpy() * 1000.0
    processes = {}
    for process, h in health.items():
        judged = h.in_window(start, end)
        span = h.overlap_s(start, end)[judged]
        c = {name: values[judged] for name, values in h.columns.items()}
        tiers = {}
        for tier, load in loads.items():
            users = c.get(f"users_{tier}", np.zeros(0))
            intended = float((users * span).sum() / duration) * load["rps"] / load["users"] if len(span) else 0.0
            mine = in_window & (workers == process) & (tier_of == tier)
            if not mine.any() and not intended:
                continue
            late = lateness_ms[mine]
            p50, p99 = exact_quantiles(late, (0.50, 0.99)) if len(late) else (math.nan, math.nan)
            tiers[tier] = {
                "intended_rps": round(intended, 2),
                "achieved_rps": round(int(mine.sum()) / duration, 2),
                "lateness_ms": {"p50": _finite(p50), "p99": _finite(p99)},
            }
        processes[process] = {
            "lag_ms": h.lag_ms,
            "freeze_max_ms": _finite(np.nanmax(c["freeze_max_ms"], initial=0.0)),
            "cpu": _stat(c["cpu"]),
            "wait": _stat(c["wait"]),
            "pressure": _stat(c["pressure"]),
            "steal": _stat(c["steal"]),
            "io": _stat(c["io"]),
            "judged_s": round(float(span.sum()), 3),
            "unhealthy_s": round(float(span[h.unhealthy[judged]].sum()), 3),
            "machine_busy_s": round(float(span[h.machine_busy[judged]].sum()), 3),
            "tiers": tiers,
        }
    spans = unhealthy_spans(health)
    tiers = {}
    for tier, load in loads.items():
        intended = scheduled_requests(
            TierLoad(**load), stages, tier, start - run["started_ts"], end - run["started_ts"]
        )
        seconds = (run.get("dropped") or {}).get(tier) or []
        in_run = [(s, n) for s, n in seconds if start <= s + 0.5 <= end]
        by_generator = sum(n for s, n in in_run if overlapping(spans, s, s + 1))
        sent = int((in_window & (tier_of == tier)).sum())
        tiers[tier] = {
            "intended_rps": round(intended / duration, 2),
            "achieved_rps": round(sent / duration, 2),
            "dropped_by_generator": by_generator,
            "dropped_at_bound": sum(n for _, n in in_run) - by_generator,
            # each user may lose the request it had in flight when the run stopped
            "short": sent < RATE_TOLERANCE * intended - load["users"],
        }
    return {
        "valid": None,
        "reason": None,
        "processes": processes,
        "tiers": tiers,
        "thresholds": {
            "lag_p99_ms": LAG_P99_MS,
            "freeze_ms": FREEZE_MS,
            "cpu": CPU_SATURATED,
            "pressure": PRESSURE_SHARE,
            "steal": STEAL_SHARE,
            "rate": RATE_TOLERANCE,
        },
    }


def _finite(value: float) -> float | None:
    return round(float(value), 3) if value is not None and math.isfinite(value) else None
