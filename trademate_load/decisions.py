"""Early decisions while a run goes on: for each check, whether the samples since warm-up already settle it.

Every check of the SLA file that a share decides is tested sequentially (:mod:`trademate_load.sequential`):

- ``p95_ms``, ``p99_ms``: requests at or above the limit against 5% (1%) of them;
- ``success_rate``, ``error_rate``: failed requests against the share the limit allows;
- ``compliance``: requests that did not succeed within the p95 target against 1 − compliance;
- ``cache_hit_rate``: misses among the lookups the target reported; ``db_ms``: DB times at or above the limit;
- per-endpoint overrides (p95, p99, success rate) on that endpoint's requests alone.

A check is **failed** once the evidence against the SLA reaches K/α and **passed** once the evidence for it does,
where α is the profile's ``decision_alpha`` and K the number of tests watched, so that over a whole run, however
long and however often it is looked at, all the tests together decide wrongly with probability at most α
(if requests are independent; a target whose behaviour changes during the run is not a wrong decision).

Two checks are judged on their point value, as the verdict judges them: ``mean_ms`` **fails** when the betting
test on latencies clipped at the tier's client timeout (a lower bound of the mean) reaches K/α, and otherwise
**holds** while the running mean is below its limit; ``uptime`` **fails** once the down time exceeds what the whole
planned run allows (certain: the run can no longer meet it), and **holds** while the uptime so far meets it.

Arrivals an open model dropped are not counted here (the verdict counts them). Nothing here imports locust.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from trademate_load.profile import TierLoad
from trademate_load.sequential import MeanEvidence, share_log_evidence, threshold
from trademate_load.sla_spec import Sla, TierSla
from trademate_load.uptime import Uptime

FAILED, PASSED, HOLDS, OPEN, NOT_MEASURED = "failed", "passed", "holds", "open", "not_measured"
SETTLED = (PASSED, HOLDS, NOT_MEASURED)  # what stop_when_decided needs of every check to end a passing run
QUANTILES = {"p95_ms": 0.95, "p99_ms": 0.99, "db_ms": 0.95}
POINT_CHECKS = ("mean_ms", "uptime")  # judged on their point value
SHARE_METRICS = ("p95_ms", "p99_ms", "db_ms", "success_rate", "error_rate", "compliance", "cache_hit_rate")


def allowed_share(metric: str, limit: float) -> float:
    """The share of bad observations a check's limit allows (its test's m)."""
    if metric in QUANTILES:
        return round(1.0 - QUANTILES[metric], 10)
    return limit if metric == "error_rate" else 1.0 - limit


@dataclass
class CheckTest:
    """One check of one tier (or one endpoint of it) and what has been counted for it since warm-up."""

    tier: str
    metric: str
    limit: float
    endpoint: str | None = None
    counted: int = 0  # observations counted (requests, reported lookups, DB times)
    bad: int = 0
    latency_sum: float = 0.0  # mean_ms: the running mean's numerator
    mean: MeanEvidence | None = None
    watched: bool = False


@dataclass
class Rows:
    """One tier's samples of a batch, after warm-up, as a test reads them."""

    latency_ms: np.ndarray  # on the latency basis in force
    ok: np.ndarray
    db_ms: np.ndarray  # NaN: not reported
    cache: np.ndarray  # 1 hit, 0 miss, -1 not reported
    endpoint: np.ndarray  # endpoint name per row (object array)


