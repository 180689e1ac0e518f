"""The profiling switch: run a block (the serving event loop) under cProfile and write its pstats file at the end.

    python -m trademate_api --credentials c.csv --profile-output api.pstats   # or TRADEMATE_API_PROFILE=api.pstats
    kill -TERM <pid>; python -m pstats api.pstats   # then: sort cumtime / stats 30

cProfile sees the thread that enables it, which runs the event loop and so every handler; expect the profiled API
to be about twice as slow.
"""

from __future__ import annotations

import cProfile
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


@contextmanager
def profiled(output: Path | None) -> Iterator[None]:
    """Profile the block when `output` is set, and write the stats there however it ends (a signal included)."""
    if output is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        write_stats(profiler, output)


def write_stats(profiler: cProfile.Profile, output: Path) -> None:
    """pstats format, replaced atomically so that a reader never sees half a file."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    profiler.dump_stats(partial)
    os.replace(partial, output)
    log.warning("profile of the API written to %s", output)
