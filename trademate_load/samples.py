"""The sample record: one row per request, held in compact columnar buffers and spilled to Parquet row groups.

Columns (the Parquet schema of ``samples.parquet`` and of the DataFrame the reports read):

- ``ts`` float64: epoch seconds at request start
- ``intended_ts`` float64: epoch seconds the request was scheduled (equal to ``ts`` when unpaced)
- ``tier`` str: shared | premium;  ``plan`` str: LITE | PRO | ELITE | BLACK
- ``endpoint`` str: stable request name such as ``GET /api/v1/portfolio``
- ``status`` int: HTTP status, 0 when no response arrived;  ``ok`` bool: the request succeeded
- ``latency_ms`` float64: service time as the client measured it
- ``latency_co_ms`` float64: from ``intended_ts`` to completion (coordinated-omission corrected)
- ``bytes`` int: response body size;  ``error`` str or null: why it failed
- ``db_ms`` float or null, ``cache`` hit | miss | null: from the ``Server-Timing`` and ``X-Cache`` headers
- ``worker`` str: the Locust process that sent it

In the DataFrames built here (:func:`normalize`, :func:`read_parquet`) the str columns are pandas categoricals.

In memory a sample takes 35 bytes in ``array`` columns, none of them objects the garbage collector tracks:
``ts`` and ``latency_ms`` as float64, the lateness ``ts - intended_ts`` as float32 seconds, ``db_ms`` as
float32 (NaN when not reported; rounded to the microsecond when converted), status (uint16), bytes (uint32),
ok and cache packed in one byte, and two uint16 codes: one for the (tier, plan, endpoint, worker)
combination, interned in a table shared by every buffer of a collector, and one for the error text,
interned per buffer. ``latency_co_ms`` is derived when a buffer is converted. :class:`SampleStore` appends
each converted buffer to ``samples.parquet`` as a row group, so a run holds only the samples since the last
spill. Nothing here imports locust.
"""

from __future__ import annotations

import math
from array import array
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = (
    "ts",
    "intended_ts",
    "tier",
    "plan",
    "endpoint",
    "status",
    "ok",
    "latency_ms",
    "latency_co_ms",
    "bytes",
    "error",
    "db_ms",
    "cache",
    "worker",
)

SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),
        ("intended_ts", pa.float64()),
        ("tier", pa.string()),
        ("plan", pa.string()),
        ("endpoint", pa.string()),
        ("status", pa.int32()),
        ("ok", pa.bool_()),
        ("latency_ms", pa.float64()),
        ("latency_co_ms", pa.float64()),
        ("bytes", pa.int64()),
        ("error", pa.string()),
        ("db_ms", pa.float64()),
        ("cache", pa.string()),
        ("worker", pa.string()),
    ]
)

OK_FLAG = 1
CACHE_FLAGS = {"HIT": 4, "MISS": 2}  # bits 1-2 of the flags byte: 0 not reported, 1 miss, 2 hit
_CACHE_NAMES = pa.array([None, "miss", "hit", None])  # indexed by flags >> 1
MAX_CODE = 0xFFFF
OVERFLOW_CODES = 4096  # key codes kept for the overflow names once the table nears MAX_CODE
OVERFLOW_NAME = "(too many endpoint names)"
MAX_ERRORS_PER_BUFFER = 1024  # distinct error texts kept per buffer; more collapse to their exception type
OVERFLOW_ERROR = ": (more distinct errors than a buffer keeps)"
COMPRESSION = "zstd"
STRING_COLUMNS = [field.name for field in SCHEMA if pa.types.is_string(field.type)]  # dictionary-encoded
NUMERIC_DTYPES = {
    field.name: np.dtype(field.type.to_pandas_dtype()) for field in SCHEMA if field.name not in STRING_COLUMNS
}
READ_SCHEMA = pa.schema(  # string columns read as dictionaries: categorical in pandas
    [pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in STRING_COLUMNS else f for f in SCHEMA]
)


