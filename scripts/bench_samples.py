"""Benchmark the sample record's path to disk and back: a buffer converted to Arrow, spilled to Parquet, read back.

One million synthetic samples (two tiers, four plans, five endpoints, one request in a thousand failed with one
of two errors, most answered from the cache) are put straight into buffers' columns, then timed, best of
``--repeat``:

- convert: one buffer of all the samples to Arrow (``store.record_batch``),
- spill: the samples as the spiller writes them (buffers of ``collector.SPILL_ROWS``, one row group each, and
  the footer), the file's size beside it,
- read: ``frame.read_parquet`` of that file,
- import: ``import trademate_load.collector`` in a fresh interpreter, and whether it loaded pandas or pyarrow.

``--tree`` measures another checkout (an older commit, from ``git worktree add``), so that two versions can be
run side by side; a checkout from before the record, store and frame modules is read through ``samples.py``.

    python scripts/bench_samples.py [--samples 1000000] [--repeat 5] [--tree /tmp/older] [--keep samples.parquet]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TIERS = {"premium": ("ELITE", "BLACK"), "shared": ("LITE", "PRO")}
ENDPOINTS = ("GET /api/v1/portfolio", "GET /api/v1/market/quotes", "POST /api/v1/orders", "GET /api/v1/orders")
ENDPOINTS += ("GET /api/v1/analytics/premium",)
ERRORS = ("HTTPError 503: Service Unavailable", "ConnectionResetError(104, 'Connection reset by peer')")


def suite(tree: Path):
    """What is measured, from the checkout ``tree``: SampleBuffer, KeyTable, SampleStore, the conversion to Arrow,
    read_parquet and SPILL_ROWS."""
    sys.path.insert(0, str(tree))
    from trademate_load.collector import SPILL_ROWS

    if (tree / "trademate_load" / "samples.py").exists():  # a checkout from before the split
        from trademate_load.samples import KeyTable, SampleBuffer, SampleStore, read_parquet

        record_batch = SampleBuffer.to_arrow
    else:
        from trademate_load.frame import read_parquet
        from trademate_load.record import KeyTable, SampleBuffer
        from trademate_load.store import SampleStore, record_batch
    loaded = Path(sys.modules[SampleStore.__module__].__file__).resolve()
    if not loaded.is_relative_to(tree):  # an editable install resolves a module the checkout lacks elsewhere
        sys.exit(f"bench_samples: {SampleStore.__module__} loaded from {loaded}, not from {tree}")
    return SampleBuffer, KeyTable, SampleStore, record_batch, read_parquet, SPILL_ROWS


def fill(buffer, rng: np.random.Generator, rows: int, start: float, codes: np.ndarray) -> None:
    """``rows`` synthetic samples appended to ``buffer``'s columns (and its error table) at once."""
    failed = rng.random(rows) < 0.001
    error_codes = np.array([0, *(buffer.error_code(text) for text in ERRORS)], dtype=np.uint16)
    cache = np.where(rng.random(rows) < 0.95, 4, 2) * (rng.random(rows) < 0.8)  # hit, miss or not reported
    db_ms = np.where(cache == 4, np.nan, rng.lognormal(np.log(0.8), 0.6, rows))
    columns = {
        "ts": start + np.arange(rows) / 1500.0,
        "late_s": rng.exponential(0.0004, rows),
        "latency_ms": rng.lognormal(np.log(3.0), 0.45, rows),
        "db_ms": db_ms,
        "status": np.where(failed, 503, 200),
        "nbytes": rng.integers(300, 4000, rows),
        "flags": cache | ~failed,
        "key": codes[rng.integers(0, len(codes), rows)],
        "error": error_codes[np.where(failed, rng.integers(1, 3, rows), 0)],
    }
    for name, values in columns.items():
        column = getattr(buffer, name)
        column.frombytes(np.asarray(values).astype(np.dtype(column.typecode)).tobytes())


def best(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def import_time(tree: Path, repeat: int) -> tuple[float, list[str]]:
    """Best wall time of importing the collector in a fresh interpreter, and which of pandas and pyarrow it loaded."""
    code = (
        "import sys, time; t = time.perf_counter(); import trademate_load.collector; t = time.perf_counter() - t; "
        "import json; print(json.dumps([t, sorted({'pandas', 'pyarrow'} & set(sys.modules))]))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, cwd=tree).stdout)
        for _ in range(repeat)
    ]
    return min(t for t, _ in runs), runs[0][1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--keep", type=Path, help="keep the spilled samples.parquet here")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args(argv)
    SampleBuffer, KeyTable, SampleStore, record_batch, read_parquet, spill_rows = suite(args.tree.resolve())
    rng = np.random.default_rng(7)
    keys = KeyTable()
    codes = np.array(
        [keys.code((t, p, e, "local")) for t, plans in TIERS.items() for p in plans for e in ENDPOINTS], np.uint16
    )
    whole = SampleBuffer(keys)
    fill(whole, rng, args.samples, 1_800_000_000.0, codes)
    spills = []
    for first in range(0, args.samples, spill_rows):
        spills.append(SampleBuffer(keys))
        fill(spills[-1], rng, min(spill_rows, args.samples - first), 1_800_000_000.0 + first / 1500.0, codes)
    out = Path(tempfile.mkdtemp(prefix="trademate-bench-samples-"))
    path = args.keep or out / "samples.parquet"

    def spill() -> None:
        store = SampleStore(path)
        for buffer in spills:
            store.write(buffer)
        store.close()

    figures = {
        "convert_s": best(args.repeat, lambda: record_batch(whole)),
        "spill_s": best(args.repeat, spill),
        "file_mb": path.stat().st_size / 1e6,
        "read_s": best(args.repeat, lambda: read_parquet(path)),
    }
    figures["import_s"], figures["import_loads"] = import_time(args.tree.resolve(), args.repeat)
    if not args.keep:
        path.unlink()
    out.rmdir()
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"{args.samples:,} samples, best of {args.repeat}, {args.tree}")
    print(f"  convert to Arrow  {figures['convert_s'] * 1000:8.1f} ms")
    spilled = f"{len(spills)} row groups, {figures['file_mb']:.1f} MB"
    print(f"  spill to Parquet  {figures['spill_s'] * 1000:8.1f} ms  ({spilled})")
    print(f"  read_parquet      {figures['read_s'] * 1000:8.1f} ms")
    loads = ", ".join(figures["import_loads"]) or "neither pandas nor pyarrow"
    print(f"  import collector  {figures['import_s'] * 1000:8.1f} ms  (loads {loads})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
