"""Faults over a process's life: a stall window holds requests arriving in it until it ends; bad rules exit 2."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness import REPO

from .conftest import FaultyApi, api_command

pytestmark = pytest.mark.integration

STALL_START_S, STALL_S = 1.5, 1.5
STALL_END_S = STALL_START_S + STALL_S


def _request_at(api: FaultyApi, offset_s: float, plan: str | None, path: str) -> tuple[float, float, int]:
    """Send GET `path` `offset_s` after the listening line: (sent, answered) in seconds after it, and the status."""
    time.sleep(max(0.0, api.listening_at + offset_s - time.monotonic()))
    with api.client(plan) as client:
        sent = time.monotonic() - api.listening_at
        status = client.get(path).status
    return sent, time.monotonic() - api.listening_at, status


def test_stall_window_holds_requests_arriving_inside_it_until_it_ends(launch):
    api = launch("--fault", f"stall={STALL_START_S}s+{STALL_S}s")
    plan = [
        (0.7, "LITE", "/api/v1/portfolio/summary"),  # before the window
        (1.7, "LITE", "/api/v1/portfolio/summary"),  # inside: held to its end
        (2.2, "ELITE", "/api/v1/watchlist"),
        (2.8, "PRO", "/api/v1/portfolio"),
        (2.0, None, "/health"),  # inside, but the default scope is /api/*
        (3.3, "LITE", "/api/v1/portfolio/summary"),  # after the window
    ]
    with ThreadPoolExecutor(len(plan)) as pool:  # greenlets under locust's gevent patching
        results = list(pool.map(lambda step: _request_at(api, *step), plan))
    assert [status for _, _, status in results] == [200] * len(plan)
    before, *held, health, after = results
    assert before[1] - before[0] < 0.2 and after[1] - after[0] < 0.2 and health[1] - health[0] < 0.2
    for sent, answered, _ in held:
        assert STALL_START_S <= sent < STALL_END_S
        assert STALL_END_S - 0.1 <= answered <= STALL_END_S + 0.2, f"sent at {sent:.3f} s, answered at {answered:.3f} s"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--fault", "tier=gold latency=fixed(5ms)"],
            {},
            "trademate_api: --fault \"tier=gold latency=fixed(5ms)\": bad token 'tier=gold': "
            "tier must be one of shared, premium",
        ),
        (
            [],
            {"TRADEMATE_FAULTS": "latency=fixed(5ms); error=2"},
            "trademate_api: TRADEMATE_FAULTS \"error=2\": bad token 'error=2': "
            "expected a rate in (0, 1], such as 0.005 or 0.5%",
        ),
    ],
    ids=["flag", "environment"],
)
def test_a_bad_rule_exits_2_with_one_line_naming_its_source_and_token(tmp_path: Path, args, env, expected):
    result = subprocess.run(
        api_command(tmp_path, *args), cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""
    assert not (tmp_path / "credentials.csv").exists(), "nothing is seeded or written before the rules parse"
