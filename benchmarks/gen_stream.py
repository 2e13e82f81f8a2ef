"""Seeded generator of a realistic Assistants API run-step event stream, as JSONL.

Each line is ``{"event": NAME, "data": {...}}``. Per step: ``thread.run.step.created``,
``thread.run.step.in_progress``, zero or more ``thread.run.step.delta``, then exactly one
terminal event (completed ~94%, failed ~3%, cancelled ~1.5%, expired ~1.5%). About 50 steps
are live at a time and a random one advances next, so steps interleave; runs of ~5 steps
share run/thread/assistant ids; ~2% of the events are non-step events (``thread.run.*``,
``thread.message.*``) that a run-step validator must pass by. Those ``thread.run.*`` events
are random, not a run's lifecycle: that is what the step-only benchmarks and the store
tests were built on, so it stays the default, event for event.

Both shares are parameters: ``live`` (``--live``) caps the steps in flight (new steps open
while fewer are in flight, so a stream long enough holds about that many: the in-flight
benchmarks use 20,000 and 100,000), and ``non_step_share`` (``--non-step-share``) sets the
share of non-step events (the realistic run-following benchmark uses the real captures'
share of message events, about 0.69).

With ``runs=True`` (``--runs``) each run's lifecycle is streamed instead, consistent with
its steps: ``thread.run.created``, ``.queued``, ``.in_progress`` before its first step is
created; for each function-call step that completes, a ``requires_action`` round trip (the
run waits with the step's calls in ``required_action``, the step completes, the run is
queued and in progress again, events in that order with nothing in between); and
``thread.run.completed`` (with usage, ``completed_at`` no earlier than any step stamp, no
``expires_at``) once all its steps ended. The ~2% other events are then message events
only. Run events come out of the same event budget as the deltas: about 1.5 per step, so
the same steps need about 1.5 more events per step than in the default stream (with too few,
tool-call steps become message steps first, as in the default; fewer events than the runs'
own four each is a ``ValueError``).

Snapshots are the 16-field RunStep in the API's key order (spec form: ``expired_at``,
``metadata: null``). Invariants, relied on by tests and benchmarks:

* exactly ``n_events`` events and ``n_steps`` steps; unique step ids; same output for a seed;
* with ``runs=True``: no error-level finding from ``steplife.Tracker()`` (runs followed);
* ``created``/``in_progress``: all four ``*_at`` stamps, ``usage`` and ``last_error`` null;
* terminal: exactly its own stamp, ``>= created_at``; ``usage`` (total = prompt + completion)
  on completed and on about half of the failed steps; ``last_error`` only on failed;
* the terminal ``step_details`` equal the created ``step_details`` with all the step's deltas
  folded in by the SDK merge rule (``openai.lib.streaming._deltas.accumulate_delta``), up to
  the ``index`` keys the merge leaves on list entries. Tool-call steps come in two styles:
  the real one (created with ``tool_calls: []``; a first delta per call brings ``id``,
  ``type``, ``name``/``input: ""``) and a "skeleton" one (created with every call present and
  empty ``arguments``/``input``). Completed function steps get their ``output`` in a last
  delta (real streams only show it in the terminal snapshot); steps that fail, are cancelled
  or expire stop after a prefix of their deltas.

Usage: ``python benchmarks/gen_stream.py --events 1000000 --steps 200000 --seed 0 -o s.jsonl.gz``
(add ``--runs`` for run lifecycles)
"""

from __future__ import annotations

import argparse
import gzip
import random
import string
import sys
from collections import deque
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import IO, Any, cast

import orjson

Event = dict[str, Any]

