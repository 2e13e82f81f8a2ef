"""Following steps in a stream, and the rules only a sequence of step events can break.

The `Tracker` owns the stream; this module owns what it knows about steps: one
`LiveStep` per step in progress, the status of the steps that ended, and the stream
rules of a step's own events (``unknown-step``, ``after-terminal``,
``identity-changed``, ``time-travel``, ``snapshot-diverged``, ...). As in `RunBook`,
every check only *reads* state and returns problems; the Tracker notes them, decides
(in strict mode) whether the event is refused, and only then calls the functions that
change state. Checks of a step against its run are `RunBook`'s.
"""

from __future__ import annotations

import operator
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

import attrs

from steplife._findings import shown
from steplife._lifecycle import STEP_EVENT_KINDS, STEP_PREFIX, TERMINAL_KINDS
from steplife._merge import MergeError, as_object, merge_delta
from steplife._rules import earliest_end_stamp, latest_stamp
from steplife._runs import Problem, RunState
from steplife._wire import (
    structure,
    structure_as,
    to_dict,
    unknown_keys,
    unstructure,
    wire_fields,
)
from steplife.errors import InvalidRecordError
from steplife.model import NO_EXTRA, STATUSES, STEP_TYPES, RunStep, StepStatus, StepType

__all__ = [
    "ENDED",
    "LIVE",
    "NEW",
    "STEP_EVENT_KINDS",
    "STEP_PREFIX",
    "TERMINAL_KINDS",
    "TWICE",
    "LiveStep",
    "Seen",
    "StepBook",
]

Where: TypeAlias = tuple[str | None, int, int]
"""An event's file, line and index in its input."""

Identity: TypeAlias = tuple[str, str, str, str, int]
_IDENTITY_FIELDS: Final = ("run_id", "thread_id", "assistant_id", "type", "created_at")


@attrs.define(eq=False)
class LiveStep:
    """What the Tracker holds for a step still in progress."""

    step: RunStep
    details: dict[str, Any] | None = None
    """The merged step_details (the SDK's plain dicts), once a delta arrived."""
    latest_stamp: int = 0
    where: Where = (None, 0, 0)
    """Where its last event was (the event's own tuple: setting it allocates nothing)."""
    run: RunState | None = None
    """Its run, once a run event of it was seen."""
    first_identity: Identity | None = None
    """Its identity as created, only once a snapshot with another one replaced `step`.

    None (nearly always) means `step`'s own: no tuple is kept per step for it.
    """
    created_exact: float | None = None
    """The exact instant its created_at named, when that came as an ISO-8601 date-time.

    Read as Unix seconds, the fraction is dropped: two creation times within one
    second would look equal. None (nearly always) when it came as Unix seconds.
    """

    @property
    def identity(self) -> Identity:
        """Its run, thread, assistant, type and created_at, as first seen."""
        return self.first_identity or _identity(self.step)


Seen: TypeAlias = Literal["new", "live", "ended", "twice"]
"""What a step's snapshot event finds in the book (plain strings: an enum's members
are slower to read, and this is read on every snapshot event)."""
NEW: Final = "new"
"""Never seen (or forgotten): the event starts it."""
LIVE: Final = "live"
"""In progress: the event carries a later snapshot."""
ENDED: Final = "ended"
"""Ended already: the event comes too late."""
TWICE: Final = "twice"
"""In progress, and the event says it was created."""


_NO_PROBLEMS: Final[Sequence[Problem]] = ()


def _identity(step: RunStep) -> Identity:
    return (step.run_id, step.thread_id, step.assistant_id, step.type, step.created_at)


