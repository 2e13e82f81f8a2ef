"""A clock that moves only when told to, so stamps are deterministic in tests."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_NOW", "FakeClock"]

DEFAULT_NOW: Final = 1_700_000_000
"""Where a `FakeClock` stands unless told otherwise (2023-11-14T22:13:20Z)."""


def _whole_seconds(name: str, value: object, *, minimum: int) -> int:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int of whole seconds, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


class FakeClock:
    """A `steplife.Clock`: a callable returning Unix seconds, standing still until moved.

    ``FakeClock(now=1_700_000_000, tick=0)``: each call returns `now`, then moves the
    clock forward by `tick` seconds (0, the default, keeps it still). `advance` moves
    it forward, `set` puts it anywhere (backwards too, to test clock skew). `calls`
    counts the readings. Raises `TypeError` for a non-int and `ValueError` for a
    negative time or step, at once.
    """

    __slots__ = ("calls", "now", "tick")

    def __init__(self, now: int = DEFAULT_NOW, *, tick: int = 0) -> None:
        self.now = _whole_seconds("now", now, minimum=0)
        self.tick = _whole_seconds("tick", tick, minimum=0)
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        now = self.now
        self.now += self.tick
        return now

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now}, tick={self.tick})"

    def advance(self, seconds: int = 1) -> int:
        """Move the clock `seconds` (>= 0) forward; return the new time."""
        self.now += _whole_seconds("seconds", seconds, minimum=0)
        return self.now

    def set(self, now: int) -> int:
        """Put the clock at `now` (>= 0), forward or back; return it."""
        self.now = _whole_seconds("now", now, minimum=0)
        return self.now