_ALNUM = string.ascii_letters + string.digits
_BASE_TS = 1767225600  # 2026-01-01T00:00:00Z
LIVE = 50  # default cap on steps in flight; a new step opens only below it
NON_STEP_SHARE = 0.02  # default share of the events that are not step events
_TOOL_FRACTION = 0.35
_MESSAGE_DELTA_P = 0.2
_TERMINALS = ("completed", "failed", "cancelled", "expired")
_TERMINAL_WEIGHTS = (0.94, 0.03, 0.015, 0.015)
_STAMP = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
_WORDS = (
    "the",
    "weather",
    "is",
    "warm",
    "and",
    "sunny",
    "today",
    "order",
    "shipped",
    "your",
    "report",
    "total",
    "of",
    "items",
    "please",
    "check",
    "result",
    "value",
    "in",
    "Paris",
)
_CITIES = ("San Francisco, CA", "Paris, France", "Tokyo, Japan", "Berlin, Germany", "Lima, Peru")
_CODE = (
    "import numpy as np",
    "import pandas as pd",
    "df = pd.read_csv('/mnt/data/file.csv')",
    "x = np.linspace(-2 * np.pi, 2 * np.pi, 100)",
    "y = np.sin(x)",
    "df.describe()",
    "total = sum(df['amount'])",
    "print(total)",
    "plt.plot(x, y)",
    "plt.show()",
    "result = 7.5 * 13.7",
    "result",
)
_LOGS = ("102.75", "'y := sin(x)'", "count    100.000000\nmean       0.000000", "4521.3")
_FN_OUTPUTS = (
    "warm and sunny",
    '{"temperature":22,"unit":"c"}',
    "102.75",
    "Email sent.",
    '{"status":"shipped","eta":"2026-03-04"}',
)
_ERRORS = (
    ("server_error", "Sorry, something went wrong."),
    (
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o in organization "
        "org-Xq3bV8kLmN2pR7sT on tokens per min (TPM): Limit 30000, Used 29120, "
        "Requested 1877. Please try again in 1.994s.",
    ),
)
_NON_STEP = ("thread.message.delta",) * 12 + (
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.completed",
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.completed",
)
_MESSAGE_ONLY = tuple(name for name in _NON_STEP if name.startswith("thread.message."))
_RUN_SIZES = (3, 7)  # steps per run, inclusive bounds
_RUN_EVENTS = 4  # created, queued, in_progress, completed
_TRIP_EVENTS = 3  # requires_action, queued, in_progress (the step's own end is a step event)


def _args(rng: random.Random, name: str) -> str:
    """A function-call arguments JSON string for ``name``."""
    if name == "get_current_weather":
        obj: dict[str, Any] = {"location": rng.choice(_CITIES), "unit": rng.choice("cf")}
    elif name == "product":
        obj = {"multiplicand": rng.randint(1, 999) / 10, "multiplier": rng.randint(1, 999) / 10}
    elif name == "send_email":
        obj = {"to": "dana@example.com", "subject": " ".join(rng.choices(_WORDS, k=4))}
    else:
        obj = {"order_id": f"ord_{rng.randrange(10**8):08d}", "include_items": rng.random() < 0.5}
    return orjson.dumps(obj).decode()


_FUNCTIONS = ("get_current_weather", "product", "send_email", "lookup_order")


class _Run:
    """The parent run (and thread/assistant) shared by a few consecutive steps."""

    __slots__ = (
        "assistant_id",
        "closed",
        "created_at",
        "expires_at",
        "id",
        "open",
        "started_at",
        "thread_id",
    )

    def __init__(self, gen: _Gen, now: int) -> None:
        self.id = gen.new_id("run_")
        self.thread_id = gen.new_id("thread_")
        self.assistant_id = gen.rng.choice(gen.assistants)
        self.created_at = now
        self.expires_at = now + 600
        # Only the run-lifecycle mode reads these.
        self.started_at: int | None = None
        self.open = 0  # its steps still live
        self.closed = False  # no step of it is still to be created


def _run_payload(
    run: _Run,
    status: str,
    *,
    started_at: int | None,
    expires_at: int | None,
    completed_at: int | None,
    required_action: dict[str, Any] | None,
    usage: dict[str, int] | None,
) -> dict[str, Any]:
    """A full ``thread.run`` object, in the API's key order."""
    return {
        "id": run.id,
        "object": "thread.run",
        "created_at": run.created_at,
        "assistant_id": run.assistant_id,
        "thread_id": run.thread_id,
        "status": status,
        "started_at": started_at,
        "expires_at": expires_at,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": completed_at,
        "required_action": required_action,
        "last_error": None,
        "model": "gpt-4o",
        "instructions": "You are a helpful assistant.",
        "tools": [
            {"type": "code_interpreter"},
            {
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "description": "Gets the user's current weather",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": False,
                },
            },
        ],
        "tool_resources": {"code_interpreter": {"file_ids": []}},
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "reasoning_effort": None,
        "max_completion_tokens": None,
        "max_prompt_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "incomplete_details": None,
        "usage": usage,
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }


