"""The conformance scenarios: each drives one run through the official ``openai`` client.

A scenario makes its requests through the SDK, as an orchestrator would, and reads the
SDK's events to decide its next move (submit the tool outputs, cancel); what it checks
is what came over the wire: each response body, recorded byte for byte, is read by
steplife's own readers and fed to the scenario's one `Tracker`, in the order the
responses came (the streams of the run, then the polls). What only the exchange shows
(a stream answered as JSON, a stream that stops before its run does, a cancel the run
ignores) is reported under the catalogue's ``conformance`` rules.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Final

import attrs

from steplife._events import read_events
from steplife._findings import Finding, Severity, cut, shown
from steplife._polling import Poller
from steplife._rules import Rules
from steplife._sdk import event_of
from steplife._tracker import Tracker
from steplife._wire import (
    Leniency,
    structure,
    structure_leniently,
    structure_run,
    to_dict,
)
from steplife.conformance._recording import Exchange
from steplife.errors import InputError
from steplife.model import RUN_TERMINAL_STATUSES, Run, RunStep

__all__ = ["SCENARIOS", "Options", "Scenario", "ScenarioRun", "Unreachable"]

_WAITING: Final = "requires_action"
_RUN_PREFIX: Final = "thread.run."
_STEP_PREFIX: Final = "thread.run.step."
_DEPRECATED: Final = "The Assistants API is deprecated"
TOOL_OUTPUT: Final = '{"result": "steplife conformance: a tool output"}'
"""The output the function-tool scenarios submit for every call."""
PROMPT: Final = "Say hello in one short sentence."


class Unreachable(Exception):
    """The server could not be reached (no connection): nothing of the scenario ran."""


@attrs.frozen(kw_only=True)
class Options:
    """What the scenarios are told: the assistants to use and how long to wait."""

    assistant: str
    tool_assistant: str | None = None
    slow_assistant: str | None = None
    timeout: float = 60.0
    """How long a scenario waits for its run to end, in seconds."""
    poll_interval: float = 0.2


@attrs.define(eq=False)
class ScenarioRun:
    """One scenario as it runs: its client, its exchanges, its Tracker and its findings."""

    name: str
    client: Any
    exchanges: list[Exchange]
    rules: Rules
    options: Options
    prefix: str
    """What each response's file name starts with (the recording folder, when kept)."""
    tracker: Tracker = attrs.field(init=False)
    findings: list[Finding] = attrs.Factory(list)
    """The findings only the exchanges show (the ``conformance`` rules)."""
    skipped: str | None = None
    run_id: str | None = None
    thread_id: str | None = None
    _seen: int = 0
    """How many of `exchanges` are named (and fed) already."""
    _named: int = 0
    _poller: Poller | None = None
    """What polls after the streams feed the tracker through (see `_catch_up`)."""

    def __attrs_post_init__(self) -> None:
        self.tracker = Tracker(rules=self.rules, require_terminal=True)
        self._seen = len(self.exchanges)

    # -- findings --------------------------------------------------------------------

    def note(self, code: str, message: str, exchange: Exchange | None = None) -> None:
        """Record a finding of a ``conformance`` rule, at its configured severity."""
        finding = self.rules.finding(code, message)
        if finding is None:
            return
        self.findings.append(
            attrs.evolve(
                finding, file=None if exchange is None else exchange.file, run_id=self.run_id
            )
        )

    # -- requests --------------------------------------------------------------------

    def call(self, label: str, request: Callable[[], Any]) -> Any:
        """Make one SDK call; None (and a ``request-failed`` finding) when it is refused.

        Raises `Unreachable` when no connection could be made.
        """
        import openai

        try:
            with _quiet():
                return request()
        except openai.APIConnectionError as exc:
            raise Unreachable(f"{label}: {exc}") from exc
        except openai.APIStatusError as exc:
            exchange = self._name_exchanges(label)
            self.note("request-failed", _refusal(label, exc.status_code, exchange), exchange)
            return None
        finally:
            self._name_exchanges(label)

    def call_json(self, label: str, request: Callable[[], Any]) -> Any:
        """`call`, returning the response's JSON as it came (None when it failed).

        The JSON is read off the recorded body, not the SDK's model: a model built
        from a sloppy payload (a date-time where an integer belongs) warns when dumped.
        """
        if self.call(label, request) is None:
            return None
        exchange = self._last(label)
        return None if exchange is None else exchange.json()

    @contextmanager
    def stream(self, label: str, request: Callable[[], Any]) -> Iterator[Iterator[tuple[str, Any]]]:
        """Open a streamed call; yields its events as ``(name, JSON data)``.

        Once the stream is done (the rest of it is read if the caller stopped), its
        response is checked (server-sent events, ended by its run) and its body fed
        to the tracker. A refused call yields no event (and a ``request-failed``).
        """
        import openai

        events: list[tuple[str, Any]] = []

        def read(stream: Any) -> Iterator[tuple[str, Any]]:
            try:
                for item in stream:
                    with _quiet():
                        name, data = event_of(item)
                    events.append((name, data))
                    yield name, data
            except openai.APIError:
                return  # an `error` event ends the SDK's stream; the recording has it

        opened = self.call(label, request)
        if opened is None:
            yield iter(())
            return
        try:
            with opened as stream:
                reader = read(stream)
                yield reader
                for _ in reader:  # what the scenario did not read
                    pass
        finally:
            exchange = self._name_exchanges(label) or self._last(label)
        if exchange is None:
            return
        if not exchange.is_sse:
            self.note(
                "stream-not-sse",
                f"{label} asked for a stream (stream=true) and got "
                f"{exchange.content_type or 'no content type'}, not text/event-stream: "
                f"the client read {len(events)} events from it",
                exchange,
            )
            return
        if self._fed(exchange) is None:
            self.note(
                "stream-without-end",
                f"{label}: the stream ended before its run did: no terminal run event and "
                "no thread.run.requires_action in it",
                exchange,
            )

    def _last(self, label: str) -> Exchange | None:
        return next((e for e in reversed(self.exchanges) if e.label == label), None)

    def _name_exchanges(self, label: str) -> Exchange | None:
        """Name the exchanges made since the last call; the last of them (None: none)."""
        last = None
        for exchange in self.exchanges[self._seen :]:
            self._named += 1
            kind = (
                "sse" if exchange.is_sse else "json" if "json" in exchange.content_type else "txt"
            )
            exchange.label = label
            exchange.file = f"{self.prefix}{self._named:02d}-{label}.{kind}"
            last = exchange
        self._seen = len(self.exchanges)
        return last

    def _fed(self, exchange: Exchange) -> str | None:
        """Feed an SSE body to the tracker; the status its run's last event left, if it ended.

        None when no run event of the stream ended the run or handed it to the client.
        """
        last: str | None = None
        try:
            for event in read_events(io.BytesIO(exchange.decoded()), exchange.file, "sse"):
                self.tracker.feed_event(event)
                name, data = event.name or "", event.data
                if name.startswith(_RUN_PREFIX) and not name.startswith(_STEP_PREFIX):
                    if type(data) is dict:
                        if self.run_id is None and type(data.get("id")) is str:
                            self.run_id = data["id"]
                        if self.thread_id is None and type(data.get("thread_id")) is str:
                            self.thread_id = data["thread_id"]
                    last = name[len(_RUN_PREFIX) :]
        except InputError as exc:
            self.note("stream-not-sse", f"{exchange.label}: {exc}", exchange)
            return _WAITING  # said already: no second finding for its end
        if last in RUN_TERMINAL_STATUSES or last == _WAITING:
            return last
        return None

    # -- polling ---------------------------------------------------------------------

    def observe(self, poller: Poller, snapshots: list[Any]) -> None:
        """`Poller.observe`, its findings located at the poll's last response.

        The Poller orders a poll's events by reading each snapshot strictly: one with
        ISO-8601 timestamps would read as unreadable, and its events come out of order
        (a step ended before its run resumed). Such snapshots are given with their
        timestamps read as Unix seconds, and the ``timestamp-not-unix`` warnings said here.
        """
        snapshots = [self._readable(item) for item in snapshots]
        found = poller.observe(snapshots)
        if not found or not self.exchanges:
            return
        where = self.exchanges[-1].file
        findings = self.tracker.findings
        if findings[-len(found) :] == found:
            findings[-len(found) :] = [attrs.evolve(f, file=where) for f in found]

    def _readable(self, item: Any) -> Any:
        """`item` (a snapshot or a list page), its ISO-8601 timestamps as Unix seconds."""
        if type(item) is not dict:
            return item
        if item.get("object") == "list" and type(item.get("data")) is list:
            return {**item, "data": [self._readable(entry) for entry in item["data"]]}
        cls: type[Run] | type[RunStep]
        problems: Run | RunStep | list[Finding]
        if item.get("object") == "thread.run":
            cls, problems = Run, structure_run(item)
        elif item.get("object") == "thread.run.step":
            cls, problems = RunStep, structure(item)
        else:
            return item
        if not isinstance(problems, list):
            return item
        read: Leniency[Any] | None = structure_leniently(cls, item, problems)
        if read is None or read.nulled or not read.converted:
            return item  # the tracker reports it as it is
        where = self.exchanges[-1] if self.exchanges else None
        copy = dict(item)
        for finding in read.converted:
            path = finding.path or ""
            if path in copy and "." not in path and "[" not in path:
                copy[path] = int(read.instants[path] // 1)
                name = "run" if cls is Run else "step"
                self.note(
                    "timestamp-not-unix",
                    f"{name} {shown(item.get('id'))}: {finding.message}",
                    where,
                )
        return copy

    def retrieve(self) -> dict[str, Any] | None:
        """The run as ``runs.retrieve`` returns it now, as JSON; None when that failed."""
        runs = self.client.beta.threads.runs
        run_id, thread_id = self.run_id, self.thread_id
        if run_id is None or thread_id is None:
            return None
        data = self.call_json("retrieve_run", lambda: runs.retrieve(run_id, thread_id=thread_id))
        return data if type(data) is dict else None

    def list_steps(self) -> list[dict[str, Any]]:
        """The run's steps, oldest first, as JSON (the first page)."""
        steps = self.client.beta.threads.runs.steps
        run_id, thread_id = self.run_id, self.thread_id
        if run_id is None or thread_id is None:
            return []
        page = self.call_json(
            "list_steps", lambda: steps.list(run_id, thread_id=thread_id, order="asc", limit=100)
        )
        data = page.get("data") if type(page) is dict else None
        return [step for step in data if type(step) is dict] if type(data) is list else []

    def settle(self) -> dict[str, Any] | None:
        """Poll the run until it ended (or waits for the client); feed what changed.

        The steps and the run are fed to the tracker as the events their change
        implies (a step the streams never showed is adopted, said so), steps first.
        """
        deadline = time.monotonic() + self.options.timeout
        while True:
            run = self.retrieve()
            if run is None:
                return None
            status = run.get("status")
            if status in RUN_TERMINAL_STATUSES or status == _WAITING:
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(self.options.poll_interval)
        self._catch_up(self.list_steps(), run)
        return run

    def _catch_up(self, steps: Sequence[dict[str, Any]], run: dict[str, Any]) -> None:
        """Feed the tracker what the poll shows beyond what the streams said.

        A `Poller` orders the implied events (a run resumed before its new steps, the
        step a run waits for ended once it waits): it is first shown, on a tracker of
        its own, the run and steps as the streams left them, then given this one.
        """
        if self._poller is None:
            self._poller = Poller(Tracker(rules=self.rules))
            known = [to_dict(record) for record in self.tracker.runs.values()]
            known += [to_dict(step) for step in self.tracker.steps.values()]
            self._poller.observe(known)
            self._poller.tracker = self.tracker
        self.observe(self._poller, [run, {"object": "list", "data": list(steps)}])


Scenario = Callable[[ScenarioRun], None]


@contextmanager
def _quiet() -> Iterator[None]:
    """The openai client's deprecation warning for every Assistants call, silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATED, category=DeprecationWarning)
        # The SDK's models dumped back to JSON (its events' data): a model built from a
        # sloppy payload warns about each value of the wrong type, said by our rules.
        warnings.filterwarnings(
            "ignore", message="Pydantic serializer warnings", category=UserWarning
        )
        yield


def _refusal(label: str, status: int, exchange: Exchange | None) -> str:
    body = "" if exchange is None else exchange.decoded().decode("utf-8", "replace")
    detail = _error_text(body)
    return f"{label} was answered {status}" + (f": {cut(detail, 160)}" if detail else "")


def _error_text(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)
    return body.strip()


def _user_thread(text: str = PROMPT) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _required_calls(run: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The function calls a waiting run's ``required_action`` lists."""
    action = (run or {}).get("required_action") or {}
    calls = (action.get("submit_tool_outputs") or {}).get("tool_calls") or []
    return [call for call in calls if isinstance(call, dict) and type(call.get("id")) is str]


def _open_calls(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The function calls of the steps still in progress, without an output."""
    calls = []
    for step in steps:
        if step.get("status") != "in_progress":
            continue
        details = step.get("step_details") or {}
        for call in details.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if (
                isinstance(function, dict)
                and call.get("type") == "function"
                and type(call.get("id")) is str
                and not function.get("output")
            ):
                calls.append(call)
    return calls


# -- the scenarios -----------------------------------------------------------------------


def message_run(run: ScenarioRun) -> None:
    """A plain message run, streamed: created, in progress, a message step, completed."""
    threads = run.client.beta.threads
    assistant = run.options.assistant
    with run.stream(
        "create_and_run",
        lambda: threads.create_and_run(assistant_id=assistant, thread=_user_thread(), stream=True),
    ) as events:
        for _ in events:
            pass
    _settle_after_streams(run)


def function_run(run: ScenarioRun) -> None:
    """A function-tool run: requires_action, then submit_tool_outputs in a second stream."""
    assistant = run.options.tool_assistant
    if assistant is None:
        run.skipped = "no --tool-assistant given"
        return
    threads = run.client.beta.threads
    waiting: dict[str, Any] | None = None
    with run.stream(
        "create_and_run",
        lambda: threads.create_and_run(
            assistant_id=assistant,
            thread=_user_thread("What is the weather in Oslo? Use your tool."),
            stream=True,
        ),
    ) as events:
        for name, data in events:
            if name == "thread.run.requires_action" and type(data) is dict:
                waiting = data
    for _ in range(3):  # rounds of tool outputs
        calls = _required_calls(waiting)
        asked = bool(calls)
        if not asked:
            state = run.settle()
            if state is None or state.get("status") != _WAITING:
                if not _any_function_call(run):
                    run.note(
                        "tool-call-not-requested",
                        f"run {shown(run.run_id)} of the function-tool assistant "
                        f"{shown(assistant)} never asked the client for a function's output "
                        f"(it ended {state.get('status') if state else 'unseen'}, and no step "
                        "called a function)",
                    )
                return
            calls = _required_calls(state) or _open_calls(run.list_steps())
            ids = ", ".join(shown(call["id"]) for call in calls) or "none listed"
            run.note(
                "tool-call-not-requested",
                f"run {shown(run.run_id)} waits for tool outputs (calls {ids}), but its "
                "stream never said so: no thread.run.requires_action event reached the client",
                run._last("retrieve_run"),
            )
            if not calls:
                return
        outputs = [{"tool_call_id": call["id"], "output": TOOL_OUTPUT} for call in calls]
        run_id, thread_id = run.run_id, run.thread_id
        if run_id is None or thread_id is None:
            return
        waiting = None
        with run.stream(
            "submit_tool_outputs",
            partial(
                threads.runs.submit_tool_outputs,
                run_id,
                thread_id=thread_id,
                tool_outputs=outputs,
                stream=True,
            ),
        ) as events:
            for name, data in events:
                if name == "thread.run.requires_action" and type(data) is dict:
                    waiting = data
        if waiting is None:
            break
    _settle_after_streams(run)


def _any_function_call(run: ScenarioRun) -> bool:
    for step in run.tracker.steps.values():
        details = step.step_details
        if details.type == "tool_calls" and any(c.type == "function" for c in details.tool_calls):
            return True
    return False


def cancelled_run(run: ScenarioRun) -> None:
    """A run cancelled as soon as it exists: it ends cancelled (through cancelling)."""
    threads = run.client.beta.threads
    assistant = run.options.slow_assistant or run.options.assistant
    acknowledged: dict[str, Any] | None = None
    ended_first: str | None = None
    with run.stream(
        "create_and_run",
        lambda: threads.create_and_run(assistant_id=assistant, thread=_user_thread(), stream=True),
    ) as events:
        for name, data in events:
            if not name.startswith(_RUN_PREFIX) or name.startswith(_STEP_PREFIX):
                continue
            if type(data) is not dict:
                continue
            status = data.get("status")
            if acknowledged is None and ended_first is None:
                if status in RUN_TERMINAL_STATUSES:
                    ended_first = str(status)
                    continue
                run_id, thread_id = data.get("id"), data.get("thread_id")
                if type(run_id) is not str or type(thread_id) is not str:
                    continue
                run.run_id, run.thread_id = run_id, thread_id
                answer = run.call_json(
                    "cancel", partial(threads.runs.cancel, run_id, thread_id=thread_id)
                )
                acknowledged = answer if type(answer) is dict else {}
    if ended_first is not None and not acknowledged:
        run.skipped = (
            f"the run ended {ended_first} before it could be cancelled "
            "(point --slow-assistant at an assistant that takes a few seconds)"
        )
    final = _settle_after_streams(run)
    if acknowledged and final is not None and final.get("status") != "cancelled":
        cancel = next((e for e in reversed(run.exchanges) if e.label == "cancel"), None)
        run.note(
            "cancel-ignored",
            f"run {shown(run.run_id)}: its cancel was acknowledged "
            f"({shown(acknowledged.get('status'))}), and it ended {shown(final.get('status'))}",
            cancel,
        )


def polled_run(run: ScenarioRun) -> None:
    """A run created without a stream and polled until it ends: runs.retrieve, steps.list."""
    threads = run.client.beta.threads
    assistant = run.options.assistant
    created = run.call_json(
        "create_and_run",
        lambda: threads.create_and_run(assistant_id=assistant, thread=_user_thread()),
    )
    _poll(run, created)


def polled_function_run(run: ScenarioRun) -> None:
    """A function-tool run polled: requires_action, the outputs submitted, polled to its end."""
    assistant = run.options.tool_assistant
    if assistant is None:
        run.skipped = "no --tool-assistant given"
        return
    threads = run.client.beta.threads
    created = run.call_json(
        "create_and_run",
        lambda: threads.create_and_run(
            assistant_id=assistant,
            thread=_user_thread("What is the weather in Oslo? Use your tool."),
        ),
    )
    _poll(run, created, tools=True)


def _poll(run: ScenarioRun, created: Any, *, tools: bool = False) -> None:
    """Poll the run (with its steps) until it ends, submitting tool outputs when asked."""
    if type(created) is not dict:
        return
    poller = Poller(run.tracker)
    runs = run.client.beta.threads.runs
    run.run_id, run.thread_id = created.get("id"), created.get("thread_id")
    if created.get("status") in RUN_TERMINAL_STATUSES:
        # Ended already: its steps go in the same poll, or they would read as later.
        run.observe(poller, [created, {"object": "list", "data": run.list_steps()}])
        return
    run.observe(poller, [created])
    deadline = time.monotonic() + run.options.timeout
    submitted: set[str] = set()
    while time.monotonic() < deadline:
        time.sleep(run.options.poll_interval)
        state = run.retrieve()
        if state is None:
            return
        steps = run.list_steps()
        run.observe(poller, [state, {"object": "list", "data": steps}])
        status = state.get("status")
        if status in RUN_TERMINAL_STATUSES:
            break
        if status != _WAITING or not tools:
            continue
        calls = [c for c in _required_calls(state) if c["id"] not in submitted]
        if not calls:
            calls = [c for c in _open_calls(steps) if c["id"] not in submitted]
            if not calls:
                continue
            run.note(
                "tool-call-not-requested",
                f"run {shown(run.run_id)} waits (requires_action) without listing the calls "
                "it waits for in required_action: they were read off its steps",
                run._last("retrieve_run"),
            )
        submitted.update(call["id"] for call in calls)
        outputs = [{"tool_call_id": call["id"], "output": TOOL_OUTPUT} for call in calls]
        run_id, thread_id = str(run.run_id), str(run.thread_id)
        run.call(
            "submit_tool_outputs",
            partial(runs.submit_tool_outputs, run_id, thread_id=thread_id, tool_outputs=outputs),
        )
    if tools and not submitted:
        run.note(
            "tool-call-not-requested",
            f"run {shown(run.run_id)} of the function-tool assistant never asked the client "
            "for a function's output",
            run._last("retrieve_run"),
        )


def _settle_after_streams(run: ScenarioRun) -> dict[str, Any] | None:
    """After a scenario's streams: its run's final state, polled and fed when they left it open."""
    if run.run_id is None:
        return None
    followed = run.tracker.runs.get(run.run_id)
    if followed is not None and followed.status in RUN_TERMINAL_STATUSES:
        return {"status": followed.status}
    return run.settle()


SCENARIOS: Final[Mapping[str, tuple[Scenario, str]]] = {
    "message-run": (message_run, "a plain message run, streamed"),
    "function-run": (
        function_run,
        "a function-tool run: requires_action ends the first stream, submit_tool_outputs "
        "streams the rest",
    ),
    "cancelled-run": (cancelled_run, "a run cancelled as soon as it exists ends cancelled"),
    "polled-run": (polled_run, "a run created without a stream, polled until it ends"),
    "polled-function-run": (
        polled_function_run,
        "a function-tool run polled through requires_action and its tool outputs",
    ),
}
"""Every scenario by name, with what it checks, in the order they run."""


def finding_is_error(finding: Finding) -> bool:
    """Whether `finding` fails its scenario."""
    return finding.severity is Severity.ERROR
