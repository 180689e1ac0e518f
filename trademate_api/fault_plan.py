"""The fault plan as values: rules (selectors and effects), latency distributions, stall windows, and the seeded
random streams the rules draw from.

faults.py parses the `--fault` grammar into these values; fault_injection.py applies them to requests.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

Z_99 = 2.3263478740408408  # the standard normal's 0.99 quantile
DEFAULT_STATUS = 503
DEFAULT_ENDPOINT = "/api/*"


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


def random_stream(seed: int, rule_number: int, effect: str) -> random.Random:
    """The draws of one rule's effect ("latency" or "error"); rules are numbered from 1 in plan order."""
    return random.Random(f"{seed}:{rule_number}:{effect}")
