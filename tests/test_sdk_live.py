"""The real ``openai`` and ``azure-ai-agents`` clients, run against a local server.

Each client is pointed at `sdkserver` and runs unchanged: its HTTP stack, SSE decoder,
models, stream managers and event handlers do their real work on recorded bytes
(tests/fixtures/sdk, which imitate the real captures' quirks). A Tracker is fed
what the client hands the orchestrator: raw stream events (``feed``), a whole stream
(``consume`` / ``aconsume``), or a handler wrapped by `steplife.live.tracked`.

The azure client renames a step's ``expires_at`` to ``expired_at`` (its "workaround
for service bug"), which steplife then reads as an expiry stamp on a step that never
expired: azure replies are served without the steps' ``expires_at`` (`AZURE`), and
`test_azure_steps_with_expires_at_give_no_finding` pins the bug as an expected failure.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
from azure.ai.agents import AgentsClient
from azure.ai.agents.aio import AgentsClient as AsyncAgentsClient
from azure.ai.agents.models import (
    AgentEventHandler,
    AsyncAgentEventHandler,
    AsyncFunctionTool,
    RunStep,
    RunStepStatus,
    SubmitToolOutputsAction,
    ThreadRun,
    ToolOutput,
)
from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import HeadersPolicy
from azure.core.pipeline.transport import AsyncioRequestsTransport
from openai import AssistantEventHandler, AsyncAssistantEventHandler, AsyncOpenAI, OpenAI
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Run as OpenAIRun
from openai.types.beta.threads.runs import RunStep as OpenAIRunStep
from openai.types.beta.threads.runs import RunStepDeltaEvent
from typing_extensions import override

from sdkserver import FIXTURES, Reply, Scenario, SDKServer, without_step_keys
from sdkserver import sdk_server_fixture as sdk_server_fixture
from steplife import StreamError, Tracker, check, from_dict, read_events
from steplife.live import tracked

pytestmark = pytest.mark.filterwarnings(
    # openai marks every Assistants call deprecated; nothing else is let through.
    "ignore:The Assistants API is deprecated in favor of the Responses API:DeprecationWarning"
)

ASSISTANT = "asst_q3GkVw8TzR1mJb6LcXy2Nd0P"
MESSAGE_THREAD = "thread_Hn4cP0s9aWq2Lx7eKv3RbT1m"
MESSAGE_RUN = "run_Zb8YwQ2nVt5Ks1Hc9Lp4Dg7r"
MESSAGE_STEP = "step_Mf2Xr7Qa9Lc3Wv8Jt5Ne1Bk6"
GHOST_STEP = "step_Gh0stXq1Vn8Ls4Tc2Wm7Ry9K"
FUNCTION_THREAD = "thread_Wc5Nm1Zr8Qk3Tb6Xe2Ja9Ls4"
FUNCTION_RUN = "run_Kd9Hs2Pv6Yt1Rm4Gw8Cq3Nf5z"
TOOL_STEP = "step_Tj6Bq1Xw3Zn8Vr5Lp2Hc9Kd4"
ANSWER_STEP = "step_Rv3Ck8Nm5Ws1Yb7Qz4Lf2Hx6"
CALL = "call_Nb4Vx9Rk2Lq7Hw1Tz5Cm8Pd3"
WEATHER = "Oslo: 4 °C, light rain"

AZURE = without_step_keys("expires_at")
"""What azure replies go through: see the module docstring."""


class Fault(NamedTuple):
    """An injected fault: its stream, the call that gets it, and what steplife finds."""

    file: str
    endpoint: str
    last_event: str
    expected: list[tuple[str, str]]


FAULTS = {
    "unknown-step": Fault(
        "fault_unknown_step.sse",
        "create_thread_and_run",
        "thread.run.completed",
        [("unknown-step", GHOST_STEP)],
    ),
    "after-terminal": Fault(
        "fault_step_completed_twice.sse",
        "create_thread_and_run",
        "thread.run.completed",
        [("after-terminal", MESSAGE_STEP)],
    ),
    "run-finished-with-open-steps": Fault(
        "fault_run_completed_open_step.sse",
        "create_thread_and_run",
        "thread.run.completed",
        [("run-finished-with-open-steps", MESSAGE_STEP), ("dangling-step", MESSAGE_STEP)],
    ),
    "step-outside-run": Fault(
        "fault_step_created_requires_action.sse",
        "create_run",
        "thread.run.step.created",
        [
            ("step-outside-run", ANSWER_STEP),
            # One stream only: the run waits for tool outputs, both its steps are open.
            ("dangling-step", TOOL_STEP),
            ("dangling-step", ANSWER_STEP),
        ],
    ),
}
"""Each injected fault, by the code it is for."""

SECOND_STREAMS = ["function_run.2.sse", "function_run.2.completed_first.sse"]
"""The submit-tool-outputs stream as the issue describes it (the run queued again
before the tool step completes) and as a real capture has it (the step first)."""


def found(tracker: Tracker) -> list[tuple[str, str | None]]:
    """The tracker's findings as ``(rule, step id)``, in order."""
    return [(finding.rule, finding.step_id) for finding in tracker.findings]


