"""Run the API as a process: seed the database, write the credentials file, bind the socket and serve with uvicorn."""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import signal
import socket
import tempfile
from dataclasses import replace
from pathlib import Path

import uvicorn

from . import db, pg, seed
from .app import create_app
from .profiling import profiled
from .settings import Settings

log = logging.getLogger(__name__)


class _StopOnSignal:
    """SIGTERM/SIGINT handler: abort start-up with exit 0, or ask a running server to shut down gracefully.

    uvicorn installs its own handlers while serving and re-raises the captured signal afterwards; it then
    lands here and only sets `should_exit` again, so the process ends with status 0.
    """

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None

    def __call__(self, signum, frame) -> None:
        if self.server is None:
            raise SystemExit(0)
        self.server.should_exit = True


def write_credentials(path: Path, credentials: list[seed.Credential]) -> None:
    """CSV `user_id,plan,tier,token`, readable by its owner only, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("user_id", "plan", "tier", "token"))
        writer.writerows((c.user_id, c.plan, c.tier, c.token) for c in credentials)
    os.replace(partial, path)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def serve(settings: Settings, temporary_db: bool) -> int:
    """Seed, announce and serve until a signal; a temporary database is removed on the way out."""
    stop = _StopOnSignal()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    sock = None
    try:
        sock = bind_socket(settings.host, settings.port)  # first: a taken port fails before any seeding
        host, port = sock.getsockname()[:2]
        data = seed.generate(settings.users_per_plan, settings.seed)
        if settings.database_url:
            pg.create_and_seed(settings.database_url, data)
        else:
            db.create_and_seed(settings.db_path, data)
        write_credentials(settings.credentials, data.credentials)
        del data
        config = uvicorn.Config(
            create_app(replace(settings, port=port)), host=host, port=port, loop="uvloop", http="httptools",
            ws="none", lifespan="on", access_log=False, log_level=settings.log_level, server_header=False,
        )  # fmt: skip
        stop.server = uvicorn.Server(config)
        url_host = f"[{host}]" if ":" in host else host
        print(f"TradeMate API listening on http://{url_host}:{port}", flush=True)
        with profiled(settings.profile_output):
            stop.server.run(sockets=[sock])
        return 0
    finally:
        if sock is not None:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if temporary_db:
            _remove_database(settings.db_path)


def temporary_database() -> Path:
    fd, name = tempfile.mkstemp(prefix="trademate-api-", suffix=".sqlite3")
    os.close(fd)
    return Path(name)
