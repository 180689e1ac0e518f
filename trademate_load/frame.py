"""The samples as a pandas DataFrame in the record's dtypes: read back from ``samples.parquet``, or from a buffer.

The columns are :mod:`trademate_load.record`'s; the str columns are categoricals (the Parquet file's
dictionaries, read as they are), the others the record's numpy dtypes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trademate_load.record import COLUMNS, FIELDS, STRING_COLUMNS, SampleBuffer
from trademate_load.store import CODED_SCHEMA, record_batch

NUMERIC_DTYPES = {name: np.dtype(kind) for name, kind in FIELDS if kind != "str"}


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


def to_frame(buffer: SampleBuffer) -> pd.DataFrame:
    """A buffer's samples (no longer appended to) with the documented columns and dtypes."""
    return normalize(record_batch(buffer).to_pandas())


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
        columns = {name: _read_column(file, CODED_SCHEMA.field(name), path) for name in COLUMNS}
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
