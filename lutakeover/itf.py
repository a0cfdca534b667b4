"""Traces in the Informal Trace Format (ITF, Apalache ADR-015), which Apalache and Quint read.

Integers are ``{"#bigint": "N"}``, records are JSON objects, per-index tables are lists,
sets of LUs ``{"#set": [...]}``, a host's request a variant (``Idle`` or ``Busy``). Each
state also carries ``mbt::actionTaken``, the label of the action that led to it, as Quint's
model-based testing traces do. ``read_trace`` inverts ``trace_document`` exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from model.state import Controller, Disk, Ghost, Job, Line, Op, Pair, PairState, Request, Row, World
from model.state import Path as PathState
from proofs.explicit import Counterexample

ACTION_TAKEN = "mbt::actionTaken"
VARS = [*World._fields, ACTION_TAKEN]


class ItfError(ValueError):
    """An ITF file that is not a trace of this model."""


def _int(n: int) -> dict[str, str]:
    return {"#bigint": str(int(n))}


def _ints(values: tuple[int, ...]) -> list[dict[str, str]]:
    return [_int(v) for v in values]


def _row(r: Row) -> dict[str, Any]:
    return {k: _int(v) for k, v in r._asdict().items()}


def encode_world(w: World) -> dict[str, Any]:
    return {
        "controllers": [
            {
                "active": {"#set": _ints(c.active)},
                "write_through": {"#set": _ints(c.write_through)},
                "cache": {
                    "#set": [
                        {"lu": _int(x.lu), "block": _int(x.block), "value": _int(x.value), "dirty": x.dirty}
                        for x in c.cache
                    ]
                },
                "table": [_row(r) for r in c.table],
            }
            for c in w.controllers
        ],
        "disk": {"blocks": [_ints(b) for b in w.disk.blocks], "table": [_row(r) for r in w.disk.table]},
        "paths": [{"route": _int(p.route), "suspended": p.suspended} for p in w.paths],
        "hosts": [
            {"tag": "Idle", "value": {"#tup": []}}
            if r is None
            else {
                "tag": "Busy",
                "value": {
                    "op": r.op.name,
                    "lu": _int(r.lu),
                    "block": _int(r.block),
                    "value": _int(r.value),
                    "at": _int(r.at),
                },
            }
            for r in w.hosts
        ],
        "jobs": [
            {k: (v if isinstance(v, bool) else _int(v)) for k, v in j._asdict().items()} for j in w.jobs
        ],
        "budget": _int(w.budget),
        "batches": _int(w.batches),
        "ghost": {
            "acked": [_ints(b) for b in w.ghost.acked],
            "writes": [_ints(b) for b in w.ghost.writes],
            "reads": [_ints(b) for b in w.ghost.reads],
            "bad_read": {"#tup": _ints(w.ghost.bad_read)},
        },
        "pairs": [
            {
                "state": p.state.name,
                "diff": {"#set": _ints(p.diff)},
                "tape": _ints(p.tape),
                "snapshot": _ints(p.snapshot),
                "home": {"#tup": _ints(p.home)},
            }
            for p in w.pairs
        ],
        "backups": _int(w.backups),
    }


def trace_document(v: Counterexample[World], source: str, description: str) -> dict[str, Any]:
    states = []
    for i, step in enumerate(v.trace):
        state = {"#meta": {"index": i}, **encode_world(step.state), ACTION_TAKEN: step.label}
        states.append(state)
    doc: dict[str, Any] = {
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": source,
            "description": description,
        },
        "vars": VARS,
        "states": states,
    }
    if v.loop_start is not None:
        doc["loop"] = v.loop_start
    return doc


def violation_description(prop: str, variant: str) -> str:
    """The #meta description of a trace breaking ``prop``: `trace_origin` reads it back."""
    return f"{prop} violated by variant {variant}"


