"""deploy/Dockerfile and .dockerignore, checked without a container engine.

The Dockerfile is parsed into instructions and checked (pinned base image, pinned requirements, non-root user,
the locustfile as entrypoint); its COPY instructions are replayed from the repository, through .dockerignore's
rules as Docker applies them, into a directory that stands for the image's file system; and Locust is run
from that directory exactly as the entrypoint runs it, including one short headless run with the
performance-validation Job's arguments against a real reference API on loopback, and the master and worker
Deployments' arguments forming a Locust cluster on loopback.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from contextlib import ExitStack, closing
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import JUDGED

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
JOB = ROOT / "deploy" / "performance-validation.yaml"
SUITE = ROOT / "deploy" / "load-suite.yaml"
ENTRYPOINT = ["locust", "-f", "locustfiles/trademate.py"]
APP_UID = 10001


# Parsing


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str

    def words(self) -> list[str]:
        """The arguments: a JSON array (exec form) or shell words."""
        if self.value.startswith("["):
            return json.loads(self.value)
        return shlex.split(self.value)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments dropped, backslash continuations joined."""
    instructions, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, value = (pending + line).strip().partition(" ")
        instructions.append(Instruction(keyword.upper(), value.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def of(keyword: str) -> list[Instruction]:
    return [ins for ins in INSTRUCTIONS if ins.keyword == keyword]


class DockerIgnore:
    """.dockerignore as Docker applies it: the last matching pattern wins, and a pattern that matches a
    directory matches everything under it; ``!`` re-includes, ``**`` spans directories."""

    def __init__(self, text: str):
        self.rules: list[tuple[re.Pattern, bool]] = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = str(PurePosixPath(line.lstrip("!").strip().lstrip("/")))
            self.rules.append((self._compile(pattern), include))

    @staticmethod
    def _compile(pattern: str) -> re.Pattern:
        out, i = [], 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif pattern.startswith("**", i):
                out.append(".*")
                i += 2
            elif pattern[i] == "*":
                out.append("[^/]*")
                i += 1
            elif pattern[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(pattern[i]))
                i += 1
        return re.compile("".join(out) + r"\Z")

    def excluded(self, path: str) -> bool:
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for rule, include in self.rules:
            if any(rule.match(candidate) for candidate in candidates):
                verdict = not include
        return verdict


IGNORE = DockerIgnore(DOCKERIGNORE.read_text(encoding="utf-8"))


def copies() -> list[tuple[list[str], str, str]]:
    """(sources, destination, workdir in force) of every COPY, in order."""
    workdir, found = "/", []
    for ins in INSTRUCTIONS:
        if ins.keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir, ins.value))
        elif ins.keyword == "COPY":
            words = [word for word in ins.words() if not word.startswith("--")]
            found.append((words[:-1], words[-1], workdir))
    return found


def build_tree(image_root: Path) -> None:
    """Replay every COPY from the repository into ``image_root``, through .dockerignore."""
    for sources, destination, workdir in copies():
        target = image_root / PurePosixPath(workdir, destination).relative_to("/")
        for source in sources:
            path = ROOT / source
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                if IGNORE.excluded(relative):
                    continue
                inside = file.relative_to(path) if path.is_dir() else Path(file.name)
                out = target / inside if (path.is_dir() or destination.endswith("/")) else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)


def workdir_at_end() -> str:
    return str(PurePosixPath("/", *(ins.value for ins in of("WORKDIR"))))


# The Dockerfile


def test_parser_reads_instructions_and_continuations():
    parsed = parse_dockerfile('# c\nFROM a:1\nRUN x \\\n    # inner\n    && y\nENTRYPOINT ["p", "-f"]\n')
    assert parsed == [
        Instruction("FROM", "a:1"),
        Instruction("RUN", "x      && y"),
        Instruction("ENTRYPOINT", '["p", "-f"]'),
    ]
    assert parsed[2].words() == ["p", "-f"]


