"""Every private name or behaviour of Locust (and of geventhttpclient and gevent) the suite relies on, and a check.

Locust has no public way to do a few things the suite needs, so the suite reaches into its objects; a release
that renames one of them would not break loudly (an assignment to a renamed attribute still succeeds) but would
quietly make the suite measure something else. They are all named here, with what each is for, and
:func:`check`, run once as the plugin registers (before any load), confirms each one is there and does what the
suite needs on the versions installed, or raises :class:`IncompatibleLocust` with one line naming it:

- ``Runner._users_dispatcher`` and ``UsersDispatcher._try_dispatch_fixed``: Locust's dispatcher spawns
  ``fixed_count`` users only at its start and after a ramp-down; the load shape sets the flag again so a stage
  that adds users gets them (:mod:`trademate_load.shapes`).
- ``EventHook._handlers`` and the ``__qualname__`` of two listeners Locust registers: the runner's per-request
  statistics listener and a worker's report of its statistics, which :mod:`trademate_load.locust_stats`
  replaces and reorders.
- ``StatsEntry._cache_response_times`` and the fields of a worker's report (``StatsEntryDict``) that
  :mod:`trademate_load.locust_stats` sets on a batch before ``StatsEntry.extend`` merges it, and that ``extend``
  takes its per-second copy only when ``use_response_times_cache`` is set.
- ``geventhttpclient.connectionpool.ConnectionPool._is_socket_alive`` and ``_create_tcp_socket``, which
  :mod:`trademate_load.connections` replaces, and the gevent socket internals its ``recv`` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.socket
import geventhttpclient
import locust
import locust.stats
from geventhttpclient.connectionpool import ConnectionPool
from locust.dispatch import UsersDispatcher
from locust.env import Environment
from locust.event import EventHook, Events
from locust.runners import DistributedRunner, LocalRunner, MasterRunner, Runner, WorkerNode
from locust.stats import RequestStats, StatsEntry, StatsEntryDict

WRITTEN_FOR = {"locust": "2.47.0", "geventhttpclient": "2.6.1", "gevent": "26.9.0"}
INSTALLED = {
    "locust": locust.__version__,
    "geventhttpclient": geventhttpclient.__version__,
    "gevent": gevent.__version__,
}

RUNNER_DISPATCHER = "_users_dispatcher"  # Runner: the dispatcher of the test in progress (None between tests)
DISPATCH_FIXED = "_try_dispatch_fixed"  # UsersDispatcher: spawn missing fixed_count users on the next dispatch
HOOK_HANDLERS = "_handlers"  # EventHook: its listeners, in the order they run
RUNNER_LISTENER = "Runner.__init__.<locals>.on_request"  # Locust's per-request statistics listener
REPORT_LISTENER = "setup_distributed_stats_event_listeners.<locals>.on_report_to_master"  # a worker's report
CACHE_RESPONSE_TIMES = "_cache_response_times"  # StatsEntry: the copy of one second's response times
# What locust_stats sets on a batch StatsEntry: fields of a worker's report, which StatsEntry.extend merges
BATCH_FIELDS = (
    "start_time",
    "num_requests",
    "num_reqs_per_sec",
    "last_request_timestamp",
    "total_response_time",
    "min_response_time",
    "max_response_time",
    "response_times",
    "total_content_length",
)
POOL_METHODS = {"_is_socket_alive": 1, "_create_tcp_socket": 3}  # ConnectionPool: replaced; arguments after self
SOCKET_INTERNALS = ("_sock", "_wait", "_read_event")  # gevent.socket.socket: read by TimestampedSocket.recv


class IncompatibleLocust(RuntimeError):
    """A private name or behaviour the suite relies on is missing: the message is one line naming it."""


@dataclass(frozen=True)
class Need:
    """One thing the suite relies on: ``probe()`` returns None when it holds, else what is wrong with ``owner``."""

    package: str
    owner: str
    consequence: str
    probe: Callable[[], str | None]

    def message(self, problem: str) -> str:
        written = WRITTEN_FOR[self.package]
        return (
            f"{self.package} {INSTALLED[self.package]}: {self.owner} {problem} (the suite was written for "
            f"{self.package} {written}): {self.consequence}; pin {self.package}=={written}"
        )


# --- what the suite does with them -------------------------------------------------------------------------
def rearm_fixed_users(runner: Runner) -> None:
    """Make ``runner``'s dispatcher spawn the user classes' missing ``fixed_count`` users on its next dispatch."""
    dispatcher = getattr(runner, RUNNER_DISPATCHER, None)
    if dispatcher is not None:
        setattr(dispatcher, DISPATCH_FIXED, True)


def listener(hook: EventHook, qualname: str):
    """Locust's own listener ``qualname`` on ``hook``, or ``None``."""
    return next((h for h in getattr(hook, HOOK_HANDLERS) if getattr(h, "__qualname__", "") == qualname), None)


