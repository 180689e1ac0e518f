"""The start-up check of Locust's private names: it passes on the pinned versions, and a name renamed or a behaviour
changed fails it with one line naming the name, the versions and what the suite would do wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest
from geventhttpclient.connectionpool import ConnectionPool
from locust.dispatch import UsersDispatcher
from locust.env import Environment
from locust.event import EventHook
from locust.runners import LocalRunner
from locust.stats import StatsEntry

from tests.conftest import ROOT
from trademate_load import locust_compat
from trademate_load.launcher import LOCUSTFILE

PINNED = {"locust": "2.47.0", "geventhttpclient": "2.6.1", "gevent": "26.9.0"}


def failure(environment=None) -> str:
    with pytest.raises(locust_compat.IncompatibleLocust) as caught:
        locust_compat.check(environment)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_suite_is_written_for_the_versions_requirements_pins():
    assert locust_compat.WRITTEN_FOR == PINNED
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert {f"{package}=={version}" for package, version in PINNED.items()} <= set(pins)


def test_the_pinned_versions_pass_with_and_without_a_running_environment():
    assert locust_compat.INSTALLED == PINNED
    locust_compat.check()
    environment = Environment()
    environment.create_local_runner()
    locust_compat.check(environment)


class RenamedFlagDispatcher(UsersDispatcher):
    """A Locust whose dispatcher calls the flag something else: setting the old name would do nothing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fixed_first = self.__dict__.pop("_try_dispatch_fixed")


def test_a_dispatcher_without_the_flag_fails_naming_it():
    environment = Environment(dispatcher_class=RenamedFlagDispatcher)
    environment.create_local_runner()
    assert failure(environment) == (
        f"locust 2.47.0: {__name__}.RenamedFlagDispatcher has no _try_dispatch_fixed (the suite was written for "
        "locust 2.47.0): staged profiles would run the first stage's users; pin locust==2.47.0"
    )


def test_a_dispatcher_that_ignores_the_flag_fails(monkeypatch):
    def fixed_users_only_at_the_start(self):  # a generator that never looks at the flag again
        for user in self._user_classes:
            yield from [user.__name__] * user.fixed_count
        while True:
            yield None

    monkeypatch.setattr(UsersDispatcher, "_user_gen", fixed_users_only_at_the_start)
    message = failure()
    assert message.startswith("locust 2.47.0: locust.dispatch.UsersDispatcher ignores _try_dispatch_fixed (")
    assert "dispatched 2 of 4 fixed_count users" in message


def test_a_runner_keeping_its_dispatcher_elsewhere_fails(monkeypatch):
    original = LocalRunner._start

    def _start(self, *args, **kwargs):  # a Locust that calls it something else
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LocalRunner, "_start", _start)
    assert failure().startswith(
        "locust 2.47.0: locust.runners.LocalRunner does not keep its dispatcher in _users_dispatcher (the suite"
    )


def test_a_renamed_listener_list_fails(monkeypatch):
    def __init__(self):
        self.listeners = []

    monkeypatch.setattr(EventHook, "__init__", __init__)
    monkeypatch.setattr(EventHook, "add_listener", lambda self, handler: self.listeners.append(handler))
    assert failure().startswith("locust 2.47.0: locust.event.EventHook does not keep its listeners in _handlers (")


def test_a_runner_whose_request_listener_is_renamed_fails():
    environment = Environment()
    environment.create_local_runner()
    [listener] = environment.events.request._handlers
    environment.events.request.remove_listener(listener)
    environment.events.request.add_listener(lambda **kwargs: listener(**kwargs))
    message = failure(environment)
    assert "locust.runners.LocalRunner registers no request listener Runner.__init__.<locals>.on_request" in message
    assert message.endswith("pin locust==2.47.0")


def test_a_stats_entry_without_its_per_second_copy_fails(monkeypatch):
    environment = Environment()  # Locust's own runner would make copies under the new name
    environment.create_local_runner()
    monkeypatch.delattr(StatsEntry, "_cache_response_times")
    assert failure(environment).startswith("locust 2.47.0: locust.stats.StatsEntry has no _cache_response_times (")


def test_a_stats_entry_whose_extend_copies_regardless_fails(monkeypatch):
    original = StatsEntry.extend

    def extend(self, other):
        original(self, other)
        self._cache_response_times(int(self.last_request_timestamp))

    monkeypatch.setattr(StatsEntry, "extend", extend)
    assert "StatsEntry copies response times in extend without use_response_times_cache" in failure()


@pytest.mark.parametrize("name", ["_is_socket_alive", "_create_tcp_socket"])
def test_a_connection_pool_without_a_replaced_method_fails(monkeypatch, name):
    monkeypatch.delattr(ConnectionPool, name)
    assert failure() == (
        f"geventhttpclient 2.6.1: geventhttpclient.connectionpool.ConnectionPool has no {name} (the suite was "
        "written for geventhttpclient 2.6.1): requests would wait for other users before they are sent, and lose "
        "the kernel's receive time; pin geventhttpclient==2.6.1"
    )


def test_a_probe_that_cannot_run_fails_with_its_error(monkeypatch):
    monkeypatch.setattr(UsersDispatcher, "new_dispatch", lambda self, *a, **k: 1 / 0)
    assert "UsersDispatcher cannot be checked (ZeroDivisionError: division by zero)" in failure()


@pytest.mark.integration
def test_locust_refuses_to_start_with_one_line_and_exit_2(tmp_path):
    """A Locust without the flag never starts a test: exit 2, one line, before any user or run directory."""
    rename = (
        "import locust.dispatch, runpy, sys\n"
        "init = locust.dispatch.UsersDispatcher.__init__\n"
        "def renamed(self, *a, **k):\n"
        "    init(self, *a, **k)\n"
        "    self.__dict__['_fixed_first'] = self.__dict__.pop('_try_dispatch_fixed')\n"
        "locust.dispatch.UsersDispatcher.__init__ = renamed\n"
        "sys.argv = ['locust', *sys.argv[1:]]\n"
        "runpy.run_module('locust', run_name='__main__')\n"
    )
    args = ["-f", str(LOCUSTFILE), "--headless", "--profile", "smoke", "--host", "http://127.0.0.1:9"]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            rename,
            *args,
            "--credentials",
            str(tmp_path / "none.csv"),
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: locust 2.47.0: locust.dispatch.UsersDispatcher has no _try_dispatch_fixed (the suite was written for "
        "locust 2.47.0): staged profiles would run the first stage's users; pin locust==2.47.0"
    ]
    assert list(tmp_path.iterdir()) == []
