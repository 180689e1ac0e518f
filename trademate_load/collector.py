"""The ``events.request`` listener: turns each Locust request into one sample row, appended and nothing more.

The handler reads the keyword arguments Locust fires (``start_time``, ``response_time``, ``context``
with tier, plan and intended start, the response's ``Server-Timing`` and ``X-Cache`` headers) and appends
plain values to a :class:`~trademate_load.samples.SampleBuffer`. No I/O, no pandas, no locks: the buffer
is handed over with ``drain()`` (a swap), as locust-plugins' timescale listener does.
"""

from __future__ import annotations

from trademate_load.samples import SampleBuffer, cache_code, server_timing_db_ms

MAX_ERROR_CHARS = 300


def describe_error(exception: BaseException | None) -> str | None:
    """A short, single-line description of why a request failed."""
    if exception is None:
        return None
    text = f"{type(exception).__name__}: {exception}".replace("\n", " ")
    return text[:MAX_ERROR_CHARS]


class Collector:
    """Owns the sample buffer of one Locust process; ``on_request`` is registered on ``events.request``."""

    def __init__(self, worker: str = "local"):
        self.worker = worker
        self.buffer = SampleBuffer()

    def on_request(
        self,
        *,
        name: str,
        response_time: float,
        response_length: int = 0,
        response=None,
        context: dict | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_kwargs,
    ) -> None:
        ctx = context or {}
        headers = getattr(response, "headers", None)
        self.buffer.append(
            start_time,
            ctx.get("intended_ts", start_time),
            ctx.get("tier", "none"),
            ctx.get("plan", ""),
            name,
            getattr(response, "status_code", 0) or 0,
            exception is None,
            response_time,
            response_length or 0,
            describe_error(exception),
            server_timing_db_ms(headers.get("Server-Timing")) if headers else float("nan"),
            cache_code(headers.get("X-Cache")) if headers else -1,
            self.worker,
        )

    def drain(self) -> SampleBuffer:
        """Everything collected so far; collection goes on into a fresh buffer."""
        return self.buffer.swap()
