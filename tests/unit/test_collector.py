"""Requests fired through Locust's own events.request hook land as sample rows with the documented columns."""

import math

import numpy as np
import pandas as pd
import pytest
from geventhttpclient.header import Headers
from locust.env import Environment
from requests.structures import CaseInsensitiveDict

from trademate_load.collector import Collector, header_value
from trademate_load.frame import read_parquet, to_frame
from trademate_load.record import COLUMNS, cache_code, server_timing_db_ms
from trademate_load.store import write_parquet


class Response:
    """What FastHttpUser's response gives the listener: a status and geventhttpclient's own Headers."""

    def __init__(self, status_code, headers):
        self.status_code = status_code
        self.headers = Headers(headers)


@pytest.fixture
def fired():
    environment = Environment()
    collector = Collector(worker="w1")
    environment.events.request.add_listener(collector.on_request)
    fire = environment.events.request.fire
    fire(
        request_type="GET",
        name="GET /api/v1/portfolio",
        response_time=4.5,
        response_length=900,
        response=Response(200, {"server-timing": "app;dur=1.200, db;dur=0.350", "X-Cache": "MISS"}),
        context={"tier": "premium", "plan": "ELITE", "intended_ts": 99.9},
        exception=None,
        start_time=100.0,
        url="http://x",
    )
    fire(
        request_type="GET",
        name="GET /api/v1/market/quotes/{symbol}",
        response_time=1.25,
        response_length=300,
        response=Response(200, {"X-Cache": "HIT", "Server-Timing": "app;dur=0.1"}),
        context={"tier": "shared", "plan": "LITE", "intended_ts": 101.0},
        exception=None,
        start_time=101.0,
        url="http://x",
    )
    fire(
        request_type="POST",
        name="POST /api/v1/orders",
        response_time=30.0,
        response_length=0,
        response=Response(0, {}),
        context={"tier": "shared", "plan": "PRO", "intended_ts": 101.5},
        exception=ConnectionRefusedError(111, "Connection refused"),
        start_time=102.0,
        url="http://x",
    )
    return collector


def test_rows_carry_every_column(fired):
    frame = to_frame(fired.drain())
    assert list(frame.columns) == list(COLUMNS)
    first, second, third = (frame.iloc[i] for i in range(3))
    assert (first.tier, first.plan, first.endpoint, first.status, first.ok) == (
        "premium",
        "ELITE",
        "GET /api/v1/portfolio",
        200,
        True,
    )
    assert first.latency_ms == 4.5
    assert first.latency_co_ms == pytest.approx(100 + 4.5)  # 0.1 s late + 4.5 ms
    assert (first.db_ms, first.cache, first.bytes, first.worker) == (0.35, "miss", 900, "w1")
    assert second.cache == "hit" and math.isnan(second.db_ms) and second.latency_co_ms == 1.25
    assert (third.status, third.ok) == (0, False)
    assert third.error.startswith("ConnectionRefusedError")
    assert third.latency_co_ms == pytest.approx(500 + 30.0)
    assert pd.isna(first.error) and pd.isna(third.cache)  # nulls of categorical columns


def test_drain_swaps_the_buffer(fired):
    assert len(fired.drain()) == 3
    assert len(fired.drain()) == 0


def test_parquet_round_trip(fired, tmp_path):
    frame = to_frame(fired.drain())
    write_parquet(frame, tmp_path / "samples.parquet")
    back = read_parquet(tmp_path / "samples.parquet")
    assert list(back.columns) == list(COLUMNS)
    assert back["latency_ms"].tolist() == frame["latency_ms"].tolist()
    assert pd.isna(back["error"].iloc[0]) and back["error"].iloc[2].startswith("ConnectionRefused")
    assert np.isnan(back["db_ms"].iloc[1])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("app;dur=1.2, db;dur=0.35", 0.35),
        ("db;dur=7;desc=x", 7.0),
        ("app;dur=1", math.nan),
        (None, math.nan),
        ("db;dur=bad", math.nan),
    ],
)
def test_server_timing(header, expected):
    got = server_timing_db_ms(header)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


@pytest.mark.parametrize("make", [Headers, CaseInsensitiveDict], ids=["geventhttpclient", "requests"])
def test_header_values_are_read_whatever_the_case_and_repeated_lines_joined(make):
    headers = make({"Server-Timing": "app;dur=1", "X-Cache": "HIT"})
    assert header_value(headers, "server-timing") == "app;dur=1"
    assert header_value(headers, "x-cache") == "HIT"
    assert header_value(headers, "x-absent") is None
    if make is Headers:  # two Server-Timing lines, as HTTP allows; requests joins them while parsing
        headers.add("server-timing", "db;dur=0.5")
        assert header_value(headers, "server-timing") == "app;dur=1, db;dur=0.5"


def test_db_time_is_found_in_a_repeated_server_timing_header():
    collector, response = Collector(), Response(200, {"Server-Timing": "app;dur=1"})
    response.headers.add("Server-Timing", "db;dur=0.25")
    collector.on_request(
        name="GET /a", response_time=1.0, response=response, context={}, exception=None, start_time=1.0
    )
    assert to_frame(collector.drain())["db_ms"].tolist() == [0.25]


def test_cache_codes():
    assert [cache_code(h) for h in ("HIT", "miss", None, "STALE")] == [1, 0, -1, -1]
