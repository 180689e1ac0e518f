"""The live branch's tail reader (trademate_load.live_tail): every row appended after it starts, once, across the
spiller's swaps."""

from __future__ import annotations

import numpy as np

from tests.live_data import append_rows, two_tier_frame
from trademate_load.live_tail import BufferTail
from trademate_load.record import SampleBuffer


def test_the_tail_reader_sees_every_row_once_across_swaps():
    buffer = SampleBuffer()
    frame = two_tier_frame()
    append_rows(buffer, frame.iloc[:10])
    tail = BufferTail(buffer)  # starts at the end: rows appended before it are not its business
    seen = []
    for lo, hi in ((10, 30), (30, 31), (31, 100)):
        append_rows(buffer, frame.iloc[lo:hi])
        if hi == 31:
            buffer.swap()
        append_rows(buffer, frame.iloc[hi : hi + 0])
        seen.append(tail.read().ts)
    buffer.swap()
    seen.append(tail.read().ts)
    assert np.array_equal(np.concatenate(seen), frame["ts"].to_numpy()[10:100])
    tail.skip()
    assert len(tail.read()) == 0
