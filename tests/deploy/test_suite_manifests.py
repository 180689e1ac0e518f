"""The suite's Kubernetes manifests: the profiles ConfigMap against profiles/, and how master, workers and the
performance-validation Job are wired to each other, to the API Services, to the image and to the Secret.

Schema validation (strict, against the Kubernetes schemas) happens in test_manifests.py, over the files k8s_manifests.py
lists.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROFILES = ROOT / "profiles"
RENDER = DEPLOY / "render_profiles.py"
NAMESPACE = "trademate"
SUITE_FILES = ("load-profiles.yaml", "load-suite.yaml", "performance-validation.yaml")
ALL_FILES = ("caching-strategy.yaml", "performance-config.yaml", "monitoring.yaml", *SUITE_FILES)
PROFILES_MOUNT = "/app/profiles"  # deploy/Dockerfile: WORKDIR /app, COPY profiles/ profiles/
SECRET = "trademate-load-credentials"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def load(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8")) if doc]


DOCS = [doc for name in ALL_FILES for doc in load(name)]


def find(kind: str, name: str) -> dict:
    (doc,) = (doc for doc in DOCS if doc["kind"] == kind and doc["metadata"]["name"] == name)
    return doc


def container(workload: dict) -> dict:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def options(workload: dict) -> dict[str, str]:
    """A suite container's ``--name=value`` arguments as {name: value} (flags map to "")."""
    args = container(workload)["args"]
    assert all(arg.startswith("--") for arg in args), f"write every argument as --name[=value]: {args}"
    return dict((arg.partition("=")[0], arg.partition("=")[2]) for arg in args)


MASTER = find("Deployment", "trademate-load-master")
WORKER = find("Deployment", "trademate-load-worker")
JOB = find("Job", "performance-validation")
SUITE_PODS = {"master": MASTER, "worker": WORKER, "job": JOB}


def service_port(service: dict, name: str) -> int:
    (port,) = (port["port"] for port in service["spec"]["ports"] if port["name"] == name)
    return port


def container_port(workload: dict, name: str) -> int:
    (port,) = (port["containerPort"] for port in container(workload)["ports"] if port["name"] == name)
    return port


def in_cluster_service(host: str) -> tuple[dict, int]:
    """The Service and port an in-cluster URL (``http://NAME.NAMESPACE.svc.cluster.local:PORT``) names."""
    assert host.startswith("http://"), host
    name, port = host.removeprefix("http://").split(":")
    service_name, namespace, *rest = name.split(".")
    assert (namespace, rest) == (NAMESPACE, ["svc", "cluster", "local"]), host
    return find("Service", service_name), int(port)


def test_every_manifest_in_deploy_is_validated():
    """test_manifests.py validates the files of MANIFESTS (k8s_manifests.py) strictly: every deploy/*.yaml must be among
    them."""
    source = ast.parse(Path(__file__).with_name("k8s_manifests.py").read_text(encoding="utf-8"))
    (listed,) = (
        ast.literal_eval(node.value)
        for node in source.body
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["MANIFESTS"]
    )
    on_disk = sorted(path.name for path in DEPLOY.glob("*.yaml"))
    assert sorted(listed) == on_disk == sorted(ALL_FILES)


# The profiles ConfigMap


def test_profiles_configmap_is_profiles_dir_byte_for_byte():
    data = find("ConfigMap", "trademate-load-profiles")["data"]
    files = {path.name: path.read_bytes() for path in PROFILES.glob("*.yaml")}
    assert sorted(data) == sorted(files), "regenerate: python deploy/render_profiles.py"
    for name, content in files.items():
        assert data[name].encode("utf-8") == content, f"{name} drifted: python deploy/render_profiles.py"


def render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RENDER), *args], capture_output=True, text=True, timeout=60)


def test_render_check_passes_on_the_checked_in_manifest():
    result = render("--check")
    assert result.returncode == 0, result.stderr


def test_render_check_catches_a_changed_profile(tmp_path):
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    smoke = profiles / "smoke.yaml"
    smoke.write_text(smoke.read_text().replace("run_time: 15s", "run_time: 20s"))
    result = render("--profiles", str(profiles), "--output", str(DEPLOY / "load-profiles.yaml"), "--check")
    assert result.returncode == 1 and "out of date" in result.stderr
    output = tmp_path / "out.yaml"
    assert render("--profiles", str(profiles), "--output", str(output)).returncode == 0
    (configmap,) = (doc for doc in yaml.safe_load_all(output.read_text()) if doc)
    assert configmap["data"]["smoke.yaml"] == smoke.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"a: 1\r\nb: 2\r\n", "does not survive"), (b"a: \x07\n", "cannot be carried"), (b"a: \xff\n", "not UTF-8")],
)
def test_render_refuses_a_file_it_cannot_carry_exactly(tmp_path, content, message):
    (tmp_path / "odd.yaml").write_bytes(content)
    result = render("--profiles", str(tmp_path), "--output", str(tmp_path / "out.txt"))
    assert result.returncode == 2 and f"{tmp_path}/odd.yaml: " in result.stderr and message in result.stderr
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize(
    "content", ["  leading: spaces\n", "x: 1", "x: 1\n\n\n", "\n\nx: '\t'\n", "# only a comment\n"]
)
def test_render_carries_awkward_but_valid_files_exactly(tmp_path, content):
    (tmp_path / "p.yaml").write_text(content)
    output = tmp_path / "out.txt"
    assert render("--profiles", str(tmp_path), "--output", str(output)).returncode == 0
    (configmap,) = (doc for doc in yaml.safe_load_all(output.read_text()) if doc)
    assert configmap["data"] == {"p.yaml": content}


