"""Offline checks of the Kubernetes manifests in deploy/: strict schema validation, then the tier figures in them."""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = (
    "caching-strategy.yaml",
    "performance-config.yaml",
    "monitoring.yaml",
    "load-profiles.yaml",
    "load-suite.yaml",
    "performance-validation.yaml",
)
NAMESPACE = "trademate"
# The oldest Kubernetes the manifests target (the preStop `sleep` action is on by default from 1.30) and the
# newest whose schemas kubernetes-validate ships.
VERSIONS = ("1.30", kubernetes_validate.major_minor(kubernetes_validate.latest_version()))
CLUSTER_SCOPED = {"Namespace"}

# The seed's figures, per tier.
SEED = {
    "shared": {"policy": "allkeys-lru", "replicas": 3, "memory": "40Gi", "ttl": "300", "pool": "25", "timeout": "50"},
    "premium": {"policy": "allkeys-lfu", "replicas": 5, "memory": "80Gi", "ttl": "60", "pool": "50", "timeout": "20"},
}
TIERS = tuple(SEED)

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
_FACTORS = {
    None: 1,
    "m": Fraction(1, 1000),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
# redis.conf memory units: kb/mb/gb are powers of 1024, k/m/g powers of 1000.
_REDIS_FACTORS = {"": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}


def _load(name: str) -> list[dict]:
    with open(DEPLOY / name, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


DOCUMENTS = [(name, doc) for name in MANIFESTS for doc in _load(name)]
ALL = [doc for _, doc in DOCUMENTS]


def quantity(value: str | int) -> Fraction:
    """A Kubernetes resource quantity ("500m", "40Gi", 2) as an exact number."""
    match = _QUANTITY.match(str(value))
    assert match, f"not a quantity: {value!r}"
    return Fraction(match.group(1)) * _FACTORS[match.group(2)]


def find(kind: str, name: str) -> dict:
    found = [doc for doc in ALL if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in ALL if doc["kind"] == kind]


def containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


def redis_conf(tier: str) -> dict[str, str]:
    """The tier's redis.conf as {directive: rest of line}."""
    text = find("ConfigMap", f"trademate-redis-{tier}")["data"]["redis.conf"]
    lines = (line.strip() for line in text.splitlines())
    return dict(line.split(None, 1) for line in lines if line and not line.startswith("#"))


def env_of(deployment: dict) -> dict[str, str]:
    """A Deployment's environment as the kubelet would build it; Secret values read as ``secret:NAME/KEY``."""
    (container,) = containers(deployment)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(find("ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "configMapKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = find("ConfigMap", ref["name"])["data"][ref["key"]]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"secret:{ref['name']}/{ref['key']}"
    return env


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def pod_templates() -> list[dict]:
    return [doc for doc in ALL if doc["kind"] in ("Deployment", "StatefulSet")]


# Schemas


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("doc", ALL, ids=[f"{name}:{doc['kind']}/{doc['metadata']['name']}" for name, doc in DOCUMENTS])
def test_document_validates_strictly(doc, version):
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} against {error.version}: {path}: {error.message}")
    except kubernetes_validate.SchemaNotFoundError as error:
        pytest.fail(error.message)


def test_strict_validation_rejects_unknown_fields():
    doc = copy.deepcopy(find("Deployment", "trademate-api-shared"))
    containers(doc)[0]["resource"] = containers(doc)[0].pop("resources")  # a typo kubectl would reject
    with pytest.raises(kubernetes_validate.ValidationError, match="'resource' was unexpected"):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)


def test_everything_lives_in_the_trademate_namespace():
    assert find("Namespace", NAMESPACE)
    # caching-strategy.yaml creates the namespace, so it must come first in `kubectl apply -f a -f b`.
    assert MANIFESTS[0] == "caching-strategy.yaml" and DOCUMENTS[0][1]["kind"] == "Namespace"
    for doc in ALL:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]


def test_names_are_unique_per_kind():
    keys = [(doc["kind"], doc["metadata"]["name"]) for doc in ALL]
    assert len(keys) == len(set(keys))


# Redis per tier


@pytest.mark.parametrize("tier", TIERS)
def test_redis_eviction_policy_and_no_persistence(tier):
    conf = redis_conf(tier)
    assert conf["maxmemory-policy"] == SEED[tier]["policy"]
    assert conf["save"] == '""' and conf["appendonly"] == "no"
    assert int(conf["tcp-keepalive"]) > 0


@pytest.mark.parametrize("tier", TIERS)
def test_redis_replicas_and_memory_per_replica(tier):
    statefulset = find("StatefulSet", f"trademate-redis-{tier}")
    assert statefulset["spec"]["replicas"] == SEED[tier]["replicas"]
    (redis,) = containers(statefulset)
    assert redis["image"] == "redis:7"
    resources = redis["resources"]
    assert quantity(resources["limits"]["memory"]) == quantity(SEED[tier]["memory"])
    assert resources["requests"]["memory"] == resources["limits"]["memory"], "reserve the whole allocation"


@pytest.mark.parametrize("tier", TIERS)
def test_redis_maxmemory_is_80_percent_of_the_limit(tier):
    number, unit = re.fullmatch(r"(\d+)([a-z]*)", redis_conf(tier)["maxmemory"]).groups()
    maxmemory = int(number) * _REDIS_FACTORS[unit]
    (redis,) = containers(find("StatefulSet", f"trademate-redis-{tier}"))
    assert maxmemory / quantity(redis["resources"]["limits"]["memory"]) == Fraction(4, 5)


@pytest.mark.parametrize("tier", TIERS)
def test_redis_statefulset_wiring(tier):
    name = f"trademate-redis-{tier}"
    statefulset = find("StatefulSet", name)
    spec = statefulset["spec"]
    labels = spec["template"]["metadata"]["labels"]
    service = find("Service", spec["serviceName"])
    assert service["spec"]["clusterIP"] == "None", "a StatefulSet's governing Service is headless"
    assert selects(service["spec"]["selector"], labels)
    volumes = {volume["name"]: volume for volume in spec["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == name
    (redis,) = containers(statefulset)
    for probe in ("readinessProbe", "livenessProbe"):
        command = " ".join(redis[probe]["exec"]["command"])
        assert "redis-cli" in command and "ping" in command, probe
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert selects(term["labelSelector"]["matchLabels"], labels)
    # Pod 0 is the primary the API writes to; the others replicate it.
    primary = next(var["value"] for var in redis["env"] if var["name"] == "PRIMARY_HOST")
    assert primary == f"{name}-0.{name}.{NAMESPACE}.svc.cluster.local"


def test_cache_ttls_reach_both_api_deployments():
    ttl = find("ConfigMap", "trademate-cache-ttl")["data"]
    assert ttl == {f"TRADEMATE_CACHE_TTL_{tier.upper()}_S": SEED[tier]["ttl"] for tier in TIERS}
    for tier in TIERS:
        env = env_of(find("Deployment", f"trademate-api-{tier}"))
        assert {key: env[key] for key in ttl} == ttl


# The API per tier


@pytest.mark.parametrize("tier", TIERS)
def test_api_tier_settings(tier):
    env = env_of(find("Deployment", f"trademate-api-{tier}"))
    assert env["TRADEMATE_TIER"] == tier
    assert env["TRADEMATE_DB_POOL_SIZE"] == SEED[tier]["pool"]
    assert env["TRADEMATE_DB_STATEMENT_TIMEOUT_MS"] == SEED[tier]["timeout"]
    assert env["DATABASE_URL"] == "secret:trademate-database/url"


def test_premium_timeouts_are_tighter_and_its_batches_larger():
    shared, premium = (env_of(find("Deployment", f"trademate-api-{tier}")) for tier in TIERS)
    assert int(premium["TRADEMATE_REQUEST_TIMEOUT_MS"]) < int(shared["TRADEMATE_REQUEST_TIMEOUT_MS"])
    assert (shared["TRADEMATE_BATCH_SIZE"], premium["TRADEMATE_BATCH_SIZE"]) == ("50", "100")
    assert (shared["TRADEMATE_MATVIEW_REFRESH_S"], premium["TRADEMATE_MATVIEW_REFRESH_S"]) == ("300", "60")


@pytest.mark.parametrize("tier", TIERS)
def test_api_redis_urls_point_at_each_tier_primary(tier):
    env = env_of(find("Deployment", f"trademate-api-{tier}"))
    for cache_tier in TIERS:
        url = urlsplit(env[f"REDIS_{cache_tier.upper()}_URL"])
        pod, service, namespace, *_ = url.hostname.split(".")
        assert (url.scheme, url.port, namespace) == ("redis", 6379, NAMESPACE)
        assert service == f"trademate-redis-{cache_tier}" and pod == f"{service}-0"
        assert find("Service", service)["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("tier", TIERS)
def test_api_command_and_credentials_volume(tier):
    template = find("Deployment", f"trademate-api-{tier}")["spec"]["template"]["spec"]
    (api,) = template["containers"]
    assert api["image"] == "trademate/api:latest"
    assert api["command"] == [
        "python", "-m", "trademate_api", "--host", "0.0.0.0", "--port", "8000",
        "--credentials", "/var/run/trademate/credentials.csv",
    ]  # fmt: skip
    mounts = {mount["mountPath"]: mount["name"] for mount in api["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in template["volumes"]}
    assert "emptyDir" in volumes[mounts["/var/run/trademate"]]
    assert api["readinessProbe"]["httpGet"]["path"] == "/health"


def test_premium_is_guaranteed_and_more_generous():
    (shared,), (premium,) = (containers(find("Deployment", f"trademate-api-{tier}")) for tier in TIERS)
    assert premium["resources"]["requests"] == premium["resources"]["limits"], "guaranteed QoS"
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert quantity(premium["resources"][kind][resource]) >= quantity(shared["resources"][kind][resource])
    assert quantity(premium["resources"]["limits"]["cpu"]) > quantity(shared["resources"]["limits"]["cpu"])


@pytest.mark.parametrize("tier", TIERS)
def test_autoscaler_and_disruption_budget(tier):
    name = f"trademate-api-{tier}"
    deployment = find("Deployment", name)
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the replica count"
    hpa = find("HorizontalPodAutoscaler", name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    budget = find("PodDisruptionBudget", name)
    assert selects(budget["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])


def test_premium_scales_earlier_and_keeps_more_pods():
    shared, premium = (find("HorizontalPodAutoscaler", f"trademate-api-{tier}")["spec"] for tier in TIERS)
    assert premium["minReplicas"] > shared["minReplicas"]
    target = [spec["metrics"][0]["resource"]["target"]["averageUtilization"] for spec in (shared, premium)]
    assert target[1] < target[0]


# Every workload


@pytest.mark.parametrize("workload", pod_templates(), ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}")
def test_workload_has_limits_probes_and_matching_selector(workload):
    spec = workload["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    for container in spec["template"]["spec"]["containers"]:
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][kind].keys(), f"{container['name']} {kind}"
        assert "readinessProbe" in container and "livenessProbe" in container, container["name"]


@pytest.mark.parametrize("service", of_kind("Service"), ids=lambda doc: doc["metadata"]["name"])
def test_service_selects_a_workload_by_its_named_port(service):
    matches = [
        doc
        for doc in pod_templates()
        if selects(service["spec"]["selector"], doc["spec"]["template"]["metadata"]["labels"])
    ]
    assert len(matches) == 1, f"{service['metadata']['name']} selects {len(matches)} workloads"
    ports = {port["name"] for container in containers(matches[0]) for port in container["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports


def test_every_referenced_configmap_exists():
    for workload in pod_templates():
        template = workload["spec"]["template"]["spec"]
        for volume in template.get("volumes", []):
            if "configMap" in volume:
                find("ConfigMap", volume["configMap"]["name"])
        for container in template["containers"]:
            for source in container.get("envFrom", []):
                find("ConfigMap", source["configMapRef"]["name"])
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in find("ConfigMap", ref["name"])["data"], ref
