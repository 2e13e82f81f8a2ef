"""The checks of one response and of one output item: the catalogue's Responses rules.

The rules themselves (code, severity, summary, scope) are entries of the one
`steplife.CATALOGUE`, tuned with the same `Rules`; their check functions are here, as
for steps and runs each rule is one small function of a record returning a message
when the record breaks it. A response's findings name it in ``run_id`` and an item
in ``step_id`` (OpenAI's own mapping: runs -> responses, run steps -> output items),
so every report and output format shows them without a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, TypeVar

from steplife._findings import Finding, Severity
from steplife._rules import DEFAULT_RULES, Rules
from steplife.responses._model import (
    AWAITING_CLIENT,
    ITEM_TERMINAL_STATUSES,
    ITEM_TYPE_STATUSES,
    RESPONSE_TERMINAL_STATUSES,
    OutputItem,
    Response,
    UnknownItem,
)

__all__ = [
    "ITEM_RULES",
    "RESPONSE_RULES",
    "check",
    "check_item",
    "check_response",
    "compiled",
]

Checked = TypeVar("Checked")


def _object_type(response: Response) -> str | None:
    if response.object == "response":
        return None
    return f"object is {response.object!r}, expected 'response'"


def _usage_before_terminal(response: Response) -> str | None:
    if response.usage is None or response.status in RESPONSE_TERMINAL_STATUSES:
        return None
    return f"usage is set while the response is {response.status}; it stays null until it ends"


def _usage_total(response: Response) -> str | None:
    usage = response.usage
    if usage is None:
        return None
    given, taken, total = usage.input_tokens, usage.output_tokens, usage.total_tokens
    if min(given, taken, total) < 0:
        return f"token counts must not be negative: {given}, {taken}, {total}"
    if total != given + taken:
        return f"total_tokens={total} but input_tokens + output_tokens = {given + taken}"
    return None


def _error_without_failure(response: Response) -> str | None:
    if response.error is None or response.status == "failed":
        return None
    return f"error is set on the {response.status} response; only failed responses carry one"


def _failure_without_error(response: Response) -> str | None:
    if response.error is not None or response.status != "failed":
        return None
    return "the response failed without error"


def _incomplete_details(response: Response) -> str | None:
    incomplete = response.status == "incomplete"
    if incomplete == (response.incomplete_details is not None):
        return None
    if incomplete:
        return "the response is incomplete but incomplete_details is null"
    return f"incomplete_details is set on the {response.status} response"


def _completed_at(response: Response) -> str | None:
    completed_at = response.completed_at
    if completed_at is None:
        return None
    if response.status != "completed":
        return (
            f"completed_at is set on the {response.status} response; only completed ones carry it"
        )
    if completed_at < response.created_at:
        return f"completed_at={completed_at} precedes created_at={response.created_at}"
    return None


def open_item_problem(response_status: str, item: OutputItem) -> str | None:
    """Why `item`, in a response that ended `response_status`, is still open; or None."""
    status = item.status
    if status is None or status in ITEM_TERMINAL_STATUSES or item.type in AWAITING_CLIENT:
        return None
    return f"the response ended {response_status} while its {item.type} item is still {status}"


RESPONSE_RULES: Final[tuple[tuple[str, Callable[[Response], str | None]], ...]] = (
    ("response-object-type", _object_type),
    ("response-usage-before-terminal", _usage_before_terminal),
    ("response-usage-total", _usage_total),
    ("response-error-without-failure", _error_without_failure),
    ("response-failure-without-error", _failure_without_error),
    ("response-incomplete-details", _incomplete_details),
    ("response-completed-at", _completed_at),
)
"""The checks of a response alone, in catalogue order (its items are checked apart)."""


def _status_type(item: OutputItem) -> str | None:
    status = item.status
    if status is None:
        return None
    allowed = ITEM_TYPE_STATUSES.get(item.type)
    if allowed is None or status in allowed:
        return None
    return f"a {item.type} item has no status {status!r} (it has {', '.join(sorted(allowed))})"


def _unknown_type(item: OutputItem) -> str | None:
    if type(item) is not UnknownItem:
        return None
    return f"undocumented value: type {item.type!r}"


ITEM_RULES: Final[tuple[tuple[str, Callable[[OutputItem], str | None]], ...]] = (
    ("item-status-type", _status_type),
    ("unknown-value", _unknown_type),
)
"""The checks of one output item, wherever it is seen (an event, a response's output)."""

_OPEN_ITEMS: Final = "response-finished-with-open-items"


class Compiled:
    """The Responses checks under one `Rules`: each with its severity, ignored ones left out."""

    __slots__ = ("items", "open_items", "responses", "rules")

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.responses = _tuned(rules, RESPONSE_RULES)
        self.items = _tuned(rules, ITEM_RULES)
        self.open_items = rules.severity_of(_OPEN_ITEMS)

    def response(self, response: Response, *, items: bool = True) -> list[Finding]:
        """Every rule `response` breaks (with its items' when `items`), in catalogue order."""
        found = []
        for code, severity, rule in self.responses:
            if (message := rule(response)) is not None:
                found.append(
                    Finding(rule=code, severity=severity, message=message, run_id=response.id)
                )
        if items and response.output:
            terminal = response.status in RESPONSE_TERMINAL_STATUSES
            for index, item in enumerate(response.output):
                path = f"output[{index}]"
                found += self.item(item, path=path, response_id=response.id)
                if terminal and self.open_items is not None:
                    problem = open_item_problem(response.status, item)
                    if problem is not None:
                        found.append(
                            Finding(
                                rule=_OPEN_ITEMS,
                                severity=self.open_items,
                                message=f"{path}: {problem}",
                                step_id=item.id,
                                path=path,
                                run_id=response.id,
                            )
                        )
        return found

    def item(
        self, item: OutputItem, *, path: str | None = None, response_id: str | None = None
    ) -> list[Finding]:
        """Every rule `item` breaks on its own."""
        found = []
        for code, severity, rule in self.items:
            if (message := rule(item)) is not None:
                shown = f"{path}: {message}" if path else message
                found.append(
                    Finding(
                        rule=code,
                        severity=severity,
                        message=shown,
                        step_id=item.id,
                        path=path,
                        run_id=response_id,
                    )
                )
        return found


def _tuned(
    rules: Rules, checks: Iterable[tuple[str, Callable[[Checked], str | None]]]
) -> tuple[tuple[str, Severity, Callable[[Checked], str | None]], ...]:
    tuned = []
    for code, check in checks:
        severity = rules.severity_of(code)
        if severity is not None:
            tuned.append((code, severity, check))
    return tuple(tuned)


_CACHE: dict[int, Compiled] = {}
_CACHED: Final = 8


def compiled(rules: Rules) -> Compiled:
    """The checks under `rules`, made once for the last few `Rules` used."""
    found = _CACHE.get(id(rules))
    if found is not None and found.rules is rules:
        return found
    if len(_CACHE) >= _CACHED:
        _CACHE.clear()
    made = _CACHE[id(rules)] = Compiled(rules)
    return made


def check_response(response: Response, rules: Rules) -> list[Finding]:
    """Every rule `response` and its output items break, under `rules`."""
    return compiled(rules).response(response)


def check_item(item: OutputItem, rules: Rules) -> list[Finding]:
    """Every rule `item` breaks on its own, under `rules`."""
    return compiled(rules).item(item)


def check(record: Response | OutputItem, *, rules: Rules = DEFAULT_RULES) -> list[Finding]:
    """Every rule `record` (a response with its items, or one output item) breaks, as findings.

    Never raises for a broken record: the findings say what is wrong.
    """
    if type(record) is Response:
        return check_response(record, rules)
    return check_item(record, rules)  # type: ignore[arg-type]
