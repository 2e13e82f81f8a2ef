"""The fake clock, and the ``steplife_clock`` fixture the pytest plugin provides."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from steplife import Lifecycle
from steplife.model import MessageCreation, MessageCreationDetails, Usage
from steplife.testing import FakeClock


def test_a_clock_stands_still_until_moved() -> None:
    """Readings repeat until `advance`; `calls` counts them."""
    clock = FakeClock(100)
    assert (clock(), clock()) == (100, 100)
    assert clock.advance(5) == 105
    assert clock() == 105
    assert clock.calls == 3


def test_a_ticking_clock_moves_after_each_reading() -> None:
    """``tick`` seconds pass at each reading."""
    clock = FakeClock(10, tick=2)
    assert [clock(), clock(), clock()] == [10, 12, 14]
    assert clock.now == 16


def test_set_moves_the_clock_anywhere() -> None:
    """`set` goes back as well as forward, for clock-skew tests."""
    clock = FakeClock(100)
    assert clock.set(40) == 40
    assert clock() == 40
    assert repr(clock) == "FakeClock(now=40, tick=0)"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: FakeClock(-1), ValueError),
        (lambda: FakeClock(1.5), TypeError),  # type: ignore[arg-type]
        (lambda: FakeClock(True), TypeError),
        (lambda: FakeClock(tick=-1), ValueError),
        (lambda: FakeClock().advance(-1), ValueError),
        (lambda: FakeClock().set(-5), ValueError),
    ],
)
def test_bad_times_are_refused(call: object, error: type[Exception]) -> None:
    """Times and steps are whole, non-negative seconds."""
    with pytest.raises(error):
        call()  # type: ignore[operator]


def test_the_fixture_gives_a_still_clock(steplife_clock: FakeClock) -> None:
    """The plugin's fixture stands at 1_700_000_000, so stamps are known in advance."""
    details = MessageCreationDetails(message_creation=MessageCreation(message_id="msg_1"))
    lifecycle = Lifecycle(clock=steplife_clock)
    step = lifecycle.start(
        id="step_1",
        run_id="run_1",
        thread_id="thread_1",
        assistant_id="asst_1",
        step_details=details,
    )
    steplife_clock.advance(3)
    lifecycle.complete(step, usage=Usage.of(1, 2))
    assert (step.created_at, step.completed_at) == (1_700_000_000, 1_700_000_003)


@pytest.mark.steplife_clock(now=50, tick=10)
def test_the_marker_sets_where_the_fixture_starts(steplife_clock: FakeClock) -> None:
    """``@pytest.mark.steplife_clock(now=..., tick=...)`` configures the fixture."""
    assert [steplife_clock(), steplife_clock()] == [50, 60]


def test_each_test_gets_a_fresh_clock(steplife_clock: FakeClock) -> None:
    """No reading leaks from another test."""
    assert (steplife_clock.now, steplife_clock.calls) == (1_700_000_000, 0)


def test_the_pytest_plugin_loads_without_hypothesis() -> None:
    """Where the ``testing`` extra is missing, the fixture still works and pytest runs."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["hypothesis"] = None  # as if it were not installed
        import steplife.testing._pytest_plugin as plugin
        from steplife.testing import FakeClock
        try:
            from steplife.testing import run_steps
        except ImportError:
            print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_fixture_is_there_for_any_project(tmp_path: Path) -> None:
    """Installed steplife gives every pytest run the fixture, with no conftest."""
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.steplife_clock(now=7)
            def test_clock(steplife_clock):
                assert steplife_clock() == 7
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
