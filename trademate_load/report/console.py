"""The console verdict table: per tier, each figure beside its target, then one verdict line."""

from __future__ import annotations

from typing import Any

from trademate_load.formatting import by_unit
from trademate_load.losses import LOST_STATES, describe_lost
from trademate_load.report.summary import decided_note
from trademate_load.validity_text import health_line
from trademate_load.verdict import EXIT_MEANINGS

_ROWS = (  # (label, how to read the figure from a tier's summary, check name or None, unit)
    ("requests", lambda t: t["requests"], None, ""),
    ("req/s", lambda t: t["rps"], None, "rps"),
    ("mean", lambda t: t["latency_ms"]["mean"], "mean_ms", "ms"),
    ("p50", lambda t: t["latency_ms"]["p50"], None, "ms"),
    ("p95", lambda t: t["latency_ms"]["p95"], "p95_ms", "ms"),
    ("p99", lambda t: t["latency_ms"]["p99"], "p99_ms", "ms"),
    ("max", lambda t: t["latency_ms"]["max"], None, "ms"),
    ("service p95", lambda t: (t.get("service_latency_ms") or {}).get("p95"), None, "ms"),
    ("service p99", lambda t: (t.get("service_latency_ms") or {}).get("p99"), None, "ms"),
    ("success rate", lambda t: t["success_rate"], "success_rate", "%"),
    ("error rate", lambda t: None if t["success_rate"] is None else 1 - t["success_rate"], "error_rate", "%"),
    ("compliance", lambda t: t["sla_compliance"], "sla_compliance", "%"),
    ("db p95", lambda t: t["db_ms_p95"], "db_ms_p95", "ms"),
    ("cache hit rate", lambda t: t["cache_hit_rate"], "cache_hit_rate", "%"),
    ("uptime", lambda t: (t.get("uptime") or {}).get("ratio"), "uptime", "%"),
    ("missed schedule", lambda t: t["missed_schedule"], None, ""),
    ("dropped", lambda t: t.get("dropped", 0), None, ""),
)
_RESULT = {"passed": "pass", "failed": "FAIL", "not_measured": "not measured", "inconclusive": "inconclusive"}


def verdict_line(exit_code: int, verdict: str | None = None) -> str:
    """``SLA breached (exit 1)``: the exit code and what it means (an inconclusive verdict says so)."""
    if verdict == "inconclusive":
        return f"SLA inconclusive: too few samples to decide (exit {exit_code})"
    if verdict == "incomplete":
        return f"Run incomplete: a load worker was lost (exit {exit_code})"
    if verdict == "invalid":
        return f"Run invalid: the load generator, not the target, limited it (exit {exit_code})"
    meaning = EXIT_MEANINGS.get(exit_code, "unexpected failure")
    return f"{meaning[0].upper()}{meaning[1:]} (exit {exit_code})"


def render_console(summary: dict[str, Any]) -> str:
    """A plain-text table of the verdict, ending with the verdict line."""
    lines = [
        f"SLA verdict for profile {summary['profile']!r} against {summary['host']} "
        f"(exact, from raw samples; {summary['duration_s']:.1f} s window after warm-up)",
    ]
    header = f"{'figure':<16} {'actual':>14} {'target':>14}  result"
    for tier, t in summary["tiers"].items():
        checks = {c["name"]: c for c in t["checks"] if not c.get("endpoint")}
        lines += ["", f"{tier} tier: target {t['target_rps']:g} req/s, latency basis {t['latency_basis']}", header]
        lines.append("-" * len(header))
        for label, read, check_name, unit in _ROWS:
            check = checks.get(check_name) if check_name else None
            target = f"{check['op']} {by_unit(check['limit'], unit)}" if check else ""
            result = _RESULT[check["status"]] if check else ""
            lines.append(f"{label:<16} {by_unit(read(t), unit):>14} {target:>14}  {result}".rstrip())
        lines += render_uptime(t.get("uptime"))
        for c in t["checks"]:
            if c.get("endpoint"):
                unit = "%" if c["name"] == "success_rate" else "ms"
                lines.append(
                    f"{c['endpoint']} {c['name']}: {by_unit(c['actual'], unit)} "
                    f"(target {c['op']} {by_unit(c['limit'], unit)}) {_RESULT[c['status']]}"
                )
    if summary.get("scalability"):
        lines += ["", render_scalability(summary["scalability"])]
    if summary.get("baseline"):
        lines += ["", render_baseline(summary["baseline"])]
    if summary.get("aborted"):
        aborted = summary["aborted"]
        lines += ["", f"Aborted: {aborted['tier']} {aborted['check']} at {aborted['at_s']:.1f} s: {aborted['reason']}"]
    if summary.get("decided"):
        lines += ["", f"Ended early: {decided_note(summary['decided'])}"]
    lines += render_workers(summary.get("workers") or [])
    if summary.get("generator"):
        lines += ["", health_line(summary["generator"])]
    lines += [
        "",
        f"Verdict: {summary['verdict'].upper()}: {summary.get('reason', '')}",
        verdict_line(summary["exit_code"], summary["verdict"]),
    ]
    return "\n".join(lines)


