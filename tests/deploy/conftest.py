"""The deploy tests' outside tools: promtool (Debian's prometheus package) and nginx; absent, a test that needs one
is skipped on a workstation and fails in CI (tests/services.py)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.services import require


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool binary."""
    found = shutil.which("promtool")
    require(found, "promtool is not installed", "`make test` as root installs it (apt-get install prometheus)")
    return found


@pytest.fixture(scope="module")
def nginx() -> str:
    """The nginx binary (in /usr/sbin, which a user's PATH may lack)."""
    found = shutil.which("nginx") or next((path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None)
    require(found, "nginx is not installed", "`make test` as root installs it (apt-get install nginx)")
    return found
