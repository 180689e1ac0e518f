"""``samples.parquet``: the sample record (:mod:`trademate_load.record`) as Arrow and Parquet.

A spilled buffer becomes one Arrow record batch and one row group of ``samples.parquet``. Its key and error
codes are not expanded to strings and encoded again: each string column is an Arrow ``DictionaryArray``
whose indices are the buffer's codes mapped through a lookup of the codes present (at most one entry per
code of the key or error table) and whose dictionary holds their values in code order, and the Parquet writer
writes that dictionary and those indices as the column chunk's dictionary page and data. The file keeps the
schema ``SCHEMA`` (plain Parquet strings, dictionary-encoded; the Arrow schema is not stored beside it, as it
would name the dictionaries), so readers see the same columns, names and types as ever.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trademate_load.record import CACHE_NAMES, FIELDS, STRING_COLUMNS, SampleBuffer

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = pa.schema(
    [(name, pa.string() if kind == "str" else pa.from_numpy_dtype(np.dtype(kind))) for name, kind in FIELDS]
)
CODED_SCHEMA = pa.schema(  # what is written and read: the string columns as dictionaries (categorical in pandas)
    [pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in STRING_COLUMNS else f for f in SCHEMA]
)
COMPRESSION = "zstd"
WRITE_OPTIONS = {"compression": COMPRESSION, "use_dictionary": STRING_COLUMNS, "store_schema": False}


def used_codes(codes: np.ndarray, size: int) -> list[int]:
    """The codes (below ``size``, the table's length) that occur in ``codes``, in code order."""
    return np.flatnonzero(np.bincount(codes, minlength=size)).tolist() if len(codes) else []


def with_nulls(values: np.ndarray, nulls: np.ndarray) -> pa.Array:
    """Numeric ``values`` (not bool: Arrow packs those) as an Arrow array, null where ``nulls`` is set: the validity
    bitmap packed by numpy, the values shared, not copied (far faster than ``pa.array(values, mask=nulls)``)."""
    if not nulls.any():
        return pa.array(values)
    validity = pa.py_buffer(np.packbits(~nulls, bitorder="little"))
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [validity, pa.py_buffer(values)])


def dictionary_column(codes: np.ndarray, used: list[int], value: Callable[[int], str | None]) -> pa.DictionaryArray:
    """Codes as an Arrow dictionary column: the values of the ``used`` codes, in code order and once each
    (``value(code)`` None: a null), indexed by the codes through a lookup array."""
    lookup = np.full(max(used, default=0) + 1, -1, dtype=np.int32)
    dictionary: dict[str, int] = {}
    for code in used:
        text = value(code)
        if text is not None:
            lookup[code] = dictionary.setdefault(text, len(dictionary))
    indices = lookup[codes]
    return pa.DictionaryArray.from_arrays(
        with_nulls(indices, indices < 0), pa.array(list(dictionary), type=pa.string())
    )


def record_batch(buffer: SampleBuffer) -> pa.RecordBatch:
    """A buffer's samples (decoded once: :meth:`SampleBuffer.columns`) as a record batch of ``CODED_SCHEMA``."""
    rows = buffer.columns()
    keys, errors = buffer.keys.keys, buffer.errors
    used_keys = used_codes(rows.key, len(keys))

    def by_key(i: int) -> pa.DictionaryArray:
        return dictionary_column(rows.key, used_keys, lambda code: keys[code][i])

    error = dictionary_column(
        rows.error, used_codes(rows.error, len(errors) + 1), lambda c: errors[c - 1] if c else None
    )
    cache = rows.cache + 1  # -1 not reported, 0 miss, 1 hit -> an index of CACHE_NAMES
    columns = {
        "ts": pa.array(rows.ts),
        "intended_ts": pa.array(rows.intended_ts),
        "tier": by_key(0),
        "plan": by_key(1),
        "endpoint": by_key(2),
        "status": pa.array(rows.status.astype(np.int32)),
        "ok": pa.array(rows.ok),
        "latency_ms": pa.array(rows.latency_ms),
        "latency_co_ms": pa.array(rows.latency_co_ms),
        "bytes": pa.array(rows.nbytes.astype(np.int64)),
        "error": error,
        "db_ms": with_nulls(rows.db_ms, np.isnan(rows.db_ms)),
        "cache": dictionary_column(cache, used_codes(cache, len(CACHE_NAMES)), CACHE_NAMES.__getitem__),
        "worker": by_key(3),
    }
    return pa.RecordBatch.from_arrays(list(columns.values()), schema=CODED_SCHEMA)


class SampleStore:
    """``samples.parquet`` of one run, appended a row group per spilled buffer; per-second dropped counts beside.

    Rows go to ``samples.parquet.part`` while the run lasts; ``close()`` writes the footer and renames it into
    place, so a ``samples.parquet`` that exists is always complete.
    """

    def __init__(self, path: Path):
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.writer: pq.ParquetWriter | None = pq.ParquetWriter(self.part, CODED_SCHEMA, **WRITE_OPTIONS)
        self.rows = 0
        self.row_groups = 0
        self.dropped: dict[str, dict[int, int]] = {}

    def write(self, buffer: SampleBuffer) -> int:
        """Append ``buffer`` (no longer appended to) as one row group; the number of rows written."""
        for tier, seconds in buffer.dropped.items():
            mine = self.dropped.setdefault(tier, {})
            for second, count in seconds.items():
                mine[second] = mine.get(second, 0) + count
        if not len(buffer):
            return 0
        if self.writer is None:
            raise ValueError(f"{self.path}: the store is closed")
        self.writer.write_batch(record_batch(buffer), row_group_size=len(buffer))
        self.rows += len(buffer)
        self.row_groups += 1
        return len(buffer)

    def dropped_series(self) -> dict[str, list[list[int]]]:
        """Dropped arrivals per tier as sorted ``[epoch second, count]`` pairs (run.json's ``dropped``)."""
        return {tier: sorted([s, n] for s, n in seconds.items()) for tier, seconds in sorted(self.dropped.items())}

    def close(self) -> Path:
        """Finish the file and move it into place; the path of ``samples.parquet``."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.part.replace(self.path)
        return self.path


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a samples DataFrame with the fixed schema (to a temporary name, then renamed into place); categorical
    columns go as their codes and categories."""
    table = pa.Table.from_pandas(frame, schema=CODED_SCHEMA, preserve_index=False).replace_schema_metadata(None)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, **WRITE_OPTIONS)
    tmp.replace(path)
