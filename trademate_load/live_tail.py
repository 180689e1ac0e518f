"""The live branch's reader: the rows the collector's buffer gained since the last look, without draining it.

:class:`BufferTail` follows the buffer across the spiller's swaps and copies only the new rows, so neither the
request path nor the Parquet spill does any extra work for the live figures; on a master the buffer already holds
the workers' shipped samples. Each read is one :class:`Batch`: the rows decoded by the record's one decoding
(:func:`trademate_load.record.decode`) and the key table their codes index. Nothing here imports locust or gevent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trademate_load.record import Columns, SampleBuffer, copy_rows, decode


@dataclass(frozen=True)
class Batch(Columns):
    """Rows read from a buffer, decoded by :func:`trademate_load.record.decode` (start and due times, latency on both
    bases, success, status, DB time, cache outcome, key codes), and the key table the codes index. Their error codes
    are not read here: a batch may span a swap, and each buffer has its own error table."""

    keys: list[tuple[str, str, str, str]]  # the collector's (tier, plan, endpoint, worker) table, append-only

    def latency(self, basis: str) -> np.ndarray:
        return self.latency_co_ms if basis == "corrected" else self.latency_ms


class BufferTail:
    """Reads the rows appended to a collector's buffer since the last read, across its swaps, without draining it.

    A swap moves the column arrays into the swapped-out buffer, complete; the reader keeps them until it has
    read their last rows. It must read at least once between two swaps (the live feed polls every
    :data:`~trademate_load.live_watch.POLL_S`; the spiller swaps at most every half second, and the plugin reads
    before the final drain).
    """

    def __init__(self, buffer: SampleBuffer):
        self.buffer = buffer
        self.skip()

    def skip(self) -> None:
        """Forget everything appended so far: the next read starts here."""
        self._columns = self.buffer.arrays()
        self._seen = len(self._columns[0])

    def read(self) -> Batch:
        current = self.buffer.arrays()
        parts = []
        if current[0] is not self._columns[0]:
            parts.append(copy_rows(self._columns, self._seen))
            self._columns, self._seen = current, 0
        part = copy_rows(current, self._seen)
        self._seen += len(part[0])
        parts.append(part)
        rows = decode([np.concatenate(column) for column in zip(*parts, strict=True)])
        return Batch(**vars(rows), keys=self.buffer.keys.keys)
