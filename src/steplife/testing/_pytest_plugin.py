"""The pytest plugin: the ``steplife_clock`` and ``steplife_conformance`` fixtures.

Registered through ``pytest11``. It needs nothing but pytest and the clock, so it loads
even where hypothesis (the ``testing`` extra) is not installed; the conformance fixture
imports ``openai`` only when a test uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from steplife.testing._clock import FakeClock

__all__ = ["pytest_configure", "steplife_clock", "steplife_conformance"]

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


@pytest.fixture
def steplife_conformance(tmp_path: Any) -> Callable[..., Any]:
    """A function running the conformance scenarios: ``steplife_conformance(url, ...)``.

    It takes the same arguments as `steplife.conformance.run` and records every response
    under the test's ``tmp_path`` (``conformance/``) unless told ``record=``; call
    ``report.assert_passed()`` to fail the test with each finding. Needs the
    ``conformance`` extra (``openai``), imported only when the fixture is used.
    """

    def conformance(base_url: str | None = None, **options: Any) -> Any:
        from steplife.conformance import run

        options.setdefault("record", tmp_path / "conformance")
        return run(base_url, **options)

    return conformance
