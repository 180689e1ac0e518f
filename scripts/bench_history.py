"""Benchmark the history's rebuild: 1,000 run directories back into ``history.jsonl`` and the history frame.

Writes ``--runs`` synthetic run directories (summary.json and run.json of two tiers, as the engine writes them: every
check with its interval), then times, best of ``--repeat``, side by side in one process:

- yardstick: reading every run's summary.json with ``json.load`` into one pandas frame (``pd.json_normalize``), the
  least any rebuild must do;
- rebuild: ``history.rebuild`` (every summary.json and run.json read and checked, the rows written under the lock)
  followed by ``history.read`` (the history frame).

Goal: rebuild within 2x the yardstick's time. Also printed: change points of the rebuilt history (``changes.detect``)
and the history page with its charts (``history_publish.publish``), for scale.

    python scripts/bench_history.py [--runs 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from trademate_load import history, history_publish  # noqa: E402
from trademate_load.changes import detect  # noqa: E402
from trademate_load.rundir import write_json  # noqa: E402

GOAL = 2.0
LIMITS = {"premium": (50.0, 100.0, 25.0), "shared": (100.0, 200.0, 50.0)}


def _tier(rng: np.random.Generator, tier: str, step: float) -> dict:
    p95 = (3.0 if tier == "premium" else 4.0) * rng.normal(1.0, 0.1) + step
    figures = {"p95_ms": p95, "p99_ms": p95 * 1.6, "mean_ms": p95 / 2}
    ci = {name: [value * 0.98, value * 1.02] for name, value in figures.items()} | {"success_rate": [0.9998, 1.0]}
    checks = [
        {"name": name, "op": "<", "limit": limit, "actual": figures[name], "passed": True, "status": "passed",
         "ci95": ci[name]}
        for name, limit in zip(figures, LIMITS[tier], strict=True)
    ]  # fmt: skip
    checks.append({"name": "uptime", "op": ">=", "limit": 0.999, "actual": 1.0, "passed": True, "status": "passed"})
    latency = {"mean": figures["mean_ms"], "p50": p95 / 3, "p95": p95, "p99": figures["p99_ms"], "max": p95 * 4}
    return {"requests": 135000, "failures": 0, "rps": 500.0, "latency_ms": latency, "ci95": ci, "success_rate": 1.0,
            "uptime": {"ratio": 1.0, "window_s": 5.0, "down": []}, "checks": checks}  # fmt: skip


def write_runs(root: Path, count: int) -> None:
    rng = np.random.default_rng(1)
    for n in range(count):
        run_id = f"2026{1 + n // 300:02d}{1 + n // 10 % 28:02d}-{n % 10:02d}0000-mixed-{n}"
        run_dir = root / run_id
        run_dir.mkdir()
        started = f"2026-{1 + n // 300:02d}-{1 + n // 10 % 28:02d}T{n % 10:02d}:00:{n % 60:02d}+00:00"
        tiers = {tier: _tier(rng, tier, 2.0 if n > count * 0.7 and tier == "premium" else 0.0) for tier in LIMITS}
        summary = {"schema": "trademate-load/summary/1", "run_id": run_id, "profile": "mixed", "label": f"main@{n}",
                   "started_at": started, "duration_s": 270.0, "verdict": "pass", "exit_code": 0,
                   "generator": {"valid": True}, "tiers": tiers}  # fmt: skip
        write_json(run_dir / "summary.json", summary)
        write_json(run_dir / "run.json", {"run_id": run_id, "profile": "mixed", "label": f"main@{n}",
                                          "started_ts": 0.0, "settings": {}, "sla": {}})  # fmt: skip


def yardstick(root: Path) -> pd.DataFrame:
    summaries = []
    for path in sorted(root.glob("*/summary.json")):
        with path.open() as file:
            summaries.append(json.load(file))
    return pd.json_normalize(summaries)


def rebuilt(root: Path) -> pd.DataFrame:
    history.rebuild(root)
    return history.read(root)[0]


def best(function, root: Path, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(root)
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        root = Path(tmp)
        write_runs(root, args.runs)
        rounds = [(best(yardstick, root, 1), best(rebuilt, root, 1)) for _ in range(args.repeat)]  # interleaved
        base = min(r[0][0] for r in rounds)
        rebuild_s, frame = min((r[1] for r in rounds), key=lambda r: r[0])
        ratio = rebuild_s / base
        met = "met" if ratio <= GOAL else "NOT met"
        print(f"History of {args.runs} runs (2 tiers each), best of {args.repeat} interleaved rounds:")
        print(f"  summary.json files read with pandas alone: {base:.3f} s")
        print(f"  history rebuilt and read back ({len(frame)} rows): {rebuild_s:.3f} s = {ratio:.2f}x", end="")
        print(f" (goal <= {GOAL}x: {met})")
        detect_s, changes = best(detect, frame, 1)
        print(f"  change points of every series: {detect_s:.3f} s ({len(changes)} found)")
        publish_s, published = best(history_publish.publish, root, 1)
        print(f"  history page with its charts: {publish_s:.3f} s ({published.page.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
