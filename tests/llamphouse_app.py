# mypy: disable-error-code="import-untyped, misc"
"""A llamphouse 1.3.0 server with agents written for steplife's conformance tests.

Run as a script (``python tests/llamphouse_app.py``), never imported by the tests:
importing llamphouse installs a global OpenTelemetry tracer provider and logging
handlers, which must not leak into the test process. The script binds 127.0.0.1 on
a free port, prints ``PORT <n>`` on stdout once it listens, and serves until killed.

The agents are what a llamphouse user writes, following its documentation:

- ``echo`` replies with the last user message (`Context.reply`);
- ``weather`` asks for a client-side function call: its "model" is a scripted chat
  completion stream that calls ``get_weather`` (`Context.process_stream`, the path a
  real model's stream takes), then it waits for the tool output and answers with it;
- ``slow`` sleeps before replying, and the worker takes its runs late (a busy
  queue): long enough to be cancelled while queued;
- ``stuck`` never answers: the worker's timeout expires its run, its tool step open.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("LLAMPHOUSE_TELEMETRY", "0")
os.environ.setdefault("LLAMPHOUSE_TRACING_ENABLED", "0")
os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")

import uvicorn
from llamphouse.core import LLAMPHouse
from llamphouse.core.adapters.assistant_api import AssistantAPIAdapter
from llamphouse.core.assistant import Agent
from llamphouse.core.context import Context
from llamphouse.core.workers.async_worker import AsyncWorker

WORKER_TIMEOUT = float(os.environ.get("STEPLIFE_LLAMPHOUSE_TIMEOUT", "4"))
"""Seconds the worker gives a run before it expires it."""
SLOW = float(os.environ.get("STEPLIFE_LLAMPHOUSE_SLOW", "1.5"))
"""Seconds the slow agent takes."""
PICKUP = float(os.environ.get("STEPLIFE_LLAMPHOUSE_PICKUP", "0.5"))
"""Seconds the worker waits before it takes a run of the slow agent (a busy queue)."""
TOOL_WAIT = float(os.environ.get("STEPLIFE_LLAMPHOUSE_TOOL_WAIT", "2"))
"""Seconds the weather agent waits for its tool output."""

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _last_user_text(context: Context) -> str:
    for message in reversed(context.messages):
        if message.role == "user":
            parts = message.content if isinstance(message.content, list) else []
            texts = [getattr(part, "text", "") for part in parts]
            return " ".join(text for text in texts if isinstance(text, str) and text)
    return ""


class Echo(Agent):
    """Replies with what the user said."""

    async def run(self, context: Context) -> None:
        await context.reply(f"echo: {_last_user_text(context)}")


def _chunk(**delta: Any) -> Any:
    finish = delta.pop("finish_reason", None)
    choice = SimpleNamespace(delta=SimpleNamespace(**delta), finish_reason=finish, index=0)
    return SimpleNamespace(id="chatcmpl-steplife", model="scripted", choices=[choice], usage=None)


def _call(index: int, **fields: Any) -> Any:
    function = SimpleNamespace(name=fields.pop("name", None), arguments=fields.pop("arguments"))
    return SimpleNamespace(index=index, id=fields.pop("id", None), function=function)


async def _scripted_tool_call() -> AsyncIterator[Any]:
    """What a chat model streams when it calls get_weather(city="Oslo")."""
    yield _chunk(tool_calls=[_call(0, id="call_weather_1", name="get_weather", arguments="")])
    for piece in ('{"city"', ': "Oslo"', "}"):
        yield _chunk(tool_calls=[_call(0, arguments=piece)])
    yield _chunk(finish_reason="tool_calls")


class Weather(Agent):
    """Calls get_weather on the client, waits for its output, answers with it."""

    async def run(self, context: Context) -> None:
        await context.process_stream(_scripted_tool_call())
        store = context.data_store
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TOOL_WAIT
        while loop.time() < deadline:
            step = await store.get_latest_run_step_by_run_id(context.run_id)
            if step is not None and step.status == "completed":
                calls = getattr(step.step_details, "tool_calls", None) or []
                outputs = [getattr(getattr(c, "root", c), "function", None) for c in calls]
                said = [f.output for f in outputs if f is not None and f.output]
                await context.reply(f"The weather: {', '.join(said)}")
                return
            await asyncio.sleep(0.05)
        await context.reply("The weather: unknown (no tool output came)")


class Slow(Agent):
    """Takes its time before it replies."""

    async def run(self, context: Context) -> None:
        await asyncio.sleep(SLOW)
        await context.reply("finally")


class Stuck(Agent):
    """Calls a tool and never comes back: the worker's timeout expires the run."""

    async def run(self, context: Context) -> None:
        await context.process_stream(_scripted_tool_call())
        await asyncio.sleep(WORKER_TIMEOUT * 10)


class BusyWorker(AsyncWorker):
    """The stock worker, taking the slow agent's runs late, as a loaded server does.

    A run stays ``queued`` meanwhile, which is when llamphouse accepts a cancel.
    """

    async def _execute_run(self, item: Any, *args: Any) -> None:
        _, message = item
        if message.assistant_id == "slow":
            await asyncio.sleep(PICKUP)
        await super()._execute_run(item, *args)


def build() -> LLAMPHouse:
    """The server, with the four agents and only the Assistants API adapter."""
    agents = [
        Echo(id="echo", name="Echo", model="scripted"),
        Weather(id="weather", name="Weather", model="scripted", tools=[WEATHER_TOOL]),
        Slow(id="slow", name="Slow", model="scripted"),
        Stuck(id="stuck", name="Stuck", model="scripted", tools=[WEATHER_TOOL]),
    ]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the adapter says it is deprecated
        adapter = AssistantAPIAdapter()
    return LLAMPHouse(
        agents=agents,
        adapters=[adapter],
        worker=BusyWorker(time_out=WORKER_TIMEOUT),
    )


def main() -> None:
    """Serve on 127.0.0.1, on a free port, until killed."""
    app = build()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    config = uvicorn.Config(app.fastapi, log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(f"PORT {port}", flush=True)
    print(json.dumps({"agents": [a.id for a in app.agents]}), file=sys.stderr, flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
