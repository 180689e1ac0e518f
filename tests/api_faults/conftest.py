"""Fixtures that run the reference API with fault rules (tests/harness.py), and a keep-alive client."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import harness
from tests.harness import ApiProcess

USERS_PER_PLAN = 2


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


class FaultyApi(ApiProcess):
    """The API as the fault tests drive it: `client(plan)` is one keep-alive connection that times each response."""

    def client(self, plan: str | None = None) -> Client:
        return Client(self.port, self.token(plan) if plan else None)


def api_command(workdir: Path, *args: str) -> list[str]:
    return harness.api_command(workdir, *args, users_per_plan=USERS_PER_PLAN)


# Waiting for the listening line alone, no /health request: a seeded rule may select /health, and its draws belong
# to its own test.
OPTIONS = {"users_per_plan": USERS_PER_PLAN, "kind": FaultyApi, "health": False}


def start_api(workdir: Path, *args: str, env: dict[str, str] | None = None) -> FaultyApi:
    """tests.harness.start_api with 2 users per plan, as a FaultyApi."""
    return harness.start_api(workdir, *args, env=env, **OPTIONS)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., FaultyApi]]:
    """Start a private API with fault rules; it is stopped (killed if need be) after the test."""
    with harness.api_launcher(tmp_path, **OPTIONS) as launch:
        yield launch