class StepBook:
    """Every step a Tracker follows: the ones in progress, and how the others ended.

    Without `keep_finished`, a finished step leaves only its status, and only the
    most recent `remember` of those are kept (None keeps them all); `statuses` keeps
    counting them. With `by_run`, the live steps are also indexed by run id, so a
    run event finds its open steps without a scan.
    """

    def __init__(self, *, keep_finished: bool, remember: int | None, by_run: bool) -> None:
        self.keep_finished = keep_finished
        self.remember = remember
        self.live: dict[str, LiveStep] = {}
        self.ended: dict[str, str] = {}
        """The status each finished step (within the window) ended with, by id."""
        self.snapshots: dict[str, RunStep] = {}
        """The final snapshot of each finished step, with `keep_finished`."""
        self.statuses: Counter[str] = Counter()
        """How many steps ended in each status."""
        self.by_run: dict[str, dict[str, LiveStep]] | None = {} if by_run else None
        self._ended_order: deque[str] = deque()
        self.refused: dict[str, Where] = {}
        """Where the ``created`` event of each step was refused (it did not load),
        until the step is followed after all: its later events say why it is unknown."""

    # -- reading -----------------------------------------------------------------

    def status_of(self, step_id: str) -> str | None:
        """The tracked status of `step_id`, or None when it was never seen."""
        if step_id in self.live:
            return "in_progress"
        return self.ended.get(step_id)

    def snapshot(self, step_id: str) -> RunStep:
        """The current snapshot of `step_id`, with every delta merged so far.

        Raises `KeyError` for an unknown (or finished and not kept) step, and
        `InvalidRecordError` when the merged deltas do not make valid step details.
        """
        live = self.live.get(step_id)
        if live is None:
            return self.snapshots[step_id]
        if live.details is None:
            return live.step
        try:
            details = structure_as(as_object(live.details), type(live.step.step_details))
        except Exception:
            merged = {**to_dict(live.step), "step_details": live.details}
            result = structure(merged)
            problems = result if isinstance(result, list) else []
            raise InvalidRecordError(
                f"step {shown(step_id)}: merged deltas are invalid", problems
            ) from None
        return attrs.evolve(live.step, step_details=details)

    def repeated(self, data: Any) -> LiveStep | None:
        """The live step whose snapshot `data` (an ``in_progress`` payload) sends again.

        The snapshot already checked (as ``created`` sends it, usually): checking it
        again could only repeat its findings. The payload is compared with the live
        record itself, not a copy of its JSON, so nothing is kept per step for this.
        """
        step_id = data.get("id") if type(data) is dict else None
        live = self.live.get(step_id) if type(step_id) is str else None
        if (
            live is None
            or live.details is not None
            or not _is_snapshot_of(data, live.step)
            or not _same_extra(data, live.step)
        ):
            return None
        return live

    # -- checks on a step event (read only) --------------------------------------

    def seen(self, step_id: str, kind: str) -> Seen:
        """What a snapshot event of `kind` for `step_id` finds in the book."""
        if step_id in self.ended:
            return ENDED
        if step_id not in self.live:
            return NEW
        return TWICE if kind == "created" else LIVE

    def check_snapshot(self, step: RunStep, name: str, kind: str, seen: Seen) -> Sequence[Problem]:
        """What the snapshot event `name` (of `kind`) carrying `step` breaks, as `seen`.

        Only the checks of the event's name and of the step's past in this input;
        a live step's later snapshot is `check_known`'s.
        """
        expected = "in_progress" if kind == "created" or kind == "in_progress" else kind
        usual = seen == LIVE or (seen == NEW and kind == "created")
        if usual and step.status == expected:
            return _NO_PROBLEMS  # no list to build
        problems: list[Problem] = []
        step_id = step.id
        if step.status != expected:
            message = f"{name} carries status {step.status!r}, expected {expected!r}"
            problems.append(Problem("status-mismatch", message, step_id))
        if seen == ENDED:
            if kind == "created":
                problems.append(_duplicate(step_id))
            else:
                problems.append(self._after_terminal(name, step_id))
        elif seen == NEW:
            if kind != "created":
                message = f"{name} for step {shown(step_id)}, never created in this input: adopted"
                if step_id in self.refused:
                    message = (
                        f"{name} for step {shown(step_id)}, whose creation was refused "
                        f"{_at(self.refused[step_id])} (malformed-event): adopted"
                    )
                problems.append(Problem("adopted-step", message, step_id))
        elif seen == TWICE:
            problems.append(_duplicate(step_id))
        return problems

    @staticmethod
    def check_known(
        live: LiveStep,
        step: RunStep,
        data: dict[str, Any],
        name: str,
        kind: str,
        exact: float | None = None,
    ) -> list[Problem]:
        """What a later snapshot `step` (loaded from `data`) of the live step breaks.

        `exact` is the instant the payload's created_at named, when it came as an
        ISO-8601 date-time (see `LiveStep.created_exact`).
        """
        problems: list[Problem] = []
        known = live.step if live.first_identity is None else None
        if (
            known is None
            or step.run_id != known.run_id
            or step.thread_id != known.thread_id
            or step.assistant_id != known.assistant_id
            or step.type != known.type
            or step.created_at != known.created_at
        ) and (identity := _identity(step)) != (created := live.identity):
            changed = [
                f"{field} {before!r} -> {after!r}"
                for field, before, after in zip(_IDENTITY_FIELDS, created, identity, strict=True)
                if before != after
            ]
            problems.append(Problem("identity-changed", f"{name}: {', '.join(changed)}", step.id))
        elif (exact is not None or live.created_exact is not None) and (
            moved := _moved_within_second(live, step, exact)
        ):
            problems.append(Problem("identity-changed", f"{name}: created_at {moved}", step.id))
        earliest = earliest_end_stamp(step)
        # A stamp before the payload's own created_at is stamp-before-created's to report.
        if earliest is not None and step.created_at <= earliest < live.latest_stamp:
            message = f"{name}: stamp {earliest} is earlier than {live.latest_stamp}, already seen"
            problems.append(Problem("time-travel", message, step.id))
        if live.details is not None and kind in TERMINAL_KINDS:
            # The payload's own JSON: it loaded as `step`, so it is well formed.
            diverged = _diverged(live.details, data["step_details"], "step_details")
            if diverged:
                message = f"{name}: {diverged} differs from what the deltas accumulated"
                problems.append(Problem("snapshot-diverged", message, step.id))
        return problems

    def check_delta(
        self, name: str, data: Any
    ) -> tuple[LiveStep | None, dict[str, Any] | None, Sequence[Problem]]:
        """The live step a delta event is for, its step_details, and what it breaks.

        With no live step, the problems say why; with one, they can only be a
        ``delta-type-mismatch`` (to note after what its run says of the event).
        """
        step_id, details, problem = _read_delta(data)
        if problem is not None:
            path = problem.partition(":")[0]
            return None, None, [Problem("malformed-event", _label(name, problem), step_id, path)]
        assert step_id is not None
        if step_id in self.ended:
            return None, None, [self._after_terminal(name, step_id)]
        live = self.live.get(step_id)
        if live is None:
            message = f"{name} for step {shown(step_id)}, never seen before"
            if step_id in self.refused:
                message = (
                    f"{name} for step {shown(step_id)}, whose creation was refused "
                    f"{_at(self.refused[step_id])} (malformed-event)"
                )
            return None, None, [Problem("unknown-step", message, step_id)]
        if details is None:
            return live, None, _NO_PROBLEMS
        delta_type = details.get("type")
        if delta_type is None or delta_type == live.step.type:
            return live, details, _NO_PROBLEMS
        message = f"delta step_details.type is {delta_type!r} but the step is {live.step.type!r}"
        return live, details, [Problem("delta-type-mismatch", message, step_id)]

    def _after_terminal(self, name: str, step_id: str) -> Problem:
        message = f"{name} for step {shown(step_id)}, which already ended {self.ended[step_id]}"
        return Problem("after-terminal", message, step_id)

    # -- changes (only once the event is accepted) -------------------------------

    def adopt(
        self, step: RunStep, run: RunState | None, where: Where, exact: float | None = None
    ) -> None:
        """Start following `step`, of `run` when it was seen.

        `exact` is the instant its created_at named, when that came as an ISO-8601
        date-time (see `LiveStep.created_exact`).
        """
        _share_constants(step)
        live = LiveStep(step, None, latest_stamp(step), where, run)
        if exact is not None:
            live.created_exact = exact
        if self.refused:
            self.refused.pop(step.id, None)
        self.live[step.id] = live
        by_run = self.by_run
        if by_run is not None:
            group = by_run.get(step.run_id)
            if group is None:
                group = by_run[step.run_id] = {}
            else:
                _share_run_ids(step, next(iter(group.values())).step)
            group[step.id] = live

    def refuse(self, step_id: str, where: Where) -> None:
        """Note that the ``created`` event of `step_id`, at `where`, did not load."""
        refused = self.refused
        refused.pop(step_id, None)
        refused[step_id] = where
        if len(refused) > _REFUSED_KEPT:
            del refused[next(iter(refused))]  # the oldest: memory stays bounded

    @staticmethod
    def advance(live: LiveStep, step: RunStep, where: Where) -> None:
        """Take the ``in_progress`` snapshot `step` as the live step's latest."""
        live.where = where
        live.latest_stamp = max(live.latest_stamp, latest_stamp(step))
        if live.details is None:
            if live.first_identity is None and _identity(step) != _identity(live.step):
                # identity-changed was reported; later events are still compared with
                # the identity the step was created with.
                live.first_identity = _identity(live.step)
            _share_constants(step)
            _share_run_ids(step, live.step)
            live.step = step

    @staticmethod
    def merge(live: LiveStep, details: dict[str, Any], name: str, where: Where) -> Problem | None:
        """Merge a delta's step_details into the live step; a problem if they do not merge."""
        merged = live.details if live.details is not None else unstructure(live.step.step_details)
        try:
            # merge_delta never modifies its input: a bad delta leaves nothing behind.
            live.details = merge_delta(merged, details, "delta.step_details")
        except MergeError as exc:
            message = _label(name, f"data.{exc}")
            return Problem("malformed-event", message, live.step.id, f"data.{exc.path}")
        live.where = where
        return None

    def drop(self, live: LiveStep) -> None:
        """Stop following the live step (it ended): its record is dropped, not changed.

        A snapshot handed out before stays what it was.
        """
        step_id = live.step.id
        del self.live[step_id]
        by_run = self.by_run
        if by_run is not None:
            # The run it was indexed under: the one it was created in.
            first = live.first_identity
            run_id = live.step.run_id if first is None else first[0]
            group = by_run[run_id]
            del group[step_id]
            if not group:
                del by_run[run_id]

    def end(self, step: RunStep) -> None:
        """Record that a step ended with the final snapshot `step`."""
        step_id = step.id
        self.ended[step_id] = step.status
        if self.remember is not None:
            # Forget the oldest finished steps: memory must not grow with the input.
            order = self._ended_order
            order.append(step_id)
            if len(order) > self.remember:
                self.ended.pop(order.popleft(), None)
        self.statuses[step.status] += 1
        if self.keep_finished:
            self.snapshots[step_id] = step


