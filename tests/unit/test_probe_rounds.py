"""The SLA probe's rounds: each tier's state in a round, and uptime over the rounds, on hand-made round results."""

from __future__ import annotations

from trademate_load.probe_console import rounds_line
from trademate_load.probe_rounds import round_states, uptime_over_rounds, with_history

TIERS = ("premium", "shared")


def round_result(number: int, verdict: str, uptimes: dict | None) -> dict:
    """A round's result as probe.result makes it; ``uptimes``: per tier its summary uptime (None: no data)."""
    tiers = {tier: {"uptime": uptime} for tier, uptime in (uptimes or {}).items()}
    reason = "http://x did not answer GET /health: ConnectionRefusedError" if uptimes is None else "as judged"
    code = {"pass": 0, "fail": 1, "no_data": 3}[verdict]
    return {"round": number, "started_at": f"t{number}", "verdict": verdict, "exit_code": code, "reason": reason,
            "tiers": tiers}  # fmt: skip


UP = {"ratio": 1.0, "down": []}
DOWN = {"ratio": 0.0, "down": [{"cause": "p95 812.3 ms (limit < 50 ms)"}]}
UNJUDGED = {"ratio": None, "down": []}


def test_a_round_finds_each_tier_up_down_or_unjudged_and_an_unreachable_target_down():
    assert round_states(round_result(1, "pass", {"premium": UP, "shared": UNJUDGED}), TIERS) == {
        "premium": {"state": "up", "cause": ""},
        "shared": {"state": "unjudged", "cause": ""},
    }
    assert round_states(round_result(2, "fail", {"premium": DOWN, "shared": UP}), TIERS)["premium"] == {
        "state": "down",
        "cause": "p95 812.3 ms (limit < 50 ms)",
    }
    unreachable = round_states(round_result(3, "no_data", None), TIERS)
    assert {found["state"] for found in unreachable.values()} == {"down"}
    assert unreachable["shared"]["cause"].endswith("did not answer GET /health: ConnectionRefusedError")


def test_uptime_over_the_rounds_counts_judged_rounds_and_names_the_down_ones():
    history: list[dict] = []
    rounds = [
        round_result(1, "pass", {"premium": UP, "shared": UP}),
        round_result(2, "no_data", None),
        round_result(3, "fail", {"premium": DOWN, "shared": UNJUDGED}),
        round_result(4, "pass", {"premium": UP, "shared": UP}),
    ]
    for res in rounds:
        last = with_history(res, history, TIERS)
    premium, shared = (last["uptime_over_rounds"][tier] for tier in TIERS)
    assert (premium["rounds"], premium["up"], premium["down"], premium["ratio"]) == (4, 2, 2, 0.5)
    assert [d["round"] for d in premium["down_rounds"]] == [2, 3]
    assert (shared["up"], shared["down"], shared["unjudged"], shared["ratio"]) == (2, 1, 1, 0.666667)
    assert last["uptime_over_rounds"] == uptime_over_rounds(history)
    assert rounds_line(history) == (
        "4 rounds: 1 fail, 1 no_data, 2 pass; uptime over the rounds: premium 50.000% (2 of 4 up), "
        "shared 66.667% (2 of 3 up); exit 1"
    )
