"""Benchmark the report: re-render a run directory of N synthetic samples and measure time and peak memory.

For each size (default one million and ten million samples: a mixed run at 1500 req/s for about 11
minutes and about 2 hours) it writes ``samples.parquet`` and ``run.json`` of a realistic two-tier run
into a temporary run directory, then times ``python -m trademate_load report DIR`` in a fresh
subprocess (imports included, as a user sees it) and reads that child's peak RSS from ``os.wait4``.
It prints each figure against its goal (``GOALS`` below) and exits 1 when a goal is missed. Beside the
one-million run it times a yardstick, a plain pandas + matplotlib pass over the same samples
(1.6 s and 320 MB when the goals were set), and prints the report's time and memory as ratios of it, which
say how much of a miss is this machine's speed on the day.

    python scripts/bench_report.py                  # 1M and 10M samples, best of 2 runs each
    python scripts/bench_report.py --sizes 1000000 --repeat 3 --keep /tmp/bench-report
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trademate_load.profile import load_profile  # noqa: E402
from trademate_load.store import SCHEMA  # noqa: E402

GOALS = {1_000_000: (3.0, 500.0), 10_000_000: (30.0, 2048.0)}  # samples -> (seconds, peak MB)
REFERENCE_SAMPLES, REFERENCE_S, REFERENCE_MB = 1_000_000, 1.6, 320.0  # the plain pass when the goals were set
RATE = 1500.0  # req/s of the mixed profile: shared 1000, premium 500
START = 1_795_000_000.0
WARMUP_S = 30.0
CHUNK = 1_000_000  # rows generated and written at a time, so the generator itself stays small
ENDPOINTS = {
    "shared": ["GET /api/v1/portfolio", "GET /api/v1/market/quotes", "POST /api/v1/orders", "GET /api/v1/orders"],
    "premium": [
        "GET /api/v1/portfolio",
        "GET /api/v1/market/quotes",
        "POST /api/v1/orders",
        "GET /api/v1/orders",
        "GET /api/v1/analytics/premium",
    ],
}
PLANS = {"shared": ["LITE", "PRO"], "premium": ["ELITE", "BLACK"]}
ERRORS = ["HTTPError 503: Service Unavailable", "ConnectionResetError(104, 'Connection reset by peer')"]


def _strings(values: list[str | None], codes: np.ndarray) -> pa.Array:
    """A plain string column from codes into values (None entries become nulls)."""
    dictionary = pa.array(values, type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), dictionary).cast(pa.string())


def chunk_table(rng: np.random.Generator, first: int, rows: int) -> pa.Table:
    """Rows first..first+rows of a paced mixed run, in the samples.parquet schema."""
    index = np.arange(first, first + rows, dtype=np.float64)
    intended = START + index / RATE + rng.uniform(0, 1 / RATE, rows)
    premium = rng.random(rows) < 1 / 3
    tier = premium.astype(np.int32)  # 0 shared, 1 premium
    service = rng.lognormal(np.log(np.where(premium, 2.0, 3.5)), 0.45, rows)
    late_s = rng.exponential(0.0004, rows)
    ok = rng.random(rows) >= 0.0008
    status = np.where(ok, 200, np.where(rng.random(rows) < 0.8, 503, 0)).astype(np.int32)
    endpoint = np.where(premium, rng.integers(0, 5, rows), rng.integers(0, 4, rows))
    endpoint_names = sorted(set(ENDPOINTS["shared"]) | set(ENDPOINTS["premium"]))
    endpoint_codes = np.array([endpoint_names.index(n) for n in ENDPOINTS["premium"]], dtype=np.int32)[endpoint]
    cached = endpoint != 2  # orders are not cached
    cache = np.where(cached, np.where(rng.random(rows) < 0.97, 1, 0), 2).astype(np.int32)  # hit, miss, none
    db = np.where((cache == 0) | ~cached, rng.lognormal(np.log(0.8), 0.6, rows), np.nan)
    columns = {
        "ts": intended + late_s,
        "intended_ts": intended,
        "tier": _strings(["shared", "premium"], tier),
        "plan": _strings(["LITE", "PRO", "ELITE", "BLACK"], tier * 2 + rng.integers(0, 2, rows)),
        "endpoint": _strings(endpoint_names, endpoint_codes),
        "status": status,
        "ok": ok,
        "latency_ms": service,
        "latency_co_ms": service + late_s * 1000,
        "bytes": rng.integers(300, 4_000, rows),
        "error": _strings([None, *ERRORS], np.where(ok, 0, np.where(status == 0, 2, 1))),
        "db_ms": db,
        "cache": _strings(["miss", "hit", None], cache),
        "worker": _strings(["local"], np.zeros(rows, np.int32)),
    }
    return pa.table(columns, schema=SCHEMA)


def write_run_dir(run_dir: Path, samples: int, seed: int = 11) -> None:
    """samples.parquet and run.json of a synthetic mixed run holding ``samples`` requests."""
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(run_dir / "samples.parquet", SCHEMA, compression="zstd") as writer:
        for first in range(0, samples, CHUNK):
            writer.write_table(chunk_table(rng, first, min(CHUNK, samples - first)))
    duration = samples / RATE
    profile = load_profile("mixed")
    settings = profile.settings()
    settings["run_time_s"] = duration
    run = {
        "run_id": run_dir.name,
        "profile": profile.name,
        "host": "http://127.0.0.1:8000",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(START)),
        "ended_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(START + duration)),
        "started_ts": START,
        "ended_ts": START + duration,
        "warmup_s": WARMUP_S,
        "planned_run_time_s": duration,
        "interrupted": False,
        "exit_code": None,
        "samples": samples,
        "latency_basis": profile.latency,
        "versions": {"suite": "bench"},
        "settings": settings,
        "sla": {tier: vars(limits) for tier, limits in profile.sla.tiers.items()},
        "sla_endpoints": {},
        "baseline": None,
        "baseline_summary": None,
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")


def reference_pass(run_dir: Path) -> None:
    """The yardstick: a straightforward pandas + matplotlib pass over the samples (stats per tier and
    endpoint, per-second p95, six charts), which took 1.6 s and 320 MB for one million samples when the goals
    were set. Timed beside the report in the same run, it says how much of a miss is the machine's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_parquet(run_dir / "samples.parquet")
    frame.groupby(["tier", "endpoint"])["latency_ms"].describe(percentiles=[0.5, 0.95, 0.99])
    frame.groupby("tier")["ok"].mean()
    per_second = frame.assign(second=frame["ts"].astype("int64")).groupby(["tier", "second"])["latency_co_ms"]
    p95 = per_second.quantile(0.95).unstack(0)
    out = Path(tempfile.mkdtemp(prefix="trademate-bench-reference-"))
    try:
        for tier in p95.columns:
            latency = frame.loc[frame["tier"] == tier, "latency_co_ms"].to_numpy()
            for kind in ("p95", "histogram", "cdf"):
                fig, ax = plt.subplots(figsize=(9, 3.2))
                if kind == "p95":
                    ax.plot(p95.index - p95.index[0], p95[tier])
                elif kind == "histogram":
                    ax.hist(latency, bins=60)
                else:
                    ax.plot(np.sort(latency)[::100], np.linspace(0, 1, len(latency[::100])))
                ax.set_title(f"{tier} {kind}")
                fig.savefig(out / f"{tier}-{kind}.png")
                plt.close(fig)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def measure(run_dir: Path, reference: bool = False) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of ``python -m trademate_load report run_dir`` (or, with
    ``reference``, of reference_pass in a fresh interpreter)."""
    started = time.perf_counter()
    command = ["-m", "trademate_load", "report", str(run_dir)]
    if reference:
        command = [str(Path(__file__).resolve()), "--reference", str(run_dir)]
    proc = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):
        sys.exit(f"bench_report: report exited {proc.returncode}:\n{stderr[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(GOALS))
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the best time and peak are shown")
    parser.add_argument("--keep", type=Path, help="write the run directories here and keep them")
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)  # the yardstick pass, in a subprocess
    args = parser.parse_args(argv)
    if args.reference:
        reference_pass(args.reference)
        return 0
    base = args.keep or Path(tempfile.mkdtemp(prefix="trademate-bench-report-"))
    missed = False
    print(f"{'samples':>12} {'gen s':>7} {'time s':>8} {'goal s':>7} {'peak MB':>8} {'goal MB':>8}  result")
    try:
        for samples in args.sizes:
            run_dir = base / f"bench-{samples}"
            run_dir.mkdir(parents=True, exist_ok=True)
            began = time.perf_counter()
            if not (run_dir / "samples.parquet").exists():
                write_run_dir(run_dir, samples)
            generated = time.perf_counter() - began
            runs = [measure(run_dir) for _ in range(max(args.repeat, 1))]
            seconds, peak = min(r[0] for r in runs), min(r[1] for r in runs)
            goal_s, goal_mb = GOALS.get(samples, (float("inf"), float("inf")))
            ok = seconds < goal_s and peak < goal_mb
            missed |= not ok
            print(
                f"{samples:>12,} {generated:>7.1f} {seconds:>8.2f} {goal_s:>7g} {peak:>8.0f} {goal_mb:>8g}  "
                f"{'ok' if ok else 'MISSED'}",
                flush=True,
            )
            if samples == REFERENCE_SAMPLES:
                yardstick = [measure(run_dir, reference=True) for _ in range(max(args.repeat, 1))]
                ref_s, ref_mb = min(r[0] for r in yardstick), min(r[1] for r in yardstick)
                print(
                    f"{'':>12} plain pandas + matplotlib pass (1.6 s and 320 MB when the goals were set): "
                    f"{ref_s:.2f} s, {ref_mb:.0f} MB; the report takes {seconds / ref_s:.2f}x its time "
                    f"(goal {GOALS[REFERENCE_SAMPLES][0] / REFERENCE_S:.2f}x) and {peak / ref_mb:.2f}x its memory "
                    f"(goal {GOALS[REFERENCE_SAMPLES][1] / REFERENCE_MB:.2f}x)",
                    flush=True,
                )
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
