"""Sample collection in one Locust process: the ``events.request`` listener, and the spiller that empties it.

The listener turns each request into one sample row, appended and nothing more. It reads the keyword
arguments Locust fires (``start_time``, ``response_time``, ``context`` with tier, plan and intended start,
the response's ``Server-Timing`` and ``X-Cache`` headers), takes the service time up to the kernel's receipt
of the response where the connection noted it (:func:`trademate_load.connections.service_ms`), codes the
values (see :mod:`trademate_load.record`: strings become small integer codes) and appends them to the
columns of a :class:`~trademate_load.record.SampleBuffer`. No I/O, no pandas, no locks, no per-request
objects the garbage collector tracks: the buffer is handed over with ``drain()`` (a swap), as locust-plugins'
timescale listener does, then shipped to the master (on a worker) or spilled by :class:`Spiller` to Parquet.
In a Locust process that sends requests, the listener also stands in for Locust's own statistics listener: it
appends Locust's response time to the rows :mod:`trademate_load.locust_stats` adds to Locust's table in batches.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import gevent
from gevent.event import Event
from geventhttpclient.header import Headers

from trademate_load.connections import service_ms
from trademate_load.errors import describe_error
from trademate_load.record import MAX_CODE, OK_FLAG, SampleBuffer, cache_flags, server_timing_db_ms

if TYPE_CHECKING:
    from trademate_load.locust_stats import PendingRows  # imports locust, which the probe does not load

SPILL_INTERVAL_S = 5.0  # a row group at least this often...
SPILL_ROWS = 20_000  # ...or as soon as the buffer holds this many samples
SPILL_CHECK_S = 0.5
logger = logging.getLogger(__name__)
_dict_get = dict.get


def header_value(headers, name: str) -> str | None:
    """Response header ``name`` (lower case), its repeated lines joined by ", " as HTTP combines them.
    geventhttpclient's ``Headers`` (FastHttpUser) is read straight from the dict underneath, which holds per
    lower-cased name a (name, value) pair or a list of them: its ``get`` lower-cases the name again and, for
    a header the response lacks, raises and catches a KeyError (a quarter of the collector's time per request
    in a micro-benchmark)."""
    if type(headers) is Headers:
        stored = _dict_get(headers, name)
        if stored is None or type(stored) is tuple:
            return stored and stored[1]
        return ", ".join(value for _name, value in stored)
    value = headers.get(name)  # requests' CaseInsensitiveDict (HttpUser) joins repeated lines itself
    return ", ".join(value) if isinstance(value, list) else value


class Collector:
    """Owns the sample buffer of one Locust process; ``on_request`` is registered on ``events.request``."""

    def __init__(self, worker: str = "local", pending: PendingRows | None = None):
        self.worker = worker
        self.buffer = SampleBuffer()
        self.pending = pending  # where Locust's own statistics take their rows from, when the suite keeps them
        self._codes: dict[tuple[str, str, str, str], tuple[int, int]] = {}
        self._untimed_names: set[str] = set()

    def _key_codes(self, tier: str, plan: str, name: str, method: str) -> tuple[int, int]:
        """The sample's key code and Locust's (name, method) entry code for a request of this kind."""
        key = self.buffer.keys.code((tier, plan, name, self.worker))
        entry = self.pending.code(name, method) if self.pending is not None else 0
        codes = self._codes[(tier, plan, name, method)] = (key, entry)
        return codes

    def on_request(
        self,
        *,
        name: str,
        response_time: float | None,
        response_length: int = 0,
        response=None,
        context: dict | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        request_type: str = "",
        url: str | None = None,  # named though unused: binding it costs less than gathering it into **_kwargs
        **_kwargs,
    ) -> None:
        if response_time is None:  # Locust allows it (its num_none_requests), but a sample needs a time
            self._untimed(request_type, name, response_length, exception)
            return
        if context:
            tier, plan = context.get("tier", "none"), context.get("plan", "")
            intended = context.get("intended_ts", start_time)
        else:
            tier, plan, intended = "none", "", start_time
        codes = self._codes.get((tier, plan, name, request_type))
        if codes is None:
            codes = self._key_codes(tier, plan, name, request_type)
        pending = self.pending
        if pending is not None:  # first, so that Locust counts the request whatever the sample's fate
            pending.response_ms.append(response_time)
            pending.ts.append(start_time)
            pending.entry.append(codes[1])
            pending.nbytes.append(response_length)
            if exception is not None:
                pending.log_error(request_type, name, exception)
        headers = getattr(response, "headers", None)
        if headers is not None:  # not `if headers`: geventhttpclient's Headers counts its lines in Python
            db_ms = server_timing_db_ms(header_value(headers, "server-timing"))
            flags = cache_flags(header_value(headers, "x-cache"))
        else:
            db_ms, flags = math.nan, 0
        status = getattr(response, "status_code", 0) or 0
        buffer = self.buffer
        buffer.ts.append(start_time)
        buffer.late_s.append(start_time - intended)
        buffer.latency_ms.append(service_ms(start_time, response_time, exception))
        buffer.db_ms.append(db_ms)
        buffer.status.append(status if status < MAX_CODE else MAX_CODE)
        buffer.nbytes.append(response_length if response_length < 0xFFFFFFFF else 0xFFFFFFFF)
        buffer.key.append(codes[0])
        if exception is None:
            buffer.flags.append(flags | OK_FLAG)
            buffer.error.append(0)
        else:
            buffer.flags.append(flags)
            buffer.error.append(buffer.error_code(describe_error(exception)))

    def _untimed(self, method: str, name: str, length: int, exception: BaseException | None) -> None:
        """A request fired without a response time: Locust counts it at once; not a sample (a warning once per name)."""
        if self.pending is not None:
            self.pending.log_request(method, name, None, length)
            if exception is not None:
                self.pending.log_error(method, name, exception)
        if name not in self._untimed_names:
            self._untimed_names.add(name)
            logger.warning("%s %s: events.request fired without a response_time; not kept as a sample", method, name)

    def count_dropped(self, tier: str, intended_ts: float) -> None:
        """An open-model arrival that was not sent: its generator's in-flight bound was reached."""
        self.buffer.count_dropped(tier, intended_ts)

    def drain(self) -> SampleBuffer:
        """Everything collected so far; collection goes on into a fresh buffer."""
        return self.buffer.swap()