def test_one_stage_on_a_pinned_python_311_slim_image():
    (base,) = of("FROM")
    image = base.value
    match = re.fullmatch(r"python:(3\.11)\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image)
    assert match, f"base image {image!r}: pin a full version and distribution (python:3.11.N-slim-DIST)"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert requires == ">=3.11" and match.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"


def pins(name: str) -> dict[str, tuple[str, set[str]]]:
    """A requirements file's pins by normalised name: (version, extras); ``-r`` lines are not followed."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = (str(requirement.specifier), set(requirement.extras))
    return found


def test_running_the_suite_needs_only_requirements_txt_and_it_pins_all_it_pulls_in():
    """What requirements.txt pins, as installed, needs nothing it does not pin; no test or lint tool is in it."""
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    missing = []
    for name, (_, extras) in runtime.items():
        for line in metadata.requires(name) or []:
            needed = Requirement(line)
            wanted = any(needed.marker is None or needed.marker.evaluate({"extra": extra}) for extra in extras | {""})
            if wanted and canonicalize_name(needed.name) not in runtime:
                missing.append(f"{name} needs {needed}")
    assert not missing, f"requirements.txt: not pinned: {missing}"
    assert not set(runtime) & set(dev), "requirements-dev.txt repeats a pin of requirements.txt"
    assert {"pytest-timeout", "playwright", "ruff", "schemathesis"} <= set(dev) and not {"ruff", "playwright"} & set(
        runtime
    )
    installed = {name: f"=={metadata.version(name)}" for name in {**runtime, **dev}}
    assert {name: pin for name, (pin, _) in {**runtime, **dev}.items()} == installed  # the venv is what they pin


def test_every_requirement_is_pinned_and_installed_before_the_package():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    unpinned = [line for line in requirements if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line)]
    assert requirements and not unpinned, f"requirements.txt: not pinned with ==: {unpinned}"
    runs = [ins.value for ins in of("RUN")]
    pip_r = next(i for i, run in enumerate(runs) if re.search(r"pip install .*-r requirements\.txt", run))
    package = next(i for i, run in enumerate(runs) if re.search(r"pip install .*--no-deps.*-e \.", run))
    assert pip_r < package
    # The package is installed after its sources and metadata are in place.
    order = [ins for ins in INSTRUCTIONS if ins.keyword in ("COPY", "RUN")]
    install_at = next(i for i, ins in enumerate(order) if ins.keyword == "RUN" and "-e ." in ins.value)
    copied_before = {
        source.rstrip("/") for ins in order[:install_at] if ins.keyword == "COPY" for source in ins.words()[:-1]
    }
    assert {"pyproject.toml", "README.md", "trademate_load"} <= copied_before


def test_every_copy_source_exists_and_passes_the_dockerignore():
    for sources, _destination, _workdir in copies():
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            assert not IGNORE.excluded(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"


def test_the_package_and_its_data_are_copied():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    copied = {source.rstrip("/") for sources, _, _ in copies() for source in sources}
    packages = {pattern.rstrip("*") for pattern in config["packages"]["find"]["include"]}
    assert packages <= copied
    assert {"locustfiles", "profiles", "requirements.txt", "pyproject.toml", "README.md"} <= copied


def test_runs_as_a_numeric_non_root_user_matching_the_pods():
    users = of("USER")
    assert users, "no USER: the image would run as root"
    uid, _, gid = users[-1].value.partition(":")
    assert uid.isdigit() and int(uid) == APP_UID, "a numeric uid, so that runAsNonRoot can verify it"
    assert gid.isdigit() and int(gid) != 0
    assert INSTRUCTIONS.index(users[-1]) > max(INSTRUCTIONS.index(ins) for ins in of("RUN"))
    for path in (SUITE, JOB):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and "template" in doc["spec"]:
                assert doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == APP_UID


def test_entrypoint_is_the_locustfile_in_exec_form():
    (entrypoint,) = of("ENTRYPOINT")
    assert entrypoint.value.startswith("["), "exec form: locust is PID 1 and its exit code is the container's"
    assert entrypoint.words() == ENTRYPOINT
    assert (ROOT / "locustfiles" / "trademate.py").is_file()
    (cmd,) = of("CMD")
    assert cmd.words() == [], "no default arguments: the python image's CMD must not reach locust"


def test_exposes_the_ports_the_manifests_use():
    exposed = {int(port) for ins in of("EXPOSE") for port in ins.words()}
    assert exposed == {8089, 5557}


# .dockerignore


def test_dockerignore_matcher_follows_docker_rules():
    rules = DockerIgnore("*\n!keep\n**/*.pyc\n!keep/x.pyc\n")
    assert rules.excluded("other") and rules.excluded("other/deep/file")
    assert not rules.excluded("keep") and not rules.excluded("keep/a/b.py")
    assert rules.excluded("keep/a/b.pyc") and not rules.excluded("keep/x.pyc")


OUTSIDE_THE_IMAGE = [
    ".venv/bin/python",
    "var/credentials.csv",
    "reports/latest/summary.json",
    ".git/config",
    "tests/conftest.py",
    "trademate_load/__pycache__/profile.cpython-311.pyc",
    "trademate_load.egg-info/PKG-INFO",
    "deploy/Dockerfile",
]


@pytest.mark.parametrize("path", OUTSIDE_THE_IMAGE)
def test_dockerignore_keeps_out_secrets_environments_and_runs(path):
    assert IGNORE.excluded(path)


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
