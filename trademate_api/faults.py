"""Fault injection for testing the load suite: rules parsed once at start-up, applied by one pure ASGI middleware.

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

import asyncio
import json
import logging
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from time import monotonic_ns

from starlette.routing import Match

from .deadlines import deadlines_for
from .monitor import NO_TIER, RECORD_KEY
from .settings import TIERS

FLAG = "--fault"
ENV_RULES = "TRADEMATE_FAULTS"
ENV_SEED = "TRADEMATE_FAULT_SEED"
Z_99 = 2.3263478740408408  # the standard normal's 0.99 quantile
DEFAULT_STATUS = 503
DEFAULT_ENDPOINT = "/api/*"
KEYS = ("tier", "endpoint", "method", "latency", "error", "status", "stall")
DISTRIBUTIONS = {"fixed": ("delay",), "uniform": ("low", "high"), "lognormal": ("median", "p99")}
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(us|ms|s)")
CALL = re.compile(r"([a-z]+)\((.*)\)")
log = logging.getLogger(__name__)


class FaultSpecError(ValueError):
    """A rule that does not parse: the message is one line naming the flag or variable and the bad token."""


class _BadToken(Exception):
    def __init__(self, token: str, reason: str) -> None:
        super().__init__(token, reason)
        self.token, self.reason = token, reason


@dataclass(frozen=True, slots=True)
class Fixed:
    delay: float  # seconds

    def sample(self, _rng: random.Random) -> float:
        return self.delay

    def __str__(self) -> str:
        return f"fixed({format_duration(self.delay)})"


@dataclass(frozen=True, slots=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"uniform({format_duration(self.low)},{format_duration(self.high)})"


@dataclass(frozen=True, slots=True)
class Lognormal:
    """ln(delay) is normal with mean ln(median) and sd ln(p99 / median) / z_0.99."""

    median: float
    p99: float
    mu: float = field(init=False, repr=False)
    sigma: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", math.log(self.median))
        object.__setattr__(self, "sigma", math.log(self.p99 / self.median) / Z_99)

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    def __str__(self) -> str:
        return f"lognormal(median={format_duration(self.median)},p99={format_duration(self.p99)})"


Latency = Fixed | Uniform | Lognormal


@dataclass(frozen=True, slots=True)
class Stall:
    start: float  # seconds after start-up
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration

    def __str__(self) -> str:
        return f"{format_duration(self.start)}+{format_duration(self.duration)}"


@dataclass(frozen=True, slots=True)
class FaultRule:
    """Which requests (tier, endpoint, method) get which faults (latency, error, stall)."""

    source: str  # the flag or variable it came from
    tier: str | None = None
    endpoint: str = DEFAULT_ENDPOINT
    method: str | None = None
    latency: Latency | None = None
    error_rate: float = 0.0
    error_status: int = DEFAULT_STATUS
    stall: Stall | None = None
    path_pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path_pattern", endpoint_pattern(self.endpoint))

    def selects(self, tier: str, method: str, path: str) -> bool:
        return (
            (self.tier is None or self.tier == tier)
            and (self.method is None or self.method == method)
            and self.path_pattern.fullmatch(path) is not None
        )

    def __str__(self) -> str:
        items = [f"tier={self.tier}"] if self.tier else []
        items.append(f"endpoint={self.endpoint}")
        items += [f"method={self.method}"] if self.method else []
        items += [f"latency={self.latency}"] if self.latency else []
        items += [f"error={self.error_rate:g} status={self.error_status}"] if self.error_rate else []
        items += [f"stall={self.stall}"] if self.stall else []
        return " ".join(items)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Every rule in force, in order (TRADEMATE_FAULTS first, then each --fault), and the seed of their draws."""

    rules: tuple[FaultRule, ...]
    seed: int


def format_duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if seconds >= scale:
            return f"{seconds / scale:g}{unit}"
    return f"{seconds / 1e-6:g}us" if seconds else "0ms"


def endpoint_pattern(endpoint: str) -> re.Pattern:
    """`/a/{x}/b` matches one segment for `{x}`; a trailing `*` matches any rest of the path."""
    prefix = endpoint.endswith("*")
    parts = re.split(r"(\{[A-Za-z_]\w*\})", endpoint.removesuffix("*"))
    body = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(body + (".*" if prefix else ""))


