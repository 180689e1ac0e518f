"""Fixtures that run the reference API with fault rules as a real subprocess on 127.0.0.1, and a keep-alive client."""

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from trademate_load.launcher import api_environment

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"TradeMate API listening on http://127\.0\.0\.1:(\d+)")
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Timed:
    """One response: status, headers, body, the client's time in ms, and Server-Timing's app duration in ms."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    client_ms: float

    @property
    def app_ms(self) -> float:
        match = re.search(r"app;dur=(\d+\.\d+)", self.headers["Server-Timing"] or "")
        assert match, f"no Server-Timing app duration in {self.headers!r}"
        return float(match.group(1))


class Client:
    """One keep-alive HTTP/1.1 connection on http.client (not `requests`: see tests/api/conftest.py)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, headers: dict[str, str] | None = None) -> Timed:
        return self.request("GET", path, headers=headers)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Timed:
        sent = {**self.headers, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=sent)
        response = self.connection.getresponse()
        content = response.read()
        return Timed(response.status, response.headers, content, (time.perf_counter() - started) * 1000.0)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


@dataclass
class FaultyApi:
    """A running API: its port, when its listening line was read (monotonic s), its users, and its stderr."""

    process: subprocess.Popen
    port: int
    listening_at: float
    credentials: list[dict[str, str]]
    stderr_path: Path

    def token(self, plan: str, index: int = 0) -> str:
        return [row for row in self.credentials if row["plan"] == plan][index]["token"]

    def client(self, plan: str | None = None) -> Client:
        return Client(self.port, self.token(plan) if plan else None)

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)
        finally:
            self.process.stdout.close()


def api_command(workdir: Path, *args: str) -> list[str]:
    credentials = workdir / "credentials.csv"
    return [
        sys.executable, "-m", "trademate_api", "--host", "127.0.0.1", "--port", "0",
        "--credentials", str(credentials), "--users-per-plan", "2", *args,
    ]  # fmt: skip


def start_api(workdir: Path, *args: str, env: dict[str, str] | None = None) -> FaultyApi:
    """Start the API with `args` and wait for its listening line (copied in spirit from tests/api/conftest.py)."""
    stderr_path = workdir / "api-stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            api_command(workdir, *args), cwd=REPO, env={**api_environment(dict(os.environ)), **(env or {})}, text=True,
            stdout=subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        line = ""
    listening_at = time.monotonic()
    match = LISTENING.fullmatch(line.rstrip("\n"))
    if match is None:
        process.kill()
        process.wait()
        raise AssertionError(f"API did not announce itself: {line!r}; stderr: {stderr_path.read_text()}")
    with (workdir / "credentials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return FaultyApi(process, int(match.group(1)), listening_at, rows, stderr_path)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., FaultyApi]]:
    """Start a private API with fault rules; it is stopped (killed if need be) after the test."""
    started: list[FaultyApi] = []

    def _launch(*args: str, env: dict[str, str] | None = None) -> FaultyApi:
        started.append(start_api(tmp_path, *args, env=env))
        return started[-1]

    yield _launch
    for running in started:
        running.stop()
