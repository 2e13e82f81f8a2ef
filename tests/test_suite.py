"""The test suite's own set-up does what the README says: profiles, shares, long searches."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import settings

from helpers import COSTLY, EXAMPLES, HEAVY, REPO, examples

README = (REPO / "README.md").read_text(encoding="utf-8")
MAKEFILE = (REPO / "Makefile").read_text(encoding="utf-8")


def profile_table() -> dict[str, str]:
    """The README's profile table: profile name to its examples column."""
    section = README.split("## Working on steplife", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"(?m)^\| `([a-z]+)` \| [^|]+ \| ([^|]+) \|", section))


@pytest.fixture
def restore_profile() -> Iterator[None]:
    """Whatever profile a test loads, the one loaded before comes back."""
    current = settings.get_current_profile_name()
    try:
        yield
    finally:
        settings.load_profile(current)


@pytest.mark.usefixtures("restore_profile")
@pytest.mark.parametrize("profile", sorted(EXAMPLES))
def test_each_profile_draws_what_the_readme_says(profile: str) -> None:
    """The README's table gives each profile's count, and the costly tests' shares."""
    settings.load_profile(profile)
    counts = [examples(share).max_examples for share in (1, COSTLY, HEAVY)]
    documented = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+", profile_table()[profile])]
    if profile == "thorough":
        assert documented == [1000]
        assert counts == [1000, 1000, 1000]
    else:
        assert documented == counts


def test_every_profile_is_in_the_readme() -> None:
    """No profile is registered without a row, nor documented without existing."""
    assert set(profile_table()) == set(EXAMPLES)


def test_the_commands_the_readme_names_are_make_targets() -> None:
    """`make test`, `make demo` and `make test-thorough` exist, and CI uses the ci profile."""
    targets = set(re.findall(r"(?m)^([a-z-]+):", MAKEFILE))
    assert {"test", "demo", "test-thorough"} <= targets
    named = set(re.findall(r"`make ([a-z-]+)`", README))
    assert named <= targets
    assert "HYPOTHESIS_PROFILE=ci" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def collected(profile: str) -> str:
    """What ``pytest --collect-only`` says of test_stateful.py under `profile`."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, "tests/test_stateful.py"],
        cwd=REPO,
        env={**os.environ, "HYPOTHESIS_PROFILE": profile},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_long_searches_are_deselected_and_counted_outside_the_thorough_profile() -> None:
    """A plain run says how many long searches it left out; the thorough run has them."""
    plain, thorough = collected("default"), collected("thorough")
    assert "on_its_own" not in plain
    assert re.search(r"\((\d+) deselected\)", plain)
    assert "on_its_own" in thorough
    assert "deselected" not in thorough
