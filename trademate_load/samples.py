"""The sample record: one row per request, held in columnar buffers and turned into one DataFrame.

Columns (also the Parquet schema of ``samples.parquet``):

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

Nothing here imports locust: the buffer only takes plain values.
"""

from __future__ import annotations

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

_CACHE_CODES = {"HIT": 1, "MISS": 0}
_CACHE_NAMES = np.array([None, "miss", "hit"], dtype=object)  # indexed by code + 1


def server_timing_db_ms(header: str | None) -> float:
    """The ``db;dur=`` figure of a Server-Timing header in ms, NaN when absent."""
    if not header:
        return float("nan")
    start = header.find("db;dur=")
    if start < 0:
        return float("nan")
    start += 7
    end = start
    while end < len(header) and header[end] not in ",;":
        end += 1
    try:
        return float(header[start:end])
    except ValueError:
        return float("nan")


def cache_code(header: str | None) -> int:
    """X-Cache header -> 1 hit, 0 miss, -1 not reported."""
    return _CACHE_CODES.get(header.upper(), -1) if header else -1


class SampleBuffer:
    """Append-only columnar storage of samples; ``swap()`` hands over what it holds and starts empty."""

    __slots__ = (
        "bytes",
        "cache",
        "db_ms",
        "endpoint",
        "error",
        "intended_ts",
        "latency_ms",
        "ok",
        "plan",
        "status",
        "tier",
        "ts",
        "worker",
    )

    def __init__(self) -> None:
        self.ts = array("d")
        self.intended_ts = array("d")
        self.latency_ms = array("d")
        self.db_ms = array("d")
        self.status = array("i")
        self.bytes = array("q")
        self.ok = array("b")
        self.cache = array("b")
        self.tier: list[str] = []
        self.plan: list[str] = []
        self.endpoint: list[str] = []
        self.error: list[str | None] = []
        self.worker: list[str] = []

    def __len__(self) -> int:
        return len(self.ts)

    def append(
        self,
        ts: float,
        intended_ts: float,
        tier: str,
        plan: str,
        endpoint: str,
        status: int,
        ok: bool,
        latency_ms: float,
        nbytes: int,
        error: str | None,
        db_ms: float,
        cache: int,
        worker: str,
    ) -> None:
        self.ts.append(ts)
        self.intended_ts.append(intended_ts)
        self.tier.append(tier)
        self.plan.append(plan)
        self.endpoint.append(endpoint)
        self.status.append(status)
        self.ok.append(ok)
        self.latency_ms.append(latency_ms)
        self.bytes.append(nbytes)
        self.error.append(error)
        self.db_ms.append(db_ms)
        self.cache.append(cache)
        self.worker.append(worker)

    def swap(self) -> SampleBuffer:
        """Return a buffer holding everything appended so far; this one starts empty again."""
        full = SampleBuffer()
        for name in self.__slots__:
            current = getattr(self, name)
            setattr(self, name, getattr(full, name))
            setattr(full, name, current)
        return full

    def to_payload(self) -> dict[str, bytes | list]:
        """A compact, msgpack-friendly copy (arrays as raw bytes) for shipping from a worker to the master."""
        return {
            name: (col.tobytes() if isinstance(col, array) else col)
            for name in self.__slots__
            for col in (getattr(self, name),)
        }

    def extend_payload(self, payload: dict[str, bytes | list]) -> None:
        """Append the rows of a payload made by ``to_payload`` (possibly in another process)."""
        for name in self.__slots__:
            column, chunk = getattr(self, name), payload[name]
            if isinstance(column, array):
                column.frombytes(chunk)
            else:
                column.extend(chunk)

    def to_frame(self) -> pd.DataFrame:
        """The samples as a DataFrame with the documented columns and dtypes."""
        ts = np.frombuffer(self.ts, dtype=np.float64).copy()
        intended = np.frombuffer(self.intended_ts, dtype=np.float64).copy()
        latency = np.frombuffer(self.latency_ms, dtype=np.float64).copy()
        cache = np.frombuffer(self.cache, dtype=np.int8).astype(np.int64) + 1
        columns = {
            "ts": ts,
            "intended_ts": intended,
            "tier": self.tier,
            "plan": self.plan,
            "endpoint": self.endpoint,
            "status": np.frombuffer(self.status, dtype=np.int32).copy(),
            "ok": np.frombuffer(self.ok, dtype=np.int8).astype(bool),
            "latency_ms": latency,
            "latency_co_ms": corrected_latency(ts, intended, latency),
            "bytes": np.frombuffer(self.bytes, dtype=np.int64).copy(),
            "error": self.error,
            "db_ms": np.frombuffer(self.db_ms, dtype=np.float64).copy(),
            "cache": _CACHE_NAMES[cache] if len(cache) else np.array([], dtype=object),
            "worker": self.worker,
        }
        return normalize(pd.DataFrame(columns, columns=list(COLUMNS)))


def corrected_latency(ts: np.ndarray, intended_ts: np.ndarray, latency_ms: np.ndarray) -> np.ndarray:
    """Completion time minus intended start, in ms; never below the service time itself."""
    return np.maximum(latency_ms, (ts - intended_ts) * 1000.0 + latency_ms)


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame (fresh or read back from Parquet) to the documented dtypes."""
    frame = frame.reindex(columns=list(COLUMNS))
    for name in ("ts", "intended_ts", "latency_ms", "latency_co_ms", "db_ms"):
        frame[name] = frame[name].astype("float64")
    frame["status"] = frame["status"].astype("int32")
    frame["bytes"] = frame["bytes"].astype("int64")
    frame["ok"] = frame["ok"].astype(bool)
    for name in ("tier", "plan", "endpoint", "worker", "error", "cache"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write samples with the fixed schema (written to a temporary name, then renamed into place)."""
    table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def read_parquet(path: Path) -> pd.DataFrame:
    """Read ``samples.parquet`` back into the documented dtypes."""
    return normalize(pq.read_table(path).to_pandas())
