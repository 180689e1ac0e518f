"""Requests fired at a collector as Locust fires them, for the tests of the sample record, store and frame."""

import pandas as pd


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
