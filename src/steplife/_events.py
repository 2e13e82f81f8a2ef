"""Reading recorded event streams: JSONL and SSE, from files, stdin or gzip.

Readers yield `Event` tuples one at a time, so memory does not grow with the input.
A line or event that cannot be read becomes an `Event` with ``error`` set (and the
line it came from), never an exception: the Tracker turns it into a
``malformed-event`` finding and goes on.
"""

from __future__ import annotations

import gzip
import io
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import IO, Any, Final, Literal, NamedTuple, TypeAlias, cast

import orjson

from steplife.errors import InputError

__all__ = [
    "Event",
    "Format",
    "detect_format",
    "detected_format",
    "feed_jsonl",
    "guarded",
    "read_lines",
    "without_bom",
    "open_input",
    "read_events",
    "read_jsonl",
    "read_sse",
]

Format: TypeAlias = Literal["auto", "jsonl", "sse"]
"""How a stream is encoded; ``auto`` looks at its first non-blank bytes."""

_GZIP_MAGIC: Final = b"\x1f\x8b"
_SSE_FIELDS: Final = (b"event:", b"data:", b"id:", b"retry:", b":")
_JSON_STARTS: Final = frozenset(bytes([c]) for c in b'["-0123456789tfn')
"""The first bytes of a JSON value that is not an object."""
BOM: Final = b"\xef\xbb\xbf"
"""A UTF-8 byte order mark: some editors write it first; it is no content."""
_SSE_IGNORED: Final = frozenset((b"", b"id", b"retry"))  # "" is a `:` comment


class Event(NamedTuple):
    """One event of a stream, where it came from, and why it could not be read if so.

    ``data`` is the decoded JSON payload (or the raw text, such as ``[DONE]``);
    ``line`` is the 1-based line the event starts on; ``event_index`` its 1-based number
    in its stream; ``error`` is None unless the event is malformed; ``note`` says how
    the reader repaired its framing, if it had to (an SSE event with no blank line
    after it), which the Tracker reports as ``sse-missing-blank-line``.
    """

    name: str | None
    data: Any
    file: str | None
    line: int
    event_index: int
    error: str | None = None
    note: str | None = None


def _decode(raw: bytes) -> tuple[Any, str | None]:
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        return None, _not_json(raw, exc, "its data")


