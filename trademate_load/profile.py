"""Load profiles: one job, how much load each tier gets and for how long, parsed once from YAML.

A profile (``profiles/<name>.yaml``) says how much load each tier gets and for how long; it names an SLA
file (``sla: sla.yaml``, relative to the profile; ``sla_spec.py``) holding per-tier thresholds and optional
per-endpoint overrides. Any defect raises :class:`~trademate_load.config.ConfigError` naming the file, the field
and the bad value, so the command line can print one line and exit 2. Nothing here imports locust.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trademate_load.config import (
    ConfigError,
    choice,
    count,
    flag,
    mapping,
    number,
    parse_duration,
    read_yaml,
    refuse_unknown,
)
from trademate_load.sla_spec import (
    DEFAULT_DECISION_ALPHA,
    DEFAULT_TOLERANCES,
    PLANS_BY_TIER,
    TIERS,
    Sla,
    Tolerance,
    parse_abort_on_fail,
    parse_decision_alpha,
    parse_sla,
    parse_tolerances,
)

LATENCY_BASES = ("corrected", "service")
MODELS = ("closed", "open")
ARRIVALS = ("constant", "poisson")
IN_FLIGHT_HEADROOM_S = 1.0  # default max_in_flight: one second of the tier's arrivals (at least one per user)
DEFAULT_TIMEOUTS_S = {"premium": 1.0, "shared": 2.0}  # client timeout: a slower answer is a failed request
DEFAULT_SYMBOLS = (
    "AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "MA",
    "UNH", "HD", "PG", "JNJ", "XOM", "BAC", "KO", "PEP", "COST", "WMT",
)  # fmt: skip
PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"

DEFAULT_LIVE_WINDOW_S = 30.0


@dataclass(frozen=True)
class TierLoad:
    """How much load one tier gets: users, their summed request rate and the plans they belong to.

    ``max_in_flight`` (open model only) bounds the tier's requests awaiting a response, split evenly over
    its users (each gets ``max_in_flight // users``); an arrival finding its user's share full is dropped.
    ``timeout_s`` bounds each request's connect and each wait for the answer (FastHttpUser's connection and
    network timeouts): a slower answer is a failed request (default premium 1 s, shared 2 s).
    """

    users: int
    rps: float
    plans: dict[str, int]
    max_in_flight: int | None = None
    timeout_s: float = DEFAULT_TIMEOUTS_S["shared"]

    @property
    def period_s(self) -> float:
        """Seconds between two requests of one user (the mean gap when arrivals are Poisson)."""
        return self.users / self.rps

    @property
    def in_flight_per_user(self) -> int:
        """Open model: requests one user may have awaiting a response; closed model: one."""
        return max(1, (self.max_in_flight or self.users) // self.users)


@dataclass(frozen=True)
class Stage:
    """One step of a load shape: for ``duration_s`` seconds run ``users`` per tier."""

    duration_s: float
    users: dict[str, int]


@dataclass(frozen=True)
class Profile:
    """A validated load profile with its SLA."""

    name: str
    run_time_s: float
    warmup_s: float
    spawn_rate: float
    tiers: dict[str, TierLoad]
    sla: Sla
    stages: tuple[Stage, ...] = ()
    latency: str = "corrected"
    model: str = "closed"
    arrivals: str = "constant"
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    strict: bool = False
    baseline_tolerance: dict[str, Tolerance] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    live_window_s: float = DEFAULT_LIVE_WINDOW_S
    abort_on_fail: tuple[str, ...] = ()  # checks that stop the run once decided failed
    stop_when_decided: bool = False  # end the run once every check is decided, pass or fail
    decision_alpha: float = DEFAULT_DECISION_ALPHA  # false-decision rate of those early stops over a whole run
    path: str = ""

    def warmup_for(self, run_time_s: float) -> float:
        """The warm-up actually excluded: never more than a fifth of the run time, so short runs still measure."""
        return min(self.warmup_s, run_time_s / 5)

    def users_at(self, elapsed_s: float) -> dict[str, int] | None:
        """Users per tier at ``elapsed_s`` into the run (stages, else the tiers' users); None once stages end."""
        if not self.stages:
            return {tier: load.users for tier, load in self.tiers.items()}
        end = 0.0
        for stage in self.stages:
            end += stage.duration_s
            if elapsed_s < end:
                return {tier: stage.users.get(tier, 0) for tier in self.tiers}
        return None

    def settings(self) -> dict[str, Any]:
        """The profile as plain values, recorded in run.json so a run directory re-renders alone."""
        return {
            "name": self.name,
            "path": self.path,
            "run_time_s": self.run_time_s,
            "warmup_s": self.warmup_s,
            "spawn_rate": self.spawn_rate,
            "latency": self.latency,
            "model": self.model,
            "arrivals": self.arrivals,
            "tiers": {t: asdict(load) for t, load in self.tiers.items()},
            "stages": [asdict(s) for s in self.stages],
            "symbols": list(self.symbols),
            "strict": self.strict,
            "baseline_tolerance": {name: asdict(t) for name, t in self.baseline_tolerance.items()},
            "live_window_s": self.live_window_s,
            "abort_on_fail": list(self.abort_on_fail),
            "stop_when_decided": self.stop_when_decided,
            "decision_alpha": self.decision_alpha,
        }

    def scheduled_requests(self, tier: str, start_s: float, end_s: float) -> float:
        """Requests ``tier``'s users are scheduled to send from ``start_s`` to ``end_s`` (seconds since the start),
        at the stages' user counts (spawning not counted)."""
        return scheduled_requests(self.tiers[tier], [asdict(s) for s in self.stages], tier, start_s, end_s)


def _parse_tier(tier: str, data: Any, path: Path, model: str) -> TierLoad:
    where = f"tiers.{tier}"
    data = mapping(data, path, where)
    refuse_unknown(data, ["users", "rps", "plans", "max_in_flight", "timeout"], path, f"{where}.")
    users = count(data.get("users"), path, f"{where}.users")
    rps = number(data.get("rps"), path, f"{where}.rps", positive=True)
    max_in_flight = None
    if model == "open":
        default = max(users, math.ceil(rps * IN_FLIGHT_HEADROOM_S))
        max_in_flight = count(data.get("max_in_flight", default), path, f"{where}.max_in_flight")
        if max_in_flight < users:
            raise ConfigError(
                path, f"{where}.max_in_flight", f"must be at least the tier's users ({users}), got {max_in_flight}"
            )
    elif "max_in_flight" in data:
        raise ConfigError(path, f"{where}.max_in_flight", "applies only to model: open (closed users wait for answers)")
    plans_data = data.get("plans")
    if plans_data is None:
        plans_data = {plan: 1 for plan in PLANS_BY_TIER[tier]}
    plans_data = mapping(plans_data, path, f"{where}.plans")
    refuse_unknown(plans_data, list(PLANS_BY_TIER[tier]), path, f"{where}.plans.")
    plans = {plan: count(w, path, f"{where}.plans.{plan}", allow_zero=True) for plan, w in plans_data.items()}
    if not any(plans.values()):
        raise ConfigError(path, f"{where}.plans", "at least one plan needs a weight above 0")
    timeout = parse_duration(data.get("timeout", DEFAULT_TIMEOUTS_S[tier]), path, f"{where}.timeout")
    if timeout <= 0:
        raise ConfigError(path, f"{where}.timeout", f"must be longer than 0 s, got {data.get('timeout')!r}")
    return TierLoad(users=users, rps=rps, plans=plans, max_in_flight=max_in_flight, timeout_s=timeout)


def _parse_stages(data: Any, tiers: dict[str, TierLoad], path: Path) -> tuple[Stage, ...]:
    if data in (None, []):
        return ()
    if not isinstance(data, list):
        raise ConfigError(path, "stages", f"expected a list of stages, got {data!r}")
    stages = []
    for i, raw in enumerate(data):
        where = f"stages[{i}]"
        raw = mapping(raw, path, where)
        refuse_unknown(raw, ["duration", "users"], path, f"{where}.")
        users = mapping(raw.get("users"), path, f"{where}.users")
        for tier, n in users.items():
            if tier not in tiers:
                raise ConfigError(path, f"{where}.users.{tier}", f"not a tier of this profile ({', '.join(tiers)})")
            count(n, path, f"{where}.users.{tier}", allow_zero=True)
        duration = parse_duration(raw.get("duration"), path, f"{where}.duration")
        stages.append(Stage(duration_s=duration, users=dict(users)))
    return tuple(stages)


PROFILE_KEYS = [
    "name", "run_time", "warmup", "spawn_rate", "tiers", "sla", "stages", "latency", "model", "arrivals", "symbols",
    "strict", "baseline_tolerance", "live_window", "abort_on_fail", "stop_when_decided", "decision_alpha",
]  # fmt: skip


def parse_profile(data: dict, path: Path) -> Profile:
    """Validate a profile mapping; its ``sla`` file is read relative to ``path``."""
    refuse_unknown(data, PROFILE_KEYS, path, "")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(path, "name", f"expected a non-empty string, got {name!r}")
    run_time = parse_duration(data.get("run_time"), path, "run_time")
    if run_time <= 0:
        raise ConfigError(path, "run_time", "must be longer than 0 s")
    warmup = parse_duration(data.get("warmup", 0), path, "warmup")
    spawn_rate = number(data.get("spawn_rate", 10), path, "spawn_rate", positive=True)
    tiers_data = mapping(data.get("tiers"), path, "tiers")
    if not tiers_data:
        raise ConfigError(path, "tiers", "at least one tier (shared, premium) is needed")
    refuse_unknown(tiers_data, list(TIERS), path, "tiers.")
    model = choice(data, "model", MODELS, path)
    arrivals = choice(data, "arrivals", ARRIVALS, path)
    tiers = {tier: _parse_tier(tier, value, path, model) for tier, value in tiers_data.items()}
    latency = choice(data, "latency", LATENCY_BASES, path)
    symbols = data.get("symbols", list(DEFAULT_SYMBOLS))
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) and s for s in symbols):
        raise ConfigError(path, "symbols", f"expected a non-empty list of ticker strings, got {symbols!r}")
    strict = flag(data, "strict", path)
    sla_ref = data.get("sla")
    if not isinstance(sla_ref, str) or not sla_ref or "\0" in sla_ref:
        raise ConfigError(path, "sla", f"expected the path of an SLA file such as sla.yaml, got {sla_ref!r}")
    sla_path = (path.parent / sla_ref).resolve() if not Path(sla_ref).is_absolute() else Path(sla_ref)
    sla = parse_sla(read_yaml(sla_path), sla_path)
    live_window = parse_duration(data.get("live_window", DEFAULT_LIVE_WINDOW_S), path, "live_window")
    if live_window <= 0:
        raise ConfigError(path, "live_window", f"must be longer than 0 s, got {data.get('live_window')!r}")
    missing = [tier for tier in tiers if tier not in sla.tiers]
    if missing:
        raise ConfigError(sla_path, f"tiers.{missing[0]}", f"no thresholds for tier {missing[0]!r} used by {path}")
    return Profile(
        name=name,
        run_time_s=run_time,
        warmup_s=warmup,
        spawn_rate=spawn_rate,
        tiers=tiers,
        sla=sla,
        stages=_parse_stages(data.get("stages"), tiers, path),
        latency=latency,
        model=model,
        arrivals=arrivals,
        symbols=tuple(symbols),
        strict=strict,
        baseline_tolerance=parse_tolerances(data.get("baseline_tolerance"), path),
        live_window_s=live_window,
        abort_on_fail=parse_abort_on_fail(data.get("abort_on_fail"), sla, path),
        stop_when_decided=flag(data, "stop_when_decided", path),
        decision_alpha=parse_decision_alpha(data.get("decision_alpha", DEFAULT_DECISION_ALPHA), path),
        path=str(path),
    )


