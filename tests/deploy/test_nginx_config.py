"""deploy/nginx/trademate.conf read offline (tier routing, keep-alive, timeouts, gzip, the access log, /metrics
kept inside, the figures against the performance ConfigMap) and checked by `nginx -t`."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.nginx_conf import (
    HTTP,
    NGINX_CONF,
    PERFORMANCE,
    PLACEHOLDERS,
    SERVER,
    TIER_LOCATIONS,
    TIMEOUTS,
    seconds,
)

# Static checks: no nginx needed.


def test_tier_routing_map_and_upstreams():
    routing = HTTP.find("map", "$http_x_user_tier", "$tier_upstream")
    assert {d.name: d.args for d in routing.block} == {
        "default": ["trademate_shared"],
        "~*^premium$": ["trademate_premium"],
    }
    for tier, placeholder in PLACEHOLDERS.items():
        upstream = HTTP.find("upstream", f"trademate_{tier}")
        assert [d.args[0] for d in upstream.all("server")] == [placeholder]
        assert int(upstream.value("keepalive")) > 0
        assert TIER_LOCATIONS[tier].value("proxy_pass") == f"http://trademate_{tier}"


def test_upstream_keep_alive_headers_are_inherited_everywhere():
    assert HTTP.value("proxy_http_version") == "1.1"
    assert HTTP.find("proxy_set_header", "Connection").args == ["Connection", ""]
    # A location that sets any proxy_set_header would drop every inherited one, Connection "" included.
    for location in SERVER.all("location"):
        assert not location.all("proxy_set_header"), location.args


def test_premium_proxy_timeouts_are_tighter():
    for timeout in TIMEOUTS:
        shared, premium = (seconds(TIER_LOCATIONS[tier].value(timeout)) for tier in ("shared", "premium"))
        assert premium < shared, timeout


def test_gzip_and_access_log():
    assert HTTP.value("gzip") == "on"
    assert "application/json" in HTTP.find("gzip_types").args
    log_format = "".join(HTTP.find("log_format", "trademate").args[1:])
    assert "$upstream_response_time" in log_format and "$tier_upstream" in log_format
    assert HTTP.find("access_log").args[:2] == ["/dev/stdout", "trademate"]


def test_metrics_are_not_exposed():
    assert SERVER.find("location", "=", "/metrics").find("deny", "all")


def test_figures_match_the_performance_configmap():
    settings = next(
        doc["data"]
        for doc in yaml.safe_load_all(PERFORMANCE.read_text(encoding="utf-8"))
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "trademate-performance"
    )
    in_conf = {
        "nginx.client_keepalive_timeout": HTTP.value("keepalive_timeout"),
        "nginx.client_keepalive_requests": HTTP.value("keepalive_requests"),
        "nginx.gzip_min_length": HTTP.value("gzip_min_length"),
    }
    for tier, location in TIER_LOCATIONS.items():
        upstream = HTTP.find("upstream", f"trademate_{tier}")
        assert upstream.value("keepalive") == settings["nginx.upstream_keepalive"]
        assert upstream.value("keepalive_timeout") == settings["nginx.upstream_keepalive_timeout"]
        in_conf |= {f"nginx.{tier}.{timeout}": location.value(timeout) for timeout in TIMEOUTS}
    nginx_settings = {key: value for key, value in settings.items() if key.startswith("nginx.")}
    assert nginx_settings.keys() - {"nginx.upstream_keepalive", "nginx.upstream_keepalive_timeout"} == in_conf.keys()
    assert {key: nginx_settings[key] for key in in_conf} == in_conf
    # The proxy gives up only after the API's own request timeout has had its chance to answer.
    for tier, location in TIER_LOCATIONS.items():
        assert seconds(location.value("proxy_read_timeout")) * 1000 > int(settings[f"{tier}.request_timeout_ms"])


# With a real nginx.


def test_config_passes_nginx_t(nginx, tmp_path):
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(NGINX_CONF), "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[alert]" not in result.stderr, result.stderr
