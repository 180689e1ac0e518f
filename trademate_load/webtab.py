"""The live SLA tab on the Locust web UI's main page, and the web UI's ``/metrics`` and ``/trademate/live`` routes.

Locust's web UI embeds ``template_args["extended_tabs"]`` and ``["extended_tables"]`` in its main page ``/``;
the tab bar (and so this tab) shows once a test runs. An extended tab is a table whose rows come with each
``/stats/requests`` poll (every 2 s while a test runs, and once when the page loads), as
``extended_stats: [{"key": <tab key>, "data": [rows]}]``: an ``after_request`` hook adds the rows built from the
live board's latest snapshot (:func:`trademate_load.live.tab_rows`), so a poll computes nothing new.
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

from trademate_load.live import TAB_COLUMNS, TAB_KEY, LiveBoard, tab_rows

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
