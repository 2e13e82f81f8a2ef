"""docs/cli.md's sample outputs are what the command prints today."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import clidocs


@pytest.mark.parametrize("path", clidocs.DOCS, ids=lambda p: p.name)
def test_every_generated_block_is_current(path: Path) -> None:
    """Stale after a change to the command: ``make docs`` rewrites the blocks."""
    text = path.read_text()
    assert clidocs.render(text) == text, f"{path.name} is stale: run `make docs`"


def test_the_cli_docs_show_the_help_the_outputs_and_the_statistics() -> None:
    """The blocks that matter most are there, and not empty."""
    text = clidocs.DOCS[0].read_text()
    blocks = dict(re.findall(r"<!-- generated: (.+?) -->\n```\w*\n(.*?)```", text, re.DOTALL))
    assert "usage: steplife validate" in blocks["steplife validate --help"]
    assert "exit status:" in blocks["steplife validate --help"]
    assert "steplife validate" in blocks["steplife validate examples/*.sse examples/*.jsonl"]
    assert blocks["steplife validate --statistics examples/*.sse examples/*.jsonl"].strip()


def test_head_keeps_the_first_lines() -> None:
    assert clidocs.run("steplife rules | head -n 2").splitlines()[0] == "steplife rules"
    assert len(clidocs.run("steplife rules | head -n 2").splitlines()) == 2
