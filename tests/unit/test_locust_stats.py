"""Locust's statistics fed in batches from the collector equal what Locust's own per-request listener logs."""

import csv
import types

import locust.stats
import numpy as np
import pytest
from locust.env import Environment

from trademate_load import locust_compat, locust_stats
from trademate_load.collector import Collector
from trademate_load.frame import to_frame

ENDPOINTS = [("GET", "GET /api/v1/portfolio"), ("POST", "POST /api/v1/orders"), ("GET", "POST /api/v1/orders")]
# Locust's rounding, at and around its edges: halves round to even, 10 ms buckets from 100 ms, 100 ms from 1 s
EDGES = [0.5, 1.5, 2.5, 99.5, 99.49, 100.0, 105.0, 115.0, 994.9, 995.0, 1050.0, 1250.0, 9950.0, 15500.0]


def requests_to_fire(n=3000, seed=7):
    """Flat-out requests over about four seconds, in the order they complete (Locust fires the hook then):
    (start, response ms, endpoint, length, failed)."""
    rng = np.random.default_rng(seed)
    starts = 1_700_000_000.25 + np.sort(rng.uniform(0, 4, n))
    times = np.concatenate([rng.lognormal(np.log(3), 1.2, n - len(EDGES)), EDGES])
    rng.shuffle(times)
    rows = [
        (float(start), float(ms), ENDPOINTS[i % 3], int(rng.integers(0, 5000)), i % 97 == 0)
        for i, (start, ms) in enumerate(zip(starts, times, strict=True))
    ]
    return sorted(rows, key=lambda row: row[0] + row[1] / 1000.0)


def fire_all(environment, rows, clock, feeder=None, feed_every=700):
    """Fire each request through Locust's hook with Locust's clock at its completion, as FastHttpUser would."""
    for i, (start, ms, (method, name), length, failed) in enumerate(rows):
        clock.now = start + ms / 1000.0
        environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=ms,
            response_length=length,
            response=None,
            context={"tier": "premium", "plan": "ELITE"},
            exception=ConnectionResetError(104, "reset") if failed else None,
            start_time=start,
            url="http://127.0.0.1/x",
        )
        if feeder is not None and i % feed_every == feed_every - 1:
            feeder.feed()
    if feeder is not None:
        feeder.feed()


@pytest.fixture
def clock(monkeypatch):
    """Locust's statistics read time.time() from their module: the fired request's completion time instead."""
    clock = types.SimpleNamespace(now=0.0)
    clock.time = lambda: clock.now
    monkeypatch.setattr(locust.stats, "time", clock)
    return clock


def suite_process(**options):
    """A local Locust process as the suite sets it up: Locust's statistics fed by hand (the test says when, at
    batch edges that may fall mid-second) from a collector on the request hook."""
    environment = Environment(**options)
    environment.create_local_runner()
    feeder = locust_stats.install(environment)
    assert feeder is not None
    feeder._greenlet.kill()
    collector = Collector(pending=feeder.rows)
    environment.events.request.add_listener(collector.on_request)
    return environment, feeder, collector


def two_runs(clock, rows):
    """The suite's Locust statistics and Locust's own, from the same requests."""
    clock.now = rows[0][0]  # each run's statistics are created as its first request starts
    own = Environment()
    own.create_local_runner()
    fire_all(own, rows, clock)
    clock.now = rows[0][0]
    suite, feeder, _ = suite_process()
    fire_all(suite, rows, clock, feeder)
    return suite.runner.stats, own.runner.stats


def same_entry(ours, theirs):
    assert ours.num_requests == theirs.num_requests > 0
    assert ours.num_failures == theirs.num_failures
    assert ours.num_none_requests == theirs.num_none_requests
    assert dict(ours.num_reqs_per_sec) == dict(theirs.num_reqs_per_sec)
    assert dict(ours.num_fail_per_sec) == dict(theirs.num_fail_per_sec)
    assert dict(ours.response_times) == dict(theirs.response_times)
    assert ours.min_response_time == theirs.min_response_time
    assert ours.max_response_time == theirs.max_response_time
    assert ours.total_response_time == pytest.approx(theirs.total_response_time, rel=1e-12)
    assert ours.total_content_length == theirs.total_content_length
    assert ours.last_request_timestamp == pytest.approx(theirs.last_request_timestamp, abs=1e-6)
    assert list(ours.response_times_cache) == list(theirs.response_times_cache)
    for second, cached in theirs.response_times_cache.items():
        mine = ours.response_times_cache[second]
        assert (dict(mine.response_times), mine.num_requests) == (dict(cached.response_times), cached.num_requests)
    for percentile in (0.5, 0.95, 0.99, 0.999):
        assert ours.get_response_time_percentile(percentile) == theirs.get_response_time_percentile(percentile)


