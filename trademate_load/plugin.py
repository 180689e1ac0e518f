"""Wires the suite into a Locust process: options, start-up checks, the collector and the run lifecycle.

``register(environment)`` (called from the locustfile's init hook) attaches one :class:`Suite` as
``environment.trademate`` and its listeners. A run begins when the load shape starts a test (the profile
is read then, as the web UI may have changed it): its run directory is created with a first ``run.json``,
and a greenlet spills the sample buffer every few seconds (or sooner when it fills) to ``samples.parquet``
as a row group, the conversion and write done on a thread so the request path never waits on them.
Workers ship their samples to the master with each ``report_to_master``; the master spills them with its
own and keeps a roster of its workers (:mod:`trademate_load.workers`: samples shipped, and any lost to
Locust's heartbeat check, named in every report). The run ends when the test stops: from the web UI at
``test_stop``, once each worker has reported since; headless at ``quitting``, after the master has received
every connected worker's final report (Locust's own quit waits only half a second for them). Then the last
rows are written, the samples read back, every report written, the verdict printed, and the exit code set
in one ``quitting`` listener that does nothing on workers.
"""

from __future__ import annotations

import gc
import logging
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import locust
from locust.env import Environment
from locust.runners import STATE_MISSING, WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from trademate_load import __version__, connections, locust_compat, locust_stats, plan
from trademate_load.collector import Collector, Spiller
from trademate_load.config import ConfigError
from trademate_load.credentials import AccountPool, read_credentials
from trademate_load.errors import scrub_secrets
from trademate_load.frame import read_parquet
from trademate_load.health import COLUMNS as HEALTH_COLUMNS
from trademate_load.health import lag_summary, latest
from trademate_load.live import SETTLE_S, LiveBoard, LiveRun
from trademate_load.live_watch import LiveFeed
from trademate_load.losses import describe_lost
from trademate_load.metrics import build_registry, serve
from trademate_load.monitor import HealthMonitor
from trademate_load.profile import Profile, load_profile
from trademate_load.record import SampleBuffer
from trademate_load.report.console import render_console, verdict_line
from trademate_load.report.summary import iso
from trademate_load.rundir import (
    new_run_dir,
    point_latest,
    read_summary,
    render_reports,
    report_dir_problem,
    write_json,
)
from trademate_load.store import SampleStore
from trademate_load.users import TIER_USERS
from trademate_load.verdict import EXIT_INVALID, EXIT_NO_DATA
from trademate_load.workers import Roster

logger = logging.getLogger(__name__)
USER_TIERS = {cls.__name__: tier for classes in TIER_USERS.values() for tier, cls in classes.items()}
FINAL_REPORTS_TIMEOUT_S = 10.0  # how long a headless master waits for its workers' final reports
WORKER_CHECK_INTERVAL_S = 1.0  # how often the master looks at its workers' connections (Locust's heartbeat)


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
        help="an earlier run directory: fail on regression against it (tolerance from the profile)",
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


@dataclass
class ActiveRun:
    """A run in progress: its profile, planned length and start; on the master, its directory and sample store."""

    profile: Profile
    run_time_s: float
    started_ts: float
    stopped_ts: float | None = None
    run_dir: Path | None = None
    store: SampleStore | None = None
    spiller: Spiller | None = None
    error: str | None = None
    aborted: dict[str, Any] | None = None  # a check decided failed stopped the run: which, when and why
    decided: dict[str, Any] | None = None  # stop_when_decided ended the run once every check was settled
    health: dict[str, list] = field(default_factory=dict)  # per process, the load generator's rows (health.COLUMNS)
    ticks: dict[str, bytearray] = field(default_factory=dict)  # per process, its rows' loop-lag ticks (float32)

    @property
    def warmup_s(self) -> float:
        return self.profile.warmup_for(self.run_time_s)

    def keep_health(self, process: str, rows: list, ticks: bytes) -> None:
        self.health.setdefault(process, []).extend(rows)
        self.ticks.setdefault(process, bytearray()).extend(ticks)

    def generator(self, ended: float | None) -> dict[str, Any]:
        """run.json's ``generator``: per process its health rows and, once the run ended, its loop lag over the
        judged time (exact, from every tick)."""
        start = self.started_ts + self.warmup_s
        return {
            "columns": list(HEALTH_COLUMNS),
            "processes": {
                process: {
                    "rows": rows,
                    "lag_ms": None if ended is None else lag_summary(rows, bytes(self.ticks[process]), start, ended),
                }
                for process, rows in self.health.items()
            },
        }


