"""What starting the command costs: ``steplife validate`` on a 5-event file.

The figure is CPU time (user + system, of the child process) against the CPU time of
a Python that imports steplife's runtime dependencies and nothing else (attrs,
cattrs, orjson, transitions, rich: what any command built on them pays before it
does anything). ``ratio`` is the median over alternating pairs of validate time /
import time: 1.0 would be a command whose own code costs nothing to load and run.
CPU time, not wall time, so a busy neighbour on the machine does not decide it.

Run ``python -m benchmarks.startup [--repeat N]`` for this benchmark alone.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

import orjson

REPEAT: Final = 15
DEPENDENCIES: Final = "import attrs, cattrs, orjson, transitions, rich"
_T0: Final = 1_700_000_000


def five_events() -> bytes:
    """A run with one step, as JSONL: created, in_progress, completed, and the run's end."""
    step = {
        "id": "step_1",
        "object": "thread.run.step",
        "created_at": _T0,
        "assistant_id": "asst_1",
        "thread_id": "thread_1",
        "run_id": "run_1",
        "type": "message_creation",
        "status": "in_progress",
        "step_details": {"type": "message_creation", "message_creation": {"message_id": "m"}},
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }
    done = {
        **step,
        "status": "completed",
        "completed_at": _T0 + 1,
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    events = [
        ("thread.created", {"id": "thread_1", "object": "thread"}),
        ("thread.run.step.created", step),
        ("thread.run.step.in_progress", step),
        ("thread.run.step.completed", done),
        ("done", "[DONE]"),
    ]
    return b"".join(orjson.dumps({"event": n, "data": d}) + b"\n" for n, d in events)


def _cpu(argv: list[str]) -> float:
    """CPU seconds (user + system) the child running `argv` used (microsecond resolution)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup_cost(repeat: int = REPEAT) -> dict[str, float]:
    """Median CPU seconds of each side over `repeat` alternating pairs, and the ratio."""
    with tempfile.TemporaryDirectory(prefix="steplife-startup-") as tmp:
        path = Path(tmp) / "five.jsonl"
        path.write_bytes(five_events())
        validate = [sys.executable, "-m", "steplife", "validate", "--isolated", str(path)]
        imports = [sys.executable, "-c", DEPENDENCIES]
        code = subprocess.run(validate, check=False, capture_output=True).returncode
        if code != 0:
            raise RuntimeError(f"the 5-event file did not validate clean (exit {code})")
        pairs = []
        for i in range(repeat):
            if i % 2:
                command, deps = _cpu(validate), _cpu(imports)
            else:
                deps, command = _cpu(imports), _cpu(validate)
            pairs.append((command, deps))
    commands = [c for c, _ in pairs]
    deps_times = [d for _, d in pairs]
    return {
        "validate CPU ms": statistics.median(commands) * 1000,
        "dependencies CPU ms": statistics.median(deps_times) * 1000,
        "ratio": statistics.median(c / d for c, d in pairs),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args(argv)
    for name, value in startup_cost(args.repeat).items():
        print(f"{name}: {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
