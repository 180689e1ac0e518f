"""The API of each tier in the Kubernetes manifests: its settings and timeouts, its Redis URLs, its command and
credentials volume, its resources, its autoscaler and disruption budget."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.deploy.k8s_manifests import NAMESPACE, SEED, TIERS, containers, env_of, find, quantity, selects

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
