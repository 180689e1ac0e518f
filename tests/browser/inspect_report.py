"""Open a run directory's index.html in a real Chromium and print what the browser saw, as JSON.

Run as its own process (``python tests/browser/inspect_report.py RUN_DIR``): the pytest process is
monkey-patched by gevent (locust), which breaks Playwright's sync API. The script serves RUN_DIR over
http on a free loopback port, loads the report at laptop and phone widths, collects console messages,
page errors, dialogs and failed requests, checks every <img>, saves a full-page screenshot of each width
into RUN_DIR, and prints one JSON object. It never downloads a browser: it drives CHROMIUM
(/usr/bin/chromium unless the environment names another).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"laptop": {"width": 1366, "height": 800}, "phone": {"width": 390, "height": 844}}
SCREENSHOTS = {"laptop": "screenshot.png", "phone": "screenshot-phone.png"}
PAGE_FACTS = """() => ({
  title: document.title,
  images: [...document.images].map(img => ({
    alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
    renderedWidth: img.getBoundingClientRect().width, src: img.src.slice(0, 30)})),
  scripts: document.querySelectorAll("script").length,
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
  text: document.body.innerText,
})"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the request log would interleave with the JSON
        pass


def serve(directory: Path) -> http.server.ThreadingHTTPServer:
    """An http server for ``directory`` on a free 127.0.0.1 port, answering from a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def inspect(run_dir: Path, expect_texts: list[str]) -> dict:
    """Everything the browser saw of ``run_dir/index.html``, at each viewport."""
    server = serve(run_dir)
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    result: dict = {"url": url, "console": [], "page_errors": [], "dialogs": [], "failed_requests": [], "views": {}}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                for name, viewport in VIEWPORTS.items():
                    result["views"][name] = _view(browser, url, name, viewport, run_dir, expect_texts, result)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return result


def _view(browser, url: str, name: str, viewport: dict, run_dir: Path, expect_texts: list[str], result: dict) -> dict:
    """Load the page at one viewport; record events into ``result``; the page's facts and screenshot path."""
    page = browser.new_page(viewport=viewport, device_scale_factor=1)
    page.on("console", lambda msg: result["console"].append({"view": name, "type": msg.type, "text": msg.text}))
    page.on("pageerror", lambda error: result["page_errors"].append({"view": name, "text": str(error)}))
    page.on("requestfailed", lambda request: result["failed_requests"].append({"view": name, "url": request.url}))

    def on_dialog(dialog) -> None:
        result["dialogs"].append({"view": name, "type": dialog.type, "message": dialog.message})
        dialog.dismiss()

    page.on("dialog", on_dialog)
    response = page.goto(url, wait_until="load")
    facts = page.evaluate(PAGE_FACTS)
    text = facts.pop("text")
    facts["status"] = response.status if response else None
    facts["texts"] = {expected: expected in text for expected in expect_texts}
    screenshot = run_dir / SCREENSHOTS[name]
    page.screenshot(path=str(screenshot), full_page=True)
    facts["screenshot"] = str(screenshot)
    page.close()
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--expect-text", action="append", default=[], help="text the page must show (repeatable)")
    args = parser.parse_args(argv)
    json.dump(inspect(args.run_dir.resolve(), args.expect_text), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
