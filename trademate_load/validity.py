"""Did the run measure its target, or its own load generator? The validity verdict (docs/verdict.md, "Validity").

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

If no check fails any more, every failure is one the generator could explain: the verdict is ``invalid`` (exit 3),
never ``fail``. If a check still fails, the target breached on its own time: ``fail`` stands. A run that sent
less than ``RATE_TOLERANCE`` of its profile's rate cannot pass: a pass or an inconclusive verdict becomes
``invalid``. Pure: plain values and frames in, plain values out; nothing here imports locust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from trademate_load.formatting import fixed, percent
from trademate_load.health import COLUMNS
from trademate_load.profile import TierLoad, scheduled_requests
from trademate_load.sla import evaluate
from trademate_load.stats import exact_quantiles
from trademate_load.verdict import EXIT_BREACH, EXIT_NO_DATA, EXIT_PASS

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


def _overlapping(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    return any(s < end and e > start for s, e in spans)


def judge_counterfactual(frame: pd.DataFrame, run: Mapping[str, Any], health: Mapping[str, Health], inputs) -> Any:
    """The SLA verdict of the counterfactual samples, with drops and empty windows in unhealthy seconds excused (for
    a target on this machine, in the machine's busy seconds too: their requests were left out)."""
    tiers, sla, window, basis, strict, dropped, scheduled = inputs
    spans = unhealthy_spans(health, is_loopback(run.get("host")))
    dropped = {
        tier: [[s, n] for s, n in seconds if not _overlapping(spans, s, s + 1)] for tier, seconds in dropped.items()
    }
    scheduled = {
        tier: (lambda a, b, f=schedule: 0.0 if _overlapping(spans, a, b) else f(a, b))
        for tier, schedule in scheduled.items()
    }
    return evaluate(counterfactual(frame, run, health), tiers, sla, window, basis, strict, dropped, scheduled)


def _stat(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {"mean": None, "max": None}
    return {"mean": round(float(finite.mean()), 4), "max": round(float(finite.max()), 4)}


def describe(frame: pd.DataFrame, run: Mapping[str, Any], health: Mapping[str, Health]) -> dict[str, Any]:
    """summary.json's ``generator``: per process its figures over the judged time, per tier intended and achieved
    req/s (``valid`` and ``reason`` are filled in by :func:`apply`)."""
    start, end = run["started_ts"] + run["warmup_s"], run["ended_ts"]
    duration = max(end - start, 1e-9)
    loads = run["settings"]["tiers"]
    stages = run["settings"].get("stages") or []
    in_window = ((frame["ts"] >= start) & (frame["ts"] <= end)).to_numpy()
    workers = frame["worker"].astype(str).to_numpy()
    tier_of = frame["tier"].astype(str).to_numpy()
    lateness_ms = (frame["ts"] - frame["intended_ts"]).to_numpy() * 1000.0
    processes = {}
    for process, h in health.items():
        judged = h.in_window(start, end)
        span = h.overlap_s(start, end)[judged]
        c = {name: values[judged] for name, values in h.columns.items()}
        tiers = {}
        for tier, load in loads.items():
            users = c.get(f"users_{tier}", np.zeros(0))
            intended = float((users * span).sum() / duration) * load["rps"] / load["users"] if len(span) else 0.0
            mine = in_window & (workers == process) & (tier_of == tier)
            if not mine.any() and not intended:
                continue
            late = lateness_ms[mine]
            p50, p99 = exact_quantiles(late, (0.50, 0.99)) if len(late) else (math.nan, math.nan)
            tiers[tier] = {
                "intended_rps": round(intended, 2),
                "achieved_rps": round(int(mine.sum()) / duration, 2),
                "lateness_ms": {"p50": _finite(p50), "p99": _finite(p99)},
            }
        processes[process] = {
            "lag_ms": h.lag_ms,
            "freeze_max_ms": _finite(np.nanmax(c["freeze_max_ms"], initial=0.0)),
            "cpu": _stat(c["cpu"]),
            "wait": _stat(c["wait"]),
            "pressure": _stat(c["pressure"]),
            "steal": _stat(c["steal"]),
            "io": _stat(c["io"]),
            "judged_s": round(float(span.sum()), 3),
            "unhealthy_s": round(float(span[h.unhealthy[judged]].sum()), 3),
            "machine_busy_s": round(float(span[h.machine_busy[judged]].sum()), 3),
            "tiers": tiers,
        }
    spans = unhealthy_spans(health)
    tiers = {}
    for tier, load in loads.items():
        intended = scheduled_requests(
            TierLoad(**load), stages, tier, start - run["started_ts"], end - run["started_ts"]
        )
        seconds = (run.get("dropped") or {}).get(tier) or []
        in_run = [(s, n) for s, n in seconds if start <= s + 0.5 <= end]
        by_generator = sum(n for s, n in in_run if _overlapping(spans, s, s + 1))
        sent = int((in_window & (tier_of == tier)).sum())
        tiers[tier] = {
            "intended_rps": round(intended / duration, 2),
            "achieved_rps": round(sent / duration, 2),
            "dropped_by_generator": by_generator,
            "dropped_at_bound": sum(n for _, n in in_run) - by_generator,
            # each user may lose the request it had in flight when the run stopped
            "short": sent < RATE_TOLERANCE * intended - load["users"],
        }
    return {
        "valid": None,
        "reason": None,
        "processes": processes,
        "tiers": tiers,
        "thresholds": {
            "lag_p99_ms": LAG_P99_MS,
            "freeze_ms": FREEZE_MS,
            "cpu": CPU_SATURATED,
            "pressure": PRESSURE_SHARE,
            "steal": STEAL_SHARE,
            "rate": RATE_TOLERANCE,
        },
    }


def _finite(value: float) -> float | None:
    return round(float(value), 3) if value is not None and math.isfinite(value) else None


def health_line(generator: Mapping[str, Any]) -> str:
    """``Load generator healthy: local loop lag p50 0.5 / p99 3.6 / max 73.6 ms, CPU 55% ...``: one line."""
    if not generator.get("processes"):
        return "Load generator: not measured (a run directory from before the monitor)"
    parts = []
    for process, p in generator["processes"].items():
        lag = p["lag_ms"]
        figures = [
            f"loop lag p50 {fixed(lag['p50'], 1)} / p99 {fixed(lag['p99'], 1)} / max {fixed(lag['max'], 1)} ms",
            f"CPU {percent(p['cpu']['mean'], 0)}",
            f"waited for a CPU {percent(p['wait']['mean'], 0)}",
            f"machine CPU pressure {percent(p['pressure']['mean'], 0)}",
            f"steal {percent(p['steal']['mean'], 0)}",
            f"I/O pressure {percent(p['io']['mean'], 0)}",
        ]
        unhealthy = f"{p['unhealthy_s']:.0f} of {p['judged_s']:.0f} s unhealthy"
        parts.append(f"{process} {', '.join(figures)}; {unhealthy}")
    rates = ", ".join(
        f"{tier} {t['achieved_rps']:.1f} of {t['intended_rps']:g} req/s" for tier, t in generator["tiers"].items()
    )
    state = {True: "healthy", False: "INVALID", None: "measured"}[generator.get("valid")]
    return f"Load generator {state}: " + "; ".join(parts) + f"; sent {rates}"


def blame(generator: Mapping[str, Any], culprits: list[str]) -> str:
    """The ``culprits`` with their figures, and what the run sent: ``load generator local unhealthy 25 of 25 s: loop
    lag p99 152.5 ms (max 494.3), CPU 20%, waited for a CPU 80%, machine CPU pressure 85%, steal 1%; sent shared
    401.2 of 1000 req/s, premium 200.4 of 500 req/s``."""
    named = []
    for process in culprits:
        p = generator["processes"][process]
        what = "load generator" if process in ("local", "master") else "load generator worker"
        lag = p["lag_ms"]
        busy = f" (its machine busy {p['machine_busy_s']:.0f} s)" if p["machine_busy_s"] else ""
        named.append(
            f"{what} {process} unhealthy {p['unhealthy_s']:.0f} of {p['judged_s']:.0f} s{busy}: loop lag p99 "
            f"{fixed(lag['p99'], 1)} ms (max {fixed(lag['max'], 1)}), CPU {percent(p['cpu']['mean'], 0)}, "
            f"waited for a CPU {percent(p['wait']['mean'], 0)}, machine CPU pressure "
            f"{percent(p['pressure']['mean'], 0)}, steal {percent(p['steal']['mean'], 0)}, I/O pressure "
            f"{percent(p['io']['mean'], 0)}"
        )
    sent = ", ".join(
        f"{tier} {t['achieved_rps']:.1f} of {t['intended_rps']:g} req/s" for tier, t in generator["tiers"].items()
    )
    return "; ".join([*named, f"sent {sent}"]) if named else f"the load generator sent {sent}"


def short_tiers(generator: Mapping[str, Any]) -> list[str]:
    """Tiers that sent less than RATE_TOLERANCE of their intended rate (and a request a user, lost at the stop)."""
    return [tier for tier, t in generator["tiers"].items() if t.get("short")]


def explaining(frame, run, health: Mapping[str, Health], inputs, generator: Mapping[str, Any]) -> list[str] | None:
    """The fewest processes (the unhealthiest first) without whose spoiled samples no check fails; None when even
    all of them leave a check failing (the target breached on its own time)."""
    ranked = sorted(
        (p for p, figures in generator["processes"].items() if figures["unhealthy_s"] or figures["machine_busy_s"]),
        key=lambda p: -(generator["processes"][p]["unhealthy_s"] + generator["processes"][p]["machine_busy_s"]),
    )
    for count in range(1, len(ranked) + 1):
        chosen = {p: health[p] for p in ranked[:count]}
        remaining = judge_counterfactual(frame, run, chosen, inputs)
        if not any(check.status == "failed" for _, check in remaining.checks):
            return ranked[:count]
    return None


def short_processes(generator: Mapping[str, Any]) -> list[str]:
    """Processes that sent less than RATE_TOLERANCE of what their own users intended, in some tier."""
    return [
        process
        for process, figures in generator["processes"].items()
        if any(
            t["intended_rps"] and t["achieved_rps"] < RATE_TOLERANCE * t["intended_rps"]
            for t in figures["tiers"].values()
        )
    ]


def apply(summary: dict[str, Any], frame: pd.DataFrame, run: Mapping[str, Any], inputs) -> dict[str, Any]:
    """The summary with its ``generator`` section, and the verdict made ``invalid`` where the generator explains
    every failure, or the run sent too little to pass."""
    health = healths(run)
    if not health:
        return {**summary, "generator": {"valid": None, "reason": "not measured", "processes": {}, "tiers": {}}}
    generator = describe(frame, run, health)
    code, reason = summary["exit_code"], None
    if code == EXIT_BREACH:
        culprits = explaining(frame, run, health, inputs, generator)
        if culprits is not None:
            reason = f"{blame(generator, culprits)}; every failure is one it could have caused ({summary['reason']})"
    if reason is None and short_tiers(generator) and code in (EXIT_PASS, EXIT_BREACH) and summary["verdict"] != "fail":
        culprits = short_processes(generator) or [
            p for p, figures in generator["processes"].items() if figures["unhealthy_s"]
        ]
        reason = (
            f"{blame(generator, culprits)}: less than {RATE_TOLERANCE:.0%} of the profile's rate, so it cannot pass"
        )
    generator["valid"] = reason is None
    generator["reason"] = reason or "the load generator kept up: it explains no failure"
    summary = {**summary, "generator": generator}
    if reason is None:
        return summary
    return {**summary, "verdict": "invalid", "exit_code": EXIT_NO_DATA, "reason": reason}