def render_uptime(uptime: dict[str, Any] | None) -> list[str]:
    """A tier's uptime windows in a line, and each down stretch with its times and cause."""
    if not uptime:
        return []
    windows = len(uptime["timeline"])
    down = uptime["timeline"].count("D")
    unjudged = uptime["timeline"].count("-")
    lines = [
        f"uptime windows: {windows} of {uptime['window_s']:g} s, {down} down, {unjudged} not judged "
        f"(fewer than {uptime['min_requests']} requests due)"
    ]
    for stretch in uptime["down"]:
        lines.append(
            f"  DOWN {stretch['start_s']:.1f}-{stretch['end_s']:.1f} s after the start "
            f"({stretch['start']} to {stretch['end']}): {stretch['cause']}"
        )
    return lines


def render_workers(workers: list[dict[str, Any]]) -> list[str]:
    """A distributed run's workers, one line each; a lost one flagged as a warning."""
    if not workers:
        return []
    lines = ["", f"Workers ({len(workers)}):"]
    for worker in workers:
        if worker["state"] in LOST_STATES:
            lines.append(f"  WARNING: lost {describe_lost(worker)}")
        else:
            lines.append(f"  {worker['id']} (pid {worker['pid']}): {worker['state']}, {worker['samples']} samples")
    return lines


def render_scalability(section: dict[str, Any]) -> str:
    """Per tier of a stepped run: each step's load, achieved/offered req/s and p95, then the two statements."""
    lines = [f"Scalability (each step measured after its first {section['settle_s']:g} s):"]
    for tier, result in section["tiers"].items():
        steps = result["steps"]
        cells = {
            "load": [f"{s['load_pct']:.0f}%" for s in steps],
            "req/s": [f"{by_unit(s['achieved_rps'], 'rps')}/{s['offered_rps']:g}" for s in steps],
            "p95": [by_unit(s["latency_ms"]["p95"], "ms") for s in steps],
        }
        width = max(len(cell) for column in cells.values() for cell in column) + 2
        for label, column in cells.items():
            lines.append(f"{tier if label == 'load' else '':<9}{label:<7}" + "".join(f"{c:>{width}}" for c in column))
        lines += [f"{'':<9}{result['throughput']}", f"{'':<9}{result['latency']}"]
    return "\n".join(lines)


_BASELINE_UNITS = {"success_rate": "%", "rps": "rps"}


def _delta(figure: dict[str, Any], unit: str) -> str:
    if figure["delta"] is None:
        return "n/a"
    if unit == "%":
        return f"{figure['delta'] * 100:+.3f} pp"
    pct = "" if figure["delta_pct"] is None else f" ({figure['delta_pct']:+.1f}%)"
    return f"{figure['delta']:+.2f}{' ms' if unit == 'ms' else ''}{pct}"


def render_baseline(comparison: dict[str, Any]) -> str:
    """Each tier's figures beside the baseline's, with deltas and what the gate made of them (regressed, improved,
    no change, inconclusive; worse or better for a figure without a tolerance)."""
    lines = [f"Against baseline {comparison['run_id']}:"]
    header = f"{'scope':<44} {'figure':<13} {'baseline':>12} {'now':>12} {'delta':>20}  change"
    lines += [header, "-" * len(header)]
    for row in comparison["tiers"] + comparison["endpoints"]:
        scope = row["tier"] + (f" {row['endpoint']}" if "endpoint" in row else "")
        for name, figure in row["figures"].items():
            unit = _BASELINE_UNITS.get(name, "ms")
            change = figure.get("change") or ("regressed" if figure["regressed"] else "")
            lines.append(
                f"{scope[:44]:<44} {name:<13} {by_unit(figure['baseline'], unit):>12} "
                f"{by_unit(figure['current'], unit):>12} {_delta(figure, unit):>20}  "
                + (change.upper() if change == "regressed" else change)
            )
    lines += [f"note: {note}" for note in comparison["notes"]]
    regressions, inconclusive = comparison["regressions"], comparison.get("inconclusive") or []
    lines.append("Regressions: " + (", ".join(regressions) if regressions else "none"))
    if inconclusive:
        lines.append("Inconclusive (beyond the tolerance, but the 95% interval holds zero): " + ", ".join(inconclusive))
    return "\n".join(lines)


def could_not_measure_line(summary: dict[str, Any]) -> str:
    """One line naming the target a run could not measure and why: the load generator that limited it, or the error
    its requests met most."""
    if summary.get("verdict") == "invalid":
        return f"error: could not measure {summary['host']}: {summary['reason']}"
    counts: dict[str, int] = {}
    for error in summary.get("errors") or []:
        text = error["error"] or f"HTTP {error['status']}"
        counts[text] = counts.get(text, 0) + error["count"]
    line = f"error: could not measure {summary['host']}: {summary['reason']}"
    if counts:
        text, count = max(counts.items(), key=lambda item: item[1])
        line += f" ({count} requests failed with {text})"
    return line


def render_changes(changes) -> str:
    """The history's change points, one line each: where the level of a tier's figure moved, by how much, and how
    significant the move is."""
    if changes is None or len(changes) == 0:
        return "Change points: none"
    lines = ["Change points (first run after each):"]
    for c in changes.to_dict("records"):
        series = f"{c['profile']}" + (f" track {c['track']}" if c.get("track") else "") + f" {c['tier']} {c['figure']}"
        pct = "" if c.get("size_pct") is None or c["size_pct"] != c["size_pct"] else f" ({c['size_pct']:+.1f}%)"
        before, after = (
            by_unit(c[k], "%" if c["figure"] in ("success_rate", "uptime") else "ms") for k in ("before", "after")
        )
        label = f" [{c['label']}]" if c.get("label") else ""
        lines.append(f"  {series}: {before} -> {after}{pct} at {c['run_id']}{label}, p = {c['p_value']:.2g}")
    return "\n".join(lines)
