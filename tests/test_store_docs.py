"""docs/store.md is true: its Python blocks run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "store.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_every_example_of_the_store_guide_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block's assertions hold (the blocks build on each other)."""
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 6
    namespace: dict[str, Any] = {}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{DOC.name} block {number}", "exec")
        exec(code, namespace)
    assert (tmp_path / "steps.db").is_file()
