"""Benchmark of the early decisions (abort_on_fail, stop_when_decided) on simulated runs.

For request streams that meet the premium SLA (with a margin, and exactly at the p95 limit) and streams that breach
it, 1,000 simulated 270 s runs each (a premium run's judged time, at its 500 req/s), looked at every second as the
live feed looks: the false-abort rate, the miss rate (breaching runs never aborted), the mean time to an abort and
the share and mean time of runs decided passing (stop_when_decided). Beside it, the rule the sequential test
replaced, on the same kind of streams: a 30 s rolling window's p95 looked at every second, stopping at the first
look above the limit (and after it stays above for 10 s), which aborts runs that meet the SLA.

    python scripts/bench_decisions.py [--runs 1000] [--rate 500] [--seconds 270]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trademate_load.simulation import FAILING, PASSING, PREMIUM, Stream, simulate
from trademate_load.sla_spec import TierSla

Z_95 = 1.6448536269514722


def stream_with_p95(p95_ms: float, name: str) -> Stream:
    """The passing stream's shape (its sigma), scaled so its p95 is ``p95_ms``; no failures."""
    median = p95_ms / math.exp(Z_95 * PASSING.sigma)
    return Stream(name, median, median * PASSING.p99_ms / PASSING.median_ms, 0.0)


def rolling_rule(stream: Stream, limit_ms: float, runs: int, seconds: int, rate: int, grace_s: int, window_s: int = 30):
    """Share of runs the replaced rule aborts: the rolling window's p95 above the limit for ``grace_s`` looks."""
    rng = np.random.default_rng(7)
    recent = np.empty((runs, 0))
    failing_for = np.zeros(runs, int)
    aborted = np.zeros(runs, bool)
    for _ in range(seconds):
        latency = stream.draw(rng, (runs, rate)).latency_ms
        recent = np.concatenate([recent, latency], axis=1)[:, -window_s * rate :]
        above = np.percentile(recent, 95, axis=1, method="inverted_cdf") >= limit_ms
        failing_for = np.where(above, failing_for + 1, 0)
        aborted |= failing_for > grace_s
    return float(aborted.mean())


def row(values: list[str]) -> str:
    return f"{values[0]:<62}" + "".join(f"{value:>14}" for value in values[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=270)
    args = parser.parse_args()
    p95_only = TierSla(p95_ms=PREMIUM.p95_ms)
    cases = [  # (stream, the SLA it is judged against, what it is in truth)
        (PASSING, PREMIUM, "meets"),
        (stream_with_p95(47.5, "p95 5% under the limit (47.5 ms), no failures"), p95_only, "meets"),
        (stream_with_p95(50.0, "p95 exactly on the limit (50 ms), no failures"), p95_only, "on the limit"),
        (stream_with_p95(55.0, "p95 10% over the limit (55 ms), no failures"), p95_only, "breaches"),
        *((stream, PREMIUM, "breaches") for stream in FAILING),
    ]
    print(
        f"Early decisions on {args.runs} simulated runs each: {args.seconds} s at {args.rate} req/s, looked at every "
        "second; alpha 0.05 over the tests judged (6 for the premium SLA, 1 for its p95 alone)"
    )
    print(row(["stream", "truth", "aborted", "mean to abort", "decided pass", "mean to pass", "took"]))
    wrong: dict[str, list[float]] = {"meets": [], "breaches": []}
    for stream, limits, truth in cases:
        started = time.perf_counter()
        outcome = simulate(stream, limits, runs=args.runs, seconds=args.seconds, rate=args.rate, seed=1)
        to_abort, to_pass = outcome.mean_time(outcome.aborted_at), outcome.mean_time(outcome.passed_at)
        passed = float(np.mean(~np.isnan(outcome.passed_at)))
        if truth in wrong:
            wrong[truth].append(outcome.abort_rate if truth == "meets" else 1.0 - outcome.abort_rate)
        values = [
            stream.name[:62],
            truth,
            f"{outcome.abort_rate:.1%}",
            "-" if to_abort is None else f"{to_abort:.1f} s",
            f"{passed:.1%}",
            "-" if to_pass is None else f"{to_pass:.1f} s",
            f"{time.perf_counter() - started:.1f} s",
        ]
        print(row(values))
    print(
        f"false-abort rate (streams that meet the SLA): at most {max(wrong['meets']):.2%}; "
        f"miss rate (streams that breach it, by the end of the run): at most {max(wrong['breaches']):.2%}"
    )
    runs = min(args.runs, 200)
    print(f"\nThe rule it replaced (a 30 s rolling p95 looked at every second), {runs} runs at 100 req/s:")
    for stream, _, _ in cases[:2]:
        rates = [rolling_rule(stream, PREMIUM.p95_ms, runs, args.seconds, 100, grace) for grace in (0, 10)]
        sequential = simulate(stream, p95_only, runs=runs, seconds=args.seconds, rate=100, seed=2).abort_rate
        print(
            f"  {stream.name[:62]:<62} false aborts: {rates[0]:.1%} at the first look above, {rates[1]:.1%} after "
            f"10 s above; the sequential test {sequential:.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
