"""samples.parquet: row groups appended per spill, the spiller's timing, the key and error codes written as the
file's dictionaries, and files written before and after the dictionary columns reading back equal."""

import gevent
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.fired import Response, fire
from trademate_load.collector import Collector, Spiller
from trademate_load.frame import read_parquet
from trademate_load.record import COLUMNS, STRING_COLUMNS, KeyTable, SampleBuffer
from trademate_load.store import COMPRESSION, SCHEMA, SampleStore, record_batch, write_parquet


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


def coded_buffer() -> SampleBuffer:
    """Rows whose keys were interned in another order than the rows first use them, one key left unused."""
    keys = KeyTable()
    for key in [("premium", "ELITE", "GET /b", "w1"), ("premium", "ELITE", "GET /a", "w1")]:
        keys.code(key)
    keys.code(("shared", "PRO", "GET /unused", "w1"))
    buffer = SampleBuffer(keys)
    rows = [(("shared", "LITE", "GET /a", "w1"), "OSError: x"), (("premium", "ELITE", "GET /a", "w1"), None)]
    rows += [(("premium", "ELITE", "GET /b", "w1"), "HTTPError: 503"), (("premium", "ELITE", "GET /a", "w1"), None)]
    for i, (key, error) in enumerate(rows):
        flags = (4, 2, 0, 4)[i]  # hit, miss, not reported, hit
        buffer.append(100.0 + i, 99.9 + i, keys.code(key), 200, error is None, 1.5, 10, error, 0.25, flags)
    return buffer


def test_key_codes_reach_parquet_as_dictionary_columns_without_re_encoding(tmp_path):
    """Each string column chunk's dictionary is the table's values of the codes present, in code order (Parquet's
    own encoding of the strings would list them in the order the rows first use them)."""
    store = SampleStore(tmp_path / "samples.parquet")
    buffer = coded_buffer()
    record_batch(buffer).validate(full=True)  # indices within their dictionaries, nulls where the codes say none
    store.write(buffer)
    path = store.close()
    assert pq.ParquetFile(path).schema_arrow.equals(SCHEMA)  # plain strings to every reader: no Arrow type stored
    parquet = pq.ParquetFile(path, read_dictionary=STRING_COLUMNS)
    chunk = {name: parquet.read_row_group(0, columns=[name]).column(0).chunk(0) for name in STRING_COLUMNS}
    assert chunk["endpoint"].dictionary.to_pylist() == ["GET /b", "GET /a"]  # codes 0, 1 (2 unused), 3
    assert chunk["endpoint"].indices.to_pylist() == [1, 1, 0, 1]
    assert chunk["tier"].dictionary.to_pylist() == ["premium", "shared"]  # rows: shared first
    assert chunk["plan"].dictionary.to_pylist() == ["ELITE", "LITE"]
    assert chunk["worker"].dictionary.to_pylist() == ["w1"]
    assert chunk["error"].dictionary.to_pylist() == ["OSError: x", "HTTPError: 503"]
    assert chunk["error"].to_pylist() == ["OSError: x", None, "HTTPError: 503", None]
    assert chunk["cache"].dictionary.to_pylist() == ["miss", "hit"] and chunk["cache"].null_count == 1
    for name in STRING_COLUMNS:
        meta = parquet.metadata.row_group(0).column(COLUMNS.index(name))
        assert meta.has_dictionary_page and "RLE_DICTIONARY" in meta.encodings, name
        assert parquet.schema.column(COLUMNS.index(name)).logical_type.type == "STRING"
    frame = read_parquet(path)
    assert frame["endpoint"].cat.categories.tolist() == ["GET /b", "GET /a"]  # the codes, read as they were written
    assert frame["endpoint"].tolist() == ["GET /a", "GET /a", "GET /b", "GET /a"]


def old_store_write(path, buffers) -> None:
    """``samples.parquet`` as the store wrote it before its string columns were dictionaries: plain strings, encoded
    by Parquet itself, the Arrow schema stored."""
    with pq.ParquetWriter(path, SCHEMA, compression=COMPRESSION, use_dictionary=STRING_COLUMNS) as writer:
        for buffer in buffers:
            writer.write_table(pa.Table.from_batches([record_batch(buffer)]).cast(SCHEMA), row_group_size=len(buffer))


def as_plain(frame: pd.DataFrame) -> pd.DataFrame:
    """String columns as objects (category order is the order values reached the file: not part of the contract)."""
    assert all(isinstance(frame[name].dtype, pd.CategoricalDtype) for name in STRING_COLUMNS)
    return frame.astype({name: object for name in STRING_COLUMNS})


def test_files_written_before_and_after_read_back_equal(tmp_path):
    collector = Collector(worker="w1")
    buffers = []
    for spill in range(3):
        fire(collector, 40, start=1_800_000_000.0 + spill, late_s=0.01 * spill)
        fire(collector, 5, name=f"GET /{spill}", response=Response(0, {}), exception=OSError(f"e{spill % 2}"))
        fire(collector, 5, tier="shared", plan="PRO", response=Response(200, {"X-Cache": "MISS"}))
        buffers.append(collector.drain())
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    old_store_write(old, buffers)
    store = SampleStore(new)
    for buffer in buffers:
        store.write(buffer)
    store.close()
    assert pq.ParquetFile(new).schema.equals(pq.ParquetFile(old).schema)  # columns, names, physical and logical types
    assert pq.ParquetFile(new).schema_arrow.equals(pq.ParquetFile(old).schema_arrow)
    before, after = read_parquet(old), read_parquet(new)
    assert len(after) == 150 and after["error"].notna().sum() == 15
    pd.testing.assert_frame_equal(as_plain(before), as_plain(after))
    pd.testing.assert_frame_equal(pd.read_parquet(old), pd.read_parquet(new))  # a reader other than ours
    written = tmp_path / "frame.parquet"  # and a frame written back (a re-rendered or synthetic run)
    write_parquet(after, written)
    pd.testing.assert_frame_equal(read_parquet(written), after)
    assert pq.ParquetFile(written).schema.equals(pq.ParquetFile(old).schema)


def test_a_frame_of_plain_strings_is_written_with_the_same_schema(tmp_path):
    row = {"ts": 1.0, "intended_ts": 1.0, "tier": "premium", "plan": "ELITE", "endpoint": "GET /a", "status": 200}
    row |= {"ok": True, "latency_ms": 2.0, "latency_co_ms": 2.0, "bytes": 10, "error": None, "db_ms": np.nan}
    write_parquet(pd.DataFrame([row | {"cache": "hit", "worker": "w"}]), tmp_path / "samples.parquet")
    assert pq.ParquetFile(tmp_path / "samples.parquet").schema_arrow.equals(SCHEMA)
    back = read_parquet(tmp_path / "samples.parquet")
    assert back["endpoint"].tolist() == ["GET /a"] and back["error"].isna().all() and back["status"].tolist() == [200]
