"""The live SLA tab on the Locust web UI's main page, and the web UI's ``/metrics`` and ``/trademate/live`` routes.

Locust's web UI embeds ``template_args["extended_tabs"]`` and ``["extended_tables"]`` in its main page ``/``;
the tab bar (and so this tab) shows once a test runs. An extended tab is a table whose rows come with each
``/stats/requests`` poll (every 2 s while a test runs, and once when the page loads), as
``extended_stats: [{"key": <tab key>, "data": [rows]}]``: an ``after_request`` hook adds the rows built from the
live board's latest snapshot (:func:`tab_rows`: per tier each figure against its target over the rolling window
and the run so far, its uptime and the state of each check's early decision), so a poll computes nothing new.
Locust shows those rows as plain text: ``static/sla_tab.js``, added to the main page, colours each cell that
starts with a pass or fail mark green or red. ``/trademate/live`` answers the snapshot as JSON; ``/metrics``
the suite's Prometheus registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from trademate_load.formatting import NA, by_unit, fixed, percent
from trademate_load.live import LiveBoard
from trademate_load.live_scope import RPS_TOLERANCE
from trademate_load.validity import LAG_P99_MS, unhealthy

TAB_KEY = "trademate-sla"
TAB_COLUMNS = (
    ("tier", "Tier"),
    ("figure", "Figure"),
    ("target", "Target"),
    ("window", "Rolling window"),
    ("run", "Run so far (after warm-up)"),
)
PASS_MARK, FAIL_MARK = "\N{CHECK MARK}", "\N{BALLOT X}"  # the tab's script colours such cells green and red
_LABELS = {
    "rps": "req/s",
    "p95_ms": "p95",
    "p99_ms": "p99",
    "mean_ms": "mean",
    "success_rate": "success rate",
    "sla_compliance": "compliance",
    "error_budget": "error budget left",
}


def _fmt(value: float | None, name: str) -> str:
    """A check's figure in the unit its name implies; latencies to the microsecond."""
    return by_unit(value, "ms" if name.endswith("_ms") else "rps" if name == "rps" else "%", ms_decimals=3)


def _cell(figures: dict[str, Any], check: dict[str, Any]) -> str:
    name = check["name"]
    if name == "error_budget":
        left, budget = figures["error_budget_left_ratio"], figures["error_budget"]
        text = NA if left is None else f"{percent(left, 1)} ({budget['failures']} of {budget['allowed']:.2f} used)"
    else:
        text = _fmt(check["actual"], name)
    mark = {True: PASS_MARK, False: FAIL_MARK}.get(check["passed"], "")
    return f"{mark} {text}".strip()


def _target(tier: dict[str, Any], check: dict[str, Any]) -> str:
    name = check["name"]
    if name == "rps":
        return f">= {check['limit']:.1f} ({RPS_TOLERANCE:.0%} of {tier['target_rps']:g})"
    if name == "error_budget":
        return "> 0% left"
    return f"{check['op']} {_fmt(check['limit'], name)}"


def tab_rows(snapshot: dict[str, Any]) -> list[dict[str, str]]:
    """The SLA tab's rows: per tier one row per check, both scopes side by side, each cell marked green or red."""
    if snapshot.get("state", "idle") == "idle":
        return [{"tier": "", "figure": "waiting for a test to start", "target": "", "window": "", "run": ""}]
    rows = [
        {
            "tier": snapshot["state"],
            "figure": f"profile {snapshot['profile']}, latency {snapshot['latency_basis']}",
            "target": "",
            "window": f"last {snapshot['window_s']:g} s",
            "run": f"{snapshot['measured_s']:.1f} s measured",
        }
    ]
    aborted, decided = snapshot.get("aborted"), snapshot.get("decided")
    if aborted:
        rows.append(
            {
                "tier": aborted["tier"],
                "figure": f"{FAIL_MARK} ABORTED by {aborted['by']}.{aborted['check']}",
                "target": f"at {aborted['at_s']:.1f} s",
                "window": aborted["reason"],
                "run": "",
            }
        )
    if decided:
        rows.append(
            {
                "tier": "",
                "figure": f"{PASS_MARK} ENDED EARLY by {decided['by']}",
                "target": f"at {decided['at_s']:.1f} s",
                "window": decided["reason"],
                "run": "",
            }
        )
    rows += _generator_rows(snapshot.get("generator") or {})
    for tier, figures in snapshot["tiers"].items():
        window = {c["name"]: c for c in figures["window"]["checks"]}
        run = {c["name"]: c for c in figures["run"]["checks"]}
        rows.append(
            {
                "tier": tier,
                "figure": "requests (failed)",
                "target": "",
                "window": f"{figures['window']['requests']} ({figures['window']['failures']})",
                "run": f"{figures['run']['requests']} ({figures['run']['failures']})",
            }
        )
        for name, label in _LABELS.items():
            check = window.get(name) or run.get(name)
            if check is None:
                continue
            rows.append(
                {
                    "tier": tier,
                    "figure": label,
                    "target": _target(figures, check),
                    "window": _cell(figures["window"], window[name]) if name in window else NA,
                    "run": _cell(figures["run"], run[name]) if name in run else NA,
                }
            )
        rows += _uptime_rows(tier, figures.get("uptime"), figures.get("decisions") or [], snapshot)
    return rows


