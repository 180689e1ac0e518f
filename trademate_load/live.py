"""The live figures of a run, per tier, every second: over a rolling window and over the run so far.

On the master (or the one local process) :class:`LiveBoard` reads the rows the collector's buffer gained since its
last look (:class:`~trademate_load.live_tail.BufferTail`, which never drains it) and feeds the run in progress,
:class:`LiveRun`. For each tier a run keeps the rolling window's samples (the profile's ``live_window``, default
30 s) and the run-so-far tally (the SLA window: after warm-up), :mod:`trademate_load.live_scope`.

Each second :meth:`LiveRun.update` turns them into a snapshot (plain values): per tier and scope (``window``,
``run``) the figures and point checks of :func:`~trademate_load.live_scope.scope_figures`, on the latency basis in
force. The window ends ``settle_s`` before now: requests still in flight, and workers' samples still on their way,
would otherwise look like missing traffic. It covers the warm-up while that lasts, and never reaches back into it
afterwards. Each tier's uptime so far (:class:`~trademate_load.uptime.RunningUptime`) and the state of every
check's early decision (:mod:`trademate_load.decisions`) go into the snapshot too. Open-model arrivals dropped at
the in-flight bound are not counted here (the verdict counts them).

The snapshot feeds the web UI's SLA tab (:mod:`trademate_load.webtab`), the Prometheus collector
(:mod:`trademate_load.metrics`) and the run's early end (:mod:`trademate_load.live_watch`: the profile's
``abort_on_fail`` and ``stop_when_decided``, and the greenlet that polls and updates). Nothing here imports locust.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from trademate_load.decisions import Decisions, Rows
from trademate_load.live_scope import RollingWindow, RunTally, scope_figures
from trademate_load.live_tail import Batch, BufferTail
from trademate_load.live_watch import check_end
from trademate_load.profile import Profile
from trademate_load.record import SampleBuffer
from trademate_load.sla_figures import latency_stats
from trademate_load.uptime import RunningUptime, Uptime, UptimeRule

SETTLE_S = 1.0  # the window ends this long before now (requests in flight)


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
        :func:`~trademate_load.live_watch.check_end`)."""
        self.poll()
        if self.run is None or self.run.end_ts is not None:  # no run yet, or its figures are final
            return None
        snapshot = self.run.update(now)
        snapshot["generator"] = self.generator()
        ended = check_end(self.run, snapshot, now)
        self.snapshot = snapshot
        return ended

    def ends_at(self, ended_ts: float) -> None:
        """The run began to stop at ``ended_ts``: rows read from now on (a worker's, sent before it heard of the stop)
        count only up to then, as the summary's window does; the figures are computed once more at :meth:`finish`."""
        if self.run is not None and self.run.end_ts is None:
            self.run.end_ts = ended_ts

    def finish(self, ended_ts: float) -> dict[str, Any]:
        """The run ended at ``ended_ts``: read its last rows (call before the buffer's final drain), freeze it."""
        if self.run is None:
            return self.snapshot
        self.run.end_ts = ended_ts
        self.poll()
        self.snapshot = {**self.run.update(ended_ts), "generator": self.generator()}
        return self.snapshot
