"""examples/orchestrator.py, run as a user runs it, against the local replay server.

The real ``openai`` client drives a function-tool run over its two streams; the example
answers the call, and must end with every step stored and no finding. A faulty server
(a step completed twice) makes it alert and exit 1 while the run still ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sdkserver import Reply, SDKServer
from sdkserver import sdk_server_fixture as sdk_server_fixture
from streams import REPO

EXAMPLE = REPO / "examples" / "orchestrator.py"
THREAD = "thread_Wc5Nm1Zr8Qk3Tb6Xe2Ja9Ls4"  # the ids of tests/fixtures/sdk/function_run.*
ASSISTANT = "asst_q3GkVw8TzR1mJb6LcXy2Nd0P"


def _orchestrate(server: SDKServer, db: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        str(EXAMPLE),
        "--base-url",
        server.openai_url,
        "--thread",
        THREAD,
        "--assistant",
        ASSISTANT,
        "--db",
        str(db),
    ]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def test_a_clean_two_stream_run_is_followed_answered_and_stored(
    sdk_server: SDKServer, tmp_path: Path
) -> None:
    sdk_server.play(
        {
            "create_run": Reply("function_run.1.sse"),
            "submit_tool_outputs": Reply("function_run.2.sse"),
        }
    )
    done = _orchestrate(sdk_server, tmp_path / "steps.db")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "in_progress -> completed" in done.stdout
    assert done.stdout.splitlines()[-1].endswith("2 steps stored, 0 findings")
    (submitted,) = [r for r in sdk_server.requests if r.endpoint == "submit_tool_outputs"]
    assert '"celsius": 21' in submitted.body["tool_outputs"][0]["output"]


def test_a_fault_is_an_alert_and_the_run_goes_on(sdk_server: SDKServer, tmp_path: Path) -> None:
    sdk_server.play({"create_run": Reply("fault_step_completed_twice.sse")})
    done = _orchestrate(sdk_server, tmp_path / "steps.db")
    assert done.returncode == 1
    assert "steplife error after-terminal" in done.stderr
    assert "findings" in done.stdout.splitlines()[-1]


@pytest.mark.parametrize("flag", ["--help"])
def test_the_example_documents_its_use(flag: str) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE), flag], capture_output=True, text=True)
    assert done.returncode == 0
    assert "--base-url" in done.stdout
