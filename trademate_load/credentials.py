"""Users' credentials: read from the CSV the API's seeding step writes, handed out one account per user.

The file has the header ``user_id,plan,tier,token``. Tokens are secrets: they live only in memory here
and are never written to samples, logs or reports (``Account.__repr__`` hides them).
"""

from __future__ import annotations

import csv
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from trademate_load.config import ConfigError
from trademate_load.sla_spec import PLANS_BY_TIER

HEADER = ["user_id", "plan", "tier", "token"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    user_id: str
    plan: str
    tier: str
    token: str = field(repr=False)


def read_credentials(path: Path) -> dict[str, list[Account]]:
    """Accounts by plan, in file order; ConfigError names the file and the bad line or field."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "no such credentials file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc}") from None
    if not rows or rows[0] != HEADER:
        raise ConfigError(
            path, "header", f"expected {','.join(HEADER)}, got {','.join(rows[0]) if rows else '(empty)'}"
        )
    accounts: dict[str, list[Account]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(HEADER) or not all(row):
            raise ConfigError(path, f"line {line}", f"expected 4 non-empty fields ({','.join(HEADER)})")
        user_id, plan, tier, token = row
        if not all("!" <= c <= "~" for c in token):  # a CR or LF would split the Authorization header into two
            raise ConfigError(path, f"line {line}", "the token has a space, control or non-ASCII character (not shown)")
        if PLANS_BY_TIER.get(tier) is None or plan not in PLANS_BY_TIER[tier]:
            raise ConfigError(path, f"line {line}", f"plan {plan!r} is not a plan of tier {tier!r}")
        accounts.setdefault(plan, []).append(Account(user_id, plan, tier, token))
    return accounts


class AccountPool:
    """Hands each new simulated user a distinct account of the plan its tier's weights call for next."""

    def __init__(self, accounts: dict[str, list[Account]], source: str):
        self._accounts = accounts
        self._source = source
        self._next_index: dict[str, itertools.count] = {}
        self._plan_counts: dict[str, dict[str, int]] = {}
        self._warned: set[str] = set()

    def require(self, plans: dict[str, int]) -> None:
        """Raise ConfigError unless every plan with a weight has at least one account."""
        for plan, weight in plans.items():
            if weight and not self._accounts.get(plan):
                raise ConfigError(self._source, "plan", f"no account of plan {plan} (the profile needs one)")

    def _next_plan(self, tier: str, plans: dict[str, int]) -> str:
        """Smooth weighted round robin: after n users, each plan holds about n * weight / total of them."""
        counts = self._plan_counts.setdefault(tier, dict.fromkeys(plans, 0))
        total = sum(counts.values()) + 1
        weight_sum = sum(plans.values())
        plan = max(plans, key=lambda p: plans[p] * total / weight_sum - counts.get(p, 0))
        counts[plan] = counts.get(plan, 0) + 1
        return plan

    def take(self, tier: str, plans: dict[str, int]) -> Account:
        plan = self._next_plan(tier, plans)
        accounts = self._accounts[plan]
        index = next(self._next_index.setdefault(plan, itertools.count()))
        if index >= len(accounts) and plan not in self._warned:
            self._warned.add(plan)
            logger.warning("%s: only %d %s accounts; users now share them", self._source, len(accounts), plan)
        return accounts[index % len(accounts)]
