"""Wires the suite into a Locust process: its options, start-up checks, and the listeners of each event.

``register(environment)`` (called from the locustfile's init hook) checks Locust's private names
(:mod:`trademate_load.locust_compat`), attaches one :class:`~trademate_load.lifecycle.Suite` as
``environment.trademate`` and wires Locust's events to it: requests to the collector, test start and stop to the
health monitor and the run lifecycle (:mod:`trademate_load.lifecycle`), worker reports to
:mod:`trademate_load.distributed`, signals to :mod:`trademate_load.signals`. Bad input exits 2 with one line
naming the file and the field, before any load is sent.
"""

from __future__ import annotations

import gc
import sys

from locust.env import Environment

from trademate_load import connections, locust_compat, signals
from trademate_load.config import ConfigError
from trademate_load.lifecycle import Suite
from trademate_load.metrics import build_registry, serve
from trademate_load.rundir import read_summary, report_dir_problem
from trademate_load.verdict import EXIT_INVALID, EXIT_NO_DATA


def add_arguments(parser) -> None:
    """The suite's own command-line options (Locust's ``--profile`` selects the load profile)."""
    group = parser.add_argument_group("TradeMate SLA suite")
    group.add_argument(
        "--credentials",
        metavar="FILE",
        env_var="TRADEMATE_CREDENTIALS",
        default="",
        help="CSV of users' tokens (user_id,plan,tier,token) as the API's seeding step writes it",
    )
    group.add_argument(
        "--baseline",
        metavar="RUN_DIR",
        env_var="TRADEMATE_BASELINE",
        default="",
        help="an earlier run directory: fail on regression against it (tolerance from the profile); auto: the last "
        "passing valid run of the profile in the report directory's history (auto:PREFIX: with a label starting so)",
    )
    group.add_argument(
        "--label",
        metavar="TEXT",
        env_var="RUN_LABEL",
        default="",
        help="names the build under test in the history: a release, a commit, a branch (main@3f2c1a0)",
    )
    group.add_argument(
        "--report-dir",
        metavar="DIR",
        env_var="TRADEMATE_REPORT_DIR",
        default="reports",
        help="where run directories are written (default: reports)",
    )
    metrics_port = group.add_argument(
        "--metrics-port",
        metavar="PORT",
        env_var="METRICS_PORT",
        type=int,
        default=0,
        help="also serve the live SLA figures for Prometheus at http://127.0.0.1:PORT/metrics (0: off)",
    )
    metrics_port.include_in_web_ui = False  # fixed at start-up: not a field of the web UI's start form


def serve_live(suite: Suite) -> None:
    """The live figures: the web UI's SLA tab and /metrics, and /metrics on --metrics-port (METRICS_PORT)."""
    from trademate_load import webtab

    registry = build_registry(suite.live)
    if suite.environment.web_ui is not None:
        webtab.install(suite.environment.web_ui, suite.live, registry)
    port = suite.environment.parsed_options.metrics_port
    if not port:
        return
    if not 0 < port < 65536:
        raise ConfigError("(command line)", "--metrics-port (METRICS_PORT)", f"not a TCP port: {port}")
    try:
        serve(registry, port)
    except OSError as exc:
        message = f"cannot serve metrics on 127.0.0.1:{port}: {exc.strerror or exc}"
        raise ConfigError("(command line)", "--metrics-port (METRICS_PORT)", message) from None


def freeze_heap(**_kwargs) -> None:
    """At test start, every object then alive (modules, pandas, pyarrow, matplotlib...) leaves the garbage
    collector's reach: a full collection over them stops the event loop for about 100 ms here, and every request
    in flight with it. Later collections see only what the run allocates."""
    gc.collect()
    gc.freeze()


def _refuse_bad_profile_in_web_ui(suite: Suite) -> None:
    """The start form's profile is validated before Locust starts the shape; a bad one is answered in the form."""
    from flask import jsonify, request

    def check_swarm():
        if request.method == "POST" and request.path.endswith("/swarm"):
            try:
                suite.load_profile(request.form.get("profile") or None)
            except ConfigError as exc:
                return jsonify({"success": False, "message": str(exc), "host": suite.environment.host})
        return None

    suite.environment.web_ui.app.before_request(check_swarm)


def register(environment: Environment) -> Suite:
    """Attach the suite to ``environment``; invalid input exits 2 with one line naming file and field."""
    try:  # the private Locust names the suite relies on, before anything uses them
        locust_compat.check(environment)
    except locust_compat.IncompatibleLocust as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_INVALID)
    suite = Suite(environment)
    environment.trademate = suite
    if not suite.is_worker:
        try:
            if suite.baseline_dir is not None:  # a directory named (BASELINE=auto is picked as each run begins)
                suite.baseline_summary = read_summary(suite.baseline_dir)
            suite.load_profile()
            serve_live(suite)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(EXIT_INVALID)
        problem = report_dir_problem(suite.report_dir)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr, flush=True)
            sys.exit(EXIT_NO_DATA)
    connections.install()  # the users' connections: no yield before a send, kernel receive timestamps
    environment.events.request.add_listener(suite.collector.on_request)
    environment.events.test_start.add_listener(freeze_heap)
    suite.health.watch(environment.events, suite.stop_began)
    environment.events.test_stop.add_listener(suite.on_test_stop)
    suite.distribution.register()
    environment.events.quitting.add_listener(suite.on_quitting)
    environment.events.quit.add_listener(suite.on_quit)
    if suite.headless and not suite.is_worker:
        signals.install(environment)
    if environment.web_ui is not None:
        _refuse_bad_profile_in_web_ui(suite)
    return suite
