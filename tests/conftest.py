"""Shared fixtures: the reference API as a real process on a free loopback port (tests/harness.py), and locust
runners (headless and the web UI)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Locust patches the standard library with gevent on import; it must come before anything imports ssl.
import locust  # noqa: F401
import pytest
import requests

from tests.harness import reference_api
from tests.services import service_url
from trademate_load.launcher import LOCUSTFILE, free_port, locust_command
from trademate_load.verdict import EXIT_BREACH, EXIT_NO_DATA, EXIT_PASS

ROOT = Path(__file__).resolve().parent.parent
# The exit codes of a run whose verdict a test leaves open: met, breached, or invalid because this busy machine
# starved the load generator (exit 3, which a test that needs a measured run reads through tests.measured).
JUDGED = (EXIT_PASS, EXIT_BREACH, EXIT_NO_DATA)


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


def wait_for(condition: Callable[[], bool], what: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` s, or at once if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, f"locust exited before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@contextmanager
def web_ui(api, profile: str, report_dir: Path, output: Path, workers: int = 0) -> Iterator[str]:
    """`make ui` as a real subprocess: Locust's web UI on a free loopback port aimed at ``api``, its stdout and
    stderr in ``output``; yields the UI's URL once it answers, and stops Locust (SIGTERM) after."""
    url, credentials = api
    port = free_port()
    cmd = locust_command(
        profile, url, credentials, ui=True, run_time="", report_dir=str(report_dir), workers=workers, web_port=port
    )
    with output.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    web = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(web), "web UI answering", 30, proc)
        yield web
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def only_run_dir(report_dir: Path) -> Path:
    """The one run directory a run wrote under ``report_dir`` (``latest`` aside)."""
    runs = [p for p in report_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL database the tests may use (TRADEMATE_TEST_DATABASE_URL)."""
    return service_url("TRADEMATE_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def redis_urls() -> dict[str, str]:
    """One Redis per tier (TRADEMATE_TEST_REDIS_SHARED_URL, TRADEMATE_TEST_REDIS_PREMIUM_URL)."""
    return {tier: service_url(f"TRADEMATE_TEST_REDIS_{tier.upper()}_URL") for tier in ("shared", "premium")}
