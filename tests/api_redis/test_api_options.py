"""The optimization layer's process options: the profiling switch writes a loadable pstats file on SIGTERM, and
Redis variables that name only one tier's server are refused with exit 2 before anything starts."""

from __future__ import annotations

import pstats
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO

from .conftest import clean_env

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("switch", ["flag", "env"])
def test_profile_output_is_a_pstats_file_of_the_serving_process(launch_redis_api, tmp_path: Path, switch):
    output = tmp_path / "profiles" / "api.pstats"
    if switch == "flag":
        api = launch_redis_api("profile", None, "--profile-output", str(output))
    else:
        api = launch_redis_api("profile", env={"TRADEMATE_API_PROFILE": str(output)})
    session = api.client("PRO", 1)
    assert [session.get("/api/v1/portfolio").headers["X-Cache"] for _ in range(3)] == ["MISS", "HIT", "HIT"]
    assert not output.exists(), "the profile is written when the process stops"
    assert api.stop() == 0
    stats = pstats.Stats(str(output))
    functions = {(Path(filename).name, name) for filename, _line, name in stats.stats}
    assert {("optimizer.py", "endpoint"), ("routes.py", "portfolio")} <= functions
    assert stats.total_calls > 1000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_SHARED_URL": "redis://127.0.0.1:6390/0"}, "REDIS_PREMIUM_URL is not set"),
        ({"REDIS_URL": "postgresql://127.0.0.1/x"}, "is not a Redis URL"),
    ],
)
def test_incomplete_redis_settings_exit_2(tmp_path: Path, env, message):
    credentials = tmp_path / "credentials.csv"
    command = [sys.executable, "-m", "trademate_api", "--port", "0", "--credentials", str(credentials)]
    result = subprocess.run(command, cwd=REPO, env={**clean_env(), **env}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
    assert not credentials.exists()