def cache_response_times(entry: StatsEntry, second: int) -> None:
    """Keep ``entry``'s response times as they stand as the copy for ``second`` (its current percentiles)."""
    getattr(entry, CACHE_RESPONSE_TIMES)(second)


# --- the probes -----------------------------------------------------------------------------------------------
def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _uses(function, name: str) -> bool:
    """Whether ``function``'s own code reads or writes an attribute or global called ``name``."""
    return name in getattr(getattr(function, "__code__", None), "co_names", ())


def _dispatcher_rearms(dispatcher_class: type) -> str | None:
    """A dispatcher that ran 2 fixed users, the class raised to 4 and the flag set, dispatches 4."""
    user = type("CompatCheckUser", (), {"weight": 1, "fixed_count": 2})
    node = WorkerNode("compat-check")
    dispatcher = dispatcher_class(worker_nodes=[node], user_classes=[user])
    if not hasattr(dispatcher, DISPATCH_FIXED):
        return f"has no {DISPATCH_FIXED}"
    counts = []
    for fixed in (2, 4):
        user.fixed_count = fixed
        setattr(dispatcher, DISPATCH_FIXED, True)
        dispatcher.new_dispatch(fixed, spawn_rate=100)  # one dispatch iteration: no sleep
        dispatched = list(dispatcher)
        counts.append(dispatched[-1][node.id][user.__name__] if dispatched else 0)
    if counts != [2, 4]:
        return f"ignores {DISPATCH_FIXED} (set again, it dispatched {counts[1]} of 4 fixed_count users)"
    return None


def _runner_keeps_dispatcher(runner: Runner | None) -> str | None:
    missing = [
        cls
        for cls, method in ((LocalRunner, "_start"), (MasterRunner, "start"))
        if not _uses(getattr(cls, method, None), RUNNER_DISPATCHER)
    ]
    if missing or (runner is not None and not hasattr(runner, RUNNER_DISPATCHER)):
        return f"does not keep its dispatcher in {RUNNER_DISPATCHER}"
    return None


def _hook_keeps_handlers() -> str | None:
    hook = EventHook()

    def handler(**_kwargs) -> None:
        pass

    hook.add_listener(handler)
    return (
        None if getattr(hook, HOOK_HANDLERS, None) == [handler] else f"does not keep its listeners in {HOOK_HANDLERS}"
    )


def _runner_listener(environment: Environment | None) -> str | None:
    if environment is not None and environment.runner is not None:
        found = listener(environment.events.request, RUNNER_LISTENER)
    else:
        scratch = Environment(events=Events())
        runner = scratch.create_local_runner()
        found = listener(scratch.events.request, RUNNER_LISTENER)
        runner.greenlet.kill(block=False)
    return None if found is not None else f"registers no request listener {RUNNER_LISTENER}"


def _report_listener() -> str | None:
    events = Events()
    locust.stats.setup_distributed_stats_event_listeners(events, RequestStats(use_response_times_cache=False))
    if listener(events.report_to_master, REPORT_LISTENER) is None or not _uses(
        DistributedRunner.__init__, "setup_distributed_stats_event_listeners"
    ):
        return f"registers no report_to_master listener {REPORT_LISTENER}"
    return None


