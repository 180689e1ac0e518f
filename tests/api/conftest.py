"""Fixtures that run the reference API as a real subprocess (tests/harness.py) and a client for it."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests import harness
from tests.harness import REPO, ApiProcess

__all__ = ["REPO", "Client", "Reply", "RunningApi", "server_timing", "start_api"]


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


class RunningApi(ApiProcess):
    """The API as tests/api drives it: `client(plan)` opens one connection per request."""

    def client(self, plan: str | None = None, index: int = 0) -> Client:
        """A client signed in as the `index`th user of `plan`, or anonymous."""
        headers = {"Authorization": f"Bearer {self.token(plan, index)}"} if plan else {}
        return Client(self.base_url, headers)


def start_api(workdir: Path, *args: str, env: dict[str, str] | None = None) -> RunningApi:
    """tests.harness.start_api with 5 users per plan, as a RunningApi."""
    return harness.start_api(workdir, *args, env=env, kind=RunningApi)


@pytest.fixture(scope="session")
def api_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    """One API shared by the read-mostly tests of the session."""
    running = start_api(tmp_path_factory.mktemp("api"))
    yield running
    running.stop()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., RunningApi]]:
    """Start a private API for a test that stops it or inspects its files; anything left running is stopped."""
    with harness.api_launcher(tmp_path, kind=RunningApi) as launch:
        yield launch


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
