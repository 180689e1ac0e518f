"""Security of the reference API: random hashed tokens, no tier spoofing, validated input, and no 500 under fuzzing.

The fuzzing half drives schemathesis (its Python API: cases drawn from the served OpenAPI document by
Hypothesis) against the real API process, authenticated with a real seeded token of each tier; every answer must
be below 500 (a statement timeout's designed 503 with Retry-After excepted) and a status the document declares.
"""

from __future__ import annotations

import collections
import http.client
import os
import re
from contextlib import closing
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from trademate_api.auth import TokenIndex, User
from trademate_api.seed import generate, hash_token

pytestmark = pytest.mark.integration

FUZZ_EXAMPLES = 120  # per tier; about 5 s each here
URLSAFE = re.compile(r"[A-Za-z0-9_-]{43,}")  # secrets.token_urlsafe(32): 256 random bits


def raw_get(base_url: str, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """GET with headers sent exactly as listed, repeated names included (a dict cannot repeat one)."""
    url = urlsplit(base_url)
    with closing(http.client.HTTPConnection(url.hostname, url.port, timeout=10)) as conn:
        conn.putrequest("GET", path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()


# Tokens: random, never stored or held in clear, compared by their hash.


def test_tokens_are_fresh_random_256_bit_strings_whatever_the_seed():
    now = datetime(2026, 1, 2, tzinfo=UTC)
    first, second = generate(3, seed=7, now=now), generate(3, seed=7, now=now)
    assert first.quotes == second.quotes  # market data is reproducible from the seed ...
    tokens = [c.token for c in first.credentials]
    assert all(URLSAFE.fullmatch(token) for token in tokens)
    assert len(set(tokens)) == len(tokens)
    assert not set(tokens) & {c.token for c in second.credentials}  # ... tokens never are
    assert [row[3] for row in first.users] == [hash_token(token) for token in tokens]


def test_the_token_index_holds_hashes_only_and_refuses_near_misses_and_the_hash_itself():
    seed = generate(1, seed=1)
    index = TokenIndex(User(*row) for row in seed.users)
    held = repr(vars(index))
    token = seed.credentials[0].token
    assert not any(c.token in held for c in seed.credentials)
    assert index.resolve(f"Bearer {token}".encode()).user_id == seed.credentials[0].user_id
    # The tokens are random: each end is replaced by a character it is not (a fixed "x" was the same 1 in 64)
    first, last = ("B" if c == "A" else "A" for c in (token[0], token[-1]))
    for forged in (token[:-1] + last, first + token[1:], token + "x", hash_token(token)):
        assert forged != token and index.resolve(f"Bearer {forged}".encode()) is None


def test_a_stored_hash_is_not_a_password(api_proc):
    token = api_proc.token("BLACK")
    response = api_proc.client().get("/api/v1/portfolio", headers={"Authorization": f"Bearer {hash_token(token)}"})
    assert response.status_code == 401


@pytest.mark.parametrize("plan", ["LITE", "ELITE"])
def test_refusals_never_echo_the_token(api_proc, plan):
    token = api_proc.token(plan)
    bad = api_proc.client().get("/api/v1/portfolio", headers={"Authorization": f"Bearer {token}x"})
    spoofed = api_proc.client(plan).get("/api/v1/portfolio", headers={"X-User-Tier": "gold"})
    assert (bad.status_code, spoofed.status_code) == (401, 403)
    for response in (bad, spoofed):
        assert token not in response.text and token not in str(response.headers)


def test_two_authorization_headers_are_refused(api_proc):
    shared, premium = api_proc.token("LITE"), api_proc.token("BLACK")
    headers = [("Authorization", f"Bearer {shared}"), ("Authorization", f"Bearer {premium}")]
    status, _ = raw_get(api_proc.base_url, "/api/v1/analytics/premium", headers)
    assert status == 401


# Tiers: the token decides; X-User-Tier can only agree.


@pytest.mark.parametrize(
    "claims", [["premium", "shared"], ["shared", "premium"], ["shared", "shared, premium"]], ids=str
)
def test_a_repeated_x_user_tier_cannot_smuggle_another_tier(api_proc, claims):
    headers = [("Authorization", f"Bearer {api_proc.token('PRO')}"), *(("X-User-Tier", c) for c in claims)]
    status, body = raw_get(api_proc.base_url, "/api/v1/portfolio", headers)
    assert status == 403, body


@pytest.mark.parametrize(
    "path",
    ["/api/v1/portfolio", "/api/v1/portfolio/summary", "/api/v1/market/quotes/AAPL",
     "/api/v1/market/quotes?symbols=AAPL", "/api/v1/watchlist", "/api/v1/orders", "/api/v1/analytics/premium"],
)  # fmt: skip
def test_every_endpoint_refuses_a_spoofed_tier(api_proc, path):
    response = api_proc.client("LITE").get(path, headers={"X-User-Tier": "premium"})
    assert response.status_code == 403
    assert "disagrees" in response.json()["detail"]


def test_a_spoofed_order_is_refused_and_not_placed(api_proc):
    session = api_proc.client("PRO", 2)
    before = session.get("/api/v1/orders?limit=100").json()["count"]
    order = {"symbol": "AAPL", "side": "buy", "quantity": 1}
    assert session.post("/api/v1/orders", json=order, headers={"X-User-Tier": "premium"}).status_code == 403
    assert session.get("/api/v1/orders?limit=100").json()["count"] == before


@pytest.mark.parametrize("headers", [{}, {"X-User-Tier": "premium"}, {"X-User-Tier": "PREMIUM "}], ids=str)
@pytest.mark.parametrize("plan", ["LITE", "PRO"])
def test_shared_users_never_reach_premium_analytics(api_proc, plan, headers):
    response = api_proc.client(plan).get("/api/v1/analytics/premium", headers=headers)
    assert response.status_code == 403
    assert set(response.json()) == {"detail"}


# Input: refused with 422 (never 500), naming the field.


@pytest.mark.parametrize("limit", ["²", "9" * 5000, "١", "+5", " 5", "5.0", "-1", "0x10", ""])
def test_odd_order_limits_are_422(api_proc, limit):
    response = api_proc.client("ELITE").get("/api/v1/orders", params={"limit": limit})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("symbol", ["%00", "A" * 11, "AAPL%0A", "%C3%A9", "AA%20PL", "AAPL%3B1"])
def test_malformed_path_symbols_are_422(api_proc, symbol):
    response = api_proc.client("ELITE").get(f"/api/v1/market/quotes/{symbol}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "symbol"] or "symbol" in response.text


@pytest.mark.parametrize("symbols", ["AAPL,\x00", "AAPL," + "X" * 11, "AAPL,<script>", "AAPL,é"])
def test_malformed_batch_symbols_are_422(api_proc, symbols):
    response = api_proc.client("LITE").get("/api/v1/market/quotes", params={"symbols": symbols})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "symbols"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": "AAPL", "side": "buy", "quantity": 1, "price": 1e7}, "price"),
        ({"symbol": "AAPL", "side": "buy", "quantity": 1, "price": "nan"}, "price"),
        ({"symbol": "AAPL", "side": "buy", "quantity": True}, "quantity"),
        ({"symbol": "AAPL", "side": "buy", "quantity": "5"}, "quantity"),
        ({"symbol": "AAPL;DROP", "side": "buy", "quantity": 1}, "symbol"),
        ({"symbol": "AAPL", "side": "BUY", "quantity": 1}, "side"),
    ],
    ids=["price-too-high", "price-nan", "quantity-bool", "quantity-text", "symbol-injection", "side-case"],
)
def test_malformed_orders_are_422_naming_the_field(api_proc, body, field):
    response = api_proc.client("PRO").post("/api/v1/orders", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_a_body_that_is_not_an_object_is_422(api_proc):
    assert api_proc.client("PRO").post("/api/v1/orders", json=[1, 2]).status_code == 422


# Fuzzing from the OpenAPI document.


def _server_error(response) -> bool:
    """Any 5xx except the designed answer to a database statement timeout (503 with Retry-After)."""
    designed = response.status_code == 503 and "retry-after" in response.headers  # lowercase keys
    return response.status_code >= 500 and not designed


def test_the_openapi_document_describes_every_endpoint_with_bearer_auth(api_proc):
    document = api_proc.client().get("/openapi.json").json()
    operations = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    assert operations == {
        "GET /api/v1/portfolio", "GET /api/v1/portfolio/summary", "GET /api/v1/market/quotes/{symbol}",
        "GET /api/v1/market/quotes", "GET /api/v1/watchlist", "GET /api/v1/orders", "POST /api/v1/orders",
        "GET /api/v1/analytics/premium", "GET /health",
    }  # fmt: skip
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert all(ops[m]["security"] for p, ops in document["paths"].items() if p.startswith("/api/") for m in ops)


@pytest.mark.parametrize("plan", ["LITE", "BLACK"])
def test_schemathesis_finds_no_server_error(api_proc, plan):
    schema = schemathesis.openapi.from_url(f"{api_proc.base_url}/openapi.json", timeout=10)
    auth = {"Authorization": f"Bearer {api_proc.token(plan)}"}
    statuses: collections.Counter = collections.Counter()
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def probe(case):
        response = case.call(base_url=api_proc.base_url, headers=auth, timeout=10)
        statuses[f"{case.method} {case.path} {response.status_code}"] += 1
        assert not _server_error(response), f"{response.status_code} {response.text[:200]} {case.as_curl_command()}"
        case.validate_response(response, checks=[status_code_conformance, content_type_conformance])

    probe()
    answered = {key.rsplit(" ", 1)[0] for key in statuses}
    assert len(answered) >= 7, statuses  # the fuzzer reached (nearly) every operation ...
    assert any(key.endswith((" 200", " 201")) for key in statuses if "/api/" in key), statuses  # ... signed in
