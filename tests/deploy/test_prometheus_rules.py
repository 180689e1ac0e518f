"""deploy/prometheus/: promtool on the alerting rules, their unit tests and the scrape config; the rules' figures
against the SLA file and their metric names against the agreed ones.

promtool comes from Debian's `prometheus` package (`make test` installs it as root): without it the promtool tests
are skipped on a workstation and fail in CI.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from tests.deploy.monitoring import (
    AGREED,
    ALERTS,
    CONFIG,
    NAMESPACE,
    ROOT,
    RULES,
    RULES_TEST,
    SLA,
    alerts,
    load_yaml,
    metric_names,
    recorded,
    rules,
    run_promtool,
)

# The metric-name reader


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('rate(foo_total{a="b(c)", le=~"0.5"}[5m]) / on (tier) group_left bar', {"foo_total", "bar"}),
        ("histogram_quantile(0.95, sum by (tier, le) (rate(x_bucket[1m]))) > 0.1", {"x_bucket"}),
        ("sum(rate(a[5m] offset 1h30m)) without (job) and b unless c", {"a", "b", "c"}),
        ("max_over_time(a[1h:5m]) > 0.5 and 1e3 < b", {"a", "b"}),
        ("trademate:sla_p95_target_seconds * 2e-3 + vector(1)", {"trademate:sla_p95_target_seconds"}),
        ('{__name__="hidden"} + tier_bool', {"tier_bool"}),
    ],
)
def test_metric_names_reads_promql(expr, names):
    assert metric_names(expr) == names


# Alerting rules


def test_rules_pass_promtool_check(promtool):
    result = run_promtool(promtool, "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool):
    result = run_promtool(promtool, "test", "rules", RULES_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr


PREMIUM_TARGET = "expr: vector(0.05)\n        labels:\n          tier: premium"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (PREMIUM_TARGET, PREMIUM_TARGET.replace("0.05", "0.1")),
        ("> 0.01\n        for: 2m", "> 0.03\n        for: 2m"),
        ("< 0.9\n", "< 0.75\n"),
        ("for: 5m", "for: 12m"),
    ],
)
def test_rule_unit_tests_catch_a_changed_threshold(promtool, tmp_path, old, new):
    text = RULES.read_text(encoding="utf-8")
    assert old in text
    (tmp_path / RULES.name).write_text(text.replace(old, new, 1), encoding="utf-8")
    shutil.copy(RULES_TEST, tmp_path)
    result = run_promtool(promtool, "test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_the_four_alerts_each_with_for_severity_and_tier_annotations():
    assert {rule["alert"] for rule in alerts()} == ALERTS
    for rule in alerts():
        assert re.fullmatch(r"\d+m", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["labels"]["source"] in ("load-suite", "api")
        for annotation in ("summary", "description"):
            assert "{{ $labels.tier }}" in rule["annotations"][annotation], (rule["alert"], annotation)
    assert {rule["labels"]["severity"] for rule in alerts("TradeMateSLABreach")} == {"critical"}


def test_sla_breach_is_p95_over_the_suite_and_the_api_histograms():
    breaches = alerts("TradeMateSLABreach")
    sources = {}
    for rule in breaches:
        expr = " ".join(rule["expr"].split())
        assert expr.startswith("histogram_quantile(0.95, sum by (tier, le) (rate(")
        assert expr.endswith("> on (tier) trademate:sla_p95_target_seconds")
        (histogram,) = metric_names(expr) - {"trademate:sla_p95_target_seconds"}
        sources[rule["labels"]["source"]] = histogram
    assert sources == {
        "load-suite": "trademate_request_latency_seconds_bucket",
        "api": "trademate_api_latency_seconds_bucket",
    }


def test_tier_figures_are_the_sla_files():
    sla = load_yaml(SLA)["tiers"]
    assert recorded("trademate:sla_p95_target_seconds") == {tier: sla[tier]["p95_ms"] / 1000 for tier in sla}
    assert recorded("trademate:db_query_threshold_seconds") == {tier: sla[tier]["db_ms"] / 1000 for tier in sla}
    for rule in alerts("TradeMateHighErrorRate"):
        assert {sla[tier]["error_rate"] for tier in sla} == {float(rule["expr"].split(">")[-1])}
    (cache,) = alerts("TradeMateCacheHitRateLow")
    assert float(cache["expr"].split("<")[-1]) == 0.9, "the seed's alert level (the SLA itself asks for 95%)"


def test_rules_use_only_agreed_metric_names():
    recordings = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        unknown = metric_names(rule["expr"]) - AGREED - recordings
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {unknown}"


# Scrape configuration


def test_config_passes_promtool_check(promtool):
    result = run_promtool(promtool, "check", "config", CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def manifests() -> list[dict]:
    return [
        doc for path in sorted((ROOT / "deploy").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc
    ]


def test_scrape_targets_are_the_manifests_services():
    config = load_yaml(CONFIG)
    assert config["rule_files"] == [RULES.name]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == "Service"}
    # The load suite's master: its Service, on the web UI's port, where /metrics lives.
    ((target,),) = (group["targets"] for group in jobs["trademate-load"]["static_configs"])
    host, port = target.split(":")
    name, namespace, *_ = host.split(".")
    assert namespace == NAMESPACE and jobs["trademate-load"]["metrics_path"] == "/metrics"
    assert {p["name"]: p["port"] for p in services[name]["spec"]["ports"]}["web"] == int(port)
    # The API: each pod on its own, through headless Services selecting each tier's API pods.
    (discovery,) = jobs["trademate-api"]["dns_sd_configs"]
    deployments = {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == "Deployment"}
    for tier, dns in zip(("shared", "premium"), discovery["names"], strict=True):
        service = services[dns.split(".")[0]]
        assert service["spec"]["clusterIP"] == "None"
        pod = deployments[f"trademate-api-{tier}"]["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(discovery["port"])
