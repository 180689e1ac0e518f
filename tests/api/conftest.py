"""Fixtures that run the reference API as a real subprocess on port 0 and hand tests its URL and credentials."""

from __future__ import annotations

import csv
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from trademate_load.launcher import api_environment

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"^TradeMate API listening on (http://127\.0\.0\.1:(\d+))$")
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Reply:
    status_code: int
    headers: Message  # case-insensitive; a missing header reads as None
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self):
        return json.loads(self.content)


@dataclass
class Client:
    """A minimal HTTP client on http.client, one connection per request.

    Not `requests`: urllib3 imported before locust's gevent monkey-patching in the same pytest process (the unit
    tests import locust) makes gevent warn, and the warning is an error under this project's filterwarnings.
    """

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, *, headers=None, params=None, json_body=None) -> Reply:
        url = urlsplit(self.base_url)
        target = f"{path}?{urlencode(params)}" if params else path
        sent = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body, sent["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        with closing(http.client.HTTPConnection(url.hostname, url.port, timeout=10)) as conn:
            conn.request(method, target, body=body, headers=sent)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: object, **kwargs) -> Reply:
        return self.request("POST", path, json_body=json, **kwargs)


@dataclass
class RunningApi:
    """One API process: its base URL, the rows of its credentials file, and what it printed."""

    process: subprocess.Popen
    base_url: str
    credentials_path: Path
    credentials: list[dict[str, str]]
    stdout_reader: threading.Thread
    stderr_path: Path

    def token(self, plan: str, index: int = 0) -> str:
        return [row for row in self.credentials if row["plan"] == plan][index]["token"]

    def client(self, plan: str | None = None, index: int = 0) -> Client:
        """A client signed in as the `index`th user of `plan`, or anonymous."""
        headers = {"Authorization": f"Bearer {self.token(plan, index)}"} if plan else {}
        return Client(self.base_url, headers)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.stdout_reader.join(timeout)
            self.process.stdout.close()


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def start_api(workdir: Path, *args: str, env: dict[str, str] | None = None) -> RunningApi:
    """Start `python -m trademate_api --port 0` and wait for its single listening line."""
    credentials = workdir / "credentials.csv"
    command = [sys.executable, "-m", "trademate_api", "--host", "127.0.0.1", "--port", "0"]
    command += ["--credentials", str(credentials), "--users-per-plan", "5", *args]
    stderr_path = workdir / "api-stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**api_environment(dict(os.environ)), **(env or {})},
            text=True,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        line = lines.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        line = None
    match = LISTENING.fullmatch(line.rstrip("\n")) if line else None
    if match is None:
        process.kill()
        process.wait()
        raise AssertionError(f"API did not announce itself: {line!r}; stderr: {stderr_path.read_text()}")
    with credentials.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return RunningApi(process, match.group(1), credentials, rows, reader, stderr_path)


@pytest.fixture(scope="session")
def api_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """One API shared by the read-mostly tests of the session."""
    running = start_api(tmp_path_factory.mktemp("api"))
    yield running
    running.stop()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., RunningApi]]:
    """Start a private API for a test that stops it or inspects its files; anything left running is killed."""
    started: list[RunningApi] = []

    def _launch(*args: str, env: dict[str, str] | None = None) -> RunningApi:
        started.append(start_api(tmp_path, *args, env=env))
        return started[-1]

    yield _launch
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
        running.stop()


def server_timing(response: Reply) -> dict[str, float]:
    """`Server-Timing: app;dur=1.234, db;dur=0.456` as {"app": 1.234, "db": 0.456}."""
    timings = {}
    for metric in response.headers["Server-Timing"].split(","):
        name, _, params = metric.strip().partition(";")
        match = re.fullmatch(r"dur=(\d+\.\d{3})", params.strip())
        assert match, f"bad Server-Timing metric {metric!r}"
        timings[name] = float(match.group(1))
    return timings


@pytest.fixture(name="server_timing")
def server_timing_fixture() -> Callable[[Reply], dict[str, float]]:
    return server_timing
