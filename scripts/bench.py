"""`make bench`: run the benchmarks and print their figures.

Now: the mixed profile (1500 req/s) against the embedded reference API on this machine: achieved req/s
against target, p95 and p99 per tier (corrected and service time), cache hit rate and the verdict.
Set BENCH_RUN_TIME (default 30s) to change the length.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def mixed_profile(run_time: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="trademate-bench-") as report_dir:
        cmd = [
            sys.executable,
            "-m",
            "trademate_load",
            "run",
            "mixed",
            "--run-time",
            run_time,
            "--report-dir",
            report_dir,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        summary_path = Path(report_dir) / "latest" / "summary.json"
        if not summary_path.exists():
            sys.exit(f"bench: the mixed run wrote no summary (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return json.loads(summary_path.read_text())


def main() -> None:
    run_time = os.environ.get("BENCH_RUN_TIME", "30s")
    summary = mixed_profile(run_time)
    print(f"mixed profile against the embedded reference API, {run_time} ({summary['duration_s']:.0f} s window)")
    print(
        f"{'tier':<8} {'req/s':>8} {'target':>7} {'ratio':>6} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'svc p95':>8} {'svc p99':>8} {'cache hit':>9}"
    )
    for tier, t in summary["tiers"].items():
        lat, svc = t["latency_ms"], t["service_latency_ms"]
        print(
            f"{tier:<8} {t['rps']:>8.1f} {t['target_rps']:>7.0f} {t['rps'] / t['target_rps']:>6.3f} "
            f"{lat['p95']:>8.2f} {lat['p99']:>8.2f} {svc['p95']:>8.2f} {svc['p99']:>8.2f} "
            f"{(t['cache_hit_rate'] or 0) * 100:>8.2f}%"
        )
    total = sum(t["rps"] for t in summary["tiers"].values())
    print(f"total {total:.1f} req/s; verdict {summary['verdict']} (exit {summary['exit_code']})")


if __name__ == "__main__":
    main()
