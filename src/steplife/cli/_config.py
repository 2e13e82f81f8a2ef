"""Settings from a configuration file: ``steplife.toml`` or ``[tool.steplife]`` in pyproject.

Found as ruff finds its own: from the working directory upward, the first folder
holding a ``steplife.toml`` (any content) or a ``pyproject.toml`` with a
``[tool.steplife]`` table; in one folder, ``steplife.toml`` wins. ``--config PATH``
names the file instead; ``--isolated`` reads none. The command line wins over the
file, option by option (``--severity`` code by code).

Keys (hyphens or underscores alike)::

    ignore = ["dangling-step"]           # rules to skip
    select = ["after-terminal"]          # only these rules (then minus `ignore`)
    severity = {usage-missing = "error"} # a rule's severity
    require-terminal = true              # a step left in progress is an error
    format = "auto"                      # input format: auto, jsonl, sse, json
    output = "text"                      # validate's report format
    jobs = 2                             # files in parallel
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from steplife.errors import SteplifeError

__all__ = ["CONFIG_KEYS", "Config", "find_config", "load_config"]

Config = Mapping[str, Any]
"""Validated settings, keyed by option name with underscores (``require_terminal``)."""

CONFIG_KEYS: Final[Mapping[str, type | tuple[type, ...]]] = {
    "ignore": list,
    "select": list,
    "severity": dict,
    "require_terminal": bool,
    "format": str,
    "output": str,
    "jobs": int,
}
"""Each setting a file may hold, with the type of its value."""

_FILE: Final = "steplife.toml"
_PYPROJECT: Final = "pyproject.toml"


def _table(path: Path) -> dict[str, Any] | None:
    """The steplife settings `path` holds, or None when it holds none (a pyproject)."""
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise SteplifeError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SteplifeError(f"{path}: not valid TOML ({exc})") from None
    if path.name != _PYPROJECT:
        return document
    table = document.get("tool", {}).get("steplife")
    if table is not None and not isinstance(table, dict):
        raise SteplifeError(f"{path}: [tool.steplife] must be a table")
    return table


def find_config(start: Path) -> Path | None:
    """The configuration file for a command run in `start`, or None."""
    for folder in (start, *start.parents):
        candidate = folder / _FILE
        if candidate.is_file():
            return candidate
        candidate = folder / _PYPROJECT
        if candidate.is_file() and _table(candidate) is not None:
            return candidate
    return None


def load_config(path: Path) -> Config:
    """The settings in `path`, checked; `SteplifeError` naming the file and key if wrong."""
    table = _table(path)
    if table is None:
        raise SteplifeError(f"{path}: no [tool.steplife] table")
    settings: dict[str, Any] = {}
    where = f"{path}: [tool.steplife]" if path.name == _PYPROJECT else str(path)
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        expected = CONFIG_KEYS.get(key)
        if expected is None:
            known = ", ".join(k.replace("_", "-") for k in CONFIG_KEYS)
            raise SteplifeError(f"{where}: unknown key {raw_key!r} (known: {known})")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise SteplifeError(f"{where}: {raw_key} must be {_described(expected)}, not {value!r}")
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise SteplifeError(f"{where}: {raw_key} must be a list of rule codes (strings)")
        settings[key] = value
    return settings


def _described(expected: type | tuple[type, ...]) -> str:
    names = {
        list: "a list",
        dict: "a table",
        bool: "true or false",
        str: "a string",
        int: "a number",
    }
    return names.get(expected, str(expected)) if isinstance(expected, type) else str(expected)
