"""deploy/Dockerfile and .dockerignore, checked without a container engine: a pinned base image, pinned
requirements, a non-root user, the locustfile as entrypoint, the ports the manifests use, and .dockerignore keeping
secrets, environments and runs out of the image."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.dockerfile import (
    APP_UID,
    ENTRYPOINT,
    IGNORE,
    INSTRUCTIONS,
    JOB,
    ROOT,
    SUITE,
    DockerIgnore,
    Instruction,
    copies,
    of,
    parse_dockerfile,
    pins,
)

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
