"""A locustfile to add to the suite's (``-f locustfiles/trademate.py,tests/integration/busy_generator.py``): once a
second it keeps the load generator's gevent loop busy for ``BUSY_MS`` without yielding, as a burst of other users'
work or a garbage collection would, while the users' requests are in flight."""

from __future__ import annotations

import time

import gevent
from locust import events

BUSY_MS = 300.0


def keep_busy() -> None:
    while True:
        gevent.sleep(1.0)
        until = time.perf_counter() + BUSY_MS / 1000.0
        while time.perf_counter() < until:
            pass


@events.test_start.add_listener
def _start(**_kwargs) -> None:
    gevent.spawn(keep_busy)
