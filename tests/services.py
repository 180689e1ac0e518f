"""What some tests need from outside the virtual environment (PostgreSQL, Redis, nginx, promtool, Chromium, two
cores), and the one rule for when it is missing: skip on a workstation, fail in CI (``CI`` set), naming what is
missing and how to get it."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

SERVICES_HOW = 'run `make test` as root (it installs and starts them), or `eval "$(scripts/services.sh)"` first'


def require(condition: object, what: str, how: str) -> None:
    """Go on when ``condition`` holds; otherwise skip the test (fail it under CI) with ``what: how``."""
    if condition:
        return
    message = f"{what}: {how}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=2).close()
        return True
    except OSError:
        return False


def service_url(variable: str) -> str:
    """A backend URL from the environment ``scripts/services.sh`` prints, once it answers a TCP connection."""
    url = os.environ.get(variable, "")
    require(url, f"{variable} is not set", SERVICES_HOW)
    require(_reachable(url), f"{variable}={url} is not reachable", SERVICES_HOW)
    return url
