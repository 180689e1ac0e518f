"""The live branch: SLA figures per tier, every second, over a rolling window and over the run so far.

On the master (or the one local process) :class:`LiveBoard` reads the rows the collector's buffer gained
since its last look. :class:`BufferTail` follows the buffer across the spiller's swaps and never drains it,
so neither the request path nor the Parquet spill does any extra work; on a master the buffer already holds
the workers' shipped samples. For each tier a run keeps the rolling window's samples (the profile's
``live_window``, default 30 s) and, for the run so far (the SLA window: after warm-up), counts and every
latency to the microsecond as distinct values with their counts, so its memory follows the spread of the
latencies, not the length of the run.

Each second :meth:`LiveRun.update` turns them into a snapshot (plain values): per tier and scope
(``window``, ``run``) requests, req/s against the tier's target, mean, p95 and p99 (exact nearest-rank, through
:mod:`trademate_load.sla`'s functions, on the latency basis in force), success rate, compliance (the share
that succeeded within the p95 target) and the error budget, each check with a pass flag decided on its point
value (the verdict at the end also weighs confidence intervals). req/s passes at ``RPS_TOLERANCE`` of the
target or more; the error budget passes while some of it is left. The window ends ``settle_s`` before now:
requests still in flight, and workers' samples still on their way, would otherwise look like missing traffic.
It covers the warm-up while that lasts, and never reaches back into it afterwards. Each tier's uptime so far
(:class:`~trademate_load.uptime.RunningUptime`) and the state of every check's early decision
(:mod:`trademate_load.decisions`) go into the snapshot too.
Open-model arrivals dropped at the in-flight bound are not counted here (the verdict counts them).

The snapshot feeds the web UI's SLA tab (:mod:`trademate_load.webtab`), the Prometheus collector
(:mod:`trademate_load.metrics`) and the run's early end (:meth:`LiveRun.check_end`: the profile's
``abort_on_fail`` and ``stop_when_decided``). :class:`LiveFeed` is the greenlet that polls and updates; the plugin
starts it and decides how to stop a run. Nothing here imports locust.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import numpy as np
from gevent.event import Event

from trademate_load.decisions import Decisions, Rows, early_end
from trademate_load.profile import Profile, TierLoad
from trademate_load.record import Columns, SampleBuffer, copy_rows, decode
from trademate_load.sla import PERCENTILE_METHOD, Check, error_budget, latency_stats
from trademate_load.sla_spec import TierSla
from trademate_load.uptime import RunningUptime, Uptime, UptimeRule

RPS_TOLERANCE = 0.95  # req/s passes at 95% of the tier's target or more
POLL_S = 0.25  # how often the buffer's new rows are read (slices of its columns)
UPDATE_S = 1.0  # how often the figures are recomputed
SETTLE_S = 1.0  # the window ends this long before now (requests in flight)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch(Columns):
    """Rows read from a buffer, decoded by :func:`trademate_load.record.decode` (start and due times, latency on both
    bases, success, status, DB time, cache outcome, key codes), and the key table the codes index. Their error codes
    are not read here: a batch may span a swap, and each buffer has its own error table."""

    keys: list[tuple[str, str, str, str]]  # the collector's (tier, plan, endpoint, worker) table, append-only

    def latency(self, basis: str) -> np.ndarray:
        return self.latency_co_ms if basis == "corrected" else self.latency_ms


class BufferTail:
    """Reads the rows appended to a collector's buffer since the last read, across its swaps, without draining it.

    A swap moves the column arrays into the swapped-out buffer, complete; the reader keeps them until it has
    read their last rows. It must read at least once between two swaps (it polls every ``POLL_S``; the spiller
    swaps at most every half second, and the plugin reads before the final drain).
    """

    def __init__(self, buffer: SampleBuffer):
        self.buffer = buffer
        self.skip()

    def skip(self) -> None:
        """Forget everything appended so far: the next read starts here."""
        self._columns = self.buffer.arrays()
        self._seen = len(self._columns[0])

    def read(self) -> Batch:
        current = self.buffer.arrays()
        parts = []
        if current[0] is not self._columns[0]:
            parts.append(copy_rows(self._columns, self._seen))
            self._columns, self._seen = current, 0
        part = copy_rows(current, self._seen)
        self._seen += len(part[0])
        parts.append(part)
        rows = decode([np.concatenate(column) for column in zip(*parts, strict=True)])
        return Batch(**vars(rows), keys=self.buffer.keys.keys)


class RollingWindow:
    """One tier's recent samples (start time, latency, success), in chunks as they were read."""

    def __init__(self, span_s: float):
        self.span_s = span_s
        self.chunks: deque[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = deque()

    def add(self, ts: np.ndarray, latency: np.ndarray, ok: np.ndarray) -> None:
        if len(ts):
            self.chunks.append((ts, latency, ok, float(ts.max())))

    def rows(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Samples that started in [start, end]; chunks wholly older than ``start`` are let go."""
        while self.chunks and self.chunks[0][3] < start:
            self.chunks.popleft()
        if not self.chunks:
            return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
        ts, latency, ok = (np.concatenate(column) for column in list(zip(*self.chunks, strict=True))[:3])
        keep = (ts >= start) & (ts <= end)
        return ts[keep], latency[keep], ok[keep]


class RunTally:
    """One tier's run so far: counts, the latency sum and maximum, and every latency to the microsecond."""

    def __init__(self) -> None:
        self.requests = self.succeeded = self.within = 0
        self.latency_sum = 0.0
        self.latency_max = -math.inf
        self.last_ts = -math.inf  # the latest start time counted
        self.values_us = np.empty(0, dtype=np.int64)  # distinct latencies in whole microseconds, sorted
        self.counts = np.empty(0, dtype=np.int64)

    def add(self, ts: np.ndarray, latency: np.ndarray, ok: np.ndarray, within: np.ndarray) -> None:
        if not len(latency):
            return
        self.last_ts = max(self.last_ts, float(ts.max()))
        self.requests += len(latency)
        self.succeeded += int(ok.sum())
        self.within += int(within.sum())
        self.latency_sum += float(latency.sum())
        self.latency_max = max(self.latency_max, float(latency.max()))
        values, counts = np.unique(np.rint(latency * 1000.0).astype(np.int64), return_counts=True)
        at = np.searchsorted(self.values_us, values)
        known = at < len(self.values_us)
        known[known] = self.values_us[at[known]] == values[known]
        np.add.at(self.counts, at[known], counts[known])
        self.values_us = np.insert(self.values_us, at[~known], values[~known])
        self.counts = np.insert(self.counts, at[~known], counts[~known])

    def latency_ms(self) -> dict[str, float | None]:
        """mean, p50, p95, p99 and max as :func:`trademate_load.sla.latency_stats` gives them (to the microsecond)."""
        if not self.requests:
            return latency_stats(np.empty(0))
        p50, p95, p99 = np.percentile(self.values_us, [50, 95, 99], method=PERCENTILE_METHOD, weights=self.counts)
        return {
            "mean": self.latency_sum / self.requests,
            "p50": float(p50) / 1000.0,
            "p95": float(p95) / 1000.0,
            "p99": float(p99) / 1000.0,
            "max": self.latency_max,
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def scope_figures(
    requests: int,
    succeeded: int,
    within: int,
    latency_ms: dict[str, float | None],
    duration_s: float,
    load: TierLoad,
    limits: TierSla,
) -> dict[str, Any]:
    """The figures of one tier over one scope, and their checks (point values against the SLA's limits)."""
    measured = duration_s > 0
    budget = error_budget(requests, requests - succeeded, limits.success_rate) if requests else None
    figures = {
        "requests": requests,
        "failures": requests - succeeded,
        "duration_s": max(duration_s, 0.0),
        "rps": requests / duration_s if measured else None,
        "latency_ms": latency_ms,
        "success_rate": succeeded / requests if requests else None,
        "sla_compliance": within / requests if requests else None,
        "error_budget": budget,
        "error_budget_left_ratio": None if budget is None else max(0.0, 1.0 - budget["burned"]),
    }
    wanted = (
        ("rps", ">=", load.rps * RPS_TOLERANCE, figures["rps"]),
        ("p95_ms", "<", limits.p95_ms, latency_ms["p95"]),
        ("p99_ms", "<", limits.p99_ms, latency_ms["p99"]),
        ("mean_ms", "<", limits.mean_ms, latency_ms["mean"]),
        ("success_rate", ">=", limits.success_rate, figures["success_rate"]),
        ("sla_compliance", ">=", limits.compliance, figures["sla_compliance"]),
        ("error_budget", "<", 1.0 if budget is not None else None, None if budget is None else budget["burned"]),
    )
    checks = [Check(name, op, limit, actual) for name, op, limit, actual in wanted if limit is not None]
    figures["checks"] = [
        {"name": c.name, "op": c.op, "limit": c.limit, "actual": _finite(c.actual), "passed": c.passed} for c in checks
    ]
    if budget is not None:
        figures["error_budget"] = {k: _finite(v) for k, v in budget.items()}
    return figures


class LiveRun:
    """The live figures of one run: its tiers' rolling windows, run-so-far tallies and uptime, and its decisions."""

    def __init__(
        self,
        *,
        run_id: str,
        profile: Profile,
        started_ts: float,
        run_time_s: float,
        settle_s: float = SETTLE_S,
    ):
        self.run_id, self.profile, self.basis = run_id, profile, profile.latency
        self.tiers, self.limits = profile.tiers, {tier: profile.sla.tiers[tier] for tier in profile.tiers}
        self.started_ts, self.warmup_s = started_ts, profile.warmup_for(run_time_s)
        self.window_s, self.settle_s = profile.live_window_s, settle_s
        self.end_ts: float | None = None
        self.windows = {tier: RollingWindow(self.window_s) for tier in self.tiers}
        self.tallies = {tier: RunTally() for tier in self.tiers}
        self.uptimes = {
            tier: RunningUptime(self.sla_start_ts, UptimeRule.of(self.limits[tier]), self._schedule(tier))
            for tier in self.tiers
        }
        watched = None if profile.stop_when_decided else profile.abort_on_fail
        judged_s = run_time_s - self.warmup_s
        self.decisions = Decisions.build(self.tiers, profile.sla, profile.decision_alpha, watched, judged_s)
        self.ends_early = bool(profile.abort_on_fail) or profile.stop_when_decided
        self.ended_early: dict[str, Any] | None = None  # the record of an early end: aborted, or decided
        self._tier_names = list(self.tiers)
        self._key_tiers = np.empty(0, dtype=np.int16)  # key code -> index in _tier_names (-1: another tier)
        self._key_endpoints = np.empty(0, dtype=object)  # key code -> endpoint name

    @property
    def sla_start_ts(self) -> float:
        return self.started_ts + self.warmup_s

    def _schedule(self, tier: str):
        return lambda start, end: self.profile.scheduled_requests(tier, start - self.started_ts, end - self.started_ts)

    def _key_columns(self, keys: list[tuple[str, str, str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """Per key code: the index of its tier in _tier_names (-1: another tier), and its endpoint."""
        if len(self._key_tiers) < len(keys):
            index = {tier: i for i, tier in enumerate(self._tier_names)}
            new = keys[len(self._key_tiers) :]
            self._key_tiers = np.concatenate([self._key_tiers, np.array([index.get(k[0], -1) for k in new], np.int16)])
            self._key_endpoints = np.concatenate([self._key_endpoints, np.array([k[2] for k in new], dtype=object)])
        return self._key_tiers, self._key_endpoints

    def add(self, batch: Batch) -> None:
        """Take a batch of new samples into each tier's window and, once past warm-up, its run-so-far figures."""
        if not len(batch):
            return
        key_tiers, key_endpoints = self._key_columns(batch.keys)
        tier_index = key_tiers[batch.key]
        latency = batch.latency(self.basis)
        counted = batch.ts >= self.sla_start_ts
        if self.end_ts is not None:
            counted &= batch.ts <= self.end_ts
        for i, tier in enumerate(self._tier_names):
            mine = tier_index == i
            if not mine.any():
                continue
            ts, lat, ok = batch.ts[mine], latency[mine], batch.ok[mine]
            self.windows[tier].add(ts, lat, ok)
            self.uptimes[tier].add(batch.intended_ts[mine], lat, ok, batch.status[mine] != 0)
            keep = counted[mine]
            lat, ok = lat[keep], ok[keep]
            self.tallies[tier].add(ts[keep], lat, ok, self._within(tier, lat, ok))
            rows = Rows(lat, ok, batch.db_ms[mine][keep], batch.cache[mine][keep], key_endpoints[batch.key[mine][keep]])
            self.decisions.add(tier, rows, self.limits[tier].p95_ms)

    def _within(self, tier: str, latency: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Succeeded within the tier's p95 target (every success when it has none), as sla.evaluate counts it."""
        p95 = self.limits[tier].p95_ms
        return ok if p95 is None else ok & (latency < p95)

    def _uptime(self, end: float) -> dict[str, Uptime]:
        """Each tier's uptime so far: windows judged once every request due in them has had its client timeout to
        be answered; at the run's end, every window up to it."""
        for tier, running in self.uptimes.items():
            if self.end_ts is not None:
                running.finish(self.end_ts)
            else:
                running.close_until(end - self.tiers[tier].timeout_s)
        return {tier: running.uptime() for tier, running in self.uptimes.items()}

    def update(self, now: float) -> dict[str, Any]:
        """The snapshot at ``now`` (at the run's end once :meth:`finish` set it)."""
        end = self.end_ts if self.end_ts is not None else now - self.settle_s
        tiers = {}
        floor = self.sla_start_ts if end >= self.sla_start_ts else self.started_ts  # never warm-up and after
        uptimes = self._uptime(end)
        decisions = self.decisions.states(uptimes)
        for tier, load in self.tiers.items():
            start = max(end - self.window_s, floor)
            _, latency, ok = self.windows[tier].rows(start, end)
            within = self._within(tier, latency, ok)
            window = scope_figures(
                len(latency),
                int(ok.sum()),
                int(within.sum()),
                latency_stats(latency),
                end - start,
                load,
                self.limits[tier],
            )
            tally = self.tallies[tier]
            run = scope_figures(
                tally.requests,
                tally.succeeded,
                tally.within,
                tally.latency_ms(),
                max(end, tally.last_ts) - self.sla_start_ts,  # it counts every sample read, the newest too
                load,
                self.limits[tier],
            )
            limits = {name: getattr(self.limits[tier], name) for name in ("p95_ms", "p99_ms", "mean_ms")}
            limits |= {"success_rate": self.limits[tier].success_rate, "compliance": self.limits[tier].compliance}
            tiers[tier] = {
                "target_rps": load.rps,
                "limits": limits,
                "window": window,
                "run": run,
                "uptime": uptimes[tier].as_dict(self.limits[tier].uptime, self.started_ts),
                "decisions": [d for d in decisions if d["tier"] == tier],
            }
        return {
            "state": "stopped" if self.end_ts is not None else "running",
            "run_id": self.run_id,
            "profile": self.profile.name,
            "latency_basis": self.basis,
            "window_s": self.window_s,
            "warmup_s": self.warmup_s,
            "elapsed_s": max(end - self.started_ts, 0.0),
            "measured_s": max(end - self.sla_start_ts, 0.0),
            "updated_ts": now,
            "decision_alpha": self.profile.decision_alpha,
            "tiers": tiers,
            "aborted": self.ended_early if self.ended_early and self.ended_early["outcome"] == "fail" else None,
            "decided": self.ended_early if self.ended_early and self.ended_early["outcome"] == "pass" else None,
        }

    def check_end(self, snapshot: dict[str, Any], now: float) -> dict[str, Any] | None:
        """A new record when the run should end early: a watched check decided failed (abort_on_fail, or any check
        with stop_when_decided), or every check settled (stop_when_decided). Looks start once warm-up is over."""
        if not self.ends_early or self.ended_early is not None or self.end_ts is not None:
            return None
        if now - self.settle_s < self.sla_start_ts:
            return None
        uptimes = {tier: running.uptime() for tier, running in self.uptimes.items()}
        record = early_end(self.decisions, uptimes, self.profile.stop_when_decided, self.started_ts)
        if record is not None:
            self.ended_early = {**record, "at_s": round(now - self.settle_s - self.started_ts, 1)}
            snapshot["aborted" if record["outcome"] == "fail" else "decided"] = self.ended_early
        return self.ended_early


IDLE = {"state": "idle", "tiers": {}, "aborted": None, "decided": None}


class LiveBoard:
    """The live view of one process: reads the collector's buffer, feeds the run in progress and the listeners.

    ``listeners`` get every batch read (with the latency basis in force), whether a run is in progress or not:
    the Prometheus histogram and counters, which span every run of the process.
    """

    def __init__(self, buffer: SampleBuffer, generator: Callable[[], dict[str, dict]] = dict):
        self.tail = BufferTail(buffer)
        self.run: LiveRun | None = None
        self.snapshot: dict[str, Any] = dict(IDLE)
        self.listeners: list[Callable[[Batch, str], None]] = []
        self.generator = generator  # each load-generator process's last second of health (see health.latest)

    @property
    def basis(self) -> str:
        return self.run.basis if self.run is not None else "corrected"

    def start(self, run: LiveRun) -> None:
        """A new run: what the buffer held before it is not part of it."""
        self.tail.skip()
        self.run = run
        self.snapshot = run.update(time.time())

    def poll(self) -> None:
        batch = self.tail.read()
        if len(batch):
            for listener in self.listeners:
                listener(batch, self.basis)
            if self.run is not None:
                self.run.add(batch)

    def update(self, now: float) -> dict[str, Any] | None:
        """Read, recompute the snapshot; the record of an early end when one was just decided (see
        :meth:`LiveRun.check_end`)."""
        self.poll()
        if self.run is None or self.run.end_ts is not None:  # no run yet, or its figures are final
            return None
        snapshot = self.run.update(now)
        snapshot["generator"] = self.generator()
        ended = self.run.check_end(snapshot, now)
        self.snapshot = snapshot
        return ended

    def finish(self, ended_ts: float) -> dict[str, Any]:
        """The run ended at ``ended_ts``: read its last rows (call before the buffer's final drain), freeze it."""
        if self.run is None:
            return self.snapshot
        self.run.end_ts = ended_ts
        self.poll()
        self.snapshot = {**self.run.update(ended_ts), "generator": self.generator()}
        return self.snapshot


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
