"""Measures the load generator's health in its own process, second by second (the rows :mod:`trademate_load.health`
describes).

- **loop lag**: a greenlet wakes every ``TICK_S`` (10 ms) and notes how late it woke;
- **freezes**: a native thread (not a greenlet) sleeps ``FREEZE_TICK_S`` at a time and notes how late it woke;
- **CPU**: the process's CPU time, and the time its event loop's thread waited for a CPU
  (``/proc/thread-self/schedstat``);
- **the machine**: CPU and I/O pressure (``/proc/pressure/cpu``, ``/proc/pressure/io``, "some": a saturated disk
  stalls whatever writes a log or a database, the target's or the generator's, with no CPU busy) and steal
  (``/proc/stat``).

A monitor measures from a test's start until its stop began (:meth:`HealthMonitor.watch`): what Locust does while
stopping (it inspects the stack, kills users) is not the load, and a second that held it would be judged unhealthy
for nothing; a loop busy before then still is. The cost is about a hundred short greenlet wake-ups and ten thread
wake-ups a second (``make bench`` measures it). Nothing here imports locust.
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
from gevent.monkey import get_original

from trademate_load.health import COLUMNS
from trademate_load.stats import quantile

TICK_S = 0.01
FREEZE_TICK_S = 0.1

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
        self._due = math.inf  # when the tick greenlet is next due to run (perf_counter)
        self._cpus = os.cpu_count() or 1
        self._clock_ticks = os.sysconf("SC_CLK_TCK")

    def watch(self, events, stop_began: Callable[[], float | None] = lambda: None) -> HealthMonitor:
        """Measure each test of a Locust environment's ``events`` from its start until its stop began:
        ``stop_began()`` (epoch seconds; the run's end as its shape decided it), else the moment Locust says the test
        is stopping (after its own stop work began)."""
        events.test_start.add_listener(lambda **_kwargs: self.start())
        events.test_stopping.add_listener(lambda **_kwargs: self.stop(stop_began()))
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

    def stop(self, at: float | None = None) -> None:
        """Stop measuring as of ``at`` (epoch seconds; default now): the tick the loop was late for counts its lateness
        until then, not what the loop did after (Locust's own stop work), and the second in progress is closed, so
        nothing measured is lost."""
        if not self._running:
            return
        self._running = False
        if self._greenlet is not None and self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=False)
            now = time.perf_counter()
            until = now if at is None else min(now, now - (time.time() - at))
            if until > self._due:
                self._lags.append((until - self._due) * 1000.0)
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
        due = self._due = time.perf_counter() + TICK_S
        while self._running:
            gevent.sleep(max(0.0, due - time.perf_counter()))
            now = time.perf_counter()
            self._lags.append(max(0.0, now - due) * 1000.0)
            due = self._due = now + TICK_S
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
        share = {
            name: None if value is None else round(min(max(value, 0.0), 1.0), 4)
            for name, value in (("wait", queued), ("pressure", waited), ("steal", stolen), ("io", stalled))
        }
        figures = {
            "ts": round(self._wall, 3),
            "span_s": round(elapsed, 3),
            "lag_p50_ms": round(quantile(lags, 0.50), 3) if lags else None,
            "lag_p99_ms": round(quantile(lags, 0.99), 3) if lags else None,
            "lag_max_ms": round(max(lags), 3) if lags else None,
            "freeze_max_ms": round(max(freezes), 3) if freezes else 0.0,
            "cpu": round((self._cpu - cpu) / elapsed, 4),
            **share,
            "users_shared": users.get("shared", 0),
            "users_premium": users.get("premium", 0),
            "ticks": len(lags),
        }
        row = [figures[name] for name in COLUMNS]
        self.ticks.extend(lags)
        self.rows.append(row)
        self.latest = row
