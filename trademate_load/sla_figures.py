"""One tier's figures in the SLA window: latency statistics, rates and their 95% intervals, the error budget,
uptime, the per-endpoint figures, and the checks made on them.

Percentiles are exact, computed from every raw sample in the SLA window with the nearest-rank
definition (numpy's ``inverted_cdf``: the smallest sample such that at least p% of samples are at or
below it), by :mod:`trademate_load.stats`. No bucketing, no rounding. Nothing here imports locust.

Open-model runs also report arrivals their generators dropped (the in-flight bound was reached): each is
a request a user wanted served at its time and the target never got to serve, so it counts against the
tier's success rate, error rate and compliance (``offered`` = requests + dropped is their denominator),
never against its latency figures, which only sent requests have. Dropped counts come per epoch second; a second
counts when its middle falls in the SLA window.

Each tier is also judged in time, not only in total: its uptime (:mod:`trademate_load.uptime`) over windows of the
SLA window, checked against the SLA file's ``uptime`` on its point value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trademate_load.profile import TierLoad
from trademate_load.sla_checks import CHECK_FIGURES, Check
from trademate_load.sla_spec import ENDPOINT_METRICS, SLA_METRICS, Sla
from trademate_load.stats import exact_quantiles, mean_interval, percentile_interval, wilson_interval
from trademate_load.uptime import Uptime, UptimeRule, tier_uptime

Schedule = Callable[[float, float], float]  # requests a tier's profile scheduled between two epoch times


@dataclass(frozen=True)
class Window:
    """The SLA window: samples that started in [start_ts, end_ts] count; warm-up comes before start_ts."""

    start_ts: float
    end_ts: float

    @property
    def duration_s(self) -> float:
        return max(self.end_ts - self.start_ts, 0.0)


def latency_stats(values: np.ndarray) -> dict[str, float | None]:
    """mean, p50, p95, p99 and max of latencies in ms (all None for no samples)."""
    if len(values) == 0:
        return dict.fromkeys(("mean", "p50", "p95", "p99", "max"))
    p50, p95, p99 = exact_quantiles(values, (0.50, 0.95, 0.99))
    return {
        "mean": float(values.mean()),
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "max": float(values.max()),
    }


@dataclass
class TierResult:
    """Every figure of one tier in the SLA window, and its checks."""

    tier: str
    requests: int
    failures: int
    responses: int
    rps: float
    target_rps: float
    latency_ms: dict[str, float | None]
    service_latency_ms: dict[str, float | None]
    success_rate: float | None
    sla_compliance: float | None
    db_ms_p95: float | None
    cache_hit_rate: float | None
    latency_basis: str
    missed_schedule: int
    dropped: int = 0
    intervals: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    estimates: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    error_budget: dict[str, float] | None = None
    uptime: Uptime | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        return None if self.success_rate is None else 1.0 - self.success_rate

    @property
    def offered(self) -> int:
        """Requests the users wanted sent: those sent and those dropped at the in-flight bound."""
        return self.requests + self.dropped

    def figure(self, name: str) -> float | None:
        if name in ("p95_ms", "p99_ms", "mean_ms"):
            return self.latency_ms[name.removesuffix("_ms")]
        if name == "uptime":
            return None if self.uptime is None else self.uptime.ratio
        return getattr(self, name)


@dataclass(frozen=True)
class EndpointResult:
    tier: str
    name: str
    requests: int
    failures: int
    latency_ms: dict[str, float | None]
    intervals: dict[str, tuple[float | None, float | None]]
    estimates: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


def window_mask(frame: pd.DataFrame, window: Window) -> np.ndarray:
    """Per row: did the sample start inside the SLA window."""
    ts = frame["ts"].to_numpy()
    return (ts >= window.start_ts) & (ts <= window.end_ts)


def tier_columns(basis: str) -> list[str]:
    """The columns one tier's figures are computed from (a copy of these alone is taken per tier)."""
    return list(
        dict.fromkeys(["ts", "intended_ts", "status", "ok", "latency_ms", basis_column(basis), "db_ms", "cache"])
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _latency_intervals(latency: np.ndarray) -> dict[str, tuple[float | None, float | None]]:
    return {"p95_ms": percentile_interval(latency, 0.95), "p99_ms": percentile_interval(latency, 0.99)}


def estimate_intervals(latency: np.ndarray, success: tuple[float | None, float | None]) -> dict[str, tuple]:
    """The 95% interval of each figure the baseline gate compares (summary.json's ``ci95``): the mean's too,
    which its SLA check does not use (a mean is judged on its value)."""
    return {
        "p50_ms": percentile_interval(latency, 0.50),
        **_latency_intervals(latency),
        "mean_ms": mean_interval(latency),
        "success_rate": success,
    }


def dropped_in(window: Window, per_second: Sequence[Sequence[int]]) -> int:
    """Dropped arrivals of ``[epoch second, count]`` pairs whose second's middle falls in ``window``."""
    return sum(int(n) for second, n in per_second if window.start_ts <= second + 0.5 <= window.end_ts)


def tier_result(
    tier: str,
    rows: pd.DataFrame,
    load: TierLoad,
    sla: Sla,
    window: Window,
    basis: str,
    dropped_per_second: Sequence[Sequence[int]] = (),
    scheduled: Schedule | None = None,
) -> TierResult:
    latency = rows[basis_column(basis)].to_numpy()
    uptime = tier_uptime(
        rows["intended_ts"].to_numpy(),
        latency,
        rows["ok"].to_numpy(),
        rows["status"].to_numpy(),
        window.start_ts,
        window.end_ts,
        UptimeRule.of(sla.tiers[tier]),
        dropped_per_second,
        scheduled,
    )
    dropped = dropped_in(window, dropped_per_second)
    ok = rows["ok"].to_numpy()
    n, succeeded = len(rows), int(ok.sum())
    offered = n + dropped
    limits = sla.tiers[tier]
    db = rows["db_ms"].dropna().to_numpy()
    cache = rows["cache"]
    hits, misses = int((cache == "hit").sum()), int((cache == "miss").sum())
    late = (rows["ts"] - rows["intended_ts"]).to_numpy() > load.period_s
    within = int((ok & (latency < limits.p95_ms)).sum()) if limits.p95_ms is not None else succeeded
    success_low, success_high = wilson_interval(succeeded, offered)
    result = TierResult(
        tier=tier,
        requests=n,
        failures=n - succeeded,
        responses=int((rows["status"] != 0).sum()),
        rps=n / window.duration_s if window.duration_s > 0 else 0.0,
        target_rps=load.rps,
        latency_ms=latency_stats(latency),
        service_latency_ms=latency_stats(rows["latency_ms"].to_numpy()),
        success_rate=_ratio(succeeded, offered),
        sla_compliance=_ratio(within, offered),
        db_ms_p95=exact_quantiles(db, (0.95,))[0] if len(db) else None,
        cache_hit_rate=_ratio(hits, hits + misses),
        latency_basis=basis,
        missed_schedule=int(late.sum()),
        dropped=dropped,
        intervals={
            **_latency_intervals(latency),
            "db_ms_p95": percentile_interval(db, 0.95),
            "success_rate": (success_low, success_high),
            "error_rate": (
                None if success_high is None else 1 - success_high,
                None if success_low is None else 1 - success_low,
            ),
            "sla_compliance": wilson_interval(within, offered),
            "cache_hit_rate": wilson_interval(hits, hits + misses),
        },
        estimates=estimate_intervals(latency, (success_low, success_high)),
        error_budget=error_budget(offered, offered - succeeded, limits.success_rate),
        uptime=uptime,
    )
    for metric, op in SLA_METRICS.items():
        limit = getattr(limits, metric)
        if limit is not None:
            name = CHECK_FIGURES[metric]
            actual = _finite(result.figure(name))
            result.checks.append(Check(name, op, limit, actual, interval=result.intervals.get(name)))
    return result


def error_budget(requests: int, failures: int, success_target: float | None) -> dict[str, float] | None:
    """Failures the success target allows over these requests, and the share of that allowance used."""
    if success_target is None:
        return None
    allowed = (1.0 - success_target) * requests
    burned = failures / allowed if allowed > 0 else (0.0 if failures == 0 else math.inf)
    return {"allowed": allowed, "failures": failures, "burned": burned, "left": max(allowed - failures, 0.0)}


def basis_column(basis: str) -> str:
    """The sample column holding the latency of a basis: corrected or service time."""
    return "latency_co_ms" if basis == "corrected" else "latency_ms"


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def endpoint_results(rows: pd.DataFrame, basis: str) -> list[EndpointResult]:
    results = []
    for (tier, name), group in rows.groupby(["tier", "endpoint"], sort=False, observed=True):
        latency = group[basis_column(basis)].to_numpy()
        n, succeeded = len(group), int(group["ok"].to_numpy().sum())
        intervals = {**_latency_intervals(latency), "success_rate": wilson_interval(succeeded, n)}
        estimates = estimate_intervals(latency, intervals["success_rate"])
        stats = latency_stats(latency)
        results.append(EndpointResult(str(tier), str(name), n, n - succeeded, stats, intervals, estimates))
    return sorted(results, key=lambda result: (result.tier, result.name))


def endpoint_checks(endpoints: list[EndpointResult], sla: Sla) -> dict[str, list[Check]]:
    checks: dict[str, list[Check]] = {}
    by_key = {(e.tier, e.name): e for e in endpoints}
    for tier, per_endpoint in sla.endpoints.items():
        for name, limits in per_endpoint.items():
            result = by_key.get((tier, name))
            for metric in (m for m in ENDPOINT_METRICS if m in limits):
                if result is None:
                    actual, interval = None, None
                elif metric == "success_rate":
                    actual = _ratio(result.requests - result.failures, result.requests)
                    interval = result.intervals[metric]
                else:
                    actual, interval = result.latency_ms[metric.removesuffix("_ms")], result.intervals.get(metric)
                check = Check(metric, SLA_METRICS[metric], limits[metric], actual, name, interval)
                checks.setdefault(tier, []).append(check)
    return checks
