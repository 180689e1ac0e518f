"""deploy/prometheus/ and deploy/grafana/: promtool on the rules, their unit tests and the scrape config; the
dashboard's expressions checked for metric names and by promtool; the names checked against a real API.

promtool comes from Debian's `prometheus` package (.ci/run installs it): without it the promtool tests are
skipped on a workstation and fail in CI.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.services import require

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "trademate-alerts.yml"
RULES_TEST = PROMETHEUS / "trademate-alerts.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "trademate-sla.json"
SLA = ROOT / "profiles" / "sla.yaml"
NAMESPACE = "trademate"

# The metric names agreed across the suite and the API (histograms and counters as Prometheus exposes them).
_HISTOGRAMS = ("trademate_request_latency_seconds", "trademate_api_latency_seconds", "trademate_api_db_seconds")
AGREED = {
    "trademate_sla_compliance_ratio",
    "trademate_latency_p95_seconds",
    "trademate_latency_p99_seconds",
    "trademate_sla_p95_target_seconds",
    "trademate_error_budget_remaining_ratio",
    "trademate_requests_total",
    "trademate_request_failures_total",
    "trademate_api_requests_total",
    "trademate_api_cache_hits_total",
    "trademate_api_cache_misses_total",
    "trademate_api_cache_errors_total",
    *(f"{name}{suffix}" for name in _HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")),
}
ALERTS = {"TradeMateSLABreach", "TradeMateHighErrorRate", "TradeMateCacheHitRateLow", "TradeMateDatabaseSlow"}
# Grafana's variables, replaced by values promtool can parse.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$tier": "premium"}

# PromQL, just enough to find the metric names in an expression.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_CLAUSES = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NUMBER = re.compile(r"(?<![\w:.])(?:(?:\d+(?:ms|[smhdwy]))+|\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w:])")  # durations too
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan", "atan2"}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions, keywords or labels."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _CLAUSES.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        after = text[match.end() :].lstrip()
        if match.group().lower() not in _KEYWORDS and not after.startswith("("):
            names.add(match.group())
    return names


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerts(name: str | None = None) -> list[dict]:
    return [rule for rule in rules() if "alert" in rule and name in (None, rule["alert"])]


def recorded(name: str) -> dict[str, float]:
    """{tier: value} of the constant per-tier series the rules record under ``name``."""
    found = {}
    for rule in rules():
        if rule.get("record") == name:
            value = re.fullmatch(r"vector\(([\d.]+)\)", rule["expr"].strip())
            assert value, f"{name}: expected vector(<number>), got {rule['expr']}"
            found[rule["labels"]["tier"]] = float(value.group(1))
    return found


def panels(dashboard: dict) -> list[dict]:
    """Every panel, rows' collapsed panels included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel id and refId, expression) of every Prometheus query of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (f"panel_{panel['id']}_{target['refId']}", target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def concrete(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced by values PromQL accepts."""
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"an unknown Grafana variable in {expr}"
    return expr


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool binary; absent, the test is skipped on a workstation and fails in CI."""
    found = shutil.which("promtool")
    require(found, "promtool is not installed", "`make test` as root installs it (apt-get install prometheus)")
    return found


def run_promtool(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


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


# The Grafana dashboard


def test_dashboard_is_a_grafana_dashboard_with_a_prometheus_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "trademate-sla" and dashboard["schemaVersion"] >= 36
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys() and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"] and target["expr"].strip()


def test_dashboard_shows_what_the_sla_needs():
    used = set().union(*(metric_names(expr) for _, expr in dashboard_expressions()))
    needed = {
        "trademate_latency_p95_seconds", "trademate_latency_p99_seconds", "trademate_sla_p95_target_seconds",
        "trademate_sla_compliance_ratio", "trademate_error_budget_remaining_ratio", "trademate_requests_total",
        "trademate_api_cache_hits_total", "trademate_api_cache_misses_total",
    }  # fmt: skip
    assert needed <= used


def test_dashboard_uses_only_agreed_metric_names():
    for ref, expr in dashboard_expressions():
        unknown = metric_names(concrete(expr)) - AGREED
        assert not unknown, f"{ref}: {unknown}"


def write_expressions_as_rules(path: Path, expressions: list[tuple[str, str]]) -> None:
    group = {"name": "dashboard", "rules": [{"record": f"dashboard:{ref}", "expr": expr} for ref, expr in expressions]}
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False), encoding="utf-8")


def test_dashboard_expressions_pass_promtool(promtool, tmp_path):
    expressions = [(ref, concrete(expr)) for ref, expr in dashboard_expressions()]
    write_expressions_as_rules(tmp_path / "dashboard.yml", expressions)
    result = run_promtool(promtool, "check", "rules", "dashboard.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(expressions)} rules found" in result.stdout


def test_promtool_rejects_a_broken_expression_the_same_way(promtool, tmp_path):
    write_expressions_as_rules(
        tmp_path / "broken.yml", [("broken", "sum by (tier) (rate(trademate_requests_total[1m])")]
    )
    result = run_promtool(promtool, "check", "rules", "broken.yml", cwd=tmp_path)
    assert result.returncode != 0


# The names against a real API


def scrape_names(url: str) -> set[str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_api_names_exist_in_the_reference_apis_metrics(api):
    """Every trademate_api_* name the rules and the dashboard read is one the real API exposes."""
    url, credentials = api
    with credentials.open(newline="") as handle:
        account = next(row for row in csv.DictReader(handle) if row["tier"] == "premium")
    for path in ("/api/v1/portfolio", "/api/v1/orders", "/api/v1/market/quotes/AAPL"):
        request = urllib.request.Request(
            url + path, headers={"Authorization": f"Bearer {account['token']}", "X-User-Tier": "premium"}
        )
        urllib.request.urlopen(request, timeout=10).close()
    exposed = scrape_names(url + "/metrics")
    used = set().union(
        *(metric_names(rule["expr"]) for rule in rules()),
        *(metric_names(concrete(expr)) for _, expr in dashboard_expressions()),
    )
    api_names = {name for name in used if name.startswith("trademate_api_")}
    assert api_names and api_names <= exposed, sorted(api_names - exposed)
