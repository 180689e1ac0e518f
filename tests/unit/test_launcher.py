"""The launcher's pure decisions: which URLs it aims at and which backends it hands the reference API."""

import pytest

from trademate_load.launcher import LaunchError, api_environment, check_host


@pytest.mark.parametrize("host", ["http://127.0.0.1:8000", "https://api.example.com/", "http://[::1]:8000"])
def test_http_urls_are_accepted(host):
    assert check_host(host) == host.rstrip("/")


@pytest.mark.parametrize("host", ["myhostname", "127.0.0.1:8000", "ftp://x", "http://"])
def test_anything_else_is_invalid_input(host):
    with pytest.raises(LaunchError) as info:
        check_host(host)
    assert info.value.exit_code == 2


def test_backends_reach_the_api_only_with_the_prefix():
    env = api_environment({"PATH": "/bin", "DATABASE_URL": "postgresql://prod/db", "REDIS_URL": "redis://prod"})
    assert env == {"PATH": "/bin"}
    env = api_environment({"TRADEMATE_API_DATABASE_URL": "postgresql://t/db", "TRADEMATE_API_REDIS_SHARED_URL": "r"})
    assert env["DATABASE_URL"] == "postgresql://t/db" and env["REDIS_SHARED_URL"] == "r"