def _generator_rows(generator: dict[str, dict]) -> list[dict]:
    """A row per load-generator process: its last second's loop lag, CPU and the machine's CPU pressure, marked
    red when that second was unhealthy (docs/verdict.md, "Validity")."""
    rows = []
    for process, second in sorted(generator.items()):
        lag, cpu, pressure = second.get("lag_p99_ms"), second.get("cpu"), second.get("pressure")
        text = f"loop lag p99 {fixed(lag, 1, ' ms')}, CPU {percent(cpu or 0, 0)}"
        text += "" if pressure is None else f", CPU pressure {pressure * 100:.0f}%"
        rows.append(
            {
                "tier": process,
                "figure": "load generator (last second)",
                "target": f"lag p99 <= {LAG_P99_MS:g} ms",
                "window": f"{FAIL_MARK if unhealthy(second) else PASS_MARK} {text}",
                "run": "",
            }
        )
    return rows


def _decision(state: dict) -> str:
    """``p95_ms passed``, ``p95_ms [GET /api/v1/portfolio] open``."""
    scope = f" [{state['endpoint']}]" if state["endpoint"] else ""
    return f"{state['check']}{scope} {state['state'].replace('_', ' ')}"


def _uptime_rows(tier: str, uptime: dict[str, Any] | None, decisions: list[dict], snapshot: dict) -> list[dict]:
    """A tier's uptime (its last judged window, and the run so far) and the state of each check's early decision."""
    rows = []
    if uptime is not None:
        required = uptime["required"]
        ratio = uptime["ratio"]
        down = "; ".join(f"{d['start_s']:.1f}-{d['end_s']:.1f} s: {d['cause']}" for d in uptime["down"])
        run = NA if ratio is None else f"{percent(ratio)} of {uptime['judged_s']:g} s"
        if ratio is not None and required is not None:
            run = f"{PASS_MARK if ratio >= required else FAIL_MARK} {run}"
        last = uptime["timeline"][-1:] or "-"
        window = {"U": f"{PASS_MARK} up", "D": f"{FAIL_MARK} down"}.get(last, "not judged") + " (last judged window)"
        rows.append(
            {
                "tier": tier,
                "figure": f"uptime ({uptime['window_s']:g} s windows)",
                "target": "" if required is None else f">= {percent(required)}",
                "window": window,
                "run": run + (f"; down {down}" if down else ""),
            }
        )
    if decisions:
        states = ", ".join(_decision(d) for d in decisions)
        rows.append(
            {
                "tier": tier,
                "figure": f"early decisions (alpha {snapshot.get('decision_alpha', 0):g})",
                "target": "",
                "window": "",
                "run": states,
            }
        )
    return rows


TAB_TITLE = "SLA (live)"
SCRIPT = Path(__file__).resolve().parent / "static" / "sla_tab.js"
SCRIPT_ROUTE = "/trademate/sla_tab.js"


def install(web_ui: Any, board: LiveBoard, registry: CollectorRegistry) -> None:
    """Add the SLA tab to ``web_ui``'s main page and the JSON and metrics routes to its Flask app."""
    web_ui.template_args["extended_tabs"] = [{"title": TAB_TITLE, "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in TAB_COLUMNS]}
    ]
    app = web_ui.app

    @app.route("/metrics")
    def trademate_metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.route(SCRIPT_ROUTE)
    def trademate_tab_script() -> Response:
        return Response(SCRIPT.read_text(encoding="utf-8"), mimetype="text/javascript")

    @app.route("/trademate/live")
    def trademate_live() -> Response:
        return jsonify(board.snapshot)

    @app.after_request
    def add_sla_rows(response: Response) -> Response:
        if request.path.endswith("/stats/requests") and response.status_code == 200 and response.is_json:
            data = response.get_json()
            data["extended_stats"] = [{"key": TAB_KEY, "data": tab_rows(board.snapshot)}]
            response.set_data(json.dumps(data))
        elif request.endpoint == "locust.index" and response.status_code == 200 and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</body>", f'<script src="{SCRIPT_ROUTE}"></script>\n</body>', 1))
        return response
