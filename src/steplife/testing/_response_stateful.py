"""A hypothesis state machine that drives responses and their items through their lifecycles.

`response_lifecycle_machine` talks to the code under test through `ResponseAdapter`:
create a response, fire a trigger on it, add an output item, fire a trigger on an item,
read a snapshot. It keeps its own model of what every response must look like, written
from the API's rules and independent of steplife's machines, and after every call
checks the adapter against it: legal calls are accepted and give exactly the expected
snapshot (which breaks no error-level rule), illegal ones are rejected and change
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from steplife import Clock, Rules, Severity, SteplifeError
from steplife.model import IncompleteDetails
from steplife.responses import (
    OutputItem,
    Response,
    ResponseError,
    ResponseLifecycle,
    ResponseUsage,
    parse,
    to_json,
)
from steplife.testing._clock import FakeClock
from steplife.testing._response_streams import output_items, response_errors, response_usages

__all__ = [
    "ITEM_SOURCES",
    "RESPONSE_SOURCES",
    "ResponseAdapter",
    "ResponseLifecycleAdapter",
    "response_lifecycle_machine",
]

RESPONSE_TARGETS: Final[Mapping[str, str]] = {
    "start": "in_progress",
    "complete": "completed",
    "fail": "failed",
    "cancel": "cancelled",
    "mark_incomplete": "incomplete",
}
RESPONSE_SOURCES: Final[Mapping[str, frozenset[str]]] = {
    # Written from the API reference and the real captures, not read off steplife.
    "start": frozenset(("queued",)),
    "complete": frozenset(("in_progress",)),
    "fail": frozenset(("queued", "in_progress")),
    "cancel": frozenset(("queued", "in_progress")),
    "mark_incomplete": frozenset(("in_progress",)),
}
"""The statuses each response trigger may leave; the four endings absorb."""
_OPEN: Final = frozenset(("in_progress", "searching", "interpreting", "generating", "calling"))
ITEM_TARGETS: Final[Mapping[str, str]] = {
    "search": "searching",
    "interpret": "interpreting",
    "generate": "generating",
    "call": "calling",
    "complete": "completed",
    "mark_incomplete": "incomplete",
    "fail": "failed",
}
ITEM_SOURCES: Final[Mapping[str, frozenset[str]]] = {
    "search": frozenset(("in_progress",)),
    "interpret": frozenset(("in_progress",)),
    "generate": frozenset(("in_progress",)),
    "call": frozenset(("in_progress",)),
    "complete": _OPEN,
    "mark_incomplete": _OPEN,
    "fail": _OPEN,
}
"""The item statuses each item trigger may leave; the three endings absorb."""
_TYPE_STATUSES: Final[Mapping[str, frozenset[str]]] = {
    # Which statuses each drawn item type has (the SDK's, per type).
    "message": frozenset(("in_progress", "completed", "incomplete")),
    "function_call": frozenset(("in_progress", "completed", "incomplete")),
    "custom_tool_call": frozenset(("in_progress", "completed", "incomplete")),
    "web_search_call": frozenset(("in_progress", "searching", "completed", "incomplete", "failed")),
    "file_search_call": frozenset(
        ("in_progress", "searching", "completed", "incomplete", "failed")
    ),
    "code_interpreter_call": frozenset(
        ("in_progress", "interpreting", "completed", "incomplete", "failed")
    ),
}
_WAITS_FOR_CLIENT: Final = frozenset(("computer_call",))


class ResponseAdapter(Protocol):
    """What `response_lifecycle_machine` drives: your orchestrator or store, for responses.

    Stamps come from the adapter's clock; a rejected call raises one of the machine's
    ``rejections`` and leaves the response and its items as they were.
    """

    def create(self, *, id: str, background: bool) -> None:
        """Create a response: ``queued`` in background mode, else ``in_progress``."""

    def apply(
        self,
        response_id: str,
        trigger: str,
        *,
        usage: ResponseUsage | None,
        error: ResponseError | None,
        incomplete_details: IncompleteDetails | None,
    ) -> None:
        """Fire `trigger` (``start``, ``complete``, ...; or any other string) on it."""

    def add_item(self, response_id: str, item: OutputItem) -> None:
        """Append `item` to the response's output."""

    def fire_item(self, response_id: str, index: int, trigger: str) -> None:
        """Fire `trigger` (``search``, ``complete``, ...) on the item at `index`."""

    def snapshot(self, response_id: str) -> Response:
        """The response as it stands now."""


