"""The load shape: the active profile's users per tier (or its stages) until its run time ends.

The profile is (re)read each time a test starts, from Locust's own ``--profile`` option, which the web
UI's start form can change. ``--run-time`` (or the form's run time), when given, overrides the profile's.
The profile's ``model`` picks the user classes: paced users (closed) or arrival generators (open).
"""

from __future__ import annotations

from locust import LoadTestShape

from trademate_load import locust_compat
from trademate_load.users import TIER_USERS


class ProfileShape(LoadTestShape):
    """Drives each tier's user class to the profile's user count at the profile's spawn rate."""

    use_common_options = True  # we read --run-time ourselves

    def reset_time(self) -> None:
        super().reset_time()
        self.run = self.runner.environment.trademate.begin_run()

    def tick(self):
        elapsed = self.get_run_time()
        users = None if elapsed >= self.run.run_time_s else self.run.profile.users_at(elapsed)
        if users is None:
            self.runner.environment.trademate.stop_began()  # the run's end: before Locust's stop work
            return None
        model_users = TIER_USERS[self.run.profile.model]
        classes = []
        for tier, count in users.items():
            model_users[tier].fixed_count = count
            if count:
                classes.append(model_users[tier])
        if users != getattr(self, "_users", None):
            # Locust's dispatcher spawns fixed_count users only at the start and after a ramp-down: re-arm it,
            # or a stage that adds users never gets them (scalability steps would all run the first stage's).
            locust_compat.rearm_fixed_users(self.runner)
            self._users = users
        return sum(users.values()), self.run.profile.spawn_rate, classes
