"""Exit codes, and how a finding made after the SLA verdict amends a summary's verdict.

The SLA engine (:mod:`trademate_load.sla`) decides pass, fail, inconclusive or no data; later findings (a
regression against the baseline, an abort, a lost worker) can only make that verdict worse, each through
:func:`with_finding`. Nothing here imports the rest of the suite.
"""

from __future__ import annotations

from typing import Any

EXIT_PASS, EXIT_BREACH, EXIT_INVALID, EXIT_NO_DATA = 0, 1, 2, 3
EXIT_MEANINGS = {
    EXIT_PASS: "every SLA met",
    EXIT_BREACH: "SLA breached",
    EXIT_INVALID: "invalid input",
    EXIT_NO_DATA: "could not measure",
}


def with_finding(
    summary: dict[str, Any], note: str, replaces: tuple[int, ...], verdict: str, exit_code: int
) -> dict[str, Any]:
    """``summary`` with a finding made after the SLA verdict: a verdict whose exit code is in ``replaces`` becomes
    ``verdict`` with ``exit_code``, the note leading its reason (after it, when it was a breach already); any other
    keeps its verdict and gains the note."""
    if summary["exit_code"] in replaces:
        reason = note if summary["exit_code"] == EXIT_PASS else f"{summary['reason']}; {note}"
        return {**summary, "verdict": verdict, "exit_code": exit_code, "reason": reason}
    return {**summary, "reason": f"{summary.get('reason') or ''}; {note}".lstrip("; ")}