class ResponseLifecycleAdapter:
    """The reference adapter: steplife's own `ResponseLifecycle`, responses in a dict."""

    def __init__(self, clock: Clock, *, rules: Rules | None = None) -> None:
        self.lifecycle = ResponseLifecycle(clock=clock, rules=Rules() if rules is None else rules)
        self.responses: dict[str, Response] = {}

    def create(self, *, id: str, background: bool) -> None:
        """Create the response with `ResponseLifecycle.create` and keep it."""
        self.responses[id] = self.lifecycle.create(id=id, background=background)

    def apply(
        self,
        response_id: str,
        trigger: str,
        *,
        usage: ResponseUsage | None,
        error: ResponseError | None,
        incomplete_details: IncompleteDetails | None,
    ) -> None:
        """Fire `trigger` with `ResponseLifecycle.apply` (warnings returned, not issued)."""
        self.lifecycle.apply(
            self.responses[response_id],
            trigger,
            usage=usage,
            error=error,
            incomplete_details=incomplete_details,
        )

    def add_item(self, response_id: str, item: OutputItem) -> None:
        """Add `item` with `ResponseLifecycle.add_item` (a copy: the caller keeps its own)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.lifecycle.add_item(self.responses[response_id], attrs.evolve(item))

    def fire_item(self, response_id: str, index: int, trigger: str) -> None:
        """Fire `trigger` on the item with `ResponseLifecycle.fire_item`."""
        response = self.responses[response_id]
        self.lifecycle.fire_item(response, response.output[index], trigger)

    def snapshot(self, response_id: str) -> Response:
        """A copy of the response and of its items."""
        response = self.responses[response_id]
        return attrs.evolve(response, output=[attrs.evolve(i) for i in response.output])


@attrs.define
class _Model:
    status: str
    completed_at: int | None = None
    items: list[tuple[str, str | None]] = attrs.Factory(list)
    """Each item's type and status."""


_TRIGGERS: Final = (*RESPONSE_TARGETS, "explode", "")
_ITEM_TRIGGERS: Final = (*ITEM_TARGETS, "resume")
_ITEM_TYPES: Final = (*tuple(_TYPE_STATUSES), "reasoning")


