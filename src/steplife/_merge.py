"""Delta merging: the official SDK's ``accumulate_delta`` rule, without its traps.

For each key of a delta: a missing or null value in the snapshot is replaced;
strings are concatenated; numbers added; objects merged recursively; lists of
objects are merged entry by entry by their ``index`` key; ``index`` and ``type`` are
replaced, never accumulated. Unlike the SDK, an entry is placed *at* its index (an
index beyond the end pads with holes instead of being inserted at the end), and a
delta of the wrong shape raises `MergeError` with its JSON path instead of a bare
``TypeError``.

The merged entries keep their ``index``, as the SDK's do; `as_object` drops it to
make the object the deltas describe (a step's ``step_details`` has no ``index`` key).

Also unlike the SDK, ``id`` and ``ranker`` are replaced like ``type``: they are whole
values, never streamed in pieces, and a live capture repeats a file-search call's id and
ranker in each delta. Concatenated as the SDK does, they read
``call_Xcall_Xcall_X`` and ``autodefault_2024_08_21default-2024-08-21``.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["MergeError", "as_object", "merge_delta"]


class MergeError(ValueError):
    """A delta that cannot be merged; `path` says where inside the delta."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _is_indexed(value: object) -> bool:
    return type(value) is list and any(type(e) is dict and "index" in e for e in value)


def _addable(current: object, value: object) -> bool:
    """Strings concatenate and numbers add; nothing else does (``True`` is no number)."""
    if type(current) is str:
        return type(value) is str
    return type(current) in (int, float) and type(value) in (int, float)


_WHOLE: Final = frozenset(("index", "type", "id", "ranker"))
"""Keys whose value a delta replaces: identifiers and closed-set values come whole."""

MAX_DEPTH: Final = 32
"""Deepest nesting a delta may reach; real step details nest about six levels."""

MAX_INDEX: Final = 4096
"""Largest list index a delta may name; a larger one would only allocate memory."""


def merge_delta(
    acc: dict[str, Any], delta: dict[str, Any], path: str = "", depth: int = 0
) -> dict[str, Any]:
    """`acc` with `delta` merged in by the SDK's rule (see the module docstring).

    `acc` itself is never modified: the result shares the parts the delta does not
    touch and copies the ones it does, so a delta that fails half-way (raising
    `MergeError`) leaves nothing half-merged, without copying the whole snapshot.
    `path` is where `delta` sits, for the error; paths are built only on failure.
    """
    if depth > MAX_DEPTH:
        raise MergeError(path, f"nested deeper than {MAX_DEPTH} levels")
    merged = dict(acc)
    for key, value in delta.items():
        current = merged.get(key)
        if current is None:
            if type(value) is list and _is_indexed(value):
                merged[key] = _merge_list([], value, path, key, depth)
            else:
                merged[key] = value
        elif key in _WHOLE:
            merged[key] = value
        elif type(current) is str and type(value) is str:
            merged[key] = current + value  # the usual delta: a fragment of text
        elif type(current) is dict and type(value) is dict:
            merged[key] = merge_delta(current, value, _at(path, key), depth + 1)
        elif type(current) is list and type(value) is list:
            merged[key] = _merge_list(current, value, path, key, depth)
        elif _addable(current, value):
            merged[key] = current + value
        elif value is not None:
            raise MergeError(
                _at(path, key),
                f"cannot merge {type(value).__name__} into {type(current).__name__}",
            )
    return merged


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge_list(
    current: list[Any], value: list[Any], parent: str, key: str, depth: int
) -> list[Any]:
    # As the SDK: a list of scalars only ever grows (an empty one, unless the delta is indexed).
    # The usual list, of tool calls or outputs, starts with an object: no scan for it.
    if not (current and type(current[0]) is dict) and (
        all(type(e) in (str, int, float) for e in current) and (current or not _is_indexed(value))
    ):
        return current + value
    merged = list(current)
    for position, entry in enumerate(value):
        if type(entry) is not dict:
            raise MergeError(_entry(parent, key, position), "a list delta entry must be an object")
        index = entry.get("index")
        if type(index) is not int or not 0 <= index <= MAX_INDEX:
            raise MergeError(
                f"{_entry(parent, key, position)}.index",
                f"expected an integer from 0 to {MAX_INDEX}, got {index!r}",
            )
        if index >= len(merged):
            merged.extend([None] * (index + 1 - len(merged)))
        existing = merged[index]
        if existing is None:
            merged[index] = entry
        elif type(existing) is dict:
            merged[index] = merge_delta(existing, entry, _entry(parent, key, position), depth + 1)
        else:
            raise MergeError(
                _entry(parent, key, position), "the entry it merges into is not an object"
            )
    return merged


def _entry(parent: str, key: str, position: int) -> str:
    return f"{_at(parent, key)}[{position}]"


def as_object(merged: Any) -> Any:
    """The object merged deltas describe: `merged` without the entries' ``index`` keys.

    ``index`` only says where a delta entry goes; kept, it would be written back as
    a key of the step's tool call (or output) that no snapshot of the step has.
    """
    if type(merged) is dict:
        return {key: as_object(value) for key, value in merged.items()}
    if type(merged) is list:
        return [
            {key: as_object(value) for key, value in entry.items() if key != "index"}
            if type(entry) is dict
            else as_object(entry)
            for entry in merged
        ]
    return merged
