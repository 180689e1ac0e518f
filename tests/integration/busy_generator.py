"""A locustfile to add to the suite's (``-f locustfiles/trademate.py,tests/integration/busy_generator.py``): once a
second it keeps the load generator's gevent loop busy for ``$BUSY_MS`` ms without yielding, as a burst of other
users' work or a garbage collection would, while the users' requests are in flight. (The test that uses it sets
``BUSY_MS`` and does not import this file, which registers a listener on Locust's global events.)"""

from __future__ import annotations

import os
import time

import gevent
from locust import events


def keep_busy(busy_s: float) -> None:
    while True:
        gevent.sleep(1.0)
        until = time.perf_counter() + busy_s
        while time.perf_counter() < until:
            pass


@events.test_start.add_listener
def _start(**_kwargs) -> None:
    gevent.spawn(keep_busy, float(os.environ["BUSY_MS"]) / 1000.0)
