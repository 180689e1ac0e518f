"""Runs whose claim holds only when the run measured its target: the suite's own validity verdict decides.

A run the suite judged ``invalid`` (docs/verdict.md, "Validity": its load generator, not the target, limited it, on
a busy machine or a starved core) measured the machine: it runs again. A run judged anything else is checked at
once, and a failure fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def measured(run: Callable[[int], tuple[T, Path]], check: Callable[[T, Path], None], attempts: int = 3) -> None:
    """``check(*run(attempt))`` on the first run the suite did not judge invalid; ``run`` returns a result and its
    run directory. If every run was invalid, the test skips with the last one's reason."""
    for attempt in range(1, attempts + 1):
        result, run_dir = run(attempt)
        summary = json.loads((run_dir / "summary.json").read_text())
        if summary["verdict"] != "invalid":
            check(result, run_dir)
            return
        reason = f"attempt {attempt}: the suite judged the run invalid: {summary['reason']}"
        print(reason)
    pytest.skip(f"every one of {attempts} runs was invalid; the last {reason}"[:2000])
