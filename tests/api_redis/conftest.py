"""Fixtures for the Redis-backed API: the API as a subprocess on per-tier Redis under a private key prefix, scratch
Redis servers started and killed by the test, and /metrics parsed with prometheus_client's parser."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import RunningApi, start_api
from tests.services import SERVICES_HOW, require
from trademate_load.launcher import free_port

REDIS_VARIABLES = ("REDIS_URL", "REDIS_SHARED_URL", "REDIS_PREMIUM_URL")


def clean_env(**redis_env: str) -> dict[str, str]:
    """The test process's environment without any Redis variable it may carry, plus `redis_env`."""
    return {**{name: "" for name in REDIS_VARIABLES}, **redis_env}


def delete_prefix(url: str, prefix: str) -> None:
    """Remove this test's keys only: other sessions may share the server, so never FLUSHALL."""
    with redis.Redis.from_url(url, socket_timeout=2) as client:
        keys = list(client.scan_iter(match=f"trademate:{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


@dataclass
class ScratchRedis:
    """A redis-server of the test's own on a free loopback port; `kill` makes it vanish, `start` brings it back."""

    port: int
    options: tuple[str, ...]
    workdir: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "no"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir), *self.options]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise AssertionError(f"scratch redis-server on port {self.port} did not answer")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def scratch_redis(tmp_path: Path) -> Iterator[Callable[..., ScratchRedis]]:
    """Start private Redis servers: `scratch_redis("--maxmemory", "2mb", ...)`; all are killed after the test."""
    require(shutil.which("redis-server"), "redis-server is not installed", SERVICES_HOW)
    started: list[ScratchRedis] = []

    def _start(*options: str) -> ScratchRedis:
        server = ScratchRedis(free_port(), options, tmp_path)
        server.start()
        started.append(server)
        return server

    yield _start
    for server in started:
        server.kill()


@pytest.fixture
def prefix(redis_urls: dict[str, str]) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted from the shared test servers afterwards."""
    name = f"test-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    yield name
    for url in redis_urls.values():
        delete_prefix(url, name)


@pytest.fixture
def launch_redis_api(tmp_path: Path) -> Iterator[Callable[..., RunningApi]]:
    """`launch_redis_api(prefix, {tier: url}, *args)` starts an API on those servers; anything left is stopped."""
    started: list[RunningApi] = []

    def _launch(prefix: str, urls: dict[str, str] | None = None, *args: str, env: dict | None = None) -> RunningApi:
        workdir = tmp_path / f"api{len(started)}"
        workdir.mkdir()
        redis_env = {f"REDIS_{tier.upper()}_URL": url for tier, url in (urls or {}).items()}
        env = {**clean_env(**redis_env), **(env or {})}
        started.append(start_api(workdir, "--cache-prefix", prefix, *args, env=env))
        return started[-1]

    yield _launch
    for running in started:
        running.stop()


def scrape(api: RunningApi) -> dict:
    """/metrics as {family name: family}, through prometheus_client's own parser."""
    response = api.client().get("/metrics")
    assert response.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def counter(families: dict, name: str, tier: str) -> float:
    return sum(s.value for s in families[name].samples if s.name == f"{name}_total" and s.labels["tier"] == tier)


def redis_key(prefix: str, tier: str, namespace: str, ident: str) -> str:
    return f"trademate:{prefix}:{tier}:{namespace}:{ident}"


def user_id(api: RunningApi, plan: str, index: int) -> str:
    return api.user_id(plan, index)
