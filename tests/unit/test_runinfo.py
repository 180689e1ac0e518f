"""run.json is written and read back in one place: the same keys both ways, defaults for an older file's missing
fields, and a damaged one refused naming the file and the field."""

from __future__ import annotations

import json

import pytest

from trademate_load.config import ConfigError
from trademate_load.runinfo import DEFAULT_LATENCY_BASIS, RunInfo, read_run_json, write_run_json

SETTINGS = {"latency": "service", "tiers": {"premium": {"users": 4, "rps": 2.0, "plans": {"pro": 1}}}}


def test_run_json_round_trips_with_its_keys_in_order_and_unknown_keys_kept(tmp_path):
    info = RunInfo(run_id="r1", profile="premium", started_ts=10.0, ended_ts=40.0, settings=SETTINGS, sla={})
    path = tmp_path / "run.json"
    write_run_json(path, info, in_progress=True)
    data = json.loads(path.read_text())
    assert list(data)[:3] == ["run_id", "profile", "profile_path"] and data["in_progress"] is True
    assert "extra" not in data
    again = read_run_json(path)
    assert again.to_json() == data and again.extra == {"in_progress": True}


def test_an_older_run_json_loads_with_the_defaults(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"started_ts": 1.0, "ended_ts": 2.0, "settings": {"tiers": {}}, "sla": {}}))
    info = read_run_json(path)
    assert info.latency_basis == DEFAULT_LATENCY_BASIS == "corrected"
    assert (info.workers, info.dropped, info.sla_endpoints, info.warmup_s) == ([], {}, {}, 0.0)


def test_the_latency_basis_falls_back_to_the_profile_settings_then_the_default():
    assert RunInfo.view({"settings": SETTINGS}).latency_basis == "service"
    assert RunInfo.view({}).latency_basis == "corrected"
    assert RunInfo.view({"latency_basis": "service", "settings": {"latency": "corrected"}}).latency_basis == "service"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "(file)"),
        ({"settings": {}, "sla": {}}, "started_ts"),
        ({"started_ts": "soon", "settings": {}, "sla": {}}, "started_ts"),
        ({"started_ts": 1.0, "settings": {}, "sla": {}, "workers": {}}, "workers"),
        ({"started_ts": 1.0, "settings": {"tiers": {"premium": {"users": 1}}}, "sla": {}}, "settings.tiers.premium"),
    ],
)
def test_a_damaged_run_json_is_refused_naming_the_file_and_the_field(tmp_path, data, field):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        read_run_json(path)
    assert (caught.value.path, caught.value.field) == (str(path), field)
