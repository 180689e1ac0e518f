"""The SLA checks: one threshold against its measured figure, and which figure each SLA metric is checked against.

A check with a 95% interval passes or fails only when the whole interval lies on one side of its limit and is
inconclusive when it straddles it; without one the point figure decides. Nothing here imports pandas or locust.
"""

from __future__ import annotations

from dataclasses import dataclass

# Tier SLA metric -> name of the figure it is checked against.
CHECK_FIGURES = {
    "p95_ms": "p95_ms",
    "p99_ms": "p99_ms",
    "mean_ms": "mean_ms",
    "db_ms": "db_ms_p95",
    "success_rate": "success_rate",
    "compliance": "sla_compliance",
    "error_rate": "error_rate",
    "cache_hit_rate": "cache_hit_rate",
    "uptime": "uptime",
}


@dataclass(frozen=True)
class Check:
    """One threshold against its measured figure and, where it has one, the figure's 95% interval.

    ``actual`` None: not measured. With an interval (``low``/``high``; None for an end the sample cannot
    bound) the check passes or fails only when the whole interval lies on one side of the limit, and is
    inconclusive when it straddles it; without one (the mean) the point figure decides.
    """

    name: str
    op: str
    limit: float
    actual: float | None
    endpoint: str | None = None
    interval: tuple[float | None, float | None] | None = None

    @property
    def status(self) -> str:
        if self.actual is None:
            return "not_measured"
        if self.interval is None:
            return "passed" if _holds(self.actual, self.op, self.limit) else "failed"
        low, high = self.interval
        good_end, bad_end = (high, low) if self.op == "<" else (low, high)
        if good_end is not None and _holds(good_end, self.op, self.limit):
            return "passed"
        if bad_end is not None and not _holds(bad_end, self.op, self.limit):
            return "failed"
        return "inconclusive"

    @property
    def passed(self) -> bool | None:
        return {"passed": True, "failed": False}.get(self.status)


def _holds(value: float, op: str, limit: float) -> bool:
    return value < limit if op == "<" else value >= limit
