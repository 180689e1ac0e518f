"""The sample-size planner: per tier and check, how many requests a run needs before the check can pass rather
than stay inconclusive, how long that takes at the profile's rate, and whether the profile's run time gives it.

A check passes only when its whole 95% interval clears its limit (:mod:`trademate_load.stats`), so a small
sample cannot pass a strict check however good it is: 99.95% success needs thousands of requests without a
failure. Two figures per check:

- **at best**: every request good (none slow, none failed, every lookup a hit);
- **at half**: bad requests at half the share the SLA allows (a target with a comfortable margin), in expectation.

A percentile check (p95, p99, DB p95) passes when the upper end of its order-statistic interval is a sample below
the limit; a rate check (success rate, error rate, compliance, cache hit rate) when its Wilson interval clears
it. The mean is judged on its point value (one request decides it); uptime needs one judged window (one that
holds enough requests), and one down window fails any run shorter than window / (1 − uptime). Per-endpoint
overrides see only their endpoint's share of the tier's requests (the request mix's weights). DB time and cache
outcomes are reported on some requests only: their figures are in such requests. Nothing here imports locust.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from trademate_load.decisions import QUANTILES, allowed_share
from trademate_load.profile import Profile
from trademate_load.stats import order_statistic_ranks, wilson_interval
from trademate_load.traffic import TIER_REQUESTS, endpoint_name
from trademate_load.uptime import UptimeRule

RATES = ("success_rate", "error_rate", "compliance", "cache_hit_rate")
MAX_REQUESTS = 10**9


@dataclass(frozen=True)
class CheckPlan:
    """What one check needs, and what the run gives it."""

    tier: str
    check: str
    endpoint: str | None
    target: str
    at_best: int | None  # requests (None: cannot pass in any run, as a rate limit of 1)
    at_half: int | None
    rate: float  # requests per second of this check's scope, at the profile's load
    judged: float  # requests this check's scope gets in the run's judged time
    note: str = ""

    @property
    def decidable(self) -> bool:
        return self.at_best is not None and self.at_best <= self.judged

    def seconds(self, requests: int | None) -> float | None:
        return None if requests is None or self.rate <= 0 else requests / self.rate


def smallest(passes: Callable[[int], bool]) -> int | None:
    """The smallest n for which ``passes(n)`` holds (found by doubling then bisection); None past MAX_REQUESTS."""
    high = 1
    while not passes(high):
        high *= 2
        if high > MAX_REQUESTS:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if passes(middle) else (middle, high)
    return high


def quantile_passes(q: float, bad_share: float) -> Callable[[int], bool]:
    """Whether n samples, ``bad_share`` of them at or above the limit, pass a q-percentile check."""

    def passes(n: int) -> bool:
        _, upper = order_statistic_ranks(n, q)
        return upper <= n - round(n * bad_share)

    return passes


def rate_passes(metric: str, limit: float, bad_share: float) -> Callable[[int], bool]:
    """Whether n requests, ``bad_share`` of them bad, pass a rate check."""

    def passes(n: int) -> bool:
        good = n - round(n * bad_share)
        low, _ = wilson_interval(good, n)
        if metric == "error_rate":
            return low is not None and 1.0 - low < limit
        return low is not None and low >= limit

    return passes


def needs(metric: str, limit: float, bad_share: float) -> int | None:
    if metric in QUANTILES:
        return smallest(quantile_passes(QUANTILES[metric], bad_share))
    if metric in RATES:
        return smallest(rate_passes(metric, limit, bad_share))
    return 1  # mean_ms: its point value


def endpoint_shares(tier: str) -> dict[str, float]:
    """Each endpoint's share of a tier's requests in the request mix."""
    mix = TIER_REQUESTS[tier]
    total = sum(mix.values())
    return {endpoint_name(request): weight / total for request, weight in mix.items()}


def _target(metric: str, limit: float) -> str:
    op = "<" if metric.endswith("_ms") or metric == "error_rate" else ">="
    value = f"{limit:g} ms" if metric.endswith("_ms") else f"{limit * 100:g}%"
    return f"{op} {value}"


def plan_profile(profile: Profile, run_time_s: float | None = None) -> list[CheckPlan]:
    """Every check of the profile's SLA, per tier (and per endpoint override), against the profile's run time
    (or ``run_time_s``)."""
    run_time = run_time_s if run_time_s is not None else profile.run_time_s
    warmup = profile.warmup_for(run_time)
    plans = []
    for tier in profile.tiers:
        judged = profile.scheduled_requests(tier, warmup, run_time)
        rate = judged / (run_time - warmup) if run_time > warmup else profile.tiers[tier].rps
        limits = profile.sla.tiers[tier]
        for metric in (*QUANTILES, "mean_ms", *RATES):
            limit = getattr(limits, metric)
            if limit is not None:
                share = allowed_share(metric, limit) if metric != "mean_ms" else 0.0
                best, half = needs(metric, limit, 0.0), needs(metric, limit, share / 2)
                plans.append(CheckPlan(tier, metric, None, _target(metric, limit), best, half, rate, judged))
        if limits.uptime is not None:
            plans.append(_uptime_plan(tier, limits, rate, judged))
        shares = endpoint_shares(tier)
        for endpoint, overrides in profile.sla.endpoints.get(tier, {}).items():
            share = shares.get(endpoint, 0.0)
            for metric, limit in overrides.items():
                bad = allowed_share(metric, limit) if metric != "mean_ms" else 0.0
                best, half = needs(metric, limit, 0.0), needs(metric, limit, bad / 2)
                note = "" if share else "not in the request mix"
                target = _target(metric, limit)
                plans.append(CheckPlan(tier, metric, endpoint, target, best, half, rate * share, judged * share, note))
    return plans


def _uptime_plan(tier: str, limits, rate: float, judged: float) -> CheckPlan:
    rule = UptimeRule.of(limits)
    per_window = rate * rule.window_s
    tolerated = rule.window_s / (1.0 - limits.uptime) if limits.uptime < 1 else math.inf
    note = (
        f"a window holds {per_window:,.0f} requests, fewer than the {rule.min_requests} it needs: never judged"
        if per_window < rule.min_requests
        else f"one down window fails any run shorter than {_duration(tolerated)}"
    )
    best = rule.min_requests if per_window >= rule.min_requests else None
    return CheckPlan(tier, "uptime", None, f">= {limits.uptime * 100:g}%", best, best, rate, judged, note)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if math.isinf(seconds):
        return "any run"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _requests(plan: CheckPlan, n: int | None) -> str:
    if n is None:
        return "never"
    return f"{n:,} ({_duration(plan.seconds(n))})"


def render_plan(profile: Profile, plans: list[CheckPlan], run_time_s: float) -> str:
    """The plan as a table: per check what it needs at best and at half its allowance, and what the run gives."""
    warmup = profile.warmup_for(run_time_s)
    names = [plan.check + (f" [{plan.endpoint}]" if plan.endpoint else "") for plan in plans]
    width = max(map(len, ["check", *names]))
    lines = [
        f"Sample-size plan for profile {profile.name!r}: {run_time_s - warmup:g} s judged after a {warmup:g} s "
        "warm-up; requests a check needs before its 95% interval can clear the limit",
        f"{'tier':<8} {'check':<{width}} {'target':>10}  {'at best':>18}  {'at half the allowance':>21}  this run",
    ]
    lines.append("-" * len(lines[-1]))
    for plan, name in zip(plans, names, strict=True):
        verdict = f"can pass ({plan.judged:,.0f} requests)" if plan.decidable else "CANNOT PASS: stays inconclusive"
        if plan.check == "uptime" and plan.decidable:
            verdict = "can pass"
        line = (
            f"{plan.tier:<8} {name:<{width}} {plan.target:>10}  {_requests(plan, plan.at_best):>18}  "
            f"{_requests(plan, plan.at_half):>21}  {verdict}"
        )
        lines.append(line + (f"; {plan.note}" if plan.note else ""))
    return "\n".join(lines)


def warning(profile: Profile, run_time_s: float) -> str | None:
    """One line naming the checks that cannot pass in ``run_time_s`` (they can only fail or stay inconclusive)."""
    short = [p for p in plan_profile(profile, run_time_s) if not p.decidable]
    if not short:
        return None
    judged = run_time_s - profile.warmup_for(run_time_s)
    named = ", ".join(
        f"{p.tier} {p.check}{f' [{p.endpoint}]' if p.endpoint else ''} needs "
        + ("more requests per window" if p.at_best is None or p.check == "uptime" else _requests(p, p.at_best))
        for p in short
    )
    return (
        f"the run time judges {judged:g} s: these checks cannot pass in it and will stay inconclusive (or fail): "
        f"{named} (python -m trademate_load plan {profile.name})"
    )
