"""Traces in the Informal Trace Format (ITF, Apalache ADR-015), the trace format of Apalache and Quint.

Integers are ``{"#bigint": "N"}``, records are JSON objects, per-index tables are lists
(sequences), sets of LUs ``{"#set": [...]}``, a host's request a variant (``Idle`` or
``Busy``), and the records that may be absent (the first bad read, a pair's home) variants
``None`` or ``Some``, as Quint writes an ``Option``. Each state also carries
``mbt::actionTaken``, the label of the action that led to it, as Quint's model-based testing
traces do. ``#meta.varTypes`` gives every variable's type in Apalache's type notation
(ADR-002), which Apalache demands to read a trace.

One table, ``VAR_TYPES``, says how each variable is written: the encoder, the ``varTypes``
strings and the reader all follow it, so they cannot drift apart. ``read_trace`` inverts
``trace_document`` exactly, and turns anything it cannot read into an ``ItfError`` naming the
file, the position (``states[3].controllers[1].cache``) and the problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from model.labels import Label, LabelError
from model.state import (
    Address,
    BadRead,
    Controller,
    Destage,
    Disk,
    Ghost,
    Home,
    Job,
    Line,
    MirrorWrite,
    Op,
    Pair,
    PairState,
    Request,
    Row,
    Where,
    World,
    in_inbox,
)
from model.state import Path as PathState
from proofs.trace import Counterexample, Step

ACTION_TAKEN = "mbt::actionTaken"
UNIT_VALUE = "U_OF_UNIT"  # the one value of Apalache's type UNIT (its Variants module)


class ItfError(ValueError):
    """An ITF file that is not a trace of this model."""


# --- the types of the variables --------------------------------------------------------------


@dataclass(frozen=True)
class Prim:
    """Int, Bool, Str or UNIT (the payload of a variant option that carries nothing)."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Name:
    """An enumeration, written as the member's name: a ``Str`` to Apalache."""

    enum: type[IntEnum]

    def __str__(self) -> str:
        return "Str"


@dataclass(frozen=True)
class SetOf:
    elem: ItfType

    def __str__(self) -> str:
        return f"Set({self.elem})"


@dataclass(frozen=True)
class SeqOf:
    """A tuple of the model indexed by position (per LU, per block, ...): a JSON list."""

    elem: ItfType

    def __str__(self) -> str:
        return f"Seq({self.elem})"


@dataclass(frozen=True)
class Rec:
    """A record: the fields of a NamedTuple of the model, which ``make`` builds back."""

    fields: tuple[tuple[str, ItfType], ...]
    make: type[Any]
    optional: frozenset[str] = field(default=frozenset())  # fields traces of older versions lack

    def __str__(self) -> str:
        return "{ " + ", ".join(f"{name}: {t}" for name, t in self.fields) + " }"


@dataclass(frozen=True)
class Variant:
    """Tagged options; each option's payload is a record (its ``make`` tells them apart) or UNIT (None)."""

    options: tuple[tuple[str, ItfType], ...]
    # An optional record that traces of older versions wrote as a sequence of its integer
    # fields, empty for None (a list, or a #tup before varTypes): read that way too.
    legacy: Rec | None = None

    def __str__(self) -> str:
        return " | ".join(f"{tag}({t})" for tag, t in self.options)


ItfType = Prim | Name | SetOf | SeqOf | Rec | Variant

INT, BOOL, STR, UNIT = Prim("Int"), Prim("Bool"), Prim("Str"), Prim("UNIT")


def _option(record: Rec) -> Variant:
    """A record or None: ``None(UNIT) | Some(record)``, Quint's ``Option``."""
    return Variant((("None", UNIT), ("Some", record)), legacy=record)


def _record(cls: Any, **types: ItfType) -> Rec:
    """The record of NamedTuple ``cls``: its fields in order, Int unless ``types`` says otherwise;
    fields with a default may be missing (traces written before the field existed)."""
    return Rec(
        tuple((name, types.get(name, INT)) for name in cls._fields),
        cls,
        frozenset(cls._field_defaults),
    )


def _with_optional(record: Rec, *names: str) -> Rec:
    """``record`` with ``names`` optional too, though the class gives them no default: a
    missing one is read as None, for ``decode_world`` to rebuild from the rest of the world."""
    return Rec(record.fields, record.make, record.optional | frozenset(names))