class _Call:
    """One tool call: its final content, and its state as streamed so far."""

    __slots__ = ("id", "kind", "name", "output", "outputs", "text")

    def __init__(self, call_id: str, kind: str, name: str) -> None:
        self.id, self.kind, self.name = call_id, kind, name
        self.text = ""  # function.arguments or code_interpreter.input so far
        self.outputs: list[dict[str, Any]] = []  # code_interpreter outputs so far
        self.output: str | None = None  # function output once set

    def as_json(self) -> dict[str, Any]:
        """The call as it appears in a snapshot's ``tool_calls``."""
        if self.kind == "function":
            return {
                "id": self.id,
                "type": "function",
                "function": {"name": self.name, "arguments": self.text, "output": self.output},
            }
        return {
            "id": self.id,
            "type": "code_interpreter",
            "code_interpreter": {
                "input": self.text,
                "outputs": [_copy_output(o) for o in self.outputs],
            },
        }


def _copy_output(o: dict[str, Any]) -> dict[str, Any]:
    if o["type"] == "logs":
        return {"type": "logs", "logs": o["logs"]}
    return {"type": "image", "image": {"file_id": o["image"]["file_id"]}}


class _Step:
    """A step being streamed: fixed identity, plan of delta ops, and cursor."""

    __slots__ = (
        "calls",
        "created_at",
        "id",
        "message_id",
        "n_deltas",
        "phase",
        "plan",
        "present",
        "run",
        "terminal",
        "trip",
        "type",
    )

    def __init__(self, sid: str, run: _Run, stype: str, terminal: str, now: int) -> None:
        self.id, self.run, self.type, self.terminal = sid, run, stype, terminal
        self.created_at = now
        self.message_id = ""
        self.calls: list[_Call] = []
        self.present = 0  # calls visible in snapshots
        self.plan: list[tuple[str, int, Any]] = []  # (op, call index, arg)
        self.n_deltas = 0  # how many plan ops get emitted
        self.phase = 0  # 0: created next, 1: in_progress next, 2+: deltas, then terminal
        self.trip = False  # run-lifecycle mode: its run requires action before it ends

    def details(self) -> dict[str, Any]:
        """Current ``step_details`` (a fresh object)."""
        if self.type == "message_creation":
            return {"type": "message_creation", "message_creation": {"message_id": self.message_id}}
        calls = [c.as_json() for c in self.calls[: self.present]]
        return {"type": "tool_calls", "tool_calls": calls}