# -- parsing: text -> FaultRule ---------------------------------------------------------------------------------------


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


# -- applying: FaultPlan -> what happens to one request ---------------------------------------------------------------


def random_stream(seed: int, rule_number: int, effect: str) -> random.Random:
    """The draws of one rule's effect ("latency" or "error"); rules are numbered from 1 in plan order."""
    return random.Random(f"{seed}:{rule_number}:{effect}")


@dataclass(slots=True)
class _ArmedRule:
    number: int
    rule: FaultRule
    latency_draws: random.Random
    error_draws: random.Random


class FaultInjector:
    """A plan armed for one app: its random streams, the clock origin of stall windows, and the deadline timer."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.origin_ns = monotonic_ns()
        self._rules = tuple(
            _ArmedRule(n, rule, random_stream(plan.seed, n, "latency"), random_stream(plan.seed, n, "error"))
            for n, rule in enumerate(plan.rules, start=1)
        )
        self._deadlines = None

    def log_rules(self) -> None:
        log.warning("fault injection on: %d rule(s), seed %d; stall windows count from now", len(self._rules),
                    self.plan.seed)  # fmt: skip
        for armed in self._rules:
            log.warning("fault rule %d (%s): %s", armed.number, armed.rule.source, armed.rule)

    def decide(self, tier: str, method: str, path: str, arrived_ns: int) -> tuple[int, int, int]:
        """(release time in ns, error status or 0, number of the rule that drew the error or 0)."""
        release_ns, delay, status, number = arrived_ns, 0.0, 0, 0
        since = (arrived_ns - self.origin_ns) / 1e9
        for armed in self._rules:
            rule = armed.rule
            if not rule.selects(tier, method, path):
                continue
            if rule.stall is not None and rule.stall.start <= since < rule.stall.end:
                release_ns = max(release_ns, self.origin_ns + round(rule.stall.end * 1e9))
            if rule.latency is not None:
                delay += rule.latency.sample(armed.latency_draws)
            if rule.error_rate and armed.error_draws.random() < rule.error_rate and not status:
                status, number = rule.error_status, armed.number
        return release_ns + round(delay * 1e9), status, number

    async def hold_until(self, release_ns: int) -> None:
        if release_ns <= monotonic_ns():
            return
        loop = asyncio.get_running_loop()
        if self._deadlines is None or self._deadlines.loop is not loop:
            self._deadlines = deadlines_for(loop)
        await self._deadlines.wait_until(release_ns)

    def close(self) -> None:
        if self._deadlines is not None:
            self._deadlines.close()
            self._deadlines = None


class FaultMiddleware:
    """Inside auth (the tier is known) and inside MonitorMiddleware (faults show in Server-Timing and metrics)."""

    def __init__(self, app, injector: FaultInjector, routes: Iterable = ()) -> None:
        self.app = app
        self.injector = injector
        self.routes = routes  # to label injected errors with their route template, as the router would

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            try:
                await self.app(scope, receive, send)
            finally:
                if scope["type"] == "lifespan":
                    self.injector.close()
            return
        arrived_ns = monotonic_ns()
        record = scope.get(RECORD_KEY)
        tier = record.tier if record is not None else NO_TIER
        release_ns, status, number = self.injector.decide(tier, scope["method"], scope["path"], arrived_ns)
        if release_ns > arrived_ns:
            await self.injector.hold_until(release_ns)
        if not status:
            await self.app(scope, receive, send)
            return
        _label_route(scope, self.routes)
        await _injected_error(send, status, number)


def install(app, plan: FaultPlan) -> FaultInjector:
    """Add the fault middleware to `app`; call it before adding AuthMiddleware, so that it runs inside auth."""
    injector = FaultInjector(plan)
    injector.log_rules()
    app.add_middleware(FaultMiddleware, injector=injector, routes=app.router.routes)
    return injector


def _label_route(scope, routes: Iterable) -> None:
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            scope["route"] = child_scope.get("route", route)
            return


async def _injected_error(send, status: int, rule_number: int) -> None:
    body = json.dumps({"detail": f"injected fault (rule {rule_number})"}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
