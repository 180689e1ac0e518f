"""Offline checks of the Kubernetes manifests in deploy/: strict schema validation, one namespace, unique names, and
what every workload, Service and ConfigMap reference needs."""

from __future__ import annotations

import copy

import pytest
from kubernetes_validate import utils as kubernetes_validate

from tests.deploy.k8s_manifests import (
    ALL,
    CLUSTER_SCOPED,
    DOCUMENTS,
    MANIFESTS,
    NAMESPACE,
    VERSIONS,
    containers,
    find,
    of_kind,
    pod_templates,
    selects,
)

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
