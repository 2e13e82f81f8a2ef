"""Small helpers shared by the test modules (not fixtures: plain importable names)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
from hypothesis import settings

from steplife import RunStep
from steplife.model import (
    Function,
    FunctionToolCall,
    LastError,
    MessageCreation,
    MessageCreationDetails,
    ToolCallsDetails,
    Usage,
)

REPO = Path(__file__).resolve().parents[1]
"""The repository root (the folder holding ``pyproject.toml``)."""

REAL_FIXTURES = REPO.parent / "shared" / "fixtures" / "real"
"""The recorded real API data, kept beside the repository (``<repo>/../shared``)."""

MISSING_REAL_FIXTURES = "real fixtures folder ../shared/fixtures/real is absent"

EXAMPLES: Final = {"default": 100, "ci": 500, "thorough": 1000}
"""Examples per property test in each hypothesis profile (``HYPOTHESIS_PROFILE``).

``default`` is hypothesis' own count, for a developer's ``make test``; ``ci`` is five
times it, for every push; ``thorough`` (``make test-thorough``) gives every test 1,000,
costly or not, and adds the long searches. Costly tests take a share (`examples`).
"""

COSTLY: Final = 1 / 4
"""The share for a test whose examples cost 20-50 ms each (a stream generated and
replayed, a run machine run), measured under coverage on a 2-core machine; most
property tests cost 1-15 ms an example."""

HEAVY: Final = 1 / 8
"""The share for a test whose examples cost 50 ms or more each (a step machine run of
up to 50 moves, a strict machine checking every warning, one stream per rule)."""


def examples(share: float) -> settings:
    """Settings that draw `share` of the loaded profile's examples, and at least 10.

    Sized from the measured cost per example (see `COSTLY` and `HEAVY`), so that
    each profile spends its time where examples are cheap. The ``thorough`` profile
    gives every test its full count.
    """
    if settings.get_current_profile_name() == "thorough":
        share = 1
    return settings(max_examples=max(10, round(settings().max_examples * share)))


STEP_OBJECT = "thread.run.step"

WIRE_ORDER: Final = [
    "id",
    "object",
    "created_at",
    "run_id",
    "assistant_id",
    "thread_id",
    "type",
    "status",
    "cancelled_at",
    "completed_at",
    "expired_at",
    "failed_at",
    "last_error",
    "step_details",
    "usage",
    "metadata",
]
"""The top-level keys of a run step in the order the API writes them (as captured live)."""


class FakeClock:
    """A clock for `steplife.Lifecycle` that stands still until told to move."""

    def __init__(self, now: int = 1_700_000_000) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.now

    def advance(self, seconds: int = 1) -> int:
        """Move the clock forward by `seconds` and return the new time."""
        self.now += seconds
        return self.now


CREATED = 1_700_000_000
"""``created_at`` of the steps `make_step` builds."""


def make_step(**changes: Any) -> RunStep:
    """A clean ``in_progress`` message_creation step created at `CREATED`, then `changes`."""
    step = RunStep(
        id="step_1",
        created_at=CREATED,
        run_id="run_1",
        assistant_id="asst_1",
        thread_id="thread_1",
        type="message_creation",
        step_details=MessageCreationDetails(message_creation=MessageCreation(message_id="msg_1")),
    )
    return attrs.evolve(step, **changes)


def make_tool_step(**changes: Any) -> RunStep:
    """Like `make_step`, a ``tool_calls`` step with one function call."""
    call = FunctionToolCall(id="call_1", function=Function(name="f", arguments="{}"))
    details = ToolCallsDetails(tool_calls=[call])
    return make_step(type="tool_calls", step_details=details, **changes)


def finished(status: str, **changes: Any) -> RunStep:
    """A clean step in the terminal `status`, stamped 5 s after creation."""
    fields: dict[str, Any] = {"status": status, f"{status}_at": CREATED + 5}
    if status == "completed":
        fields["usage"] = Usage.of(10, 5)
    if status == "failed":
        fields["last_error"] = LastError(code="server_error", message="boom")
    return make_step(**{**fields, **changes})


def require_real_fixtures() -> Path:
    """The real fixtures folder, or skip the calling test when it is absent."""
    if not REAL_FIXTURES.is_dir():
        pytest.skip(MISSING_REAL_FIXTURES)
    return REAL_FIXTURES


def _step_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("object") == STEP_OBJECT:
            yield value
        for item in value.values():
            yield from _step_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _step_objects(item)


def _data_lines(text: str) -> Iterator[Any]:
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        try:
            yield json.loads(line.removeprefix("data:"))
        except ValueError:
            # The spec's own examples hold malformed run lines (SOURCES.md, finding 8);
            # no step line is malformed, which `test_every_real_snapshot_is_found` pins.
            continue


def real_step_snapshots() -> list[tuple[str, dict[str, Any]]]:
    """Every ``thread.run.step`` object in the real fixtures, with where it was found.

    JSON files are searched at any depth (list responses nest steps in ``data``);
    SSE and text captures contribute the objects of their ``data:`` lines. The
    label is ``<relative path>#<n>`` with n counting from 0 within the file.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    if not REAL_FIXTURES.is_dir():
        return found
    for path in sorted(REAL_FIXTURES.rglob("*")):
        if not path.is_file() or path.name in ("SOURCES.md", "_manifest.json"):
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            objects = list(_step_objects(json.loads(text)))
        elif path.suffix in (".sse", ".txt"):
            objects = [o for data in _data_lines(text) for o in _step_objects(data)]
        else:
            continue
        relative = path.relative_to(REAL_FIXTURES).as_posix()
        found += [(f"{relative}#{i}", o) for i, o in enumerate(objects)]
    return found


