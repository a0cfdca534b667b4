"""The proof's vocabulary: the sorts (Controller, LU, Block, Value, Job, Read, Pair, and the
enumerations Phase, Loc and PState) and the protocol's state as z3 relations and functions
over them (``State``, made fresh by ``declare``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from model.protocol import Step
from model.state import PairState

#: z3 terms, formulas and declarations: z3's Python API has no type information.
Term = Any
Fn = Callable[..., Any]


class Loc:
    """Where a request's frame is (``model.state.Where``, with a controller's inbox as INBOX)."""

    NAMES = ("PATH", "INBOX", "REPLIED", "NOT_READY", "MIRRORING")


@dataclass(frozen=True)
class Sorts:
    controller: Term
    lu: Term
    block: Term
    value: Term
    job: Term
    read: Term
    pair: Term
    phase: Term
    loc: Term
    pstate: Term
    step: dict[Step, Term]  # the Phase constant of each step
    where: dict[str, Term]  # the Loc constant of each place
    pair_state: dict[PairState, Term]  # the PState constant of each pair state


@functools.cache
def sorts() -> Sorts:
    """The sorts, made once: z3 refuses to declare an enumeration sort twice."""
    phase, steps = z3.EnumSort("Phase", [s.name for s in Step])
    loc, places = z3.EnumSort("Loc", list(Loc.NAMES))
    pstate, pair_states = z3.EnumSort("PState", [ps.name for ps in PairState])
    return Sorts(
        controller=z3.DeclareSort("Controller"),
        lu=z3.DeclareSort("LU"),
        block=z3.DeclareSort("Block"),
        value=z3.DeclareSort("Value"),
        job=z3.DeclareSort("Job"),
        read=z3.DeclareSort("Read"),
        pair=z3.DeclareSort("Pair"),
        phase=phase,
        loc=loc,
        pstate=pstate,
        step=dict(zip(Step, steps, strict=True)),
        where=dict(zip(Loc.NAMES, places, strict=True)),
        pair_state=dict(zip(PairState, pair_states, strict=True)),
    )


@dataclass(frozen=True)
class State:
    """One state of the abstract protocol: each field is a function (a z3 declaration in the
    state before a step; a Python function of the one before it in the state after)."""

    active: Fn  # (C, L) -> Bool: C is in charge of L (accepts its I/O)
    write_through: Fn  # (C, L) -> Bool: C's writes to L bypass the cache (804-808)
    line: Fn  # (C, L, B) -> Bool: C's cache holds a line of block B of L
    dirty: Fn  # (C, L, B) -> Bool: that line is newer than the disk
    line_value: Fn  # (C, L, B) -> V: the line's value
    destaging: Fn  # (C, L, B) -> Bool: C's de-stage of the block is under way (disk write issued)
    destage_value: Fn  # (C, L, B) -> V: the value that de-stage writes
    disk: Fn  # (L, B) -> V
    acked: Fn  # (L, B) -> V: ghost, the last acknowledged write
    route: Fn  # L -> C: where the path controller sends L's frames
    suspended: Fn  # L -> Bool: the path controller holds L's frames (806-809)
    disk_current: Fn  # L -> C: current controller of L's row at the disk's predetermined position
    table_current: Fn  # (C, L, X) -> Bool: C's table row of L names X as current controller
    w_on: Fn  # L -> Bool: L's writing host has a write outstanding
    w_block: Fn  # L -> B
    w_value: Fn  # L -> V
    w_loc: Fn  # L -> Loc
    w_at: Fn  # L -> C: whose inbox holds it (when at INBOX)
    r_on: Fn  # R -> Bool: a read in flight
    r_lu: Fn  # R -> L
    r_block: Fn  # R -> B
    r_loc: Fn  # R -> Loc
    r_at: Fn  # R -> C
    live: Fn  # J -> Bool: a take-over job in progress
    job_lu: Fn  # J -> L
    source: Fn  # J -> C
    destination: Fn  # J -> C
    phase: Fn  # J -> Phase: the job's next step
    busy: Fn  # L -> Bool: the management utility has a take-over of L in progress
    # Embodiment 2 (Steps 901-909).
    disk_default: Fn  # L -> C: default controller of L's row at the disk's predetermined position
    mirror: Fn  # L -> Bool: L is a pair's secondary (static; no host reads or writes it)
    backup: Fn  # J -> Bool: the job is a backup cycle (901-909), not a take-over
    primary: Fn  # P -> L (static)
    secondary: Fn  # P -> L (static)
    pstate: Fn  # P -> PState
    diff: Fn  # (P, B) -> Bool: difference information, primary blocks written since the split
    tape_has: Fn  # (P, B) -> Bool: the block is on tape (905)
    tape: Fn  # (P, B) -> V: its value on tape
    snapshot: Fn  # (P, B) -> V: ghost, the primary's block at the split
    cycled: Fn  # P -> Bool: ghost, a backup cycle of the pair has begun (the model's snapshot is set)
    home_default: Fn  # P -> C: ghost, the secondary's default controller before the cycle
    home_current: Fn  # P -> C: ghost, its current controller before the cycle
    mw_on: Fn  # P -> Bool: a mirror write of the pair is under way (handed over, not yet performed)
    mw_block: Fn  # P -> B
    mw_value: Fn  # P -> V
    mw_at: Fn  # P -> C: the secondary's controller it was handed to, which performs it
    bad_read: Term  # Bool: ghost, some read returned a value not admissible


def declare(suffix: str = "") -> State:
    """The state as fresh z3 declarations (``suffix`` tells two states apart)."""
    s = sorts()
    c, lu, b, v, j, r, pr = s.controller, s.lu, s.block, s.value, s.job, s.read, s.pair
    boolean = z3.BoolSort()
    signature: dict[str, tuple[Term, ...]] = {
        "active": (c, lu, boolean),
        "write_through": (c, lu, boolean),
        "line": (c, lu, b, boolean),
        "dirty": (c, lu, b, boolean),
        "line_value": (c, lu, b, v),
        "destaging": (c, lu, b, boolean),
        "destage_value": (c, lu, b, v),
        "disk": (lu, b, v),
        "acked": (lu, b, v),
        "route": (lu, c),
        "suspended": (lu, boolean),
        "disk_current": (lu, c),
        "table_current": (c, lu, c, boolean),
        "w_on": (lu, boolean),
        "w_block": (lu, b),
        "w_value": (lu, v),
        "w_loc": (lu, s.loc),
        "w_at": (lu, c),
        "r_on": (r, boolean),
        "r_lu": (r, lu),
        "r_block": (r, b),
        "r_loc": (r, s.loc),
        "r_at": (r, c),
        "live": (j, boolean),
        "job_lu": (j, lu),
        "source": (j, c),
        "destination": (j, c),
        "phase": (j, s.phase),
        "busy": (lu, boolean),
        "disk_default": (lu, c),
        "mirror": (lu, boolean),
        "backup": (j, boolean),
        "primary": (pr, lu),
        "secondary": (pr, lu),
        "pstate": (pr, s.pstate),
        "diff": (pr, b, boolean),
        "tape_has": (pr, b, boolean),
        "tape": (pr, b, v),
        "snapshot": (pr, b, v),
        "cycled": (pr, boolean),
        "home_default": (pr, c),
        "home_current": (pr, c),
        "mw_on": (pr, boolean),
        "mw_block": (pr, b),
        "mw_value": (pr, v),
        "mw_at": (pr, c),
    }
    decls = {name: z3.Function(name + suffix, *sig) for name, sig in signature.items()}
    return State(**decls, bad_read=z3.Bool("bad_read" + suffix))
