"""The array's log: every step it takes, named like the step of the protocol it performs."""

from __future__ import annotations

import json
from typing import Any, NamedTuple


class Event(NamedTuple):
    """A step taken: ``name`` is the step (``write_row``, ``deliver``), ``args`` the
    numbers naming what it acted on, in a fixed order per step: a take-over step names its
    LU, source and destination (and the block, for a de-stage); host I/O names the host."""

    name: str
    args: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(map(str, self.args))})"

    def to_json(self, seq: int, component: str) -> dict[str, Any]:
        return {"seq": seq, "event": self.name, "args": list(self.args), "component": component}


def json_line(event: Event, seq: int, component: str) -> str:
    return json.dumps(event.to_json(seq, component), separators=(",", ":"))
