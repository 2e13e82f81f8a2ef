"""README.md stays true: its rules table and its diagrams follow the code."""

from __future__ import annotations

import re

from helpers import REPO
from steplife import CATALOGUE
from steplife._diagram import mermaid, run_mermaid

README = (REPO / "README.md").read_text(encoding="utf-8")


def rules_table() -> dict[str, str]:
    """The README's rules table: code to severity."""
    section = README.split("## The rules", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"(?m)^\| `([a-z-]+)` \| (error|warning) \|", section)
    assert len(rows) == len(set(rows)), "a rule is listed twice"
    return dict(rows)


def test_the_rules_table_lists_every_rule_once_with_its_default_severity() -> None:
    assert rules_table() == {code: rule.severity.value for code, rule in CATALOGUE.items()}


def mermaid_arrows(heading: str) -> list[str]:
    """The arrow lines of the first Mermaid block after `heading`."""
    section = README.split(heading, 1)[1]
    block = section.split("```mermaid\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if "-->" in line]


def test_the_step_lifecycle_shown_is_the_machine_s() -> None:
    drawn = [line.strip() for line in mermaid().splitlines() if "-->" in line]
    assert sorted(mermaid_arrows("## The lifecycle")) == sorted(drawn)


def test_the_run_lifecycle_shown_is_the_run_machine_s() -> None:
    drawn = [line.strip() for line in run_mermaid().splitlines() if "-->" in line]
    assert sorted(mermaid_arrows("## The parent run")) == sorted(drawn)
