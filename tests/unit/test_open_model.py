"""The open model: profile keys, arrival generators that drop at their in-flight bound, and drops in the verdict."""

import random
import time
from pathlib import Path
from types import SimpleNamespace

import gevent
import numpy as np
import pytest
from locust.env import Environment

from tests.synthetic import LOADS, SLA, T0, frame_of
from trademate_load.collector import Collector
from trademate_load.config import ConfigError
from trademate_load.credentials import Account, AccountPool
from trademate_load.profile import PROFILES_DIR, TierLoad, load_profile
from trademate_load.report.summary import build_summary
from trademate_load.sla import evaluate
from trademate_load.sla_figures import Window, dropped_in
from trademate_load.users import OpenPremiumTierUser, TierUser
from trademate_load.verdict import EXIT_BREACH, EXIT_PASS

OPEN = """
name: t
run_time: 30s
model: open
arrivals: poisson
tiers:
  premium: {users: 5, rps: 50, plans: {ELITE: 3, BLACK: 1}}
sla: sla.yaml
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "sla.yaml").write_text((PROFILES_DIR / "sla.yaml").read_text())
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_open_profile_defaults_to_one_second_of_arrivals_in_flight(tmp_path):
    profile = load_profile(str(write(tmp_path, OPEN)))
    load = profile.tiers["premium"]
    assert (profile.model, profile.arrivals) == ("open", "poisson")
    assert load.max_in_flight == 50 and load.in_flight_per_user == 10
    assert profile.settings()["model"] == "open" and profile.settings()["tiers"]["premium"]["max_in_flight"] == 50
    assert TierLoad(**profile.settings()["tiers"]["premium"]) == load  # run.json reads it back


def test_closed_is_the_default():
    profile = load_profile("premium")
    assert (profile.model, profile.arrivals) == ("closed", "constant")
    assert profile.tiers["premium"].max_in_flight is None


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("model: open", "model: half-open", "model", "closed, open"),
        ("arrivals: poisson", "arrivals: bursty", "arrivals", "constant, poisson"),
        ("rps: 50,", "rps: 50, max_in_flight: 4,", "tiers.premium.max_in_flight", "at least the tier's users (5)"),
        ("rps: 50,", "rps: 50, max_in_flight: many,", "tiers.premium.max_in_flight", "whole number"),
        ("model: open", "model: closed", None, None),  # with max_in_flight below
        ("rps: 50,", "rps: 50, max_inflight: 9,", "tiers.premium.max_inflight", "did you mean 'max_in_flight'"),
    ],
)
def test_open_model_keys_are_validated(tmp_path, old, new, field, words):
    text = OPEN.replace(old, new)
    if field is None:
        text = text.replace("rps: 50,", "rps: 50, max_in_flight: 20,")
        field, words = "tiers.premium.max_in_flight", "applies only to model: open"
    with pytest.raises(ConfigError) as err:
        load_profile(str(write(tmp_path, text)))
    assert err.value.field == field and words in err.value.message


# --- arrival generators -------------------------------------------------------------------------------------------


class Suite(SimpleNamespace):
    def profile_for_users(self):
        return self.profile


class Generator(OpenPremiumTierUser):
    host = "http://127.0.0.1:9"


@pytest.fixture
def generator(tmp_path):
    """An OpenPremiumTierUser of a 5-user, 50 req/s tier (2 in flight each), its requests replaced by slow fakes."""
    profile = load_profile(str(write(tmp_path, OPEN.replace("rps: 50,", "rps: 50, max_in_flight: 10,"))))
    environment = Environment()
    collector = Collector()
    environment.trademate = Suite(
        profile=profile,
        collector=collector,
        pool=AccountPool({p: [Account("u", p, "premium", "tok")] for p in ("ELITE", "BLACK")}, "test"),
    )
    user = Generator(environment)
    sent = []

    def slow(arrival):
        sent.append(arrival.context["intended_ts"])
        gevent.sleep(0.2)

    user.requests = {slow: 1}
    user.on_start()
    return user, collector, sent


def test_a_generator_sends_on_schedule_without_waiting_and_drops_beyond_its_bound(generator):
    user, collector, sent = generator
    assert user.concurrency == 2 and user.client.client.clientpool  # its connection pool matches its bound
    first = user.next_ts = float(int(user.next_ts)) + 0.5  # the five fall in one second, whatever the clock reads
    assert user.context() == {"tier": "premium", "plan": user.plan}
    for _ in range(5):  # five arrivals due at once: two go out, three find the bound reached
        user.dispatch()
        user.next_ts += 0.001
    gevent.sleep(0)
    assert len(sent) == 2 and sent[0] == first
    dropped = collector.drain().dropped["premium"]
    assert sum(dropped.values()) == 3 and set(dropped) == {int(first)}
    gevent.sleep(0.25)  # the two have finished: room again
    user.dispatch()
    gevent.sleep(0)
    assert len(sent) == 3
    user.on_stop()


def test_poisson_gaps_average_the_period():
    user = object.__new__(TierUser)
    user.rng, user.period, user.poisson = random.Random(3), 0.1, True
    gaps = np.array([user.gap() for _ in range(20_000)])
    assert gaps.mean() == pytest.approx(0.1, rel=0.03) and gaps.std() == pytest.approx(0.1, rel=0.05)
    user.poisson = False
    assert {user.gap() for _ in range(10)} == {0.1}


def test_the_wait_keeps_the_schedule_when_late(generator):
    user, _, _ = generator
    user.poisson = False
    behind = user.next_ts = time.time() - 1.0  # a second behind: no sleep, and the next slot is the planned one
    assert user.wait_time() == 0.0
    assert user.next_ts == behind + 0.1
    user.on_stop()


# --- drops in the verdict -----------------------------------------------------------------------------------------


def test_dropped_arrivals_count_against_success_and_compliance_and_are_named():
    frame = frame_of(np.full(10_000, 3.0))  # 10 s, all fast and successful
    dropped = {"premium": [[int(T0) + 2, 30], [int(T0) + 3, 20], [int(T0) - 5, 999]]}  # the last is before the window
    verdict = evaluate(frame, LOADS, SLA, Window(T0, T0 + 10), "service", dropped=dropped)
    tier = verdict.tiers["premium"]
    assert (tier.requests, tier.dropped, tier.offered, tier.failures) == (10_000, 50, 10_050, 0)
    assert tier.success_rate == pytest.approx(10_000 / 10_050)
    assert tier.sla_compliance == pytest.approx(10_000 / 10_050)
    assert tier.latency_ms["p99"] == 3.0  # latency figures are the sent requests' own
    assert verdict.exit_code == EXIT_BREACH  # 99.5% success against 99.95%
    assert "premium.success_rate" in verdict.reason and "premium 50 of 10050" in verdict.reason
    summary = build_summary(verdict, {"run_id": "r", "profile": "p", "host": "h", "started_at": "t"})
    assert summary["tiers"]["premium"]["dropped"] == 50 and summary["tiers"]["premium"]["offered"] == 10_050


def test_no_drops_no_change():
    frame = frame_of(np.full(20_000, 3.0))
    plain = evaluate(frame, LOADS, SLA, Window(T0, T0 + 10), "service")
    empty = evaluate(frame, LOADS, SLA, Window(T0, T0 + 10), "service", dropped={"premium": []})
    assert plain.exit_code == empty.exit_code == EXIT_PASS and plain.reason == empty.reason
    assert empty.tiers["premium"].dropped == 0


def test_a_dropped_second_counts_when_its_middle_is_in_the_window():
    window = Window(100.4, 102.6)
    assert dropped_in(window, [[99, 1], [100, 2], [101, 4], [102, 8], [103, 16]]) == 2 + 4 + 8
