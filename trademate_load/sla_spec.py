"""The SLA specification: one job, what a run is judged against, parsed once from YAML.

An SLA file (``sla.yaml``) holds per-tier thresholds and optional per-endpoint overrides; ``parse_sla`` validates
one into an :class:`Sla`. The profile's judgement settings are parsed here too: how much worse than a baseline each
figure may get (``baseline_tolerance``), which SLA checks stop the run once decided failed (``abort_on_fail``)
and the false-decision rate of those early stops (``decision_alpha``). The tiers and their plans, the SLA metrics
and their operators are named here. Any defect raises :class:`~trademate_load.config.ConfigError`. Nothing here
imports locust.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trademate_load.config import ConfigError, mapping, number, parse_duration, refuse_unknown

PLANS_BY_TIER: dict[str, tuple[str, ...]] = {"shared": ("LITE", "PRO"), "premium": ("ELITE", "BLACK")}
TIERS = tuple(PLANS_BY_TIER)

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


def parse_sla(data: dict, path: str | Path) -> Sla:
    """Validate an SLA mapping (the content of sla.yaml)."""
    refuse_unknown(data, ["tiers", "endpoints"], path, "")
    tiers_data = mapping(data.get("tiers"), path, "tiers")
    tiers: dict[str, TierSla] = {}
    for tier, limits in tiers_data.items():
        refuse_unknown({tier: 0}, list(TIERS), path, "tiers.")
        limits = mapping(limits, path, f"tiers.{tier}")
        refuse_unknown(limits, [*SLA_METRICS, "window"], path, f"tiers.{tier}.")
        values = {
            metric: None if v is None else number(v, path, f"tiers.{tier}.{metric}", ratio=metric in RATIO_METRICS)
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
    for tier, per_endpoint in mapping({} if endpoints_data is None else endpoints_data, path, "endpoints").items():
        refuse_unknown({tier: 0}, list(TIERS), path, "endpoints.")
        for endpoint, limits in mapping(per_endpoint, path, f"endpoints.{tier}").items():
            where = f"endpoints.{tier}.{endpoint}"
            limits = mapping(limits, path, where)
            refuse_unknown(limits, list(ENDPOINT_METRICS), path, f"{where}.")
            endpoints.setdefault(tier, {})[str(endpoint)] = {
                m: number(v, path, f"{where}.{m}", ratio=m in RATIO_METRICS) for m, v in limits.items()
            }
    return Sla(tiers=tiers, endpoints=endpoints, path=str(path))


def parse_tolerances(data: Any, path: Path) -> dict[str, Tolerance]:
    """A profile's ``baseline_tolerance`` (None: the defaults)."""
    if data is None:
        return dict(DEFAULT_TOLERANCES)
    tolerances = {}
    for name, limits in mapping(data, path, "baseline_tolerance").items():
        refuse_unknown({name: 0}, list(BASELINE_FIGURES), path, "baseline_tolerance.")
        where = f"baseline_tolerance.{name}"
        limits = mapping(limits, path, where)
        refuse_unknown(limits, ["pct", "abs"], path, f"{where}.")
        if not limits:
            raise ConfigError(path, where, "give pct, abs or both")
        tolerances[name] = Tolerance(**{k: number(v, path, f"{where}.{k}") for k, v in limits.items()})
    return tolerances


def parse_abort_on_fail(data: Any, sla: Sla, path: Path) -> tuple[str, ...]:
    """``abort_on_fail: {p95_ms: true, uptime: true, compliance: false}`` -> the checks switched on."""
    if data is None:
        return ()
    checks = []
    for check, value in mapping(data, path, "abort_on_fail").items():
        where = f"abort_on_fail.{check}"
        if check in RETIRED_ABORT_CHECKS:
            raise ConfigError(
                path,
                where,
                f"retired: use abort_on_fail.{RETIRED_ABORT_CHECKS[check]} (the same failures, tested sequentially)",
            )
        refuse_unknown({check: 0}, list(ABORT_CHECKS), path, "abort_on_fail.")
        if not isinstance(value, bool):
            grace = " (a check stops the run once it is decided failed, not after a grace period)" if value else ""
            raise ConfigError(path, where, f"expected true or false, got {value!r}{grace}")
        if value and all(getattr(limits, check) is None for limits in sla.tiers.values()):
            raise ConfigError(path, where, f"no tier of {sla.path} sets {check}: nothing to check")
        if value:
            checks.append(check)
    return tuple(checks)


def parse_decision_alpha(value: Any, path: Path) -> float:
    """A profile's ``decision_alpha``: a false-decision rate above 0 and below 0.5."""
    alpha = number(value, path, "decision_alpha", positive=True, ratio=True)
    if alpha >= 0.5:
        raise ConfigError(path, "decision_alpha", f"a false-decision rate below 0.5 such as 0.05, got {value!r}")
    return alpha
