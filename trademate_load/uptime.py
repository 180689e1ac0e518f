"""Uptime: a tier's judged time cut into windows, each up, down or not judged, and the share of the time up.

The judged part of a run (after warm-up) is cut into windows of the SLA file's ``window`` from its start; the
last window is shorter when the judged time is not a whole number of windows. Each request belongs to the window
in which it was due (``intended_ts``: its scheduled start, which a late request keeps), so requests held up by a
stall count against the window of the stall, whenever they were sent or answered. A window is

- down, "no answer", when at least ``min_requests`` were due in it (or scheduled in it, for requests a blocked
  user never got to send) and not one was answered;
- not judged when fewer than ``min_requests`` were due: a window needs more than 1/error_rate requests, so that
  one failure cannot reach the error-rate limit, and at least 20, so that its p95 is not its slowest request;
- down when its p95 on the latency basis reaches the tier's p95 limit, or its error rate (failed requests, and
  open-model arrivals dropped, over those due) reaches the tier's error-rate limit;
- up otherwise.

Uptime is the up time over the judged (up and down) time, each window counted for its length; adjacent down
windows form one down stretch, reported with its start, end and cause. Pure numpy: nothing here imports locust.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trademate_load.formatting import iso
from trademate_load.sla_spec import TierSla
from trademate_load.stats import quantile_per_group

UP, DOWN, UNJUDGED = "up", "down", "unjudged"
TIMELINE_MARKS = {UP: "U", DOWN: "D", UNJUDGED: "-"}
NO_ANSWER, P95, ERROR_RATE = "no_answer", "p95", "error_rate"
MIN_P95_REQUESTS = 20  # the fewest requests whose nearest-rank p95 is not the slowest of them


@dataclass(frozen=True)
class UptimeRule:
    """What makes one of a tier's windows down: its length and the tier's p95 and error-rate limits."""

    window_s: float
    p95_ms: float | None = None
    error_rate: float | None = None

    @classmethod
    def of(cls, limits: TierSla) -> UptimeRule:
        return cls(limits.window_s, limits.p95_ms, limits.error_rate)

    @property
    def min_requests(self) -> int:
        """Requests a window needs to be judged, so that no single request decides it."""
        if not self.error_rate:
            return MIN_P95_REQUESTS
        return max(MIN_P95_REQUESTS, math.floor(1.0 / self.error_rate + 1e-9) + 1)


@dataclass(frozen=True)
class WindowVerdict:
    """One window of a tier: what was due and answered in it, its p95 and error rate, and its state."""

    start_ts: float
    end_ts: float
    due: int  # requests due in it: sent (answered or not) and, in an open model, dropped
    answered: int
    p95_ms: float | None
    error_rate: float | None
    state: str  # UP, DOWN or UNJUDGED
    causes: tuple[str, ...] = ()  # NO_ANSWER, P95, ERROR_RATE

    @property
    def duration_s(self) -> float:
        return self.end_ts - self.start_ts


@dataclass(frozen=True)
class DownStretch:
    """Adjacent down windows: when the tier was down, and why (their worst figures)."""

    start_ts: float
    end_ts: float
    cause: str
    windows: int


@dataclass(frozen=True)
class Uptime:
    """A tier's windows over the judged time, and what they add up to."""

    rule: UptimeRule
    windows: tuple[WindowVerdict, ...]

    def seconds(self, state: str) -> float:
        return sum((w.duration_s for w in self.windows if w.state == state), 0.0)

    @property
    def ratio(self) -> float | None:
        """Up time over judged time; None when no window could be judged."""
        up, down = self.seconds(UP), self.seconds(DOWN)
        return up / (up + down) if up + down > 0 else None

    def as_dict(self, required: float | None, origin_ts: float) -> dict[str, Any]:
        """As plain values (summary.json's ``uptime``): the ratio, a timeline mark per window (``U`` up, ``D``
        down, ``-`` not judged) and each down stretch with start and end (ISO-8601, and seconds since the run
        started at ``origin_ts``) and cause."""
        return {
            "ratio": None if self.ratio is None else round(self.ratio, 6),
            "required": required,
            "window_s": self.rule.window_s,
            "min_requests": self.rule.min_requests,
            "judged_s": round(self.seconds(UP) + self.seconds(DOWN), 3),
            "down_s": round(self.seconds(DOWN), 3),
            "unjudged_s": round(self.seconds(UNJUDGED), 3),
            "timeline": "".join(TIMELINE_MARKS[w.state] for w in self.windows),
            "down": [
                {
                    "start": iso(stretch.start_ts, "milliseconds"),
                    "end": iso(stretch.end_ts, "milliseconds"),
                    "start_s": round(stretch.start_ts - origin_ts, 3),
                    "end_s": round(stretch.end_ts - origin_ts, 3),
                    "cause": stretch.cause,
                    "windows": stretch.windows,
                }
                for stretch in self.stretches()
            ],
        }

    def stretches(self) -> list[DownStretch]:
        runs: list[list[WindowVerdict]] = []
        for window in self.windows:
            if window.state != DOWN:
                continue
            if runs and runs[-1][-1].end_ts == window.start_ts:
                runs[-1].append(window)
            else:
                runs.append([window])
        return [DownStretch(run[0].start_ts, run[-1].end_ts, describe(run, self.rule), len(run)) for run in runs]


