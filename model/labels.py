"""Action labels and component names: values inside the project, text only at its edges.

A ``Label`` names one action instance by what stays true of it from state to state: the
action's name and its stable arguments (a take-over step names its job by LU, source and
destination, never by the job's position in the state). Fairness, witnesses, replay, ITF
traces and reports all key on labels, so there is one text format and one parser, both here.

A ``Component`` names who performs an action: a host, a controller, the path controller...
"""

from __future__ import annotations

import re
from typing import NamedTuple

# The text after the action's name, one ``{}`` per argument. Take-over steps (Steps 802-809
# and 902-909) share two formats; every other action has its own.
JOB = "LU{} c{}->c{}"
JOB_BLOCK = "LU{} c{}->c{} block {}"
FORMATS: dict[str, str] = {
    "send_write": "host{} LU{} block {}",
    "send_read": "host{} LU{} block {}",
    "deliver": "host{}",
    "process": "host{}",
    "complete": "host{}",
    "retry": "host{}",
    "background_destage": "c{} LU{} block {}",
    "destage_done": "c{} LU{} block {}",
    "mirror_write": "pair{}",
    "designate": "LU{} to c{}",
    "designate_batch": "{}",
    "split_pair": "backup {}",
    "resync_block": "pair{} block {}",
    "resync_done": "pair{}",
}


class LabelError(ValueError):
    """Text that is not an action label."""


class Label(NamedTuple):
    """An action instance: the action's name and its stable arguments."""

    action: str
    args: tuple[int, ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.action
        return f"{self.action} {_format(self.action, len(self.args)).format(*self.args)}"

    @classmethod
    def parse(cls, text: str) -> Label:
        """The label ``text`` writes; ``LabelError`` naming what is wrong if it is none."""
        name, _, rest = text.strip().partition(" ")
        if not name:
            raise LabelError("an empty action label")
        if not rest:
            return cls(name)
        formats = [FORMATS[name]] if name in FORMATS else [JOB, JOB_BLOCK]
        for form in formats:
            match = _pattern(form).fullmatch(rest)
            if match:
                return cls(name, tuple(int(n) for n in match.groups()))
        expected = " or ".join(repr(f"{name} {form}") for form in formats)
        raise LabelError(f"{text!r} is not an action label: expected {expected}, {{}} a number")

    def is_job_step(self) -> bool:
        """Whether this names a take-over or backup step, whose first arguments are
        (LU, source, destination)."""
        return self.action not in FORMATS and len(self.args) in (3, 4)

    @property
    def lus(self) -> tuple[int, ...]:
        """The LUs the label names (for renaming a run's LUs)."""
        if self.is_job_step() or self.action == "designate":
            return (self.args[0],)
        if self.action in _LU_SECOND:
            return (self.args[1],)
        return ()

    def with_lus_swapped(self, a: int, b: int) -> Label:
        """This label with LU ``a`` and LU ``b`` exchanged."""
        position = 0 if self.is_job_step() or self.action == "designate" else 1
        if not self.lus:
            return self
        lu = self.args[position]
        renamed = b if lu == a else a if lu == b else lu
        return self._replace(args=(*self.args[:position], renamed, *self.args[position + 1 :]))


_LU_SECOND = ("send_write", "send_read", "background_destage", "destage_done")  # LU is args[1]

INITIAL = Label("initial")  # the label of a trace's first state, which no action reached


def _format(action: str, arity: int) -> str:
    if action in FORMATS:
        return FORMATS[action]
    return JOB_BLOCK if arity == 4 else JOB


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(form: str) -> re.Pattern[str]:
    if form not in _PATTERNS:
        _PATTERNS[form] = re.compile(re.escape(form).replace(r"\{\}", "(-?[0-9]+)"))
    return _PATTERNS[form]


class Component(NamedTuple):
    """Who performs an action: a ``kind`` of component and, if there are several, which."""

    kind: str  # "host", "controller", "path controller", "management utility", ...
    number: int | None = None

    def __str__(self) -> str:
        if self.number is None:
            return self.kind
        return f"host{self.number}" if self.kind == "host" else f"{self.kind} {self.number}"


PATH_CONTROLLER = Component("path controller")
UTILITY = Component("management utility")
BACKUP_HOST = Component("backup host")
MIRRORING = Component("mirroring")
ARRAY = Component("array")  # the whole array at once: a crash and its recovery
DISK = Component("disk")  # never performs an action; sequence diagrams give it a lane


def host(h: int | None = None) -> Component:
    return Component("host", h)


def controller(c: int | None = None) -> Component:
    return Component("controller", c)
