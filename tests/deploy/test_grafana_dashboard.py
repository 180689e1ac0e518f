"""deploy/grafana/: the dashboard's expressions checked for metric names and by promtool, and the names checked
against a real API.

promtool comes from Debian's `prometheus` package (`make test` installs it as root): without it the promtool tests
are skipped on a workstation and fail in CI.
"""

from __future__ import annotations

import csv
import json
import urllib.request
from pathlib import Path

import yaml

from tests.deploy.monitoring import (
    AGREED,
    DASHBOARD,
    concrete,
    dashboard_expressions,
    metric_names,
    panels,
    rules,
    run_promtool,
)

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