@dataclass
class Decisions:
    """The tests of one run: fed with each tier's rows, asked for the state of every check."""

    tests: list[CheckTest]
    alpha: float
    bounds_ms: dict[str, float]  # per tier: the clip of the mean's betting test (its client timeout)
    planned_judged_s: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)  # per tier, counted since warm-up

    @classmethod
    def build(
        cls,
        tiers: dict[str, TierLoad],
        sla: Sla,
        alpha: float,
        watched: Iterable[str] | None,
        planned_judged_s: float,
    ) -> Decisions:
        """Every check of ``sla`` for ``tiers``; ``watched``: the SLA metrics a decision can stop the run on (None:
        all of them, endpoint overrides included: stop_when_decided)."""
        watched = None if watched is None else set(watched)
        tests = []
        for tier in tiers:
            limits: TierSla = sla.tiers[tier]
            for metric in (*SHARE_METRICS, *POINT_CHECKS):
                limit = getattr(limits, metric)
                if limit is not None:
                    tests.append(CheckTest(tier, metric, limit, watched=watched is None or metric in watched))
            for endpoint, overrides in sla.endpoints.get(tier, {}).items():
                for metric, limit in overrides.items():
                    tests.append(CheckTest(tier, metric, limit, endpoint=endpoint, watched=watched is None))
        bounds = {tier: load.timeout_s * 1000.0 for tier, load in tiers.items()}
        for test in tests:
            if test.metric == "mean_ms":
                test.mean = MeanEvidence(test.limit / bounds[test.tier])
        return cls(tests, alpha, bounds, planned_judged_s)

    @property
    def statistical(self) -> int:
        """The sequential tests watched: α is split evenly over them."""
        return sum(1 for t in self.tests if t.watched and t.metric != "uptime")

    def add(self, tier: str, rows: Rows, sla_p95_ms: float | None) -> None:
        """Count a tier's rows (after warm-up) for each of its tests."""
        self.requests[tier] = self.requests.get(tier, 0) + len(rows.latency_ms)
        for test in self.tests:
            if test.tier != tier:
                continue
            mine = rows if test.endpoint is None else _endpoint_rows(rows, test.endpoint)
            counted, bad = observations(test.metric, test.limit, mine, sla_p95_ms)
            test.counted += int(counted.sum())
            test.bad += int(bad.sum())
            if test.mean is not None:
                test.latency_sum += float(mine.latency_ms.sum())
                test.mean.add(clipped(mine.latency_ms, self.bounds_ms[tier]))

    def states(self, uptime: dict[str, Uptime]) -> list[dict]:
        """Every check's state (FAILED, PASSED, HOLDS, OPEN, NOT_MEASURED), evidence and threshold, as plain values."""
        limit = threshold(self.alpha, self.statistical)
        out = []
        for test in self.tests:
            state, evidence = self._state(test, uptime.get(test.tier), limit)
            out.append(
                {
                    "tier": test.tier,
                    "check": test.metric,
                    "endpoint": test.endpoint,
                    "state": state,
                    "watched": test.watched,
                    "counted": test.counted,
                    "bad": test.bad,
                    "log_evidence": evidence,
                    "log_threshold": limit,
                }
            )
        return out

    def _state(self, test: CheckTest, uptime: Uptime | None, limit: float) -> tuple[str, float | None]:
        if test.metric == "uptime":
            return _uptime_state(uptime, test.limit, self.planned_judged_s), None
        if test.counted == 0:  # not reported by the target (DB time, X-Cache), or nothing counted yet
            return (NOT_MEASURED if self.requests.get(test.tier) else OPEN), None
        if test.mean is not None:
            against = float(test.mean.log_evidence())
            if against >= limit:
                return FAILED, against
            return (HOLDS if test.latency_sum / test.counted < test.limit else OPEN), against
        against, supporting = share_log_evidence(test.counted, test.bad, allowed_share(test.metric, test.limit))
        against, supporting = float(against), float(supporting)
        if against >= limit:
            return FAILED, against
        return (PASSED if supporting >= limit else OPEN), against


def _uptime_state(uptime: Uptime | None, required: float, planned_judged_s: float) -> str:
    if uptime is None:
        return NOT_MEASURED
    if uptime.seconds("down") > (1.0 - required) * planned_judged_s:
        return FAILED
    ratio = uptime.ratio
    if ratio is None:
        return OPEN
    return HOLDS if ratio >= required else OPEN


def _endpoint_rows(rows: Rows, endpoint: str) -> Rows:
    mine = rows.endpoint == endpoint
    return Rows(rows.latency_ms[mine], rows.ok[mine], rows.db_ms[mine], rows.cache[mine], rows.endpoint[mine])