# Every suite pod


@pytest.mark.parametrize("role", SUITE_PODS)
def test_runs_the_suite_image_of_this_version_through_its_entrypoint(role):
    locust = container(SUITE_PODS[role])
    assert locust["image"] == f"trademate/load:{VERSION}"
    assert "command" not in locust, "keep the image's entrypoint (locust -f locustfiles/trademate.py)"


@pytest.mark.parametrize("role", SUITE_PODS)
def test_profiles_mounted_over_the_image_profiles_dir(role):
    pod = SUITE_PODS[role]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container(SUITE_PODS[role])["volumeMounts"]}
    mount = mounts[PROFILES_MOUNT]
    assert mount["readOnly"] is True
    assert volumes[mount["name"]]["configMap"]["name"] == "trademate-load-profiles"
    profile = options(SUITE_PODS[role]).get("--profile")
    assert f"{profile}.yaml" in find("ConfigMap", "trademate-load-profiles")["data"], f"--profile={profile}"


@pytest.mark.parametrize("role", SUITE_PODS)
def test_credentials_come_from_the_secret_never_inline(role):
    workload = SUITE_PODS[role]
    pod = workload["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    path = Path(options(workload)["--credentials"])
    (mount,) = (m for m in container(workload)["volumeMounts"] if Path(m["mountPath"]) == path.parent)
    secret = volumes[mount["name"]]["secret"]
    assert secret["secretName"] == SECRET and mount["readOnly"] is True
    assert secret["items"] == [{"key": path.name, "path": path.name}]
    assert secret["defaultMode"] == 0o440, "readable by the pod's group (fsGroup), by no one else"
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    assert "env" not in container(workload) and "envFrom" not in container(workload)


def test_no_secret_is_defined_in_the_manifests():
    assert [doc["metadata"]["name"] for doc in DOCS if doc["kind"] == "Secret"] == []
    for role, workload in SUITE_PODS.items():
        args = " ".join(container(workload)["args"]).lower()
        assert not [word for word in ("token", "bearer", "password", "secret=") if word in args], role


@pytest.mark.parametrize("role", SUITE_PODS)
def test_hardened_and_writable_only_where_the_suite_writes(role):
    pod = SUITE_PODS[role]["spec"]["template"]["spec"]
    locust = container(SUITE_PODS[role])
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["enableServiceLinks"] is False
    assert locust["securityContext"]["readOnlyRootFilesystem"] is True
    assert locust["securityContext"]["capabilities"]["drop"] == ["ALL"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    writable = {m["mountPath"] for m in locust["volumeMounts"] if "emptyDir" in volumes[m["name"]]}
    report_dir = options(SUITE_PODS[role]).get("--report-dir")
    assert writable == ({"/tmp", report_dir} if report_dir else {"/tmp"})


@pytest.mark.parametrize("role", ["master", "job"])
def test_target_is_an_api_service_of_these_manifests(role):
    service, port = in_cluster_service(options(SUITE_PODS[role])["--host"])
    assert service["metadata"]["labels"]["app.kubernetes.io/name"] == "trademate-api"
    assert port in {p["port"] for p in service["spec"]["ports"]}
    assert service["spec"].get("clusterIP") != "None", "through the tier's load-balancing Service"


# Master and workers


def test_master_serves_the_web_ui_and_the_worker_port_through_its_service():
    service = find("Service", "trademate-load-master")
    args = options(MASTER)
    assert "--master" in args and "--headless" not in args
    assert int(args["--web-port"]) == container_port(MASTER, "web") == service_port(service, "web") == 8089
    assert int(args["--master-bind-port"]) == container_port(MASTER, "master") == service_port(service, "master")
    assert MASTER["spec"]["replicas"] == 1 and MASTER["spec"]["strategy"]["type"] == "Recreate"
    annotations = MASTER["spec"]["template"]["metadata"]["annotations"]
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == ("8089", "/metrics")


def test_workers_connect_to_the_master_service_and_follow_its_profile():
    service = find("Service", "trademate-load-master")
    args = options(WORKER)
    assert "--worker" in args
    assert args["--master-host"] == service["metadata"]["name"]
    assert int(args["--master-port"]) == service_port(service, "master")
    assert args["--profile"] == options(MASTER)["--profile"]
    assert args["--credentials"] == options(MASTER)["--credentials"]
    for probe in ("readinessProbe", "livenessProbe"):
        command = " ".join(container(WORKER)[probe]["exec"]["command"])
        assert f'("{args["--master-host"]}", {args["--master-port"]})' in command, probe


def test_workers_get_whole_cores():
    resources = container(WORKER)["resources"]
    assert resources["requests"] == resources["limits"] and resources["limits"]["cpu"] == "1"


# The performance-validation Job


def test_job_runs_headless_once_and_ends_with_the_gate():
    spec = JOB["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    args = options(JOB)
    assert "--headless" in args and not {"--master", "--worker", "--autostart"} & args.keys()
    assert spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] >= 3600


def test_job_pods_are_not_behind_a_service():
    labels = JOB["spec"]["template"]["metadata"]["labels"]
    for service in (doc for doc in DOCS if doc["kind"] == "Service"):
        selector = service["spec"]["selector"]
        assert not all(labels.get(k) == v for k, v in selector.items()), service["metadata"]["name"]
