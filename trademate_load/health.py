"""The load generator's health, measured in every Locust process each second: is it able to send on time?

A :class:`HealthMonitor` runs in each process (master, workers, or the one local process):

- **loop lag**: a greenlet wakes every ``TICK_S`` (10 ms) and notes how late it woke: how long any greenlet that
  was due then (a user due to send, a response due to be read) waited for the event loop;
- **freezes**: a native thread (not a greenlet) sleeps ``FREEZE_TICK_S`` at a time and notes how late it woke:
  the whole process standing still (descheduled, stopped, or holding the interpreter in one long call);
- **CPU**: the process's CPU time over the second (1.0: one core, busy all the time), and the share of the
  second its event loop's thread was ready to run but waited for a CPU (``/proc/thread-self/schedstat``);
- **the machine**: the share of the second during which some runnable task waited for a CPU (Linux PSI,
  ``/proc/pressure/cpu``, "some"), the share during which some task waited for storage (``/proc/pressure/io``,
  "some": a saturated disk stalls whatever writes a log or a database, the target's or the generator's, with no
  CPU busy), and the share of the CPUs' time the hypervisor took (steal, ``/proc/stat``);
- **users** per tier running in the process (for the rate it intends to send).

Each second becomes one row of ``COLUMNS`` (``None`` for a figure this machine does not report), and every tick's
lag is kept (float32, about 400 bytes a second) so that a run's loop-lag percentiles are exact over the seconds it
judges; workers ship both to the master with their samples. A monitor measures from a test's start until its
stop begins (:meth:`HealthMonitor.watch`): what Locust does while stopping (it inspects the stack, kills users)
is not the load, and a second that held it would be judged unhealthy for nothing.
The cost is about a hundred short greenlet wake-ups and ten thread wake-ups a second (``make bench`` measures
it). What the rows mean for a verdict is :mod:`trademate_load.validity`'s job. Nothing here imports locust.
"""

from __future__ import annotations

import logging
import math
import os
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import gevent
import numpy as np
from gevent.monkey import get_original

TICK_S = 0.01
FREEZE_TICK_S = 0.1
COLUMNS = (
    "ts",  # epoch seconds at the end of the span the row covers
    "span_s",  # about a second; longer when the loop itself stood still
    "lag_p50_ms",
    "lag_p99_ms",
    "lag_max_ms",
    "freeze_max_ms",
    "cpu",
    "wait",
    "pressure",
    "steal",
    "io",
    "users_shared",
    "users_premium",
    "ticks",  # the loop-lag ticks of the span, in ``HealthMonitor.take``'s tick lags, in order
)
PRESSURE = Path("/proc/pressure/cpu")
IO_PRESSURE = Path("/proc/pressure/io")
SCHEDSTAT = Path("/proc/thread-self/schedstat")
STAT = Path("/proc/stat")
logger = logging.getLogger(__name__)


