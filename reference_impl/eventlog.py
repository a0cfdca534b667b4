"""The array's event log: JSON lines, a header then one object per step taken, written as
the steps are taken (a crash loses at most the line being written)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from reference_impl.events import Event

LOG_KIND = "lutakeover-array"


class EventLog:
    def __init__(self, path: str, meta: dict[str, Any]) -> None:
        self._file: TextIO = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._seq = 0
        self._write({"log": LOG_KIND, **meta})

    def record(self, event: Event, component: str, value: int | None = None) -> None:
        entry = event.to_json(self._seq, component)
        if value is not None:
            entry["value"] = value
        self._write(entry)
        self._seq += 1

    def _write(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
