"""Property-testing tools for the Responses API: strategies, streams, mutations, a machine.

The Responses counterpart of `steplife.testing` (the same style: plural nouns,
keyword-only arguments checked at once with `hypothesis.errors.InvalidArgument`):

- `responses`, `output_items`, `response_usages`, `response_errors`: records that break
  no rule (also behind ``st.from_type(Response)`` and the item classes);
- `response_streams`: valid streams shaped like the real captures (background mode,
  reasoning, tool statuses, MCP tool lists, interleaved items, resumed captures, the
  unnumbered streams of early 2025), with `to_response_sse`, `to_response_jsonl_lines`,
  `replay_responses` and `replay_response_lines`;
- `invalid_response_streams`, broken in one place each, and `RESPONSE_MUTATIONS`, the
  rule each mutation breaks (every rule of the scopes ``response``, ``item`` and
  ``response_stream``, and the stream rules shared with the Assistants API);
- `response_lifecycle_machine`, a state machine to point at your own code through a
  `ResponseAdapter` (`ResponseLifecycleAdapter` is steplife's own).
"""

from __future__ import annotations

from steplife.testing._mutations import InvalidStream
from steplife.testing._response_mutations import RESPONSE_MUTATIONS, invalid_response_streams
from steplife.testing._response_stateful import (
    ResponseAdapter,
    ResponseLifecycleAdapter,
    response_lifecycle_machine,
)
from steplife.testing._response_streams import (
    ITEM_KINDS,
    RESPONSE_ENDINGS,
    ResponseStream,
    output_items,
    replay_response_lines,
    replay_responses,
    response_errors,
    response_streams,
    response_usages,
    responses,
    to_response_jsonl_lines,
    to_response_sse,
    unknown_items,
)

__all__ = [
    "ITEM_KINDS",
    "RESPONSE_ENDINGS",
    "RESPONSE_MUTATIONS",
    "InvalidStream",
    "ResponseAdapter",
    "ResponseLifecycleAdapter",
    "ResponseStream",
    "invalid_response_streams",
    "output_items",
    "replay_response_lines",
    "replay_responses",
    "response_errors",
    "response_lifecycle_machine",
    "response_streams",
    "response_usages",
    "responses",
    "to_response_jsonl_lines",
    "to_response_sse",
    "unknown_items",
]
