"""docs/embedding.md: the sections not owned by a module's own tests run, in order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"
SECTIONS = ("Observers", "The store, from async code")


def _blocks(section: str) -> list[str]:
    text = GUIDE.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", body, re.DOTALL)


def test_the_sections_run_in_order_sharing_their_names() -> None:
    """Each section's blocks run as written; later sections reuse earlier names."""
    namespace: dict[str, Any] = {}
    for section in SECTIONS:
        blocks = _blocks(section)
        assert blocks, section
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"embedding.md {section} block {number}", "exec"), namespace)


@pytest.mark.parametrize("path", ["#polling", "#telemetry", "#observers"])
def test_the_guide_links_to_its_sections(path: str) -> None:
    text = GUIDE.read_text()
    heading = path[1:].replace("-", " ")
    assert f"]({path})" in text
    assert re.search(rf"(?im)^## {heading}$", text)
