"""Simulated runs of the early decisions: request streams drawn from stated distributions, judged second by second
by the tests a live run uses (:mod:`trademate_load.decisions`), many runs at once.

Each simulated run is one tier after its warm-up: ``rate`` requests a second for ``seconds``, latency lognormal
(a median and a p99), each request failing with a fixed probability, independently. Every second the checks of
the SLA are looked at, as the live feed looks at them; a run is aborted at the first look where a test decides a
check failed, and (for stop_when_decided) decided passing at the first look where every test has passed and the
point checks hold. It measures the false-abort rate of streams that meet the SLA, the miss rate of streams that
breach it, and the time to a decision. Nothing here imports locust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trademate_load.decisions import Rows, allowed_share, clipped, observations
from trademate_load.sequential import MeanEvidence, share_log_evidence, threshold
from trademate_load.sla_spec import TierSla

Z_99 = 2.3263478740408408  # the standard normal's 0.99 quantile
CHECKED = ("p95_ms", "p99_ms", "mean_ms", "success_rate", "error_rate", "compliance")  # what a stream decides


@dataclass(frozen=True)
class Stream:
    """Latency lognormal with ``median_ms`` and ``p99_ms``; each request fails with ``failure_rate``."""

    name: str
    median_ms: float
    p99_ms: float
    failure_rate: float

    @property
    def sigma(self) -> float:
        return math.log(self.p99_ms / self.median_ms) / Z_99

    def quantile(self, q: float) -> float:
        z = {0.95: 1.6448536269514722, 0.99: Z_99}[q]
        return self.median_ms * math.exp(self.sigma * z)

    @property
    def mean_ms(self) -> float:
        return self.median_ms * math.exp(self.sigma**2 / 2)

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Rows:
        latency = rng.lognormal(math.log(self.median_ms), self.sigma, shape)
        ok = rng.random(shape) >= self.failure_rate
        nothing = np.full(shape, np.nan)
        return Rows(latency, ok, nothing, np.full(shape, -1, np.int8), np.empty(shape, dtype=object))


@dataclass(frozen=True)
class Outcome:
    """What happened to each of the simulated runs."""

    aborted_at: np.ndarray  # seconds into the judged time of the look that aborted it (NaN: never)
    aborted_by: np.ndarray  # the check that did (empty string: none)
    passed_at: np.ndarray  # the look at which every check was settled passing (NaN: never)

    @property
    def abort_rate(self) -> float:
        return float(np.mean(~np.isnan(self.aborted_at)))

    def mean_time(self, times: np.ndarray) -> float | None:
        decided = times[~np.isnan(times)]
        return float(decided.mean()) if len(decided) else None


def simulate(
    stream: Stream,
    limits: TierSla,
    *,
    runs: int,
    seconds: int,
    rate: int,
    alpha: float = 0.05,
    timeout_ms: float = 1000.0,
    seed: int = 0,
) -> Outcome:
    """``runs`` runs of ``stream`` judged against ``limits`` (its checks in CHECKED that are set), every check
    watched, as stop_when_decided watches them: alpha is split over them all."""
    rng = np.random.default_rng(seed)
    metrics = [m for m in CHECKED if getattr(limits, m) is not None]
    tests = len(metrics)
    bar = threshold(alpha, tests)
    counted = {m: np.zeros(runs, np.int64) for m in metrics}
    bad = {m: np.zeros(runs, np.int64) for m in metrics}
    mean = MeanEvidence(limits.mean_ms / timeout_ms, (runs,)) if limits.mean_ms is not None else None
    latency_sum = np.zeros(runs)
    aborted_at, aborted_by = np.full(runs, np.nan), np.full(runs, "", dtype=object)
    passed_at = np.full(runs, np.nan)
    for second in range(1, seconds + 1):
        rows = stream.draw(rng, (runs, rate))
        passing = np.ones(runs, bool)
        for metric in metrics:
            limit = getattr(limits, metric)
            if metric == "mean_ms":
                mean.add(clipped(rows.latency_ms, timeout_ms))
                latency_sum += rows.latency_ms.sum(axis=-1)
                failed = mean.log_evidence() >= bar
                passing &= latency_sum / (second * rate) < limit  # holds on its point value
            else:
                counts, bads = observations(metric, limit, rows, limits.p95_ms)
                counted[metric] += counts.sum(axis=-1)
                bad[metric] += bads.sum(axis=-1)
                against, supporting = share_log_evidence(counted[metric], bad[metric], allowed_share(metric, limit))
                failed, passing = against >= bar, passing & (supporting >= bar)
            first = failed & np.isnan(aborted_at)
            aborted_at[first], aborted_by[first] = second, metric
        passed_at[passing & np.isnan(passed_at) & np.isnan(aborted_at)] = second
        if not np.isnan(aborted_at).any():
            break  # every run has ended
    return Outcome(aborted_at, aborted_by, passed_at)


def breaches(stream: Stream, limits: TierSla) -> list[str]:
    """The checks of CHECKED that ``stream`` breaches in truth (its distribution against the limits)."""
    truth = {
        "p95_ms": stream.quantile(0.95) >= (limits.p95_ms or math.inf),
        "p99_ms": stream.quantile(0.99) >= (limits.p99_ms or math.inf),
        "mean_ms": stream.mean_ms >= (limits.mean_ms or math.inf),
        "success_rate": limits.success_rate is not None and 1 - stream.failure_rate < limits.success_rate,
        "error_rate": limits.error_rate is not None and stream.failure_rate >= limits.error_rate,
    }
    return [metric for metric, breached in truth.items() if breached]


PREMIUM = TierSla(p95_ms=50, p99_ms=100, mean_ms=25, success_rate=0.9995, compliance=0.95, error_rate=0.01)
PASSING = Stream("meets the premium SLA with a margin: p99 80 ms, failures at half the allowance", 8.0, 80.0, 0.00025)
FAILING = (
    Stream("latency doubled: p95 about 82 ms against 50", 16.0, 160.0, 0.00025),
    Stream("failures at four times the allowance: 0.2% against 0.05%", 8.0, 80.0, 0.002),
)