def server_timing_db_ms(header: str | None) -> float:
    """The ``db;dur=`` figure of a Server-Timing header in ms, NaN when absent or not a duration."""
    if not header:
        return math.nan
    start = header.rfind("db;dur=")
    if start < 0:
        return math.nan
    text = header[start + 7 :]
    try:
        value = float(text)  # the reference API puts db last: nothing follows its figure
    except ValueError:
        try:
            value = float(text.split(",", 1)[0].split(";", 1)[0])
        except ValueError:
            return math.nan
    return value if 0.0 <= value < 1e9 else math.nan


def cache_flags(header: str | None) -> int:
    """X-Cache header -> its bits of the flags byte (CACHE_FLAGS; 0 when not reported)."""
    return CACHE_FLAGS.get(header.upper(), 0) if header else 0


def cache_code(header: str | None) -> int:
    """X-Cache header -> 1 hit, 0 miss, -1 not reported."""
    return (cache_flags(header) >> 1) - 1


class KeyTable:
    """The (tier, plan, endpoint, worker) combinations seen, each under a small integer code shared by buffers."""

    __slots__ = ("_codes", "keys")

    def __init__(self) -> None:
        self.keys: list[tuple[str, str, str, str]] = []
        self._codes: dict[tuple[str, str, str, str], int] = {}

    def code(self, key: tuple[str, str, str, str]) -> int:
        code = self._codes.get(key)
        if code is None:
            if len(self.keys) >= MAX_CODE - OVERFLOW_CODES and key[2] != OVERFLOW_NAME:
                return self.code((key[0], key[1], OVERFLOW_NAME, key[3]))  # a name per URL, say: keep the rest
            if len(self.keys) > MAX_CODE:
                return MAX_CODE
            code = self._codes[key] = len(self.keys)
            self.keys.append(key)
        return code


