"""Flat-out FastHttpUsers for ``scripts/bench_generator.py``, with or without a request listener.

    BENCH_VARIANT=plain|naive|suite BENCH_OUT=samples.parquet locust -f scripts/bench_locustfile.py ...

``plain``: no listener of ours (Locust's own statistics only). ``naive``: a listener appending one tuple per
request to a list. ``suite``: the suite's collector with its spiller writing ``BENCH_OUT`` (Parquet row
groups every few seconds, as in a real run) and the suite's connections (kernel receive timestamps). Every
user sends GET requests back to back, carrying the tier and plan context the suite's users carry.

Every variant also writes ``BENCH_STATS`` (JSON): requests, wall seconds and CPU seconds of this process (all
its threads) from ``BENCH_WARMUP_S`` after the test starts until it stops, read from Locust's own request
count and ``time.process_time()``, so no request listener is involved in measuring.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, events, task

from trademate_load import connections
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
    connections.install()
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


def register_measure(environment) -> None:
    marks: dict[str, tuple[float, float, int]] = {}

    def mark(name: str) -> None:
        marks[name] = (time.monotonic(), time.process_time(), environment.stats.total.num_requests)

    def start(**_kwargs) -> None:
        gevent.spawn_later(float(os.environ.get("BENCH_WARMUP_S", "2")), mark, "start")

    def stop(**_kwargs) -> None:
        mark("stop")
        (wall0, cpu0, n0), (wall1, cpu1, n1) = marks["start"], marks["stop"]
        stats = {"requests": n1 - n0, "wall_s": wall1 - wall0, "cpu_s": cpu1 - cpu0}
        Path(os.environ["BENCH_STATS"]).write_text(json.dumps(stats))

    environment.events.test_start.add_listener(start)
    environment.events.test_stop.add_listener(stop)


@events.init.add_listener
def _init(environment, **_kwargs) -> None:
    if os.environ.get("BENCH_STATS"):
        register_measure(environment)
    variant = os.environ.get("BENCH_VARIANT", "plain")
    if variant == "naive":
        register_naive(environment)
    elif variant == "suite":
        register_suite(environment)
