"""Locust run from the image's file layout, without a container engine.

The Dockerfile's COPY instructions are replayed from the repository, through .dockerignore's rules as Docker applies
them (tests/deploy/dockerfile.py), into a directory that stands for the image's file system; and Locust is run from
that directory exactly as the entrypoint runs it, including one short headless run with the performance-validation
Job's arguments against a real reference API on loopback, and the master and worker Deployments' arguments forming a
Locust cluster on loopback.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, closing
from pathlib import Path

import pytest
import yaml

from tests.conftest import JUDGED
from tests.deploy.dockerfile import ENTRYPOINT, JOB, ROOT, SUITE, build_tree, workdir_at_end

# Locust from the image's file layout


@pytest.fixture(scope="module")
def image_app(tmp_path_factory) -> Path:
    """The image's WORKDIR, built by replaying the COPY instructions from the repository."""
    root = tmp_path_factory.mktemp("image")
    build_tree(root)
    app = root / workdir_at_end().lstrip("/")
    assert (app / "locustfiles" / "trademate.py").is_file() and (app / "profiles" / "premium.yaml").is_file()
    return app


def run_entrypoint(app: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The container's command, ``locust -f locustfiles/trademate.py ARGS``, in the image's WORKDIR."""
    env = {**os.environ, "PYTHONPATH": str(app), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", *ENTRYPOINT, *args]
    return subprocess.run(cmd, cwd=app, env=env, capture_output=True, text=True, timeout=timeout)


def test_image_layout_imports_the_suite_from_its_own_copy(image_app):
    env = {**os.environ, "PYTHONPATH": str(image_app)}
    code = "import trademate_load.profile as p; print(p.__file__); print(p.PROFILES_DIR)"
    result = subprocess.run([sys.executable, "-c", code], cwd=image_app, env=env, capture_output=True, text=True)
    module, profiles = result.stdout.split()
    assert Path(module).is_relative_to(image_app), "the tree under test, not the repository's package"
    assert Path(profiles) == image_app / "profiles", "where the pods mount the profiles ConfigMap"


def test_entrypoint_loads_the_suite_and_its_profiles_from_the_image(image_app):
    """An unknown profile is refused (exit 2) by the suite, naming the image's profiles directory and its files."""
    result = run_entrypoint(image_app, "--headless", "--profile=nosuch", "--host=http://127.0.0.1:9", timeout=60)
    assert result.returncode == 2, result.stderr
    known = ", ".join(sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml") if p.stem != "sla"))
    assert f"{image_app / 'profiles' / 'nosuch.yaml'}: (file): no such profile (known names: {known})" in result.stderr


def test_image_also_runs_the_api_deployments_command(image_app):
    """The API Deployments (performance-config.yaml) run this image too, with their own command."""
    command = container_of(ROOT / "deploy" / "performance-config.yaml", "trademate-api-premium")["command"]
    assert command[:3] == ["python", "-m", "trademate_api"]
    env = {**os.environ, "PYTHONPATH": str(image_app)}
    result = subprocess.run(
        [sys.executable, *command[1:], "--help"], cwd=image_app, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "--credentials" in result.stdout, result.stderr
    assert (image_app / "trademate_api" / "sql").is_dir(), "the API's SQL ships with it"


def container_of(path: Path, name: str) -> dict:
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    (workload,) = (doc for doc in docs if doc["kind"] in ("Deployment", "Job") and doc["metadata"]["name"] == name)
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def job_args() -> list[str]:
    return container_of(JOB, "performance-validation")["args"]


def substitute(args: list[str], replace: dict[str, str]) -> list[str]:
    """``args`` with the values of the ``--name=value`` options named in ``replace`` swapped for loopback ones."""
    names = {arg.partition("=")[0] for arg in args}
    assert set(replace) <= names, f"missing {set(replace) - names}"
    return [f"{name}={replace[name]}" if (name := arg.partition("=")[0]) in replace else arg for arg in args]


def test_job_arguments_run_headless_from_the_image_layout(image_app, api, tmp_path):
    """The Job's own arguments, aimed at a loopback API and shortened to 5 s: the gate's exit code comes back."""
    url, credentials = api
    replace = {"--host": url, "--credentials": str(credentials), "--report-dir": str(tmp_path / "reports")}
    args = substitute(job_args(), replace)
    result = run_entrypoint(image_app, *args, "--run-time=5s", "--only-summary")
    assert result.returncode in JUDGED, f"exit {result.returncode}: {result.stderr[-2000:]}"
    summary = json.loads(next((tmp_path / "reports").glob("*/summary.json")).read_text())
    assert summary["profile"] == "premium" and summary["exit_code"] == result.returncode
    with credentials.open(newline="") as handle:
        tokens = [row["token"] for row in csv.DictReader(handle)]
    log = result.stdout + result.stderr
    assert not [token for token in tokens if token in log], "a token reached the Job's log"


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def test_master_and_worker_arguments_form_a_cluster(image_app, api, tmp_path):
    """The master and worker Deployments' arguments, on loopback ports: the worker joins, the probes pass."""
    url, credentials = api
    web, bind = free_port(), free_port()
    master = container_of(SUITE, "trademate-load-master")
    worker = container_of(SUITE, "trademate-load-worker")
    master_args = substitute(master["args"], {
        "--web-port": str(web), "--master-bind-port": str(bind), "--host": url,
        "--credentials": str(credentials), "--report-dir": str(tmp_path / "reports"),
    })  # fmt: skip
    worker_args = substitute(
        worker["args"], {"--master-host": "127.0.0.1", "--master-port": str(bind), "--credentials": str(credentials)}
    )
    env = {**os.environ, "PYTHONPATH": str(image_app), "PYTHONDONTWRITEBYTECODE": "1"}
    with ExitStack() as stack:
        for args, name in ((master_args, "master"), (worker_args, "worker")):
            log = stack.enter_context((tmp_path / f"{name}.log").open("w"))
            extra = ["--web-host=127.0.0.1", "--master-bind-host=127.0.0.1"] if name == "master" else []
            process = subprocess.Popen(
                [sys.executable, "-m", *ENTRYPOINT, *args, *extra], cwd=image_app, env=env, stdout=log, stderr=log
            )
            stack.callback(stop, process)
        base = f"http://127.0.0.1:{web}"
        deadline, workers = time.monotonic() + 60, 0
        while workers < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                workers = json.loads(get(f"{base}/stats/requests")[2]).get("worker_count", 0)
            except OSError:
                continue
        logs = "".join(path.read_text() for path in sorted(tmp_path.glob("*.log")))
        assert workers == 1, f"the worker did not join the master:\n{logs[-3000:]}"
        assert get(base + master["readinessProbe"]["httpGet"]["path"])[0] == 200
        status, content_type, _body = get(base + "/metrics")  # what deploy/prometheus/prometheus.yml scrapes
        assert status == 200 and content_type.startswith("text/plain"), content_type
        probe = " ".join(worker["readinessProbe"]["exec"]["command"][2:])
        probe = probe.replace('("trademate-load-master", 5557)', f'("127.0.0.1", {bind})')
        assert str(bind) in probe
        assert subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 0


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
