"""`make bench`, load generator: the suite's cost and accuracy as ratios measured side by side in one run.

    python scripts/bench_generator.py [--rounds 5] [--seconds 10] [--skip-accuracy]

Locust runs on one core and the target on another (``taskset``; ``scripts/bench_target.py``, a trivial
keep-alive HTTP server far faster than Locust, except for the accuracy runs, which use the reference API).
Each ratio is the median of the rounds' ratios.

1. Collector throughput (and the load generator's health monitor, beside the suite without it: goal >= 0.98):
   flat-out FastHttpUsers with the suite's full collector (its listener, Locust's
   statistics fed from it in batches, the Parquet spiller) against plain FastHttpUser with no listener of ours
   (Locust's own statistics listener only), and a naive tuple-append listener for reference. Goal >= 0.95.
   Beside it the whole suite: the collector and the suite's connections (kernel receive timestamps read with
   recvmsg, the pool's check without a yield: what keeps the generator's own delays out of service time),
   and the connections alone, each with its CPU per request. The variants take turns in half-second phases
   within one Locust process (scripts/bench_locustfile.py), since separate runs of one variant differed by up
   to 60% here.
2. Paced p99: the suite's locustfile at 1500 req/s (150 paced users) against one unpaced connection sending
   back to back, both on the trivial target, p99 of service time as the suite records it (to the kernel's
   receipt of the response: see trademate_load/connections.py). Goal <= 2x.
3. Percentile error: p50/p95/p99 of service time against the exact injected delays (the fault injector's
   seeded stream replayed: see tests/integration/test_accuracy.py). Goal <= 2% where the injected delay
   dominates the target's own ~1 ms (median 200 ms); the 20 ms run shows that 1 ms.
4. Bytes held per sample: Python's allocations (tracemalloc) while 100,000 requests are collected. Goal <= 40.
5. Locust's CPU share at 1500 req/s (one core = 100%), from /proc during the paced runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from bench_common import (
    ROOT,
    SCRIPTS,
    cpu_seconds,
    fake_credentials,
    generator_core,
    pin,
    suite_command,
    trivial_target,
    write_profile,
)

from trademate_load.stats import PERCENTILE_METHOD

FLAT_OUT_USERS = 10
PHASE_S = 0.5
PACED = {"shared": (100, 1000), "premium": (50, 500)}
WARMUP_S = 2.0


def flat_out(host: str, variants: list[str], seconds: float, work: Path, users: int = FLAT_OUT_USERS) -> dict:
    """One flat-out run of scripts/bench_locustfile.py, ``variants`` taking turns in PHASE_S phases for about
    ``seconds`` each after the warm-up: per variant req/s and CPU microseconds per request, and when the
    suite ran alone its samples' service p99 (in turns, the collector's samples mix with the suite's)."""
    stats, out = work / f"stats-{users}.json", work / f"samples-{users}.parquet"
    run_s = WARMUP_S + seconds * len(variants) + PHASE_S
    cmd = [
        *pin(generator_core()), sys.executable, "-m", "locust", "-f", str(SCRIPTS / "bench_locustfile.py"),
        "--headless", "--only-summary", "-u", str(users), "-r", str(users), "-t", f"{math.ceil(run_s)}s",
        "--host", host, "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {
        "BENCH_PHASES": ",".join(variants), "BENCH_PHASE_S": str(PHASE_S), "BENCH_WARMUP_S": str(WARMUP_S),
        "BENCH_OUT": str(out), "BENCH_STATS": str(stats),
    }  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT)
    result = {
        variant: {"rps": m["requests"] / m["wall_s"], "cpu_us": m["cpu_s"] / m["requests"] * 1e6}
        for variant, m in json.loads(stats.read_text()).items()
    }
    if variants == ["suite"]:
        frame = pd.read_parquet(out, columns=["ts", "latency_ms"])
        steady = frame[frame["ts"] >= frame["ts"].min() + WARMUP_S]
        result["suite"]["p99_ms"] = float(np.percentile(steady["latency_ms"], 99, method=PERCENTILE_METHOD))
    out.unlink(missing_ok=True)
    return result


