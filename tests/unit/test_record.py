"""The sample record: coded columns, their one decoding, swap, worker payloads recoded at the master, bytes held,
and a collector that loads neither pandas nor pyarrow."""

import math
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from locust.contrib.fasthttp import LocustBadStatusCode

from tests.fired import Response, fire, nulls_as_none
from trademate_load.collector import Collector
from trademate_load.errors import describe_error
from trademate_load.frame import to_frame
from trademate_load.live_tail import BufferTail
from trademate_load.record import MAX_ERRORS_PER_BUFFER, SampleBuffer, copy_rows, decode

BYTES_PER_SAMPLE_LIMIT = 40
LOADED = "sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'pyarrow'))"


def test_importing_the_collector_loads_neither_pandas_nor_pyarrow():
    """Every Locust process imports the collector (and through it the record): pandas and pyarrow load only where
    samples are written or read."""
    code = (
        "import sys, trademate_load.collector, trademate_load.record; "
        f"assert 'pandas' not in sys.modules and 'pyarrow' not in sys.modules, {LOADED}; "
        "assert 'locust' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_the_import_check_sees_pandas_where_it_is_loaded():
    """The check above would notice: the frame module loads both (so would the record, importing pandas)."""
    code = f"import sys, trademate_load.frame; assert 'pandas' not in sys.modules, {LOADED}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "'pandas'" in proc.stderr and "'pyarrow'" in proc.stderr, proc.stderr


def test_one_decoding_of_the_columns():
    collector = Collector(worker="w1")
    fire(collector, 3, late_s=0.25)
    fire(collector, 1, response=Response(503, {"X-Cache": "MISS", "Server-Timing": "db;dur=0.0004"}))
    fire(collector, 1, tier="shared", name="POST /b", response=Response(0, {}), exception=OSError("x"))
    buffer = collector.drain()
    rows = buffer.columns()  # in place, as the store reads a swapped-out buffer
    assert len(rows) == 5
    assert rows.ts.dtype == np.float64 and rows.key.dtype == rows.error.dtype == rows.status.dtype == np.uint16
    assert np.allclose(rows.ts - rows.intended_ts, [0.25] * 3 + [0.0] * 2, atol=1e-6)
    assert rows.latency_co_ms[0] == pytest.approx(250 + 1.0, abs=1e-4) and rows.latency_co_ms[3] == rows.latency_ms[3]
    assert rows.ok.tolist() == [True] * 4 + [False]
    assert rows.status.tolist() == [200, 200, 200, 503, 0]
    assert rows.cache.tolist() == [1, 1, 1, 0, -1]  # hit, miss, not reported
    assert rows.db_ms[0] == 0.25 and rows.db_ms[3] == 0.0 and math.isnan(rows.db_ms[4])  # to the microsecond
    assert rows.nbytes.tolist() == [900] * 5
    assert [buffer.keys.keys[k][2] for k in rows.key] == ["GET /a"] * 4 + ["POST /b"]
    assert rows.error.tolist() == [0, 0, 0, 0, 1] and buffer.errors == ["OSError: x"]
    copied = decode(copy_rows(buffer.arrays(), 2))  # rows copied out, as from a buffer still appended to
    for name, column in vars(copied).items():
        assert np.array_equal(column, getattr(rows, name)[2:], equal_nan=True), name


def test_the_live_tail_reads_the_same_decoding():
    """The live figures read rows still being appended (copies), across swaps, decoded as the store decodes them."""
    collector = Collector(worker="w1")
    fire(collector, 2)
    tail = BufferTail(collector.buffer)  # from here on
    fire(collector, 3, late_s=0.5, response=Response(200, {"X-Cache": "MISS"}))
    collector.drain()  # the spiller's swap
    fire(collector, 2, name="POST /b", response=Response(0, {}), exception=OSError("x"))
    live = tail.read()
    left = collector.buffer.columns()  # what the buffer holds since the swap: the last two rows
    assert len(live) == 5 and live.keys is collector.buffer.keys.keys
    assert live.cache.tolist() == [0, 0, 0, -1, -1] and live.ok.tolist() == [True] * 3 + [False] * 2
    for name in vars(left):
        if name != "error":  # error codes index their own buffer's table: the live figures do not read them
            assert np.array_equal(getattr(live, name)[3:], getattr(left, name), equal_nan=True), name
    assert np.allclose(live.latency_co_ms[:3] - live.latency_ms[:3], 500.0, atol=1e-3)
    assert np.array_equal(live.latency("service"), live.latency_ms)


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
    frame = to_frame(master.drain())
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
