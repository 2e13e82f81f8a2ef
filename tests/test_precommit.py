"""The pre-commit hook this repository provides, run as pre-commit runs it.

``pre-commit try-repo`` installs steplife from this checkout into an environment of
its own and runs the hook on a repository's files, exactly as a user's
``.pre-commit-config.yaml`` entry would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams import REPO, completed, created, jsonl, lifecycle

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_the_hook_fails_on_a_broken_capture_and_passes_clean_ones(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "good.jsonl").write_bytes(jsonl(lifecycle()))
    (repo / "notes.txt").write_text("not a capture: the hook never sees it\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}

    def hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PRE_COMMIT), "try-repo", str(REPO), "steplife-validate", "--all-files"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    clean = hook()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "steplife validate" in clean.stdout
    assert "Passed" in clean.stdout

    (repo / "broken.jsonl").write_bytes(jsonl([*lifecycle(), completed(), created("x")]))
    _git(repo, "add", ".")
    broken = hook()
    assert broken.returncode == 1
    assert "Failed" in broken.stdout
    assert "broken.jsonl:4: error after-terminal" in broken.stdout
    assert "notes.txt" not in broken.stdout
