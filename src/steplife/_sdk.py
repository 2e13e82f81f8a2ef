"""The SDKs' own events and objects, as plain ``(name, JSON data)``, without importing an SDK.

An orchestrator hands steplife what its client gives it:

- the ``openai`` package's stream events (what ``stream=True`` calls and stream managers
  yield): objects with an ``event`` name and a pydantic ``data`` model (``to_dict()``);
- ``azure-ai-agents``' stream items: ``(event type, data model, handler result)`` tuples,
  the type a ``str`` enum, the model a mapping with ``as_dict()``;
- steplife's own `Event`s, ``(name, data)`` pairs and ``{"event", "data"}`` mappings.

Each SDK is recognised by what it exposes, so ``import steplife`` imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Final, cast

from steplife._events import Event

__all__ = ["ACCEPTED", "event_of", "plain"]

ACCEPTED: Final = (
    "a steplife Event, a (name, data) pair, an {'event': name, 'data': data} mapping, "
    "an openai stream event (it has .event and .data), or an azure-ai-agents stream "
    "item (event type, data, handler result)"
)
"""What `event_of` accepts, for the message of a `TypeError`."""


def plain(data: Any) -> Any:
    """`data` as decoded JSON: an SDK model as the dict it was read from, else unchanged.

    openai's models (pydantic) give ``to_dict()`` (only the keys the server sent, by
    their wire names); azure-ai-agents' models give ``as_dict()`` (the wire JSON, its
    timestamps still integers). Plain JSON values are returned as they are.
    """
    if type(data) is dict or data is None or isinstance(data, str | int | float | list):
        return data
    to_dict = getattr(data, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    as_dict = getattr(data, "as_dict", None)
    if callable(as_dict):
        return as_dict()
    model_dump = getattr(data, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(data, Mapping):
        return dict(data)
    return data


def _name(value: object) -> str | None:
    if isinstance(value, Enum):
        value = value.value
    return value if isinstance(value, str) else None


def event_of(item: object) -> tuple[str, Any]:
    """The ``(name, plain data)`` of one event in any accepted shape.

    Raises `TypeError` naming what is accepted when `item` is none of them.
    """
    if isinstance(item, Event):
        return item.name or "", item.data
    if isinstance(item, tuple) and len(item) in (2, 3) and (name := _name(item[0])) is not None:
        return name, plain(item[1])
    if isinstance(item, Mapping) and "event" in item:
        name = _name(item["event"])
        if name is not None:
            return name, plain(item.get("data"))
    event = getattr(item, "event", None)
    if (name := _name(event)) is not None and hasattr(item, "data"):
        return name, plain(cast(Any, item).data)
    raise TypeError(f"not an event: {type(item).__name__}; steplife accepts {ACCEPTED}")