class SampleBuffer:
    """Append-only columnar storage of samples; ``swap()`` hands over what it holds and starts empty.

    ``append`` takes already-coded values (see the module docstring); :class:`~trademate_load.collector.Collector`
    does the coding. ``dropped`` counts, per tier and epoch second, arrivals an open-model generator could not
    send because its in-flight bound was reached.
    """

    __slots__ = (
        "_error_codes",
        "db_ms",
        "dropped",
        "error",
        "errors",
        "flags",
        "key",
        "keys",
        "late_s",
        "latency_ms",
        "nbytes",
        "status",
        "ts",
    )
    _COLUMNS = ("ts", "late_s", "latency_ms", "db_ms", "status", "nbytes", "flags", "key", "error")

    def __init__(self, keys: KeyTable | None = None) -> None:
        self.keys = keys if keys is not None else KeyTable()
        self.ts = array("d")
        self.late_s = array("f")
        self.latency_ms = array("d")
        self.db_ms = array("f")  # NaN: not reported
        self.status = array("H")
        self.nbytes = array("I")
        self.flags = array("B")
        self.key = array("H")
        self.error = array("H")
        self.errors: list[str] = []
        self._error_codes: dict[str, int] = {}
        self.dropped: dict[str, dict[int, int]] = {}

    def __len__(self) -> int:
        return len(self.ts)

    def error_code(self, text: str | None) -> int:
        """0 for no error, else the code of ``text`` in this buffer's error table."""
        if text is None:
            return 0
        code = self._error_codes.get(text)
        if code is None:
            if len(self.errors) >= MAX_ERRORS_PER_BUFFER and not text.endswith(OVERFLOW_ERROR):
                return self.error_code(text.split(":", 1)[0] + OVERFLOW_ERROR)
            self.errors.append(text)
            code = self._error_codes[text] = len(self.errors)
        return code

    def append(
        self,
        ts: float,
        intended_ts: float,
        key: int,
        status: int,
        ok: bool,
        latency_ms: float,
        nbytes: int,
        error: str | None,
        db_ms: float = math.nan,
        cache_flag: int = 0,
    ) -> None:
        """One sample (the collector inlines these appends on its hot path)."""
        self.ts.append(ts)
        self.late_s.append(ts - intended_ts)
        self.latency_ms.append(latency_ms)
        self.db_ms.append(db_ms)
        self.status.append(min(status, MAX_CODE))
        self.nbytes.append(min(nbytes, 0xFFFFFFFF))
        self.flags.append(cache_flag | (OK_FLAG if ok else 0))
        self.key.append(key)
        self.error.append(self.error_code(error))

    def count_dropped(self, tier: str, intended_ts: float) -> None:
        per_second = self.dropped.setdefault(tier, {})
        second = int(intended_ts)
        per_second[second] = per_second.get(second, 0) + 1

    def swap(self) -> SampleBuffer:
        """Return a buffer holding everything appended so far; this one starts empty again (same key table)."""
        full = SampleBuffer(self.keys)
        for name in self.__slots__:
            if name != "keys":
                current = getattr(self, name)
                setattr(self, name, getattr(full, name))
                setattr(full, name, current)
        return full

    @property
    def held_bytes(self) -> int:
        """Bytes the sample columns hold (allocated, not counting the arrays' spare capacity)."""
        return sum(len(col) * col.itemsize for col in (getattr(self, name) for name in self._COLUMNS))

    # --- worker -> master ---------------------------------------------------------------------------------------
    def to_payload(self) -> dict:
        """A compact, msgpack-friendly copy (arrays as raw bytes, the code tables as lists) for the master."""
        payload: dict = {name: getattr(self, name).tobytes() for name in self._COLUMNS}
        payload["keys"] = [list(k) for k in self.keys.keys]
        payload["errors"] = list(self.errors)
        payload["dropped"] = {tier: [[s, n] for s, n in seconds.items()] for tier, seconds in self.dropped.items()}
        return payload

    @staticmethod
    def payload_rows(payload: dict) -> int:
        """How many samples a payload made by ``to_payload`` carries."""
        return len(payload["ts"]) // 8

    def extend_payload(self, payload: dict) -> None:
        """Append the rows of a payload made by ``to_payload`` in another process, recoding its keys and errors."""
        key_map = np.array([self.keys.code(tuple(k)) for k in payload["keys"]] or [0], dtype=np.uint16)
        error_map = np.array([0, *(self.error_code(text) for text in payload["errors"])], dtype=np.uint16)
        for name in self._COLUMNS:
            column, chunk = getattr(self, name), payload[name]
            if name == "key":
                chunk = key_map[np.frombuffer(chunk, dtype=np.uint16)].tobytes()
            elif name == "error":
                chunk = error_map[np.frombuffer(chunk, dtype=np.uint16)].tobytes()
            column.frombytes(chunk)
        for tier, seconds in payload.get("dropped", {}).items():
            mine = self.dropped.setdefault(tier, {})
            for second, count in seconds:
                mine[second] = mine.get(second, 0) + count

    # --- conversion -----------------------------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        """The samples as an Arrow table with the documented schema."""
        ts = np.frombuffer(self.ts, dtype=np.float64)
        late = np.frombuffer(self.late_s, dtype=np.float32).astype(np.float64)
        latency = np.frombuffer(self.latency_ms, dtype=np.float64)
        db_ms = np.frombuffer(self.db_ms, dtype=np.float32).astype(np.float64).round(3)  # to the microsecond
        flags = np.frombuffer(self.flags, dtype=np.uint8)
        key = pa.array(np.frombuffer(self.key, dtype=np.uint16))
        keys = self.keys.keys

        def by_key(i: int) -> pa.Array:
            return pa.array([k[i] for k in keys] or [""], type=pa.string()).take(key)

        columns = {
            "ts": pa.array(ts),
            "intended_ts": pa.array(ts - late),
            "tier": by_key(0),
            "plan": by_key(1),
            "endpoint": by_key(2),
            "status": pa.array(np.frombuffer(self.status, dtype=np.uint16).astype(np.int32)),
            "ok": pa.array((flags & OK_FLAG).astype(bool)),
            "latency_ms": pa.array(latency),
            "latency_co_ms": pa.array(corrected_latency(ts, ts - late, latency)),
            "bytes": pa.array(np.frombuffer(self.nbytes, dtype=np.uint32).astype(np.int64)),
            "error": pa.array([None, *self.errors], type=pa.string()).take(
                pa.array(np.frombuffer(self.error, dtype=np.uint16))
            ),
            "db_ms": pa.array(db_ms, mask=np.isnan(db_ms)),
            "cache": _CACHE_NAMES.take(pa.array(flags >> 1)),
            "worker": by_key(3),
        }
        return pa.table(columns, schema=SCHEMA)

    def to_frame(self) -> pd.DataFrame:
        """The samples as a DataFrame with the documented columns and dtypes."""
        return normalize(self.to_arrow().to_pandas())