def pressure_us() -> float | None:
    """Microseconds, since boot, during which some runnable task waited for a CPU (None without PSI)."""
    try:
        return float(PRESSURE.read_text().split("total=", 1)[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def io_stall_us() -> float | None:
    """Microseconds, since boot, during which some task waited for storage (None without PSI)."""
    try:
        return float(IO_PRESSURE.read_text().split("total=", 1)[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def run_queue_wait_s() -> float | None:
    """Seconds the calling thread has spent ready to run but waiting for a CPU (None where not reported)."""
    try:
        return int(SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def steal_ticks() -> float | None:
    """Clock ticks, since boot, the hypervisor took from this machine's CPUs (None where not reported)."""
    try:
        fields = STAT.read_text().split("\n", 1)[0].split()
        return float(fields[8])
    except (OSError, IndexError, ValueError):
        return None


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of a few values (a second's ticks)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class HealthMonitor:
    """Measures this process each second while it runs; ``rows`` holds the seconds not yet taken."""

    def __init__(self, users: Callable[[], dict[str, int]]):
        self.users = users
        self.rows: list[list[float | None]] = []
        self.ticks = array("f")  # every tick's lag (ms) of the rows not yet taken
        self.latest: list[float | None] | None = None  # the last second measured, kept when rows are taken
        self._lags: list[float] = []
        self._freezes: list[float] = []
        self._running = False
        self._generation = 0  # a freeze thread of an earlier test ends when it sees a newer generation
        self._greenlet: gevent.Greenlet | None = None
        self._cpus = os.cpu_count() or 1
        self._clock_ticks = os.sysconf("SC_CLK_TCK")

    def watch(self, events) -> HealthMonitor:
        """Measure each test of a Locust environment's ``events``, from its start until its stop begins."""
        events.test_start.add_listener(lambda **_kwargs: self.start())
        events.test_stopping.add_listener(lambda **_kwargs: self.stop())
        return self

    def start(self) -> HealthMonitor:
        if self._running:
            return self
        self._running = True
        self._generation += 1
        self._lags, self._freezes = [], []
        self._mark()
        self._greenlet = gevent.spawn(self._ticks)
        get_original("_thread", "start_new_thread")(self._watch_freezes, (self._generation,))
        return self

    def stop(self) -> None:
        """Stop measuring (the second in progress is closed, so nothing measured is lost)."""
        if not self._running:
            return
        self._running = False
        if self._greenlet is not None and self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=False)
        self._close()

    def take(self) -> tuple[list[list[float | None]], bytes]:
        """The rows measured since the last take, and their ticks' lags as float32 bytes (a worker ships both)."""
        rows, self.rows = self.rows, []
        ticks, self.ticks = self.ticks, array("f")
        return rows, ticks.tobytes()

    def _mark(self) -> None:
        self._wall = time.time()
        self._cpu = time.process_time()
        self._wait = run_queue_wait_s()
        self._pressure = pressure_us()
        self._steal = steal_ticks()
        self._io = io_stall_us()

    def _ticks(self) -> None:
        due = time.perf_counter() + TICK_S
        while self._running:
            gevent.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            self._lags.append(max(0.0, now - due) * 1000.0)
            due = now + TICK_S
            if time.time() - self._wall >= 1.0:
                try:
                    self._close()
                except Exception:  # a bug here must not take the run down
                    logger.exception("load generator health could not be measured")

    def _watch_freezes(self, generation: int) -> None:
        sleep = get_original("time", "sleep")
        while self._running and self._generation == generation:
            before = time.perf_counter()
            sleep(FREEZE_TICK_S)
            self._freezes.append(max(0.0, time.perf_counter() - before - FREEZE_TICK_S) * 1000.0)

    def _close(self) -> None:
        """Close the second in progress into a row."""
        wall, cpu, wait, pressure, steal, io = self._wall, self._cpu, self._wait, self._pressure, self._steal, self._io
        lags, self._lags = self._lags, []
        freezes, self._freezes = self._freezes, []
        self._mark()
        elapsed = self._wall - wall
        if elapsed <= 0:
            return
        waited = None if pressure is None or self._pressure is None else (self._pressure - pressure) / 1e6 / elapsed
        stalled = None if io is None or self._io is None else (self._io - io) / 1e6 / elapsed
        queued = None if wait is None or self._wait is None else (self._wait - wait) / elapsed
        stolen = (
            None
            if steal is None or self._steal is None
            else (self._steal - steal) / self._clock_ticks / (elapsed * self._cpus)
        )
        users = self.users()
        row = [
            round(self._wall, 3),
            round(elapsed, 3),
            round(quantile(lags, 0.50), 3) if lags else None,
            round(quantile(lags, 0.99), 3) if lags else None,
            round(max(lags), 3) if lags else None,
            round(max(freezes), 3) if freezes else 0.0,
            round((self._cpu - cpu) / elapsed, 4),
            None if queued is None else round(min(max(queued, 0.0), 1.0), 4),
            None if waited is None else round(min(max(waited, 0.0), 1.0), 4),
            None if stolen is None else round(min(max(stolen, 0.0), 1.0), 4),
            None if stalled is None else round(min(max(stalled, 0.0), 1.0), 4),
            users.get("shared", 0),
            users.get("premium", 0),
            len(lags),
        ]
        self.ticks.extend(lags)
        self.rows.append(row)
        self.latest = row


def latest(row: list | None) -> dict[str, float | None] | None:
    """A row as the live figures show it (the last second measured), or None."""
    return None if row is None else dict(zip(COLUMNS[:-1], row[:-1], strict=True))


def lag_summary(rows: list[list], ticks: bytes, start_ts: float, end_ts: float) -> dict[str, float | None]:
    """Exact p50, p99 and max of the loop lag over the rows (and their ticks) that overlap ``[start_ts, end_ts]``."""
    lags = np.frombuffer(ticks, dtype=np.float32)
    ts, span, count = (COLUMNS.index(name) for name in ("ts", "span_s", "ticks"))
    ends = np.cumsum([row[count] for row in rows], dtype=np.int64)
    chosen = [
        lags[end - row[count] : end]
        for row, end in zip(rows, ends, strict=True)
        if row[ts] > start_ts and row[ts] - row[span] < end_ts
    ]
    values = np.concatenate(chosen) if chosen else np.empty(0, np.float32)
    if not len(values):
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(values, [50, 99], method="inverted_cdf")
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "max": round(float(values.max()), 3)}