class _Gen:
    """Holds the RNG, id registry and clock; yields events."""

    def __init__(
        self,
        n_events: int,
        n_steps: int,
        seed: int,
        runs: bool = False,
        live: int = LIVE,
        non_step_share: float = NON_STEP_SHARE,
    ) -> None:
        if n_events < 0 or n_steps < 0:
            raise ValueError("counts must be >= 0")
        if live < 1 or not 0 <= non_step_share < 1:
            raise ValueError("live must be >= 1 and non_step_share in [0, 1)")
        if n_events < 3 * n_steps:
            raise ValueError(f"{n_events} events cannot hold {n_steps} steps (3 events each)")
        self.rng = random.Random(seed)
        self.ids: set[str] = set()
        self.n_events, self.n_steps = n_events, n_steps
        self.runs = runs
        self.live = live
        self.assistants = [self.new_id("asst_") for _ in range(20)]
        self.clock = float(_BASE_TS + self.rng.randrange(180 * 86400))
        # Run-lifecycle mode: every run's size is fixed up front, so its events are counted.
        self.run_sizes: list[int] = self._plan_runs() if runs else []
        fixed = 3 * n_steps + _RUN_EVENTS * len(self.run_sizes)
        if n_events < fixed:
            raise ValueError(
                f"{n_events} events cannot hold {n_steps} steps and the "
                f"{_RUN_EVENTS * len(self.run_sizes)} events of their runs"
            )
        self.n_non_step = min(round(n_events * non_step_share), n_events - fixed)
        if n_steps == 0:
            self.n_non_step = n_events
        self._plan_steps()

    def _plan_runs(self) -> list[int]:
        """How many steps each run holds, in order; they add up to ``n_steps``."""
        sizes: list[int] = []
        left = self.n_steps
        while left:
            size = min(left, self.rng.randint(*_RUN_SIZES))
            sizes.append(size)
            left -= size
        return sizes

    def new_id(self, prefix: str, n: int = 24) -> str:
        """A fresh, never-repeated id like ``step_8kQz...``."""
        while True:
            s = prefix + "".join(self.rng.choices(_ALNUM, k=n))
            if s not in self.ids:
                self.ids.add(s)
                return s

    def _plan_steps(self) -> None:
        """Decide every step's shape and delta count so the event total is exact."""
        rng, m = self.rng, self.n_steps
        # delta events (and, with runs, requires_action round trips) to place
        budget = self.n_events - self.n_non_step - 3 * m - _RUN_EVENTS * len(self.run_sizes)
        # shape: (is_tool, kind, n_calls_or_outputs, real_style, terminal); k: emitted deltas
        self.shapes: list[tuple[bool, str, int, bool, str]] = []
        k = [0] * m
        mins = [0] * m
        trips = [0] * m  # round-trip events of each step (run-lifecycle mode only)
        for i in range(m):
            term = rng.choices(_TERMINALS, _TERMINAL_WEIGHTS)[0]
            if rng.random() < _TOOL_FRACTION:
                real = rng.random() < 0.5
                if rng.random() < 0.7:
                    n = rng.choices((1, 2, 3), (0.8, 0.15, 0.05))[0]
                    self.shapes.append((True, "function", n, real, term))
                    mins[i] = n * (2 if real else 1) + 1 if term == "completed" else 0
                    if self.runs and term == "completed":
                        trips[i] = _TRIP_EVENTS
                else:
                    n = rng.choices((0, 1, 2), (0.1, 0.75, 0.15))[0]
                    self.shapes.append((True, "code_interpreter", n, real, term))
                    mins[i] = (2 if real else 1) + n if term == "completed" else 0
            else:
                self.shapes.append((False, "", 0, False, term))
                mins[i] = 1 if rng.random() < _MESSAGE_DELTA_P else 0
        need = sum(mins) + sum(trips)
        for i in range(m):  # too tight a budget: drop message deltas, then tool steps
            if need <= budget:
                break
            if not self.shapes[i][0] and mins[i]:
                need -= mins[i]
                mins[i] = 0
        for i in range(m):
            if need <= budget:
                break
            if self.shapes[i][0]:
                need -= mins[i] + trips[i]
                mins[i] = trips[i] = 0
                self.shapes[i] = (False, "", 0, False, self.shapes[i][4])
        k[:] = mins
        extra = budget - need
        takers = [i for i in range(m) if self.shapes[i][0]] or list(range(m))
        if extra and takers:
            weights = [rng.expovariate(1.0) for _ in takers]
            for j in rng.choices(range(len(takers)), weights, k=extra):
                k[takers[j]] += 1
        self.k = k
        self.trips = trips

    def _tick(self) -> int:
        self.clock += self.rng.random() * 0.05
        return int(self.clock)

    # ---- step construction -------------------------------------------------------------
    def _new_step(self, i: int, run: _Run) -> _Step:
        rng = self.rng
        is_tool, kind, n, real, term = self.shapes[i]
        st = _Step(
            self.new_id("step_"),
            run,
            "tool_calls" if is_tool else "message_creation",
            term,
            int(self.clock),
        )
        k = self.k[i]
        st.trip = self.trips[i] > 0
        if not is_tool:
            st.message_id = self.new_id("msg_")
            st.plan = [("msg", 0, None)] * k
            st.n_deltas = k
            return st
        if kind == "function":
            names = [rng.choice(_FUNCTIONS) for _ in range(n)]
            st.calls = [_Call(self.new_id("call_"), "function", nm) for nm in names]
            fixed = n * (1 if real else 0) + 1
            pieces = n
        else:
            st.calls = [_Call(self.new_id("call_"), "code_interpreter", "")]
            fixed = (1 if real else 0) + n
            pieces = 1
        planned = (
            max(k, fixed + pieces)
            if term == "completed"
            else max(k + 1 + rng.randrange(3), fixed + pieces)
        )
        per_call = [1] * len(st.calls)
        for _ in range(planned - fixed - pieces):
            per_call[rng.randrange(len(per_call))] += 1
        plan: list[tuple[str, int, Any]] = []
        for ci, (call, p) in enumerate(zip(st.calls, per_call, strict=True)):
            if real:
                plan.append(("intro", ci, None))
            text = _args(rng, call.name) if kind == "function" else self._code(p)
            while len(text) < p + 1:
                text = text[:-1] + ',"note":"' + " ".join(rng.choices(_WORDS, k=p)) + '"}'
            cuts = sorted(rng.sample(range(1, len(text)), p - 1)) if p > 1 else []
            bounds = [0, *cuts, len(text)]
            plan.extend(("text", ci, text[a:b]) for a, b in pairwise(bounds))
        if kind == "function":
            plan.append(("fn_out", 0, [rng.choice(_FN_OUTPUTS) for _ in st.calls]))
        else:
            for _ in range(n):
                if rng.random() < 0.8:
                    plan.append(("ci_out", 0, {"type": "logs", "logs": rng.choice(_LOGS)}))
                else:
                    plan.append(
                        ("ci_out", 0, {"type": "image", "image": {"file_id": self.new_id("file-")}})
                    )
        st.plan = plan
        st.n_deltas = k
        st.present = 0 if real else len(st.calls)
        return st

    def _code(self, pieces: int) -> str:
        rng = self.rng
        lines: list[str] = []
        target = max(pieces + 1, rng.randint(20, 160))
        while sum(len(x) + 1 for x in lines) < target:
            lines.append(rng.choice(_CODE))
        return "\n".join(lines)

    # ---- events ------------------------------------------------------------------------
    def _snapshot(self, st: _Step, status: str, now: int) -> Event:
        rng, run = self.rng, st.run
        snap: Event = {
            "id": st.id,
            "object": "thread.run.step",
            "created_at": st.created_at,
            "run_id": run.id,
            "assistant_id": run.assistant_id,
            "thread_id": run.thread_id,
            "type": st.type,
            "status": status,
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "last_error": None,
            "step_details": st.details(),
            "usage": None,
            "metadata": None,
        }
        if status != "in_progress":
            snap[_STAMP[status]] = now
            usage = status == "completed" or (status == "failed" and rng.random() < 0.5)
            if status == "failed":
                code, msg = _ERRORS[0] if rng.random() < 0.75 else _ERRORS[1]
                snap["last_error"] = {"code": code, "message": msg}
            if usage:
                text = sum(len(c.text) for c in st.calls)
                p = rng.randint(150, 4000) if status == "completed" else 0
                c = text // 4 + rng.randint(5, 60)
                snap["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        return snap

    def _delta(self, st: _Step, op: str, ci: int, arg: Any) -> Event:
        """Apply one plan op to the step's state and return its delta event."""
        if op == "msg":
            sd: dict[str, Any] = {"type": "message_creation", "message_creation": {}}
        else:
            call = st.calls[ci]
            if op == "intro":
                st.present = ci + 1
                body: dict[str, Any] = (
                    {"name": call.name, "arguments": "", "output": None}
                    if call.kind == "function"
                    else {"input": "", "outputs": []}
                )
                entries = [{"index": ci, "id": call.id, "type": call.kind, call.kind: body}]
            elif op == "text":
                call.text += arg
                key = "arguments" if call.kind == "function" else "input"
                entries = [{"index": ci, "type": call.kind, call.kind: {key: arg}}]
            elif op == "ci_out":
                j = len(call.outputs)
                call.outputs.append(arg)
                out = {"index": j, **_copy_output(arg)}
                entries = [
                    {
                        "index": ci,
                        "type": "code_interpreter",
                        "code_interpreter": {"outputs": [out]},
                    }
                ]
            else:  # fn_out: every call's output at once
                entries = []
                for i, (c, o) in enumerate(zip(st.calls, arg, strict=True)):
                    c.output = o
                    entries.append({"index": i, "type": "function", "function": {"output": o}})
            sd = {"type": "tool_calls", "tool_calls": entries}
        return {
            "event": "thread.run.step.delta",
            "data": {"id": st.id, "object": "thread.run.step.delta", "delta": {"step_details": sd}},
        }

    def _advance(self, st: _Step, now: int) -> Event:
        """Next event of a live step (created has already been emitted)."""
        if st.phase == 1:
            st.phase = 2
            return {
                "event": "thread.run.step.in_progress",
                "data": self._snapshot(st, "in_progress", now),
            }
        d = st.phase - 2
        if d < st.n_deltas:
            st.phase += 1
            op, ci, arg = st.plan[d]
            return self._delta(st, op, ci, arg)
        st.phase = -1
        return {
            "event": "thread.run.step." + st.terminal,
            "data": self._snapshot(st, st.terminal, now),
        }

    def _non_step(
        self, run: _Run, msg_id: str, now: int, names: tuple[str, ...] = _NON_STEP
    ) -> Event:
        """A run or message event (one of `names`) that a step validator passes by."""
        rng = self.rng
        name = rng.choice(names)
        if name == "thread.message.delta":
            word = " " + rng.choice(_WORDS)
            content = [{"index": 0, "type": "text", "text": {"value": word}}]
            return {
                "event": name,
                "data": {
                    "id": msg_id,
                    "object": "thread.message.delta",
                    "delta": {"content": content},
                },
            }
        if name.startswith("thread.message."):
            done = name.endswith("completed")
            content = (
                [
                    {
                        "type": "text",
                        "text": {"value": " ".join(rng.choices(_WORDS, k=12)), "annotations": []},
                    }
                ]
                if done
                else []
            )
            return {
                "event": name,
                "data": {
                    "id": msg_id,
                    "object": "thread.message",
                    "created_at": now,
                    "assistant_id": run.assistant_id,
                    "thread_id": run.thread_id,
                    "run_id": run.id,
                    "status": "completed" if done else "in_progress",
                    "incomplete_details": None,
                    "incomplete_at": None,
                    "completed_at": now if done else None,
                    "role": "assistant",
                    "content": content,
                    "attachments": [],
                    "metadata": {},
                },
            }
        status = name.rsplit(".", 1)[1]
        status = "queued" if status == "created" else status
        done = status == "completed"
        p, c = rng.randint(200, 5000), rng.randint(10, 500)
        return {
            "event": name,
            "data": _run_payload(
                run,
                status,
                started_at=None if status == "queued" else run.created_at + 1,
                expires_at=None if done else run.expires_at,
                completed_at=now if done else None,
                required_action=None,
                usage={"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
                if done
                else None,
            ),
        }

    def events(self) -> Iterator[Event]:
        """Yield exactly ``n_events`` events."""
        if self.runs:
            return self._events_with_runs()
        return self._events()

    def _events(self) -> Iterator[Event]:
        rng = self.rng
        live: list[_Step] = []
        n, non_step_left, next_step = self.n_events, self.n_non_step, 0
        run = _Run(self, int(self.clock))
        run_left = rng.randint(3, 7)
        for slot in range(n):
            now = self._tick()
            if non_step_left and rng.random() * (n - slot) < non_step_left:
                non_step_left -= 1
                other = rng.choice(live) if live else None
                r = other.run if other else run
                mid = other.message_id if other and other.message_id else self.new_id("msg_")
                yield self._non_step(r, mid, now)
                continue
            if next_step < self.n_steps and (
                not live or (len(live) < self.live and rng.random() < 0.5)
            ):
                if run_left == 0:
                    run, run_left = _Run(self, now), rng.randint(3, 7)
                run_left -= 1
                st = self._new_step(next_step, run)
                next_step += 1
                st.phase = 1
                live.append(st)
                yield {
                    "event": "thread.run.step.created",
                    "data": self._snapshot(st, "in_progress", now),
                }
                continue
            i = rng.randrange(len(live))
            st = live[i]
            ev = self._advance(st, now)
            if st.phase < 0:
                live[i] = live[-1]
                live.pop()
            yield ev

    # ---- run-lifecycle mode ------------------------------------------------------------
    def _events_with_runs(self) -> Iterator[Event]:
        """Yield exactly ``n_events`` events, each run's lifecycle included (``runs=True``)."""
        rng = self.rng
        live: list[_Step] = []
        # What must come next, in order: a new run's queued/in_progress before its first
        # step is created ("step"), a requires_action round trip ("end" is the awaited
        # step's terminal event), a run's end. Nothing else interleaves with these.
        forced: deque[tuple[str, _Run, _Step | None]] = deque()
        n, non_step_left, next_step = self.n_events, self.n_non_step, 0
        sizes = iter(self.run_sizes)
        run: _Run | None = None
        run_left = 0
        for slot in range(n):
            now = self._tick()
            if forced:
                what, owner, st = forced.popleft()
                if what == "step":
                    yield self._open_step(next_step, owner, live, now)
                    next_step += 1
                elif what == "end":
                    assert st is not None
                    yield self._step_event(live, live.index(st), now, forced)
                else:
                    yield self._run_event(owner, what, now)
                continue
            # Messages belong to a run: none before the first one (unless there are no steps).
            if (
                non_step_left
                and (run is not None or next_step == self.n_steps)
                and rng.random() * (n - slot) < non_step_left
            ):
                non_step_left -= 1
                other = rng.choice(live) if live else None
                r = other.run if other else run or _Run(self, now)
                mid = other.message_id if other and other.message_id else self.new_id("msg_")
                yield self._non_step(r, mid, now, _MESSAGE_ONLY)
                continue
            if next_step < self.n_steps and (
                not live or (len(live) < self.live and rng.random() < 0.5)
            ):
                new_run = run_left == 0
                if new_run:
                    run, run_left = _Run(self, now), next(sizes)
                assert run is not None
                run_left -= 1
                run.closed = run_left == 0
                if new_run:
                    forced.extend(
                        (("queued", run, None), ("in_progress", run, None), ("step", run, None))
                    )
                    yield self._run_event(run, "created", now)
                    continue
                yield self._open_step(next_step, run, live, now)
                next_step += 1
                continue
            i = rng.randrange(len(live))
            st = live[i]
            if st.trip and st.phase - 2 == st.n_deltas:
                # Its terminal event is next: the run first waits for the call's output.
                st.trip = False
                forced.extend(
                    (("end", st.run, st), ("queued", st.run, None), ("in_progress", st.run, None))
                )
                yield self._run_event(st.run, "requires_action", now, st)
                continue
            yield self._step_event(live, i, now, forced)

    def _open_step(self, i: int, run: _Run, live: list[_Step], now: int) -> Event:
        """Create step number `i` in `run` and return its ``created`` event."""
        st = self._new_step(i, run)
        st.phase = 1
        live.append(st)
        run.open += 1
        return {"event": "thread.run.step.created", "data": self._snapshot(st, "in_progress", now)}

    def _step_event(
        self, live: list[_Step], i: int, now: int, forced: deque[tuple[str, _Run, _Step | None]]
    ) -> Event:
        """The next event of ``live[i]``; once its run's last step ended, the run ends next."""
        st = live[i]
        ev = self._advance(st, now)
        if st.phase < 0:
            live[i] = live[-1]
            live.pop()
            run = st.run
            run.open -= 1
            if run.closed and not run.open:
                forced.append(("completed", run, None))
        return ev

    def _run_event(self, run: _Run, kind: str, now: int, waiting: _Step | None = None) -> Event:
        """``thread.run.<kind>`` for `run` at `now`; `waiting` is the step whose calls it awaits."""
        if kind == "in_progress":
            run.started_at = now
        elif kind == "queued" and run.started_at is not None:
            run.expires_at = now + 600  # the tool outputs were submitted: a new deadline
        done = kind == "completed"
        usage = None
        if done:
            prompt, completion = self.rng.randint(200, 5000), self.rng.randint(10, 500)
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        action = None
        if waiting is not None:
            calls = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.text},
                }
                for call in waiting.calls
            ]
            action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
        return {
            "event": "thread.run." + kind,
            "data": _run_payload(
                run,
                "queued" if kind == "created" else kind,
                started_at=run.started_at,
                expires_at=None if done else run.expires_at,
                completed_at=now if done else None,
                required_action=action,
                usage=usage,
            ),
        }


