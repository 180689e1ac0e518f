"""What the machine did besides a test's own processes while a block ran: the CPU others kept from it.

A latency figure measured while the machine was busy elsewhere or frozen (a noisy neighbour, a throttled or
stolen CPU) measures the machine, not the target. A test whose claim holds only for a healthy target and a
generator with CPU to spare uses this to tell such a run from a bug, and to run again rather than pass it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from gevent.monkey import get_original

PRESSURE = Path("/proc/pressure/cpu")
FREEZE_MS = 20.0  # a native thread's 2 ms sleep this late means every process on the machine stood still
BUSY_SHARE = 0.05  # of the wall time: runnable tasks waited for a CPU (quiet here: 0.4%; one `yes` beside: 6%)
STOLEN_SHARE = 0.01  # of the CPUs' time, taken by the hypervisor
T = TypeVar("T")


@dataclass
class Watch:
    """The block's wall time and, over it, CPU wait (PSI "some"), stolen CPU time and freezes, in seconds."""

    wall_s: float = 0.0
    waited_s: float = 0.0
    stolen_s: float = 0.0
    freezes_ms: list[float] = field(default_factory=list)

    def noisy(self) -> bool:
        cpus = os.cpu_count() or 1
        return bool(
            self.freezes_ms
            or self.waited_s > BUSY_SHARE * self.wall_s
            or self.stolen_s > STOLEN_SHARE * self.wall_s * cpus
        )

    def __str__(self) -> str:
        freezes = ", ".join(f"{ms:g}" for ms in self.freezes_ms[:5]) or "none"
        return (
            f"over {self.wall_s:.1f} s: tasks waited for a CPU {self.waited_s:.2f} s, "
            f"{self.stolen_s:.2f} s stolen, freezes (ms) {freezes}"
        )


def _waited_s() -> float:
    """Seconds, since boot, during which some runnable task waited for a CPU (0 without PSI)."""
    try:
        some = PRESSURE.read_text().splitlines()[0]
    except OSError:
        return 0.0
    return int(some.rsplit("total=", 1)[1]) / 1e6


def _stolen_s() -> float:
    """CPU seconds, since boot, the hypervisor took from this machine (all CPUs)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def watch() -> Iterator[Watch]:
    """Yield a `Watch` that is filled in when the block ends."""
    start_thread, sleep = get_original("_thread", "start_new_thread"), get_original("time", "sleep")
    result, running = Watch(), [True]

    def look_for_freezes() -> None:  # a native thread: gevent's hub may be the one standing still
        while running[0]:
            before = time.perf_counter()
            sleep(0.002)
            late_ms = (time.perf_counter() - before) * 1000 - 2.0
            if late_ms > FREEZE_MS:
                result.freezes_ms.append(round(late_ms, 1))

    start_thread(look_for_freezes, ())
    started, waited, stolen = time.perf_counter(), _waited_s(), _stolen_s()
    try:
        yield result
    finally:
        running[0] = False
        result.wall_s = time.perf_counter() - started
        result.waited_s, result.stolen_s = _waited_s() - waited, _stolen_s() - stolen


def on_a_quiet_machine(run: Callable[[int], T], check: Callable[[T], None], attempts: int = 3) -> None:
    """``check(run(attempt))`` until it passes: a failure on a quiet machine fails at once, one while the machine was
    noisy runs again (printed with its figures), up to ``attempts`` runs; if every run was noisy, the test skips."""
    for attempt in range(1, attempts + 1):
        with watch() as seen:
            result = run(attempt)
        try:
            check(result)
            return
        except AssertionError as failure:
            if not seen.noisy():
                raise
            noise = f"attempt {attempt} failed on a noisy machine ({seen}): {failure}"
            print(noise)
    pytest.skip(f"the machine was noisy in each of {attempts} runs; the last: {noise}"[:2000])
