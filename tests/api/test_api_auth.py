"""Authentication and tiers: bearer tokens, the X-User-Tier cross-check, and premium-only analytics."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
def test_missing_or_bad_token_is_401(api_proc, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = api_proc.client().get("/api/v1/portfolio", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()


def test_token_scheme_is_case_insensitive(api_proc):
    token = api_proc.token("LITE")
    response = api_proc.client().get("/api/v1/portfolio", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("plan", ["LITE", "PRO", "ELITE", "BLACK"])
def test_tier_comes_from_the_token(api_proc, plan):
    body = api_proc.client(plan).get("/api/v1/portfolio").json()
    expected = next(row for row in api_proc.credentials if row["plan"] == plan)
    assert (body["user_id"], body["plan"], body["tier"]) == (expected["user_id"], plan, expected["tier"])


@pytest.mark.parametrize(
    ("plan", "claimed", "status"),
    [
        ("LITE", "shared", 200),
        ("PRO", "SHARED", 200),
        ("ELITE", "Premium", 200),
        ("LITE", "premium", 403),
        ("BLACK", "shared", 403),
        ("ELITE", "gold", 403),
    ],
)
def test_x_user_tier_must_agree_with_the_token(api_proc, plan, claimed, status):
    response = api_proc.client(plan).get("/api/v1/portfolio", headers={"X-User-Tier": claimed})
    assert response.status_code == status
    if status == 403:
        assert "disagrees" in response.json()["detail"]


@pytest.mark.parametrize(("plan", "status"), [("LITE", 403), ("PRO", 403), ("ELITE", 200), ("BLACK", 200)])
def test_premium_analytics_refuse_shared_users(api_proc, plan, status):
    response = api_proc.client(plan).get("/api/v1/analytics/premium")
    assert response.status_code == status
    assert "app" in response.headers["Server-Timing"]


@pytest.mark.parametrize(("claimed", "echoed"), [(None, None), ("PREMIUM", "premium"), ("Shared", "shared")])
def test_health_needs_no_token_and_echoes_the_named_tier(api_proc, claimed, echoed):
    headers = {"X-User-Tier": claimed} if claimed else {}
    response = api_proc.client().get("/health", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "tier": echoed}
    assert "X-Cache" not in response.headers