_ROW = _record(Row)
_GRID = SeqOf(SeqOf(INT))  # [lu][block]
_WORLD = _record(
    World,
    controllers=SeqOf(
        _record(
            Controller,
            active=SetOf(INT),
            write_through=SetOf(INT),
            cache=SetOf(_record(Line, dirty=BOOL)),
            destaging=SetOf(_record(Destage)),
            table=SeqOf(_ROW),
        )
    ),
    disk=_record(Disk, blocks=_GRID, table=SeqOf(_ROW)),
    paths=SeqOf(_record(PathState, suspended=BOOL)),
    hosts=SeqOf(Variant((("Idle", UNIT), ("Busy", _record(Request, op=Name(Op)))))),
    jobs=SeqOf(_record(Job, backup=BOOL)),
    ghost=_with_optional(
        _record(
            Ghost,
            acked=_GRID,
            writes=_GRID,
            reads=_GRID,
            bad_read=_option(_record(BadRead)),
            designated=SeqOf(_record(Address)),
        ),
        "designated",  # traces before it: decode_world rebuilds it from the world
    ),
    pairs=SeqOf(
        _record(
            Pair,
            state=Name(PairState),
            diff=SetOf(INT),
            tape=SeqOf(INT),
            snapshot=SeqOf(INT),
            home=_option(_record(Home)),
            mirror=_option(_record(MirrorWrite)),
        )
    ),
)

VAR_TYPES: dict[str, ItfType] = {**dict(_WORLD.fields), ACTION_TAKEN: STR}
VARS = list(VAR_TYPES)


# --- writing ---------------------------------------------------------------------------------


def _encode(x: Any, t: ItfType) -> Any:
    if t == INT:
        return {"#bigint": str(int(x))}
    if t in (BOOL, STR):
        return x
    if t == UNIT:
        return UNIT_VALUE
    if isinstance(t, Name):
        return x.name
    if isinstance(t, SetOf):
        return {"#set": [_encode(v, t.elem) for v in x]}
    if isinstance(t, SeqOf):
        return [_encode(v, t.elem) for v in x]
    if isinstance(t, Rec):
        return {name: _encode(getattr(x, name), ft) for name, ft in t.fields}
    if isinstance(t, Variant):
        tag, option = next((tag, o) for tag, o in t.options if _carries(o, x))
        return {"tag": tag, "value": _encode(x, option)}
    raise AssertionError(f"no encoding for {t}")


def _carries(option: ItfType, x: Any) -> bool:
    """Does variant option ``option`` hold ``x``: UNIT holds None, a record its own NamedTuple."""
    return x is None if option == UNIT else isinstance(option, Rec) and isinstance(x, option.make)


def encode_world(w: World) -> dict[str, Any]:
    return {name: _encode(getattr(w, name), t) for name, t in _WORLD.fields}


