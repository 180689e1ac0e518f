"""The live figures of one tier over one scope: the rolling window's samples, the run-so-far tally, and the figures
and point checks either turns into.

:class:`RollingWindow` keeps a tier's recent samples (start time, latency, success) in the chunks they were read
in. :class:`RunTally` keeps the run so far (the SLA window: after warm-up): counts, and every latency to the
microsecond as distinct values with their counts, so its memory follows the spread of the latencies, not the length
of the run. :func:`scope_figures` turns either into plain values: requests, req/s against the tier's target, mean,
p50, p95, p99 and max (exact nearest-rank, :mod:`trademate_load.stats`), success rate, compliance (the share that
succeeded within the p95 target) and the error budget, each check with a pass flag decided on its point value (the
verdict at the end also weighs confidence intervals). req/s passes at ``RPS_TOLERANCE`` of the target or more; the
error budget passes while some of it is left. Nothing here imports locust or gevent.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from trademate_load.sla_checks import Check
from trademate_load.sla_figures import error_budget, latency_stats
from trademate_load.stats import weighted_quantiles

if TYPE_CHECKING:
    from trademate_load.profile import TierLoad
    from trademate_load.sla_spec import TierSla

RPS_TOLERANCE = 0.95  # req/s passes at 95% of the tier's target or more


class RollingWindow:
    """One tier's recent samples (start time, latency, success), in chunks as they were read."""

    def __init__(self, span_s: float):
        self.span_s = span_s
        self.chunks: deque[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = deque()

    def add(self, ts: np.ndarray, latency: np.ndarray, ok: np.ndarray) -> None:
        if len(ts):
            self.chunks.append((ts, latency, ok, float(ts.max())))

    def rows(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Samples that started in [start, end]; chunks wholly older than ``start`` are let go."""
        while self.chunks and self.chunks[0][3] < start:
            self.chunks.popleft()
        if not self.chunks:
            return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
        ts, latency, ok = (np.concatenate(column) for column in list(zip(*self.chunks, strict=True))[:3])
        keep = (ts >= start) & (ts <= end)
        return ts[keep], latency[keep], ok[keep]


class RunTally:
    """One tier's run so far: counts, the latency sum and maximum, and every latency to the microsecond."""

    def __init__(self) -> None:
        self.requests = self.succeeded = self.within = 0
        self.latency_sum = 0.0
        self.latency_max = -math.inf
        self.last_ts = -math.inf  # the latest start time counted
        self.values_us = np.empty(0, dtype=np.int64)  # distinct latencies in whole microseconds, sorted
        self.counts = np.empty(0, dtype=np.int64)

    def add(self, ts: np.ndarray, latency: np.ndarray, ok: np.ndarray, within: np.ndarray) -> None:
        if not len(latency):
            return
        self.last_ts = max(self.last_ts, float(ts.max()))
        self.requests += len(latency)
        self.succeeded += int(ok.sum())
        self.within += int(within.sum())
        self.latency_sum += float(latency.sum())
        self.latency_max = max(self.latency_max, float(latency.max()))
        values, counts = np.unique(np.rint(latency * 1000.0).astype(np.int64), return_counts=True)
        at = np.searchsorted(self.values_us, values)
        known = at < len(self.values_us)
        known[known] = self.values_us[at[known]] == values[known]
        np.add.at(self.counts, at[known], counts[known])
        self.values_us = np.insert(self.values_us, at[~known], values[~known])
        self.counts = np.insert(self.counts, at[~known], counts[~known])

    def latency_ms(self) -> dict[str, float | None]:
        """mean, p50, p95, p99 and max as :func:`trademate_load.sla_figures.latency_stats` gives them (to the
        microsecond)."""
        if not self.requests:
            return latency_stats(np.empty(0))
        p50, p95, p99 = weighted_quantiles(self.values_us, self.counts, (0.50, 0.95, 0.99))
        return {
            "mean": self.latency_sum / self.requests,
            "p50": p50 / 1000.0,
            "p95": p95 / 1000.0,
            "p99": p99 / 1000.0,
            "max": self.latency_max,
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def scope_figures(
    requests: int,
    succeeded: int,
    within: int,
    latency_ms: dict[str, float | None],
    duration_s: float,
    load: TierLoad,
    limits: TierSla,
) -> dict[str, Any]:
    """The figures of one tier over one scope, and their checks (point values against the SLA's limits)."""
    measured = duration_s > 0
    budget = error_budget(requests, requests - succeeded, limits.success_rate) if requests else None
    figures = {
        "requests": requests,
        "failures": requests - succeeded,
        "duration_s": max(duration_s, 0.0),
        "rps": requests / duration_s if measured else None,
        "latency_ms": latency_ms,
        "success_rate": succeeded / requests if requests else None,
        "sla_compliance": within / requests if requests else None,
        "error_budget": budget,
        "error_budget_left_ratio": None if budget is None else max(0.0, 1.0 - budget["burned"]),
    }
    wanted = (
        ("rps", ">=", load.rps * RPS_TOLERANCE, figures["rps"]),
        ("p95_ms", "<", limits.p95_ms, latency_ms["p95"]),
        ("p99_ms", "<", limits.p99_ms, latency_ms["p99"]),
        ("mean_ms", "<", limits.mean_ms, latency_ms["mean"]),
        ("success_rate", ">=", limits.success_rate, figures["success_rate"]),
        ("sla_compliance", ">=", limits.compliance, figures["sla_compliance"]),
        ("error_budget", "<", 1.0 if budget is not None else None, None if budget is None else budget["burned"]),
    )
    checks = [Check(name, op, limit, actual) for name, op, limit, actual in wanted if limit is not None]
    figures["checks"] = [
        {"name": c.name, "op": c.op, "limit": c.limit, "actual": _finite(c.actual), "passed": c.passed} for c in checks
    ]
    if budget is not None:
        figures["error_budget"] = {k: _finite(v) for k, v in budget.items()}
    return figures