def corrected_latency(ts: np.ndarray, intended_ts: np.ndarray, latency_ms: np.ndarray) -> np.ndarray:
    """Completion time minus intended start, in ms; never below the service time itself."""
    return np.maximum(latency_ms, (ts - intended_ts) * 1000.0 + latency_ms)


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame (fresh or read back from Parquet) to the documented dtypes."""
    if list(frame.columns) != list(COLUMNS):
        frame = frame.reindex(columns=list(COLUMNS))
    for name, dtype in NUMERIC_DTYPES.items():  # cast only what differs: a million samples are 8 MB a column
        if frame[name].dtype != dtype:
            frame[name] = frame[name].astype(dtype)
    for name in STRING_COLUMNS:  # categorical: a byte or two per row instead of an object pointer
        if not isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None).astype("category")
    return frame


class SampleStore:
    """``samples.parquet`` of one run, appended a row group per spilled buffer; per-second dropped counts beside.

    Rows go to ``samples.parquet.part`` while the run lasts; ``close()`` writes the footer and renames it into
    place, so a ``samples.parquet`` that exists is always complete.
    """

    def __init__(self, path: Path):
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self.part, SCHEMA, compression=COMPRESSION, use_dictionary=STRING_COLUMNS
        )
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
        self.writer.write_table(buffer.to_arrow(), row_group_size=len(buffer))
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
    """Write samples with the fixed schema (written to a temporary name, then renamed into place)."""
    table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression=COMPRESSION)
    tmp.replace(path)


class SamplesFileError(ValueError):
    """A ``samples.parquet`` that cannot be read as sample records; the message names the file and why."""


def read_parquet(path: Path) -> pd.DataFrame:
    """Read ``samples.parquet`` back into the documented dtypes; SamplesFileError if it is missing or not one.

    One column at a time, each converted and its Arrow memory released before the next is decoded, and the
    frame's columns kept as they are (not consolidated into 2-D blocks, which would copy them): the peak stays
    near the frame's own size, about 60 bytes a sample.
    """
    try:
        names = pq.ParquetFile(path).schema_arrow.names
        missing = [name for name in COLUMNS if name not in names]
        if missing:
            raise SamplesFileError(f"{path}: not a samples file: missing columns {', '.join(missing)}")
        file = pq.ParquetFile(path, read_dictionary=STRING_COLUMNS)
        columns = {name: _read_column(file, READ_SCHEMA.field(name), path) for name in COLUMNS}
    except FileNotFoundError:
        raise SamplesFileError(f"{path}: no such file") from None
    except (pa.ArrowException, OSError) as exc:
        raise SamplesFileError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    return normalize(pd.DataFrame(columns, copy=False))


def _read_column(file: pq.ParquetFile, field: pa.Field, path: Path) -> pd.Series:
    column = file.read(columns=[field.name]).column(0)
    if not column.type.equals(field.type):
        try:
            column = column.cast(field.type)
        except pa.ArrowException as exc:
            message = f"{path}: columns of the wrong type: {field.name} ({str(exc).splitlines()[0]})"
            raise SamplesFileError(message) from None
    if pa.types.is_dictionary(field.type):
        column = column.unify_dictionaries() if column.num_chunks > 1 else column
    return column.to_pandas()
