"""A stand-in tier API for the nginx tests: answers every request with JSON naming its tier and what it saw.

Run as ``python stub_upstream.py TIER``: binds 127.0.0.1 on a free port, prints the port on one line, serves
HTTP/1.1 keep-alive until terminated. ``?size=N`` adds N quote records, enough for gzip to engage.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class TierHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the proxy can reuse its upstream connections
    tier = "unknown"

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        size = int(query.get("size", ["0"])[0])
        document = {
            "tier": self.tier,
            "path": self.path,
            "peer_port": self.client_address[1],
            "request_version": self.request_version,
            "connection": self.headers.get("Connection"),
            "x_user_tier": self.headers.get("X-User-Tier"),
            "quotes": [{"symbol": f"SYM{i:04d}", "bid": 100 + i / 100, "ask": 100.02 + i / 100} for i in range(size)],
        }
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Cache", "HIT")
        self.send_header("Server-Timing", "app;dur=0.42, db;dur=0.17")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def main(tier: str) -> None:
    handler = type("Handler", (TierHandler,), {"tier": tier})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
