"""The Kubernetes manifests in deploy/ as the manifest tests read them: MANIFESTS (every one validated strictly by
test_manifests.py), the seed's figures per tier, quantities, and lookups by kind and name."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

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