def function_run(second: str = "function_run.2.sse", *, azure: bool = False) -> Scenario:
    """The function-tool run: its two streams, and the JSON a poller reads after it."""
    transform = AZURE if azure else None
    return {
        "create_run": Reply("function_run.1.sse", transform=transform),
        "submit_tool_outputs": Reply(second, transform=transform),
        # azure pages on until a page's `last_id` is null (has_more is not read).
        "list_steps": [Reply("function_run.steps.json"), Reply("function_run.steps.end.json")],
        "get_step": Reply("function_run.step.json"),
        "get_run": Reply("function_run.run.json"),
    }


def single(file: str, *, azure: bool = False) -> Scenario:
    """One stream, whichever call opens it."""
    reply = Reply(file, transform=AZURE if azure else None)
    return {"create_run": reply, "create_thread_and_run": reply}


# -- the fixtures themselves -------------------------------------------------------------

FIXTURE_FINDINGS: list[tuple[tuple[str, ...], list[tuple[str, str]]]] = [
    (("message_run.sse",), []),
    (("function_run.1.sse", "function_run.2.sse"), []),
    (("function_run.1.sse", "function_run.2.completed_first.sse"), []),
    (("function_run.1.sse",), [("dangling-step", TOOL_STEP)]),
    *(((fault.file,), fault.expected) for fault in FAULTS.values()),
]


