"""docs/testing.md: every Python block runs, in order, in one namespace."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from steplife import CATALOGUE
from steplife.testing import MUTATIONS, UNREACHABLE_RULES

# Hypothesis warns when it shows a large example (16 pairs of long metadata, say):
# no problem for these tests, which show examples on purpose or on failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"
TEXT = DOCS.read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```$", TEXT, re.MULTILINE | re.DOTALL)


def test_the_page_has_examples() -> None:
    """The page is not silently empty of code."""
    assert len(BLOCKS) >= 8


@pytest.fixture
def derandomized() -> Iterator[None]:
    """The current profile, derandomized: the page's examples take the same time each run."""
    current = settings.get_current_profile_name()
    settings.register_profile("docs", settings.get_profile(current), derandomize=True)
    settings.load_profile("docs")
    try:
        yield
    finally:
        settings.load_profile(current)


@pytest.mark.usefixtures("derandomized")
def test_every_python_block_runs() -> None:
    """The blocks build on each other, as a reader would type them."""
    namespace: dict[str, object] = {"__name__": "docs_testing"}
    for number, block in enumerate(BLOCKS, 1):
        code = compile(block, f"{DOCS.name}, block {number}", "exec")
        exec(code, namespace)


def test_the_mapping_table_matches_the_code() -> None:
    """One row per catalogue rule, saying what `MUTATIONS` or `UNREACHABLE_RULES` say."""
    rows = re.findall(r"^\| `([a-z-]+)` \| (error|warning) \| (.*) \|$", TEXT, re.MULTILINE)
    expected = {
        code: (
            rule.severity.value,
            MUTATIONS[code] if code in MUTATIONS else f"none: {UNREACHABLE_RULES[code]}",
        )
        for code, rule in CATALOGUE.items()
        # The Responses API's rules have their table in docs/responses.md.
        if rule.scope not in ("response", "item", "response_stream")
    }
    actual = {code: (severity, text) for code, severity, text in rows}
    assert expected == actual
    assert len(rows) == len(expected)


def test_every_public_name_is_documented() -> None:
    """Each name of `steplife.testing.__all__` appears on the page."""
    import steplife.testing

    missing = [name for name in steplife.testing.__all__ if f"`{name}" not in TEXT]
    assert missing == []
