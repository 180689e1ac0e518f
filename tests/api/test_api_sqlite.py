"""The embedded SQLite backend keeps its WAL checkpoints (a file sync, up to 185 ms on a virtual disk) off the
event loop: the loop's connection never checkpoints, and the store's own thread does, on its schedule."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from trademate_api import db, seed
from trademate_api.monitor import RequestRecord

SQLITE_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default: the commit that passes it checkpoints


def wal_frames(path: Path, page_size: int) -> int:
    """The frames the log file has held since it was last restarted, at most (its size; SQLite never shrinks it)."""
    wal = path.with_name(path.name + "-wal")
    return max(0, wal.stat().st_size - 32) // (page_size + 24)


async def orders(store: db.SqliteStore, count: int) -> None:
    for _ in range(count):
        await store.place_order(RequestRecord(), "elite-0001", "AAPL", "buy", 1, None)


def test_the_event_loop_never_checkpoints_the_stores_thread_does(tmp_path: Path):
    path = tmp_path / "store.sqlite3"
    db.create_and_seed(path, seed.generate(3, 11))
    store = db.SqliteStore(path)
    asyncio.run(store.open())
    try:
        page_size = store._conn.execute("PRAGMA page_size").fetchone()[0]
        before = path.stat().st_mtime_ns
        asyncio.run(
            orders(store, 3 * SQLITE_AUTOCHECKPOINT_PAGES)
        )  # a burst, far shorter than the checkpointer's period
        # Checkpoints on the loop would have restarted the log each time it passed 1000 frames (it would hold
        # 1002 at most); the burst wrote about 6800, and the checkpointer can have split them once at most.
        assert wal_frames(path, page_size) > 2 * SQLITE_AUTOCHECKPOINT_PAGES
        deadline = time.monotonic() + 5 * db.CHECKPOINT_S
        while path.stat().st_mtime_ns == before:  # only a checkpoint writes the database file itself
            assert time.monotonic() < deadline, "no checkpoint within five of the checkpointer's periods"
            time.sleep(0.1)
    finally:
        asyncio.run(store.close())