class Suite:
    """The suite's state in one Locust process."""

    def __init__(self, environment: Environment):
        self.environment = environment
        options = environment.parsed_options
        self.report_dir = Path(options.report_dir)
        self.credentials_path = Path(options.credentials) if options.credentials else None
        self.baseline_dir = Path(options.baseline) if options.baseline else None
        self.baseline_summary: dict[str, Any] | None = None
        self.pool: AccountPool | None = None
        self.roster = Roster()  # master: the run's workers
        self.shipped = 0  # worker: samples shipped to the master so far
        runner = environment.runner
        self.is_worker = isinstance(runner, WorkerRunner)
        self.locust_stats = locust_stats.install(environment)  # Locust's statistics, fed from the collector
        pending = self.locust_stats.rows if self.locust_stats is not None else None
        self.collector = Collector(worker=runner.client_id if self.is_worker else "local", pending=pending)
        self.run: ActiveRun | None = None
        self._worker_profile: Profile | None = None
        self.last_summary: dict[str, Any] | None = None
        self.headless = bool(environment.parsed_options.headless)
        self.process = "master" if isinstance(runner, MasterRunner) else self.collector.worker
        self.health = HealthMonitor(self._users_by_tier)  # this process's health during each test
        self.latest_health: dict[str, list] = {}  # master: each worker's last second of health, as it reported
        # live SLA figures, fed on the master or the local process
        self.live = LiveBoard(self.collector.buffer, self._latest_health)
        self.live_feed: LiveFeed | None = None

    def _latest_health(self) -> dict[str, dict]:
        """The last second of health of this process and of each worker (the live tab and /metrics)."""
        rows = {**self.latest_health, self.process: self.health.latest}
        return {process: latest(row) for process, row in rows.items() if row is not None}

    def _users_by_tier(self) -> dict[str, int]:
        """Users running in this process, per tier (a master runs none itself)."""
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            return {}
        counts: dict[str, int] = {}
        for name, count in runner.user_classes_count.items():
            tier = USER_TIERS.get(name)
            if tier is not None:
                counts[tier] = counts.get(tier, 0) + count
        return counts

    # --- start-up -------------------------------------------------------------------------------
    def load_profile(self, ref: str | None = None) -> Profile:
        """The profile named by ``ref`` or Locust's ``--profile``, checked against the credentials."""
        profile = load_profile(ref if ref is not None else self.environment.profile)
        self.load_accounts()
        for load in profile.tiers.values():
            self.pool.require(load.plans)
        return profile

    def load_accounts(self) -> None:
        if self.pool is not None:
            return
        if self.credentials_path is None:
            raise ConfigError("(command line)", "--credentials", "required: the CSV of users' tokens")
        self.pool = AccountPool(read_credentials(self.credentials_path), str(self.credentials_path))

    def profile_for_users(self) -> Profile:
        """The profile users follow: the active run's; on a worker (which runs no shape) Locust's --profile."""
        if self.run is not None:
            return self.run.profile
        if self._worker_profile is None:
            self._worker_profile = self.load_profile()
        return self._worker_profile

    # --- lifecycle --------------------------------------------------------------------------------
    def begin_run(self) -> ActiveRun:
        """Read the profile (it may have changed in the web UI), create the run directory and start collecting."""
        profile = self.load_profile()
        if self.run is not None and self.run.stopped_ts is None and self.run.profile == profile:
            return self._restart_clock(self.run)  # a master resets the shape twice as a test starts
        if self.run is not None:
            self.end_run()
        override = getattr(self.environment.parsed_options, "run_time", None)
        self.collector.drain()
        self.roster = Roster()
        run = self.run = ActiveRun(profile, float(override) if override else profile.run_time_s, time.time())
        logger.info(
            "TradeMate run: profile %s (%s model) for %.0f s (warm-up %.1f s)",
            profile.name,
            profile.model,
            run.run_time_s,
            run.warmup_s,
        )
        if not self.is_worker:
            short = plan.warning(profile, run.run_time_s)
            if short is not None:
                logger.warning("TradeMate: %s", short)
            self._open_run_dir(run)
        self._start_live(run)
        return run

    def _restart_clock(self, run: ActiveRun) -> ActiveRun:
        run.started_ts = time.time()
        self.collector.drain()
        self.roster = Roster()
        self._start_live(run)
        if run.run_dir is not None and run.error is None:
            write_json(run.run_dir / "run.json", {**self.run_info(run, None, 0), "in_progress": True})
        return run

    def _open_run_dir(self, run: ActiveRun) -> None:
        """The run directory, a first run.json (so even an interrupted run has one) and the spilling greenlet."""
        try:
            run.run_dir = new_run_dir(self.report_dir, run.profile.name, run.started_ts)
            run.store = SampleStore(run.run_dir / "samples.parquet")
            info = self.run_info(run, None, 0)
            write_json(run.run_dir / "run.json", {**info, "in_progress": True})
        except OSError as exc:
            logger.error("could not create the run directory under %s: %s", self.report_dir, exc)
            run.error = str(exc)
            return
        run.spiller = Spiller(self.collector, run.store).start()

    def _start_live(self, run: ActiveRun) -> None:
        """Live figures of the run from now on (master or local process): a fresh window and tallies, fed by a
        greenlet; a master's window ends a report interval further back, as workers ship samples that often."""
        if self.is_worker or not self._live_wanted(run.profile):
            return
        master = isinstance(self.environment.runner, MasterRunner)
        live_run = LiveRun(
            run_id=run.run_dir.name if run.run_dir is not None else "",
            profile=run.profile,
            started_ts=run.started_ts,
            run_time_s=run.run_time_s,
            settle_s=SETTLE_S + (WORKER_REPORT_INTERVAL if master else 0.0),
        )
        self.live.start(live_run)
        if self.live_feed is None:
            self.live_feed = LiveFeed(self.live, self._end_early).start()

    def _live_wanted(self, profile: Profile) -> bool:
        """Live figures are computed on the load generator's own event loop, where each update delays the requests
        waiting on it: only when something reads them (the web UI, METRICS_PORT, abort_on_fail, stop_when_decided)."""
        options = self.environment.parsed_options
        ends_early = bool(profile.abort_on_fail) or profile.stop_when_decided
        return self.environment.web_ui is not None or bool(options.metrics_port) or ends_early

    def _end_early(self, record: dict[str, Any]) -> None:
        """A check was decided failed (or, with stop_when_decided, every check settled): record which and when, and
        stop the run as its run time would."""
        run = self.run
        if run is None or run.stopped_ts is not None or run.aborted is not None or run.decided is not None:
            return
        if record["outcome"] == "fail":
            run.aborted = record
        else:
            run.decided = record
        if self.headless:
            self.environment.runner.quit()
        else:
            self.environment.runner.stop()

    def serve_live(self) -> None:
        """The live figures: the web UI's SLA tab and /metrics, and /metrics on --metrics-port (METRICS_PORT)."""
        from trademate_load import webtab

        registry = build_registry(self.live)
        if self.environment.web_ui is not None:
            webtab.install(self.environment.web_ui, self.live, registry)
        port = self.environment.parsed_options.metrics_port
        if not port:
            return
        if not 0 < port < 65536:
            raise ConfigError("(command line)", "--metrics-port (METRICS_PORT)", f"not a TCP port: {port}")
        try:
            serve(registry, port)
        except OSError as exc:
            message = f"cannot serve metrics on 127.0.0.1:{port}: {exc.strerror or exc}"
            raise ConfigError("(command line)", "--metrics-port (METRICS_PORT)", message) from None

    def on_test_stop(self, **_kwargs) -> None:
        if self.run is not None and self.run.stopped_ts is None:
            self.run.stopped_ts = time.time()
        if not self.headless:
            if isinstance(self.environment.runner, MasterRunner) and self.run is not None:
                gevent.spawn(self._end_run_after_reports, self.run, time.time())
            else:
                self.end_run()

    def _end_run_after_reports(self, run: ActiveRun, stopped: float) -> None:
        """Web UI master: a worker sends its last samples with its next periodic report after a stop (within
        WORKER_REPORT_INTERVAL); end the run once each worker has reported since, or a little after that."""
        deadline = time.monotonic() + WORKER_REPORT_INTERVAL + 2.0
        while self.roster.silent_since(stopped) and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if self.run is run:
            self.end_run()

    def ship_to_master(self, client_id: str, data: dict, **_kwargs) -> None:
        """Worker side of ``report_to_master``: hand over every sample (and dropped count) and every second of the
        generator's health since the last report."""
        data["trademate_pid"] = os.getpid()
        data["trademate_health"], data["trademate_ticks"] = self.health.take()
        if len(self.collector.buffer) or self.collector.buffer.dropped:
            buffer = self.collector.drain()
            data["trademate_samples"] = buffer.to_payload()
            self.shipped += len(buffer)

    def receive_from_worker(self, client_id: str, data: dict, **_kwargs) -> None:
        """Master side of ``worker_report``: keep the worker's samples with ours, and count them for the worker."""
        if client_id not in self.environment.runner.clients:
            return  # not one of this run's workers (a stray from another run): Locust discards its report too
        payload = data.get("trademate_samples")
        if payload is not None:
            self.collector.buffer.extend_payload(payload)
        if self.run is not None and data.get("trademate_health"):
            self.run.keep_health(client_id, data["trademate_health"], data.get("trademate_ticks") or b"")
            self.latest_health[client_id] = data["trademate_health"][-1]
        rows = 0 if payload is None else SampleBuffer.payload_rows(payload)
        self.roster.reported(client_id, rows, data.get("trademate_pid"), time.time())

    def check_workers(self) -> None:
        """Master: note the workers Locust's heartbeat check lost, or that left, while a run is in progress."""
        run, runner = self.run, self.environment.runner
        if run is None:
            return
        states = {worker_id: node.state for worker_id, node in runner.clients.items()}
        for record in self.roster.observe(states, time.time(), run.stopped_ts is not None):
            lost = describe_lost(record.as_dict(run.started_ts))
            remaining = sum(1 for state in states.values() if state != STATE_MISSING)
            logger.warning("TradeMate: lost %s; the run goes on with %d worker(s) and less load", lost, remaining)

    def _watch_workers(self) -> None:
        while True:
            gevent.sleep(WORKER_CHECK_INTERVAL_S)
            self.check_workers()

    def collect_final_reports(self, runner: MasterRunner) -> None:
        """Headless master: receive until every connected worker has sent its final report and quit.

        Locust's ``quit`` gives workers half a second before it stops listening; a worker still stopping its
        users then (a busy machine) would lose its last samples. A worker sends its final report before its
        "quit" message, on the same connection, so once it is gone from ``runner.clients`` its report is in.
        """
        if len(runner.greenlet):  # Ctrl-C or SIGTERM: the workers have not been told to quit yet
            runner.quit()
        self.check_workers()
        listener = gevent.spawn(runner.client_listener)
        deadline = time.monotonic() + FINAL_REPORTS_TIMEOUT_S
        try:
            while pending := [i for i, node in runner.clients.items() if node.state != STATE_MISSING]:
                if time.monotonic() >= deadline:
                    logger.warning("TradeMate: no final report from %s", ", ".join(pending))
                    self.roster.give_up(pending, time.time())
                    break
                gevent.sleep(0.05)
        finally:
            listener.kill(block=True)
        self.check_workers()

    def run_info(self, run: ActiveRun, ended: float | None, samples: int) -> dict[str, Any]:
        """run.json: what was run, against what, when, and every setting the reports are judged by."""
        profile = run.profile
        return {
            "run_id": run.run_dir.name if run.run_dir is not None else "",
            "profile": profile.name,
            "profile_path": profile.path,
            "host": scrub_secrets(self.environment.host) if self.environment.host else None,  # no user:password@
            "started_at": iso(run.started_ts),
            "ended_at": None if ended is None else iso(ended),
            "started_ts": run.started_ts,
            "ended_ts": ended,
            "warmup_s": run.warmup_s,
            "planned_run_time_s": run.run_time_s,
            "interrupted": None if ended is None else ended - run.started_ts < run.run_time_s - 1.0 and not run.decided,
            "exit_code": None,
            "samples": samples,
            "dropped": run.store.dropped_series() if run.store is not None else {},
            "workers": self.roster.as_list(run.started_ts),
            "latency_basis": profile.latency,
            "versions": {"suite": __version__, "locust": locust.__version__, "python": platform.python_version()},
            "settings": profile.settings(),
            "sla": {tier: vars(limits) for tier, limits in profile.sla.tiers.items()},
            "sla_endpoints": profile.sla.endpoints,
            "baseline": str(self.baseline_dir) if self.baseline_dir else None,
            "baseline_summary": self.baseline_summary,
            "aborted": run.aborted,
            "decided": run.decided,
            "generator": run.generator(ended),
        }

    def end_run(self) -> None:
        """Finish the run in progress, if any: the last samples, the run directory's reports, ``latest``."""
        run, self.run = self.run, None
        if run is None or self.is_worker:
            return
        if run.spiller is not None:
            run.spiller.stop()
            run.error = run.error or run.spiller.error
        ended = run.stopped_ts or time.time()
        self.live.finish(ended)  # the live figures' last rows, before the final drain takes them
        self.health.stop()
        run.keep_health(self.process, *self.health.take())
        try:
            if run.store is None or run.error is not None:
                raise OSError(run.error)
            run.store.write(self.collector.drain())
            frame = read_parquet(run.store.close())
            info = self.run_info(run, ended, run.store.rows)
            write_json(run.run_dir / "run.json", info)
            self.last_summary = render_reports(run.run_dir, frame, info)
            point_latest(run.run_dir)
        except OSError as exc:
            logger.error("could not write the run directory under %s: %s", self.report_dir, exc)
            self.last_summary = {"exit_code": EXIT_NO_DATA, "error": str(exc)}
            return
        logger.info("TradeMate run directory: %s", run.run_dir)
        if self.last_summary["exit_code"] == EXIT_NO_DATA:
            print(could_not_measure_line(self.last_summary), file=sys.stderr, flush=True)
        if not self.headless:
            print(render_console(self.last_summary), flush=True)

    def on_sigterm(self) -> None:
        """Headless, Locust 2.47 handles SIGTERM only once a shape test has ended: until then, stop as Ctrl-C does,
        so the run directory is written from every sample so far (Locust's own handler does the rest)."""
        shape = getattr(self.environment.runner, "shape_greenlet", None)
        if shape is not None and not shape.dead:
            logger.info("Got SIGTERM: stopping the test as Ctrl-C does")
            interrupt_main()

    def on_quitting(self, environment: Environment, **_kwargs) -> None:
        if self.is_worker:  # its final report has gone; the log line lets a test count what it shipped
            logger.info(
                "TradeMate worker %s (pid %d) shipped %d samples", self.collector.worker, os.getpid(), self.shipped
            )
            return
        if self.run is not None and isinstance(environment.runner, MasterRunner):
            self.collect_final_reports(environment.runner)
        self.end_run()
        if self.last_summary is not None:
            environment.process_exit_code = self.last_summary["exit_code"]

    def on_quit(self, exit_code: int, **_kwargs) -> None:
        """Headless: the verdict is the last thing printed, after Locust's own tables."""
        if self.is_worker or self.last_summary is None or not self.headless:
            return
        if "tiers" in self.last_summary:
            print("\n" + render_console(self.last_summary), flush=True)
        else:
            print(verdict_line(exit_code, self.last_summary.get("verdict")), flush=True)


