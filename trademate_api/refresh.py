"""Refresh each tier's materialized views (SQLite: summary tables) in the background, on the tier's own period."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from time import monotonic

from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger(__name__)


class ViewRefresher:
    """One task that calls `store.refresh(tier)` every `periods[tier]` seconds, the first time one period after start.

    Refreshes run one at a time, in the order they fall due; a failed one is logged and counted, and the schedule
    goes on. Each success sets trademate_api_view_refreshed_timestamp_seconds{tier}; trademate_api_view_refreshes
    _total{tier,outcome} counts them.
    """

    def __init__(
        self, store, periods: Mapping[str, float], registry: CollectorRegistry, clock: Callable[[], float] = monotonic
    ) -> None:
        self.store = store
        self.periods = dict(periods)
        self._clock = clock
        self._task: asyncio.Task | None = None
        self._refreshed = Gauge(
            "trademate_api_view_refreshed_timestamp_seconds", "When the tier's views were last refreshed (Unix time)",
            ["tier"], registry=registry,
        )  # fmt: skip
        self._refreshes = Counter(
            "trademate_api_view_refreshes", "View refreshes by tier and outcome (ok, error)", ["tier", "outcome"],
            registry=registry,
        )  # fmt: skip

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="view-refresher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        due = {tier: self._clock() + period for tier, period in self.periods.items()}
        while True:
            tier = min(due, key=due.__getitem__)
            await asyncio.sleep(max(0.0, due[tier] - self._clock()))
            await self.refresh(tier)
            due[tier] = next_due(due[tier], self.periods[tier], self._clock())

    async def refresh(self, tier: str) -> bool:
        """Refresh one tier now; False (logged and counted) if the store failed."""
        try:
            await self.store.refresh(tier)
        except Exception:
            log.exception("refreshing the %s tier's views failed", tier)
            self._refreshes.labels(tier, "error").inc()
            return False
        self._refreshed.labels(tier).set_to_current_time()
        self._refreshes.labels(tier, "ok").inc()
        return True


def next_due(previous: float, period: float, now: float) -> float:
    """The next slot on the fixed grid `previous + k * period` after `now`: a late refresh never causes a burst."""
    slot = previous + period
    if slot <= now:
        slot += ((now - slot) // period + 1) * period
    return slot
