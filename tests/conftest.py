import os

from hypothesis import HealthCheck, settings

# CI runs at least 500 examples per property; HYPOTHESIS_PROFILE=dev runs fewer, faster.
settings.register_profile(
    "ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")