def trace_origin(path: str | Path) -> tuple[str | None, str | None]:
    """The scenario and variant a trace written by `lutakeover` names in its #meta:
    ``source`` is "lutakeover VERB SCENARIO ...", ``description`` "... by variant NAME"."""
    try:
        meta = json.loads(Path(path).read_text()).get("#meta", {})
    except (OSError, ValueError, AttributeError):
        return None, None
    source = str(meta.get("source", "")).split()
    scenario = source[2] if len(source) >= 3 and source[0] == "lutakeover" else None
    match = re.search(r"by variant (\S+)", str(meta.get("description", "")))
    return scenario, match.group(1) if match else None


def write_trace(path: str | Path, v: Counterexample[World], source: str, description: str) -> None:
    Path(path).write_text(json.dumps(trace_document(v, source, description), indent=1) + "\n")


# --- reading ---------------------------------------------------------------------------------


def _dint(x: Any) -> int:
    if isinstance(x, dict) and "#bigint" in x:
        return int(x["#bigint"])
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    raise ItfError(f"expected an integer, found {x!r}")


def _drow(x: dict[str, Any]) -> Row:
    return Row(**{k: _dint(x[k]) for k in Row._fields})


def _djob(j: dict[str, Any]) -> Job:
    numbers = {k: _dint(j[k]) for k in Job._fields if k != "backup"}
    return Job(**numbers, backup=bool(j.get("backup", False)))


def decode_world(s: dict[str, Any]) -> World:
    try:
        return World(
            controllers=tuple(
                Controller(
                    active=tuple(_dint(v) for v in c["active"]["#set"]),
                    write_through=tuple(_dint(v) for v in c["write_through"]["#set"]),
                    cache=tuple(
                        Line(_dint(x["lu"]), _dint(x["block"]), _dint(x["value"]), bool(x["dirty"]))
                        for x in c["cache"]["#set"]
                    ),
                    table=tuple(_drow(r) for r in c["table"]),
                )
                for c in s["controllers"]
            ),
            disk=Disk(
                blocks=tuple(tuple(_dint(v) for v in b) for b in s["disk"]["blocks"]),
                table=tuple(_drow(r) for r in s["disk"]["table"]),
            ),
            paths=tuple(PathState(_dint(p["route"]), bool(p["suspended"])) for p in s["paths"]),
            hosts=tuple(
                None
                if h["tag"] == "Idle"
                else Request(
                    Op[h["value"]["op"]],
                    _dint(h["value"]["lu"]),
                    _dint(h["value"]["block"]),
                    _dint(h["value"]["value"]),
                    _dint(h["value"]["at"]),
                )
                for h in s["hosts"]
            ),
            jobs=tuple(_djob(j) for j in s["jobs"]),
            budget=_dint(s["budget"]),
            batches=_dint(s["batches"]),
            ghost=Ghost(
                acked=tuple(tuple(_dint(v) for v in b) for b in s["ghost"]["acked"]),
                writes=tuple(tuple(_dint(v) for v in b) for b in s["ghost"]["writes"]),
                reads=tuple(tuple(_dint(v) for v in b) for b in s["ghost"]["reads"]),
                bad_read=tuple(_dint(v) for v in s["ghost"]["bad_read"]["#tup"]),
            ),
            pairs=tuple(
                Pair(
                    PairState[p["state"]],
                    tuple(_dint(v) for v in p["diff"]["#set"]),
                    tuple(_dint(v) for v in p["tape"]),
                    tuple(_dint(v) for v in p["snapshot"]),
                    tuple(_dint(v) for v in p["home"]["#tup"]),
                )
                for p in s.get("pairs", [])
            ),
            backups=_dint(s.get("backups", {"#bigint": "0"})),
        )
    except (KeyError, TypeError) as e:
        raise ItfError(f"not a state of this model: missing or malformed field {e}") from None


def read_trace(path: str | Path) -> list[tuple[str, World]]:
    """The (action label, state) pairs of an ITF trace file written by ``write_trace``."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ItfError(f"{path}: cannot read an ITF trace: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("states"), list):
        raise ItfError(f"{path}: an ITF trace is an object with a 'states' list")
    return [(s.get(ACTION_TAKEN, ""), decode_world(s)) for s in doc["states"]]
