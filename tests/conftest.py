"""Shared fixtures: the reference API as a real process on a free loopback port, and a locust runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Locust patches the standard library with gevent on import; it must come before anything imports ssl.
import locust  # noqa: F401
import pytest

from trademate_load.launcher import LOCUSTFILE, reference_api

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    """(base URL, credentials file) of one reference API for the whole session."""
    with reference_api(tmp_path_factory.mktemp("api")) as (url, credentials):
        yield url, credentials


def target(api: tuple[str, Path], report_dir: Path) -> list[str]:
    """The options that aim a run at ``api`` and write its run directory under ``report_dir``."""
    url, credentials = api
    return ["--host", url, "--credentials", str(credentials), "--report-dir", str(report_dir)]


def run_locust(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``locust -f locustfiles/trademate.py --headless ARGS`` as a real subprocess."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def run_suite(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m trademate_load ARGS`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "trademate_load", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
