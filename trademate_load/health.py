"""The load generator's health, second by second: the row a process records each second, and its summaries.

Each process measures itself with :class:`trademate_load.monitor.HealthMonitor`; each second becomes one row of
``COLUMNS`` (``None`` for a figure the machine does not report):

- ``lag_p50_ms``, ``lag_p99_ms``, ``lag_max_ms``: how late a greenlet that wakes every 10 ms woke (how long any
  greenlet due then, a user due to send, a response due to be read, waited for the event loop);
- ``freeze_max_ms``: how late a native thread woke from its 0.1 s sleeps (the whole process standing still);
- ``cpu``: the process's CPU time over the second (1.0: one core, busy all the time); ``wait``: the share of the
  second its event loop's thread was ready to run but waited for a CPU;
- ``pressure`` and ``io``: the share of the second during which some task on the machine waited for a CPU, or for
  storage (Linux PSI, "some"); ``steal``: the share of the CPUs' time the hypervisor took;
- ``users_shared``, ``users_premium``: the users running in the process (for the rate it intends to send);
- ``ticks``: how many loop-lag ticks the second holds. Every tick's lag is kept too (float32, about 400 bytes a
  second), so that a run's loop-lag percentiles are exact over the seconds it judges.

Workers ship rows and ticks to the master with their samples; run.json keeps them with their ``columns``. What the
rows mean for a verdict is :mod:`trademate_load.validity`'s job. Nothing here imports locust or gevent.
"""

from __future__ import annotations

import numpy as np

from trademate_load.stats import exact_quantiles

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
    p50, p99 = exact_quantiles(values, (0.50, 0.99))
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "max": round(float(values.max()), 3)}
