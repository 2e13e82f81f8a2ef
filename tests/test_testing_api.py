"""The steplife.testing facade: its names, their docs, and its lazy import of hypothesis."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import steplife.testing


def test_every_public_name_resolves_and_is_documented() -> None:
    """Each name of ``__all__`` is there, with a docstring."""
    for name in steplife.testing.__all__:
        value = getattr(steplife.testing, name)
        if name not in ("EventStream", "MUTATIONS", "UNREACHABLE_RULES"):  # data, not code
            assert value.__doc__, name


def test_dir_lists_the_public_names() -> None:
    """``dir()`` shows the API, as ``__all__`` names it."""
    assert sorted(steplife.testing.__all__) == dir(steplife.testing)


def test_an_unknown_name_is_an_attribute_error() -> None:
    """The lazy loader does not swallow typos."""
    with pytest.raises(AttributeError, match="no_such_strategy"):
        steplife.testing.no_such_strategy  # noqa: B018


def test_importing_the_toolkit_does_not_import_hypothesis() -> None:
    """Only the first strategy used brings hypothesis in (the pytest plugin relies on it)."""
    script = textwrap.dedent(
        """
        import sys
        import steplife.testing
        from steplife.testing import FakeClock
        assert "hypothesis" not in sys.modules, "imported too early"
        steplife.testing.run_steps
        assert "hypothesis" in sys.modules
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
