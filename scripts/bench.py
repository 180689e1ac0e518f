"""`make bench`: run the benchmarks and print their figures side by side.

Reference API backends: the mixed profile (1500 req/s) against the embedded default (SQLite, in-process
caches) and against PostgreSQL + per-tier Redis (started by scripts/services.sh), one after the other in
this run: achieved req/s against target, p95 and p99 per tier (corrected and service time), cache hit
rate and the verdict. BENCH_RUN_TIME (default 30s) sets each run's length; BENCH_SKIP_SERVICES=1 runs the
embedded backend alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def service_urls() -> dict[str, str]:
    """Start PostgreSQL and the per-tier Redis servers; their URLs as the launcher's TRADEMATE_API_* variables."""
    out = subprocess.run([str(ROOT / "scripts" / "services.sh")], capture_output=True, text=True, check=True).stdout
    found = dict(re.findall(r"export (\w+)=(\S+)", out))
    return {
        "TRADEMATE_API_DATABASE_URL": found["TRADEMATE_TEST_DATABASE_URL"],
        "TRADEMATE_API_REDIS_SHARED_URL": found["TRADEMATE_TEST_REDIS_SHARED_URL"],
        "TRADEMATE_API_REDIS_PREMIUM_URL": found["TRADEMATE_TEST_REDIS_PREMIUM_URL"],
    }


def mixed_profile(run_time: str, backend_env: dict[str, str]) -> dict:
    """Run the mixed profile through the launcher; its summary.json."""
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
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **backend_env}, cwd=ROOT)
        summary_path = Path(report_dir) / "latest" / "summary.json"
        if not summary_path.exists():
            sys.exit(f"bench: the mixed run wrote no summary (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return json.loads(summary_path.read_text())


def print_backend(name: str, summary: dict) -> None:
    for tier, t in summary["tiers"].items():
        lat, svc = t["latency_ms"], t["service_latency_ms"]
        hit = "n/a" if t["cache_hit_rate"] is None else f"{t['cache_hit_rate'] * 100:.2f}%"
        print(
            f"{name:<16} {tier:<8} {t['rps']:>8.1f} {t['target_rps']:>7.0f} {t['rps'] / t['target_rps']:>6.3f} "
            f"{lat['p95']:>8.2f} {lat['p99']:>8.2f} {svc['p95']:>8.2f} {svc['p99']:>8.2f} {hit:>9}"
        )
    total = sum(t["rps"] for t in summary["tiers"].values())
    print(f"{name:<16} total {total:.1f} req/s; verdict {summary['verdict']} (exit {summary['exit_code']})")


def main() -> None:
    run_time = os.environ.get("BENCH_RUN_TIME", "30s")
    backends = {"embedded": {}}
    if os.environ.get("BENCH_SKIP_SERVICES") != "1":
        backends["postgres+redis"] = service_urls()
    print(f"Mixed profile (1500 req/s) against the reference API, {run_time} per backend")
    print(
        f"{'backend':<16} {'tier':<8} {'req/s':>8} {'target':>7} {'ratio':>6} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'svc p95':>8} {'svc p99':>8} {'cache hit':>9}"
    )
    for name, env in backends.items():
        print_backend(name, mixed_profile(run_time, env))


if __name__ == "__main__":
    main()