def trace_document(v: Counterexample, source: str, description: str) -> dict[str, Any]:
    states = []
    for i, step in enumerate(v.trace):
        state = {"#meta": {"index": i}, **encode_world(step.state), ACTION_TAKEN: str(step.label)}
        states.append(state)
    doc: dict[str, Any] = {
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": source,
            "description": description,
            "varTypes": {name: str(t) for name, t in VAR_TYPES.items()},
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


def write_trace(path: str | Path, v: Counterexample, source: str, description: str) -> None:
    Path(path).write_text(json.dumps(trace_document(v, source, description), indent=1) + "\n")


# --- reading ---------------------------------------------------------------------------------

# The model's numbers are small: anything beyond 64 bits is a broken file, and is refused
# before it can size or index anything. Longer digit strings are not even converted.
INT_LIMIT = 2**63
_MAX_DIGITS = len(str(INT_LIMIT))


@dataclass(frozen=True)
class _Oversized:
    """A JSON number literal too long to convert: kept as its length, refused where read."""

    digits: int


def _parse_int(text: str) -> int | _Oversized:
    digits = len(text.lstrip("-"))  # JSON numbers have no leading zeros
    return int(text) if digits <= _MAX_DIGITS else _Oversized(digits)


def _show(x: Any) -> str:
    """A short description of a JSON value for a message (one line, ASCII)."""
    if isinstance(x, _Oversized):
        return f"a number of {x.digits} digits"
    if isinstance(x, list):
        return f"a list of {len(x)}"
    if isinstance(x, dict):
        special = [k for k in x if isinstance(k, str) and k.startswith("#")]
        return f"a {special[0]} object" if special else "an object"
    text = json.dumps(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _load(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``, with a well-formed ``#meta`` if it has one."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ItfError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a byte order mark is harmless
    except UnicodeDecodeError as e:
        raise ItfError(f"{path}: not UTF-8 at byte {e.start}") from None
    try:
        doc = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise ItfError(f"{path}: not JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise ItfError(f"{path}: not an ITF trace: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise ItfError(f"{path}: not an ITF trace: expected a JSON object, found {_show(doc)}")
    if not isinstance(doc.get("#meta", {}), dict):
        raise ItfError(f"{path}: #meta: expected an object, found {_show(doc['#meta'])}")
    return doc


def _meta_text(path: str | Path, meta: dict[str, Any], key: str) -> str:
    text = meta.get(key, "")
    if not isinstance(text, str):
        raise ItfError(f"{path}: #meta.{key}: expected a string, found {_show(text)}")
    return text


def trace_origin(path: str | Path) -> tuple[str | None, str | None]:
    """The scenario and variant a trace written by `lutakeover` names in its #meta:
    ``source`` is "lutakeover VERB SCENARIO ...", ``description`` "... by variant NAME".
    None for what it does not name; ItfError if the file is not a JSON object."""
    meta = _load(path).get("#meta", {})
    source = _meta_text(path, meta, "source").split()
    scenario = source[2] if len(source) >= 3 and source[0] == "lutakeover" else None
    match = re.search(r"by variant (\S+)", _meta_text(path, meta, "description"))
    return scenario, match.group(1) if match else None


def _int(x: Any, where: str) -> int:
    if isinstance(x, dict) and set(x) == {"#bigint"}:
        digits = x["#bigint"]
        if not isinstance(digits, str):
            raise ItfError(f"{where}: #bigint must be a string of digits, found {_show(digits)}")
        if not re.fullmatch(r"-?[0-9]+", digits):
            raise ItfError(f"{where}: #bigint {_show(digits)} is not an integer")
        significant = digits.lstrip("-").lstrip("0") or "0"
        if len(significant) > _MAX_DIGITS:
            raise ItfError(f"{where}: integer of {len(significant)} digits out of range")
        n = -int(significant) if digits.startswith("-") else int(significant)
    elif isinstance(x, int) and not isinstance(x, bool):
        n = x  # ADR-015 allows small integers as plain JSON numbers
    elif isinstance(x, _Oversized):
        raise ItfError(f"{where}: integer of {x.digits} digits out of range")
    else:
        raise ItfError(f'{where}: expected an integer {{"#bigint": "N"}}, found {_show(x)}')
    if not -INT_LIMIT < n < INT_LIMIT:
        raise ItfError(f"{where}: integer {n} out of range (at most 2**63 in size)")
    return n


def _items(x: Any, t: SetOf | SeqOf, where: str) -> list[Any]:
    """The elements of a set ``{"#set": [...]}`` or of a sequence (a list)."""
    if isinstance(t, SetOf):
        if not (isinstance(x, dict) and set(x) == {"#set"}):
            raise ItfError(f'{where}: expected a set {{"#set": [...]}}, found {_show(x)}')
        if not isinstance(x["#set"], list):
            raise ItfError(f"{where}.#set: expected a list, found {_show(x['#set'])}")
        return list(x["#set"])
    if isinstance(x, dict) and set(x) == {"#tup"} and isinstance(x["#tup"], list):
        return list(x["#tup"])  # ghost.bad_read and pairs[i].home, as traces before varTypes wrote them
    if not isinstance(x, list):
        raise ItfError(f"{where}: expected a list, found {_show(x)}")
    return x


def _record_fields(x: Any, t: Rec, where: str) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise ItfError(f"{where}: expected a record (a JSON object), found {_show(x)}")
    names = dict(t.fields)
    unknown = [k for k in x if k not in names]
    if unknown:
        raise ItfError(f"{where}: unknown field {_show(unknown[0])}; the fields are {', '.join(names)}")
    missing = [name for name in names if name not in x and name not in t.optional]
    if missing:
        raise ItfError(f"{where}: missing field {_show(missing[0])}")
    return {name: decode(x[name], ft, f"{where}.{name}") for name, ft in t.fields if name in x}


def _variant(x: Any, t: Variant, where: str) -> Any:
    if t.legacy is not None and (isinstance(x, list) or (isinstance(x, dict) and set(x) == {"#tup"})):
        return _legacy_option(x, t.legacy, where)
    if not (isinstance(x, dict) and set(x) == {"tag", "value"}):
        raise ItfError(f'{where}: expected a variant {{"tag": ..., "value": ...}}, found {_show(x)}')
    options = dict(t.options)
    tag = x["tag"]
    if not isinstance(tag, str) or tag not in options:
        raise ItfError(f"{where}.tag: unknown tag {_show(tag)}; the tags are {', '.join(options)}")
    return decode(x["value"], options[tag], f"{where}.value")


def _legacy_option(x: Any, t: Rec, where: str) -> Any:
    """An optional record as traces before options wrote it: no numbers for None, else
    the record's fields in order."""
    values = decode(x, SeqOf(INT), where)
    if not values:
        return None
    names = [name for name, _ in t.fields]
    if len(values) != len(names):
        raise ItfError(f"{where}: {len(values)} numbers, not none or ({', '.join(names)})")
    return t.make(*values)


def decode(x: Any, t: ItfType, where: str) -> Any:
    """The model's value of JSON value ``x`` of type ``t``, found at ``where``; ItfError if
    ``x`` is not a value of ``t``. Sets come back sorted, as the model keeps them."""
    if t == INT:
        return _int(x, where)
    if t == UNIT:
        # UNIT_VALUE, or the {"#tup": []} of traces before varTypes, or Quint's {}
        if x == UNIT_VALUE or x in ({"#tup": []}, {}):
            return None
        raise ItfError(f"{where}: expected {_show(UNIT_VALUE)}, found {_show(x)}")
    if t == BOOL:
        if not isinstance(x, bool):
            raise ItfError(f"{where}: expected a Boolean, found {_show(x)}")
        return x
    if isinstance(t, Prim | Name):
        if not isinstance(x, str):
            raise ItfError(f"{where}: expected a string, found {_show(x)}")
        if isinstance(t, Prim):
            return x
        if x not in t.enum.__members__:
            raise ItfError(f"{where}: unknown name {_show(x)}; one of {', '.join(t.enum.__members__)}")
        return t.enum[x]
    if isinstance(t, SetOf | SeqOf):
        brackets = ".#set[{}]" if isinstance(t, SetOf) else "[{}]"
        values = [decode(v, t.elem, where + brackets.format(i)) for i, v in enumerate(_items(x, t, where))]
        return tuple(sorted(set(values))) if isinstance(t, SetOf) else tuple(values)
    if isinstance(t, Rec):
        given = _record_fields(x, t, where)
        rebuilt = {n: None for n in t.optional if n not in given and n not in t.make._field_defaults}
        return t.make(**given, **rebuilt)
    return _variant(x, t, where)


def decode_world(s: Any, where: str = "state") -> World:
    """The world of ITF state ``s``, checked against ``VAR_TYPES`` and against its own sizes."""
    world = decode(
        {k: v for k, v in s.items() if k != ACTION_TAKEN and not k.startswith("#")}
        if isinstance(s, dict)
        else s,
        _WORLD,
        where,
    )
    assert isinstance(world, World)
    ghost: Any = world.ghost  # designated is None in traces written before it existed
    if ghost.designated is None:
        world = world._replace(ghost=world.ghost._replace(designated=_designated_before(world)))
    _check_indices(world, where)
    return world


def _designated_before(w: World) -> tuple[Address, ...]:
    """``Ghost.designated`` of a world read from a trace written before the field existed:
    an LU being taken over was designated its job's address (the later job's, of two),
    one in a backup cycle its address before the cycle (control returns there), any other
    is where the disk's row says it is."""
    rows = w.disk.table
    designated = [Address(row.current, row.port, row.ext_lun) for row in rows]
    for job in w.jobs:
        if 0 <= job.lu < len(rows):  # out of range: _check_indices says so
            home = job.source if job.backup else job.destination
            designated[job.lu] = Address(home, job.port, job.ext_lun)
    return tuple(designated)


def _check_indices(w: World, where: str) -> None:
    """Every number that names a controller, an LU or a block names one of this state's, and
    every per-LU and per-block table has one entry per LU and block: a state that passes can be
    indexed like the model's own."""
    lus, controllers = len(w.disk.blocks), len(w.controllers)

    def check(ok: bool, at: str, problem: str) -> None:
        if not ok:
            raise ItfError(f"{where}.{at}: {problem}")

    def lu(n: int, at: str) -> None:
        check(0 <= n < lus, at, f"LU {n} does not exist ({lus} LUs)")

    def block(n: int, b: int, at: str) -> None:
        lu(n, at)
        check(0 <= b < len(w.disk.blocks[n]), at, f"block {b} of LU{n} does not exist")

    def controller(n: int, at: str) -> None:
        check(0 <= n < controllers, at, f"controller {n} does not exist ({controllers} controllers)")

    def per_lu(table: tuple[Any, ...], at: str) -> None:
        check(len(table) == lus, at, f"{len(table)} entries for {lus} LUs")

    def rows(table: tuple[Row, ...], at: str) -> None:
        per_lu(table, at)
        for i, row in enumerate(table):
            controller(row.default, f"{at}[{i}].default")
            controller(row.current, f"{at}[{i}].current")

    for c, ctl in enumerate(w.controllers):
        for name in ("active", "write_through"):
            for n in getattr(ctl, name):
                lu(n, f"controllers[{c}].{name}")
        for line in ctl.cache:
            block(line.lu, line.block, f"controllers[{c}].cache")
        for d in ctl.destaging:
            block(d.lu, d.block, f"controllers[{c}].destaging")
        rows(ctl.table, f"controllers[{c}].table")
    rows(w.disk.table, "disk.table")
    per_lu(w.paths, "paths")
    for i, p in enumerate(w.paths):
        controller(p.route, f"paths[{i}].route")
    for h, r in enumerate(w.hosts):
        if r is not None:
            block(r.lu, r.block, f"hosts[{h}].value")
            if in_inbox(r):
                controller(r.at, f"hosts[{h}].value.at")
            else:
                check(
                    r.at >= min(Where), f"hosts[{h}].value.at", f"{r.at} is neither a controller nor a place"
                )
    for j, job in enumerate(w.jobs):
        lu(job.lu, f"jobs[{j}].lu")
        controller(job.source, f"jobs[{j}].source")
        controller(job.destination, f"jobs[{j}].destination")
    for name in ("acked", "writes", "reads"):
        grid = getattr(w.ghost, name)
        shape = [len(b) for b in grid] == [len(b) for b in w.disk.blocks]
        check(shape, f"ghost.{name}", "not one entry per block of disk.blocks")
    per_lu(w.ghost.designated, "ghost.designated")
    for i, address in enumerate(w.ghost.designated):
        controller(address.controller, f"ghost.designated[{i}].controller")
    bad = w.ghost.bad_read
    if bad is not None:
        block(bad.lu, bad.block, "ghost.bad_read")
        controller(bad.controller, "ghost.bad_read")
    for i, pair in enumerate(w.pairs):
        if pair.home is not None:
            controller(pair.home.default, f"pairs[{i}].home")
            controller(pair.home.current, f"pairs[{i}].home")
        if pair.mirror is not None:
            controller(pair.mirror.controller, f"pairs[{i}].mirror")


def _check_document(doc: dict[str, Any]) -> list[Any]:
    """The states of an ITF document, after checking its top-level fields."""
    if "states" not in doc:
        raise ItfError("not an ITF trace: no 'states' list")
    states = doc["states"]
    if not isinstance(states, list):
        raise ItfError(f"states: expected a list, found {_show(states)}")
    if not states:
        raise ItfError("states: the trace has no states")
    names = doc.get("vars", VARS)
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise ItfError(f"vars: expected a list of variable names, found {_show(names)}")
    loop = doc.get("loop", 0)
    if not (isinstance(loop, int) and not isinstance(loop, bool) and 0 <= loop < len(states)):
        raise ItfError(f"loop: expected the index of a state (0-{len(states) - 1}), found {_show(loop)}")
    return states


def _state(s: Any, where: str) -> Step:
    if not isinstance(s, dict):
        raise ItfError(f"{where}: expected a state (a JSON object), found {_show(s)}")
    missing = [k for k in VAR_TYPES if k not in s and k not in _WORLD.optional]
    if missing:
        raise ItfError(f"{where}: not a state of this model: missing variable {_show(missing[0])}")
    unknown = [k for k in s if k not in VAR_TYPES and not k.startswith("#")]
    if unknown:
        raise ItfError(f"{where}: unknown variable {_show(unknown[0])}")
    text = decode(s[ACTION_TAKEN], STR, f"{where}.{ACTION_TAKEN}")
    try:
        label = Label.parse(text)
    except LabelError as e:
        raise ItfError(f"{where}.{ACTION_TAKEN}: {e}") from None
    return Step(label, decode_world(s, where))


def read_trace(path: str | Path) -> list[Step]:
    """The run in an ITF trace file written by ``write_trace``: at least its initial state."""
    doc = _load(path)
    try:
        return [_state(s, f"states[{i}]") for i, s in enumerate(_check_document(doc))]
    except ItfError as e:
        raise ItfError(f"{path}: {e}") from None
