"""junit.xml: one testsuite per tier, one testcase per SLA check (failed: <failure>, not measured: <skipped>)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from trademate_load.formatting import significant
from trademate_load.losses import describe_lost, lost_workers


def render_junit(summary: dict[str, Any]) -> str:
    """JUnit XML for a summary.json dict; CI systems show each check as a test."""
    root = ET.Element("testsuites", name=f"trademate-sla {summary['profile']}")
    total = failed = skipped = 0
    for tier, figures in summary["tiers"].items():
        checks = figures["checks"]
        suite = ET.SubElement(root, "testsuite", name=f"sla.{tier}", tests=str(len(checks)))
        suite_failed = suite_skipped = 0
        for check in checks:
            name = check["name"] + (f" [{check['endpoint']}]" if check.get("endpoint") else "")
            case = ET.SubElement(suite, "testcase", classname=f"trademate.sla.{tier}", name=name, time="0")
            text = f"{check['name']} = {significant(check['actual'])}, required {check['op']} "
            text += significant(check["limit"])
            if check["name"] == "uptime" and figures.get("uptime"):
                text += "".join(
                    f"; down {d['start_s']:.1f}-{d['end_s']:.1f} s after the start ({d['start']}): {d['cause']}"
                    for d in figures["uptime"]["down"]
                )
            if check["status"] == "failed":
                suite_failed += 1
                ET.SubElement(case, "failure", message=text, type="SLABreach").text = text
            elif check["status"] == "inconclusive" and summary.get("strict"):
                suite_failed += 1
                message = f"{text}: inconclusive, its 95% interval {check.get('ci95')} straddles the limit (strict)"
                ET.SubElement(case, "failure", message=message, type="SLAInconclusive").text = message
            elif check["status"] == "inconclusive":
                suite_skipped += 1
                ET.SubElement(
                    case,
                    "skipped",
                    message=f"{text}: inconclusive, its 95% interval {check.get('ci95')} straddles the limit",
                )
            elif check["status"] == "not_measured":
                suite_skipped += 1
                ET.SubElement(case, "skipped", message=f"{check['name']} not measured (target did not report it)")
            else:
                ET.SubElement(case, "system-out").text = text
        suite.set("failures", str(suite_failed))
        suite.set("skipped", str(suite_skipped))
        suite.set("errors", "0")
        total, failed, skipped = total + len(checks), failed + suite_failed, skipped + suite_skipped
    if summary.get("baseline"):
        tests, failures = _baseline_suite(root, summary["baseline"])
        total, failed = total + tests, failed + failures
    if summary.get("aborted"):
        _abort_suite(root, summary["aborted"])
        total, failed = total + 1, failed + 1
    if summary.get("decided"):
        decided = summary["decided"]
        suite = ET.SubElement(root, "testsuite", name=decided["by"], tests="1", failures="0", errors="0", skipped="0")
        case = ET.SubElement(suite, "testcase", classname="trademate.decided", name="every check settled", time="0")
        ET.SubElement(case, "system-out").text = f"ended early at {decided['at_s']:.1f} s: {decided['reason']}"
        total += 1
    lost = lost_workers(summary.get("workers") or [])
    if lost:
        suite = ET.SubElement(root, "testsuite", name="workers", tests="1", failures="0", errors="1", skipped="0")
        case = ET.SubElement(suite, "testcase", classname="trademate.workers", name="every worker to the end", time="0")
        text = "; ".join(f"lost {describe_lost(w)}" for w in lost)
        ET.SubElement(case, "error", message=text, type="WorkerLost").text = text
        total += 1
    if summary["verdict"] == "no_data":
        suite = ET.SubElement(root, "testsuite", name="sla.run", tests="1", failures="0", errors="1", skipped="0")
        case = ET.SubElement(suite, "testcase", classname="trademate.sla.run", name="measured", time="0")
        ET.SubElement(case, "error", message=summary.get("reason") or "no data", type="NoData")
        total += 1
    root.set("tests", str(total))
    root.set("failures", str(failed))
    root.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _abort_suite(root: ET.Element, aborted: dict[str, Any]) -> None:
    """A check decided failed stopped the run early: one failed testcase naming the tier, the check and when."""
    by = aborted.get("by", "abort_on_fail")
    suite = ET.SubElement(root, "testsuite", name=by, tests="1", failures="1", errors="0", skipped="0")
    case = ET.SubElement(
        suite, "testcase", classname=f"trademate.abort.{aborted['tier']}", name=aborted["check"], time="0"
    )
    text = f"stopped at {aborted['at_s']:.1f} s: {aborted['reason']}"
    ET.SubElement(case, "failure", message=text, type="Aborted").text = text


def _baseline_suite(root: ET.Element, comparison: dict[str, Any]) -> tuple[int, int]:
    """One testcase per compared figure that has a tolerance; a regression is a failure."""
    suite = ET.SubElement(root, "testsuite", name="baseline")
    tests = failures = 0
    for row in comparison["tiers"] + comparison["endpoints"]:
        scope = row["tier"] + (f" [{row['endpoint']}]" if "endpoint" in row else "")
        for name, figure in row["figures"].items():
            if figure["tolerance"] is None:
                continue
            tests += 1
            case = ET.SubElement(
                suite, "testcase", classname=f"trademate.baseline.{row['tier']}", name=f"{scope} {name}", time="0"
            )
            text = (
                f"{name}: {significant(figure['current'])} now, {significant(figure['baseline'])} in baseline "
                f"{comparison['run_id']} (tolerance {figure['tolerance']})"
            )
            if figure["regressed"]:
                failures += 1
                ET.SubElement(case, "failure", message=text, type="Regression").text = text
            else:
                ET.SubElement(case, "system-out").text = text
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    return tests, failures
