"""The live branch's watch: the greenlet that looks at the buffer and the figures, and ends a run early.

:class:`LiveFeed` reads the collector's buffer every ``POLL_S`` and recomputes the live figures every ``UPDATE_S``;
after each update :func:`check_end` looks whether the run should end now: the profile's ``abort_on_fail`` (a
watched check decided failed) or ``stop_when_decided`` (any check decided failed, or every check settled). The
statistics behind each decision are :mod:`trademate_load.decisions`'; the looks start once warm-up is over. The
feed hands the record of an early end to the plugin's ``on_end``, which decides how to stop the run. Nothing here
imports locust.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
from gevent.event import Event

from trademate_load.decisions import early_end

if TYPE_CHECKING:
    from trademate_load.live import LiveBoard, LiveRun

POLL_S = 0.25  # how often the buffer's new rows are read (slices of its columns)
UPDATE_S = 1.0  # how often the figures are recomputed
logger = logging.getLogger(__name__)


def check_end(run: LiveRun, snapshot: dict[str, Any], now: float) -> dict[str, Any] | None:
    """A new record when ``run`` should end early: a watched check decided failed (abort_on_fail, or any check with
    stop_when_decided), or every check settled (stop_when_decided). Looks start once warm-up is over. The record
    goes into ``snapshot`` (``aborted`` or ``decided``) and stays the run's ``ended_early``."""
    if not run.ends_early or run.ended_early is not None or run.end_ts is not None:
        return None
    if now - run.settle_s < run.sla_start_ts:
        return None
    uptimes = {tier: running.uptime() for tier, running in run.uptimes.items()}
    record = early_end(run.decisions, uptimes, run.profile.stop_when_decided, run.started_ts)
    if record is not None:
        run.ended_early = {**record, "at_s": round(now - run.settle_s - run.started_ts, 1)}
        snapshot["aborted" if record["outcome"] == "fail" else "decided"] = run.ended_early
    return run.ended_early


class LiveFeed:
    """The greenlet that reads the buffer every ``POLL_S`` and updates the board every ``UPDATE_S``.

    ``on_end(record)`` runs in a greenlet of its own when the run should end early (it may stop the runner, which
    may end the run and stop this feed).
    """

    def __init__(self, board: LiveBoard, on_end: Callable[[dict[str, Any]], None]):
        self.board, self.on_end = board, on_end
        self._stop = Event()
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> LiveFeed:
        self._greenlet = gevent.spawn(self._run)
        return self

    def _run(self) -> None:
        next_update = 0.0
        while not self._stop.wait(POLL_S):
            try:
                self.board.poll()
                now = time.time()
                if now >= next_update:
                    next_update = now + UPDATE_S
                    ended = self.board.update(now)
                    if ended is not None:
                        log = logger.error if ended["outcome"] == "fail" else logger.info
                        log("%s: ending the run at %.1f s: %s", ended["by"], ended["at_s"], ended["reason"])
                        gevent.spawn(self.on_end, ended)
            except Exception:  # a bug here must not take the run down: log it, keep measuring
                logger.exception("live SLA figures could not be updated")

    def stop(self) -> None:
        if self._greenlet is not None:
            self._stop.set()
            if self._greenlet is not gevent.getcurrent():
                self._greenlet.join()
            self._greenlet = None
