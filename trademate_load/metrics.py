"""Prometheus exposition of the live figures, under the names agreed with the dashboards and alert rules.

Everything sits on a :class:`~prometheus_client.CollectorRegistry` of the suite's own (never the global one).
:class:`SuiteCollector` is a custom collector: a scrape reads :class:`~trademate_load.live.LiveBoard`'s latest
snapshot and :class:`LatencyTotals`' running counts, and computes nothing beyond formatting them.
:class:`LatencyTotals` is fed each batch of new samples the board reads (numpy bucket counts per tier and
endpoint, on the latency basis in force), so its histogram and counters span every run of the process.

- ``trademate_sla_compliance_ratio{tier}``, ``trademate_latency_p95_seconds{tier}``,
  ``trademate_latency_p99_seconds{tier}``: the rolling window (absent while it holds no sample)
- ``trademate_sla_p95_target_seconds{tier}``: the tier's p95 limit from the SLA file
- ``trademate_error_budget_remaining_ratio{tier}``: the run so far (after warm-up)
- ``trademate_uptime_ratio{tier}``: the run so far (its judged windows; absent before the first is judged)
- ``trademate_generator_lag_seconds{process}``, ``trademate_generator_cpu_ratio{process}``: each load-generator
  process's loop lag p99 and CPU share (of one core) over its last second measured
- ``trademate_request_latency_seconds{tier,endpoint}``: histogram
- ``trademate_requests_total{tier}``, ``trademate_request_failures_total{tier}``: counters

The master serves them at ``/metrics`` of the web UI and, when ``--metrics-port``/``METRICS_PORT`` is set, on
that port of 127.0.0.1 (:func:`serve`). Nothing here imports locust.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from trademate_load.live import LiveBoard
from trademate_load.live_tail import Batch

BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_BOUNDS = np.array(BUCKETS_S)
_LE = [*(f"{bound:g}" for bound in BUCKETS_S), "+Inf"]


class LatencyTotals:
    """Running request and failure counts per tier, and latency bucket counts and sums per (tier, endpoint)."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.buckets: dict[tuple[str, str], np.ndarray] = {}  # per-bucket (not cumulative) counts, +Inf last
        self.sums: dict[tuple[str, str], float] = {}

    def observe(self, batch: Batch, basis: str) -> None:
        """Count a batch of samples (a listener of :class:`~trademate_load.live.LiveBoard`)."""
        seconds = batch.latency(basis) / 1000.0
        bucket = np.searchsorted(_BOUNDS, seconds, side="left")  # first bound >= the value: Prometheus' le
        codes, inverse = np.unique(batch.key, return_inverse=True)
        for i, code in enumerate(codes):
            tier, _plan, endpoint, _worker = batch.keys[code]
            mine = inverse == i
            n = int(mine.sum())
            self.requests[tier] = self.requests.get(tier, 0) + n
            self.failures[tier] = self.failures.get(tier, 0) + n - int(batch.ok[mine].sum())
            label = (tier, endpoint)
            counts = np.bincount(bucket[mine], minlength=len(_LE))
            self.buckets[label] = self.buckets.get(label, 0) + counts
            self.sums[label] = self.sums.get(label, 0.0) + float(seconds[mine].sum())


class SuiteCollector:
    """The suite's metrics, read from the board's snapshot and the totals at each scrape."""

    def __init__(self, board: LiveBoard, totals: LatencyTotals):
        self.board, self.totals = board, totals

    def collect(self) -> Iterator[Metric]:
        snapshot = self.board.snapshot
        gauges = {
            "compliance": GaugeMetricFamily(
                "trademate_sla_compliance_ratio",
                "Share of the tier's requests in the rolling window that succeeded within its p95 target",
                labels=["tier"],
            ),
            "p95": GaugeMetricFamily(
                "trademate_latency_p95_seconds", "Exact p95 latency over the rolling window", labels=["tier"]
            ),
            "p99": GaugeMetricFamily(
                "trademate_latency_p99_seconds", "Exact p99 latency over the rolling window", labels=["tier"]
            ),
            "target": GaugeMetricFamily(
                "trademate_sla_p95_target_seconds", "The tier's p95 limit from the SLA file", labels=["tier"]
            ),
            "budget": GaugeMetricFamily(
                "trademate_error_budget_remaining_ratio",
                "Share of the tier's error budget left over the run so far (after warm-up)",
                labels=["tier"],
            ),
            "uptime": GaugeMetricFamily(
                "trademate_uptime_ratio",
                "Share of the tier's judged time (after warm-up, in the SLA file's windows) that was up",
                labels=["tier"],
            ),
        }
        for tier, figures in snapshot["tiers"].items():
            window, run = figures["window"], figures["run"]
            values = {
                "compliance": window["sla_compliance"],
                "p95": _seconds(window["latency_ms"]["p95"]),
                "p99": _seconds(window["latency_ms"]["p99"]),
                "target": _seconds(figures["limits"]["p95_ms"]),
                "budget": run["error_budget_left_ratio"],
                "uptime": figures["uptime"]["ratio"],
            }
            for name, value in values.items():
                if value is not None:
                    gauges[name].add_metric([tier], value)
        yield from gauges.values()
        yield from self._generator(snapshot.get("generator") or {})
        yield from self._counters()
        yield self._histogram()

    def _generator(self, generator: dict[str, dict]) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "trademate_generator_lag_seconds",
            "The load generator's event-loop lag p99 over its last second (how late a due greenlet ran)",
            labels=["process"],
        )
        cpu = GaugeMetricFamily(
            "trademate_generator_cpu_ratio", "The load generator process's CPU share of one core over its last second",
            labels=["process"],
        )  # fmt: skip
        for process, second in sorted(generator.items()):
            if second.get("lag_p99_ms") is not None:
                lag.add_metric([process], second["lag_p99_ms"] / 1000.0)
            cpu.add_metric([process], second["cpu"])
        yield lag
        yield cpu

    def _counters(self) -> Iterator[Metric]:
        totals = self.totals
        requests = CounterMetricFamily("trademate_requests", "Requests the load generator sent", labels=["tier"])
        failures = CounterMetricFamily(
            "trademate_request_failures", "Requests that failed (error status, no answer, timeout)", labels=["tier"]
        )
        for tier in sorted(totals.requests):
            requests.add_metric([tier], totals.requests[tier])
            failures.add_metric([tier], totals.failures.get(tier, 0))
        yield requests
        yield failures

    def _histogram(self) -> Metric:
        histogram = HistogramMetricFamily(
            "trademate_request_latency_seconds",
            "Request latency as the suite measures it (the latency basis in force: corrected by default)",
            labels=["tier", "endpoint"],
        )
        for (tier, endpoint), counts in sorted(self.totals.buckets.items()):
            cumulative = np.cumsum(counts)
            histogram.add_metric(
                [tier, endpoint],
                buckets=[(le, float(n)) for le, n in zip(_LE, cumulative, strict=True)],
                sum_value=self.totals.sums[(tier, endpoint)],
            )
        return histogram


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def build_registry(board: LiveBoard) -> CollectorRegistry:
    """A registry of the suite's own holding its collector; the board feeds the latency totals from now on."""
    totals = LatencyTotals()
    board.listeners.append(totals.observe)
    registry = CollectorRegistry()
    registry.register(SuiteCollector(board, totals))
    return registry


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``registry`` at http://host:port/metrics (a daemon thread; a greenlet under gevent)."""
    start_http_server(port, addr=host, registry=registry)
