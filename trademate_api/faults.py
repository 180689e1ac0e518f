"""The `--fault` rule grammar and its parsing into a FaultPlan, once at start-up (fault injection for testing the
load suite; fault_plan.py holds the parsed values, fault_injection.py applies them in one pure ASGI middleware).

One rule per `--fault` flag; `TRADEMATE_FAULTS` holds more, separated by `;` (its rules come first). A rule is
whitespace-separated `key=value` items: selectors, which requests it applies to, and at least one effect.

    tier=shared|premium            the authenticated user's tier (default: any)
    endpoint=/api/v1/portfolio     a route template (`{name}` matches one path segment) or, ending in `*`,
                                   a prefix; default `/api/*`, so /health and /metrics answer normally
    method=GET                     default: any
    latency=fixed(5ms) | uniform(1ms,4ms) | lognormal(median=5ms,p99=40ms)
                                   added before the handler runs; durations take us, ms or s
    error=0.005 | error=0.5%       share of requests answered with `status` (default 503) without the handler
    stall=40s+2s                   from 40 s after start-up for 2 s, every arriving request is held until the
                                   window ends, as a GC pause or a fail-over would hold it

Every matching rule applies: holds and latencies add up, the first error drawn wins. Stall windows count from
the moment the app is built, just before the API prints its `listening` line. Random draws come from one stream
per rule and effect, seeded from `--fault-seed` (or `TRADEMATE_FAULT_SEED`; default random, logged), so a run can
be repeated. Faults are fixed at start-up: no header, parameter or endpoint can set or change them.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence

from .fault_plan import FaultPlan, FaultRule, Fixed, Lognormal, Stall, Uniform
from .settings import TIERS

FLAG = "--fault"
ENV_RULES = "TRADEMATE_FAULTS"
ENV_SEED = "TRADEMATE_FAULT_SEED"
KEYS = ("tier", "endpoint", "method", "latency", "error", "status", "stall")
DISTRIBUTIONS = {"fixed": ("delay",), "uniform": ("low", "high"), "lognormal": ("median", "p99")}
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(us|ms|s)")
CALL = re.compile(r"([a-z]+)\((.*)\)")


class FaultSpecError(ValueError):
    """A rule that does not parse: the message is one line naming the flag or variable and the bad token."""


class _BadToken(Exception):
    def __init__(self, token: str, reason: str) -> None:
        super().__init__(token, reason)
        self.token, self.reason = token, reason


def load_plan(flags: Sequence[str], environ: Mapping[str, str], seed: int | None = None) -> FaultPlan | None:
    """The plan from TRADEMATE_FAULTS and the --fault flags, or None when no rule is given."""
    rules = parse_rules(environ.get(ENV_RULES, ""), ENV_RULES)
    for text in flags:
        rules += parse_rules(text, FLAG)
    if not rules:
        return None
    if seed is None:
        seed = _env_seed(environ.get(ENV_SEED, ""))
    return FaultPlan(tuple(rules), random.SystemRandom().randrange(2**32) if seed is None else seed)


def _env_seed(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise FaultSpecError(f"{ENV_SEED}: bad token {text!r}: expected an integer") from None


def parse_rules(text: str, source: str) -> list[FaultRule]:
    """The rules of `text`, separated by `;`; blank ones are skipped."""
    return [parse_rule(part.strip(), source) for part in text.split(";") if part.strip()]


def parse_rule(text: str, source: str) -> FaultRule:
    try:
        return FaultRule(source, **_rule_fields(text))
    except _BadToken as bad:
        raise FaultSpecError(f'{source} "{text}": bad token {bad.token!r}: {bad.reason}') from None


def _tokens(text: str) -> list[str]:
    """`key=value` items split on whitespace, where spaces inside parentheses do not split."""
    return re.sub(r"\([^()]*\)", lambda m: re.sub(r"\s+", "", m.group(0)), text).split()


def _rule_fields(text: str) -> dict:
    seen: dict[str, str] = {}
    fields: dict = {}
    for token in _tokens(text):
        key, eq, value = token.partition("=")
        if not eq or not value:
            raise _BadToken(token, "expected key=value")
        if key not in KEYS:
            raise _BadToken(token, f"unknown key {key!r} (expected one of {', '.join(KEYS)})")
        if key in seen:
            raise _BadToken(token, f"{key}= given twice in one rule")
        seen[key] = token
        fields.update(_PARSERS[key](token, value))
    if "status" in seen and "error" not in seen:
        raise _BadToken(seen["status"], "status= needs error= in the same rule")
    if not {"latency", "error", "stall"} & seen.keys():
        raise _BadToken(text, "a rule needs an effect: latency=, error= or stall=")
    return fields


def _tier(token: str, value: str) -> dict:
    if value not in TIERS:
        raise _BadToken(token, f"tier must be one of {', '.join(TIERS)}")
    return {"tier": value}


def _endpoint(token: str, value: str) -> dict:
    body = value.removesuffix("*")
    if not value.startswith("/") or "*" in body or re.search(r"[{}]", re.sub(r"\{[A-Za-z_]\w*\}", "", body)):
        raise _BadToken(token, "expected a path such as /api/v1/portfolio, /api/v1/market/quotes/{symbol} or /api/*")
    return {"endpoint": value}


def _method(token: str, value: str) -> dict:
    if not value.isalpha() or not value.isascii():
        raise _BadToken(token, "expected an HTTP method such as GET or POST")
    return {"method": value.upper()}


def _latency(token: str, value: str) -> dict:
    match = CALL.fullmatch(value)
    if match is None or match.group(1) not in DISTRIBUTIONS:
        raise _BadToken(token, "expected fixed(D), uniform(LOW,HIGH) or lognormal(median=D,p99=D)")
    name = match.group(1)
    args = _arguments(token, name, match.group(2))
    if name == "fixed":
        return {"latency": Fixed(args["delay"])}
    if name == "uniform":
        if args["low"] > args["high"]:
            raise _BadToken(token, "uniform needs low <= high")
        return {"latency": Uniform(args["low"], args["high"])}
    if not 0 < args["median"] < args["p99"]:
        raise _BadToken(token, "lognormal needs 0 < median < p99")
    return {"latency": Lognormal(args["median"], args["p99"])}


def _arguments(token: str, name: str, text: str) -> dict[str, float]:
    """A distribution's durations, by position or by name: uniform(1ms,4ms) or uniform(low=1ms,high=4ms)."""
    params = DISTRIBUTIONS[name]
    usage = f"{name}({','.join(params)}) takes {len(params)} duration(s)"
    items = text.split(",") if text else []
    if len(items) != len(params):
        raise _BadToken(token, usage)
    args = {}
    for position, item in enumerate(items):
        key, eq, raw = item.rpartition("=")
        key = key if eq else params[position]
        if key not in params or key in args:
            raise _BadToken(token, usage)
        args[key] = _duration(token, raw)
    return args


