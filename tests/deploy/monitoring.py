"""deploy/prometheus/ and deploy/grafana/ as the monitoring tests read them: the files, the metric names agreed
across the suite and the API, a PromQL reader just good enough to find the metric names in an expression, and
promtool run on them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

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


def run_promtool(promtool: str, *args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)
