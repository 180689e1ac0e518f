"""A distributed run's traffic between Locust's processes, and every Locust runner internal the suite uses for it.

A worker ships its samples (and dropped counts) and each second of its health with every ``report_to_master``; the
master keeps them with its own and keeps a roster of its workers (:mod:`trademate_load.workers`: samples shipped,
and any lost to Locust's heartbeat check, named in every report). Headless, the master ends the run at
``quitting`` once every connected worker's final report is in (Locust's own quit waits only half a second for
them); from the web UI, at ``test_stop``, once each worker has reported since.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent
from locust.runners import STATE_MISSING, WORKER_REPORT_INTERVAL, MasterRunner

from trademate_load.losses import describe_lost
from trademate_load.record import SampleBuffer
from trademate_load.workers import Roster

if TYPE_CHECKING:
    from trademate_load.active_run import ActiveRun
    from trademate_load.lifecycle import Suite

logger = logging.getLogger(__name__)
FINAL_REPORTS_TIMEOUT_S = 10.0  # how long a headless master waits for its workers' final reports
WORKER_CHECK_INTERVAL_S = 1.0  # how often the master looks at its workers' connections (Locust's heartbeat)


class Distribution:
    """The suite's side of Locust's master-worker traffic in one process (a local process has none)."""

    def __init__(self, suite: Suite):
        self.suite = suite
        self.environment = suite.environment
        self.roster = Roster()  # master: the run's workers
        self.shipped = 0  # worker: samples shipped to the master so far
        self.latest_health: dict[str, list] = {}  # master: each worker's last second of health, as it reported

    def register(self) -> None:
        events, runner = self.environment.events, self.environment.runner
        if self.suite.is_worker:
            events.report_to_master.add_listener(self.ship_to_master)
        if isinstance(runner, MasterRunner):
            events.worker_report.add_listener(self.receive_from_worker)
            gevent.spawn(self._watch_workers)

    @property
    def is_master(self) -> bool:
        return isinstance(self.environment.runner, MasterRunner)

    def ship_to_master(self, client_id: str, data: dict, **_kwargs) -> None:
        """Worker side of ``report_to_master``: hand over every sample (and dropped count) and every second of the
        generator's health since the last report."""
        data["trademate_pid"] = os.getpid()
        data["trademate_health"], data["trademate_ticks"] = self.suite.health.take()
        if len(self.suite.collector.buffer) or self.suite.collector.buffer.dropped:
            buffer = self.suite.collector.drain()
            data["trademate_samples"] = buffer.to_payload()
            self.shipped += len(buffer)

    def receive_from_worker(self, client_id: str, data: dict, **_kwargs) -> None:
        """Master side of ``worker_report``: keep the worker's samples with ours, and count them for the worker."""
        if client_id not in self.environment.runner.clients:
            return  # not one of this run's workers (a stray from another run): Locust discards its report too
        payload = data.get("trademate_samples")
        if payload is not None:
            self.suite.collector.buffer.extend_payload(payload)
        if self.suite.run is not None and data.get("trademate_health"):
            self.suite.run.keep_health(client_id, data["trademate_health"], data.get("trademate_ticks") or b"")
            self.latest_health[client_id] = data["trademate_health"][-1]
        rows = 0 if payload is None else SampleBuffer.payload_rows(payload)
        self.roster.reported(client_id, rows, data.get("trademate_pid"), time.time())

    def check_workers(self) -> None:
        """Master: note the workers Locust's heartbeat check lost, or that left, while a run is in progress."""
        run, runner = self.suite.run, self.environment.runner
        if run is None:
            return
        states = {worker_id: node.state for worker_id, node in runner.clients.items()}
        for record in self.roster.observe(states, time.time(), run.stopped_ts is not None):
            lost = describe_lost(record.as_dict(run.started_ts))
            remaining = sum(1 for state in states.values() if state != STATE_MISSING)
            logger.warning("TradeMate: lost %s; the run goes on with %d worker(s) and less load", lost, remaining)

    def _watch_workers(self) -> None:
        while True:
            gevent.sleep(WORKER_CHECK_INTERVAL_S)
            self.check_workers()

    def collect_final_reports(self, runner: MasterRunner) -> None:
        """Headless master: receive until every connected worker has sent its final report and quit.

        Locust's ``quit`` gives workers half a second before it stops listening; a worker still stopping its
        users then (a busy machine) would lose its last samples. A worker sends its final report before its
        "quit" message, on the same connection, so once it is gone from ``runner.clients`` its report is in.
        """
        if len(runner.greenlet):  # Ctrl-C or SIGTERM: the workers have not been told to quit yet
            runner.quit()
        self.check_workers()
        listener = gevent.spawn(runner.client_listener)
        deadline = time.monotonic() + FINAL_REPORTS_TIMEOUT_S
        try:
            while pending := [i for i, node in runner.clients.items() if node.state != STATE_MISSING]:
                if time.monotonic() >= deadline:
                    logger.warning("TradeMate: no final report from %s", ", ".join(pending))
                    self.roster.give_up(pending, time.time())
                    break
                gevent.sleep(0.05)
        finally:
            listener.kill(block=True)
        self.check_workers()

    def end_run_after_reports(self, run: ActiveRun, stopped: float, end_run: Callable[[], None]) -> None:
        """Web UI master: a worker sends its last samples with its next periodic report after a stop (within
        WORKER_REPORT_INTERVAL); end the run once each worker has reported since, or a little after that."""
        deadline = time.monotonic() + WORKER_REPORT_INTERVAL + 2.0
        while self.roster.silent_since(stopped) and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if self.suite.run is run:
            end_run()
