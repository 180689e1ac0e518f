"""Load profiles and SLA files: parsed once from YAML into typed, validated objects.

A profile (``profiles/<name>.yaml``) says how much load each tier gets and for how long; it names an SLA
file (``sla: sla.yaml``, relative to the profile) holding per-tier thresholds and optional per-endpoint
overrides. Any defect raises :class:`ConfigError` naming the file, the field and the bad value, so the
command line can print one line and exit 2. Nothing here imports locust.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

PLANS_BY_TIER: dict[str, tuple[str, ...]] = {"shared": ("LITE", "PRO"), "premium": ("ELITE", "BLACK")}
TIERS = tuple(PLANS_BY_TIER)
LATENCY_BASES = ("corrected", "service")
MODELS = ("closed", "open")
ARRIVALS = ("constant", "poisson")
IN_FLIGHT_HEADROOM_S = 1.0  # default max_in_flight: one second of the tier's arrivals (at least one per user)
DEFAULT_TIMEOUTS_S = {"premium": 1.0, "shared": 2.0}  # client timeout: a slower answer is a failed request
DEFAULT_SYMBOLS = (
    "AAPL",
    "MSFT",
    "GOOGL",
    "AMZN",
    "NVDA",
    "META",
    "TSLA",
    "JPM",
    "V",
    "MA",
    "UNH",
    "HD",
    "PG",
    "JNJ",
    "XOM",
    "BAC",
    "KO",
    "PEP",
    "COST",
    "WMT",
)
PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"

# SLA metric -> (operator, meaning). The operator says how the actual figure must compare with the limit.
SLA_METRICS: dict[str, str] = {
    "p95_ms": "<",
    "p99_ms": "<",
    "mean_ms": "<",
    "db_ms": "<",
    "success_rate": ">=",
    "compliance": ">=",
    "error_rate": "<",
    "cache_hit_rate": ">=",
    "uptime": ">=",
}
RATIO_METRICS = ("success_rate", "compliance", "error_rate", "cache_hit_rate", "uptime")
ENDPOINT_METRICS = ("p95_ms", "p99_ms", "mean_ms", "success_rate")
DEFAULT_UPTIME_WINDOW_S = 5.0  # uptime windows when the SLA file names none (docs/verdict.md, "Uptime")
# abort_on_fail checks: each stops the run once it is decided failed (trademate_load.decisions), and needs its
# SLA metric set for at least one tier.
ABORT_CHECKS = ("p95_ms", "p99_ms", "mean_ms", "success_rate", "compliance", "uptime")
RETIRED_ABORT_CHECKS = {"error_budget": "success_rate"}  # the same failures, now tested sequentially
DEFAULT_DECISION_ALPHA = 0.05
DEFAULT_LIVE_WINDOW_S = 30.0

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


BASELINE_FIGURES = ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "success_rate", "rps")  # baseline_tolerance's keys


@dataclass(frozen=True)
class Tolerance:
    """How much worse a figure may get: by more than ``pct`` percent AND more than ``abs`` units is a regression."""

    pct: float | None = None
    abs: float | None = None

    def exceeded(self, baseline: float, current: float, higher_is_worse: bool) -> bool:
        worse_by = current - baseline if higher_is_worse else baseline - current
        if worse_by <= 0:
            return False
        over_pct = self.pct is None or baseline == 0 or worse_by / abs(baseline) * 100 > self.pct
        over_abs = self.abs is None or worse_by > self.abs
        return over_pct and over_abs


DEFAULT_TOLERANCES = {"p95_ms": Tolerance(pct=20.0, abs=2.0)}


class ConfigError(ValueError):
    """A defect in a profile, SLA or credentials file: names the file, the field and what is wrong."""

    def __init__(self, path: str | Path, field_name: str, message: str):
        self.path, self.field, self.message = str(path), _one_line(field_name), _one_line(message)
        super().__init__(f"{_one_line(self.path)}: {self.field}: {self.message}")


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped, so an error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


@dataclass(frozen=True)
class TierSla:
    """Thresholds of one tier; a metric set to None is not checked."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    db_ms: float | None = None
    success_rate: float | None = None
    compliance: float | None = None
    error_rate: float | None = None
    cache_hit_rate: float | None = None
    uptime: float | None = None
    window: float | None = None  # seconds per uptime window (None: DEFAULT_UPTIME_WINDOW_S)

    @property
    def window_s(self) -> float:
        return self.window if self.window is not None else DEFAULT_UPTIME_WINDOW_S


