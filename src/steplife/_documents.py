"""Reading a JSON document: a step, a run, or a list page of them, checked object by object.

Users have more than streams: the API's get and list responses (``{"object": "list",
"data": [...]}``), single objects, often pretty-printed. `split_document` tells such an
input from a JSONL stream by its first line and reads it whole; `check_document` loads
each object it holds as the record its ``object`` names and checks that record's rules.
There is no lifecycle to replay in a document: each object is judged alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any, Final, Literal, TypeAlias, get_args

import attrs
import orjson

from steplife._events import BOM, Format
from steplife._findings import Finding, Severity
from steplife._rules import Rules
from steplife._wire import parse
from steplife.model import Run, RunStep

__all__ = [
    "INPUT_FORMATS",
    "Document",
    "DocumentCheck",
    "InputFormat",
    "check_document",
    "split_document",
]

InputFormat: TypeAlias = Literal["auto", "jsonl", "sse", "json"]
"""How `validate` reads an input: a stream format, or ``json`` for one JSON document."""
INPUT_FORMATS: Final[tuple[str, ...]] = (*get_args(Format), "json")

DOCUMENT_LIMIT: Final = 256 * 2**20
"""The largest input read whole as a document; a longer one is read as JSONL, line by line."""


@attrs.frozen
class Document:
    """A whole input that is one JSON value, or why it is not valid JSON (`error`)."""

    value: Any
    line: int
    """The line the document starts on (1-based)."""
    error: str | None = None


def split_document(
    lines: Iterable[bytes], *, forced: bool = False
) -> tuple[Document | None, Iterator[bytes]]:
    """The document `lines` make up, if they are one; else None and the lines, unread.

    The input is taken for a document when its first non-blank line cannot be a JSONL
    event: an opening ``{`` or ``[`` alone (pretty-printed JSON), an array, or an
    object without an ``"event"`` key (a bare API object). It is then read whole (up
    to `DOCUMENT_LIMIT`) and parsed; if that fails, the lines are given back for the
    JSONL reader to flag, unless the first line cannot be JSONL at all, or `forced`
    (``--format json``): then the document comes back with its `error`.
    """
    lines = iter(lines)
    head: list[bytes] = []
    for line in lines:
        head.append(line)
        if line.strip():
            break
    if head:
        head[0] = head[0].removeprefix(BOM)  # no content: not even for the JSONL reader
    if not head or not head[-1].strip():
        return None, iter(head)
    first = head[-1].strip()
    verdict = _first_line(first)
    if verdict == "event" and not forced:
        return None, chain(head, lines)
    body = list(head)
    size = sum(map(len, body))
    for line in lines:
        body.append(line)
        size += len(line)
        if size > DOCUMENT_LIMIT and not forced:
            return None, chain(body, lines)
    start = len(head)
    try:
        value = orjson.loads(b"".join(body))
    except orjson.JSONDecodeError as exc:
        if forced or verdict == "opening":
            return Document(None, start, f"a JSON document that is not valid JSON ({exc})"), iter(
                ()
            )
        return None, iter(body)
    return Document(value, start), iter(())


def _first_line(line: bytes) -> str:
    """``event`` when `line` can start a JSONL stream; else what it suggests instead."""
    if line in (b"{", b"["):
        return "opening"  # pretty-printed JSON: no JSONL line is this
    if not line.startswith((b"{", b"[")):
        return "event"  # not JSON text at all: leave it to the stream readers
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "partial"  # a JSON value spread over lines, or a broken JSONL line
    if type(value) is dict and "event" in value:
        return "event"
    return "value"


@attrs.frozen
class DocumentCheck:
    """What checking a document found, object by object."""

    objects: int
    findings: tuple[Finding, ...]
    step_statuses: dict[str, int]
    run_statuses: dict[str, int]


def check_document(
    document: Document, file: str | None, rules: Rules, *, strict: bool = False
) -> DocumentCheck:
    """Load and check every object of `document` with the rules of the record it is.

    Each finding is placed at the document's first line, its message led by where
    the object sits in it (``data[3]: ...`` in a list page). With `strict`, checking
    stops at the first error, as a replay does.
    """
    if document.error is not None:
        finding = Finding(
            rule="malformed-event",
            severity=Severity.ERROR,
            message=document.error,
            file=file,
            line=document.line,
        )
        return DocumentCheck(0, (finding,), {}, {})
    findings: list[Finding] = []
    steps: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    objects = 0
    for where, item in _objects(document.value):
        objects += 1
        parsed = parse(item, rules=rules)
        for finding in parsed.findings:
            shown = _placed(where, finding.message)
            findings.append(attrs.evolve(finding, message=shown, file=file, line=document.line))
        record = parsed.record
        if type(record) is RunStep:
            steps[record.status] += 1
        elif type(record) is Run:
            runs[record.status] += 1
        if strict and not parsed.ok:
            break
    return DocumentCheck(objects, tuple(findings), dict(steps), dict(runs))


def _placed(where: str, message: str) -> str:
    """`message` led by where its object sits (``data[3]``), which replaces a bare ``$``."""
    if not where:
        return message
    if message.startswith("$"):
        return where + message[1:]
    return f"{where}: {message}"


def _objects(value: Any) -> Iterator[tuple[str, Any]]:
    """Each object a document holds, with where it sits: a list page's items, or itself."""
    if type(value) is dict and value.get("object") == "list" and type(value.get("data")) is list:
        for index, item in enumerate(value["data"]):
            yield f"data[{index}]", item
    elif type(value) is list:
        for index, item in enumerate(value):
            yield f"[{index}]", item
    else:
        yield "", value
