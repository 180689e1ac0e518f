"""What losing a worker of a distributed run does to its verdict, from the ``workers`` list run.json keeps.

A worker lost (``missing``: Locust's heartbeat check lost it, or it never sent its final report; ``quit``: it
left while the test still ran) means the profile's load was not generated for part of the run: a run that would
pass (or be inconclusive) becomes ``incomplete``, exit 3 (could not measure at the profile's load); a breach stays
a breach (exit 1), with the lost worker named in its reason. Pure: plain values in and out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trademate_load.verdict import EXIT_NO_DATA, EXIT_PASS, with_finding

MISSING = "missing"  # Locust's own name for a worker whose heartbeats stopped
LOST_STATES = ("missing", "quit")


def lost_workers(workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [w for w in workers if w["state"] in LOST_STATES]


def describe_lost(worker: Mapping[str, Any]) -> str:
    """``worker vm_a1b2 (pid 123) missing at <ISO>, 40.2 s into the run: 1800 samples kept (up to its ...)``."""
    pid = f" (pid {worker['pid']})" if worker.get("pid") is not None else ""
    when = f" at {worker['lost_at']}" if worker.get("lost_at") else ""
    after = f", {worker['lost_after_s']:g} s into the run" if worker.get("lost_after_s") is not None else ""
    shipped = worker.get("last_shipment_at")
    kept = "all" if worker["state"] != MISSING else f"up to its last shipment at {shipped}" if shipped else "none"
    return f"worker {worker['id']}{pid} {worker['state']}{when}{after}: {worker['samples']} samples kept ({kept})"


def apply(summary: dict[str, Any], workers: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary with its ``workers`` list; a lost worker turns a pass (or inconclusive) into ``incomplete``."""
    summary = {**summary, "workers": workers}
    lost = lost_workers(workers)
    if not lost:
        return summary
    note = "lost " + "; ".join(describe_lost(w) for w in lost)
    note += ": the profile's load was not generated from then on, so this run cannot show the SLA holds"
    return with_finding(summary, note, (EXIT_PASS,), "incomplete", EXIT_NO_DATA)
