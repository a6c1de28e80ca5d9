"""Offline tests of the harness (no endpoint). Hypothesis profiles: ``ci`` is derandomised."""

import os

from hypothesis import HealthCheck, Phase, settings

pytest_plugins = ["pytester"]

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.register_profile("dev", database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
