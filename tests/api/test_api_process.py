"""The API as a process: its command line, credentials file, clean shutdown on signals, and hashed tokens."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLANS = {"LITE": "shared", "PRO": "shared", "ELITE": "premium", "BLACK": "premium"}


def test_credentials_file_lists_every_seeded_user_with_its_tier(api_proc):
    header = api_proc.credentials_path.read_text().splitlines()[0]
    assert header == "user_id,plan,tier,token"
    assert {row["plan"] for row in api_proc.credentials} == set(PLANS)
    assert all(row["tier"] == PLANS[row["plan"]] for row in api_proc.credentials)
    assert len(api_proc.credentials) == 4 * 5  # --users-per-plan 5
    assert len({row["user_id"] for row in api_proc.credentials}) == len(api_proc.credentials)
    assert all(len(row["token"]) >= 40 for row in api_proc.credentials)
    assert api_proc.credentials_path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_and_removes_the_temporary_database(launch, tmp_path: Path, sig):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    running = launch(env={"TMPDIR": str(tmpdir)})
    assert running.client().get("/health").status_code == 200
    assert [p.name for p in tmpdir.iterdir() if p.name.endswith(".sqlite3")], "no temporary database while running"
    assert running.stop(sig) == 0
    assert list(tmpdir.iterdir()) == []


def test_tokens_are_stored_only_as_sha256_hashes(launch, tmp_path: Path):
    db_path = tmp_path / "api_proc.sqlite3"
    running = launch("--db", str(db_path))
    tokens = [row["token"] for row in running.credentials]
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        stored = dict(conn.execute("SELECT user_id, token_hash FROM users"))
    assert set(stored) == {row["user_id"] for row in running.credentials}
    assert all(len(value) == 64 and int(value, 16) >= 0 for value in stored.values())
    assert not set(stored.values()) & set(tokens)
    assert running.stop() == 0
    assert db_path.exists(), "an explicit --db file is kept"
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("api_proc.sqlite3*"))
    assert not any(token.encode() in raw for token in tokens)


def test_taken_port_fails_with_exit_1_before_seeding(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        credentials = tmp_path / "credentials.csv"
        command = [sys.executable, "-m", "trademate_api", "--port", str(port), "--credentials", str(credentials)]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "in use" in result.stderr
    assert not credentials.exists()