UNKNOWN_TOOL_SNAPSHOT = "simple-openai/threads_runssteps_getunknown_tool.json#0"
"""The one real step steplife refuses: hand-edited to hold a ``browser`` tool call."""


def real_snapshot_params(*, exclude: frozenset[str] = frozenset()) -> list[Any]:
    """`real_step_snapshots` (but `exclude`) as pytest parameters; one skip when absent."""
    snapshots = [(label, data) for label, data in real_step_snapshots() if label not in exclude]
    if not snapshots:
        return [pytest.param("absent", {}, marks=pytest.mark.skip(reason=MISSING_REAL_FIXTURES))]
    return [pytest.param(label, data, id=label) for label, data in snapshots]


def lost(read: Any, written: Any, path: str = "$") -> list[str]:
    """Where `written` does not hold what was `read`: each path, with what differs.

    A written object may have more keys than the read one (a documented field the
    input lacked is written as null), never fewer or other values; arrays must match
    item by item.
    """
    if type(read) is dict and type(written) is dict:
        problems = []
        for key, value in read.items():
            if key not in written:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += lost(value, written[key], f"{path}.{key}")
        return problems
    if type(read) is list and type(written) is list and len(read) == len(written):
        pairs = enumerate(zip(read, written, strict=True))
        return [p for i, (r, w) in pairs for p in lost(r, w, f"{path}[{i}]")]
    if type(read) is type(written) and read == written:
        return []
    if {type(read), type(written)} == {int, float} and read == written:
        return []  # JSON has one number type: a float field writes 1 as 1.0
    return [f"{path}: read {read!r}, written {written!r}"]


def without_extra(value: Any) -> Any:
    """A copy of record `value` with every unmodelled key dropped, at every depth."""
    if isinstance(value, list):
        return [without_extra(item) for item in value]
    if not attrs.has(type(value)):
        return value
    changes = {
        field.name: without_extra(getattr(value, field.name))
        for field in attrs.fields(type(value))
        if field.name != "extra"
    }
    return attrs.evolve(value, **changes, extra={})
