"""Scalability analysis of a stepped run: offered against achieved load and exact latency, per step and tier.

A profile whose ``stages`` step the user counts (``profiles/scalability.yaml``: each tier from 25% to
125% of its target) shows how throughput and latency respond to load. Step i's window is its stage's
span after the run's start, less the first ``SETTLE_S`` seconds (users spawning, queues settling) and
any warm-up, and cut at the run's end. Offered req/s is the step's users times the tier's per-user rate
(the profile's rps / users, which stages leave unchanged); achieved req/s counts the requests that
started in the window. Percentiles are exact (inverted CDF) on the run's latency basis.

A tier is linear up to its target when achieved / offered >= ``LINEAR_RATIO`` at every step at or below
100% of the target; its latency bends at the first step whose p95 exceeds ``BEND_FACTOR`` times the first
step's. A pure function of the sample frame and run.json (:class:`~trademate_load.runinfo.RunInfo`); nothing here
imports locust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trademate_load.runinfo import RunInfo
from trademate_load.sla_figures import basis_column, latency_stats

SETTLE_S = 2.0
LINEAR_RATIO = 0.95
BEND_FACTOR = 1.5
_AT_TARGET = 100.0 + 1e-6  # load_pct at or below this counts as "up to the target"


def analyze(frame: pd.DataFrame, run: RunInfo | Mapping[str, Any]) -> dict[str, Any] | None:
    """summary.json's ``scalability`` section, or None unless the profile has at least two stages."""
    info = RunInfo.view(run)
    stages = info.stages
    if len(stages) < 2:
        return None
    started = float(info.started_ts)
    ended = float(info.ended_ts or started + sum(float(s["duration_s"]) for s in stages))
    windows = step_windows(stages, started, ended, float(info.warmup_s))
    basis = info.latency_basis
    tiers = {
        tier: tier_steps(frame, tier, load, stages, windows, basis_column(basis), info.tier_sla(tier).get("p95_ms"))
        for tier, load in info.tiers.items()
        if any((stage.get("users") or {}).get(tier) for stage in stages)
    }
    return {
        "settle_s": SETTLE_S,
        "linear_ratio": LINEAR_RATIO,
        "bend_factor": BEND_FACTOR,
        "latency_basis": basis,
        "steps": [
            {
                "step": i + 1,
                "duration_s": float(stage["duration_s"]),
                "users": dict(stage.get("users") or {}),
                "window_s": None if window is None else [round(w - started, 3) for w in window],
            }
            for i, (stage, window) in enumerate(zip(stages, windows, strict=True))
        ],
        "tiers": tiers,
    }


def step_windows(
    stages: Sequence[Mapping[str, Any]], started: float, ended: float, warmup_s: float
) -> list[tuple[float, float] | None]:
    """Each stage's measured window in epoch seconds, or None when nothing of it is left to measure."""
    windows: list[tuple[float, float] | None] = []
    offset = 0.0
    for stage in stages:
        begin = max(started + offset + SETTLE_S, started + warmup_s)
        offset += float(stage["duration_s"])
        end = min(started + offset, ended)
        windows.append((begin, end) if end > begin else None)
    return windows