def _stats_entry_merges() -> str | None:
    """The batch fields are a worker report's; ``extend`` adds them, and copies response times only when asked."""
    missing = [name for name in BATCH_FIELDS if name not in StatsEntryDict.__annotations__]
    if missing:
        return f"reports no {', '.join(missing)} (locust.stats.StatsEntryDict)"
    stats = RequestStats(use_response_times_cache=False)
    entry = StatsEntry(stats, "check", "GET")  # with no copies yet: its reset makes none
    if not callable(getattr(entry, CACHE_RESPONSE_TIMES, None)):
        return f"has no {CACHE_RESPONSE_TIMES}"
    entry.use_response_times_cache = True
    cache_response_times(entry, 7)
    if 7 not in (entry.response_times_cache or {}):
        return f"keeps no per-second copy with {CACHE_RESPONSE_TIMES}"
    batch = StatsEntry(stats, "check", "GET")
    for name, value in zip(BATCH_FIELDS, (0.0, 3, {9: 3}, 9.5, 6.0, 1.0, 3.0, {1: 1, 2: 1, 3: 1}, 30), strict=True):
        setattr(batch, name, value)
    copies = dict(entry.response_times_cache)
    entry.use_response_times_cache = False
    entry.extend(batch)
    entry.use_response_times_cache = True
    merged = (entry.num_requests, dict(entry.response_times), entry.total_content_length, entry.max_response_time)
    if merged != (3, {1: 1, 2: 1, 3: 1}, 30, 3.0):
        return f"does not merge a batch with extend (got {merged})"
    if dict(entry.response_times_cache) != copies:
        return "copies response times in extend without use_response_times_cache"
    return None


def _pool_methods() -> str | None:
    for name, arguments in POOL_METHODS.items():
        method = getattr(ConnectionPool, name, None)
        if method is None:
            return f"has no {name}"
        if not any(_uses(value, name) for value in vars(ConnectionPool).values()):
            return f"never calls {name}"
        if method.__code__.co_argcount - 1 != arguments:
            return f"has a {name} of {method.__code__.co_argcount - 1} arguments, not {arguments}"
    return None


def _socket_internals() -> str | None:
    sock = gevent.socket.socket()
    try:
        missing = [name for name in SOCKET_INTERNALS if not hasattr(sock, name)]
        if not missing and not hasattr(sock._sock, "recvmsg"):
            missing = ["_sock.recvmsg"]
    finally:
        sock.close()
    return f"has no {', '.join(missing)}" if missing else None


def needs(environment: Environment | None = None) -> list[Need]:
    """Everything :func:`check` confirms, in order, for ``environment`` (its runner and dispatcher class)."""
    dispatcher_class = environment.dispatcher_class if environment is not None else UsersDispatcher
    runner = environment.runner if environment is not None else None
    runner_class = _name(type(runner)) if runner is not None else _name(LocalRunner)
    staged = "staged profiles would run the first stage's users"
    listeners = "the suite could not take over Locust's per-request statistics (about 5% of the generator's CPU)"
    figures = "Locust's own figures (console, --csv, --json-file, --html) would not be the samples'"
    slow = "requests would wait for other users before they are sent, and lose the kernel's receive time"
    return [
        Need("locust", _name(dispatcher_class), staged, lambda: _dispatcher_rearms(dispatcher_class)),
        Need("locust", runner_class, staged, lambda: _runner_keeps_dispatcher(runner)),
        Need("locust", _name(EventHook), listeners, _hook_keeps_handlers),
        Need("locust", runner_class, listeners, lambda: _runner_listener(environment)),
        Need("locust", "locust.stats.setup_distributed_stats_event_listeners", listeners, _report_listener),
        Need("locust", _name(StatsEntry), figures, _stats_entry_merges),
        Need("geventhttpclient", _name(ConnectionPool), slow, _pool_methods),
        Need("gevent", _name(gevent.socket.socket), "responses could not be read with their time", _socket_internals),
    ]


def check(environment: Environment | None = None) -> None:
    """Confirm every private name and behaviour the suite relies on; raise :class:`IncompatibleLocust` naming the
    first one missing (an exception a probe meets counts as missing, with its text)."""
    for need in needs(environment):
        try:
            problem = need.probe()
        except Exception as exc:  # a renamed class or a changed signature: the probe itself cannot run
            problem = f"cannot be checked ({type(exc).__name__}: {exc})"
        if problem is not None:
            raise IncompatibleLocust(need.message(problem))