def scheduled_requests(load: TierLoad, stages: list[dict], tier: str, start_s: float, end_s: float) -> float:
    """Requests a tier's users are scheduled to send from ``start_s`` to ``end_s`` seconds after the start: its users
    (or each stage's, as plain ``{duration_s, users}`` values) at one request per period each (spawning not counted)."""
    if not stages:
        return max(end_s - start_s, 0.0) * load.rps
    total, stage_start = 0.0, 0.0
    for stage in stages:
        stage_end = stage_start + stage["duration_s"]
        overlap = min(end_s, stage_end) - max(start_s, stage_start)
        if overlap > 0:
            total += overlap * stage["users"].get(tier, 0) / load.period_s
        stage_start = stage_end
    return total


def resolve_profile_path(ref: str | None, profiles_dir: Path = PROFILES_DIR) -> Path:
    """A profile named ``premium`` lives at ``profiles/premium.yaml``; anything with a slash or .yaml is a path."""
    ref = ref or "premium"
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return Path(ref)
    return profiles_dir / f"{ref}.yaml"


def load_profile(ref: str | None, profiles_dir: Path = PROFILES_DIR) -> Profile:
    """Load and validate a profile by name or path (None: the premium profile)."""
    path = resolve_profile_path(ref, profiles_dir)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in profiles_dir.glob("*.yaml") if p.stem != "sla"))
        raise ConfigError(path, "(file)", f"no such profile (known names: {known})")
    return parse_profile(read_yaml(path), path)
