"""Locust's own request statistics, added from the collector's rows in batches instead of one call per request.

Locust counts every request for its statistics (the console table, the web UI, ``--csv``, ``--json``) in a
listener on ``events.request`` that its ``Runner`` registers: ``StatsEntry.log`` twice per request, about 5.5%
of the generator's CPU per request at full speed (scripts/bench_generator.py). The suite's collector already
sees every request, so :func:`install` removes that listener and the collector appends what Locust needs to a
:class:`PendingRows` (four array appends); :class:`LocustStats` adds those rows to the same ``StatsEntry``
objects every ``FEED_S`` with numpy, and at once wherever Locust reads them whole: before a worker's report to
the master (Locust serializes its statistics in that event) and when the test stops or Locust quits. Rows
pending when the statistics are reset (``--reset-stats``, the web UI's reset) are dropped with them.

Locust writes its ``--json-file`` and ``--html`` report itself once the test has stopped, from statistics that
hold every row by then; its ``--csv`` files it rewrites only each second from a greenlet, and never as it exits
(it just closes them: locust issue #2299), so they would miss the last batch. :func:`write_csv` rewrites them,
with Locust's own rows, once the last batch is in: when the test stops and when Locust quits (on a master, after
the suite has received its workers' final reports).

The figures are Locust's own, as its listener would have logged them: its ``response_time`` (not the suite's
service time), its buckets (``locust.stats.bucket_response_time``, replaced or not), requests per second by
completion time, and the per-second copies its current percentiles are read from. Failures still go to
Locust's ``log_error`` as they happen (rare, and they need the exception), so for up to ``FEED_S`` Locust's
failures may run ahead of its request count.
"""

from __future__ import annotations

import csv
import logging
from array import array

import gevent
import locust.stats
import numpy as np
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import RequestStats, StatsCSV, StatsEntry

from trademate_load import locust_compat

FEED_S = 0.5
ORIGINAL_BUCKETS = locust.stats.bucket_response_time
# Locust's --csv files (PREFIX_stats.csv, ...) and the StatsCSV method that writes each, header and rows
CSV_FILES = {
    "_stats.csv": StatsCSV.requests_csv,
    "_failures.csv": StatsCSV.failures_csv,
    "_exceptions.csv": StatsCSV.exceptions_csv,
}
logger = logging.getLogger(__name__)


class PendingRows:
    """Requests Locust's statistics have not counted yet, one row each: start (epoch s), Locust's response time
    (ms), the (name, method) entry's code and the response length; failures are passed on to ``log_error`` and a
    request without a response time to ``log_request``, as they happen."""

    __slots__ = ("_codes", "entry", "log_error", "log_request", "names", "nbytes", "response_ms", "ts")

    def __init__(self, stats: RequestStats):
        # entry codes as uint32: a locustfile that names requests by URL can make more than 65,535 of them
        self.ts, self.response_ms, self.entry, self.nbytes = array("d"), array("d"), array("I"), array("q")
        self.names: list[tuple[str, str]] = []  # code -> (name, method), the key of Locust's StatsEntry
        self._codes: dict[tuple[str, str], int] = {}
        self.log_error, self.log_request = stats.log_error, stats.log_request

    def code(self, name: str, method: str) -> int:
        code = self._codes.get((name, method))
        if code is None:
            code = self._codes[(name, method)] = len(self.names)
            self.names.append((name, method))
        return code

    def _columns(self) -> tuple[array, ...]:
        return self.ts, self.response_ms, self.entry, self.nbytes

    def take(self) -> tuple[np.ndarray, ...]:
        """The rows as numpy arrays (ts, response_ms, entry, nbytes); the columns are emptied."""
        columns = tuple(np.array(column) for column in self._columns())
        self.clear()
        return columns

    def clear(self) -> None:
        for column in self._columns():
            del column[:]


def buckets(response_ms: np.ndarray) -> np.ndarray:
    """Locust's histogram keys for these response times: ``bucket_response_time`` of each. Its own rule is
    applied with numpy below 100 ms (Python's ``round`` of a float and ``rint`` both round half to even), and as
    Python calls above, where ``round(x, -1)`` is decimal-exact, and wherever a locustfile replaced it."""
    keys = np.empty(len(response_ms), dtype=np.int64)
    fast = response_ms < 100 if locust.stats.bucket_response_time is ORIGINAL_BUCKETS else np.zeros(len(keys), bool)
    keys[fast] = np.rint(response_ms[fast])
    rest = np.flatnonzero(~fast)
    keys[rest] = [locust.stats.bucket_response_time(value) for value in response_ms[rest].tolist()]
    return keys