def paced(host: str, seconds: int, work: Path) -> dict:
    """The suite's own locustfile at 1500 req/s: p99 of service and corrected time, and Locust's CPU share."""
    profile = write_profile(work / "paced.yaml", f"{seconds}s", PACED)
    report_dir = work / f"paced-{time.monotonic_ns()}"
    cmd = suite_command(profile, host, fake_credentials(work / "credentials.csv"), report_dir)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    readings = []
    while proc.poll() is None:
        try:
            readings.append((time.monotonic() - started, cpu_seconds(proc.pid)))
        except OSError:
            break
        time.sleep(0.25)
    # the load runs from about 2 s (start-up) to 2 s + seconds; take the middle of it
    steady = [(t, c) for t, c in readings if 2 + WARMUP_S + 1 <= t <= seconds]
    cpu = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) if len(steady) > 1 else math.nan
    summary = json.loads(next(report_dir.glob("*/summary.json")).read_text())
    frame = pd.read_parquet(next(report_dir.glob("*/samples.parquet")), columns=["ts", "latency_ms", "latency_co_ms"])
    window = frame[frame["ts"] >= summary["window"]["start_ts"]]
    return {
        "rps": sum(t["rps"] for t in summary["tiers"].values()),
        "p99_ms": float(np.percentile(window["latency_ms"], 99, method=PERCENTILE_METHOD)),
        "p99_co_ms": float(np.percentile(window["latency_co_ms"], 99, method=PERCENTILE_METHOD)),
        "cpu": cpu,
    }


def accuracy(median_ms: float, p99_ms: float, seed: int, work: Path) -> dict:
    """Service-time percentiles against the injected lognormal delays of the same requests."""
    from trademate_api.fault_plan import Z_99, random_stream
    from trademate_load.launcher import reference_api

    profile = write_profile(work / f"accuracy-{median_ms:g}.yaml", "20s", {"premium": (50, 100)})
    fault = ["--fault", f"latency=lognormal(median={median_ms:g}ms,p99={p99_ms:g}ms)", "--fault-seed", str(seed)]
    api_dir = work / f"api-{median_ms:g}"
    api_dir.mkdir()
    with reference_api(api_dir, extra_args=fault) as (url, credentials):
        report_dir = work / f"accuracy-{median_ms:g}"
        cmd = suite_command(profile, url, credentials, report_dir, "--stop-timeout", "5")
        subprocess.run(cmd, capture_output=True, cwd=ROOT)
    samples = pd.read_parquet(next(report_dir.glob("*/samples.parquet")), columns=["latency_ms"])
    draws = random_stream(seed, 1, "latency")
    mu, sigma = math.log(median_ms / 1000), math.log(p99_ms / median_ms) / Z_99
    injected = np.array([draws.lognormvariate(mu, sigma) for _ in range(len(samples))]) * 1000.0
    qs = (50, 95, 99)
    truth = np.percentile(injected, qs, method=PERCENTILE_METHOD)
    measured = np.percentile(samples["latency_ms"], qs, method=PERCENTILE_METHOD)
    return {
        "n": len(samples),
        "error": {q: float(m / t - 1) for q, m, t in zip(qs, measured, truth, strict=True)},
        "diff_ms": {q: float(m - t) for q, m, t in zip(qs, measured, truth, strict=True)},
    }


