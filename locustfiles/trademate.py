"""`locust -f locustfiles/trademate.py`: TradeMate's tier users, the profile-driven shape and the SLA suite.

    locust -f locustfiles/trademate.py --headless --profile premium \
        --host http://127.0.0.1:8000 --credentials var/credentials.csv [--run-time 30s]

The profile (Locust's own ``--profile``, a name under profiles/ or a path; default premium) decides the
users per tier, their rate, the model (paced closed users or open-model arrival generators) and the run
time; the run directory lands under ``--report-dir``.
"""

from locust import events

from trademate_load.plugin import add_arguments, register
from trademate_load.shapes import ProfileShape
from trademate_load.users import OpenPremiumTierUser, OpenSharedTierUser, PremiumTierUser, SharedTierUser

__all__ = ["OpenPremiumTierUser", "OpenSharedTierUser", "PremiumTierUser", "ProfileShape", "SharedTierUser"]


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_arguments(parser)


@events.init.add_listener
def _init(environment, **_kwargs):
    register(environment)
