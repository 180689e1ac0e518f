"""The samples as a DataFrame: a buffer's rows in the documented columns and dtypes, and files that are not samples."""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fired import Response, fire, nulls_as_none
from trademate_load.collector import Collector
from trademate_load.frame import NUMERIC_DTYPES, SamplesFileError, normalize, read_parquet, to_frame
from trademate_load.record import COLUMNS, STRING_COLUMNS


def test_columns_round_trip_through_the_coded_buffer():
    collector = Collector(worker="w1")
    fire(collector, 3, late_s=0.25)
    fire(collector, 1, tier="shared", plan="PRO", name="POST /b", response=Response(0, {}), exception=OSError("x"))
    frame = to_frame(collector.drain())
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


def test_documented_dtypes():
    frame = to_frame(Collector().drain())  # no rows: the dtypes all the same
    assert {name: frame[name].dtype for name in NUMERIC_DTYPES} == NUMERIC_DTYPES
    assert all(isinstance(frame[name].dtype, pd.CategoricalDtype) for name in STRING_COLUMNS)
    assert normalize(frame) is frame  # nothing to cast


def test_files_that_are_not_samples(tmp_path):
    with pytest.raises(SamplesFileError, match="no such file"):
        read_parquet(tmp_path / "samples.parquet")
    pq.write_table(pa.table({"ts": [1.0]}), tmp_path / "other.parquet")
    with pytest.raises(SamplesFileError, match="not a samples file: missing columns intended_ts, tier"):
        read_parquet(tmp_path / "other.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(SamplesFileError, match="not a readable Parquet file"):
        read_parquet(tmp_path / "text.parquet")
