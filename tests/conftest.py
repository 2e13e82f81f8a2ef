"""Shared test configuration: hypothesis profiles and the real-fixture location.

``HYPOTHESIS_PROFILE=ci`` selects the thorough profile; the default one is fast.
No profile has a deadline: CI machines vary too much for per-example timings.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from helpers import MISSING_REAL_FIXTURES, REAL_FIXTURES, FakeClock, require_real_fixtures

__all__ = ["MISSING_REAL_FIXTURES", "REAL_FIXTURES"]

settings.register_profile(
    "default",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def real_fixtures() -> Path:
    """The real fixtures folder; the test is skipped when it is absent."""
    return require_real_fixtures()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock standing at 1_700_000_000."""
    return FakeClock()
