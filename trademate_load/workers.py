"""The workers of a distributed run as the master saw them, and what losing one does to the verdict.

The master keeps a :class:`Roster`: per worker (Locust's client id) its process id, the samples it shipped,
when it last shipped, and how it ended:

- ``finished``: it left after the test stopped, its final report received: every sample it took is kept;
- ``quit``: it left while the test was still running (stopped on its own machine, say): every sample it took
  is kept, but its users stopped generating load when it left;
- ``missing``: Locust's heartbeat check lost it (killed, hung, cut off), or it never sent its final report:
  its samples up to its last shipment are kept, the rest are lost, and so is its load from then on;
- ``running``: still connected (only while the run lasts).

run.json and summary.json carry the list as ``workers``; what a lost worker does to the verdict is
:mod:`trademate_load.losses`'s job. Nothing here imports locust.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trademate_load.formatting import iso
from trademate_load.losses import LOST_STATES, MISSING


@dataclass
class WorkerRecord:
    """One worker as the master saw it."""

    id: str
    pid: int | None = None
    state: str = "running"
    samples: int = 0
    reports: int = 0
    last_shipment_ts: float | None = None
    lost_ts: float | None = None
    last_report_ts: float | None = None

    def as_dict(self, started_ts: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "state": self.state,
            "samples": self.samples,
            "reports": self.reports,
            "last_shipment_at": None if self.last_shipment_ts is None else iso(self.last_shipment_ts, "milliseconds"),
            "lost_at": None if self.lost_ts is None else iso(self.lost_ts, "milliseconds"),
            "lost_after_s": None if self.lost_ts is None else round(self.lost_ts - started_ts, 3),
        }


class Roster:
    """The workers of one run, updated from their reports and from the master's view of their connections."""

    def __init__(self) -> None:
        self.workers: dict[str, WorkerRecord] = {}

    def _record(self, worker_id: str) -> WorkerRecord:
        record = self.workers.get(worker_id)
        if record is None:
            record = self.workers[worker_id] = WorkerRecord(worker_id)
        return record

    def reported(self, worker_id: str, samples: int, pid: int | None, now: float) -> None:
        """A report from ``worker_id`` carrying ``samples`` samples."""
        record = self._record(worker_id)
        record.reports += 1
        record.last_report_ts = now
        record.pid = pid if pid is not None else record.pid
        if samples:
            record.samples += samples
            record.last_shipment_ts = now

    def observe(self, states: Mapping[str, str], now: float, test_stopped: bool) -> list[WorkerRecord]:
        """Take the master's connection states (client id -> Locust state); the workers newly lost.

        A worker that is no longer connected left ``finished`` once the test stopped, ``quit`` before; one
        Locust reports ``missing`` is lost; one that answers again after that is ``running`` once more, its
        ``lost_at`` kept.
        """
        newly_lost = []
        for worker_id, state in states.items():
            record = self._record(worker_id)
            if state == MISSING and record.state != MISSING:
                record.state, record.lost_ts = MISSING, now
                newly_lost.append(record)
            elif state != MISSING and record.state == MISSING:
                record.state = "running"
        for worker_id, record in self.workers.items():
            if worker_id not in states and record.state == "running":
                record.state = "finished" if test_stopped else "quit"
                if record.state == "quit":
                    record.lost_ts = now
                    newly_lost.append(record)
        return newly_lost

    def silent_since(self, ts: float) -> list[str]:
        """The workers not lost that have sent no report since ``ts``."""
        return [
            worker_id
            for worker_id, record in self.workers.items()
            if record.state not in LOST_STATES and (record.last_report_ts or 0.0) <= ts
        ]

    def give_up(self, worker_ids: list[str], now: float) -> None:
        """These workers never sent their final report: lost, their samples up to their last shipment kept."""
        for worker_id in worker_ids:
            record = self._record(worker_id)
            record.state, record.lost_ts = MISSING, record.lost_ts or now

    def as_list(self, started_ts: float) -> list[dict[str, Any]]:
        return [record.as_dict(started_ts) for record in self.workers.values()]
