"""Test configuration: hypothesis profiles and the data folder.

HYPOTHESIS_PROFILE=thorough runs every theory property on >= 10,000 examples;
the default profile ("ci") keeps the whole suite to a few minutes on 2 cores and draws the same examples every run
(HYPOTHESIS_PROFILE=explore draws new ones, as many as "ci").
"""

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

# pytest-xdist runs two workers (pyproject addopts): one torch thread each, or four threads contend for two cores
# (measured: 229 s against 142 s for the whole suite). Set before any test module imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

settings.register_profile(  # derandomized: a clean clone gives the same examples, hence the same verdict, every run
    "ci",
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile(
    "explore",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The data lookup (empirical.data.download) reads INVARIANCE_DATA; tests default it to ../shared/data beside the
# checkout when that exists. Tests of the full data skip without it, with a reason that says how to get it
# (tests.fixtures.needs_full_data); the committed fixture tests/fixtures/data covers the pipeline regardless.
_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if "INVARIANCE_DATA" not in os.environ and _SHARED.is_dir():
    os.environ["INVARIANCE_DATA"] = str(_SHARED)
elif os.environ.get("INVARIANCE_DATA") and not Path(os.environ["INVARIANCE_DATA"]).is_absolute():
    # some tests run a command from a temporary working folder: a relative INVARIANCE_DATA (e.g. ../shared/data)
    # means the folder as seen from where pytest was started
    os.environ["INVARIANCE_DATA"] = str(Path(os.environ["INVARIANCE_DATA"]).resolve())
