"""Applying a fault plan to requests: one pure ASGI middleware that holds requests through stalls, adds the rules'
latencies, answers drawn errors without the handler, and closes its deadline timer with the app's lifespan.

The plan is fixed at start-up (faults.py parses it, fault_plan.py defines it): no header, parameter or endpoint can
set or change it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from time import monotonic_ns

from starlette.routing import Match

from .deadlines import deadlines_for
from .fault_plan import FaultPlan, FaultRule, random_stream
from .monitor import NO_TIER, RECORD_KEY

log = logging.getLogger("trademate_api.faults")  # the logger these lines have always had


@dataclass(slots=True)
class _ArmedRule:
    number: int
    rule: FaultRule
    latency_draws: random.Random
    error_draws: random.Random


class FaultInjector:
    """A plan armed for one app: its random streams, the clock origin of stall windows, and the deadline timer."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.origin_ns = monotonic_ns()
        self._rules = tuple(
            _ArmedRule(n, rule, random_stream(plan.seed, n, "latency"), random_stream(plan.seed, n, "error"))
            for n, rule in enumerate(plan.rules, start=1)
        )
        self._deadlines = None

    def log_rules(self) -> None:
        log.warning("fault injection on: %d rule(s), seed %d; stall windows count from now", len(self._rules),
                    self.plan.seed)  # fmt: skip
        for armed in self._rules:
            log.warning("fault rule %d (%s): %s", armed.number, armed.rule.source, armed.rule)

    def decide(self, tier: str, method: str, path: str, arrived_ns: int) -> tuple[int, int, int]:
        """(release time in ns, error status or 0, number of the rule that drew the error or 0)."""
        release_ns, delay, status, number = arrived_ns, 0.0, 0, 0
        since = (arrived_ns - self.origin_ns) / 1e9
        for armed in self._rules:
            rule = armed.rule
            if not rule.selects(tier, method, path):
                continue
            if rule.stall is not None and rule.stall.start <= since < rule.stall.end:
                release_ns = max(release_ns, self.origin_ns + round(rule.stall.end * 1e9))
            if rule.latency is not None:
                delay += rule.latency.sample(armed.latency_draws)
            if rule.error_rate and armed.error_draws.random() < rule.error_rate and not status:
                status, number = rule.error_status, armed.number
        return release_ns + round(delay * 1e9), status, number

    async def hold_until(self, release_ns: int) -> None:
        if release_ns <= monotonic_ns():
            return
        loop = asyncio.get_running_loop()
        if self._deadlines is None or self._deadlines.loop is not loop:
            self._deadlines = deadlines_for(loop)
        await self._deadlines.wait_until(release_ns)

    def close(self) -> None:
        if self._deadlines is not None:
            self._deadlines.close()
            self._deadlines = None


class FaultMiddleware:
    """Inside auth (the tier is known) and inside MonitorMiddleware (faults show in Server-Timing and metrics)."""

    def __init__(self, app, injector: FaultInjector, routes: Iterable = ()) -> None:
        self.app = app
        self.injector = injector
        self.routes = routes  # to label injected errors with their route template, as the router would

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            try:
                await self.app(scope, receive, send)
            finally:
                if scope["type"] == "lifespan":
                    self.injector.close()
            return
        arrived_ns = monotonic_ns()
        record = scope.get(RECORD_KEY)
        tier = record.tier if record is not None else NO_TIER
        release_ns, status, number = self.injector.decide(tier, scope["method"], scope["path"], arrived_ns)
        if release_ns > arrived_ns:
            await self.injector.hold_until(release_ns)
        if not status:
            await self.app(scope, receive, send)
            return
        _label_route(scope, self.routes)
        await _injected_error(send, status, number)


def install(app, plan: FaultPlan) -> FaultInjector:
    """Add the fault middleware to `app`; call it before adding AuthMiddleware, so that it runs inside auth."""
    injector = FaultInjector(plan)
    injector.log_rules()
    app.add_middleware(FaultMiddleware, injector=injector, routes=app.router.routes)
    return injector


def _label_route(scope, routes: Iterable) -> None:
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            scope["route"] = child_scope.get("route", route)
            return


async def _injected_error(send, status: int, rule_number: int) -> None:
    body = json.dumps({"detail": f"injected fault (rule {rule_number})"}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
