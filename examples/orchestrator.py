"""A small orchestrator that checks its runs while they happen.

It starts a run on an Assistants-compatible server with the official ``openai`` client,
answers the function calls the run asks for, and feeds every event of both HTTP streams
(the run's, and the one that submitting the tool outputs opens) to ONE steplife Tracker:
findings are alerts the moment they happen, each step's move is recorded in a SQLite
store, and the run goes on whatever steplife finds.

    python examples/orchestrator.py --base-url http://127.0.0.1:8000/v1
        [--thread thread_1] [--assistant asst_1] [--db steps.db]

Exit status: 0 when the run ended with no error-level finding, 1 otherwise. Needs the
``openai`` package (``pip install openai``); steplife itself does not.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

from steplife import Finding, Tracker
from steplife.live import Transition
from steplife.store import open_store


def get_weather(city: str = "Paris", **_: Any) -> dict[str, Any]:
    """The one tool this orchestrator offers: a weather report (a fixed one)."""
    return {"city": city, "celsius": 21}


TOOLS: dict[str, Callable[..., Any]] = {"get_weather": get_weather}
"""The functions this orchestrator offers its assistant, by name."""


def alert(finding: Finding) -> None:
    """Where a real orchestrator would page someone: here, stderr."""
    print(f"steplife {finding.severity.value} {finding.rule}: {finding.message}", file=sys.stderr)


def _no_such_tool(**_: Any) -> dict[str, str]:
    return {"error": "no such tool"}


def outputs_for(run: Any) -> list[Any]:
    """The tool outputs a run that requires action asks for, computed by `TOOLS`."""
    calls = run.required_action.submit_tool_outputs.tool_calls
    outputs = []
    for call in calls:
        function: Callable[..., Any] = TOOLS.get(call.function.name, _no_such_tool)
        result = function(**json.loads(call.function.arguments or "{}"))
        outputs.append({"tool_call_id": call.id, "output": json.dumps(result)})
    return outputs


def orchestrate(base_url: str, thread: str, assistant: str, db: str) -> int:
    """Run one assistant on one thread to its end; the exit status."""
    from openai import OpenAI  # the example's own dependency, not steplife's

    # The Assistants API is deprecated (its successor is the Responses API), and this
    # orchestrator serves the servers that still speak it: say so once, here.
    warnings.filterwarnings("ignore", "The Assistants API is deprecated", DeprecationWarning)
    client = OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    threads = client.beta.threads
    with open_store(db) as store:

        def record(move: Transition) -> None:
            if move.entity == "step":
                print(f"step {move.id}: {move.source or 'new'} -> {move.target}")

        tracker = Tracker(on_finding=alert, on_transition=record)
        stream: Any = threads.runs.create(thread_id=thread, assistant_id=assistant, stream=True)
        while stream is not None:
            waiting = None
            for event in stream:
                tracker.feed(event)
                if event.event.startswith("thread.run.step."):
                    store.ingest([event])  # the store takes the SDK's events too
                if event.event == "thread.run.requires_action":
                    waiting = event.data
            stream = None
            if waiting is not None:  # the same run goes on in a second stream
                stream = threads.runs.submit_tool_outputs(
                    run_id=waiting.id,
                    thread_id=thread,
                    tool_outputs=outputs_for(waiting),
                    stream=True,
                )
        tracker.finish()
        stored = store.steps(thread_id=thread)
    print(f"{tracker.events} events, {len(stored)} steps stored, {len(tracker.findings)} findings")
    return 0 if tracker.valid else 1


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and orchestrate one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--thread", default="thread_1")
    parser.add_argument("--assistant", default="asst_1")
    parser.add_argument("--db", default="steps.db")
    args = parser.parse_args(argv)
    return orchestrate(args.base_url, args.thread, args.assistant, args.db)


if __name__ == "__main__":
    sys.exit(main())
