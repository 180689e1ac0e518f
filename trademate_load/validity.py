"""Did the run measure its target, or its own load generator? The validity rules and the counterfactual verdict
(docs/verdict.md, "Validity").

Each process's health rows (:mod:`trademate_load.health`) say, second by second, whether the generator could send
on time. A second is **unhealthy** for the generator when its loop lag p99 passes ``LAG_P99_MS``, the process froze
longer than ``FREEZE_MS``, or its CPU share reached ``CPU_SATURATED`` of a core: its own figures (how long it waited
for a CPU, and the machine's pressure, explain them). A second is **busy for the machine** when some task waited
for a CPU, or for storage, more than ``PRESSURE_SHARE`` of it (PSI, "some"), the hypervisor stole more than
``STEAL_SHARE`` of the CPUs, or the process froze.

A failed verdict is put to a counterfactual, the same SLA engine on what the generator could not have spoiled:

- a request due in an unhealthy second of the process that sent it loses its lateness (its corrected latency
  becomes its service time, which ends at the kernel's receipt of the answer and so does not wait for the
  generator's loop);
- a request that timed out while its process was unhealthy is left out (the answer may have come, unread);
- with the target on this machine (a loopback host), a request in flight during a second unhealthy for the machine
  is left out: the target shared that CPU;
- arrivals dropped, and windows that sent nothing, in an unhealthy second are not held against the target.

What the verdict then becomes is decided in :mod:`trademate_load.validity_verdict`; summary.json's ``generator``
section is built in :mod:`trademate_load.validity_figures` and put into words in :mod:`trademate_load.validity_text`.
Pure: plain values and frames in, plain values out; nothing here imports locust.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from trademate_load.health import COLUMNS
from trademate_load.sla import evaluate

LAG_P99_MS = 20.0  # quiet here at 1,500 req/s: 1-9 ms a second; starved beside four busy loops: 85-150 ms
FREEZE_MS = 50.0  # a native thread's 0.1 s sleep this late: the process stood still
CPU_SATURATED = 0.9  # of one core: the process had no CPU to spare
PRESSURE_SHARE = 0.25  # of the second, some runnable task waited for a CPU (quiet: 1-3%, 13% at most; starved: 85%)
STEAL_SHARE = 0.10  # of the CPUs' time taken by the hypervisor (quiet: about 1.5%)
RATE_TOLERANCE = 0.95  # a run that sent less than 95% of its profile's rate (less a request a user) cannot pass
LOOPBACK = ("localhost", "::1")


def _figure(second: Mapping[str, Any], name: str) -> np.ndarray:
    """A health figure (of one second, or of many as an array), missing ones as 0."""
    value = second.get(name)
    return np.nan_to_num(np.asarray(np.nan if value is None else value, dtype=np.float64))


def machine_busy(second: Mapping[str, Any]) -> np.ndarray:
    """Whether a second (or each of many) was unhealthy for the machine: CPU pressure, an I/O stall, steal or a
    freeze."""
    pressure, io, steal, freeze = (_figure(second, name) for name in ("pressure", "io", "steal", "freeze_max_ms"))
    return (pressure > PRESSURE_SHARE) | (io > PRESSURE_SHARE) | (steal > STEAL_SHARE) | (freeze > FREEZE_MS)


def unhealthy(second: Mapping[str, Any]) -> np.ndarray:
    """Whether a second (or each of many) was unhealthy for the load generator (the module docstring's rule): its
    own figures, not the machine's, so that of two processes on one machine only the starved one is blamed."""
    lag, cpu, freeze = (_figure(second, name) for name in ("lag_p99_ms", "cpu", "freeze_max_ms"))
    return (lag > LAG_P99_MS) | (cpu >= CPU_SATURATED) | (freeze > FREEZE_MS)


@dataclass(frozen=True)
class Health:
    """One process's rows as columns (``health.COLUMNS``; a figure its run did not record is NaN), with the spans
    each covers."""

    process: str
    columns: dict[str, np.ndarray]
    lag_ms: dict[str, float | None]

    @classmethod
    def of(
        cls, process: str, rows: list[list], lag_ms: dict | None, recorded: list[str] | tuple[str, ...] = COLUMNS
    ) -> Health:
        table = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
        table = table.reshape(len(rows), len(recorded))
        columns = {name: table[:, recorded.index(name)] if name in recorded else np.full(len(rows), np.nan)
                   for name in COLUMNS}  # fmt: skip
        return cls(process, columns, lag_ms or {"p50": None, "p99": None, "max": None})

    @property
    def end(self) -> np.ndarray:
        return self.columns["ts"]

    @property
    def start(self) -> np.ndarray:
        return self.columns["ts"] - self.columns["span_s"]

    @property
    def machine_busy(self) -> np.ndarray:
        return machine_busy(self.columns)

    @property
    def unhealthy(self) -> np.ndarray:
        return unhealthy(self.columns)

    def in_window(self, start_ts: float, end_ts: float) -> np.ndarray:
        return (self.end > start_ts) & (self.start < end_ts)

    def overlap_s(self, start_ts: float, end_ts: float) -> np.ndarray:
        """Seconds of each row inside ``[start_ts, end_ts]``."""
        return np.clip(np.minimum(self.end, end_ts) - np.maximum(self.start, start_ts), 0.0, None)

    def overlaps(self, flags: np.ndarray, start_ts: np.ndarray, end_ts: np.ndarray) -> np.ndarray:
        """Per interval ``[start_ts, end_ts]``: does it overlap a row flagged in ``flags``."""
        starts, ends = self.start[flags], self.end[flags]
        if not len(starts):
            return np.zeros(len(start_ts), bool)
        order = np.argsort(starts)
        starts, ends = starts[order], np.maximum.accumulate(ends[order])
        last = np.searchsorted(starts, end_ts, side="left") - 1  # the last flagged row starting before the end
        found = last >= 0
        found[found] = ends[last[found]] > start_ts[found]
        return found


def healths(run: Mapping[str, Any]) -> dict[str, Health]:
    """Each process's health from run.json (none for a run directory written before the monitor existed)."""
    generator = run.get("generator") or {}
    recorded = list(generator.get("columns") or [])
    if not {"ts", "span_s"} <= set(recorded):
        return {}
    return {
        process: Health.of(process, entry.get("rows") or [], entry.get("lag_ms"), recorded)
        for process, entry in (generator.get("processes") or {}).items()
    }


def is_loopback(host: str | None) -> bool:
    """Whether the target runs on this machine (it then shares the generator's CPUs)."""
    name = urlparse(host or "").hostname or ""
    return name in LOOPBACK or name.startswith("127.")


def spoiled(frame: pd.DataFrame, health: Mapping[str, Health], loopback: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: (its lateness may be the generator's, it is left out of the counterfactual)."""
    late, left_out = np.zeros(len(frame), bool), np.zeros(len(frame), bool)
    if not health or not len(frame):
        return late, left_out
    workers = frame["worker"].astype(str).to_numpy()
    ts, intended = frame["ts"].to_numpy(), frame["intended_ts"].to_numpy()
    answered_by = ts + frame["latency_ms"].to_numpy() / 1000.0
    timed_out = (frame["status"].to_numpy() == 0) & frame["error"].astype(str).str.startswith("TimeoutError").to_numpy()
    for process, h in health.items():
        mine = workers == process
        if not mine.any():
            continue
        late[mine] = h.overlaps(h.unhealthy, intended[mine], ts[mine])
        flight = h.overlaps(h.unhealthy, ts[mine], answered_by[mine])
        left_out[mine] = timed_out[mine] & flight
        if loopback:
            left_out[mine] |= h.overlaps(h.machine_busy, intended[mine], answered_by[mine])
    return late, left_out


def counterfactual(frame: pd.DataFrame, run: Mapping[str, Any], health: Mapping[str, Health]) -> pd.DataFrame:
    """The samples as the target alone would have made them (see the module docstring)."""
    late, left_out = spoiled(frame, health, is_loopback(run.get("host")))
    kept = frame.loc[~left_out].copy()
    excused = late[~left_out]
    kept.loc[excused, "latency_co_ms"] = kept.loc[excused, "latency_ms"]
    return kept


def unhealthy_spans(health: Mapping[str, Health], loopback: bool = False) -> list[tuple[float, float]]:
    """The seconds the generator could not send on time; with the target on this machine, also those the machine
    was busy (the target shared its CPUs and storage)."""
    return [
        (s, e)
        for h in health.values()
        for flagged in ([h.unhealthy, h.machine_busy] if loopback else [h.unhealthy])
        for s, e in zip(h.start[flagged], h.end[flagged], strict=True)
    ]


def overlapping(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    return any(s < end and e > start for s, e in spans)


def judge_counterfactual(frame: pd.DataFrame, run: Mapping[str, Any], health: Mapping[str, Health], inputs) -> Any:
    """The SLA verdict of the counterfactual samples, with drops and empty windows in unhealthy seconds excused (for
    a target on this machine, in the machine's busy seconds too: their requests were left out)."""
    tiers, sla, window, basis, strict, dropped, scheduled = inputs
    spans = unhealthy_spans(health, is_loopback(run.get("host")))
    dropped = {
        tier: [[s, n] for s, n in seconds if not overlapping(spans, s, s + 1)] for tier, seconds in dropped.items()
    }
    scheduled = {
        tier: (lambda a, b, f=schedule: 0.0 if overlapping(spans, a, b) else f(a, b))
        for tier, schedule in scheduled.items()
    }
    return evaluate(counterfactual(frame, run, health), tiers, sla, window, basis, strict, dropped, scheduled)
