"""Trace validation: a log of the array's events replayed against the model.

Each event must be a step the model enables in the state reached so far, and every safety
property must hold in the state after it; a read's logged value must be the value the model
reads. On a mismatch: how many events matched, the event, and the model's own reason for
refusing it (the guard's words) or the property it breaks.

A log is JSON lines: a header ``{"log": "lutakeover-array", "scenario": ...}`` naming the
scenario (``{"builtin": NAME}`` or ``{"file": PATH}``), then one object per event with
``event`` and ``args`` (and, for a read performed, ``value``: which write it returned)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from invariants.safety import first_broken
from model.actions import ACTIONS_BY_NAME, Action, Model
from model.labels import Label
from model.protocol import CORRECT, Protocol
from model.scenario import Scenario
from model.state import Op
from reference_impl.eventlog import LOG_KIND

# An event is one short line (under 200 characters); a longer line is not a log, and a file
# with no line ends (/dev/zero) would otherwise be read whole into memory as one line.
MAX_LINE = 1 << 20  # characters, as a scenario file is capped at 1 MiB


class LogError(ValueError):
    """A log that cannot be read: the message names the line and what is wrong."""


def _arity(action: Action) -> int:
    """How many arguments a label of ``action`` has: those its ``apply`` takes after the
    model and the state, a take-over step's job index standing for three (the job's LU,
    source and destination, see ``model.actions.describe``)."""
    taken = len(inspect.signature(action.apply).parameters) - 2
    return taken + 2 if action.per_job is not None else taken


ARITY: dict[str, int] = {name: _arity(action) for name, action in ACTIONS_BY_NAME.items()}


def label_error(label: Label) -> str | None:
    """What makes ``label`` name no action of the model (an unknown action, or the wrong
    number of arguments), or None: such a label is bad input, not a step the model refuses,
    and its text cannot even be written (``Label.__str__`` needs its arguments)."""
    if label.action not in ARITY:
        return f"no action is called {label.action!r}"
    wanted, found = ARITY[label.action], len(label.args)
    if found != wanted:
        return f"{label.action} takes {wanted} argument{'s' * (wanted != 1)}, found {found}"
    return None


def log_lines(f: TextIO) -> Iterator[str]:
    """The lines of an open log, none read past ``MAX_LINE`` characters."""
    n = 0
    while line := f.readline(MAX_LINE + 1):
        n += 1
        if len(line) > MAX_LINE:
            raise LogError(f"line {n}: longer than {MAX_LINE:,} characters; an event is one short line")
        yield line


@dataclass(frozen=True)
class LoggedEvent:
    line: int
    label: Label
    value: int | None = None  # for a read's ``process``: the write it returned


@dataclass
class Validation:
    scenario: str
    events: int = 0  # events in the log
    matched: int = 0  # events the model took, properties holding after each
    failed: LoggedEvent | None = None
    reason: str | None = None  # why the model refuses it, or what it breaks

    @property
    def verdict(self) -> str:
        return "ok" if self.failed is None else "violated"


def read_log(lines: Iterable[str]) -> tuple[dict[str, Any], Iterator[LoggedEvent]]:
    """The header and the events of a log; LogError names a malformed line."""
    it = iter(enumerate(lines, 1))
    header: dict[str, Any] | None = None
    for n, text in it:
        if text.strip():
            header = _object(text, n)
            break
    if header is None or header.get("log") != LOG_KIND:
        raise LogError(f'line 1: not a log of the array (its first line must name "log": "{LOG_KIND}")')
    if header.get("restarted"):
        raise LogError(
            "line 1: this log starts where a restart recovered the array from its files; the model "
            "validates runs from the scenario's initial state (the log before the crash is events.N.jsonl)"
        )
    return header, _events(it)


def _object(text: str, n: int) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # json's message stops where it would give the position ("Invalid control character
        # at"): the column completes the sentence.
        raise LogError(f"line {n}: not JSON: {e.msg.removesuffix(' at')} at column {e.colno}") from None
    if not isinstance(data, dict):
        raise LogError(f"line {n}: an event is a JSON object, not {type(data).__name__}")
    return data


def _events(it: Iterator[tuple[int, str]]) -> Iterator[LoggedEvent]:
    expected = 0  # the array numbers its steps from 0: a gap is a step missing from the log
    for n, text in it:
        if not text.strip():
            continue
        data = _object(text, n)
        seq = data.get("seq", expected)  # optional: a log written by hand may leave it out
        if type(seq) is not int or seq != expected:
            raise LogError(
                f'line {n}: "seq" is {seq!r} where the events before it make it {expected}: '
                "an event is missing, repeated or out of order"
            )
        expected += 1
        name, args, value = data.get("event"), data.get("args"), data.get("value")
        if not isinstance(name, str) or not isinstance(args, list) or not all(type(a) is int for a in args):
            raise LogError(f'line {n}: an event needs "event" (a name) and "args" (whole numbers)')
        if value is not None and type(value) is not int:
            raise LogError(f'line {n}: "value" must be a whole number')
        label = Label(name, tuple(args))
        wrong = label_error(label)
        if wrong is not None:
            raise LogError(f"line {n}: {wrong}")
        yield LoggedEvent(n, label, value)


def validate(scenario: Scenario, events: Iterable[LoggedEvent], protocol: Protocol = CORRECT) -> Validation:
    m = Model(scenario, protocol)
    w = m.initial()
    result = Validation(scenario.name)
    for event in events:
        result.events += 1
        if result.failed is not None:
            continue  # count the rest
        transition = m.transition_labelled(w, event.label)
        if transition is None:
            result.failed, result.reason = event, f"the model refuses it: {m.why_not(w, event.label)}"
            continue
        after = transition.after
        if event.value is not None:
            h = event.label.args[0] if event.label.action == "process" and event.label.args else None
            request = after.hosts[h] if h is not None and 0 <= h < len(after.hosts) else None
            if request is None or request.op is not Op.READ:
                result.failed, result.reason = event, "a value is logged for a step that reads nothing"
                continue
            if request.value != event.value:
                result.failed = event
                result.reason = f"the array read write {event.value}; the model reads write {request.value}"
                continue
        broken = first_broken(m, after)
        if broken is not None:
            result.failed, result.reason = event, f"after it, {broken[0]} is broken: {broken[1]}"
            continue
        w = after
        result.matched += 1
    return result
