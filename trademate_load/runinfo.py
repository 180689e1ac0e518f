"""run.json, typed: :class:`RunInfo` says what a run was, and this module alone writes it and reads it back.

The Locust plugin and the SLA probe build a :class:`RunInfo`; :func:`write_run_json` writes it (``"in_progress":
true`` while the run lasts) and :func:`read_run_json` reads one back, refusing a damaged file with a
:class:`~trademate_load.profile.ConfigError` naming the file and the field. The file's format is
docs/contracts.md's ``run.json``: one key per field, in the field order below, plus any key this version does not
know (kept as it was). An older run directory's run.json loads too: a field it lacks takes its default here, the
one place the defaults live (the latency basis: the profile's own default, ``corrected``).

The readers (the run directory's judgement, the charts, the HTML page, the scalability analysis) take their values
from :meth:`RunInfo.view`, which accepts a run.json as plain values, complete or not, and never fails. Nothing
here imports locust.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trademate_load.config import ConfigError
from trademate_load.profile import Profile, TierLoad

DEFAULT_LATENCY_BASIS: str = next(f.default for f in fields(Profile) if f.name == "latency")


@dataclass
class RunInfo:
    """What a run was, against what, when, and every setting its reports are judged by (run.json)."""

    run_id: str = ""
    profile: str = ""
    profile_path: str | None = None
    label: str = ""  # RUN_LABEL / --label: the build under test (docs/history.md)
    host: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    started_ts: float | None = None
    ended_ts: float | None = None
    warmup_s: float = 0.0
    planned_run_time_s: float | None = None
    interrupted: bool | None = None
    exit_code: int | None = None
    samples: int = 0
    dropped: dict[str, list] = field(default_factory=dict)  # open-model drops per tier, per second
    workers: list[dict[str, Any]] = field(default_factory=list)  # workers.WorkerRecord.as_dict
    latency_basis: str = DEFAULT_LATENCY_BASIS
    versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # Profile.settings()
    sla: dict[str, dict[str, Any]] = field(default_factory=dict)  # per tier, its TierSla as plain values
    sla_endpoints: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    baseline: str | None = None
    baseline_summary: dict[str, Any] | None = None
    aborted: dict[str, Any] | None = None
    decided: dict[str, Any] | None = None
    generator: dict[str, Any] | None = None  # health.COLUMNS and each process's rows and loop lag
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know (``in_progress``)

    # --- the settings, as the readers want them ----------------------------------------------------------------
    @property
    def tiers(self) -> dict[str, dict[str, Any]]:
        """Each tier's load as run.json holds it (``settings.tiers``)."""
        return self.settings.get("tiers") or {}

    def tier_loads(self) -> dict[str, TierLoad]:
        return {tier: TierLoad(**load) for tier, load in self.tiers.items()}

    def tier_settings(self, tier: str) -> dict[str, Any]:
        return self.tiers.get(tier) or {}

    def tier_sla(self, tier: str) -> dict[str, Any]:
        return self.sla.get(tier) or {}

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.settings.get("stages") or []

    @property
    def strict(self) -> bool:
        return bool(self.settings.get("strict", False))

    @property
    def unpaced(self) -> bool:
        """A probe's run: no schedule, uptime judges the requests sent."""
        return bool(self.settings.get("unpaced"))

    # --- plain values ------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """run.json's plain values, in the file's key order."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**data, **self.extra}

    @classmethod
    def view(cls, run: RunInfo | Mapping[str, Any]) -> RunInfo:
        """``run`` (a RunInfo, or run.json's plain values, however sparse) as a RunInfo: a missing or null field
        takes its default; nothing is checked."""
        if isinstance(run, RunInfo):
            return run
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {name: run[name] for name in known if run.get(name) is not None}
        if "latency_basis" not in values and isinstance(run.get("settings"), Mapping):
            values["latency_basis"] = run["settings"].get("latency") or DEFAULT_LATENCY_BASIS
        return cls(**values, extra={key: value for key, value in run.items() if key not in known})


def as_json(run: RunInfo | Mapping[str, Any]) -> dict[str, Any]:
    """run.json's plain values of ``run``, with every field (its default when ``run`` lacks it)."""
    return RunInfo.view(run).to_json()


# --- the file --------------------------------------------------------------------------------------------------
NUMBER, TEXT, OBJECT, LIST, FLAG = (int, float), (str,), (dict,), (list,), (bool,)
REQUIRED = {"started_ts": NUMBER, "settings": OBJECT, "sla": OBJECT}  # nothing to judge without them
OPTIONAL = {
    "run_id": TEXT,
    "profile": TEXT,
    "profile_path": TEXT,
    "label": TEXT,
    "host": TEXT,
    "started_at": TEXT,
    "ended_at": TEXT,
    "ended_ts": NUMBER,
    "warmup_s": NUMBER,
    "planned_run_time_s": NUMBER,
    "interrupted": FLAG,
    "exit_code": NUMBER,
    "samples": NUMBER,
    "dropped": OBJECT,
    "workers": LIST,
    "latency_basis": TEXT,
    "versions": OBJECT,
    "sla_endpoints": OBJECT,
    "baseline": TEXT,
    "baseline_summary": OBJECT,
    "aborted": OBJECT,
    "decided": OBJECT,
    "generator": OBJECT,
}
KINDS = {NUMBER: "a number", TEXT: "a string", OBJECT: "an object", LIST: "a list", FLAG: "true or false"}


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """``data`` as indented JSON, written whole (through a temporary file) or not at all."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_run_json(path: Path, run: RunInfo | Mapping[str, Any], in_progress: bool = False) -> None:
    """Write run.json; ``in_progress`` while the run lasts (so even an interrupted run has one)."""
    data = as_json(run)
    write_json(path, {**data, "in_progress": True} if in_progress else data)


def read_run_json(path: Path) -> RunInfo:
    """run.json of a run directory; ConfigError names the file and the field a damaged one got wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(path, "(file)", f"not valid JSON: {exc}") from None
    return parse_run_json(data, path)


def parse_run_json(data: Any, path: Path | str = "run.json") -> RunInfo:
    """Check run.json's plain values (``path`` names them in an error) and type them."""
    if not isinstance(data, dict):
        raise ConfigError(path, "(file)", "expected a JSON object")
    for name in REQUIRED:
        if name not in data:
            raise ConfigError(path, name, "missing")
    for name, kind in {**REQUIRED, **OPTIONAL}.items():
        value = data.get(name)
        wrong = not isinstance(value, kind) or (kind is NUMBER and isinstance(value, bool))
        if (name in REQUIRED or value is not None) and wrong:
            raise ConfigError(path, name, f"expected {KINDS[kind]}, got {json.dumps(value)[:60]}")
    tiers = data["settings"].get("tiers", {})
    if not isinstance(tiers, dict) or not all(isinstance(load, dict) for load in tiers.values()):
        raise ConfigError(path, "settings.tiers", "expected an object of tiers, each an object")
    for tier, load in tiers.items():
        try:
            TierLoad(**load)
        except TypeError as exc:
            raise ConfigError(path, f"settings.tiers.{tier}", str(exc)) from None
    return RunInfo.view(data)
