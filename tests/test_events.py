"""Reading captures: JSONL and SSE readers, format detection, files, gzip and stdin."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from steplife import SteplifeError, Tracker
from steplife._events import (
    Event,
    detect_format,
    events_of,
    feed_jsonl,
    open_input,
    read_events,
    read_jsonl,
    read_sse,
)
from steplife.errors import InputError
from streams import DONE, StreamEvent, completed, created, jsonl, sse

Encoder = Callable[[Iterable[StreamEvent]], bytes]

STREAM = [created(), completed(), DONE]
"""A short clean stream: its JSONL and SSE encodings must read back the same."""


def buffered(data: bytes) -> io.BufferedReader:
    """`data` as the readers get it from `open_input`: a buffered, peekable stream."""
    return io.BufferedReader(io.BytesIO(data))


def jsonl_events(data: bytes) -> list[Event]:
    return list(read_jsonl(io.BytesIO(data), "c.jsonl"))


def sse_events(data: bytes) -> list[Event]:
    return list(read_sse(io.BytesIO(data), "c.sse"))


def auto_events(data: bytes) -> list[Event]:
    return list(read_events(buffered(data), "c"))


def errors(events: list[Event]) -> list[tuple[int, str | None]]:
    return [(e.line, e.error) for e in events if e.error is not None]


# -- JSONL -----------------------------------------------------------------------------


def test_jsonl_lines_become_events_numbered_by_line_and_by_event() -> None:
    data = b'{"event":"a","data":{"x":1}}\n\n   \n{"event":"done","data":"[DONE]"}\n'
    assert jsonl_events(data) == [
        Event("a", {"x": 1}, "c.jsonl", 1, 1),
        Event("done", "[DONE]", "c.jsonl", 4, 2),
    ]


def test_jsonl_a_line_that_is_not_json_is_an_error_event_and_reading_goes_on() -> None:
    data = b'{"event":"a","data":{}}\n{"event": nope}\n{"event":"b","data":{}}\n'
    events = jsonl_events(data)
    assert [(e.name, e.line, e.event_index) for e in events] == [
        ("a", 1, 1),
        (None, 2, 2),
        ("b", 3, 3),
    ]
    error = events[1].error
    assert error is not None
    assert error.startswith("not valid JSON (")
    assert "truncated" not in error


def test_jsonl_a_cut_off_last_line_is_reported_as_probably_truncated() -> None:
    data = b'{"event":"a","data":{}}\n{"event":"thread.run.completed","data":{"tools":[{"ty'
    (error,) = errors(jsonl_events(data))
    assert error[0] == 2
    assert error[1] is not None
    assert error[1].endswith("(truncated last line?)")


def test_jsonl_a_complete_last_line_without_newline_is_read() -> None:
    assert jsonl_events(b'{"event":"a","data":{}}') == [Event("a", {}, "c.jsonl", 1, 1)]


@pytest.mark.parametrize("line", [b"[1, 2]", b'"text"', b"3", b"null", b"true"])
def test_jsonl_a_json_value_that_is_not_an_object_is_an_error_event(line: bytes) -> None:
    expected = 'the line is not a JSON object: a JSONL line is {"event": NAME, "data": {...}}'
    assert errors(jsonl_events(line + b"\n")) == [(1, expected)]


@pytest.mark.parametrize("kind", ["thread.run.step", "thread.run"])
def test_jsonl_a_bare_api_object_says_what_a_line_is(kind: str) -> None:
    line = b'{"id": "x", "object": "' + kind.encode() + b'", "status": "completed"}'
    expected = (
        f'the line is a bare {kind} object: a JSONL line is {{"event": NAME, "data": {{...}}}}'
    )
    assert errors(jsonl_events(line)) == [(1, expected)]


@pytest.mark.parametrize("line", [b"[1, 2]", b'"text"', b"3", b"-1.5", b"null", b"true"])
def test_a_first_line_that_is_json_but_no_object_is_read_as_jsonl_and_flagged(
    line: bytes,
) -> None:
    """Not refused whole: the line is flagged, and the lines after it are read."""
    events = auto_events(line + b'\n{"event": "done", "data": "[DONE]"}\n')
    assert [(e.line, e.error is not None, e.name) for e in events] == [
        (1, True, None),
        (2, False, "done"),
    ]


@pytest.mark.parametrize("line", [b'{"data":{}}', b'{"event":5,"data":{}}'])
def test_jsonl_an_event_name_missing_or_not_a_string_is_an_error_event(line: bytes) -> None:
    assert errors(jsonl_events(line)) == [(1, '"event" is missing or not a string')]


def test_jsonl_data_missing_is_an_error_event_that_keeps_the_name() -> None:
    (event,) = jsonl_events(b'{"event":"thread.run.step.created"}\n')
    assert (event.name, event.data, event.error) == (
        "thread.run.step.created",
        None,
        '"data" is missing',
    )


def test_jsonl_data_null_is_an_event_not_an_error() -> None:
    assert jsonl_events(b'{"event":"x","data":null}\n') == [Event("x", None, "c.jsonl", 1, 1)]


def test_jsonl_crlf_line_endings_read_like_lf() -> None:
    crlf = jsonl(STREAM).replace(b"\n", b"\r\n")
    assert [e[:2] for e in jsonl_events(crlf)] == [e[:2] for e in jsonl_events(jsonl(STREAM))]
    assert errors(jsonl_events(crlf)) == []


def test_jsonl_invalid_utf8_is_an_error_event_not_an_exception() -> None:
    events = jsonl_events(b'{"event":"a","data":"\xff\xfe"}\n{"event":"b","data":{}}\n')
    assert [e.line for e in events if e.error] == [1]
    assert events[1].name == "b"


# -- SSE -------------------------------------------------------------------------------


def test_sse_events_start_on_their_event_line() -> None:
    data = b'event: a\ndata: {"x":1}\n\nevent: b\ndata: {"y":2}\n\n'
    assert sse_events(data) == [
        Event("a", {"x": 1}, "c.sse", 1, 1),
        Event("b", {"y": 2}, "c.sse", 4, 2),
    ]


def test_sse_data_spread_over_several_lines_is_joined_with_newlines() -> None:
    data = b'event: a\ndata: {"text":\ndata: "two",\ndata: "n": 2}\n\n'
    data += b"event: b\ndata: x\ndata: y\n\n"
    events = sse_events(data)
    assert events[0] == Event("a", {"text": "two", "n": 2}, "c.sse", 1, 1)
    assert events[1].error is not None  # "x\ny" is no JSON, so the lines really were joined
    assert events[1].line == 6


def test_sse_comments_ids_and_retry_lines_are_skipped() -> None:
    data = (
        b": keep-alive\n"
        b"id: 17\n"
        b"retry: 3000\n"
        b"event: a\n"
        b": a comment inside the event\n"
        b"id: 18\n"
        b'data: {"x":1}\n'
        b"\n"
        b": trailing comment\n"
        b"\n"
    )
    assert sse_events(data) == [Event("a", {"x": 1}, "c.sse", 4, 1)]


def test_sse_a_new_event_line_ends_the_previous_event_without_a_blank_line() -> None:
    """The repair is noted once, on the first event it ended, naming the line that did."""
    data = b'event: a\ndata: {"x":1}\nevent: b\ndata: {"y":2}\nevent: done\ndata: [DONE]\n'
    note = (
        "no blank line ends this SSE event: the event: line on line 3 starts the next one "
        "(later events like it in this input are read alike, without a warning each)"
    )
    assert sse_events(data) == [
        Event("a", {"x": 1}, "c.sse", 1, 1, note=note),
        Event("b", {"y": 2}, "c.sse", 3, 2),
        Event("done", "[DONE]", "c.sse", 5, 3),
    ]


def test_an_sse_event_without_its_blank_line_is_a_warning_and_is_still_replayed() -> None:
    """The Tracker reports the repair as sse-missing-blank-line, then feeds the event."""
    text = b'event: thread.run.step.created\ndata: {"id": 1}\nevent: done\ndata: [DONE]\n\n'
    tracker = Tracker().consume(read_events(io.BytesIO(text), "c.sse"))

    found = [(f.rule, f.severity.value, f.line) for f in tracker.findings]
    assert ("sse-missing-blank-line", "warning", 1) == found[0]
    assert "malformed-event" in [rule for rule, _, _ in found[1:]]  # the event was fed too
    assert 2 == tracker.events


def test_sse_done_is_read_with_its_data_or_as_a_bare_event_line() -> None:
    assert sse_events(b"event: done\ndata: [DONE]\n\n") == [Event("done", "[DONE]", "c.sse", 1, 1)]
    assert sse_events(b"event: done\n\n") == [Event("done", "[DONE]", "c.sse", 1, 1)]
    assert sse_events(b"event: done") == [Event("done", "[DONE]", "c.sse", 1, 1)]


def test_sse_an_event_without_data_is_an_error_event() -> None:
    events = sse_events(b"event: thread.run.completed\n\nevent: done\n\n")
    assert errors(events) == [(1, "an event with no data: line")]
    assert events[0].name == "thread.run.completed"
    assert events[1].name == "done"


def test_sse_data_without_an_event_line_is_an_error_event() -> None:
    assert errors(sse_events(b'data: {"x":1}\n\n')) == [
        (1, "an event with data but no event: line")
    ]


def test_sse_data_that_is_not_json_is_an_error_event_and_reading_goes_on() -> None:
    events = sse_events(b'event: a\ndata: {"x":1}}\n\nevent: b\ndata: {}\n\n')
    assert [(e.line, e.error is not None) for e in events] == [(1, True), (4, False)]
    assert (events[0].error or "").startswith("not valid JSON (")


def test_sse_one_optional_space_after_the_colon_is_dropped() -> None:
    events = sse_events(b'event:a\ndata:{"x":"1"}\n\nevent: b\ndata:  "two spaces"\n\n')
    assert [(e.name, e.data) for e in events] == [("a", {"x": "1"}), ("b", "two spaces")]


def test_sse_crlf_line_endings_read_like_lf() -> None:
    crlf = sse(STREAM).replace(b"\n", b"\r\n")
    assert sse_events(crlf) == sse_events(sse(STREAM))


def test_sse_the_last_event_needs_no_blank_line_after_it() -> None:
    data = sse(STREAM).rstrip(b"\n")
    assert sse_events(data) == sse_events(sse(STREAM))


def test_sse_invalid_utf8_is_an_error_in_data_and_replaced_in_a_name() -> None:
    events = sse_events(b'event: a\xff\ndata: {}\n\nevent: b\ndata: "\xff"\n\n')
    assert events[0].name == "a\N{REPLACEMENT CHARACTER}"
    assert events[0].error is None
    assert events[1].error is not None


def test_sse_and_jsonl_encodings_of_a_stream_read_back_the_same_events() -> None:
    from_sse = [(e.name, e.data, e.event_index) for e in sse_events(sse(STREAM))]
    from_jsonl = [(e.name, e.data, e.event_index) for e in jsonl_events(jsonl(STREAM))]
    assert from_sse == from_jsonl
    assert len(from_sse) == len(STREAM)


# -- format detection ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'{"event":"a"}', "jsonl"),
        (b'\n\n  {"event":"a"}', "jsonl"),
        (b"\xef\xbb\xbf{", "jsonl"),
        (b"event: a\n", "sse"),
        (b"data: {}\n", "sse"),
        (b": comment\n", "sse"),
        (b"id: 1\n", "sse"),
        (b"retry: 10\n", "sse"),
        (b"\r\nevent: a", "sse"),
        (b"\xef\xbb\xbfevent: a", "sse"),
        (b"\x89PNG\r\n\x1a\n", None),
        (b"HTTP/1.1 200 OK\r\n", None),
        (b"[1, 2]", "jsonl"),  # any JSON value: the reader flags a line that is no object
        (b'"text"\n{"event":"a"}', "jsonl"),
        (b"null", "jsonl"),
        (b"nothing at all", None),
        (b"[1, 2", None),
        (b"", None),
    ],
)
def test_detect_format_recognises_jsonl_and_sse_by_their_first_bytes(
    head: bytes, expected: str | None
) -> None:
    assert detect_format(head) == expected


def test_auto_reads_jsonl_and_sse_as_their_own_readers_do() -> None:
    assert auto_events(jsonl(STREAM)) == [e._replace(file="c") for e in jsonl_events(jsonl(STREAM))]
    assert auto_events(sse(STREAM)) == [e._replace(file="c") for e in sse_events(sse(STREAM))]


def test_a_forced_format_is_used_whatever_the_content_looks_like() -> None:
    odd_start = b"x-request-id: abc\n" + sse(STREAM)
    with pytest.raises(InputError):
        auto_events(odd_start)
    forced = list(read_events(buffered(odd_start), "c", "sse"))
    assert [e.name for e in forced] == [name for name, _ in STREAM]
    as_jsonl = list(read_events(buffered(sse(STREAM)), "c", "jsonl"))
    assert as_jsonl
    assert all(e.error is not None for e in as_jsonl)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n\t\n"])
def test_an_empty_or_blank_input_yields_no_event(data: bytes) -> None:
    assert auto_events(data) == []


@pytest.mark.parametrize(
    "data",
    [b"\x00\x01\x02\x03\xff\xfe garbage", b"\x89PNG\r\n\x1a\n\x00\x00", b"Hello, world\n"],
)
def test_binary_garbage_is_an_input_error_with_a_one_line_reason(data: bytes) -> None:
    with pytest.raises(InputError) as raised:
        auto_events(data)
    message = str(raised.value)
    assert message.startswith("c: neither JSONL nor SSE")
    assert "\n" not in message
    assert isinstance(raised.value, OSError)
    assert isinstance(raised.value, SteplifeError)


@pytest.mark.parametrize("encode", [jsonl, sse], ids=["jsonl", "sse"])
def test_a_byte_order_mark_at_the_start_is_skipped(encode: Encoder) -> None:
    data = encode(STREAM)
    events = auto_events(b"\xef\xbb\xbf" + data)
    assert events == auto_events(data)


def test_a_capture_that_starts_with_many_blank_lines_is_still_read() -> None:
    events = auto_events(b"\n" * 20_000 + jsonl(STREAM))
    assert [e.name for e in events] == [name for name, _ in STREAM]


def test_auto_detection_works_on_a_stream_that_cannot_peek() -> None:
    events = list(read_events(io.BytesIO(jsonl(STREAM)), "c"))
    assert [e.name for e in events] == [name for name, _ in STREAM]


# -- opening inputs --------------------------------------------------------------------


def read_path(path: Path | str) -> list[Event]:
    with open_input(path) as stream:
        return list(read_events(stream, str(path)))


def test_a_file_is_read_as_bytes(tmp_path: Path) -> None:
    path = tmp_path / "c.sse"
    path.write_bytes(sse(STREAM))
    assert [e.name for e in read_path(path)] == [name for name, _ in STREAM]


@pytest.mark.parametrize("encode", [jsonl, sse], ids=["jsonl", "sse"])
def test_a_gzip_file_is_read_as_its_content(tmp_path: Path, encode: Encoder) -> None:
    data = encode(STREAM)
    plain, packed = tmp_path / "c", tmp_path / "c.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))
    assert [e[:2] for e in read_path(packed)] == [e[:2] for e in read_path(plain)]
    assert read_path(packed)


def stdin_of(data: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(buffered(data))


def test_dash_reads_stdin_and_leaves_it_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", stdin_of(jsonl(STREAM)))
    assert [e.name for e in read_path("-")] == [name for name, _ in STREAM]
    assert not sys.stdin.buffer.closed


def test_gzip_on_stdin_is_read_as_its_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", stdin_of(gzip.compress(sse(STREAM))))
    assert [e.name for e in read_path("-")] == [name for name, _ in STREAM]


@pytest.mark.parametrize("name", ["missing.jsonl", "."])
def test_an_input_that_cannot_be_opened_is_an_input_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match=r": cannot open: ") as raised:
        read_path(tmp_path / name)
    assert "\n" not in str(raised.value)


def test_a_truncated_gzip_file_is_an_input_error(tmp_path: Path) -> None:
    packed = gzip.compress(jsonl(STREAM * 50))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputError, match="read failed"):
        read_path(path)


def corrupt_gzip(data: bytes) -> bytes:
    """A gzip member with an intact header whose deflate stream is garbage."""
    packed = gzip.compress(data)
    return packed[:20] + bytes(b ^ 0xFF for b in packed[20:40]) + packed[40:]


def test_a_corrupt_gzip_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(corrupt_gzip(jsonl(STREAM * 50)))
    with pytest.raises(InputError, match="read failed") as raised:
        read_path(path)
    assert str(raised.value).startswith(f"{path}: ")


def test_events_of_reads_lines_with_or_without_newlines() -> None:
    lines = [b'{"event":"a","data":{}}', b'{"event":"b","data":{}}\n']
    assert [e.name for e in events_of(lines, "jsonl")] == ["a", "b"]
    sse_lines = [b"event: a", b"data: {}", b"", b"event: b", b"data: {}"]
    assert [(e.name, e.line) for e in events_of(sse_lines, "sse")] == [("a", 1), ("b", 4)]


SSE_LF = (
    b'event: thread.run.step.delta\ndata: {"id": "s"}\n\n'
    b": a comment\n"
    b'event: thread.run.step.completed\ndata: {"a":\ndata: 1}\n\n'
    b"event: done\ndata: [DONE]\n\n"
)


@pytest.mark.parametrize("ending", [b"\r\n", b"\r", b"\r\n|\r"], ids=["CRLF", "bare CR", "mixed"])
def test_sse_lines_may_end_with_cr_lf_or_crlf(ending: bytes) -> None:
    """The SSE format allows all three: each gives the events LF gives, at the same lines."""
    if ending == b"\r\n|\r":  # alternate the two endings line by line
        lines = SSE_LF.split(b"\n")
        text = b"".join(line + (b"\r\n", b"\r")[i % 2] for i, line in enumerate(lines[:-1]))
    else:
        text = SSE_LF.replace(b"\n", ending)
    expected = auto_events(SSE_LF)
    assert [e.error for e in expected] == [None, None, None]
    assert expected == auto_events(text)


# -- the fused JSONL reader -------------------------------------------------------------

line_values = st.one_of(
    st.builds(
        lambda name, data: orjson.dumps({"event": name, "data": data}) + b"\n",
        st.sampled_from(["thread.run.step.created", "thread.run.step.delta", "done", "x"]),
        st.none()
        | st.integers(-(2**63), 2**63 - 1)
        | st.dictionaries(st.sampled_from(["id", "a"]), st.text()),
    ),
    st.sampled_from(
        [b"\n", b"  \n", b"[1]\n", b'{"event": 5}\n', b'{"event": "x"}\n', b"{oops\n", b"{"]
    ),
    st.binary(max_size=20),
)


@given(st.lists(line_values, max_size=12))
def test_the_fused_reader_hands_on_what_read_jsonl_yields(lines: list[bytes]) -> None:
    """`feed_jsonl` gives the consumer the very events `read_jsonl` yields, in order."""
    handed: list[tuple[str | None, object, tuple[str | None, int, int], str | None]] = []

    def feed(name: str, data: object, where: tuple[str | None, int, int]) -> None:
        handed.append((name, data, where, None))

    def feed_event(event: Event) -> None:
        where = (event.file, event.line, event.event_index)
        handed.append((event.name, event.data, where, event.error))

    feed_jsonl(lines, "f.jsonl", feed, feed_event)

    expected = [
        (e.name, e.data, (e.file, e.line, e.event_index), e.error)
        for e in read_jsonl(lines, "f.jsonl")
    ]
    assert expected == handed


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'{"event": "x", "data": {"id": "st\xff"}}\n',
            "not valid UTF-8 at byte 33 of the line (0xff: invalid start byte)",
        ),
        (
            b'{"event": "x", "data": "\xc3("}\n',
            "not valid UTF-8 at byte 24 of the line (0xc3: invalid continuation byte)",
        ),
    ],
    ids=["invalid-start", "invalid-continuation"],
)
def test_bad_utf8_in_a_jsonl_line_names_its_byte_offset(data: bytes, expected: str) -> None:
    """orjson says "line 1 column 1"; the reader says which byte of the line is wrong."""
    assert [expected] == [e.error for e in read_jsonl([data], "f")]


def test_bad_utf8_in_sse_data_names_its_byte_offset_in_the_data() -> None:
    events = sse_events(b'event: x\ndata: {"id": "st\xff"}\n\n')
    assert ["not valid UTF-8 at byte 10 of its data (0xff: invalid start byte)"] == [
        e.error for e in events
    ]
