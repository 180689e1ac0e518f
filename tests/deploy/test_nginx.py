"""deploy/nginx/trademate.conf: `nginx -t`, its figures against the manifests, and a real nginx routing to stub tiers.

The functional tests start nginx on a free loopback port with the upstream servers rewritten to two stub APIs
(stub_upstream.py, one per tier) and check routing by X-User-Tier, keep-alive on both sides, gzip, headers
passed through, /metrics kept inside, and the access log. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
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
import yaml

from tests.services import require

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "trademate.conf"
PERFORMANCE = ROOT / "deploy" / "performance-config.yaml"
STUB = Path(__file__).with_name("stub_upstream.py")
PLACEHOLDERS = {"shared": "127.0.0.1:8001", "premium": "127.0.0.1:8002"}
LISTEN = "listen 8080"
TIMEOUTS = ("proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout")
START_TIMEOUT_S = 5.0

_TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"']+)""")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h)?$")
_SECONDS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}


# A small nginx.conf reader: enough structure to find a directive in its context.


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def find(self, name: str, *args: str) -> Directive:
        found = [d for d in self.block or [] if d.name == name and tuple(d.args[: len(args)]) == args]
        assert len(found) == 1, f"expected one `{name} {' '.join(args)}` in `{self.name}`, found {len(found)}"
        return found[0]

    def value(self, name: str) -> str:
        (value,) = self.find(name).args
        return value

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def parse_nginx(text: str) -> Directive:
    """The configuration as a tree of directives under a synthetic ``main`` block."""
    stack = [Directive("main", [], [])]
    words: list[str] = []
    for match in _TOKEN.finditer(text):
        double, single, punct, word = match.groups()
        if word is not None or double is not None or single is not None:
            words.append(next(part for part in (double, single, word) if part is not None))
        elif punct == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))
            words = []
        elif punct == "{":
            child = Directive(words[0], words[1:], [])
            stack[-1].block.append(child)
            stack.append(child)
            words = []
        elif punct == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
    assert len(stack) == 1 and not words, "unbalanced braces"
    return stack[0]


def seconds(duration: str) -> float:
    number, unit = _DURATION.match(duration).groups()
    return int(number) * _SECONDS[unit]


CONF = parse_nginx(NGINX_CONF.read_text(encoding="utf-8"))
HTTP = CONF.find("http")
SERVER = HTTP.find("server")
TIER_LOCATIONS = {"shared": SERVER.find("location", "/"), "premium": SERVER.find("location", "@premium")}


# Static checks: no nginx needed.


def test_tier_routing_map_and_upstreams():
    routing = HTTP.find("map", "$http_x_user_tier", "$tier_upstream")
    assert {d.name: d.args for d in routing.block} == {
        "default": ["trademate_shared"],
        "~*^premium$": ["trademate_premium"],
    }
    for tier, placeholder in PLACEHOLDERS.items():
        upstream = HTTP.find("upstream", f"trademate_{tier}")
        assert [d.args[0] for d in upstream.all("server")] == [placeholder]
        assert int(upstream.value("keepalive")) > 0
        assert TIER_LOCATIONS[tier].value("proxy_pass") == f"http://trademate_{tier}"


def test_upstream_keep_alive_headers_are_inherited_everywhere():
    assert HTTP.value("proxy_http_version") == "1.1"
    assert HTTP.find("proxy_set_header", "Connection").args == ["Connection", ""]
    # A location that sets any proxy_set_header would drop every inherited one, Connection "" included.
    for location in SERVER.all("location"):
        assert not location.all("proxy_set_header"), location.args


def test_premium_proxy_timeouts_are_tighter():
    for timeout in TIMEOUTS:
        shared, premium = (seconds(TIER_LOCATIONS[tier].value(timeout)) for tier in ("shared", "premium"))
        assert premium < shared, timeout


def test_gzip_and_access_log():
    assert HTTP.value("gzip") == "on"
    assert "application/json" in HTTP.find("gzip_types").args
    log_format = "".join(HTTP.find("log_format", "trademate").args[1:])
    assert "$upstream_response_time" in log_format and "$tier_upstream" in log_format
    assert HTTP.find("access_log").args[:2] == ["/dev/stdout", "trademate"]


def test_metrics_are_not_exposed():
    assert SERVER.find("location", "=", "/metrics").find("deny", "all")


def test_figures_match_the_performance_configmap():
    settings = next(
        doc["data"]
        for doc in yaml.safe_load_all(PERFORMANCE.read_text(encoding="utf-8"))
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "trademate-performance"
    )
    in_conf = {
        "nginx.client_keepalive_timeout": HTTP.value("keepalive_timeout"),
        "nginx.client_keepalive_requests": HTTP.value("keepalive_requests"),
        "nginx.gzip_min_length": HTTP.value("gzip_min_length"),
    }
    for tier, location in TIER_LOCATIONS.items():
        upstream = HTTP.find("upstream", f"trademate_{tier}")
        assert upstream.value("keepalive") == settings["nginx.upstream_keepalive"]
        assert upstream.value("keepalive_timeout") == settings["nginx.upstream_keepalive_timeout"]
        in_conf |= {f"nginx.{tier}.{timeout}": location.value(timeout) for timeout in TIMEOUTS}
    nginx_settings = {key: value for key, value in settings.items() if key.startswith("nginx.")}
    assert nginx_settings.keys() - {"nginx.upstream_keepalive", "nginx.upstream_keepalive_timeout"} == in_conf.keys()
    assert {key: nginx_settings[key] for key in in_conf} == in_conf
    # The proxy gives up only after the API's own request timeout has had its chance to answer.
    for tier, location in TIER_LOCATIONS.items():
        assert seconds(location.value("proxy_read_timeout")) * 1000 > int(settings[f"{tier}.request_timeout_ms"])


# With a real nginx.


@pytest.fixture(scope="module")
def nginx() -> str:
    """The nginx binary; absent, the test is skipped on a workstation and fails in CI."""
    found = shutil.which("nginx") or next((path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None)
    require(found, "nginx is not installed", "`make test` as root installs it (apt-get install nginx-light)")
    return found


def test_config_passes_nginx_t(nginx, tmp_path):
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(NGINX_CONF), "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[alert]" not in result.stderr, result.stderr


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
