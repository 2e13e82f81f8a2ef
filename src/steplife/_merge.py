"""Delta merging: the official SDK's ``accumulate_delta`` rule, without its traps.

For each key of a delta: a missing or null value in the snapshot is replaced;
strings are concatenated; numbers added; objects merged recursively; lists of
objects are merged entry by entry by their ``index`` key; ``index`` and ``type`` are
replaced, never accumulated. Unlike the SDK, an entry is placed *at* its index (an
index beyond the end pads with holes instead of being inserted at the end), and a
delta of the wrong shape raises `MergeError` with its JSON path instead of a bare
``TypeError``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MergeError", "merge_delta", "strip_indexes"]


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


def merge_delta(acc: dict[str, Any], delta: dict[str, Any], path: str = "") -> None:
    """Merge `delta` into `acc` in place by the SDK's rule (see the module docstring)."""
    for key, value in delta.items():
        here = f"{path}.{key}" if path else key
        current = acc.get(key)
        if current is None:
            if _is_indexed(value):
                current = acc[key] = []
            else:
                acc[key] = value
                continue
        if key == "index" or key == "type":
            acc[key] = value
        elif (type(current) is str and type(value) is str) or (
            type(current) in (int, float) and type(value) in (int, float)
        ):
            acc[key] = current + value
        elif type(current) is dict and type(value) is dict:
            merge_delta(current, value, here)
        elif type(current) is list and type(value) is list:
            _merge_list(current, value, here)
        elif value is not None:
            raise MergeError(
                here, f"cannot merge {type(value).__name__} into {type(current).__name__}"
            )


def _merge_list(current: list[Any], value: list[Any], path: str) -> None:
    if not _is_indexed(value) and all(type(e) in (str, int, float) for e in current):
        current.extend(value)
        return
    for position, entry in enumerate(value):
        here = f"{path}[{position}]"
        if type(entry) is not dict:
            raise MergeError(here, "a list delta entry must be an object")
        index = entry.get("index")
        if type(index) is not int or index < 0:
            raise MergeError(f"{here}.index", f"expected a non-negative integer, got {index!r}")
        if index >= len(current):
            current.extend([None] * (index + 1 - len(current)))
        existing = current[index]
        if existing is None:
            current[index] = dict(entry)
        elif type(existing) is dict:
            merge_delta(existing, entry, here)
        else:
            raise MergeError(here, "the entry it merges into is not an object")


def strip_indexes(value: Any) -> Any:
    """A copy of merged data without the ``index`` keys deltas leave in list entries."""
    if type(value) is dict:
        return {k: strip_indexes(v) for k, v in value.items() if k != "index"}
    if type(value) is list:
        return [strip_indexes(v) for v in value]
    return value