def held_bytes(n: int = 100_000) -> dict:
    """tracemalloc's count of what ``n`` collected requests hold: the suite's buffer against a naive tuple list."""
    from trademate_load.collector import Collector

    class Response:
        status_code = 200
        headers: ClassVar = {"server-timing": "app;dur=0.050, db;dur=0.010", "x-cache": "HIT"}

    context = {"tier": "premium", "plan": "ELITE", "intended_ts": 1.8e9}
    collector, rows = Collector(), []
    results = {}
    for name, append in (
        ("suite", lambda i: collector.on_request(
            request_type="GET", name="GET /a", response_time=1.0 + i * 1e-6, response_length=900,
            response=Response, context=context, exception=None, start_time=1.8e9 + i * 1e-3)),
        ("naive", lambda i: rows.append(
            (1.8e9 + i * 1e-3, "GET", "GET /a", 1.0 + i * 1e-6, 900, None, context))),
    ):  # fmt: skip
        append(0)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            append(i)
        results[name] = (tracemalloc.get_traced_memory()[0] - before) / n
        tracemalloc.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="length of each throughput and paced run")
    parser.add_argument("--skip-accuracy", action="store_true", help="skip the two runs against the reference API")
    args = parser.parse_args()
    print(f"Load generator benchmarks: Locust on core {generator_core()}, target on another; {args.rounds} rounds")
    variants = ["plain", "suite", "naive", "collector", "connections", "monitored"]
    ratios: dict[str, list[float]] = {"paced": []}
    cpu_ratios: dict[str, list[float]] = {}
    plain_rps, paced_runs, single_runs = [], [], []
    with tempfile.TemporaryDirectory(prefix="trademate-bench-") as tmp, trivial_target() as host:
        work = Path(tmp)
        for r in range(args.rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            runs = flat_out(host, order, args.seconds, work)
            plain_rps.append(runs["plain"]["rps"])
            for v in variants[1:]:
                ratios.setdefault(v, []).append(runs[v]["rps"] / runs["plain"]["rps"])
                cpu_ratios.setdefault(v, []).append(runs[v]["cpu_us"] / runs["plain"]["cpu_us"])
            pair = [("paced", lambda: paced(host, args.seconds, work)),
                    ("single", lambda: flat_out(host, ["suite"], args.seconds, work, users=1)["suite"])]  # fmt: skip
            got = dict((name, run()) for name, run in (pair if r % 2 == 0 else pair[::-1]))
            paced_runs.append(got["paced"])
            single_runs.append(got["single"])
            ratios["paced"].append(got["paced"]["p99_ms"] / got["single"]["p99_ms"])
            print(
                f"round {r + 1}: plain {runs['plain']['rps']:.0f} req/s, "
                + ", ".join(f"{v} {ratios[v][-1]:.3f}x (CPU {cpu_ratios[v][-1]:.3f}x)" for v in variants[1:])
                + f"; paced p99 {got['paced']['p99_ms']:.2f} ms ({got['paced']['rps']:.0f} req/s, "
                f"CPU {got['paced']['cpu']:.0%}) vs single connection p99 {got['single']['p99_ms']:.2f} ms",
                flush=True,
            )  # fmt: skip
        accuracies = {}
        if not args.skip_accuracy:
            for median, p99 in ((200.0, 800.0), (20.0, 80.0)):
                accuracies[median] = accuracy(median, p99, 11, work)
    held = held_bytes()
    med = statistics.median
    print()
    print(f"{'figure':<58} {'value':>9}  {'goal':<8} detail")
    print("-" * 120)
    print(
        f"{'collector throughput / plain FastHttpUser':<58} {med(ratios['collector']):>8.3f}x  {'>= 0.95':<8} "
        f"plain {med(plain_rps):.0f} req/s; CPU per request {med(cpu_ratios['collector']):.3f}x; "
        f"naive tuple listener {med(ratios['naive']):.3f}x"
    )
    print(
        f"{'suite (collector + connections) throughput / plain':<58} {med(ratios['suite']):>8.3f}x  {'':<8} "
        f"CPU per request {med(cpu_ratios['suite']):.3f}x; connections alone {med(ratios['connections']):.3f}x "
        f"(CPU {med(cpu_ratios['connections']):.3f}x)"
    )
    monitor = [m / s for m, s in zip(ratios["monitored"], ratios["suite"], strict=True)]
    monitor_cpu = [m / s for m, s in zip(cpu_ratios["monitored"], cpu_ratios["suite"], strict=True)]
    print(
        f"{'suite with the generator monitor / suite without':<58} {med(monitor):>8.3f}x  {'>= 0.98':<8} "
        f"CPU per request {med(monitor_cpu):.3f}x (loop-lag ticks every 10 ms, a freeze thread, /proc each second)"
    )
    print(
        f"{'paced p99 at 1500 req/s / unpaced single connection p99':<58} {med(ratios['paced']):>8.2f}x  {'<= 2':<8} "
        f"paced {med(p['p99_ms'] for p in paced_runs):.2f} ms (corrected "
        f"{med(p['p99_co_ms'] for p in paced_runs):.2f} ms), single {med(s['p99_ms'] for s in single_runs):.2f} ms"
    )
    for median, result in accuracies.items():
        worst = max(abs(e) for e in result["error"].values())
        label = f"percentile error vs injected lognormal (median {median:g} ms)"
        goal = "<= 2%" if median >= 100 else "(info)"
        detail = (
            "  ".join(f"p{q} {result['error'][q]:+.2%} ({result['diff_ms'][q]:+.2f} ms)" for q in result["error"])
            + f"; {result['n']} requests"
        )
        print(f"{label:<58} {worst:>8.2%}  {goal:<8} {detail}")
    print(f"{'bytes held per sample':<58} {held['suite']:>9.1f}  {'<= 40':<8} naive tuple list {held['naive']:.1f}")
    print(
        f"{'Locust CPU share at 1500 req/s (one core = 100%)':<58} {med(p['cpu'] for p in paced_runs):>9.0%}  "
        f"{'':<8} achieved {med(p['rps'] for p in paced_runs):.0f} req/s"
    )


if __name__ == "__main__":
    main()
