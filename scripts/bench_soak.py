"""Soak: the suite's Locust process at 1500 req/s for SOAK_TIME, its memory sampled; is it flat?

    python scripts/bench_soak.py [--run-time 5m] [--every 10]

Runs the mixed model (100 shared users at 1000 req/s, 50 premium at 500 req/s) through the suite's own
locustfile against the trivial target (``scripts/bench_target.py``), one core each, and samples the Locust
process's resident memory every ``--every`` seconds. Prints the series, the growth rate over the steady part
(after the first minute) as MB per hour, the memory extrapolated to one hour, the samples written, and the
time and peak memory of the end-of-run reports. The spilling collector keeps at most a few seconds of
samples in memory, so the growth rate should be near zero.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import fake_credentials, rss_mb, suite_command, trivial_target, write_profile

from trademate_load.config import parse_duration

STEADY_AFTER_S = 60.0


def soak(run_time: str, every_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="trademate-soak-") as tmp, trivial_target() as host:
        work = Path(tmp)
        profile = write_profile(work / "soak.yaml", run_time, {"shared": (100, 1000), "premium": (50, 500)})
        cmd = suite_command(profile, host, fake_credentials(work / "credentials.csv"), work / "reports")
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        planned = parse_duration(run_time, "--run-time", "run_time")
        series: list[tuple[float, float]] = []
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            try:
                series.append((elapsed, rss_mb(proc.pid)))
            except OSError:
                break
            print(f"{elapsed:8.0f} s  {series[-1][1]:8.1f} MB", flush=True)
            time.sleep(every_s)
        ended = time.monotonic() - started
        summary = next((work / "reports").glob("*/summary.json"), None)
        samples = None
        if summary is not None:
            import pyarrow.parquet as pq

            samples = pq.ParquetFile(summary.parent / "samples.parquet").metadata.num_rows
        return {"series": series, "planned_s": planned, "ended_s": ended, "samples": samples, "exit": proc.returncode}


def report(result: dict) -> None:
    series = np.array(result["series"])
    planned = result["planned_s"]
    running = series[(series[:, 0] >= STEADY_AFTER_S) & (series[:, 0] <= planned)]
    after = series[series[:, 0] > planned + 5]
    print(
        f"\nSoak at 1500 req/s for {planned:.0f} s; Locust exit {result['exit']}; {result['samples']} samples written"
    )
    if len(running) >= 3:
        slope_mb_s = np.polyfit(running[:, 0], running[:, 1], 1)[0]
        print(
            f"RSS after {STEADY_AFTER_S:.0f} s: {running[0, 1]:.1f} MB; at the end of the load: {running[-1, 1]:.1f} MB"
        )
        print(f"growth over the steady part: {slope_mb_s * 3600:+.1f} MB/hour")
        if planned < 3600:
            at_hour = running[-1, 1] + slope_mb_s * (3600 - running[-1, 0])
            print(f"extrapolated to one hour: {at_hour:.1f} MB")
    if len(after):
        print(
            f"end-of-run reports: {result['ended_s'] - planned:.0f} s after the load, "
            f"peak RSS {after[:, 1].max():.1f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-time", default="5m")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between memory samples")
    args = parser.parse_args()
    report(soak(args.run_time, args.every))


if __name__ == "__main__":
    main()
