"""Shared test configuration: hypothesis profiles, the long searches, the real fixtures.

Three profiles, chosen with ``HYPOTHESIS_PROFILE`` (see `EXAMPLES`): ``default`` for a
developer's ``make test``, ``ci`` for ``.ci/run``, ``thorough`` for ``make test-thorough``.
Tests whose examples cost more than most take a share of the profile's count (see
`helpers.examples`). No profile has a deadline: CI machines vary too much for
per-example timings.

Tests marked ``thorough`` (blind searches for something a targeted test already shows)
run only under the ``thorough`` profile; every other profile deselects them, and pytest
says how many it deselected.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from helpers import EXAMPLES, MISSING_REAL_FIXTURES, REAL_FIXTURES, FakeClock, require_real_fixtures

__all__ = ["MISSING_REAL_FIXTURES", "REAL_FIXTURES"]

for name, count in EXAMPLES.items():
    settings.register_profile(
        name,
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        # A failure in CI prints the blob that replays it (`@reproduce_failure`).
        print_blob=True,
    )
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``thorough`` marker."""
    config.addinivalue_line(
        "markers", "thorough: a long search, run only with HYPOTHESIS_PROFILE=thorough"
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Say which profile runs, how many examples it draws, and whether long searches run."""
    searches = "run" if PROFILE == "thorough" else "deselected (make test-thorough runs them)"
    return (
        f"steplife: hypothesis profile {PROFILE!r}, {settings().max_examples} examples "
        f"a property test, fewer for costly ones; long searches {searches}"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the long searches unless the ``thorough`` profile is loaded."""
    if PROFILE == "thorough":
        return
    long_searches = [item for item in items if item.get_closest_marker("thorough")]
    if long_searches:
        config.hook.pytest_deselected(items=long_searches)
        items[:] = [item for item in items if not item.get_closest_marker("thorough")]


@pytest.fixture
def real_fixtures() -> Path:
    """The real fixtures folder; the test is skipped when it is absent."""
    return require_real_fixtures()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock standing at 1_700_000_000."""
    return FakeClock()
