"""deploy/nginx/trademate.conf in a real nginx routing to stub tiers.

The tests start nginx on a free loopback port with the upstream servers rewritten to two stub APIs
(stub_upstream.py, one per tier) and check routing by X-User-Tier, keep-alive on both sides, gzip, headers
passed through, /metrics kept inside, and the access log. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path

import pytest

from tests.deploy.nginx_conf import LISTEN, NGINX_CONF, PLACEHOLDERS, START_TIMEOUT_S, STUB


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def stub(tier: str) -> Iterator[int]:
    """A stub tier API in its own process; yields its port."""
    process = subprocess.Popen([sys.executable, str(STUB), tier], stdout=subprocess.PIPE, text=True)
    try:
        yield int(process.stdout.readline())
    finally:
        stop(process)
        process.stdout.close()


def wait_listening(port: int, process: subprocess.Popen, errors: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited with {process.returncode}: {errors.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nginx did not listen on {port} within {START_TIMEOUT_S} s: {errors.read_text()}")


@dataclass(frozen=True)
class Proxy:
    port: int
    access_log: Path


@pytest.fixture(scope="module")
def proxy(nginx, tmp_path_factory) -> Iterator[Proxy]:
    """nginx with the repository's config, its upstreams rewritten to the stubs and its listener to a free port."""
    directory = tmp_path_factory.mktemp("nginx")
    with ExitStack() as stack:
        text = NGINX_CONF.read_text(encoding="utf-8")
        for tier, placeholder in PLACEHOLDERS.items():
            port = stack.enter_context(stub(tier))
            assert text.count(f"server {placeholder} ") == 1
            text = text.replace(f"server {placeholder} ", f"server 127.0.0.1:{port} ")
        listen = free_port()
        assert text.count(LISTEN) == 1
        text = text.replace(LISTEN, f"listen 127.0.0.1:{listen}")
        conf = directory / "trademate.conf"
        conf.write_text(text, encoding="utf-8")
        access_log, errors = directory / "stdout.log", directory / "stderr.log"
        with open(access_log, "wb") as out, open(errors, "wb") as err:
            command = [nginx, "-p", str(directory), "-e", "stderr", "-c", str(conf)]
            command += ["-g", f"daemon off; pid {directory}/nginx.pid;"]
            process = subprocess.Popen(command, stdout=out, stderr=err)
        stack.callback(stop, process)
        wait_listening(listen, process, errors)
        yield Proxy(listen, access_log)


def get(connection: HTTPConnection, path: str, headers: dict[str, str] | None = None) -> tuple[HTTPResponse, bytes]:
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    return response, response.read()


def connect(proxy: Proxy) -> HTTPConnection:
    return HTTPConnection("127.0.0.1", proxy.port, timeout=5)


@pytest.mark.parametrize(
    ("header", "tier"),
    [(None, "shared"), ("shared", "shared"), ("premium", "premium"), ("PREMIUM", "premium"), ("gold", "shared")],
)
def test_routes_by_tier_header(proxy, header, tier):
    headers = {"X-User-Tier": header} if header else {}
    with closing(connect(proxy)) as connection:
        response, body = get(connection, "/api/v1/portfolio?x=1", headers)
    assert response.status == 200
    document = json.loads(body)
    assert document["tier"] == tier
    assert (document["path"], document["x_user_tier"]) == ("/api/v1/portfolio?x=1", header)


@pytest.mark.parametrize("tier", ["shared", "premium"])
def test_keep_alive_on_both_sides(proxy, tier):
    with closing(connect(proxy)) as connection:
        documents, sockets = [], []
        for _ in range(4):
            response, body = get(connection, "/health", {"X-User-Tier": tier})
            assert response.status == 200 and not response.will_close
            documents.append(json.loads(body))
            sockets.append(connection.sock)
    assert all(sock is sockets[0] for sock in sockets), "the client connection was not reused"
    assert {doc["tier"] for doc in documents} == {tier}
    # Upstream: HTTP/1.1 without `Connection: close`, one pooled connection for all four requests.
    assert {(doc["request_version"], doc["connection"]) for doc in documents} == {("HTTP/1.1", None)}
    assert len({doc["peer_port"] for doc in documents}) == 1


def test_gzip_for_large_json_only(proxy):
    with closing(connect(proxy)) as connection:
        large, large_body = get(connection, "/api/v1/quotes?size=200", {"Accept-Encoding": "gzip"})
        small, small_body = get(connection, "/api/v1/quotes?size=0", {"Accept-Encoding": "gzip"})
        plain, plain_body = get(connection, "/api/v1/quotes?size=200")
    assert large.getheader("Content-Encoding") == "gzip" and large.getheader("Vary") == "Accept-Encoding"
    assert json.loads(gzip.decompress(large_body))["quotes"] == json.loads(plain_body)["quotes"]
    assert len(large_body) < len(plain_body) / 3
    assert small.getheader("Content-Encoding") is None and json.loads(small_body)["tier"] == "shared"
    assert plain.getheader("Content-Encoding") is None


def test_api_headers_pass_through(proxy):
    with closing(connect(proxy)) as connection:
        response, _ = get(connection, "/api/v1/portfolio", {"X-User-Tier": "premium"})
    assert response.getheader("X-Cache") == "HIT"
    assert response.getheader("Server-Timing") == "app;dur=0.42, db;dur=0.17"
    assert response.getheader("Server") == "nginx", "server_tokens off hides the version"


@pytest.mark.parametrize("tier", ["shared", "premium"])
def test_metrics_stay_inside(proxy, tier):
    with closing(connect(proxy)) as connection:
        response, body = get(connection, "/metrics", {"X-User-Tier": tier})
    assert response.status == 403 and b"quotes" not in body


def test_access_log_records_tier_and_upstream_time(proxy):
    marker = uuid.uuid4().hex
    with closing(connect(proxy)) as connection:
        get(connection, f"/api/v1/orders?trace={marker}", {"X-User-Tier": "premium"})
    deadline = time.monotonic() + 3  # the log is buffered and flushed every second
    while time.monotonic() < deadline:
        lines = [line for line in proxy.access_log.read_text().splitlines() if marker in line]
        if lines:
            break
        time.sleep(0.1)
    else:
        pytest.fail("no access log line within 3 s")
    (line,) = lines
    assert " 200 " in line and "tier=trademate_premium" in line and "cache=HIT" in line
    assert re.search(r" urt=\d+\.\d{3} ", line), line