def add_rows(
    entry: StatsEntry, ends: np.ndarray, response_ms: np.ndarray, keys: np.ndarray, nbytes: np.ndarray
) -> None:
    """What ``entry.log(response_ms[i], nbytes[i])`` would have done for each row at its completion time
    ``ends[i]`` (epoch s), ``keys`` being the rows' :func:`buckets`: second by second, each second's rows merged by
    Locust's own ``StatsEntry.extend`` (as its master merges a worker's report), and the per-second copy for current
    percentiles taken as each second ends, as ``StatsEntry.log`` takes it (``extend`` would take it after the
    merge, at the batch's last second: the master's approximation, so it is asked not to)."""
    seconds = ends.astype(np.int64)
    for second in np.unique(seconds).tolist():
        rows = seconds == second
        last = entry.last_request_timestamp
        if entry.use_response_times_cache and last and second > int(last):
            locust_compat.cache_response_times(entry, second - 1)
        times = response_ms[rows]
        batch = StatsEntry(entry.stats, entry.name, entry.method)
        batch.start_time = entry.start_time
        batch.num_requests = batch.num_reqs_per_sec[second] = len(times)
        batch.last_request_timestamp = float(ends[rows].max())
        batch.total_response_time = float(times.sum())
        batch.min_response_time, batch.max_response_time = float(times.min()), float(times.max())
        bucket_keys, counts = np.unique(keys[rows], return_counts=True)
        batch.response_times.update(zip(bucket_keys.tolist(), counts.tolist(), strict=True))
        batch.total_content_length = int(nbytes[rows].sum())
        cache, entry.use_response_times_cache = entry.use_response_times_cache, False
        try:
            entry.extend(batch)
        finally:
            entry.use_response_times_cache = cache


class LocustStats:
    """Feeds one process's Locust statistics from :attr:`rows` (the collector appends to them)."""

    def __init__(self, stats: RequestStats):
        self.stats = stats
        self.rows = PendingRows(stats)
        self._greenlet: gevent.Greenlet | None = None

    def feed(self, **_kwargs) -> None:
        """Add the pending rows to Locust's entries (the total and one per name and method)."""
        if not len(self.rows.ts):
            return
        ts, response_ms, codes, nbytes = self.rows.take()
        ends = ts + response_ms / 1000.0  # when Locust's listener would have logged each
        keys = buckets(response_ms)
        stats = self.stats
        for code in np.unique(codes).tolist():
            name, method = self.rows.names[code]
            entry = stats.get(name, method)
            rows = codes == code
            if not entry.num_requests:  # created now or at a failure since: Locust's starts at its first request
                entry.start_time = min(entry.start_time, float(ends[rows][0]))
            add_rows(entry, ends[rows], response_ms[rows], keys[rows], nbytes[rows])
        add_rows(stats.total, ends, response_ms, keys, nbytes)

    def stop(self, environment: Environment, **_kwargs) -> None:
        """The test stopped, or Locust quits: the last rows in, then Locust's ``--csv`` files written with them."""
        self.feed()
        write_csv(environment)

    def drop(self, **_kwargs) -> None:
        """The statistics were reset: the pending rows are from before the reset and go with them."""
        self.rows.clear()

    def _run(self) -> None:
        while True:
            gevent.sleep(FEED_S)
            self.feed()

    def start(self) -> LocustStats:
        self._greenlet = gevent.spawn(self._run)
        return self


def write_csv(environment: Environment, **_kwargs) -> None:
    """Locust's ``--csv`` files of requests, failures and exceptions, rewritten from its statistics as they stand.
    Should Locust's own writer run again, it writes the same rows over them (from after its header, truncating)."""
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix or environment.runner is None:
        return
    writer = StatsCSV(environment, locust.stats.PERCENTILES_TO_REPORT)
    for suffix, write in CSV_FILES.items():
        try:
            with open(prefix + suffix, "w") as file:  # as Locust opens them: csv's \r\n line ends
                write(writer, csv.writer(file))
        except OSError as exc:
            logger.error("could not write %s: %s", prefix + suffix, exc)


def install(environment: Environment) -> LocustStats | None:
    """Replace the runner's per-request listener with a :class:`LocustStats`; ``None`` where there is nothing to
    replace (a master sends no requests; a Locust whose listeners are not found keeps its own). Either way, a
    master's or a local Locust's ``--csv`` files are written again as the test stops and as Locust quits."""
    events, runner = environment.events, environment.runner
    runner_listener = locust_compat.listener(events.request, locust_compat.RUNNER_LISTENER)
    report = locust_compat.listener(events.report_to_master, locust_compat.REPORT_LISTENER)
    if runner_listener is None or isinstance(runner, MasterRunner) or (isinstance(runner, WorkerRunner) and not report):
        if not isinstance(runner, WorkerRunner):
            events.test_stop.add_listener(write_csv)
            # quitting's listeners run last-registered first: this one after the suite's, which on a master
            # receives the workers' final reports
            events.quitting.add_listener(write_csv)
        return None
    feeder = LocustStats(runner.stats)
    events.request.remove_listener(runner_listener)
    if report is not None:  # a worker: the rows go in before Locust serializes its statistics
        events.report_to_master.remove_listener(report)
        events.report_to_master.add_listener(feeder.feed)
        events.report_to_master.add_listener(report)
    events.test_stop.add_listener(feeder.stop)
    events.quitting.add_listener(feeder.stop)
    events.reset_stats.add_listener(feeder.drop)
    if environment.reset_stats:  # the runner resets as spawning completes, in a listener that runs before this
        events.spawning_complete.add_listener(feeder.drop)
    return feeder.start()
