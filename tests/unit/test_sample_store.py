"""The compact sample buffer: coded columns, swap, worker payloads recoded at the master, Parquet spills, bytes held."""

import math
import tracemalloc

import gevent
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from locust.contrib.fasthttp import LocustBadStatusCode

from trademate_load.collector import Collector, Spiller, describe_error
from trademate_load.samples import (
    COLUMNS,
    MAX_ERRORS_PER_BUFFER,
    SCHEMA,
    SampleBuffer,
    SampleStore,
    read_parquet,
)

BYTES_PER_SAMPLE_LIMIT = 40


class Headers(dict):
    def get(self, key, default=None):
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


class Response:
    def __init__(self, status_code=200, headers=None):
        self.status_code = status_code
        default = {"Server-Timing": "app;dur=1.5, db;dur=0.25", "X-Cache": "HIT"}
        self.headers = Headers(default if headers is None else headers)


def nulls_as_none(column) -> list:
    """A column's values with its nulls (NaN in a categorical) as None."""
    return [None if pd.isna(value) else value for value in column]


def fire(collector, n=1, *, start=1_800_000_000.0, tier="premium", plan="ELITE", name="GET /a", late_s=0.0, **kw):
    for i in range(n):
        ts = start + i * 0.002
        collector.on_request(
            request_type="GET",
            name=name,
            response_time=1.0 + i % 7,
            response_length=900,
            response=kw.get("response", Response()),
            context={"tier": tier, "plan": plan, "intended_ts": ts - late_s},
            exception=kw.get("exception"),
            start_time=ts,
            url="http://x/a",
        )


def test_columns_round_trip_through_the_coded_buffer():
    collector = Collector(worker="w1")
    fire(collector, 3, late_s=0.25)
    fire(collector, 1, tier="shared", plan="PRO", name="POST /b", response=Response(0, {}), exception=OSError("x"))
    frame = collector.drain().to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["tier"].tolist() == ["premium"] * 3 + ["shared"]
    assert frame["endpoint"].tolist() == ["GET /a"] * 3 + ["POST /b"]
    assert frame["worker"].unique().tolist() == ["w1"]
    assert frame["db_ms"].iloc[0] == 0.25 and math.isnan(frame["db_ms"].iloc[3])
    assert nulls_as_none(frame["cache"]) == ["hit"] * 3 + [None]
    assert frame["ok"].tolist() == [True, True, True, False] and frame["error"].iloc[3] == "OSError: x"
    assert frame["latency_ms"].tolist() == [1.0, 2.0, 3.0, 1.0]
    # lateness is kept as float32 seconds: intended_ts to about a microsecond (float64 epoch: 0.24 us)
    assert np.allclose(frame["ts"] - frame["intended_ts"], [0.25, 0.25, 0.25, 0.0], atol=1e-6)
    assert frame["latency_co_ms"].iloc[0] == pytest.approx(250 + 1.0, abs=1e-4)


def test_status_errors_are_named_without_their_url():
    error = LocustBadStatusCode("http://x/api/v1/market/quotes?symbols=AAPL,MSFT", code=503)
    assert describe_error(error) == "LocustBadStatusCode(code=503)"


def test_distinct_errors_per_buffer_are_bounded():
    buffer = SampleBuffer()
    codes = {buffer.error_code(f"ValueError: bad {i}") for i in range(MAX_ERRORS_PER_BUFFER + 50)}
    assert len(buffer.errors) == MAX_ERRORS_PER_BUFFER + 1  # the rest share one "ValueError: (more ...)" entry
    assert len(codes) == MAX_ERRORS_PER_BUFFER + 1
    assert buffer.swap().errors and not buffer.errors  # the table goes with the buffer


def test_worker_payloads_are_recoded_at_the_master():
    master, one, two = Collector(), Collector(worker="w1"), Collector(worker="w2")
    fire(one, 2, name="GET /a", exception=ValueError("boom"))
    fire(two, 1, name="GET /z")  # interned first in w2: its code 0 means another name than w1's code 0
    fire(two, 1, name="GET /a")
    two.count_dropped("premium", 1_800_000_000.4)
    fire(master, 1, name="GET /m")
    for worker in (one, two):
        master.buffer.extend_payload(worker.drain().to_payload())
    frame = master.drain().to_frame()
    assert list(zip(frame["worker"], frame["endpoint"], strict=True)) == [
        ("local", "GET /m"),
        ("w1", "GET /a"),
        ("w1", "GET /a"),
        ("w2", "GET /z"),
        ("w2", "GET /a"),
    ]
    assert nulls_as_none(frame["error"]) == [None, "ValueError: boom", "ValueError: boom", None, None]


def test_dropped_arrivals_travel_with_the_payload():
    master, worker = Collector(), Collector(worker="w1")
    for ts in (10.1, 10.9, 11.5):
        worker.count_dropped("premium", ts)
    master.buffer.extend_payload(worker.drain().to_payload())
    master.count_dropped("premium", 11.0)
    assert master.drain().dropped == {"premium": {10: 2, 11: 2}}


def test_store_appends_row_groups_and_reads_back(tmp_path):
    collector = Collector()
    store = SampleStore(tmp_path / "samples.parquet")
    for batch in range(3):
        fire(collector, 100, start=1_800_000_000.0 + batch)
        collector.count_dropped("premium", 1_800_000_000.0 + batch)
        store.write(collector.drain())
    assert store.write(collector.drain()) == 0  # an empty buffer writes nothing
    assert not (tmp_path / "samples.parquet").exists()  # complete files only: the footer comes at close
    path = store.close()
    assert not store.part.exists()
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == 3 and parquet.schema_arrow.equals(SCHEMA)
    frame = read_parquet(path)
    assert len(frame) == store.rows == 300
    assert frame["ts"].is_monotonic_increasing
    assert store.dropped_series() == {"premium": [[1_800_000_000 + b, 1] for b in range(3)]}


def test_the_spiller_empties_the_buffer_on_a_timer_and_when_full(tmp_path):
    collector = Collector()
    store = SampleStore(tmp_path / "samples.parquet")
    spiller = Spiller(collector, store, interval_s=0.2, max_rows=1000).start()
    for _ in range(6):
        fire(collector, 50)
        gevent.sleep(0.1)
    assert 2 <= store.row_groups <= 4 and len(collector.buffer) < 300  # a row group every 0.2 s
    fire(collector, 1500)  # full: spilled at the next check, before the interval is up
    gevent.sleep(0.6)
    assert len(collector.buffer) == 0
    spiller.stop()
    fire(collector, 7)
    store.write(collector.drain())
    assert len(read_parquet(store.close())) == 6 * 50 + 1500 + 7


def test_an_empty_run_still_leaves_a_readable_file(tmp_path):
    path = SampleStore(tmp_path / "samples.parquet").close()
    frame = read_parquet(path)
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 0


def test_at_most_40_bytes_held_per_sample():
    """Measured, not computed: Python's own allocations while 50,000 requests are collected (spare capacity too)."""
    collector = Collector()
    fire(collector, 10)  # intern the key, warm the arrays
    collector.drain()
    n = 50_000
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fire(collector, n)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(collector.buffer) == n
    assert collector.buffer.held_bytes / n == 35
    assert held / n <= BYTES_PER_SAMPLE_LIMIT, f"{held / n:.1f} bytes per sample"
