"""Open the Locust web UI's main page in a real Chromium during a run, read the SLA tab, and print what it showed.

Run as its own process (``python tests/browser/inspect_live_tab.py URL OUT_DIR``) while a test runs: the
pytest process is monkey-patched by gevent (locust), which breaks Playwright's sync API. The script opens
``URL`` (the main page ``/``), clicks the "SLA (live)" tab, reads its table once its figures show, waits until
they change, notes the colour each marked cell is painted, then waits for the run to end (``/trademate/live``
says ``stopped``), reloads the page and reads the tab again. It prints one JSON object: the readings (rows of
cell texts), the colours, console messages, page errors, and the screenshots saved into OUT_DIR. It never
downloads a browser: it drives CHROMIUM (/usr/bin/chromium unless the environment names another).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from inspect_report import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import Page, sync_playwright

TAB = "SLA (live)"
ROWS = "() => [...document.querySelectorAll('table tbody tr')].map(tr => [...tr.cells].map(td => td.innerText))"
MARKS = ("\N{CHECK MARK}", "\N{BALLOT X}")
COLOURS = """() => [...document.querySelectorAll('table tbody td')]
  .filter(td => /^[\u2713\u2717]/.test(td.innerText.trim()))
  .map(td => ({mark: td.innerText.trim().charAt(0), color: getComputedStyle(td).color}))"""


def read_tab(page: Page, timeout_s: float, differs_from: list | None = None, state: str = "running") -> list:
    """The tab's rows once its first row shows ``state`` and its figures are marked (and differ, if asked)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = page.evaluate(ROWS)
        marked = any(cell.startswith(MARKS) for row in rows for cell in row)
        if rows and rows[0][0] == state and marked and rows != differs_from:
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"the SLA tab did not show {state!r} figures in {timeout_s:.0f} s: {rows}")
        page.wait_for_timeout(250)


def wait_stopped(page: Page, base: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while page.request.get(f"{base}/trademate/live").json()["state"] != "stopped":
        if time.monotonic() > deadline:
            raise TimeoutError(f"the run did not end within {timeout_s:.0f} s")
        page.wait_for_timeout(500)


def inspect(base: str, out_dir: Path) -> dict:
    result: dict = {"console": [], "page_errors": [], "live": [], "final": None, "colours": [], "screenshots": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda msg: result["console"].append({"type": msg.type, "text": msg.text}))
            page.on("pageerror", lambda error: result["page_errors"].append(str(error)))
            page.goto(f"{base}/", wait_until="load")
            page.get_by_role("tab", name=TAB).click()
            first = read_tab(page, 40)
            result["live"] = [first, read_tab(page, 20, differs_from=first)]
            result["colours"] = page.evaluate(COLOURS)
            page.screenshot(path=str(out_dir / "live-tab.png"), full_page=True)
            wait_stopped(page, base, 60)
            page.reload(wait_until="load")  # the tab's own URL (?tab=...) opens it again
            result["final"] = read_tab(page, 20, state="stopped")
            page.screenshot(path=str(out_dir / "live-tab-final.png"), full_page=True)
            result["screenshots"] = [str(out_dir / "live-tab.png"), str(out_dir / "live-tab-final.png")]
        finally:
            browser.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the web UI's base URL, such as http://127.0.0.1:8089")
    parser.add_argument("out_dir", type=Path, help="where the screenshots go")
    args = parser.parse_args(argv)
    json.dump(inspect(args.url.rstrip("/"), args.out_dir), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