def describe(windows: Sequence[WindowVerdict], rule: UptimeRule) -> str:
    """Why windows were down, with their worst figures: ``p95 812.3 ms (limit < 50 ms)``."""
    causes = {cause for w in windows for cause in w.causes}
    parts = []
    if NO_ANSWER in causes:
        due = sum(w.due for w in windows if NO_ANSWER in w.causes)
        parts.append(f"no answer ({due} requests due, none answered)" if due else "no answer (nothing sent)")
    if P95 in causes:
        worst = max(w.p95_ms for w in windows if P95 in w.causes)
        parts.append(f"p95 {worst:.1f} ms (limit < {rule.p95_ms:g} ms)")
    if ERROR_RATE in causes:
        worst = max(w.error_rate for w in windows if ERROR_RATE in w.causes)
        parts.append(f"error rate {worst * 100:.2f}% (limit < {rule.error_rate * 100:g}%)")
    return "; ".join(parts)


def window_edges(start_ts: float, end_ts: float, window_s: float) -> np.ndarray:
    """Window boundaries from ``start_ts`` every ``window_s`` to ``end_ts`` (the last window may be shorter)."""
    count = max(1, math.ceil((end_ts - start_ts) / window_s - 1e-9))
    return np.append(start_ts + np.arange(count) * window_s, end_ts)


def judge_windows(
    intended_ts: np.ndarray,
    latency_ms: np.ndarray,
    ok: np.ndarray,
    answered: np.ndarray,
    edges: np.ndarray,
    rule: UptimeRule,
    dropped: np.ndarray | None = None,
    scheduled: Callable[[float, float], float] | None = None,
) -> list[WindowVerdict]:
    """Every window between ``edges`` (see :func:`window_edges`) for one tier's requests, those due inside.

    ``answered``: the request got a response (status not 0); ``dropped``: arrivals dropped per window;
    ``scheduled(start_ts, end_ts)``: requests the profile scheduled then (None: unknown, as for the probe).
    """
    inside = (intended_ts >= edges[0]) & (intended_ts <= edges[-1])
    index = np.searchsorted(edges[1:-1], intended_ts[inside], side="right")
    count = len(edges) - 1
    sent = np.bincount(index, minlength=count)
    failed = np.bincount(index, weights=~ok[inside], minlength=count).astype(np.int64)
    got = np.bincount(index, weights=answered[inside], minlength=count).astype(np.int64)
    lost = np.zeros(count, np.int64) if dropped is None else np.asarray(dropped, np.int64)
    p95 = quantile_per_group(index, latency_ms[inside], sent, 0.95)  # NaN for a window with no request
    verdicts = []
    for i in range(count):
        start, end = float(edges[i]), float(edges[i + 1])
        due = int(sent[i] + lost[i])
        error_rate = (failed[i] + lost[i]) / due if due else None
        expected = max(due, scheduled(start, end) if scheduled is not None else 0.0)
        p95_i = None if math.isnan(p95[i]) else float(p95[i])
        if got[i] == 0 and expected >= rule.min_requests:
            state, causes = DOWN, (NO_ANSWER,)
        elif due < rule.min_requests:
            state, causes = UNJUDGED, ()
        else:
            causes = tuple(
                cause
                for cause, breached in (
                    (P95, rule.p95_ms is not None and p95_i is not None and p95_i >= rule.p95_ms),
                    (ERROR_RATE, rule.error_rate is not None and error_rate >= rule.error_rate),
                )
                if breached
            )
            state = DOWN if causes else UP
        verdicts.append(WindowVerdict(start, end, due, int(got[i]), p95_i, error_rate, state, causes))
    return verdicts


