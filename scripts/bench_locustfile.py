"""Flat-out FastHttpUsers for ``scripts/bench_generator.py``, the suite's collector switched in and out.

    BENCH_PHASES=plain,suite BENCH_STATS=stats.json BENCH_OUT=s.parquet locust -f scripts/bench_locustfile.py ...

Every user sends GET requests back to back, carrying the tier and plan context the suite's users carry. After
``BENCH_WARMUP_S`` the process runs the variants named in ``BENCH_PHASES`` in turn, ``BENCH_PHASE_S`` each, over
and over, on the same users and connections, so that whatever else the machine does falls on every variant
alike (runs of the same variant in separate processes differed by up to 60% in CPU per request here):

- ``plain``: no listener of ours, geventhttpclient's own connections (Locust's statistics only).
- ``naive``: a listener appending one tuple per request to a list.
- ``suite``: the suite's collector on ``events.request`` in place of Locust's per-request statistics listener,
  and the suite's connections (the pool's check without gevent's yield; kernel receive timestamps, read with
  ``recvmsg``). At the end of a phase that collected, Locust's statistics are fed from the collector's rows
  (every ``FEED_S`` in the suite, the phase's length here) and the collector's :class:`Spiller` writes its
  buffer to ``BENCH_OUT`` when due (its interval counted in collecting time), so that both are counted in it.
- ``collector``: the suite's collector with geventhttpclient's own connections; ``connections``: the suite's
  connections without the collector. The two parts of ``suite``'s cost, apart.

The connections are opened as the suite's; outside suite phases each is turned back into a plain gevent
socket with kernel timestamps off (its class swapped: the two share their layout). ``BENCH_STATS`` (JSON) gets,
per variant, the requests (Locust's own count), wall seconds and CPU seconds of this process (all its threads)
summed over its phases: no request listener is involved in measuring. A phase cut short by the end of the test
is left out.
"""

from __future__ import annotations

import json
import os
import socket
import time
import weakref
from pathlib import Path

import gevent
import gevent.socket
from gevent.event import Event
from geventhttpclient.connectionpool import ConnectionPool
from locust import FastHttpUser, constant, events, task

from trademate_load import connections, locust_compat, locust_stats
from trademate_load.collector import Collector, Spiller
from trademate_load.monitor import HealthMonitor
from trademate_load.store import SampleStore


class FlatOut(FastHttpUser):
    wait_time = constant(0)
    _context = {"tier": "premium", "plan": "ELITE"}  # noqa: RUF012

    def context(self) -> dict:
        return self._context

    @task
    def portfolio(self) -> None:
        self.client.get("/api/v1/portfolio", name="GET /api/v1/portfolio")


VARIANTS = {  # name: (request listener, the suite's connections, the load generator's health monitor)
    "plain": (None, False, False),
    "naive": ("naive", False, False),
    "suite": ("collector", True, False),
    "collector": ("collector", False, False),
    "connections": (None, True, False),
    "monitored": ("collector", True, True),
}


class Phases:
    """Switches the process between the variants and sums requests, wall and CPU seconds per variant."""

    def __init__(self, environment, variants: list[str], phase_s: float, warmup_s: float, out: Path):
        self.environment, self.variants, self.phase_s, self.warmup_s = environment, variants, phase_s, warmup_s
        request = environment.events.request
        self.runner_listener = locust_compat.listener(request, locust_compat.RUNNER_LISTENER)
        self.locust_stats = locust_stats.LocustStats(environment.stats)  # not started: fed when run() says
        self.collector, self.store = Collector(pending=self.locust_stats.rows), SampleStore(out)
        self.monitor = HealthMonitor(dict)  # started in the "monitored" variant's phases
        self.spiller = Spiller(self.collector, self.store)  # not started: spills when run() says
        self.naive_rows: list[tuple] = []
        self.totals = {variant: {"requests": 0, "wall_s": 0.0, "cpu_s": 0.0} for variant in variants}
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.listeners, self.variant = [self.runner_listener], "plain"
        self.stopping = Event()
        self.greenlet: gevent.Greenlet | None = None
        self.plain_check = ConnectionPool._is_socket_alive
        connections.install()
        self.suite_check = ConnectionPool._is_socket_alive
        create = ConnectionPool._create_tcp_socket

        def create_tracked(pool, *args):
            sock = create(pool, *args)
            self.sockets.add(sock)
            self._use_sockets(VARIANTS[self.variant][1], [sock])
            return sock

        ConnectionPool._create_tcp_socket = create_tracked
        self.switch("plain")

    def naive(self, request_type, name, response_time, response_length, exception=None, context=None, **kwargs):
        self.naive_rows.append(
            (kwargs.get("start_time"), request_type, name, response_time, response_length, exception, context)
        )

    def _use_sockets(self, suite: bool, sockets) -> None:
        if not connections.KERNEL_TIMESTAMPS:
            return
        for sock in sockets:
            sock.__class__ = connections.TimestampedSocket if suite else gevent.socket.socket
            sock.setsockopt(socket.SOL_SOCKET, connections.SO_TIMESTAMPNS, int(suite))

    def switch(self, variant: str) -> None:
        listener, suite_connections, monitored = VARIANTS[variant]
        if monitored:
            self.monitor.start()
        else:
            self.monitor.stop()
            self.monitor.take()
        request = self.environment.events.request
        for old in self.listeners:
            request.remove_listener(old)
        self.listeners = {
            None: [self.runner_listener],
            "naive": [self.runner_listener, self.naive],
            "collector": [self.collector.on_request],
        }[listener]
        for new in self.listeners:
            request.add_listener(new)
        ConnectionPool._is_socket_alive = self.suite_check if suite_connections else self.plain_check
        self._use_sockets(suite_connections, list(self.sockets))
        self.variant = variant

    def mark(self) -> tuple[float, float, int]:
        return time.monotonic(), time.process_time(), self.environment.stats.total.num_requests

    def run(self) -> None:
        if self.stopping.wait(self.warmup_s):
            return
        collected_s, phase = 0.0, 0
        while True:
            variant = self.variants[phase % len(self.variants)]
            self.switch(variant)
            start = self.mark()
            if self.stopping.wait(self.phase_s):
                return
            if VARIANTS[variant][0] == "collector":
                self.locust_stats.feed()
                collected_s += self.phase_s
                if self.spiller.due(collected_s):
                    self.spiller.spill()
                    collected_s = 0.0
            end = self.mark()
            totals = self.totals[variant]
            totals["wall_s"] += end[0] - start[0]
            totals["cpu_s"] += end[1] - start[1]
            totals["requests"] += end[2] - start[2]
            phase += 1

    def start(self, **_kwargs) -> None:
        self.greenlet = gevent.spawn(self.run)

    def stop(self, **_kwargs) -> None:
        self.stopping.set()
        if self.greenlet is not None:
            self.greenlet.join()
        Path(os.environ["BENCH_STATS"]).write_text(json.dumps(self.totals))

    def quit(self, **_kwargs) -> None:
        self.store.write(self.collector.drain())
        self.store.close()


@events.init.add_listener
def _init(environment, **_kwargs) -> None:
    phases = Phases(
        environment,
        os.environ.get("BENCH_PHASES", "plain").split(","),
        float(os.environ.get("BENCH_PHASE_S", "0.5")),
        float(os.environ.get("BENCH_WARMUP_S", "2")),
        Path(os.environ["BENCH_OUT"]),
    )
    environment.events.test_start.add_listener(phases.start)
    environment.events.test_stop.add_listener(phases.stop)
    environment.events.quitting.add_listener(phases.quit)
