"""The pytest plugin: the ``steplife_clock`` fixture, registered through ``pytest11``.

It needs nothing but pytest and the clock, so it loads even where hypothesis (the
``testing`` extra) is not installed.
"""

from __future__ import annotations

import pytest

from steplife.testing._clock import FakeClock

__all__ = ["pytest_configure", "steplife_clock"]

_MARKER = "steplife_clock"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``steplife_clock`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(now=1700000000, tick=0): where the steplife_clock fixture starts, and "
        "how far it moves at each reading",
    )


@pytest.fixture
def steplife_clock(request: pytest.FixtureRequest) -> FakeClock:
    """A `FakeClock` standing at 1_700_000_000 that moves only when told to.

    Pass it as ``Lifecycle(clock=steplife_clock)`` (or to your own code) and every
    stamp is known in advance. ``@pytest.mark.steplife_clock(now=..., tick=...)``
    changes where it starts and how far each reading moves it.
    """
    marker = request.node.get_closest_marker(_MARKER)
    if marker is None:
        return FakeClock()
    return FakeClock(*marker.args, **marker.kwargs)
