"""The health monitor in a real Locust runner: a freeze during the load is measured, Locust's own stop work is not."""

from __future__ import annotations

import time

import gevent
from gevent.monkey import get_original
from locust import User, constant, task
from locust.env import Environment
from locust.event import Events

from trademate_load.health import COLUMNS
from trademate_load.monitor import HealthMonitor

BLOCK_S = 0.3
blocking_sleep = get_original("time", "sleep")  # holds the event loop, as a long call into C would
LAG_MAX = COLUMNS.index("lag_max_ms")


class Freezing(User):
    """Blocks the loop once a task runs, when ``freeze_in_task`` is set, and always when it stops."""

    wait_time = constant(10)
    freeze_in_task = False

    @task
    def maybe_freeze(self):
        if self.freeze_in_task:
            blocking_sleep(BLOCK_S)

    def on_stop(self):
        blocking_sleep(BLOCK_S)
        gevent.sleep(0.05)  # the stop goes on after a yield, as Locust's own does


def worst_lag_ms(freeze_in_task: bool = False, freeze_before_stop: bool = False) -> float:
    Freezing.freeze_in_task = freeze_in_task
    environment = Environment(user_classes=[Freezing], events=Events())
    stop = {}  # when the run's stop began, as the shape records it when the run time is up
    monitor = HealthMonitor(lambda: {"shared": 1}).watch(environment.events, lambda: stop.get("began"))
    runner = environment.create_local_runner()
    runner.start(1, spawn_rate=10)
    gevent.sleep(1.5)
    if freeze_before_stop:  # the loop busy up to the run's end, as a burst of users' work would keep it
        gevent.spawn(blocking_sleep, BLOCK_S)
        gevent.sleep(0)
    stop["began"] = time.time()
    runner.stop()  # Locust inspects the stack, and the user's on_stop blocks the loop: after the stop began
    runner.quit()
    rows, _ = monitor.take()
    assert rows and all(len(row) == len(COLUMNS) for row in rows)
    return max(row[LAG_MAX] for row in rows)


def test_a_freeze_during_the_load_is_measured():
    assert worst_lag_ms(freeze_in_task=True) >= BLOCK_S * 1000 * 0.9


def test_a_freeze_up_to_the_runs_end_is_measured():
    assert worst_lag_ms(freeze_before_stop=True) >= BLOCK_S * 1000 * 0.9


def test_what_locust_does_while_stopping_is_not_measured():
    assert worst_lag_ms() < BLOCK_S * 1000 * 0.9
