"""The traffic model: per tier, paced FastHttpUser classes (closed model) or arrival generators (open model).

Closed model (the default): each user signs in as a distinct seeded account of its tier's plans and sends
one request per period (``users / rps`` of its tier: 0.1 s at TradeMate's 10 req/s per user), waiting for
each response before the next. Its first request is placed at a random phase within the period, so users
spawned together do not fire in lock-step bursts (Locust's ``constant_throughput`` does, inflating p99
about 16x here). The schedule never slips: when a response is late the next request goes out at once but
keeps its planned ``intended_ts``, which each request carries in its context with its tier and plan, so
latency can be corrected for coordinated omission. Every request is bounded by its tier's client timeout
(the profile's ``timeout``; premium 1 s, shared 2 s by default): a slower answer is a failed request.

Open model (``model: open``): each user is an arrival generator on the same schedule (same phase, same
period) that does not wait for responses: each arrival is sent on its own greenlet at its scheduled time,
whatever the target is doing, up to the user's share of the tier's ``max_in_flight``; an arrival finding
that share full is not sent and is counted as dropped (k6's ``dropped_iterations``).

With ``arrivals: poisson`` the gaps between one user's requests are exponential with the period as mean,
so the tier's arrivals form a Poisson process at its rate; ``constant`` (the default) keeps them equal.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from typing import ClassVar

import gevent
from gevent.pool import Pool
from locust import FastHttpUser
from locust.exception import StopUser

from trademate_load.traffic import PREMIUM_REQUESTS, SHARED_REQUESTS

logger = logging.getLogger(__name__)


class TierUser(FastHttpUser):
    """A paced user of one tier; the suite (``environment.trademate``) supplies its profile and account."""

    abstract = True
    tier: ClassVar[str]
    stop_requested = False

    def __init__(self, environment) -> None:
        # FastHttpUser reads its timeouts as it builds the client: the tier's, so a slower answer fails the request.
        timeout = environment.trademate.profile_for_users().tiers[self.tier].timeout_s
        self.network_timeout = self.connection_timeout = timeout
        super().__init__(environment)

    def on_start(self) -> None:
        suite = self.environment.trademate
        profile = suite.profile_for_users()
        load = profile.tiers[self.tier]
        account = suite.pool.take(self.tier, load.plans)
        self.rng = random.Random()
        self.symbols = list(profile.symbols)
        self.headers = {"Authorization": f"Bearer {account.token}", "X-User-Tier": self.tier}
        self.plan = account.plan
        self.period = load.period_s
        self.poisson = profile.arrivals == "poisson"
        first = time.time() + self.rng.uniform(0.0, self.period)
        self._context = {"tier": self.tier, "plan": account.plan, "intended_ts": first}
        gevent.sleep(max(0.0, first - time.time()))

    def gap(self) -> float:
        """Seconds from one scheduled request of this user to the next."""
        return self.rng.expovariate(1.0 / self.period) if self.poisson else self.period

    def context(self) -> dict:
        return self._context

    def wait_time(self) -> float:
        """Sleep until the next slot of this user's schedule (0 when already late: the slot is kept)."""
        self._context["intended_ts"] += self.gap()
        return max(0.0, self._context["intended_ts"] - time.time())

    def stop(self, force: bool = False) -> bool:
        """Locust's stop, after which this user sends nothing more. Locust stops a sleeping user by scheduling a
        kill; a user waking in the same pass of the loop would otherwise send a request that the kill then cuts
        off mid-flight: the target counts it, the run never records it."""
        self.stop_requested = True
        return super().stop(force)

    def get(self, path: str, name: str) -> None:
        if self.stop_requested:
            raise StopUser
        self.client.get(path, name=name, headers=self.headers)

    def post(self, path: str, name: str, body: dict) -> None:
        if self.stop_requested:
            raise StopUser
        self.client.post(path, name=name, json=body, headers=self.headers)