class _ResponseMachine(RuleBasedStateMachine):
    adapter_factory: Callable[[FakeClock], ResponseAdapter]
    rejections: tuple[type[BaseException], ...]

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.adapter = type(self).adapter_factory(self.clock)
        self.models: dict[str, _Model] = {}

    @rule(background=st.booleans())
    def create(self, background: bool) -> None:
        response_id = f"resp_{len(self.models)}"
        self.adapter.create(id=response_id, background=background)
        self.models[response_id] = _Model("queued" if background else "in_progress")

    @rule(seconds=st.integers(0, 3600))
    def tick(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self.models)
    @rule(
        data=st.data(),
        trigger=st.sampled_from(_TRIGGERS),
        usage=st.none() | response_usages(),
        error=st.none() | response_errors(),
        details=st.none() | st.just(IncompleteDetails(reason="max_output_tokens")),
    )
    def fire(
        self,
        data: st.DataObject,
        trigger: str,
        usage: ResponseUsage | None,
        error: ResponseError | None,
        details: IncompleteDetails | None,
    ) -> None:
        response_id = data.draw(st.sampled_from(sorted(self.models)))
        model = self.models[response_id]
        target = RESPONSE_TARGETS.get(trigger)
        legal = target is not None and model.status in RESPONSE_SOURCES[trigger]
        if legal and target in ("completed", "failed", "cancelled", "incomplete"):
            legal = not any(
                status in _OPEN and kind not in _WAITS_FOR_CLIENT for kind, status in model.items
            )
        # What each ending carries: usage only at an end, error only on failed,
        # incomplete_details exactly on incomplete.
        if (
            legal
            and usage is not None
            and target not in ("completed", "incomplete", "failed", "cancelled")
        ):
            legal = False
        if legal and error is not None and target != "failed":
            legal = False
        if legal and (details is not None) != (target == "incomplete"):
            legal = False
        before = self.adapter.snapshot(response_id)
        self._call(
            legal,
            lambda: self.adapter.apply(
                response_id, trigger, usage=usage, error=error, incomplete_details=details
            ),
            response_id,
            before,
        )
        if legal:
            assert target is not None
            model.status = target
            if target == "completed":
                model.completed_at = self.clock.now

    @precondition(lambda self: self.models)
    @rule(
        data=st.data(),
        kind=st.sampled_from(_ITEM_TYPES),
        status=st.sampled_from(("in_progress", "completed", None)),
    )
    def add_item(self, data: st.DataObject, kind: str, status: str | None) -> None:
        response_id = data.draw(st.sampled_from(sorted(self.models)))
        model = self.models[response_id]
        if kind == "reasoning":
            status = None
        item = data.draw(output_items(types=kind))
        item.status = status
        legal = model.status == "in_progress" and status != "completed"
        before = self.adapter.snapshot(response_id)
        self._call(legal, lambda: self.adapter.add_item(response_id, item), response_id, before)
        if legal:
            model.items.append((kind, status))

    @precondition(lambda self: any(m.items for m in self.models.values()))
    @rule(data=st.data(), trigger=st.sampled_from(_ITEM_TRIGGERS))
    def fire_item(self, data: st.DataObject, trigger: str) -> None:
        response_id = data.draw(
            st.sampled_from(sorted(r for r, m in self.models.items() if m.items))
        )
        model = self.models[response_id]
        index = data.draw(st.integers(0, len(model.items) - 1))
        kind, status = model.items[index]
        target = ITEM_TARGETS.get(trigger)
        legal = (
            target is not None
            and status is not None
            and model.status in ("queued", "in_progress")
            and status in ITEM_SOURCES[trigger]
            and target in _TYPE_STATUSES.get(kind, frozenset())
        )
        before = self.adapter.snapshot(response_id)
        self._call(
            legal, lambda: self.adapter.fire_item(response_id, index, trigger), response_id, before
        )
        if legal:
            model.items[index] = (kind, target)

    def _call(
        self, legal: bool, call: Callable[[], None], response_id: str, before: Response
    ) -> None:
        if legal:
            call()
            return
        try:
            call()
        except self.rejections:
            pass
        else:
            raise AssertionError(f"an illegal call on {response_id} was accepted")
        assert before == self.adapter.snapshot(response_id), "a rejected call changed the response"

    @invariant()
    def snapshots_follow_the_model(self) -> None:
        for response_id, model in self.models.items():
            response = self.adapter.snapshot(response_id)
            assert model.status == response.status
            assert model.completed_at == response.completed_at
            assert model.items == [(item.type, item.status) for item in response.output]
            parsed = parse(to_json(response))
            assert parsed.record == response, "the JSON round trip changed the response"
            errors = [f for f in parsed.findings if f.severity is Severity.ERROR]
            assert not errors, errors


def response_lifecycle_machine(
    adapter: Callable[[FakeClock], ResponseAdapter],
    *,
    rejections: tuple[type[BaseException], ...] = (SteplifeError,),
) -> type[RuleBasedStateMachine]:
    """A state machine class that tests the responses `adapter` keeps; run its ``TestCase``.

    `adapter` is called with a fresh `FakeClock` for each run and returns a
    `ResponseAdapter`. The machine creates responses (in background mode or not),
    lets time pass, adds output items (open, already ended, or without status) and
    fires every response and item trigger, legal or not, with and without what each
    carries. An illegal call must raise one of `rejections` and change nothing.

    ``TestMyResponses = response_lifecycle_machine(MyAdapter).TestCase`` makes it a test.
    """
    if not callable(adapter):
        raise InvalidArgument(f"adapter={adapter!r} must be callable")
    if not (
        isinstance(rejections, tuple)
        and rejections
        and all(isinstance(r, type) and issubclass(r, BaseException) for r in rejections)
    ):
        raise InvalidArgument(f"rejections={rejections!r} must be a tuple of exception types")
    name = getattr(adapter, "__name__", type(adapter).__name__)
    attributes: dict[str, Any] = {
        "adapter_factory": staticmethod(adapter),
        "rejections": rejections,
    }
    return type(f"ResponseMachine_{name}", (_ResponseMachine,), attributes)
