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
from typing import Any, Final, Protocol, cast

from steplife._events import Event

__all__ = ["ACCEPTED", "SDKEvent", "event_of", "plain"]

ACCEPTED: Final = (
    "a steplife Event, a (name, data) pair, an {'event': name, 'data': data} mapping, "
    "an openai stream event (it has .event and .data), or an azure-ai-agents stream "
    "item (event type, data, handler result)"
)
"""What `event_of` accepts, for the message of a `TypeError`."""


class SDKEvent(Protocol):
    """An SDK's stream event, as the openai package's are: a name and a model."""

    @property
    def event(self) -> str:
        """The event's name (``thread.run.step.created``...)."""
        ...

    @property
    def data(self) -> object:
        """The event's payload, a model of the SDK's."""
        ...


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
        return _undo_azure_rename(as_dict())
    model_dump = getattr(data, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(data, Mapping):
        return dict(data)
    return data


def _undo_azure_rename(data: Any) -> Any:
    """An azure-ai-agents step as the server sent it: its ``expires_at`` given back.

    azure-ai-agents' stream parser renames a step's ``expires_at`` (when it will expire)
    to ``expired_at`` (when it did), "a workaround for a service bug"; every step the
    service sends carries ``expires_at``, so every in-progress step would read as
    expired. A step that is not ``expired`` has no ``expired_at``: the value is moved
    back. (An ``expired`` step's value stays where the SDK put it: there, both readings
    name the same instant.)
    """
    if (
        type(data) is dict
        and data.get("object") == "thread.run.step"
        and data.get("status") != "expired"
        and data.get("expired_at") is not None
        and "expires_at" not in data
    ):
        data = dict(data)
        data["expires_at"] = data.pop("expired_at")
        data["expired_at"] = None
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
