"""Flat-out FastHttpUsers for ``scripts/bench_generator.py``, with or without a request listener.

    BENCH_VARIANT=plain|naive|suite BENCH_OUT=samples.parquet locust -f scripts/bench_locustfile.py ...

``plain``: no listener of ours (Locust's own statistics only). ``naive``: a listener appending one tuple per
request to a list. ``suite``: the suite's collector with its spiller writing ``BENCH_OUT`` (Parquet row
groups every few seconds, as in a real run). Every user sends GET requests back to back, carrying the tier
and plan context the suite's users carry.
"""

from __future__ import annotations

import os
from pathlib import Path

from locust import FastHttpUser, constant, events, task

from trademate_load.collector import Collector, Spiller
from trademate_load.samples import SampleStore


class FlatOut(FastHttpUser):
    wait_time = constant(0)
    _context = {"tier": "premium", "plan": "ELITE"}  # noqa: RUF012

    def context(self) -> dict:
        return self._context

    @task
    def portfolio(self) -> None:
        self.client.get("/api/v1/portfolio", name="GET /api/v1/portfolio")


def register_naive(environment) -> None:
    rows: list[tuple] = []

    def on_request(request_type, name, response_time, response_length, exception=None, context=None, **kwargs):
        rows.append((kwargs.get("start_time"), request_type, name, response_time, response_length, exception, context))

    environment.events.request.add_listener(on_request)


def register_suite(environment) -> None:
    collector = Collector()
    store = SampleStore(Path(os.environ["BENCH_OUT"]))
    spiller = Spiller(collector, store)
    environment.events.request.add_listener(collector.on_request)
    environment.events.test_start.add_listener(lambda **_kw: spiller.start())

    def finish(**_kwargs) -> None:
        spiller.stop()
        store.write(collector.drain())
        store.close()

    environment.events.quitting.add_listener(finish)


@events.init.add_listener
def _init(environment, **_kwargs) -> None:
    variant = os.environ.get("BENCH_VARIANT", "plain")
    if variant == "naive":
        register_naive(environment)
    elif variant == "suite":
        register_suite(environment)
