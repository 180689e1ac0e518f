"""The Redis of each tier in the Kubernetes manifests: eviction policy, no persistence, replicas and memory, maxmemory
at 80% of the limit, the StatefulSet's wiring, and the cache TTLs the API deployments get."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from tests.deploy.k8s_manifests import (
    _REDIS_FACTORS,
    NAMESPACE,
    SEED,
    TIERS,
    containers,
    env_of,
    find,
    quantity,
    redis_conf,
    selects,
)

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