# One copy of each closed-set string a step holds. The loader keeps every string of the
# JSON as read, and these (the object, the type, the status) would cost each live step
# some 200 bytes of copies; equal strings, nothing a reader can tell apart.
_OBJECT: Final = "thread.run.step"
_TYPES: Final[Mapping[str, StepType]] = {name: name for name in STEP_TYPES}
_STATUSES: Final[Mapping[str, StepStatus]] = {name: name for name in STATUSES}


def _share_constants(step: RunStep) -> None:
    """Point `step`'s closed-set strings at the one shared copy of each."""
    if step.object == _OBJECT:
        step.object = _OBJECT
    step.type = _TYPES.get(step.type, step.type)
    step.status = _STATUSES.get(step.status, step.status)


def _share_run_ids(step: RunStep, sibling: RunStep) -> None:
    """Point `step`'s run, thread and assistant ids at the equal ones of `sibling`.

    The live steps of one run repeat them: one copy serves all (each costs 80 bytes).
    """
    if step.run_id == sibling.run_id:
        step.run_id = sibling.run_id
    if step.thread_id == sibling.thread_id:
        step.thread_id = sibling.thread_id
    if step.assistant_id == sibling.assistant_id:
        step.assistant_id = sibling.assistant_id


_REFUSED_KEPT: Final = 10_000
"""How many refused creations a book remembers, the latest ones."""


