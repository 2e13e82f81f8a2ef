"""`tracked`: an SDK's event handler that also feeds every event it receives to a Tracker.

An orchestrator that already drives its runs with an SDK's event handler (subclassed
for its own callbacks) keeps it, and hands it to `tracked` before the stream starts.
Each SDK is recognised by what its handlers expose, so no SDK is imported here.

What each wrapping relies on, and why it is the least fragile point:

- ``openai``'s ``AssistantEventHandler`` / ``AsyncAssistantEventHandler`` call the
  public hook ``self.on_event(event)`` once for every server-sent event, before they
  accumulate it into their own snapshots. `tracked` sets an ``on_event`` attribute on
  the instance that feeds the event and then calls the handler's own ``on_event`` (a
  subclass's override included). So steplife has recorded an event before the SDK's
  accumulation can raise on it (a delta for a step it never saw is a bare ``KeyError``
  there).
- ``azure-ai-agents``' ``AgentEventHandler`` / ``AsyncAgentEventHandler`` have no
  per-event hook: their ``on_*`` callbacks do not say which event they are called for
  (a step's ``created`` and ``in_progress`` reach the same ``on_run_step``). Every event
  goes through ``self._process_event(event_text)``, the method the base classes'
  ``__next__`` / ``__anext__`` call once per SSE event and that each handler class
  implements (the base one raises ``NotImplementedError``); it returns the
  ``(type, data, result)`` item the iteration yields. `tracked` sets a
  ``_process_event`` attribute on the instance that calls the handler's own and feeds
  the item it returns. That is the one point where the event type, the parsed model
  and the callbacks' result meet; the item is fed after the SDK acted on it (for
  ``requires_action``, after it submitted the tool outputs it runs itself, whose
  stream it then chains into the same handler, so one handler carries both streams).
  Should a release rename the method, `tracked` raises `TypeError` at once rather than
  track nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from steplife._tracker import Tracker

__all__ = ["tracked"]

H = TypeVar("H")

_TRACKERS: Final = "_steplife_trackers"
"""The instance attribute that lists the trackers a wrapped handler feeds."""


def tracked(handler: H, tracker: Tracker) -> H:
    """Return `handler` itself, with every event it receives also fed to `tracker`.

    `handler` is an SDK's event handler, before its stream starts: ``openai``'s
    ``AssistantEventHandler`` or ``AsyncAssistantEventHandler`` (its ``on_event`` hook is
    wrapped; the handler's own ``on_event`` is still called, after the tracker), or
    ``azure-ai-agents``' ``AgentEventHandler`` or ``AsyncAgentEventHandler`` (its event
    processing is wrapped: each ``(type, data, result)`` item goes to the tracker as the
    iteration yields it), subclasses included. Pass the result as the SDK's
    ``event_handler``, or wrap the handler a stream manager hands back
    (``with client.beta.threads.runs.stream(...) as stream: tracked(stream, tracker)``).

    The tracker's `~steplife.Tracker.feed` is called with each event: findings are
    recorded on the tracker and the stream goes on; a strict tracker's `StreamError`
    propagates out of the SDK's iteration. One tracker follows a run across its
    streams: openai needs a new handler per stream (wrap each with the same tracker);
    azure chains the submit-tool-outputs stream into the same handler. Call the
    tracker's ``finish()`` once the run is done, not at the end of each stream.

    Wrapping a handler again with the same tracker changes nothing; with another
    tracker, each event goes to both. Read a tracked handler as usual (``until_done``,
    a loop), not with the same tracker's ``consume``: each event would be fed twice.

    Raises `TypeError` when `handler` is neither SDK's handler (it has no ``on_event``
    hook and no ``_process_event`` method).
    """
    hook, original = _hook_of(handler)
    trackers: list[Tracker] | None = vars(handler).get(_TRACKERS)
    if trackers is not None:
        if all(known is not tracker for known in trackers):
            trackers.append(tracker)
        return handler
    trackers = [tracker]
    wrapper: Callable[[Any], Any]
    if hook == "on_event":
        wrapper = _on_event(original, trackers)
    else:
        wrapper = _process_event(original, trackers)
    setattr(handler, hook, wrapper)
    setattr(handler, _TRACKERS, trackers)
    return handler


def _hook_of(handler: object) -> tuple[str, Callable[[Any], Any]]:
    """The name of the method to wrap on `handler`, and the method itself.

    Raises `TypeError` when `handler` is no handler of a known SDK.
    """
    on_event = getattr(handler, "on_event", None)
    if callable(on_event):
        return "on_event", on_event
    process = getattr(handler, "_process_event", None)
    if callable(process) and callable(getattr(handler, "initialize", None)):
        return "_process_event", process
    raise TypeError(
        f"tracked() takes an SDK's event handler, not {type(handler).__name__}: "
        "openai's AssistantEventHandler or AsyncAssistantEventHandler (it has an on_event "
        "hook), or azure-ai-agents' AgentEventHandler or AsyncAgentEventHandler (it has "
        "_process_event and initialize)"
    )


def _on_event(original: Callable[[Any], Any], trackers: list[Tracker]) -> Callable[[Any], Any]:
    """The ``on_event`` of an openai handler: feed the event, then call its own hook."""
    if inspect.iscoroutinefunction(original):
        hook: Callable[[Any], Awaitable[Any]] = original

        async def on_event_async(event: Any) -> Any:
            for tracker in trackers:
                tracker.feed(event)
            return await hook(event)

        return on_event_async

    def on_event(event: Any) -> Any:
        for tracker in trackers:
            tracker.feed(event)
        return original(event)

    return on_event


def _process_event(original: Callable[[Any], Any], trackers: list[Tracker]) -> Callable[[Any], Any]:
    """The ``_process_event`` of an azure handler: call its own, feed the item it returns."""
    if inspect.iscoroutinefunction(original):
        process: Callable[[Any], Awaitable[Any]] = original

        async def process_event_async(event_text: Any) -> Any:
            item = await process(event_text)
            for tracker in trackers:
                tracker.feed(item)
            return item

        return process_event_async

    def process_event(event_text: Any) -> Any:
        item = original(event_text)
        for tracker in trackers:
            tracker.feed(item)
        return item

    return process_event