@pytest.mark.parametrize(("files", "expected"), FIXTURE_FINDINGS, ids=lambda v: str(v))
def test_each_fixture_replays_to_exactly_its_findings(
    files: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    """Read by steplife itself (no SDK), one Tracker over the streams in order."""
    tracker = Tracker()
    for file in files:
        with (FIXTURES / file).open("rb") as stream:
            tracker.consume(read_events(stream, file))
    tracker.finish()
    assert expected == found(tracker)


def _fixture_payloads() -> Iterator[tuple[str, str, Any]]:
    for path in sorted(FIXTURES.iterdir()):
        if path.suffix == ".sse":
            with path.open("rb") as stream:
                for event in read_events(stream, path.name):
                    yield path.name, event.name or "", event.data
        elif path.suffix == ".json":
            data = orjson.loads(path.read_bytes())
            for item in data.get("data", [data]):
                yield path.name, str(item["object"]), item


def test_every_fixture_payload_is_one_the_openai_models_accept() -> None:
    """The reference types validate each step, delta and run; steplife's record
    rules find nothing on any step (the faults are in the sequences only)."""
    kinds = set()
    for file, name, data in _fixture_payloads():
        if name == "thread.run.step.delta":
            RunStepDeltaEvent.model_validate(data)
        elif name.startswith("thread.run.step"):
            step = OpenAIRunStep.model_validate(data)
            assert "expired_at" not in data, file  # the real streams' `expires_at` only
            assert [] == check(from_dict(data)), (file, step.id)
        elif name.startswith("thread.run"):
            OpenAIRun.model_validate(data)
        kinds.add(name)
    assert {"thread.created", "thread.message.delta", "done"} <= kinds


# -- openai, sync ------------------------------------------------------------------------


@pytest.fixture
def openai_client(sdk_server: SDKServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=sdk_server.openai_url, api_key="sk-test", max_retries=0) as client:
        yield client


def test_openai_raw_stream_fed_event_by_event_gives_no_finding(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    sdk_server.play(single("message_run.sse"))
    tracker = Tracker()
    with openai_client.beta.threads.create_and_run(assistant_id=ASSISTANT, stream=True) as stream:
        for event in stream:
            tracker.feed(event)
    tracker.finish()
    assert [] == found(tracker)
    assert {MESSAGE_STEP: "completed"} == {k: s.status for k, s in tracker.steps.items()}
    assert tracker.event_names["thread.created"] == 1  # passed by, counted
    assert ["create_thread_and_run"] == sdk_server.endpoints()
    assert sdk_server.requests[0].body == {"assistant_id": ASSISTANT, "stream": True}


@pytest.mark.parametrize("second", SECOND_STREAMS)
def test_openai_two_raw_streams_fed_to_one_tracker_follow_the_function_run(
    sdk_server: SDKServer, openai_client: OpenAI, second: str
) -> None:
    sdk_server.play(function_run(second))
    runs = openai_client.beta.threads.runs
    tracker = Tracker()
    with runs.create(FUNCTION_THREAD, assistant_id=ASSISTANT, stream=True) as stream:
        for event in stream:
            tracker.feed(event)
    assert [TOOL_STEP] == tracker.live_ids  # open across the streams, not dangling
    assert "requires_action" == tracker.runs[FUNCTION_RUN].status
    with runs.submit_tool_outputs(
        run_id=FUNCTION_RUN,
        thread_id=FUNCTION_THREAD,
        tool_outputs=[{"tool_call_id": CALL, "output": WEATHER}],
        stream=True,
    ) as stream:
        for event in stream:
            tracker.feed(event)
    tracker.finish()
    assert [] == found(tracker)
    assert {TOOL_STEP: "completed", ANSWER_STEP: "completed"} == {
        step_id: step.status for step_id, step in tracker.steps.items()
    }
    assert "completed" == tracker.runs[FUNCTION_RUN].status
    assert ["create_run", "submit_tool_outputs"] == sdk_server.endpoints()
    submitted = sdk_server.requests[1]
    assert f"/v1/threads/{FUNCTION_THREAD}/runs/{FUNCTION_RUN}/submit_tool_outputs" == (
        submitted.path
    )
    assert [{"tool_call_id": CALL, "output": WEATHER}] == submitted.body["tool_outputs"]


def test_openai_stream_managers_consumed_whole_give_no_finding(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    sdk_server.play(function_run())
    runs = openai_client.beta.threads.runs
    tracker = Tracker()
    with runs.stream(thread_id=FUNCTION_THREAD, assistant_id=ASSISTANT) as stream:
        tracker.consume(stream)
        required = stream.get_final_run().required_action
    assert required is not None
    calls = required.submit_tool_outputs.tool_calls
    with runs.submit_tool_outputs_stream(
        thread_id=FUNCTION_THREAD,
        run_id=FUNCTION_RUN,
        tool_outputs=[{"tool_call_id": call.id, "output": WEATHER} for call in calls],
    ) as stream:
        tracker.consume(stream)
    tracker.finish()
    assert [] == found(tracker)
    assert "completed" == tracker.runs[FUNCTION_RUN].status


class Recorder(AssistantEventHandler):
    """An orchestrator's own handler: it overrides ``on_event`` and a typed hook."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.done: list[str] = []

    @override
    def on_event(self, event: AssistantStreamEvent) -> None:
        self.names.append(event.event)

    @override
    def on_run_step_done(self, run_step: OpenAIRunStep) -> None:
        self.done.append(run_step.id)


def test_openai_tracked_handlers_of_both_streams_follow_the_run_with_one_tracker(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    sdk_server.play(function_run())
    runs = openai_client.beta.threads.runs
    tracker = Tracker()
    first = tracked(Recorder(), tracker)
    with runs.stream(
        thread_id=FUNCTION_THREAD, assistant_id=ASSISTANT, event_handler=first
    ) as stream:
        assert stream is first
        stream.until_done()
    second = tracked(Recorder(), tracker)
    with runs.submit_tool_outputs_stream(
        thread_id=FUNCTION_THREAD,
        run_id=FUNCTION_RUN,
        tool_outputs=[{"tool_call_id": CALL, "output": WEATHER}],
        event_handler=second,
    ) as stream:
        stream.until_done()
    tracker.finish()
    assert [] == found(tracker)
    # The handler's own override still hears every event, and the SDK still works.
    assert len(first.names) + len(second.names) == tracker.events
    assert [TOOL_STEP, ANSWER_STEP] == second.done
    assert "completed" == second.get_final_run().status


def test_a_handler_a_stream_manager_hands_back_can_be_tracked(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    sdk_server.play(single("message_run.sse"))
    tracker = Tracker()
    with openai_client.beta.threads.create_and_run_stream(assistant_id=ASSISTANT) as stream:
        tracked(stream, tracker).until_done()
    tracker.finish()
    assert [] == found(tracker)
    assert tracker.event_names["thread.message.delta"] == 6


@pytest.mark.parametrize("code", list(FAULTS))
def test_openai_raw_stream_reports_a_fault_and_reads_on(
    sdk_server: SDKServer, openai_client: OpenAI, code: str
) -> None:
    fault = FAULTS[code]
    sdk_server.play(single(fault.file))
    tracker = Tracker()
    names = []
    if fault.endpoint == "create_thread_and_run":
        stream = openai_client.beta.threads.create_and_run(assistant_id=ASSISTANT, stream=True)
    else:
        stream = openai_client.beta.threads.runs.create(
            FUNCTION_THREAD, assistant_id=ASSISTANT, stream=True
        )
    with stream:
        for event in stream:
            tracker.feed(event)
            names.append(event.event)
    tracker.finish()
    assert fault.expected == found(tracker)
    assert fault.last_event == names[-1]  # the client read the stream to its end


@pytest.mark.parametrize("code", [code for code in FAULTS if code != "unknown-step"])
def test_openai_tracked_handler_reports_a_fault_and_the_sdk_reads_on(
    sdk_server: SDKServer, openai_client: OpenAI, code: str
) -> None:
    fault = FAULTS[code]
    sdk_server.play(single(fault.file))
    tracker = Tracker()
    handler = tracked(Recorder(), tracker)
    threads = openai_client.beta.threads
    if fault.endpoint == "create_thread_and_run":
        manager = threads.create_and_run_stream(assistant_id=ASSISTANT, event_handler=handler)
    else:
        manager = threads.runs.stream(
            thread_id=FUNCTION_THREAD, assistant_id=ASSISTANT, event_handler=handler
        )
    with manager as stream:
        stream.until_done()
    tracker.finish()
    assert fault.expected == found(tracker)
    assert fault.last_event == handler.names[-1]


def test_an_unknown_step_delta_is_recorded_before_the_openai_handler_raises_key_error(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    """The SDK's own accumulation looks the delta's step up in a dict: a bare
    ``KeyError`` ends its handler's stream. steplife had the finding first; the raw
    stream (above) reads on past the same delta."""
    sdk_server.play(single("fault_unknown_step.sse"))
    tracker = Tracker()
    handler = tracked(Recorder(), tracker)
    manager = openai_client.beta.threads.create_and_run_stream(
        assistant_id=ASSISTANT, event_handler=handler
    )
    with manager as stream, pytest.raises(KeyError, match=GHOST_STEP):
        stream.until_done()
    assert [("unknown-step", GHOST_STEP)] == found(tracker)
    assert "thread.run.step.delta" == handler.names[-1]


def test_a_strict_tracker_stops_the_openai_handler_at_the_first_error(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    sdk_server.play(single("fault_step_completed_twice.sse"))
    tracker = Tracker(strict=True)
    handler = tracked(Recorder(), tracker)
    manager = openai_client.beta.threads.create_and_run_stream(
        assistant_id=ASSISTANT, event_handler=handler
    )
    with manager as stream, pytest.raises(StreamError) as raised:
        stream.until_done()
    assert ("after-terminal", MESSAGE_STEP) == (
        raised.value.finding.rule,
        raised.value.finding.step_id,
    )
    # Raised from the hook, before the handler's own: it never heard the event.
    assert "thread.run.step.completed" == handler.names[-1]
    assert handler.names.count("thread.run.step.completed") == 1


def test_tracking_a_handler_twice_feeds_each_tracker_each_event_once(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    sdk_server.play(single("message_run.sse"))
    one, other = Tracker(), Tracker()
    handler = tracked(tracked(tracked(Recorder(), one), one), other)
    manager = openai_client.beta.threads.create_and_run_stream(
        assistant_id=ASSISTANT, event_handler=handler
    )
    with manager as stream:
        stream.until_done()
    assert len(handler.names) == one.events == other.events
    assert [] == found(one) == found(other)
    assert "on_event" not in vars(Recorder())  # the instance is wrapped, not its class


@pytest.mark.parametrize("thing", [object(), Tracker(), [("thread.run.created", {})]])
def test_tracked_refuses_what_is_no_sdk_handler(thing: object) -> None:
    with pytest.raises(TypeError, match="an SDK's event handler"):
        tracked(thing, Tracker())


def test_openai_steps_and_run_can_be_read_back_as_json(
    sdk_server: SDKServer, openai_client: OpenAI
) -> None:
    """The JSON endpoints a poller reads: served, and the steps pass steplife's rules."""
    sdk_server.play(function_run())
    runs = openai_client.beta.threads.runs
    page = runs.steps.list(run_id=FUNCTION_RUN, thread_id=FUNCTION_THREAD)
    step = runs.steps.retrieve(step_id=TOOL_STEP, run_id=FUNCTION_RUN, thread_id=FUNCTION_THREAD)
    run = runs.retrieve(run_id=FUNCTION_RUN, thread_id=FUNCTION_THREAD)
    assert [ANSWER_STEP, TOOL_STEP] == [item.id for item in page.data]
    for item in [*page.data, step]:
        assert [] == check(from_dict(item.to_dict()))
    assert "completed" == run.status
    assert ["list_steps", "get_step", "get_run"] == sdk_server.endpoints()


# -- openai, async -----------------------------------------------------------------------


def test_openai_async_streams_with_aconsume_follow_the_function_run(
    sdk_server: SDKServer,
) -> None:
    sdk_server.play(function_run())

    async def run() -> Tracker:
        tracker = Tracker()
        async with AsyncOpenAI(
            base_url=sdk_server.openai_url, api_key="sk-test", max_retries=0
        ) as client:
            runs = client.beta.threads.runs
            stream = await runs.create(FUNCTION_THREAD, assistant_id=ASSISTANT, stream=True)
            async with stream:
                await tracker.aconsume(stream)
            stream = await runs.submit_tool_outputs(
                run_id=FUNCTION_RUN,
                thread_id=FUNCTION_THREAD,
                tool_outputs=[{"tool_call_id": CALL, "output": WEATHER}],
                stream=True,
            )
            async with stream:
                await tracker.aconsume(stream)
        return tracker

    tracker = asyncio.run(run())
    tracker.finish()
    assert [] == found(tracker)
    assert "completed" == tracker.runs[FUNCTION_RUN].status


class AsyncRecorder(AsyncAssistantEventHandler):
    """`Recorder`, for the async client."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    @override
    async def on_event(self, event: AssistantStreamEvent) -> None:
        self.names.append(event.event)


def test_openai_async_tracked_handlers_follow_the_function_run(sdk_server: SDKServer) -> None:
    sdk_server.play(function_run())
    tracker = Tracker()
    handlers = [tracked(AsyncRecorder(), tracker), tracked(AsyncRecorder(), tracker)]

    async def run() -> None:
        async with AsyncOpenAI(
            base_url=sdk_server.openai_url, api_key="sk-test", max_retries=0
        ) as client:
            runs = client.beta.threads.runs
            async with runs.stream(
                thread_id=FUNCTION_THREAD, assistant_id=ASSISTANT, event_handler=handlers[0]
            ) as stream:
                await stream.until_done()
            async with runs.submit_tool_outputs_stream(
                thread_id=FUNCTION_THREAD,
                run_id=FUNCTION_RUN,
                tool_outputs=[{"tool_call_id": CALL, "output": WEATHER}],
                event_handler=handlers[1],
            ) as stream:
                await stream.until_done()

    asyncio.run(run())
    tracker.finish()
    assert [] == found(tracker)
    assert sum(len(handler.names) for handler in handlers) == tracker.events


def test_an_unknown_step_delta_is_recorded_before_the_async_handler_raises_key_error(
    sdk_server: SDKServer,
) -> None:
    sdk_server.play(single("fault_unknown_step.sse"))
    tracker = Tracker()
    handler = tracked(AsyncRecorder(), tracker)

    async def run() -> None:
        async with AsyncOpenAI(
            base_url=sdk_server.openai_url, api_key="sk-test", max_retries=0
        ) as client:
            manager = client.beta.threads.create_and_run_stream(
                assistant_id=ASSISTANT, event_handler=handler
            )
            async with manager as stream:
                await stream.until_done()

    with pytest.raises(KeyError, match=GHOST_STEP):
        asyncio.run(run())
    assert [("unknown-step", GHOST_STEP)] == found(tracker)


# -- azure-ai-agents ---------------------------------------------------------------------


class FixedToken:
    """A credential that hands out one bearer token (the server checks none)."""

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken("steplife-test-token", int(time.time()) + 3600)


class AsyncFixedToken:
    """`FixedToken` for the async client."""

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken("steplife-test-token", int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncFixedToken:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass


class PlainHttp(HeadersPolicy):
    """Lets the bearer token go over plain HTTP, to 127.0.0.1 (azure-core refuses it
    by default); it runs before the authentication policy, on every request."""

    @override
    def on_request(self, request: PipelineRequest[Any]) -> None:
        super().on_request(request)
        request.context["enforce_https"] = False


def get_weather(city: str) -> str:
    """The weather in a city.

    :param city: The city.
    :return: The weather, in words.
    """
    return f"{city}: 4 °C, light rain"


@pytest.fixture
def azure_client(sdk_server: SDKServer) -> Iterator[AgentsClient]:
    client = AgentsClient(sdk_server.azure_endpoint, FixedToken(), headers_policy=PlainHttp())
    with client:
        yield client


def _tool_outputs(run: ThreadRun) -> list[ToolOutput]:
    action = run.required_action
    assert isinstance(action, SubmitToolOutputsAction)
    calls = action.submit_tool_outputs.tool_calls
    return [ToolOutput(tool_call_id=call.id, output=WEATHER) for call in calls]


def test_azure_stream_items_of_both_streams_fed_one_by_one_follow_the_run(
    sdk_server: SDKServer, azure_client: AgentsClient
) -> None:
    """azure's own way: the submit-tool-outputs stream is chained into the stream
    being read, which then goes on with its events."""
    sdk_server.play(function_run(azure=True))
    tracker = Tracker()
    with azure_client.runs.stream(thread_id=FUNCTION_THREAD, agent_id=ASSISTANT) as stream:
        for item in stream:
            tracker.feed(item)
            _, data, _ = item
            if isinstance(data, ThreadRun) and data.status == "requires_action":
                assert [TOOL_STEP] == tracker.live_ids
                azure_client.runs.submit_tool_outputs_stream(
                    thread_id=data.thread_id,
                    run_id=data.id,
                    tool_outputs=_tool_outputs(data),
                    event_handler=stream,
                )
    tracker.finish()
    assert [] == found(tracker)
    assert "completed" == tracker.runs[FUNCTION_RUN].status
    assert tracker.event_names["done"] == 2  # azure yields the end of each stream
    assert ["create_run", "submit_tool_outputs"] == sdk_server.endpoints()
    created, submitted = sdk_server.requests
    assert f"/api/projects/steplife/threads/{FUNCTION_THREAD}/runs" == created.path
    assert {"api-version": ["v1"]} == created.query
    assert "Bearer steplife-test-token" == created.headers["authorization"]
    assert [{"tool_call_id": CALL, "output": WEATHER}] == submitted.body["tool_outputs"]


def test_azure_stream_consumed_whole_gives_no_finding(
    sdk_server: SDKServer, azure_client: AgentsClient
) -> None:
    sdk_server.play(single("message_run.sse", azure=True))
    with azure_client.runs.stream(thread_id=MESSAGE_THREAD, agent_id=ASSISTANT) as stream:
        tracker = Tracker().consume(stream)
    tracker.finish()
    assert [] == found(tracker)
    assert {MESSAGE_STEP: "completed"} == {k: s.status for k, s in tracker.steps.items()}


class StepRecorder(AgentEventHandler[str]):
    """An orchestrator's own azure handler: its callbacks' results reach the items."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[str, str]] = []

    @override
    def on_run_step(self, step: RunStep) -> str:
        self.steps.append((step.id, RunStepStatus(step.status).value))
        return step.id


def test_azure_tracked_handler_runs_the_tool_and_follows_both_streams(
    sdk_server: SDKServer, azure_client: AgentsClient
) -> None:
    """With automatic function calls the handler itself submits the tool outputs and
    chains the second stream into itself: one handler, one tracker, both streams."""
    sdk_server.play(function_run(azure=True))
    azure_client.enable_auto_function_calls({get_weather})
    tracker = Tracker()
    handler = tracked(StepRecorder(), tracker)
    with azure_client.runs.stream(
        thread_id=FUNCTION_THREAD, agent_id=ASSISTANT, event_handler=handler
    ) as stream:
        assert stream is handler
        stream.until_done()
    tracker.finish()
    assert [] == found(tracker)
    assert "completed" == tracker.runs[FUNCTION_RUN].status
    assert (TOOL_STEP, "completed") in handler.steps
    assert (ANSWER_STEP, "completed") == handler.steps[-1]
    assert ["create_run", "submit_tool_outputs"] == sdk_server.endpoints()
    assert [{"tool_call_id": CALL, "output": WEATHER}] == (
        sdk_server.requests[1].body["tool_outputs"]
    )


@pytest.mark.parametrize("code", list(FAULTS))
def test_azure_tracked_handler_reports_a_fault_and_the_sdk_reads_on(
    sdk_server: SDKServer, azure_client: AgentsClient, code: str
) -> None:
    fault = FAULTS[code]
    sdk_server.play(single(fault.file, azure=True))
    tracker = Tracker()
    thread = MESSAGE_THREAD if fault.endpoint == "create_thread_and_run" else FUNCTION_THREAD
    names = []
    with azure_client.runs.stream(
        thread_id=thread, agent_id=ASSISTANT, event_handler=tracked(StepRecorder(), tracker)
    ) as stream:
        for name, _, _ in stream:
            names.append(name)
    tracker.finish()
    assert fault.expected == found(tracker)
    assert [fault.last_event, "done"] == names[-2:]


def test_azure_steps_with_expires_at_give_no_finding(
    sdk_server: SDKServer, azure_client: AgentsClient
) -> None:
    sdk_server.play(function_run())  # as recorded: every step carries `expires_at`
    azure_client.enable_auto_function_calls({get_weather})
    tracker = Tracker()
    with azure_client.runs.stream(
        thread_id=FUNCTION_THREAD,
        agent_id=ASSISTANT,
        event_handler=tracked(StepRecorder(), tracker),
    ) as stream:
        stream.until_done()
    tracker.finish()
    assert [] == found(tracker)


def _async_azure(server: SDKServer) -> AsyncAgentsClient:
    # azure-core's default async transport needs aiohttp: requests in a thread will do.
    return AsyncAgentsClient(
        server.azure_endpoint,
        AsyncFixedToken(),
        headers_policy=PlainHttp(),
        transport=AsyncioRequestsTransport(),
    )


def test_azure_async_stream_with_aconsume_gives_no_finding(sdk_server: SDKServer) -> None:
    sdk_server.play(single("message_run.sse", azure=True))

    async def run() -> Tracker:
        async with _async_azure(sdk_server) as client:
            stream = await client.runs.stream(thread_id=MESSAGE_THREAD, agent_id=ASSISTANT)
            async with stream as events:
                return await Tracker().aconsume(events)

    tracker = asyncio.run(run())
    tracker.finish()
    assert [] == found(tracker)
    assert tracker.event_names["thread.run.step.completed"] == 1


def test_azure_async_items_of_both_streams_fed_one_by_one_follow_the_run(
    sdk_server: SDKServer,
) -> None:
    sdk_server.play(function_run(azure=True))
    tracker = Tracker()

    async def run() -> None:
        async with _async_azure(sdk_server) as client:
            stream = await client.runs.stream(thread_id=FUNCTION_THREAD, agent_id=ASSISTANT)
            async with stream as events:
                async for item in events:
                    tracker.feed(item)
                    _, data, _ = item
                    if isinstance(data, ThreadRun) and data.status == "requires_action":
                        await client.runs.submit_tool_outputs_stream(
                            thread_id=data.thread_id,
                            run_id=data.id,
                            tool_outputs=_tool_outputs(data),
                            event_handler=events,
                        )

    asyncio.run(run())
    tracker.finish()
    assert [] == found(tracker)
    assert "completed" == tracker.runs[FUNCTION_RUN].status


class AsyncStepRecorder(AsyncAgentEventHandler[str]):
    """`StepRecorder`, for the async client."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[str, str]] = []

    @override
    async def on_run_step(self, step: RunStep) -> str:
        self.steps.append((step.id, RunStepStatus(step.status).value))
        return step.id


def test_azure_async_tracked_handler_runs_the_tool_and_follows_both_streams(
    sdk_server: SDKServer,
) -> None:
    sdk_server.play(function_run(azure=True))
    tracker = Tracker()
    handler = tracked(AsyncStepRecorder(), tracker)

    async def run() -> None:
        async with _async_azure(sdk_server) as client:
            client.enable_auto_function_calls(AsyncFunctionTool({get_weather}))
            stream = await client.runs.stream(
                thread_id=FUNCTION_THREAD, agent_id=ASSISTANT, event_handler=handler
            )
            async with stream as events:
                await events.until_done()

    asyncio.run(run())
    tracker.finish()
    assert [] == found(tracker)
    assert (ANSWER_STEP, "completed") == handler.steps[-1]
    assert ["create_run", "submit_tool_outputs"] == sdk_server.endpoints()


def test_azure_steps_and_run_can_be_read_back_as_json(
    sdk_server: SDKServer, azure_client: AgentsClient
) -> None:
    sdk_server.play(function_run())
    steps = list(azure_client.run_steps.list(thread_id=FUNCTION_THREAD, run_id=FUNCTION_RUN))
    step = azure_client.run_steps.get(
        thread_id=FUNCTION_THREAD, run_id=FUNCTION_RUN, step_id=TOOL_STEP
    )
    run = azure_client.runs.get(thread_id=FUNCTION_THREAD, run_id=FUNCTION_RUN)
    assert [ANSWER_STEP, TOOL_STEP] == [item.id for item in steps]
    assert TOOL_STEP == step.id
    assert "completed" == run.status
    assert ["list_steps", "list_steps", "get_step", "get_run"] == sdk_server.endpoints()
    assert {"api-version": ["v1"], "after": [TOOL_STEP]} == sdk_server.requests[1].query


# -- the guide ---------------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"


def _guide_blocks(section: str) -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.DOTALL)


def test_the_guide_section_runs_against_the_real_clients(
    sdk_server: SDKServer, openai_client: OpenAI, azure_client: AgentsClient
) -> None:
    """docs/embedding.md, section "The SDKs' streams and handlers": its blocks run in
    order, `client` and `agents_client` pointed at the server, each run twice."""
    first, second = Reply("function_run.1.sse"), Reply("function_run.2.sse")
    azure_first = Reply("function_run.1.sse", transform=AZURE)
    azure_second = Reply("function_run.2.sse", transform=AZURE)
    sdk_server.play(
        {
            "create_run": [first, first, azure_first, azure_first],
            "submit_tool_outputs": [second, second, azure_second, azure_second],
        }
    )
    namespace: dict[str, Any] = {
        "client": openai_client,
        "agents_client": azure_client,
        "thread_id": FUNCTION_THREAD,
        "assistant_id": ASSISTANT,
    }
    blocks = _guide_blocks("The SDKs' streams and handlers")
    assert len(blocks) == 3
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"embedding.md block {number}", "exec"), namespace)
    assert ["create_run", "submit_tool_outputs"] * 4 == sdk_server.endpoints()
    outputs = [request.body["tool_outputs"] for request in sdk_server.requests[1::2]]
    assert [[{"tool_call_id": CALL, "output": WEATHER}]] * 4 == outputs


# -- what importing costs ----------------------------------------------------------------


def test_importing_steplife_live_imports_no_sdk() -> None:
    code = (
        "import sys, steplife, steplife.live; "
        "assert not {'openai', 'azure'} & {m.split('.')[0] for m in sys.modules}, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'azure'))"
    )
    src = Path(__file__).parent.parent / "src"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=src)
