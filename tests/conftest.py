"""Hypothesis profiles: ``dev`` explores, ``ci`` is derandomized so CI never flakes.

Choose with NUMRNN_HYPOTHESIS_PROFILE (``.ci/run`` sets ``ci``). The first call
of a jitted kernel compiles for seconds, so no profile has a deadline.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("NUMRNN_HYPOTHESIS_PROFILE", "dev"))