def _not_json(raw: bytes, exc: Exception, where: str = "the line") -> str:
    """Why `raw` is not JSON; for bad UTF-8, the byte offset orjson does not give."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        byte = raw[bad.start]
        return f"not valid UTF-8 at byte {bad.start} of {where} (0x{byte:02x}: {bad.reason})"
    return f"not valid JSON ({exc})"


def read_jsonl(stream: Iterable[bytes], file: str | None = None) -> Iterator[Event]:
    """Events of a JSONL stream: one ``{"event": NAME, "data": {...}}`` object per line."""
    index = 0
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for number, raw in enumerate(stream, 1):
        try:
            value = loads(raw)
        except decode_error as exc:
            if not raw.strip():
                continue  # blank lines separate nothing in JSONL, but are harmless
            index += 1
            yield _undecodable(raw, exc, file, number, index)
            continue
        index += 1
        if type(value) is dict and type(name := value.get("event")) is str and "data" in value:
            yield Event(name, value["data"], file, number, index)
        else:
            yield _misshapen(value, file, number, index)


Feed: TypeAlias = Callable[[str, Any, tuple[str | None, int, int]], object]
"""``feed(name, data, (file, line, index))``: what takes each readable event."""


def feed_jsonl(
    stream: Iterable[bytes], file: str | None, feed: Feed, feed_event: Callable[[Event], object]
) -> None:
    """`read_jsonl` fused with its consumer: each readable event goes to `feed`.

    The replay's hot path: no `Event` is built for a readable line, and no generator
    is resumed for it. A line that cannot be read goes to `feed_event` as the `Event`
    `read_jsonl` would yield, so both readers report the same.
    """
    index = 0
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for number, raw in enumerate(stream, 1):
        try:
            value = loads(raw)
        except decode_error as exc:
            if raw.strip():
                index += 1
                feed_event(_undecodable(raw, exc, file, number, index))
            continue
        index += 1
        if type(value) is dict and type(name := value.get("event")) is str and "data" in value:
            feed(name, value["data"], (file, number, index))
        else:
            feed_event(_misshapen(value, file, number, index))


def _undecodable(raw: bytes, exc: Exception, file: str | None, number: int, index: int) -> Event:
    truncated = "" if raw.endswith(b"\n") else " (truncated last line?)"
    return Event(None, None, file, number, index, f"{_not_json(raw, exc)}{truncated}")


def _misshapen(value: Any, file: str | None, number: int, index: int) -> Event:
    """The malformed `Event` of a line that is JSON but no ``{"event", "data"}`` object."""
    if type(value) is not dict:
        return Event(None, None, file, number, index, _NOT_AN_OBJECT)
    if type(name := value.get("event")) is not str:
        return Event(None, None, file, number, index, _no_event_name(value))
    return Event(name, None, file, number, index, '"data" is missing')


_LINE_FORM: Final = '{"event": NAME, "data": {...}}'
_NOT_AN_OBJECT: Final = f"the line is not a JSON object: a JSONL line is {_LINE_FORM}"


def _no_event_name(value: dict[str, Any]) -> str:
    """Why an object line has no event name, saying what it looks like when it can."""
    kind = value.get("object")
    if "event" not in value and type(kind) is str and kind.startswith("thread."):
        shown = kind if len(kind) <= 40 else kind[:37] + "..."
        return f"the line is a bare {shown} object: a JSONL line is {_LINE_FORM}"
    return '"event" is missing or not a string'


def read_sse(stream: Iterable[bytes], file: str | None = None) -> Iterator[Event]:
    """Events of server-sent-event text as the API sends it.

    Lines end with LF, CRLF or a bare CR, as the SSE format allows.
    ``event:`` and ``data:`` lines make an event, a blank line ends it; ``data:``
    may span several lines (joined with newlines); ``:`` comments, ``id:`` and
    ``retry:`` are skipped. A new ``event:`` line after data also ends the
    previous event, since real captures sometimes omit the blank line.
    """
    index = 0
    name: str | None = None
    data: list[bytes] = []
    start = strays = 0
    repaired = False
    for number, raw in enumerate(_sse_lines(stream), 1):
        line = raw.rstrip(b"\r\n")
        if not line or (line.startswith(b"event:") and (name is not None or data)):
            if name is not None or data:
                index += 1
                event = _sse_event(name, data, file, start, index)
                if line and not repaired:  # noted once: a capture that does it, does it always
                    repaired = True
                    event = event._replace(note=_NO_BLANK_LINE.format(number))
                yield event
                name, data = None, []
            if not line:
                continue
        if not start or (name is None and not data):
            start = number
        field, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if field == b"event":
            name = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
        elif field not in _SSE_IGNORED:
            strays += 1
    if name is not None or data:
        index += 1
        yield _sse_event(name, data, file, start, index)
    elif not index and strays:
        # Not one event, yet lines that are no SSE field: this is not SSE at all.
        raise InputError(
            f"{file or 'input'}: no SSE event in {strays} lines that are not SSE fields "
            "(is it JSONL? see --format)"
        )


_NO_BLANK_LINE: Final = (
    "no blank line ends this SSE event: the event: line on line {} starts the next one "
    "(later events like it in this input are read alike, without a warning each)"
)
_LINE_ENDS: Final = re.compile(rb"\r\n|\r|\n")


def _sse_lines(stream: Iterable[bytes]) -> Iterator[bytes]:
    """`stream`'s lines, split at a bare CR too: SSE ends lines with CR, LF or CRLF.

    A file splits its lines at LF only; a line holding another CR than its CRLF end is
    split again here (the usual line, ending in LF or CRLF, passes untouched).
    """
    for raw in stream:
        carriage_returns = raw.count(b"\r")
        if not carriage_returns or (carriage_returns == 1 and raw.endswith(b"\r\n")):
            yield raw
            continue
        *lines, rest = _LINE_ENDS.split(raw)
        yield from (line + b"\n" for line in lines)
        if rest:
            yield rest  # the last line, with no end of its own


def _sse_event(
    name: str | None, data: list[bytes], file: str | None, line: int, index: int
) -> Event:
    raw = b"\n".join(data)
    if name is None:
        return Event(None, None, file, line, index, "an event with data but no event: line")
    if not data:
        if name == "done":  # some captures end with a bare `event: done`
            return Event(name, "[DONE]", file, line, index)
        return Event(name, None, file, line, index, "an event with no data: line")
    if raw == b"[DONE]":
        return Event(name, "[DONE]", file, line, index)
    value, error = _decode(raw)
    if error is not None:
        return Event(name, None, file, line, index, error)
    return Event(name, value, file, line, index)


def detect_format(head: bytes) -> Literal["jsonl", "sse"] | None:
    """``jsonl`` or ``sse`` from a stream's first bytes, or None when it is neither.

    JSONL is an object on the first line, or any other JSON value that makes up the
    whole first line (a line the JSONL reader then flags, rather than the input being
    refused whole).
    """
    text = head.removeprefix(BOM).lstrip(b" \t\r\n")
    if text.startswith(b"{"):
        return "jsonl"
    if text.startswith(_SSE_FIELDS):
        return "sse"
    if text[:1] in _JSON_STARTS:
        try:
            orjson.loads(text.split(b"\n", 1)[0])
        except orjson.JSONDecodeError:
            return None
        return "jsonl"
    return None


@contextmanager
def open_input(path: str | Path) -> Iterator[IO[bytes]]:
    """Open a file (``-`` for stdin) for reading bytes, gunzipping when it is gzip.

    Raises `InputError` with a one-line reason when it cannot be opened.
    """
    try:
        raw: IO[bytes] = (
            sys.stdin.buffer if str(path) == "-" else open(path, "rb")  # noqa: SIM115
        )
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw))
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=buffered) as unzipped:
                yield io.BufferedReader(cast(Any, unzipped))
        else:
            yield buffered
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def read_events(
    stream: Iterable[bytes], file: str | None = None, fmt: Format = "auto"
) -> Iterator[Event]:
    """Events of `stream` (a binary file or any iterable of lines) in format `fmt`.

    ``auto`` detects the format from the first non-blank line. Raises `InputError`
    when that line is neither JSONL nor SSE (binary garbage, say) or the input cannot
    be read (a corrupt gzip file, say). An empty or all-blank input yields nothing.
    """
    return read_lines(guarded(iter(stream), file or "input"), file, fmt)


def read_lines(lines: Iterator[bytes], file: str | None, fmt: Format) -> Iterator[Event]:
    """`read_events` of lines whose first has no byte order mark, with no read guard.

    A failure to read (a corrupt gzip file) escapes as it is: the caller turns it
    into an `InputError`, as `validate_file` does without a wrapper on every line.
    """
    lines, detected = detected_format(lines, file, fmt)
    if detected is not None:
        reader = read_jsonl if detected == "jsonl" else read_sse
        yield from reader(lines, file)


def detected_format(
    lines: Iterator[bytes], file: str | None, fmt: Format
) -> tuple[Iterator[bytes], Literal["jsonl", "sse"] | None]:
    """`lines` (unread) and their format: `fmt`, or detected for ``auto``.

    None for an empty or all-blank input; raises `InputError` when the first
    non-blank line is neither JSONL nor SSE.
    """
    if fmt != "auto":
        return lines, fmt
    head: list[bytes] = []
    for line in lines:
        head.append(line)
        if line.strip():
            break
    if not head or not head[-1].strip():
        return iter(head), None
    detected = detect_format(head[-1])
    if detected is None:
        shown = file or "input"
        raise InputError(f"{shown}: neither JSONL nor SSE (starts with {head[-1][:16]!r})")
    return chain(head, lines), detected


def without_bom(lines: Iterator[bytes]) -> Iterator[bytes]:
    """`lines`, the first without a UTF-8 byte order mark (which is no content)."""
    for first in lines:
        return chain((first.removeprefix(BOM),), lines)
    return iter(())


READ_FAILURES: Final = (OSError, EOFError, zlib.error)
"""What reading an input can raise: a device error, a truncated or corrupt gzip file."""


def guarded(lines: Iterator[bytes], shown: str) -> Iterator[bytes]:
    """`lines`, with any failure to read turned into an `InputError` naming the input.

    The first line loses a UTF-8 byte order mark, which is no content. After it, the
    lines pass by delegation: this wrapper costs nothing per line.
    """
    try:
        yield from without_bom(lines)
    except READ_FAILURES as exc:
        raise read_failed(shown, exc) from None


def read_failed(shown: str, exc: BaseException) -> InputError:
    """The `InputError` for a failure to read input `shown`."""
    return InputError(f"{shown}: read failed: {exc}")


def events_of(
    lines: Iterable[bytes], fmt: Literal["jsonl", "sse"], file: str | None = None
) -> Iterator[Event]:
    """Events of already-split lines (bytes, with or without newlines)."""
    return read_events(
        (line if line.endswith(b"\n") else line + b"\n" for line in lines), file, fmt
    )