def tier_steps(
    frame: pd.DataFrame,
    tier: str,
    load: Mapping[str, Any],
    stages: Sequence[Mapping[str, Any]],
    windows: Sequence[tuple[float, float] | None],
    column: str,
    p95_limit: float | None,
) -> dict[str, Any]:
    """One tier's row per step, whether it scaled linearly up to its target, and where its latency bends."""
    per_user = float(load["rps"]) / float(load["users"])
    mask = frame["tier"].eq(tier).to_numpy(dtype=bool, na_value=False)
    ts = frame["ts"].to_numpy(dtype=np.float64)[mask]
    latency = frame[column].to_numpy(dtype=np.float64)[mask]
    ok = frame["ok"].to_numpy(dtype=bool, na_value=False)[mask]
    steps = []
    for i, (stage, window) in enumerate(zip(stages, windows, strict=True)):
        users = int((stage.get("users") or {}).get(tier, 0))
        offered = users * per_user
        row: dict[str, Any] = {
            "step": i + 1,
            "users": users,
            "offered_rps": round(offered, 3),
            "load_pct": round(offered / float(load["rps"]) * 100, 3),
            "achieved_rps": None,
            "ratio": None,
            "requests": 0,
            "failures": 0,
            "latency_ms": dict.fromkeys(("p50", "p95", "p99")),
        }
        if window is not None:
            inside = (ts >= window[0]) & (ts < window[1])
            values = latency[inside]
            stats = latency_stats(values[np.isfinite(values)])
            achieved = int(inside.sum()) / (window[1] - window[0])
            row.update(
                achieved_rps=round(achieved, 3),
                ratio=round(achieved / offered, 6) if offered > 0 else None,
                requests=int(inside.sum()),
                failures=int((inside & ~ok).sum()),
                latency_ms={key: _round(stats[key]) for key in ("p50", "p95", "p99")},
            )
        steps.append(row)
    linear, shortfall = _linearity(steps)
    bend, reference = _bend(steps)
    return {
        "target_rps": float(load["rps"]),
        "per_user_rps": per_user,
        "p95_limit_ms": p95_limit,
        "steps": steps,
        "linear": linear,
        "shortfall_step": shortfall,
        "bend_step": bend,
        "throughput": _throughput_statement(steps, linear, shortfall),
        "latency": _latency_statement(steps, bend, reference),
    }


def _linearity(steps: list[dict[str, Any]]) -> tuple[bool | None, int | None]:
    """(linear up to the target?, first step up to the target that fell short); None: nothing measured."""
    judged = [s for s in steps if s["ratio"] is not None and s["load_pct"] <= _AT_TARGET]
    if not judged:
        return None, None
    short = next((s["step"] for s in judged if s["ratio"] < LINEAR_RATIO), None)
    return short is None, short


def _bend(steps: list[dict[str, Any]]) -> tuple[int | None, dict[str, Any] | None]:
    """(first step whose p95 exceeds BEND_FACTOR x the first measured step's, that first step)."""
    measured = [s for s in steps if s["latency_ms"]["p95"] is not None]
    if not measured:
        return None, None
    reference = measured[0]
    limit = BEND_FACTOR * reference["latency_ms"]["p95"]
    bend = next((s["step"] for s in measured[1:] if s["latency_ms"]["p95"] > limit), None)
    return bend, reference


def _throughput_statement(steps: list[dict[str, Any]], linear: bool | None, shortfall: int | None) -> str:
    if linear is None:
        return "throughput not judged: no step at or below the target was measured"
    judged = sum(1 for s in steps if s["ratio"] is not None and s["load_pct"] <= _AT_TARGET)
    if linear:
        return (
            f"throughput stayed linear up to the target: achieved >= {LINEAR_RATIO:.0%} of offered "
            f"at each of {judged} step(s) up to 100%"
        )
    step = steps[shortfall - 1]
    return (
        f"throughput fell behind at step {step['step']} ({step['load_pct']:.0f}% of target): "
        f"{step['achieved_rps']:.1f} of {step['offered_rps']:.1f} req/s offered ({step['ratio']:.1%})"
    )


def _latency_statement(steps: list[dict[str, Any]], bend: int | None, reference: dict[str, Any] | None) -> str:
    if reference is None:
        return "latency not measured: no step had samples"
    first = f"{reference['latency_ms']['p95']:.2f} ms at step {reference['step']}"
    if bend is None:
        return f"no bend observed: p95 stayed within {BEND_FACTOR:g}x of {first}"
    step = steps[bend - 1]
    return (
        f"latency bends at step {step['step']} ({step['load_pct']:.0f}% of target, "
        f"{step['achieved_rps']:.0f} req/s achieved): p95 {step['latency_ms']['p95']:.2f} ms against {first}"
    )


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)