class Arrival:
    """One open-model request: the generator's account and client, and the time it was scheduled for."""

    __slots__ = ("context", "user")

    def __init__(self, user: OpenTierUser, intended_ts: float):
        self.user = user
        self.context = {"intended_ts": intended_ts}

    @property
    def rng(self) -> random.Random:
        return self.user.rng

    @property
    def symbols(self) -> list[str]:
        return self.user.symbols

    def get(self, path: str, name: str) -> None:
        if not self.user.stop_requested:  # see TierUser.stop
            self.user.client.get(path, name=name, headers=self.user.headers, context=self.context)

    def post(self, path: str, name: str, body: dict) -> None:
        if not self.user.stop_requested:
            self.user.client.post(path, name=name, json=body, headers=self.user.headers, context=self.context)


def dispatch(user: OpenTierUser) -> None:
    """The open model's one Locust task: send the arrival due now on its own greenlet, or count it dropped."""
    user.dispatch()


class OpenTierUser(TierUser):
    """An arrival generator of one tier: its schedule does not wait for responses (see the module docstring)."""

    abstract = True
    tasks: ClassVar = [dispatch]
    requests: ClassVar[dict]  # the tier's request functions and their weights, as the closed user's tasks

    def __init__(self, environment) -> None:
        load = environment.trademate.profile_for_users().tiers[self.tier]
        self.concurrency = load.in_flight_per_user  # FastHttpUser sizes its connection pool from this
        super().__init__(environment)

    def on_start(self) -> None:
        self.in_flight = Pool(self.concurrency)
        self._requests, self._weights = list(self.requests), list(self.requests.values())
        self._collector = self.environment.trademate.collector
        super().on_start()
        self.next_ts = self._context["intended_ts"]
        self._context = {"tier": self.tier, "plan": self.plan}

    def context(self) -> dict:
        return self._context

    def dispatch(self) -> None:
        if self.in_flight.full():
            self._collector.count_dropped(self.tier, self.next_ts)
        else:
            request = self.rng.choices(self._requests, self._weights)[0]
            self.in_flight.spawn(self._send, request, Arrival(self, self.next_ts))

    def _send(self, request, arrival: Arrival) -> None:
        try:
            request(arrival)
        except Exception as exc:  # as Locust's TaskSet does with a task's unexpected error
            logger.error("%s\n%s", exc, traceback.format_exc())
            self.environment.events.user_error.fire(user_instance=self, exception=exc, tb=exc.__traceback__)

    def wait_time(self) -> float:
        self.next_ts += self.gap()
        return max(0.0, self.next_ts - time.time())

    def on_stop(self) -> None:
        in_flight = getattr(self, "in_flight", None)
        if in_flight is not None:
            in_flight.kill(block=False)


class SharedTierUser(TierUser):
    """LITE and PRO users: 100 of them send 1000 req/s in TradeMate's model."""

    tier = "shared"
    tasks: ClassVar = SHARED_REQUESTS


class PremiumTierUser(TierUser):
    """ELITE and BLACK users: 50 of them send 500 req/s; they also read premium analytics."""

    tier = "premium"
    tasks: ClassVar = PREMIUM_REQUESTS


class OpenSharedTierUser(OpenTierUser):
    """Open model: arrivals of LITE and PRO users at the shared tier's rate, with the shared request mix."""

    tier = "shared"
    requests: ClassVar = SHARED_REQUESTS


class OpenPremiumTierUser(OpenTierUser):
    """Open model: arrivals of ELITE and BLACK users at the premium tier's rate, with the premium request mix."""

    tier = "premium"
    requests: ClassVar = PREMIUM_REQUESTS


TIER_USERS: dict[str, dict[str, type[TierUser]]] = {
    "closed": {"shared": SharedTierUser, "premium": PremiumTierUser},
    "open": {"shared": OpenSharedTierUser, "premium": OpenPremiumTierUser},
}