class SpillStore(Protocol):
    """Where the spiller appends each buffer it swaps out (:class:`trademate_load.store.SampleStore`, which loads
    pyarrow: not imported here, so that a process collecting samples need not load it before it writes one)."""

    part: Path

    def write(self, buffer: SampleBuffer) -> int: ...


class Spiller:
    """A greenlet that swaps the collector's buffer out every ``interval_s`` (sooner once it holds ``max_rows``)
    and appends it to ``store`` as a row group; the conversion and write run on gevent's thread pool, so the
    request path waits on neither. ``stop()`` leaves the last rows to the caller (drain and write them).
    """

    def __init__(
        self, collector: Collector, store: SpillStore, interval_s: float = SPILL_INTERVAL_S, max_rows: int = SPILL_ROWS
    ):
        self.collector, self.store = collector, store
        self.interval_s, self.max_rows = interval_s, max_rows
        self.check_s = min(SPILL_CHECK_S, interval_s / 2)
        self.error: str | None = None
        self._stop = Event()
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> Spiller:
        self._greenlet = gevent.spawn(self._run)
        return self

    def due(self, since_last_s: float) -> bool:
        """Whether the buffer should go now, ``since_last_s`` after the last spill."""
        return len(self.collector.buffer) >= self.max_rows or since_last_s >= self.interval_s

    def spill(self) -> None:
        """Swap the collector's buffer out and append it to the store on gevent's thread pool; waits for that."""
        gevent.get_hub().threadpool.apply(self.store.write, (self.collector.drain(),))

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.check_s):
            if self.due(time.monotonic() - last):
                last = time.monotonic()
                try:
                    self.spill()
                except (OSError, ValueError) as exc:
                    logger.error("could not write samples to %s: %s", self.store.part, exc)
                    self.error = str(exc)
                    return

    def stop(self) -> None:
        """Wait for a write in progress, then stop spilling."""
        if self._greenlet is not None:
            self._stop.set()
            self._greenlet.join()
            self._greenlet = None