def _at(where: Where) -> str:
    """Where an event was, as a message says it."""
    _, line, index = where
    return f"at line {line}" if line else f"at event {index}" if index else "earlier"


def _exact(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat().replace("+00:00", "Z")


def _moved_within_second(live: LiveStep, step: RunStep, exact: float | None) -> str | None:
    """How created_at moved within its second, as `exact` and the creation tell; or None."""
    before = live.created_exact if live.created_exact is not None else float(live.identity[4])
    after = exact if exact is not None else float(step.created_at)
    if before == after:
        return None
    return f"{_exact(before)} -> {_exact(after)} (the same Unix second, another instant)"


def _duplicate(step_id: str) -> Problem:
    return Problem("duplicate-created", f"step {shown(step_id)} was created before", step_id)


def _label(name: str | None, message: str) -> str:
    return f"{name}: {message}" if name else message


_NESTED_FIELDS: Final = ("last_error", "usage", "step_details")
# The fields a snapshot's JSON holds as plain values, equal to the record's own.
_PLAIN_FIELDS: Final = tuple(
    field.name for field in wire_fields(RunStep) if field.name not in _NESTED_FIELDS
)


_sent_plain: Final = operator.itemgetter(*_PLAIN_FIELDS)
_plain: Final = operator.attrgetter(*_PLAIN_FIELDS)

# Every key of a step's JSON: a payload that loaded has each of them.
_WIRE_KEYS: Final = frozenset((*_PLAIN_FIELDS, *_NESTED_FIELDS))
_WIRE_KEY_COUNT: Final = len(_WIRE_KEYS)


def _is_snapshot_of(data: dict[str, Any], step: RunStep) -> bool:
    """Whether `data` holds the JSON `step` was loaded from (other keys aside).

    An exact comparison (no digest), field by field, cheapest first: a repeat is
    skipped only when it cannot differ from the record in anything the checks read.
    """
    try:
        if _sent_plain(data) != _plain(step):  # one comparison of two tuples, in C
            return False
        last_error, usage = step.last_error, step.usage
        return (
            (
                data["last_error"] is None
                if last_error is None
                else _same(data["last_error"], last_error)
            )
            and (data["usage"] is None if usage is None else _same(data["usage"], usage))
            and data["step_details"] == unstructure(step.step_details)
        )
    except KeyError:
        return False  # a key is missing: the loader will say which


def _same_extra(data: dict[str, Any], step: RunStep) -> bool:
    """Whether `data` has exactly the unknown keys `step` carries (usually none).

    For a `data` known to hold every key of a step (`_is_snapshot_of` read them all).
    """
    if len(data) == _WIRE_KEY_COUNT:
        # Nothing but the step's own keys (the usual payload): no set to build.
        return step.extra is NO_EXTRA or not step.extra
    sent = unknown_keys(data, _WIRE_KEYS)
    return sent is step.extra or sent == step.extra


def _same(sent: Any, record: object) -> bool:
    return sent is not None and sent == unstructure(record)


def _read_delta(data: Any) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """The step id and step_details of a delta payload, or the reason it is malformed."""
    if type(data) is not dict:
        return None, None, "data: expected an object"
    step_id = data.get("id")
    if type(step_id) is not str:
        return None, None, "data.id: missing or not a string"
    delta = data.get("delta")
    if type(delta) is not dict:
        return step_id, None, "data.delta: missing or not an object"
    details = delta.get("step_details")
    if details is None:
        return step_id, None, None
    if type(details) is not dict:
        return step_id, None, "data.delta.step_details: expected an object"
    return step_id, details, None


def _diverged(accumulated: Any, final: Any, path: str) -> str | None:
    """The first path where what the deltas built disagrees with the final snapshot.

    The final snapshot may add what deltas never carry (a function's output, file
    search results), so only values the deltas did set are compared.
    """
    if accumulated is None or accumulated == final:
        return None  # equal all through (a comparison in C): nothing to walk
    if type(accumulated) is dict:
        if type(final) is not dict:
            return path
        for key, value in accumulated.items():
            if key == "index":
                continue
            found = _diverged(value, final.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if type(accumulated) is list:
        if type(final) is not list or len(final) < len(accumulated):
            return path
        for i, value in enumerate(accumulated):
            found = _diverged(value, final[i], f"{path}[{i}]")
            if found:
                return found
        return None
    return None if accumulated == final else path