def interrupt_main() -> None:
    """Ctrl-C, delivered where Locust waits for it: in the main greenlet. Python's own handler raises
    KeyboardInterrupt in whichever greenlet runs when the signal lands (a user's, mid-request, which gevent then
    reports with a traceback); a signal handler runs in the hub, and this hands the interrupt to the main one."""
    hub = gevent.get_hub()
    hub.loop.run_callback(hub.parent.throw, KeyboardInterrupt)


def freeze_heap(**_kwargs) -> None:
    """At test start, every object then alive (modules, pandas, pyarrow, matplotlib...) leaves the garbage
    collector's reach: a full collection over them stops the event loop for about 100 ms here, and every request
    in flight with it. Later collections see only what the run allocates."""
    gc.collect()
    gc.freeze()


def could_not_measure_line(summary: dict[str, Any]) -> str:
    """One line naming the target a run could not measure and why: the load generator that limited it, or the error
    its requests met most."""
    if summary.get("verdict") == "invalid":
        return f"error: could not measure {summary['host']}: {summary['reason']}"
    counts: dict[str, int] = {}
    for error in summary.get("errors") or []:
        text = error["error"] or f"HTTP {error['status']}"
        counts[text] = counts.get(text, 0) + error["count"]
    line = f"error: could not measure {summary['host']}: {summary['reason']}"
    if counts:
        text, count = max(counts.items(), key=lambda item: item[1])
        line += f" ({count} requests failed with {text})"
    return line


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
            if suite.baseline_dir is not None:
                suite.baseline_summary = read_summary(suite.baseline_dir)
            suite.load_profile()
            suite.serve_live()
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
    suite.health.watch(environment.events)
    environment.events.test_stop.add_listener(suite.on_test_stop)
    if suite.is_worker:
        environment.events.report_to_master.add_listener(suite.ship_to_master)
    if isinstance(environment.runner, MasterRunner):
        environment.events.worker_report.add_listener(suite.receive_from_worker)
        gevent.spawn(suite._watch_workers)
    environment.events.quitting.add_listener(suite.on_quitting)
    environment.events.quit.add_listener(suite.on_quit)
    if suite.headless and not suite.is_worker:
        gevent.signal_handler(signal.SIGTERM, suite.on_sigterm)
        gevent.signal_handler(signal.SIGINT, interrupt_main)
    if environment.web_ui is not None:
        _refuse_bad_profile_in_web_ui(suite)
    return suite