def dropped_per_window(edges: np.ndarray, per_second: Sequence[Sequence[int]]) -> np.ndarray:
    """Open-model arrivals dropped in each window, from ``[epoch second, count]`` pairs (a second counts in the
    window holding its middle, as the SLA engine counts it in the SLA window)."""
    dropped = np.zeros(len(edges) - 1, np.int64)
    for second, n in per_second:
        middle = second + 0.5
        if edges[0] <= middle <= edges[-1]:
            dropped[np.searchsorted(edges[1:-1], middle, side="right")] += int(n)
    return dropped


def tier_uptime(
    intended_ts: np.ndarray,
    latency_ms: np.ndarray,
    ok: np.ndarray,
    status: np.ndarray,
    start_ts: float,
    end_ts: float,
    rule: UptimeRule,
    dropped: Sequence[Sequence[int]] = (),
    scheduled: Callable[[float, float], float] | None = None,
) -> Uptime:
    """A tier's uptime over ``[start_ts, end_ts]`` from its requests' due times, latencies, success and status."""
    edges = window_edges(start_ts, end_ts, rule.window_s)
    windows = judge_windows(
        intended_ts, latency_ms, ok, status != 0, edges, rule, dropped_per_window(edges, dropped), scheduled
    )
    return Uptime(rule, tuple(windows))


class RunningUptime:
    """A tier's uptime while its run goes on: rows are kept until their window closes, then judged.

    Windows start at ``start_ts`` (the end of the warm-up); :meth:`close_until` judges every whole window that ends
    by a time (the caller leaves room for requests still in flight), :meth:`finish` the rest up to the run's end.
    A row due in a window already judged is not counted here (the verdict at the end counts it).
    """

    def __init__(self, start_ts: float, rule: UptimeRule, scheduled: Callable[[float, float], float] | None = None):
        self.start_ts, self.rule, self.scheduled = start_ts, rule, scheduled
        self.windows: list[WindowVerdict] = []
        self._rows: list[tuple[np.ndarray, ...]] = []

    @property
    def judged_until(self) -> float:
        return self.windows[-1].end_ts if self.windows else self.start_ts

    def add(self, intended_ts: np.ndarray, latency_ms: np.ndarray, ok: np.ndarray, answered: np.ndarray) -> None:
        keep = intended_ts >= self.judged_until
        if keep.any():
            self._rows.append((intended_ts[keep], latency_ms[keep], ok[keep], answered[keep]))

    def close_until(self, horizon_ts: float) -> None:
        whole = math.floor((horizon_ts - self.judged_until) / self.rule.window_s + 1e-9)
        if whole > 0:
            self._judge(self.judged_until + np.arange(whole + 1) * self.rule.window_s)

    def finish(self, end_ts: float) -> Uptime:
        if end_ts > self.judged_until:
            self._judge(window_edges(self.judged_until, end_ts, self.rule.window_s))
        return self.uptime()

    def uptime(self) -> Uptime:
        return Uptime(self.rule, tuple(self.windows))

    def _judge(self, edges: np.ndarray) -> None:
        rows = [np.concatenate(column) for column in zip(*self._rows, strict=True)] if self._rows else [np.empty(0)] * 4
        intended, latency, ok, answered = rows
        ok, answered = ok.astype(bool), answered.astype(bool)
        self.windows += judge_windows(intended, latency, ok, answered, edges, self.rule, scheduled=self.scheduled)
        later = intended > edges[-1]
        self._rows = [(intended[later], latency[later], ok[later], answered[later])] if later.any() else []
