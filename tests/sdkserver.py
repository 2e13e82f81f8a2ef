"""A local HTTP server that replays recorded responses to the real SDK clients.

The ``openai`` and ``azure-ai-agents`` clients are pointed at it (``base_url`` /
``endpoint``) and run unchanged: their HTTP stacks, SSE decoders, models and handlers
all do their real work on bytes that imitate the API's. A `Scenario` maps each
endpoint a test expects to be called to the recorded file it answers with; SSE bodies
go out in small chunks (``Transfer-Encoding: chunked``), so events and even lines
straddle the chunks as they do on the network. Every request is recorded, for tests
to assert on what the client sent.

Endpoints are named once for both clients (openai's paths under ``/v1``, azure's
under the project endpoint, with ``?api-version=``): ``create_run``,
``create_thread_and_run``, ``submit_tool_outputs``, ``list_steps``, ``get_step``,
``get_run``. A request to anything else, or to an endpoint the scenario leaves out,
is answered 404 with an error body the clients raise on.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

__all__ = [
    "AZURE_PREFIX",
    "FIXTURES",
    "Reply",
    "Request",
    "SDKServer",
    "Scenario",
    "sdk_server_fixture",
    "serving",
    "without_step_keys",
]

FIXTURES: Final = Path(__file__).parent / "fixtures" / "sdk"
"""Where the recorded responses live."""

AZURE_PREFIX: Final = "/api/projects/steplife"
"""The path of the azure client's project endpoint on this server."""

_ID = r"[^/]+"
_ROUTES: Final = [
    # The most specific first: a run's path is a prefix of its steps' paths.
    ("POST", rf"/threads/{_ID}/runs/{_ID}/submit_tool_outputs", "submit_tool_outputs"),
    ("GET", rf"/threads/{_ID}/runs/{_ID}/steps/{_ID}", "get_step"),
    ("GET", rf"/threads/{_ID}/runs/{_ID}/steps", "list_steps"),
    ("GET", rf"/threads/{_ID}/runs/{_ID}", "get_run"),
    ("POST", r"/threads/runs", "create_thread_and_run"),
    ("POST", rf"/threads/{_ID}/runs", "create_run"),
]
_PREFIXES: Final = ("/v1", AZURE_PREFIX)


@attrs.frozen
class Reply:
    """One recorded response: a file of `FIXTURES`, served as it is.

    A ``.sse`` file is sent as ``text/event-stream`` in chunks of `chunk` bytes; any
    other file as ``application/json`` in one piece. `transform` rewrites the body
    before it is sent (see `without_step_keys`).
    """

    file: str
    status: int = 200
    chunk: int = 61
    transform: Callable[[bytes], bytes] | None = None

    def body(self) -> bytes:
        """The bytes this reply sends."""
        data = (FIXTURES / self.file).read_bytes()
        return data if self.transform is None else self.transform(data)

    @property
    def streamed(self) -> bool:
        """Whether the body goes out as server-sent events."""
        return self.file.endswith(".sse")


Scenario = Mapping[str, Reply | Sequence[Reply]]
"""Endpoint name to its reply, or to its replies in the order of the calls (the last
one answers every later call)."""


@attrs.frozen
class Request:
    """One request the server got: which endpoint, with what."""

    endpoint: str | None
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: Any
    """The decoded JSON body (None when there is none)."""


class SDKServer:
    """The running server: set a scenario with `play`, read what came in `requests`."""

    def __init__(self, httpd: ThreadingHTTPServer) -> None:
        self._httpd = httpd
        self._lock = threading.Lock()
        self._scenario: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        host, port = httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        """The ``base_url`` for an openai client."""
        return f"{self.url}/v1"

    @property
    def azure_endpoint(self) -> str:
        """The ``endpoint`` for an azure-ai-agents client."""
        return f"{self.url}{AZURE_PREFIX}"

    def play(self, scenario: Scenario) -> None:
        """Answer from now on as `scenario` says; forget the requests recorded so far."""
        with self._lock:
            self._scenario = {
                name: [reply] if isinstance(reply, Reply) else list(reply)
                for name, reply in scenario.items()
            }
            self.requests = []

    def endpoints(self) -> list[str | None]:
        """The endpoint of each request received, in order."""
        with self._lock:
            return [request.endpoint for request in self.requests]

    def _reply_to(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            replies = self._scenario.get(request.endpoint or "")
            if not replies:
                return None
            return replies.pop(0) if len(replies) > 1 else replies[0]


def _endpoint(method: str, path: str) -> str | None:
    for prefix in _PREFIXES:
        if path.startswith(prefix + "/"):
            rest = path[len(prefix) :]
            for route_method, pattern, name in _ROUTES:
                if method == route_method and re.fullmatch(pattern, rest):
                    return name
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, as the API does
    server: _Server
    timeout = 10  # an idle keep-alive connection ends its thread

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Say nothing: the requests are recorded instead."""

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = Request(
            endpoint=_endpoint(self.command, parts.path),
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        reply = self.server.sdk._reply_to(request)
        if reply is None:
            error = {"error": {"message": f"no reply for {self.command} {parts.path}"}}
            self._send_whole(404, "application/json", json.dumps(error).encode())
        elif reply.streamed:
            self._send_chunked(reply)
        else:
            self._send_whole(reply.status, "application/json", reply.body())

    def _send_whole(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_chunked(self, reply: Reply) -> None:
        body = reply.body()
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, len(body), reply.chunk):
                piece = body[start : start + reply.chunk]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped reading (its handler raised, say): so does the reply.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sdk: SDKServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Say nothing of a client that hung up; report anything else as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serving() -> _Serving:
    """A context manager: a server on 127.0.0.1 (an ephemeral port) while it is open."""
    return _Serving()


class _Serving:
    def __enter__(self) -> SDKServer:
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.sdk = SDKServer(httpd)
        self._httpd = httpd
        # A short poll: `shutdown` waits for it, at the end of every test.
        serve = functools.partial(httpd.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, name="sdkserver", daemon=True)
        self._thread.start()
        return httpd.sdk

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture(name="sdk_server")
def sdk_server_fixture() -> Iterator[SDKServer]:
    """A replaying server for the test, stopped after it."""
    with serving() as server:
        yield server


def without_step_keys(*keys: str) -> Callable[[bytes], bytes]:
    """A `Reply.transform` that drops `keys` from every step snapshot of an SSE body.

    Only the payloads of ``thread.run.step.*`` events other than deltas change; every
    other line is sent as recorded.
    """

    def transform(body: bytes) -> bytes:
        events = body.decode("utf-8").split("\n\n")
        out = []
        for event in events:
            lines = event.split("\n")
            name = next((line[7:] for line in lines if line.startswith("event: ")), "")
            if name.startswith("thread.run.step.") and name != "thread.run.step.delta":
                lines = [_drop(line, keys) if line.startswith("data: ") else line for line in lines]
            out.append("\n".join(lines))
        return "\n\n".join(out).encode("utf-8")

    return transform


def _drop(line: str, keys: tuple[str, ...]) -> str:
    data = json.loads(line[6:])
    for key in keys:
        data.pop(key, None)
    return "data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False)
