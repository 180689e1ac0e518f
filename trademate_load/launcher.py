"""What the make targets run: start the reference API unless HOST is given, run Locust, stop the API.

The suite's exit code passes through unchanged (0 met, 1 breached, 2 invalid input, 3 could not
measure) and the last line printed names it. Locust and the reference API run in sessions of their own:
Ctrl-C (or SIGTERM) reaches Locust once, through this launcher, and Locust writes the run directory from
every sample so far while the API keeps answering until Locust is done.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from trademate_load.config import ConfigError
from trademate_load.history import parse_auto
from trademate_load.profile import load_profile
from trademate_load.report.console import verdict_line
from trademate_load.rundir import read_summary, report_dir_problem
from trademate_load.verdict import EXIT_INVALID, EXIT_NO_DATA

LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfiles" / "trademate.py"
READY_PREFIX = "TradeMate API listening on "
WARM_USERS = 800  # every seeded user (200 per plan): the API warms their caches at start, as the seed's layer does
# The reference API picks its backends from these; the launcher passes them on only when given with the
# TRADEMATE_API_ prefix, so a DATABASE_URL meant for something else never gets seeded over.
BACKEND_VARIABLES = ("DATABASE_URL", "REDIS_URL", "REDIS_SHARED_URL", "REDIS_PREMIUM_URL")
API_START_TIMEOUT_S = 60.0


class LaunchError(Exception):
    """The run cannot start; carries the suite's exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def check_host(host: str) -> str:
    """HOST must be an http(s) URL: some shells export a bare host name as HOST, which we refuse."""
    parsed = urlparse(host)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LaunchError(
            f"HOST={host!r}: expected an http:// or https:// URL such as http://127.0.0.1:8000", EXIT_INVALID
        )
    return host.rstrip("/")


def api_environment(environ: dict[str, str]) -> dict[str, str]:
    """The reference API's environment: backends only from ``TRADEMATE_API_<VARIABLE>``; embedded otherwise."""
    env = {k: v for k, v in environ.items() if k not in BACKEND_VARIABLES}
    for name in BACKEND_VARIABLES:
        if environ.get(f"TRADEMATE_API_{name}"):
            env[name] = environ[f"TRADEMATE_API_{name}"]
    return env


@contextmanager
def reference_api(workdir: Path, timeout_s: float = API_START_TIMEOUT_S, extra_args: Sequence[str] = ()):
    """Start ``python -m trademate_api`` on a free loopback port; yield (url, credentials file); stop it.

    ``extra_args`` go to the API's command line as they are (``--fault ...``, ``--fault-seed 7``).
    """
    credentials = workdir / "credentials.csv"
    log_path = workdir / "api.log"
    cmd = [
        sys.executable,
        "-m",
        "trademate_api",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--credentials",
        str(credentials),
        "--warm-users",
        str(WARM_USERS),
        *extra_args,
    ]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=api_environment(dict(os.environ))
        )
    try:
        url = _wait_ready(proc, log_path, timeout_s)
        print(f"Reference TradeMate API started at {url} (pid {proc.pid})", flush=True)
        yield url, credentials
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(proc: subprocess.Popen, log_path: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
        if proc.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            code = EXIT_INVALID if proc.returncode == EXIT_INVALID else EXIT_NO_DATA  # its own bad input stays 2
            raise LaunchError(f"the reference API exited with {proc.returncode} before listening:\n{tail}", code)
        time.sleep(0.05)
    raise LaunchError(f"the reference API did not start listening within {timeout_s:.0f} s", EXIT_NO_DATA)


def free_port() -> int:
    """A TCP port free on the loopback interface just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_options(workers: int) -> list[str]:
    """Locust's options for a master with ``workers`` local worker processes on a free loopback port (not Locust's
    default 5557: a concurrent run's workers must not join this one)."""
    port = str(free_port())
    return [
        "--processes", str(workers), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
        "--master-host", "127.0.0.1", "--master-port", port,
    ]  # fmt: skip


def locust_command(
    profile: str,
    host: str,
    credentials: Path,
    *,
    ui: bool,
    run_time: str,
    report_dir: str,
    workers: int,
    web_port: int,
    baseline: str = "",
    metrics_port: int = 0,
    label: str = "",
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--profile",
        profile,
        "--host",
        host,
        "--credentials",
        str(credentials),
        "--report-dir",
        report_dir,
    ]
    if ui:
        cmd += ["--web-host", "127.0.0.1", "--web-port", str(web_port)]
    else:
        cmd += ["--headless", "--only-summary"]
    if run_time:
        cmd += ["--run-time", run_time]
    if workers:
        cmd += worker_options(workers)
    if baseline:
        cmd += ["--baseline", baseline]
    if metrics_port:
        cmd += ["--metrics-port", str(metrics_port)]
    if label:
        cmd += ["--label", label]
    return cmd


def _run_locust(cmd: list[str]) -> int:
    """Run Locust in its own session; SIGINT and SIGTERM reach it once, from here, so it can write its report.

    Our handlers are installed before the child starts: exec turns handled signals back to their defaults
    in the child, even where this launcher itself started with SIGINT ignored (a background job).
    """
    children: list[subprocess.Popen] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, _frame: [child.send_signal(signum) for child in children])
    try:
        children.append(subprocess.Popen(cmd, start_new_session=True))
        return children[0].wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def launch(
    profile: str,
    *,
    host: str = "",
    credentials: str = "",
    ui: bool = False,
    run_time: str = "",
    report_dir: str = "reports",
    workers: int = 0,
    web_port: int = 8089,
    baseline: str = "",
    metrics_port: int = 0,
    label: str = "",
) -> int:
    """Run one profile end to end and return the suite's exit code."""
    try:
        load_profile(profile)
        if baseline and parse_auto(baseline) is None:
            read_summary(Path(baseline))  # refuse a bad baseline before starting anything
        problem = report_dir_problem(Path(report_dir))  # and a report directory the run could not write
        if problem is not None:
            raise LaunchError(problem, EXIT_NO_DATA)
        options = {
            "ui": ui,
            "run_time": run_time,
            "report_dir": report_dir,
            "workers": workers,
            "web_port": web_port,
            "baseline": baseline,
            "metrics_port": metrics_port,
            "label": label,
        }
        if host:
            host = check_host(host)
            if not credentials:
                raise LaunchError("CREDENTIALS: required with HOST (a CSV user_id,plan,tier,token)", EXIT_INVALID)
            return _run_locust(locust_command(profile, host, Path(credentials), **options))
        with tempfile.TemporaryDirectory(prefix="trademate-api-") as workdir, reference_api(Path(workdir)) as api:
            url, creds = api
            return _run_locust(locust_command(profile, url, creds, **options))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_INVALID
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code


def run_verdict(report_dir: str, since_ts: float) -> str | None:
    """The verdict of the run directory ``latest`` points at, if that run was written after ``since_ts``."""
    summary = Path(report_dir) / "latest" / "summary.json"
    try:
        if summary.stat().st_mtime >= since_ts:
            return json.loads(summary.read_text())["verdict"]
    except (OSError, ValueError, KeyError):
        pass
    return None


def main_line(code: int, verdict: str | None = None) -> str:
    """The last line a make target prints."""
    if code not in (0, 1, 2, 3):
        return f"[trademate] failed (exit {code})"
    return f"[trademate] {verdict_line(code, verdict)}"