def _duration(token: str, text: str) -> float:
    match = DURATION.fullmatch(text)
    if match is None:
        raise _BadToken(token, f"bad duration {text!r} (expected a number with us, ms or s, such as 5ms)")
    return float(match.group(1)) * UNITS[match.group(2)]


def _error(token: str, value: str) -> dict:
    try:
        rate = float(value.removesuffix("%")) / (100.0 if value.endswith("%") else 1.0)
    except ValueError:
        rate = math.nan
    if not 0 < rate <= 1:
        raise _BadToken(token, "expected a rate in (0, 1], such as 0.005 or 0.5%")
    return {"error_rate": rate}


def _status(token: str, value: str) -> dict:
    if not value.isdigit() or not 400 <= int(value) <= 599:
        raise _BadToken(token, "expected an HTTP error status from 400 to 599")
    return {"error_status": int(value)}


def _stall(token: str, value: str) -> dict:
    start, plus, duration = value.partition("+")
    if not plus:
        raise _BadToken(token, "expected START+DURATION, such as 40s+2s")
    stall = Stall(_duration(token, start), _duration(token, duration))
    if stall.duration <= 0:
        raise _BadToken(token, "a stall needs a duration above zero")
    return {"stall": stall}


_PARSERS = {
    "tier": _tier, "endpoint": _endpoint, "method": _method, "latency": _latency,
    "error": _error, "status": _status, "stall": _stall,
}  # fmt: skip
