"""Signals to a headless run: SIGINT and SIGTERM stop the test as Ctrl-C does, so the run directory is written from
every sample so far."""

from __future__ import annotations

import logging
import signal

import gevent
from locust.env import Environment

logger = logging.getLogger(__name__)


def install(environment: Environment) -> None:
    """Handle SIGTERM and SIGINT in the main greenlet of a headless master or local process."""
    gevent.signal_handler(signal.SIGTERM, lambda: on_sigterm(environment))
    gevent.signal_handler(signal.SIGINT, interrupt_main)


def on_sigterm(environment: Environment) -> None:
    """Headless, Locust 2.47 handles SIGTERM only once a shape test has ended: until then, stop as Ctrl-C does,
    so the run directory is written from every sample so far (Locust's own handler does the rest)."""
    shape = getattr(environment.runner, "shape_greenlet", None)
    if shape is not None and not shape.dead:
        logger.info("Got SIGTERM: stopping the test as Ctrl-C does")
        interrupt_main()


def interrupt_main() -> None:
    """Ctrl-C, delivered where Locust waits for it: in the main greenlet. Python's own handler raises
    KeyboardInterrupt in whichever greenlet runs when the signal lands (a user's, mid-request, which gevent then
    reports with a traceback); a signal handler runs in the hub, and this hands the interrupt to the main one."""
    hub = gevent.get_hub()
    hub.loop.run_callback(hub.parent.throw, KeyboardInterrupt)