def generate(
    n_events: int = 1_000_000,
    n_steps: int = 200_000,
    seed: int = 0,
    *,
    runs: bool = False,
    live: int = LIVE,
    non_step_share: float = NON_STEP_SHARE,
) -> Iterator[Event]:
    """Yield ``n_events`` event dicts (``{"event", "data"}``) covering ``n_steps`` steps.

    Deterministic for a given ``seed``; each yielded dict is a fresh object. With
    `runs`, each run's lifecycle events are streamed with its steps (module docstring).
    At most `live` steps are in flight at once (new steps open while fewer are, so a
    long enough stream holds about that many); `non_step_share` of the events are
    message (and, without `runs`, random run) events. Raises ``ValueError`` if
    ``n_events < 3 * n_steps`` (or, with `runs`, too few events for the runs' own).
    """
    return _Gen(n_events, n_steps, seed, runs, live, non_step_share).events()


def write(
    path: str | Path,
    n_events: int = 1_000_000,
    n_steps: int = 200_000,
    seed: int = 0,
    *,
    runs: bool = False,
    live: int = LIVE,
    non_step_share: float = NON_STEP_SHARE,
) -> int:
    """Write the stream as JSONL to ``path`` (gzip if it ends with ``.gz``, stdout if ``-``).

    `runs`, `live` and `non_step_share` shape it as in `generate`. Returns the number of
    events written.
    """
    dumps, opt = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    p = str(path)
    out: IO[bytes]
    if p == "-":
        out = sys.stdout.buffer
    elif p.endswith(".gz"):
        out = cast(IO[bytes], gzip.open(p, "wb", compresslevel=5))  # noqa: SIM115 - closed below
    else:
        out = open(p, "wb")  # noqa: SIM115 - closed below
    count = 0
    buf: list[bytes] = []
    try:
        for ev in generate(
            n_events, n_steps, seed, runs=runs, live=live, non_step_share=non_step_share
        ):
            buf.append(dumps(ev, option=opt))
            if len(buf) == 8192:
                out.write(b"".join(buf))
                count += len(buf)
                buf.clear()
        out.write(b"".join(buf))
        count += len(buf)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    return count


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--events", type=int, default=1_000_000, help="total events (default 1e6)")
    ap.add_argument("--steps", type=int, default=200_000, help="run steps (default 2e5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--runs",
        action="store_true",
        help="stream each run's lifecycle, consistent with its steps (default: random run events)",
    )
    ap.add_argument(
        "--live", type=int, default=LIVE, help=f"most steps in flight at once (default {LIVE})"
    )
    ap.add_argument(
        "--non-step-share",
        type=float,
        default=NON_STEP_SHARE,
        help=f"share of message and other non-step events (default {NON_STEP_SHARE})",
    )
    ap.add_argument("-o", "--output", default="-", help="output path (.gz: gzip; -: stdout)")
    a = ap.parse_args(argv)
    try:
        write(
            a.output,
            a.events,
            a.steps,
            a.seed,
            runs=a.runs,
            live=a.live,
            non_step_share=a.non_step_share,
        )
    except ValueError as e:
        ap.error(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
