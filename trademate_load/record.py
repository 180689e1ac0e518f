"""The sample record: the columns one request leaves behind, and the buffer that holds them in memory.

Columns (the contract of ``samples.parquet``, which :mod:`trademate_load.store` writes and
:mod:`trademate_load.frame` reads back, and of the DataFrame the reports read):

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

In the DataFrames (:mod:`trademate_load.frame`) the str columns are pandas categoricals.

In memory a sample takes 35 bytes in ``array`` columns, none of them objects the garbage collector tracks:
``ts`` and ``latency_ms`` as float64, the lateness ``ts - intended_ts`` as float32 seconds, ``db_ms`` as
float32 (NaN when not reported; rounded to the microsecond when decoded), status (uint16), bytes (uint32),
ok and cache packed in one byte, and two uint16 codes: one for the (tier, plan, endpoint, worker)
combination, interned in a table shared by every buffer of a collector, and one for the error text,
interned per buffer. :meth:`SampleBuffer.columns` (and :func:`decode`, for rows copied out with
:func:`copy_rows`) is the one decoding of those columns into numpy arrays, with the one dtype table ``RAW``:
the Parquet store and the live figures both read it. ``latency_co_ms`` is derived there; the codes stay
codes, and reach Parquet as dictionary columns. Nothing here imports pandas, pyarrow or locust: every
Locust process's collector imports this module (a test checks it).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FIELDS = (  # the columns and their types: numpy's name, or "str" (nullable; a dictionary column in Parquet)
    ("ts", "float64"),
    ("intended_ts", "float64"),
    ("tier", "str"),
    ("plan", "str"),
    ("endpoint", "str"),
    ("status", "int32"),
    ("ok", "bool"),
    ("latency_ms", "float64"),
    ("latency_co_ms", "float64"),
    ("bytes", "int64"),
    ("error", "str"),
    ("db_ms", "float64"),
    ("cache", "str"),
    ("worker", "str"),
)
COLUMNS = tuple(name for name, _ in FIELDS)
STRING_COLUMNS = [name for name, kind in FIELDS if kind == "str"]
RAW = (  # the buffer's array columns and their typecodes, which are numpy's too: np.dtype(code)
    ("ts", "d"),
    ("late_s", "f"),
    ("latency_ms", "d"),
    ("db_ms", "f"),  # NaN: not reported
    ("status", "H"),
    ("nbytes", "I"),
    ("flags", "B"),
    ("key", "H"),
    ("error", "H"),
)
RAW_DTYPES = tuple(np.dtype(code) for _, code in RAW)

OK_FLAG = 1
CACHE_FLAGS = {"HIT": 4, "MISS": 2}  # bits 1-2 of the flags byte: 0 not reported, 1 miss, 2 hit
CACHE_NAMES = (None, "miss", "hit")  # indexed by a decoded cache code + 1
_CACHE_CODES = np.array([-1, 0, 1, -1], dtype=np.int8)  # flags bits 1-2 -> 1 hit, 0 miss, -1 not reported
MAX_CODE = 0xFFFF
OVERFLOW_CODES = 4096  # key codes kept for the overflow names once the table nears MAX_CODE
OVERFLOW_NAME = "(too many endpoint names)"
MAX_ERRORS_PER_BUFFER = 1024  # distinct error texts kept per buffer; more collapse to their exception type
OVERFLOW_ERROR = ": (more distinct errors than a buffer keeps)"


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


def corrected_latency(ts: np.ndarray, intended_ts: np.ndarray, latency_ms: np.ndarray) -> np.ndarray:
    """Completion time minus intended start, in ms; never below the service time itself."""
    return np.maximum(latency_ms, (ts - intended_ts) * 1000.0 + latency_ms)


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


@dataclass(frozen=True)
class Columns:
    """Rows of a buffer decoded: one numpy array per field."""

    ts: np.ndarray  # float64
    intended_ts: np.ndarray  # float64
    latency_ms: np.ndarray  # float64: service time
    latency_co_ms: np.ndarray  # float64: corrected
    status: np.ndarray  # uint16; 0: no answer
    ok: np.ndarray  # bool
    nbytes: np.ndarray  # uint32
    db_ms: np.ndarray  # float64 to the microsecond; NaN: not reported
    cache: np.ndarray  # int8: 1 hit, 0 miss, -1 not reported
    key: np.ndarray  # uint16: codes into the key table
    error: np.ndarray  # uint16: 0 none, else 1 + the index of its text in its buffer's ``errors``

    def __len__(self) -> int:
        return len(self.ts)


def decode(raw: Sequence[np.ndarray]) -> Columns:
    """Columns of the numpy arrays of the buffer's columns, in ``RAW`` order and dtypes."""
    ts, late, latency, db_ms, status, nbytes, flags, key, error = raw
    intended = ts - late.astype(np.float64)
    return Columns(
        ts=ts,
        intended_ts=intended,
        latency_ms=latency,
        latency_co_ms=corrected_latency(ts, intended, latency),
        status=status,
        ok=(flags & OK_FLAG).astype(bool),
        nbytes=nbytes,
        db_ms=db_ms.astype(np.float64).round(3),
        cache=_CACHE_CODES[(flags >> 1) & 3],
        key=key,
        error=error,
    )


def copy_rows(arrays: Sequence[array], start: int = 0) -> list[np.ndarray]:
    """Copies of rows ``start:`` of a buffer's arrays (``SampleBuffer.arrays()``) as numpy arrays, up to the
    shortest column: slicing an ``array`` copies it, so no buffer of a column still appended to stays exported."""
    end = min(len(column) for column in arrays)
    return [np.frombuffer(column[start:end], dtype=dtype) for column, dtype in zip(arrays, RAW_DTYPES, strict=True)]


class SampleBuffer:
    """Append-only columnar storage of samples; ``swap()`` hands over what it holds and starts empty.

    ``append`` takes already-coded values (see the module docstring); :class:`~trademate_load.collector.Collector`
    does the coding. ``dropped`` counts, per tier and epoch second, arrivals an open-model generator could not
    send because its in-flight bound was reached.
    """

    __slots__ = ("_error_codes", "dropped", "errors", "keys", *(name for name, _ in RAW))
    _COLUMNS = tuple(name for name, _ in RAW)

    def __init__(self, keys: KeyTable | None = None) -> None:
        self.keys = keys if keys is not None else KeyTable()
        for name, code in RAW:  # ts, late_s, latency_ms, db_ms, status, nbytes, flags, key, error
            setattr(self, name, array(code))
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

    def arrays(self) -> tuple[array, ...]:
        """The array columns, in ``RAW`` order (appends grow them; a swap hands them all to the swapped-out buffer)."""
        return tuple(getattr(self, name) for name in self._COLUMNS)

    def columns(self) -> Columns:
        """Every row decoded, read in place: for a buffer no longer appended to (one swapped out)."""
        return decode(
            [np.frombuffer(column, dtype=dtype) for column, dtype in zip(self.arrays(), RAW_DTYPES, strict=True)]
        )

    @property
    def held_bytes(self) -> int:
        """Bytes the sample columns hold (allocated, not counting the arrays' spare capacity)."""
        return sum(len(col) * col.itemsize for col in self.arrays())

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
