"""Distributed soak: a master and two workers at 1500 req/s; does the master keep up and stay flat in memory?

    python scripts/bench_distributed.py [--run-time 3m] [--every 5]

Runs the mixed model (100 shared users at 1000 req/s, 50 premium at 500 req/s) through the suite's own
locustfile with ``--processes 2`` (a master and two forked workers) against the trivial target
(``scripts/bench_target.py``, pinned to the last core). Every ``--every`` seconds it prints the master's
resident memory and CPU share (of one core), and the samples per second the master received from the workers
and spilled to ``samples.parquet``; then the memory growth over the steady part (after the first minute) as
MB per hour, the mean rates, and whether every received sample was written. The counts come from a small
probe locustfile loaded beside the suite's (``-f trademate.py,probe.py``): on the master it counts the samples
in each worker report and reads the run's sample store; it prints one line per interval.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import LOCUSTFILE, cpu_seconds, fake_credentials, rss_mb, trivial_target, write_profile

from trademate_load.config import parse_duration
from trademate_load.launcher import worker_options

STEADY_AFTER_S = 60.0
PROBE = '''"""Bench probe (master only): samples received from workers and spilled, printed every {every} s."""
import time

import gevent
from locust import events
from locust.runners import MasterRunner


@events.init.add_listener
def _probe(environment, **_kwargs):
    if not isinstance(environment.runner, MasterRunner):
        return
    received = [0]

    def on_report(client_id, data, **_kwargs):
        payload = data.get("trademate_samples")
        if payload is not None:
            received[0] += len(payload["ts"]) // 8

    def loop():
        spilled = 0
        while True:
            gevent.sleep({every})
            run = environment.trademate.run
            if run is not None and run.store is not None:
                spilled = run.store.rows
            print(f"BENCH {{time.time():.3f}} received={{received[0]}} spilled={{spilled}}", flush=True)

    environment.events.worker_report.add_listener(on_report)
    gevent.spawn(loop)
'''
PROBE_LINE = re.compile(r"BENCH (\S+) received=(\d+) spilled=(\d+)")


def run_distributed(run_time: str, every_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="trademate-dist-") as tmp, trivial_target() as host:
        work = Path(tmp)
        profile = write_profile(work / "dist.yaml", run_time, {"shared": (100, 1000), "premium": (50, 500)})
        probe = work / "probe.py"
        probe.write_text(PROBE.format(every=every_s))
        cmd = [sys.executable, "-m", "locust", "-f", f"{LOCUSTFILE},{probe}", "--headless", "--only-summary"]
        cmd += worker_options(2)
        cmd += ["--profile", str(profile), "--host", host]
        cmd += ["--credentials", str(fake_credentials(work / "credentials.csv")), "--report-dir", str(work / "r")]
        log = (work / "master.out").open("w")
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.DEVNULL)
        planned = parse_duration(run_time, "--run-time", "run_time")
        series, last_cpu = [], (started, 0.0, 0.0)
        print(f"{'elapsed':>8} {'master RSS':>11} {'master CPU':>11} {'workers CPU':>12} ", end="")
        print(f"{'received/s':>11} {'spilled/s':>10}")
        seen = 0
        while proc.poll() is None:
            time.sleep(every_s)
            now = time.monotonic()
            try:
                rss, cpu = rss_mb(proc.pid), cpu_seconds(proc.pid)
            except OSError:
                break
            if np.isnan(rss):  # exiting
                break
            workers_cpu = _children_cpu_seconds(proc.pid)
            share = (cpu - last_cpu[1]) / (now - last_cpu[0])
            workers_share = max(workers_cpu - last_cpu[2], 0.0) / (now - last_cpu[0])  # 0 once they exit
            last_cpu = (now, cpu, workers_cpu)
            probes = PROBE_LINE.findall((work / "master.out").read_text())
            rates = _rates(probes[seen - 1 :] if seen else probes)
            seen = len(probes)
            series.append((now - started, rss, share, *rates, workers_share))
            print(
                f"{now - started:7.0f}s {rss:8.1f} MB {share * 100:10.1f}% {workers_share * 100:11.1f}% "
                f"{rates[0]:11.0f} {rates[1]:10.0f}",
                flush=True,
            )
        proc.wait()
        ended = time.monotonic() - started
        log.close()
        probes = PROBE_LINE.findall((work / "master.out").read_text())
        rows, verdict = None, None
        for parquet in (work / "r").glob("*/samples.parquet"):
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(parquet).metadata.num_rows
            summary = json.loads((parquet.parent / "summary.json").read_text())
            verdict = f"{summary['verdict']}: {summary['reason']}"
        return {
            "series": series,
            "probes": [(float(t), int(r), int(s)) for t, r, s in probes],
            "planned_s": planned,
            "ended_s": ended,
            "rows": rows,
            "verdict": verdict,
            "exit": proc.returncode,
        }


def _children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the master's child processes (the workers) so far."""
    total = 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(OSError):  # a worker that just exited
            total += cpu_seconds(int(child))
    return total


def _rates(probes: list[tuple[str, str, str]]) -> tuple[float, float]:
    """Samples per second received and spilled between the first and last of ``probes`` (0 with fewer than two)."""
    if len(probes) < 2:
        return 0.0, 0.0
    (t0, r0, s0), (t1, r1, s1) = [(float(t), int(r), int(s)) for t, r, s in (probes[0], probes[-1])]
    span = max(t1 - t0, 1e-9)
    return (r1 - r0) / span, (s1 - s0) / span


def report(result: dict) -> None:
    series = np.array(result["series"]) if result["series"] else np.zeros((0, 6))
    planned = result["planned_s"]
    steady = series[(series[:, 0] >= STEADY_AFTER_S) & (series[:, 0] <= planned)]
    probes = np.array(result["probes"]) if result["probes"] else np.zeros((0, 3))
    print(f"\nMaster + 2 workers at 1500 req/s for {planned:.0f} s; Locust exit {result['exit']}")
    print(f"verdict (not the point here): {result['verdict']}")
    if len(steady) >= 3:
        slope = np.polyfit(steady[:, 0], steady[:, 1], 1)[0] * 3600
        print(f"master RSS after {STEADY_AFTER_S:.0f} s: {steady[0, 1]:.1f} MB; at the end: {steady[-1, 1]:.1f} MB")
        print(f"master RSS growth over the steady part: {slope:+.1f} MB/hour")
        print(
            f"CPU over the steady part (mean, share of one core): master {steady[:, 2].mean() * 100:.1f}%, "
            f"the two workers together {steady[:, 5].mean() * 100:.1f}%"
        )
        print(
            f"received {steady[:, 3].mean():.0f} samples/s, spilled {steady[:, 4].mean():.0f} samples/s "
            "(means over the steady part)"
        )
    else:
        print(f"too short for a steady part (needs more than {STEADY_AFTER_S:.0f} s plus three intervals)")
    if len(probes):
        received, spilled = int(probes[:, 1].max()), int(probes[:, 2].max())
        print(f"last probe: {received} samples received, {spilled} spilled while running")
    print(f"samples.parquet: {result['rows']} rows; reports done {result['ended_s'] - planned:.0f} s after the load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-time", default="3m")
    parser.add_argument("--every", type=float, default=6.0, help="seconds between readings (workers report every 3)")
    args = parser.parse_args()
    report(run_distributed(args.run_time, args.every))


if __name__ == "__main__":
    main()