def observations(metric: str, limit: float, rows: Rows, sla_p95_ms: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row (arrays of any shape): whether it counts for a check, and whether it is a bad one."""
    latency = rows.latency_ms
    everyone = np.ones(latency.shape, bool)
    if metric in ("p95_ms", "p99_ms"):
        return everyone, latency >= limit
    if metric in ("success_rate", "error_rate"):
        return everyone, ~rows.ok
    if metric == "compliance":
        within = rows.ok if sla_p95_ms is None else rows.ok & (latency < sla_p95_ms)
        return everyone, ~within
    if metric == "cache_hit_rate":
        return rows.cache >= 0, rows.cache == 0
    if metric == "db_ms":
        reported = ~np.isnan(rows.db_ms)
        return reported, reported & (rows.db_ms >= limit)
    return everyone, np.zeros(latency.shape, bool)  # mean_ms: its own evidence


def clipped(latency_ms: np.ndarray, bound_ms: float) -> np.ndarray:
    """Latencies as the mean's betting test sees them: clipped at ``bound_ms`` and scaled to [0, 1]."""
    return np.minimum(latency_ms, bound_ms) / bound_ms


def early_end(decisions: Decisions, uptime: dict[str, Uptime], stop_when_decided: bool, origin_ts: float):
    """The record of an early end, or None: the first watched check decided failed (``outcome`` "fail"), else, with
    ``stop_when_decided``, every check settled (``outcome`` "pass"). ``origin_ts``: the run's start, for times."""
    by = "stop_when_decided" if stop_when_decided else "abort_on_fail"
    states = decisions.states(uptime)
    for test, state in zip(decisions.tests, states, strict=True):
        if state["state"] == FAILED and test.watched:
            evidence = state["log_evidence"]
            return {
                "outcome": "fail",
                "by": by,
                "tier": test.tier,
                "check": test.metric + (f"[{test.endpoint}]" if test.endpoint else ""),
                "reason": _failed_reason(test, state, decisions, uptime.get(test.tier), origin_ts),
                "alpha": decisions.alpha,
                "tests": decisions.statistical,
                "evidence": None if evidence is None else _e_value(evidence),
            }
    if stop_when_decided and all(s["state"] in SETTLED for s in states):
        passed = sum(1 for s in states if s["state"] == PASSED)
        holds = sum(1 for s in states if s["state"] == HOLDS)
        reason = (
            f"every check settled: {passed} passed its sequential test (alpha {decisions.alpha:g} over "
            f"{decisions.statistical} tests), {holds} hold on their point value so far"
        )
        return {"outcome": "pass", "by": by, "reason": reason, "alpha": decisions.alpha, "tests": decisions.statistical}
    return None


WHAT_IS_BAD = {
    "p95_ms": "at or above {limit:g} ms",
    "p99_ms": "at or above {limit:g} ms",
    "success_rate": "failed",
    "error_rate": "failed",
    "compliance": "did not succeed within the p95 target",
    "cache_hit_rate": "missed the cache (of the lookups reported)",
    "db_ms": "with DB time at or above {limit:g} ms (of those reported)",
}


def _failed_reason(test: CheckTest, state: dict, decisions: Decisions, uptime: Uptime | None, origin_ts: float) -> str:
    scope = test.tier + (f" {test.endpoint}" if test.endpoint else "")
    if test.metric == "uptime":
        allowed = (1.0 - test.limit) * decisions.planned_judged_s
        down = "; ".join(
            f"{s.start_ts - origin_ts:.1f}-{s.end_ts - origin_ts:.1f} s: {s.cause}" for s in uptime.stretches()
        )
        return (
            f"{scope} uptime: down {uptime.seconds('down'):.1f} s ({down}), more than the {allowed:.2f} s "
            f"that {test.limit:.3%} of the planned {decisions.planned_judged_s:.0f} s allows"
        )
    evidence = (
        f"evidence {_e_value(state['log_evidence']):.3g} against the SLA reached {_e_value(state['log_threshold']):.3g}"
    )
    if test.metric == "mean_ms":
        mean = test.latency_sum / test.counted
        return f"{scope} mean {mean:.2f} ms over {test.counted} since warm-up, target < {test.limit:g} ms; {evidence}"
    what = WHAT_IS_BAD[test.metric].format(limit=test.limit)
    return (
        f"{scope} {test.metric}: {test.bad} of {test.counted} since warm-up {what} ({test.bad / test.counted:.3%}, "
        f"allowed {allowed_share(test.metric, test.limit):.3%}); {evidence}"
    )


def _e_value(log_value: float) -> float:
    return math.exp(min(log_value, 700.0))
