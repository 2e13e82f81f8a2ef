"""Every HTTP exchange of a conformance run, byte for byte, as the client saw it.

`recording_client` builds the HTTP client the ``openai`` client is given: its transport
passes each request to the network and tees the response body into an `Exchange` as the
client reads it. Nothing is changed on the way; the bodies are the bytes after the HTTP
framing (chunked transfer) and before any content decoding (the client asks for none).

The HTTP library is the one the installed ``openai`` client uses (``httpx``, or the
``httpx2`` of its later releases): it is found through the client, never imported by
``import steplife``.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
import orjson

__all__ = ["Exchange", "http_module", "recording_client"]

_SECRET_HEADERS: Final = frozenset(("authorization", "api-key", "openai-api-key", "cookie"))


@attrs.define(eq=False)
class Exchange:
    """One request and its response: what was asked, and every byte that came back."""

    method: str
    url: str
    request_body: bytes
    status: int = 0
    headers: dict[str, str] = attrs.Factory(dict)
    body: bytearray = attrs.Factory(bytearray)
    complete: bool = False
    """Whether the response body was read to its end (or the response closed)."""
    label: str = ""
    """What the scenario called this request (``create_and_run``, ``cancel``, ...)."""
    file: str | None = None
    """Where its body was written, once a scenario names it."""

    @property
    def content_type(self) -> str:
        """The response's media type, lower case, without parameters."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def is_sse(self) -> bool:
        """Whether the response declares server-sent events."""
        return self.content_type == "text/event-stream"

    def decoded(self) -> bytes:
        """The body with its content encoding undone (gzip, deflate), else as it came."""
        encoding = self.headers.get("content-encoding", "").strip().lower()
        raw = bytes(self.body)
        if encoding in ("gzip", "deflate"):
            try:
                return zlib.decompress(raw, zlib.MAX_WBITS | 32)
            except zlib.error:
                return raw
        return raw

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.decoded())
        except orjson.JSONDecodeError:
            return None

    def summary(self) -> dict[str, Any]:
        """The exchange without its bodies, for the recording's index."""
        return {
            "label": self.label,
            "method": self.method,
            "path": urlsplit(self.url).path,
            "query": urlsplit(self.url).query or None,
            "request": _json_or_text(self.request_body),
            "status": self.status,
            "content_type": self.headers.get("content-type"),
            "bytes": len(self.body),
            "complete": self.complete,
            "file": self.file,
        }


def _json_or_text(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def http_module() -> ModuleType:
    """The HTTP library the installed ``openai`` client is built on.

    Raises `ImportError` (with the extra to install) when ``openai`` is missing.
    """
    try:
        base = importlib.import_module("openai._base_client")
    except ImportError as exc:
        raise ImportError(
            "steplife conformance drives the server through the openai client: "
            "pip install 'steplife[conformance]'"
        ) from exc
    for name in ("httpx2", "httpx"):
        module = getattr(base, name, None)
        if isinstance(module, ModuleType):
            return module
    return importlib.import_module("httpx")  # pragma: no cover - every release has one


def recording_client(exchanges: list[Exchange], *, timeout: float) -> Any:
    """An HTTP client for ``openai.OpenAI(http_client=...)`` that records into `exchanges`.

    Requests ask for no content encoding, so the recorded bodies are what the API
    wrote. `timeout` bounds each read (a stream that stalls longer fails).
    """
    http = http_module()

    class _Tee(http.SyncByteStream):  # type: ignore[name-defined, misc]
        def __init__(self, inner: Any, exchange: Exchange) -> None:
            self._inner = inner
            self._exchange = exchange

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._inner:
                self._exchange.body += chunk
                yield chunk
            self._exchange.complete = True

        def close(self) -> None:
            self._exchange.complete = True
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()

    class _Recording(http.BaseTransport):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            self._inner = http.HTTPTransport(retries=0)

        def handle_request(self, request: Any) -> Any:
            exchange = Exchange(
                method=request.method, url=str(request.url), request_body=request.read()
            )
            exchanges.append(exchange)
            response = self._inner.handle_request(request)
            exchange.status = response.status_code
            exchange.headers = {
                key.lower(): value
                for key, value in response.headers.items()
                if key.lower() not in _SECRET_HEADERS
            }
            response.stream = _Tee(response.stream, exchange)
            return response

        def close(self) -> None:
            self._inner.close()

    return http.Client(
        transport=_Recording(),
        timeout=http.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"Accept-Encoding": "identity"},
    )
