"""The reference API as a real process, the one way every test starts it: ``python -m trademate_api`` on a free
loopback port (``--port 0``) with the given options; ``start_api`` waits for its listening line and for /health to
answer (it prints its address before its start-up: seeding, warming, Redis set-up), and ``ApiProcess.stop`` stops it.

The clients live with the tests that use them (tests/api: one connection per request; tests/api_faults: keep-alive
and timed), as subclasses of ``ApiProcess`` passed to ``start_api`` as ``kind``.
"""

from __future__ import annotations

import csv
import http.client
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from trademate_load.launcher import WARM_USERS, api_environment

REPO = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"TradeMate API listening on (http://127\.0\.0\.1:(\d+))")
START_TIMEOUT_S = 60.0
USERS_PER_PLAN = 5  # the API's own default is 200: the tests of the API itself need only a few


@dataclass
class ApiProcess:
    """One API process: its URL and port, when its listening line was read (monotonic s), the rows of its
    credentials file, and the file its stderr goes to."""

    process: subprocess.Popen
    base_url: str
    port: int
    listening_at: float
    credentials_path: Path
    credentials: list[dict[str, str]]
    stderr_path: Path
    stdout_reader: threading.Thread

    def token(self, plan: str, index: int = 0) -> str:
        return [row for row in self.credentials if row["plan"] == plan][index]["token"]

    def user_id(self, plan: str, index: int = 0) -> str:
        return [row for row in self.credentials if row["plan"] == plan][index]["user_id"]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` (if it still runs) and wait for its exit code; killed if it outlives ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)
        finally:
            self.stdout_reader.join(timeout)
            self.process.stdout.close()


Api = TypeVar("Api", bound=ApiProcess)


def api_command(workdir: Path, *args: str, users_per_plan: int | None = USERS_PER_PLAN) -> list[str]:
    """The API's command line, its credentials file in ``workdir``; ``users_per_plan=None``: the API's default."""
    command = [sys.executable, "-m", "trademate_api", "--host", "127.0.0.1", "--port", "0"]
    command += ["--credentials", str(workdir / "credentials.csv")]
    if users_per_plan is not None:
        command += ["--users-per-plan", str(users_per_plan)]
    return [*command, *args]


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _healthy(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            timeout = max(0.1, deadline - time.monotonic())
            with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)) as conn:
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def start_api(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    users_per_plan: int | None = USERS_PER_PLAN,
    kind: type[Api] = ApiProcess,
    health: bool = True,
    timeout: float = START_TIMEOUT_S,
) -> Api:
    """Start the API with ``args`` (and ``env`` over the test's environment, backends only as the launcher passes
    them) in a session of its own; return it once it has printed its address and /health answers 200
    (``health=False``: its address alone, for tests whose seeded fault rules would draw for that request)."""
    stderr_path = workdir / "api-stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            api_command(workdir, *args, users_per_plan=users_per_plan),
            cwd=REPO,
            env={**api_environment(dict(os.environ)), **(env or {})},
            text=True,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = None
    listening_at = time.monotonic()
    match = LISTENING.fullmatch(line.rstrip("\n")) if line else None
    if match is None or (health and not _healthy(int(match.group(2)), deadline)):
        process.kill()
        process.wait()
        what = "did not announce itself" if match is None else "did not answer /health"
        raise AssertionError(f"API {what}: {line!r}; stderr: {stderr_path.read_text()}")
    credentials = workdir / "credentials.csv"
    with credentials.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    url, port = match.group(1), int(match.group(2))
    return kind(process, url, port, listening_at, credentials, rows, stderr_path, reader)


@contextmanager
def api_launcher(workdir: Path, **defaults) -> Iterator[Callable[..., ApiProcess]]:
    """``launch(*args, env=..., ...)`` starts APIs (``defaults``: start_api's keywords); all are stopped after."""
    started: list[ApiProcess] = []

    def launch(*args: str, **options) -> ApiProcess:
        started.append(start_api(workdir, *args, **{**defaults, **options}))
        return started[-1]

    try:
        yield launch
    finally:
        for running in started:
            running.stop()


@contextmanager
def reference_api(workdir: Path, extra_args: Sequence[str] = ()) -> Iterator[tuple[str, Path]]:
    """(URL, credentials file) of an API seeded as the make targets' (200 users per plan, every one warmed), for
    real ``locust`` runs; ``extra_args`` go to its command line (``--fault ...``, ``--fault-seed 7``)."""
    running = start_api(workdir, "--warm-users", str(WARM_USERS), *extra_args, users_per_plan=None)
    try:
        yield running.base_url, running.credentials_path
    finally:
        running.stop()
