"""Security of the suite: the web UI listens on loopback only, and no token leaves the credentials file.

A short real headless run against the reference API, through the suite's command line, must leave no token of
the credentials file it used, and no ``Bearer `` header text, in any file of its run directory (the samples
decompressed through pandas included) nor in what it printed. Error texts the collector stores are scrubbed of
tokens, and a token that would split its header is refused at load without being shown.
"""

from __future__ import annotations

import csv
import http.client
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pandas as pd
import psutil
import pytest
import requests
from geventhttpclient import HTTPClient
from locust.env import Environment
from locust.exception import CatchResponseError

from tests.conftest import JUDGED, ROOT, run_suite, target
from trademate_load.collector import Collector
from trademate_load.config import ConfigError
from trademate_load.credentials import read_credentials
from trademate_load.errors import scrub_secrets
from trademate_load.frame import to_frame
from trademate_load.launcher import free_port

pytestmark = pytest.mark.integration
LOOPBACK = {"127.0.0.1", "::1"}


def tokens_of(credentials: Path) -> list[str]:
    with credentials.open(newline="") as handle:
        return [row["token"] for row in csv.DictReader(handle)]


def leaks(text: str, tokens: list[str]) -> list[str]:
    """What of ``tokens`` and ``Bearer `` occurs in ``text`` (tokens shown shortened)."""
    found = [f"token {token[:6]}..." for token in tokens if token in text]
    return found + (["'Bearer '"] if "bearer " in text.lower() else [])


# --- the web UI -------------------------------------------------------------------------------------------------


def _listening(root: psutil.Process) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of ``root`` and its descendants."""
    sockets = set()
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        sockets |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return sockets


def test_make_ui_listens_on_loopback_only(tmp_path):
    """What `make ui` runs (the launcher with --ui, starting the reference API): every listener is on loopback."""
    port = free_port()
    cmd = [sys.executable, "-m", "trademate_load", "run", "smoke", "--ui", "--web-port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--report-dir", str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the web UI did not come up"
            time.sleep(0.3)
        sockets = _listening(psutil.Process(proc.pid))
        assert ("127.0.0.1", port) in sockets, sockets
        assert {address for address, _ in sockets} <= LOOPBACK, sockets  # the UI and the reference API alike
    finally:
        proc.send_signal(signal.SIGTERM)  # the launcher passes it to Locust and stops the API it started
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


# --- a real run leaves no token anywhere ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def headless_run(api, tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("reports")
    proc = run_suite("run", "smoke", "--run-time", "10s", *target(api, report_dir), timeout=180)
    return proc, report_dir, tokens_of(api[1])


def test_the_run_measured_signed_in_traffic(headless_run):
    proc, report_dir, tokens = headless_run
    assert proc.returncode in JUDGED, proc.stdout[-2000:] + proc.stderr[-2000:]
    samples = pd.read_parquet(report_dir / "latest" / "samples.parquet")
    assert len(samples) > 100 and (samples["status"] == 200).mean() > 0.9  # 401s would mean no token was sent
    assert len(tokens) >= 4


def test_no_file_of_the_run_directory_holds_a_token(headless_run):
    _, report_dir, tokens = headless_run
    files = [path for path in report_dir.rglob("*") if path.is_file() and not path.is_symlink()]
    assert {path.name for path in files} >= {"index.html", "summary.json", "junit.xml", "samples.parquet", "run.json"}
    for path in files:
        assert not leaks(path.read_bytes().decode("latin-1"), tokens), path
    for path in (p for p in files if p.suffix == ".parquet"):
        frame = pd.read_parquet(path)
        text = frame.astype(str).to_csv() + " ".join(map(str, frame.columns))
        assert not leaks(text, tokens), path


def test_nothing_the_run_printed_holds_a_token(headless_run):
    proc, _, tokens = headless_run
    assert proc.stdout and not leaks(proc.stdout, tokens)
    assert not leaks(proc.stderr, tokens)


def test_the_search_finds_a_token_where_there_is_one(headless_run, api):
    """The control: the same search does find the tokens in the credentials file itself."""
    _, _, tokens = headless_run
    assert len(leaks(api[1].read_text(), tokens)) == len(tokens)


# --- error texts and bad tokens ---------------------------------------------------------------------------------


def _exceptions_carrying(token: str) -> list[BaseException]:
    """Real exceptions whose text carries ``token``: bad header values (two HTTP clients), a URL with the token."""
    raised = []
    try:  # geventhttpclient checks header values before it connects: nothing is sent
        HTTPClient("127.0.0.1", 9).request("GET", "/", headers={"Authorization": f"Bearer {token}\r\nX-A: 1"})
    except ValueError as exc:
        raised.append(exc)
    with closing(http.client.HTTPConnection("127.0.0.1", 9)) as conn:  # putrequest does not connect
        conn.putrequest("GET", "/")
        try:
            conn.putheader("Authorization", f"Bearer {token}\n")
        except ValueError as exc:
            raised.append(exc)
    raised.append(CatchResponseError(f"GET http://user:{token}@127.0.0.1/x?token={token}&a=1 failed"))
    raised.append(RuntimeError(f"headers were {{'Authorization': 'Basic {token}'}}"))
    assert len(raised) == 4
    return raised


def test_error_texts_stored_in_samples_carry_no_token():
    token = "tKn_" + "x9Y-" * 10
    environment = Environment()
    collector = Collector(worker="w")
    environment.events.request.add_listener(collector.on_request)
    exceptions = _exceptions_carrying(token)
    for exception in exceptions:
        assert token in str(exception)  # the raw text would leak it
        environment.events.request.fire(
            request_type="GET", name="GET /x", response_time=1.0, response_length=0, response=None,
            context={"tier": "shared", "plan": "LITE", "intended_ts": 1.0}, exception=exception, start_time=1.0,
        )  # fmt: skip
    frame = to_frame(collector.drain())
    assert frame["error"].notna().all() and len(frame) == len(exceptions)
    for error in frame["error"]:
        assert token not in error and token[:12] not in error and "[redacted]" in error, error


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("ConnectionRefusedError: [Errno 111] Connection refused",) * 2,
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ("http://u:p@h/a?api_key=1&n=2", "http://[redacted]@h/a?api_key=[redacted]&n=2"),
    ],
)  # fmt: skip
def test_scrubbing_keeps_what_carries_no_secret(text, scrubbed):
    assert scrub_secrets(text) == scrubbed


def test_a_token_that_would_split_its_header_is_refused_unshown(tmp_path, api):
    token = tokens_of(api[1])[0]
    bad = tmp_path / "credentials.csv"
    with bad.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["user_id", "plan", "tier", "token"], ["u1", "LITE", "shared", f"{token}\r\nX-A: 1"]]
        )
    with pytest.raises(ConfigError) as info:
        read_credentials(bad)
    assert info.value.field == "line 2" and token not in str(info.value)
    proc = run_suite("run", "smoke", "--run-time", "3s", "--host", api[0], "--credentials", str(bad),
                     "--report-dir", str(tmp_path / "reports"))  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not leaks(proc.stdout + proc.stderr, [token])
    assert f"{bad}: line 2: the token has" in proc.stdout + proc.stderr
