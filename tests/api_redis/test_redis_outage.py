"""Redis going away mid-run: requests keep succeeding from the database, the failures are counted by tier, the other
tier's server is untouched, and the cache is used again once Redis is back."""

from __future__ import annotations

import socket
import time

import pytest

from .conftest import counter, scrape, user_id

pytestmark = pytest.mark.integration

PATHS = ["/api/v1/portfolio", "/api/v1/market/quotes/AAPL", "/api/v1/market/quotes?symbols=AAPL,MSFT,KO"]


def cache_states(session) -> list[tuple[int, str]]:
    return [(r.status_code, r.headers["X-Cache"]) for r in (session.get(path) for path in PATHS)]


def test_requests_survive_redis_going_away_and_the_errors_are_counted(
    scratch_redis, launch_redis_api, redis_urls, prefix
):
    premium = scratch_redis()
    api = launch_redis_api(prefix, {"shared": redis_urls["shared"], "premium": premium.url})
    elite, lite = api.client("ELITE", 0), api.client("LITE", 0)
    assert cache_states(elite) == [(200, "MISS"), (200, "HIT"), (200, "HIT")]
    assert cache_states(elite) == [(200, "HIT")] * 3
    assert lite.get("/api/v1/portfolio").headers["X-Cache"] == "MISS"

    premium.kill()
    down = [cache_states(elite) for _ in range(5)]
    assert down == [[(200, "MISS")] * 3] * 5
    body = elite.get("/api/v1/portfolio").json()
    assert body["user_id"] == user_id(api, "ELITE", 0) and body["positions"]
    assert lite.get("/api/v1/portfolio").headers["X-Cache"] == "HIT"  # the shared tier's server is still there
    families = scrape(api)
    assert counter(families, "trademate_api_cache_errors", "premium") >= 1
    assert counter(families, "trademate_api_cache_errors", "shared") == 0

    premium.start()  # same port, empty: after the pause the cache fills again
    deadline, states = time.monotonic() + 10, []
    while time.monotonic() < deadline and states[-2:] != ["MISS", "HIT"]:
        states.append(elite.get("/api/v1/portfolio").headers["X-Cache"])
        time.sleep(0.1)
    assert states[-2:] == ["MISS", "HIT"], states
    assert api.stop() == 0


def test_an_unreachable_redis_at_start_up_leaves_the_api_serving_from_the_database(launch_redis_api, prefix):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    api = launch_redis_api(prefix, {"shared": dead, "premium": dead})
    session = api.client("BLACK", 0)
    assert [session.get("/api/v1/portfolio").status_code for _ in range(3)] == [200] * 3
    assert session.get("/api/v1/market/quotes/AAPL").headers["X-Cache"] == "MISS"
    families = scrape(api)
    assert counter(families, "trademate_api_cache_errors", "premium") >= 1
    assert counter(families, "trademate_api_cache_hits", "premium") == 0
    assert api.stop() == 0
    assert "does not answer" in api.stderr_path.read_text()
