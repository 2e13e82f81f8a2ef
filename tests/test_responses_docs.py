"""docs/responses.md and the README's Responses section stay true to the code."""

from __future__ import annotations

import re

from helpers import REPO
from steplife import CATALOGUE
from steplife._diagram import response_mermaid
from steplife.testing.responses import RESPONSE_MUTATIONS

DOCS = (REPO / "docs" / "responses.md").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")
SCOPES = ("response", "item", "response_stream")


def section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def test_the_rules_table_lists_every_responses_rule_with_its_severity() -> None:
    rows = re.findall(r"(?m)^\| `([a-z-]+)` \| (error|warning) \|", section(DOCS, "## The rules"))
    expected = {code: r.severity.value for code, r in CATALOGUE.items() if r.scope in SCOPES}
    assert expected == dict(rows)
    assert len(rows) == len(expected)


def test_the_mutation_table_is_the_mapping() -> None:
    text = section(DOCS, "## Property testing")
    rows = re.findall(r"(?m)^\| `([a-z-]+)` \| (error|warning) \| (.*) \|$", text)
    expected = {
        code: (CATALOGUE[code].severity.value, description)
        for code, description in RESPONSE_MUTATIONS.items()
    }
    assert expected == {code: (severity, text) for code, severity, text in rows}


def test_the_diagrams_shown_are_the_machine_s() -> None:
    drawn = sorted(line.strip() for line in response_mermaid().splitlines() if "-->" in line)
    for text, heading in ((DOCS, "## The machines"), (README, "## The successor")):
        block = section(text, heading).split("```mermaid\n", 1)[1].split("```", 1)[0]
        assert drawn == sorted(line.strip() for line in block.splitlines() if "-->" in line)


def test_the_readme_example_runs() -> None:
    block = section(README, "## The successor").split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert "completed" == getattr(namespace["response"], "status", None)
