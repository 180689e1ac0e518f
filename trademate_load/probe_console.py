"""The SLA validation probe on the console: a round as a compact table with its verdict, and the last line of a
probe of several rounds. Reads the probe's JSON (:mod:`trademate_load.probe_rounds`) only. Nothing here imports
locust.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from trademate_load.formatting import by_unit, fixed, percent
from trademate_load.probe_rounds import overall_exit, uptime_over_rounds
from trademate_load.report.console import verdict_line
from trademate_load.uptime import DOWN, UP

_SHOWN = {"passed": "pass", "failed": "FAIL", "inconclusive": "inconclusive", "not_measured": "not measured"}
_RATES = ("success_rate", "sla_compliance", "error_rate", "cache_hit_rate")


def _figure(name: str, value: float | None) -> str:
    return by_unit(value, "%" if name in _RATES else "ms", pct_decimals=2)


def _verdict_cell(verdict: str, checks: list[dict[str, Any]]) -> str:
    """``pass``, ``FAIL p95_ms 81.20 ms (< 50)``, ``inconclusive: p99_ms, success_rate``."""
    failed = [c for c in checks if c["status"] == "failed"]
    if failed:
        return "FAIL " + ", ".join(
            f"{c['name']} {_figure(c['name'], c['actual'])} ({c['op']} {c['limit']:g})" for c in failed
        )
    if verdict == "inconclusive":
        return "inconclusive: " + ", ".join(c["name"] for c in checks if c["status"] == "inconclusive")
    return _SHOWN["passed"]


def _row(tier: str, name: str, figures: dict[str, Any]) -> str:
    lat = figures["latency_ms"]
    success = percent(figures["success_rate"], 2)
    cells = [fixed(lat[k]) for k in ("mean", "p50", "p95", "p99", "max")]
    return (
        f"{tier:<8} {name:<34} {figures['requests']:>5} {figures['failures']:>5} "
        + " ".join(f"{c:>7}" for c in cells)
        + f" {success:>8}  {_verdict_cell(figures['verdict'], figures['checks'])}"
    )


def render_table(res: dict[str, Any]) -> str:
    """The round as a compact table: one row per tier (all its endpoints) and per endpoint, then the verdict."""
    lines = [
        f"SLA probe round {res['round']} of {res['host']} at {res['started_at']}: {res['iterations']} requests per "
        f"tier and endpoint, concurrency {res['concurrency']}, {res['duration_s']:.1f} s (latency: service time, ms)"
    ]
    if res.get("tiers"):
        header = (
            f"{'tier':<8} {'endpoint':<34} {'reqs':>5} {'fails':>5} "
            + " ".join(f"{h:>7}" for h in ("mean", "p50", "p95", "p99", "max"))
            + f" {'success':>8}  result"
        )
        lines += [header, "-" * len(header)]
        for tier, figures in res["tiers"].items():
            lines.append(_row(tier, "(all endpoints)", figures))
            lines += [_row(tier, name, e) for name, e in figures["endpoints"].items()]
            unmeasured = [c["name"] for c in figures["checks"] if c["status"] == "not_measured"]
            if unmeasured:
                lines.append(f"{'':<8} not reported by the target, not judged: {', '.join(unmeasured)}")
    counts: dict[str, int] = {}
    for figures in (res.get("tiers") or {}).values():
        for check in figures["checks"] + [c for e in figures["endpoints"].values() for c in e["checks"]]:
            counts[check["status"]] = counts.get(check["status"], 0) + 1
    tally = ", ".join(f"{n} {_SHOWN[s]}" for s, n in sorted(counts.items()))
    if res["verdict"] == "no_data":
        lines.append(f"Verdict: NO DATA: {res['reason']}")
    else:
        note = ""
        if counts.get("inconclusive"):
            strict = "strict: counted as a breach" if res["strict"] else "not strict: not counted as a breach"
            note = f" (inconclusive: too few samples to decide; {strict})"
        lines.append(f"Verdict: {res['verdict'].upper()}: checks {tally}{note}")
    lines.append(verdict_line(res["exit_code"], res["verdict"]))
    return "\n".join(lines)


def rounds_line(history: list[dict[str, Any]]) -> str:
    """``12 rounds: 11 inconclusive, 1 fail; uptime over the rounds: premium 91.667% (11 of 12 up); exit 1``: the
    last line of a probe of several rounds."""
    tally = Counter(h["verdict"] for h in history)
    verdicts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(tally.items()))
    uptime = ", ".join(
        f"{tier} {_share(u['ratio'])} ({u[UP]} of {u[UP] + u[DOWN]} up)"
        for tier, u in uptime_over_rounds(history).items()
    )
    code = overall_exit([h["exit_code"] for h in history])
    return f"{len(history)} rounds: {verdicts}; uptime over the rounds: {uptime}; exit {code}"


def _share(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.3f}%"