@dataclass(frozen=True)
class Sla:
    """Per-tier thresholds plus per-endpoint overrides ``{tier: {endpoint: {metric: limit}}}``."""

    tiers: dict[str, TierSla]
    endpoints: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"tiers": {t: asdict(s) for t, s in self.tiers.items()}, "endpoints": self.endpoints}


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


def parse_duration(value: Any, path: str | Path, field_name: str) -> float:
    """``30``, ``30s``, ``5m``, ``1h30m``, ``250ms`` -> seconds."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(path, field_name, f"expected a duration such as 30s or 5m, got {value!r}")
    if isinstance(value, int | float):
        seconds = value
    else:
        match = _DURATION.match(str(value).strip())
        if not match or not any(match.groups()):
            raise ConfigError(path, field_name, f"expected a duration such as 30s, 5m or 1h30m, got {value!r}")
        h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s + ms / 1000
    if not _finite(seconds):
        raise ConfigError(path, field_name, f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ConfigError(path, field_name, f"must not be negative, got {value!r}")
    return float(seconds)


def _finite(value: float) -> bool:
    """True unless ``value`` is nan, infinite, or an int too large for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _mapping(value: Any, path: str | Path, field_name: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(path, field_name, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _refuse_unknown(data: dict, allowed: tuple[str, ...] | list[str], path: str | Path, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(allowed)}"
            shown = key if isinstance(key, str) and key and key == key.strip() else repr(key)  # '' or ' x' visible
            raise ConfigError(path, f"{prefix}{shown}", f"unknown key{hint}")


def _number(value: Any, path: str | Path, field_name: str, *, positive: bool = False, ratio: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, field_name, f"expected a number, got {value!r}")
    if not _finite(value):
        raise ConfigError(path, field_name, f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(path, field_name, f"must be greater than 0, got {value!r}")
    if value < 0:
        raise ConfigError(path, field_name, f"must not be negative, got {value!r}")
    if ratio and value > 1:
        raise ConfigError(path, field_name, f"is a ratio between 0 and 1, got {value!r}")
    return float(value)


def _count(value: Any, path: str | Path, field_name: str, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        least = "a whole number >= 0" if allow_zero else "a whole number >= 1"
        raise ConfigError(path, field_name, f"expected {least}, got {value!r}")
    return value


def _choice(data: dict, key: str, allowed: tuple[str, ...], path: str | Path) -> str:
    """``data[key]`` (default: the first of ``allowed``), refused unless it is one of ``allowed``."""
    value = data.get(key, allowed[0])
    if value not in allowed:
        raise ConfigError(path, key, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping or raise ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, "(file)", f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
        raise ConfigError(path, where, f"not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(path, "(file)", "not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # PyYAML building a bad tag such as `!!int x`
        raise ConfigError(path, "(file)", f"not valid YAML: a tagged value cannot be built ({exc})") from None
    if data is None:
        raise ConfigError(path, "(file)", "the file is empty (expected a YAML mapping)")
    if not isinstance(data, dict):
        raise ConfigError(path, "(file)", f"expected a YAML mapping at the top, got {type(data).__name__}")
    return data


def parse_sla(data: dict, path: str | Path) -> Sla:
    """Validate an SLA mapping (the content of sla.yaml)."""
    _refuse_unknown(data, ["tiers", "endpoints"], path, "")
    tiers_data = _mapping(data.get("tiers"), path, "tiers")
    tiers: dict[str, TierSla] = {}
    for tier, limits in tiers_data.items():
        _refuse_unknown({tier: 0}, list(TIERS), path, "tiers.")
        limits = _mapping(limits, path, f"tiers.{tier}")
        _refuse_unknown(limits, [*SLA_METRICS, "window"], path, f"tiers.{tier}.")
        values = {
            metric: None if v is None else _number(v, path, f"tiers.{tier}.{metric}", ratio=metric in RATIO_METRICS)
            for metric, v in limits.items()
            if metric != "window"
        }
        if limits.get("window") is not None:
            values["window"] = parse_duration(limits["window"], path, f"tiers.{tier}.window")
            if values["window"] <= 0:
                raise ConfigError(path, f"tiers.{tier}.window", f"must be longer than 0 s, got {limits['window']!r}")
        tiers[tier] = TierSla(**values)
    endpoints: dict[str, dict[str, dict[str, float]]] = {}
    endpoints_data = data.get("endpoints")
    for tier, per_endpoint in _mapping({} if endpoints_data is None else endpoints_data, path, "endpoints").items():
        _refuse_unknown({tier: 0}, list(TIERS), path, "endpoints.")
        for endpoint, limits in _mapping(per_endpoint, path, f"endpoints.{tier}").items():
            where = f"endpoints.{tier}.{endpoint}"
            limits = _mapping(limits, path, where)
            _refuse_unknown(limits, list(ENDPOINT_METRICS), path, f"{where}.")
            endpoints.setdefault(tier, {})[str(endpoint)] = {
                m: _number(v, path, f"{where}.{m}", ratio=m in RATIO_METRICS) for m, v in limits.items()
            }
    return Sla(tiers=tiers, endpoints=endpoints, path=str(path))


def _parse_tier(tier: str, data: Any, path: Path, model: str) -> TierLoad:
    where = f"tiers.{tier}"
    data = _mapping(data, path, where)
    _refuse_unknown(data, ["users", "rps", "plans", "max_in_flight", "timeout"], path, f"{where}.")
    users = _count(data.get("users"), path, f"{where}.users")
    rps = _number(data.get("rps"), path, f"{where}.rps", positive=True)
    max_in_flight = None
    if model == "open":
        default = max(users, math.ceil(rps * IN_FLIGHT_HEADROOM_S))
        max_in_flight = _count(data.get("max_in_flight", default), path, f"{where}.max_in_flight")
        if max_in_flight < users:
            raise ConfigError(
                path, f"{where}.max_in_flight", f"must be at least the tier's users ({users}), got {max_in_flight}"
            )
    elif "max_in_flight" in data:
        raise ConfigError(path, f"{where}.max_in_flight", "applies only to model: open (closed users wait for answers)")
    plans_data = data.get("plans")
    if plans_data is None:
        plans_data = {plan: 1 for plan in PLANS_BY_TIER[tier]}
    plans_data = _mapping(plans_data, path, f"{where}.plans")
    _refuse_unknown(plans_data, list(PLANS_BY_TIER[tier]), path, f"{where}.plans.")
    plans = {plan: _count(w, path, f"{where}.plans.{plan}", allow_zero=True) for plan, w in plans_data.items()}
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
        raw = _mapping(raw, path, where)
        _refuse_unknown(raw, ["duration", "users"], path, f"{where}.")
        users = _mapping(raw.get("users"), path, f"{where}.users")
        for tier, n in users.items():
            if tier not in tiers:
                raise ConfigError(path, f"{where}.users.{tier}", f"not a tier of this profile ({', '.join(tiers)})")
            _count(n, path, f"{where}.users.{tier}", allow_zero=True)
        duration = parse_duration(raw.get("duration"), path, f"{where}.duration")
        stages.append(Stage(duration_s=duration, users=dict(users)))
    return tuple(stages)


PROFILE_KEYS = [
    "name", "run_time", "warmup", "spawn_rate", "tiers", "sla", "stages", "latency", "model", "arrivals", "symbols",
    "strict", "baseline_tolerance", "live_window", "abort_on_fail", "stop_when_decided", "decision_alpha",
]  # fmt: skip


def _parse_tolerances(data: Any, path: Path) -> dict[str, Tolerance]:
    if data is None:
        return dict(DEFAULT_TOLERANCES)
    tolerances = {}
    for name, limits in _mapping(data, path, "baseline_tolerance").items():
        _refuse_unknown({name: 0}, list(BASELINE_FIGURES), path, "baseline_tolerance.")
        where = f"baseline_tolerance.{name}"
        limits = _mapping(limits, path, where)
        _refuse_unknown(limits, ["pct", "abs"], path, f"{where}.")
        if not limits:
            raise ConfigError(path, where, "give pct, abs or both")
        tolerances[name] = Tolerance(**{k: _number(v, path, f"{where}.{k}") for k, v in limits.items()})
    return tolerances


def _parse_abort(data: Any, sla: Sla, path: Path) -> tuple[str, ...]:
    """``abort_on_fail: {p95_ms: true, uptime: true, compliance: false}`` -> the checks switched on."""
    if data is None:
        return ()
    checks = []
    for check, value in _mapping(data, path, "abort_on_fail").items():
        where = f"abort_on_fail.{check}"
        if check in RETIRED_ABORT_CHECKS:
            raise ConfigError(
                path,
                where,
                f"retired: use abort_on_fail.{RETIRED_ABORT_CHECKS[check]} (the same failures, tested sequentially)",
            )
        _refuse_unknown({check: 0}, list(ABORT_CHECKS), path, "abort_on_fail.")
        if not isinstance(value, bool):
            grace = " (a check stops the run once it is decided failed, not after a grace period)" if value else ""
            raise ConfigError(path, where, f"expected true or false, got {value!r}{grace}")
        if value and all(getattr(limits, check) is None for limits in sla.tiers.values()):
            raise ConfigError(path, where, f"no tier of {sla.path} sets {check}: nothing to check")
        if value:
            checks.append(check)
    return tuple(checks)


def _flag(data: dict, key: str, path: Path) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(path, key, f"expected true or false, got {value!r}")
    return value


def parse_profile(data: dict, path: Path) -> Profile:
    """Validate a profile mapping; its ``sla`` file is read relative to ``path``."""
    _refuse_unknown(data, PROFILE_KEYS, path, "")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(path, "name", f"expected a non-empty string, got {name!r}")
    run_time = parse_duration(data.get("run_time"), path, "run_time")
    if run_time <= 0:
        raise ConfigError(path, "run_time", "must be longer than 0 s")
    warmup = parse_duration(data.get("warmup", 0), path, "warmup")
    spawn_rate = _number(data.get("spawn_rate", 10), path, "spawn_rate", positive=True)
    tiers_data = _mapping(data.get("tiers"), path, "tiers")
    if not tiers_data:
        raise ConfigError(path, "tiers", "at least one tier (shared, premium) is needed")
    _refuse_unknown(tiers_data, list(TIERS), path, "tiers.")
    model = _choice(data, "model", MODELS, path)
    arrivals = _choice(data, "arrivals", ARRIVALS, path)
    tiers = {tier: _parse_tier(tier, value, path, model) for tier, value in tiers_data.items()}
    latency = _choice(data, "latency", LATENCY_BASES, path)
    symbols = data.get("symbols", list(DEFAULT_SYMBOLS))
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) and s for s in symbols):
        raise ConfigError(path, "symbols", f"expected a non-empty list of ticker strings, got {symbols!r}")
    strict = _flag(data, "strict", path)
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
        baseline_tolerance=_parse_tolerances(data.get("baseline_tolerance"), path),
        live_window_s=live_window,
        abort_on_fail=_parse_abort(data.get("abort_on_fail"), sla, path),
        stop_when_decided=_flag(data, "stop_when_decided", path),
        decision_alpha=_alpha(data.get("decision_alpha", DEFAULT_DECISION_ALPHA), path),
        path=str(path),
    )


def _alpha(value: Any, path: Path) -> float:
    alpha = _number(value, path, "decision_alpha", positive=True, ratio=True)
    if alpha >= 0.5:
        raise ConfigError(path, "decision_alpha", f"a false-decision rate below 0.5 such as 0.05, got {value!r}")
    return alpha


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