def test_batches_give_locusts_own_figures_entry_by_entry(clock):
    ours, theirs = two_runs(clock, requests_to_fire())
    assert set(ours.entries) == set(theirs.entries) == {(name, method) for method, name in ENDPOINTS}
    for key, entry in theirs.entries.items():
        same_entry(ours.entries[key], entry)
        assert ours.entries[key].start_time == pytest.approx(entry.start_time, abs=1e-6)
    same_entry(ours.total, theirs.total)
    assert {key: error.occurrences for key, error in ours.errors.items()} == {
        key: error.occurrences for key, error in theirs.errors.items()
    }


def test_a_bucket_rule_the_locustfile_replaced_is_followed(clock, monkeypatch):
    monkeypatch.setattr(locust.stats, "bucket_response_time", lambda ms: int(ms // 7) * 7)
    ours, theirs = two_runs(clock, requests_to_fire(n=500))
    assert dict(ours.total.response_times) == dict(theirs.total.response_times)
    assert all(key % 7 == 0 for key in ours.total.response_times)


def test_rows_pending_at_a_reset_go_with_it(clock):
    environment, feeder, _ = suite_process(reset_stats=True)
    rows = requests_to_fire(n=200)
    fire_all(environment, rows[:100], clock)
    environment.events.spawning_complete.fire(user_count=1)  # the runner resets its statistics here
    fire_all(environment, rows[100:], clock, feeder)
    assert environment.runner.stats.total.num_requests == 100
    fire_all(environment, rows[:50], clock)
    environment.events.reset_stats.fire()  # the web UI's reset: this event, then reset_all()
    environment.runner.stats.reset_all()
    feeder.feed()
    assert environment.runner.stats.total.num_requests == 0


def test_locusts_own_listener_is_the_one_replaced():
    environment = Environment()
    environment.create_local_runner()
    before = list(environment.events.request._handlers)
    assert [h.__qualname__ for h in before] == [locust_compat.RUNNER_LISTENER]
    feeder = locust_stats.install(environment)
    feeder._greenlet.kill()
    assert environment.events.request._handlers == []


def test_a_request_fired_without_a_response_time_is_counted_by_locust_and_kept_out_of_the_samples(clock):
    environment, feeder, collector = suite_process()
    fire_all(environment, requests_to_fire(n=20), clock)
    environment.events.request.fire(
        request_type="WS", name="connect", response_time=None, response_length=0, exception=OSError("refused")
    )
    feeder.feed()
    stats = environment.runner.stats
    assert (stats.total.num_requests, stats.total.num_none_requests) == (21, 1)
    assert stats.get("connect", "WS").num_failures == 1
    frame = to_frame(collector.drain())  # every column as long as the others
    assert len(frame) == 20 and "connect" not in set(frame["endpoint"])


def test_more_request_names_than_a_uint16_holds_are_all_counted(clock):
    _, feeder, collector = suite_process()
    names = 70_000  # a locustfile naming requests by URL
    for i in range(names):
        collector.on_request(request_type="GET", name=f"/item/{i}", response_time=1.0, start_time=1_700_000_000.0)
    assert len(feeder.rows.entry) == len(collector.buffer) == names
    assert feeder.rows.names[feeder.rows.entry[-1]] == (f"/item/{names - 1}", "GET")


def test_the_csv_files_are_written_again_with_the_last_rows_as_the_test_stops(clock, tmp_path):
    """Locust's own CSV writer runs each second and never at exit: the rows fed at the stop are written after it."""
    prefix = tmp_path / "locust"
    environment, _, _ = suite_process(parsed_options=types.SimpleNamespace(csv_prefix=str(prefix)))
    rows = requests_to_fire(n=300)
    fire_all(environment, rows, clock)  # all pending: no batch fed yet
    environment.events.test_stop.fire(environment=environment)
    with open(f"{prefix}_stats.csv", newline="") as file:
        written = {row["Name"]: (int(row["Request Count"]), int(row["Failure Count"])) for row in csv.DictReader(file)}
    stats = environment.runner.stats
    assert written["Aggregated"] == (300, stats.total.num_failures) and stats.total.num_failures > 0
    assert written == {name: (e.num_requests, e.num_failures) for (name, _), e in stats.entries.items()} | {
        "Aggregated": (300, stats.total.num_failures)
    }
    with open(f"{prefix}_failures.csv", newline="") as file:
        assert sum(int(row["Occurrences"]) for row in csv.DictReader(file)) == stats.total.num_failures
