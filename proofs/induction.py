"""The inductive proof: the take-over protocol is safe for any number of controllers, LUs,
blocks, hosts and take-overs.

Theory of operation. The protocol's state is written over uninterpreted sorts (Controller,
LU, Block, Value, Job, Read), so a model z3 finds may have any size and a proof covers
every size. Each action of ``model/actions.py`` is written again here, with the same name,
as a guard and an effect on these relations and functions. The invariant is the safety
properties of ``invariants/safety.py`` plus the *lemmas* that make them inductive; the proof
is one query per (action, part): Inv and the action and not part-after, which must be
unsatisfiable. ``unknown`` (a timeout included) is a failure, never a pass.

Decidability. The queries stay in the fragment z3 decides quickly (effectively
propositional, EPR): functions only go from "higher" sorts to "lower" ones, Job and Read
to LU, LU to Controller, Block and Value, never back, so instantiating quantifiers builds
finitely many terms. A controller's table row names a controller, so it is the relation
``table_current(C, L, X)`` rather than a function from Controller to Controller. Two
quantifier alternations remain: "no controller is in charge of L" (LU to Controller, down
the order) and ``busy_lu_has_job`` (LU to Job, whose Skolem function f closes at once,
``job_lu(f(L)) = L``).

Abstraction (each choice over-approximates the model, so a proof here covers it):
- hosts: one write slot per LU (each LU has exactly one writing host, with at most one
  request outstanding) and any number of reads in flight, of any LU (the Read sort); a
  host's read and write may be outstanding together here, which the model never allows;
- values: ``send_write`` writes any value, not the next number of a counter; the workload
  bounds (writes and reads per block, the take-over budget) are dropped;
- configuration rows: a row is named by its current controller number, the field every
  take-over changes; port, external LUN and default controller are written with it, by the
  same two steps of 803;
- the management utility's record of LUs being moved is the relation ``busy``; Step 801's
  LUN-map rules (free, gap-free addresses) are dropped, so any LU may go to any controller;
- ``designate_batch`` is a sequence of ``designate`` steps, one per LU of the batch.

Embodiment 2 (Steps 901-909). A sort Pair (above LU) holds the mirrored pairs: static
``primary``/``secondary``, the pair state, difference information, the tape and the ghosts
(the primary's image at the split, the secondary's row before the cycle). A backup cycle is a
job with ``backup`` set, walking ``Protocol.backup_order()``; its pair is not a function of
the job (see ``_of_pair``). The scripted order of backups and of tape blocks is dropped. The
four pair properties of ``invariants/safety.py`` are parts of the invariant, with the lemmas
they need; ``no_acknowledged_write_lost`` skips mirrors, as the model's property does.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import z3

from invariants.safety import SAFETY
from model.actions import Model
from model.generate import array_scenario
from model.protocol import BACKUP_ORDER, CORRECT, Protocol, Step
from model.scenario import builtin
from model.state import Op, PairState, Where, World
from proofs.explicit import explore

#: z3 terms, formulas and declarations: z3's Python API has no type information.
Term = Any
Fn = Callable[..., Any]

DEFAULT_TIMEOUT_MS = 10_000  # per query; z3 answers each of the correct protocol's in milliseconds
CLASSIFY_MAX_STATES = 100_000  # explicit states per classification: about 10 s

# --- the signature -------------------------------------------------------------------------


class Loc:
    """Where a request's frame is (``model.state.Where``, with a controller's inbox as INBOX)."""

    NAMES = ("PATH", "INBOX", "REPLIED", "NOT_READY")


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
    }
    decls = {name: z3.Function(name + suffix, *sig) for name, sig in signature.items()}
    return State(**decls, bad_read=z3.Bool("bad_read" + suffix))


# --- small formula builders ------------------------------------------------------------------

_names = itertools.count()


def _vars(*sort_list: Term) -> list[Term]:
    # Unique names, so a quantifier nested in another never captures its variables.
    return [z3.Const(f"{srt.name()[0].lower()}{next(_names)}", srt) for srt in sort_list]


# While a finite universe is given (sort name -> its elements), quantifiers are written out
# as conjunctions and disjunctions over it: checking a formula against one concrete world
# is then ground, and z3 answers at once instead of instantiating quantifiers.
_finite: contextvars.ContextVar[dict[str, list[Term]] | None] = contextvars.ContextVar("finite", default=None)


def forall(sort_list: Sequence[Term], body: Callable[..., Term]) -> Term:
    finite = _finite.get()
    if finite is not None:
        cases = itertools.product(*[finite[str(srt)] for srt in sort_list])
        return z3.And(*[body(*xs) for xs in cases])
    xs = _vars(*sort_list)
    return z3.ForAll(xs, body(*xs))


def exists(sort_list: Sequence[Term], body: Callable[..., Term]) -> Term:
    finite = _finite.get()
    if finite is not None:
        cases = itertools.product(*[finite[str(srt)] for srt in sort_list])
        return z3.Or(*[body(*xs) for xs in cases])
    xs = _vars(*sort_list)
    return z3.Exists(xs, body(*xs))


def at(f: Fn, key: tuple[Term, ...], value: Term) -> Fn:
    """``f`` changed at the one point ``key`` to ``value``."""

    def g(*xs: Term) -> Term:
        return z3.If(z3.And(*[x == k for x, k in zip(xs, key, strict=True)]), value, f(*xs))

    return g


def visible(s: State, c: Term, lu: Term, b: Term) -> Term:
    """What a read of block ``b`` through controller ``c`` returns: its line, else disk."""
    return z3.If(s.line(c, lu, b), s.line_value(c, lu, b), s.disk(lu, b))


def admissible(s: State, lu: Term, b: Term, x: Term) -> Term:
    """``x`` is the last acknowledged write of the block or the write in flight to it."""
    return z3.Or(x == s.acked(lu, b), z3.And(s.w_on(lu), s.w_block(lu) == b, x == s.w_value(lu)))


def expected(s: State, lu: Term, b: Term) -> Term:
    """The one value the block must show: the write already performed (replied, not yet
    acknowledged) if there is one, else the last acknowledged write."""
    performed = z3.And(s.w_on(lu), s.w_loc(lu) == sorts().where["REPLIED"], s.w_block(lu) == b)
    return z3.If(performed, s.w_value(lu), s.acked(lu, b))


class Steps:
    """A protocol variant's step order, as formulas over a job's ``phase`` (its next step)."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.order = protocol.order()
        self.position = {step: i for i, step in enumerate(self.order)}
        self.backup_order = protocol.backup_order()
        self.backup_position = {step: i for i, step in enumerate(self.backup_order)}

    def _order_of(self, step: Step) -> tuple[tuple[Step, ...], dict[Step, int]]:
        if step in BACKUP_ORDER or step is Step.RESYNC_DONE:
            return self.backup_order, self.backup_position
        return self.order, self.position

    def done(self, s: State, j: Term, step: Step) -> Term:
        """Job ``j`` has done ``step``: its next step comes later in the order (the backup
        order for a step of 901-909). A step the order leaves out is never done."""
        order, position = self._order_of(step)
        if step not in position:
            return z3.BoolVal(False)
        later = order[position[step] + 1 :]
        return z3.Or(*[s.phase(j) == sorts().step[t] for t in later]) if later else z3.BoolVal(False)

    def has(self, step: Step) -> bool:
        """Whether a job's order (a take-over's or a backup's) has ``step``."""
        return step in self._order_of(step)[1]

    def next(self, step: Step) -> Step | None:
        order, position = self._order_of(step)
        i = position[step] + 1
        return order[i] if i < len(order) else None

    def performs(self, step: Step | None) -> bool:
        """Whether the order has ``step`` (host I/O, ``None``, is always performed; so is
        the re-synchronization, which is no job's step)."""
        return step is None or step is Step.RESYNC_DONE or self.has(step)

    @property
    def resumes(self) -> bool:
        """Whether an LU is released once its take-over is over (809 in the order, or no
        suspension at all); with ``no_resume`` it stays suspended for good."""
        return Step.RESUME in self.position or Step.SUSPEND not in self.position


# --- the invariant: properties and lemmas ------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One conjunct of the invariant. A property is a safety property of
    ``invariants/safety.py``; a lemma is there to make the properties inductive."""

    name: str
    kind: str  # "property" or "lemma"
    claim: str  # what it says, in a sentence
    why: str  # for a lemma, why the protocol keeps it
    protects: tuple[str, ...]  # the model's properties a counterexample to it threatens
    formula: Callable[[Steps, State], Term]


def _takeover(s: State, j: Term) -> Term:
    """Job ``j`` is a take-over (801-809) in progress, not a backup cycle."""
    return z3.And(s.live(j), z3.Not(s.backup(j)))


def _single_active_controller(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.controller, k.controller, k.lu],
        lambda c1, c2, lu: z3.Implies(z3.And(s.active(c1, lu), s.active(c2, lu)), c1 == c2),
    )


def _no_acknowledged_write_lost(p: Steps, s: State) -> Term:
    k = sorts()
    # A mirror holds its primary's writes, not its own: the pair properties cover it.
    through_owner = forall(
        [k.controller, k.lu, k.block],
        lambda c, lu, b: z3.Implies(
            z3.And(s.active(c, lu), z3.Not(s.mirror(lu))), admissible(s, lu, b, visible(s, c, lu, b))
        ),
    )
    on_disk = forall(
        [k.lu, k.block],
        lambda lu, b: z3.Or(
            s.mirror(lu),
            exists([k.controller], lambda c: s.active(c, lu)),
            admissible(s, lu, b, s.disk(lu, b)),
        ),
    )
    return z3.And(through_owner, on_disk)


def _reads_return_written_data(p: Steps, s: State) -> Term:
    return z3.Not(s.bad_read)


def _no_stale_cache(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.controller, k.lu, k.block], lambda c, lu, b: z3.Implies(s.line(c, lu, b), s.active(c, lu))
    )


def _path_routes_to_owner(p: Steps, s: State) -> Term:
    return forall([sorts().lu], lambda lu: z3.Or(s.suspended(lu), s.active(s.route(lu), lu)))


def _tables_agree(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.lu, k.controller, k.controller],
        lambda lu, c, x: z3.Or(s.busy(lu), s.table_current(c, lu, x) == (x == s.disk_current(lu))),
    )


def _one_job_per_lu(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.job, k.job],
        lambda j1, j2: z3.Implies(z3.And(s.live(j1), s.live(j2), s.job_lu(j1) == s.job_lu(j2)), j1 == j2),
    )


def _job_marks_lu_busy(p: Steps, s: State) -> Term:
    return forall([sorts().job], lambda j: z3.Implies(s.live(j), s.busy(s.job_lu(j))))


def _busy_lu_has_job(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.lu],
        lambda lu: z3.Implies(s.busy(lu), exists([k.job], lambda j: z3.And(s.live(j), s.job_lu(j) == lu))),
    )


def _source_is_not_destination(p: Steps, s: State) -> Term:
    return forall([sorts().job], lambda j: z3.Implies(s.live(j), s.source(j) != s.destination(j)))


def _owner_at_rest(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.lu, k.controller],
        lambda lu, c: z3.Or(s.busy(lu), s.active(c, lu) == (c == s.disk_current(lu))),
    )


def _path_at_rest(p: Steps, s: State) -> Term:
    def rest(lu: Term) -> Term:
        facts = [s.route(lu) == s.disk_current(lu)]
        if p.resumes:
            facts.append(z3.Not(s.suspended(lu)))
        return z3.Or(s.busy(lu), z3.And(*facts))

    return forall([sorts().lu], rest)


def _active_follows_job(p: Steps, s: State) -> Term:
    k = sorts()

    def body(j: Term, c: Term) -> Term:
        source_on = z3.And(c == s.source(j), z3.Not(p.done(s, j, Step.STOP_SOURCE)))
        destination_on = z3.And(c == s.destination(j), p.done(s, j, Step.START_DESTINATION))
        return z3.Implies(_takeover(s, j), s.active(c, s.job_lu(j)) == z3.Or(source_on, destination_on))

    return forall([k.job, k.controller], body)


def _route_follows_job(p: Steps, s: State) -> Term:
    def body(j: Term) -> Term:
        switched = p.done(s, j, Step.SWITCH_PATH)
        return z3.Implies(
            _takeover(s, j), s.route(s.job_lu(j)) == z3.If(switched, s.destination(j), s.source(j))
        )

    return forall([sorts().job], body)


def _suspension_follows_job(p: Steps, s: State) -> Term:
    def body(j: Term) -> Term:
        held = z3.And(p.done(s, j, Step.SUSPEND), z3.Not(p.done(s, j, Step.RESUME)))
        suspended = s.suspended(s.job_lu(j))
        # Without 809 an LU moved before stays suspended, so only one direction holds.
        return z3.Implies(_takeover(s, j), suspended == held if p.resumes else z3.Implies(held, suspended))

    return forall([sorts().job], body)


def _disk_current_follows_job(p: Steps, s: State) -> Term:
    def body(j: Term) -> Term:
        written = p.done(s, j, Step.WRITE_ROW)
        return z3.Implies(
            _takeover(s, j), s.disk_current(s.job_lu(j)) == z3.If(written, s.destination(j), s.source(j))
        )

    return forall([sorts().job], body)


def _tables_follow_job(p: Steps, s: State) -> Term:
    k = sorts()

    def body(j: Term, c: Term, x: Term) -> Term:
        new = z3.Or(p.done(s, j, Step.READ_ROW), z3.And(p.done(s, j, Step.WRITE_ROW), c == s.source(j)))
        names = z3.If(new, s.destination(j), s.source(j))
        return z3.Implies(_takeover(s, j), s.table_current(c, s.job_lu(j), x) == (x == names))

    return forall([k.job, k.controller, k.controller], body)


def _write_through_while_moving(p: Steps, s: State) -> Term:
    def body(j: Term) -> Term:
        window = z3.And(p.done(s, j, Step.BEGIN_DESTAGE), z3.Not(p.done(s, j, Step.STOP_SOURCE)))
        return z3.Implies(z3.And(_takeover(s, j), window), s.write_through(s.source(j), s.job_lu(j)))

    return forall([sorts().job], body)


def _source_purged(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.job, k.block],
        lambda j, b: z3.Implies(
            z3.And(_takeover(s, j), p.done(s, j, Step.PURGE)), z3.Not(s.line(s.source(j), s.job_lu(j), b))
        ),
    )


def _inbox_is_active(p: Steps, s: State) -> Term:
    k = sorts()
    inbox = k.where["INBOX"]
    writes = forall(
        [k.lu],
        lambda lu: z3.Implies(z3.And(s.w_on(lu), s.w_loc(lu) == inbox), s.active(s.w_at(lu), lu)),
    )
    reads = forall(
        [k.read],
        lambda r: z3.Implies(z3.And(s.r_on(r), s.r_loc(r) == inbox), s.active(s.r_at(r), s.r_lu(r))),
    )
    return z3.And(writes, reads)


def _clean_lines_match_disk(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.controller, k.lu, k.block],
        lambda c, lu, b: z3.Implies(
            z3.And(s.line(c, lu, b), z3.Not(s.dirty(c, lu, b))), s.line_value(c, lu, b) == s.disk(lu, b)
        ),
    )


def _visible_is_expected(p: Steps, s: State) -> Term:
    k = sorts()
    through_owner = forall(
        [k.controller, k.lu, k.block],
        lambda c, lu, b: z3.Implies(
            z3.And(s.active(c, lu), z3.Not(s.mirror(lu))), visible(s, c, lu, b) == expected(s, lu, b)
        ),
    )
    on_disk = forall(
        [k.lu, k.block],
        lambda lu, b: z3.Or(
            s.mirror(lu),
            exists([k.controller], lambda c: s.active(c, lu)),
            s.disk(lu, b) == expected(s, lu, b),
        ),
    )
    return z3.And(through_owner, on_disk)


# --- embodiment 2: mirrored pairs and the backup cycle (Steps 901-909) ----------------------


def _no_owner(s: State, lu: Term) -> Term:
    return z3.Not(exists([sorts().controller], lambda c: s.active(c, lu)))


def seen_is(s: State, lu: Term, b: Term, x: Term) -> Term:
    """Block ``b`` of ``lu`` shows ``x`` through every controller in charge of it, or on
    disk when none is (``model.invariants.safety._seen``)."""
    k = sorts()
    return z3.And(
        forall([k.controller], lambda c: z3.Implies(s.active(c, lu), visible(s, c, lu, b) == x)),
        z3.Or(z3.Not(_no_owner(s, lu)), s.disk(lu, b) == x),
    )


def seen_equal(s: State, l1: Term, l2: Term, b: Term) -> Term:
    """Block ``b`` shows one value in ``l1`` and in ``l2``, each seen through its controller
    in charge, or on disk when none is. Written so that no existential depends on a
    controller (its Skolem function would go from Controller to Controller)."""
    k = sorts()
    both = forall(
        [k.controller, k.controller],
        lambda c1, c2: z3.Implies(
            z3.And(s.active(c1, l1), s.active(c2, l2)), visible(s, c1, l1, b) == visible(s, c2, l2, b)
        ),
    )

    def one(la: Term, lb: Term) -> Term:
        shown = forall(
            [k.controller], lambda c: z3.Implies(s.active(c, la), visible(s, c, la, b) == s.disk(lb, b))
        )
        return z3.Or(z3.Not(_no_owner(s, lb)), shown)

    neither = z3.Or(z3.Not(_no_owner(s, l1)), z3.Not(_no_owner(s, l2)), s.disk(l1, b) == s.disk(l2, b))
    return z3.And(both, one(l1, l2), one(l2, l1), neither)


def _is(s: State, pr: Term, state: PairState) -> Term:
    return s.pstate(pr) == sorts().pair_state[state]


def _real(s: State, pr: Term) -> Term:
    """``pr`` is a real pair: its primary and secondary differ. z3's sorts are never empty,
    so an array without pairs has Pair elements too; they are the pairs with one LU on both
    sides, and every pair fact and action is about real pairs only. (Without this an
    array of one LU would have no model, and counterexamples would not shrink to one LU.)"""
    return s.primary(pr) != s.secondary(pr)


def _backup_job(s: State, j: Term) -> Term:
    return z3.And(s.live(j), s.backup(j))


def _backup_is_point_in_time(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair, k.block],
        lambda pr, b: z3.Implies(
            _real(s, pr),
            z3.And(
                z3.Implies(s.tape_has(pr, b), s.tape(pr, b) == s.snapshot(pr, b)),
                z3.Implies(z3.And(s.cycled(pr), z3.Not(_is(s, pr, PairState.SPLIT))), s.tape_has(pr, b)),
            ),
        ),
    )


def _mirror_differs_only_where_tracked(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair, k.block],
        lambda pr, b: z3.Or(
            z3.Not(_real(s, pr)),
            _is(s, pr, PairState.PAIRED),
            s.diff(pr, b),
            seen_equal(s, s.primary(pr), s.secondary(pr), b),
        ),
    )


def _resync_restores_mirror(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair, k.block],
        lambda pr, b: z3.Implies(
            z3.And(_real(s, pr), _is(s, pr, PairState.PAIRED)),
            seen_equal(s, s.primary(pr), s.secondary(pr), b),
        ),
    )


def _control_returns_home(p: Steps, s: State) -> Term:
    def body(pr: Term) -> Term:
        lu = s.secondary(pr)
        row = z3.And(s.disk_default(lu) == s.home_default(pr), s.disk_current(lu) == s.home_current(pr))
        return z3.Implies(z3.And(_real(s, pr), s.cycled(pr), z3.Not(s.busy(lu))), row)

    return forall([sorts().pair], body)


def _pairs_well_formed(p: Steps, s: State) -> Term:
    k = sorts()
    distinct = forall(
        [k.pair, k.pair],
        lambda p1, p2: z3.Implies(
            z3.And(_real(s, p1), _real(s, p2)),
            z3.And(
                s.primary(p1) != s.secondary(p2),
                z3.Implies(s.primary(p1) == s.primary(p2), p1 == p2),
                z3.Implies(s.secondary(p1) == s.secondary(p2), p1 == p2),
            ),
        ),
    )
    marked = forall(
        [k.pair],
        lambda pr: z3.Implies(
            _real(s, pr), z3.And(s.mirror(s.secondary(pr)), z3.Not(s.mirror(s.primary(pr))))
        ),
    )
    return z3.And(distinct, marked)


def _hosts_leave_mirrors_alone(p: Steps, s: State) -> Term:
    k = sorts()
    writes = forall([k.lu], lambda lu: z3.Implies(s.w_on(lu), z3.Not(s.mirror(lu))))
    reads = forall([k.read], lambda r: z3.Implies(s.r_on(r), z3.Not(s.mirror(s.r_lu(r)))))
    return z3.And(writes, reads)


def _takeovers_avoid_pairs(p: Steps, s: State) -> Term:
    k = sorts()
    avoid = forall(
        [k.job, k.pair],
        lambda j, pr: z3.Implies(
            z3.And(_takeover(s, j), _real(s, pr)),
            z3.And(s.job_lu(j) != s.primary(pr), s.job_lu(j) != s.secondary(pr)),
        ),
    )
    no_mirror = forall([k.job], lambda j: z3.Implies(_takeover(s, j), z3.Not(s.mirror(s.job_lu(j)))))
    # Only a take-over's 806 suspends an LU: a mirror never is (with no_resume too).
    never_held = forall([k.lu], lambda lu: z3.Implies(s.mirror(lu), z3.Not(s.suspended(lu))))
    return z3.And(avoid, no_mirror, never_held)


def _of_pair(s: State, j: Term, pr: Term) -> Term:
    """Job ``j`` is a backup cycle of pair ``pr``: it moves its secondary. (A job's pair is
    not a function from Job to Pair: with busy_lu_has_job's Skolem function from LU to Job
    and ``secondary`` from Pair to LU it would make the terms infinite.)"""
    return z3.And(_backup_job(s, j), _real(s, pr), s.job_lu(j) == s.secondary(pr))


def _backup_job_of_pair(p: Steps, s: State) -> Term:
    k = sorts()

    def body(j: Term, pr: Term) -> Term:
        state = z3.If(
            p.done(s, j, Step.REQUEST_RESYNC),
            k.pair_state[PairState.RESYNCING],
            k.pair_state[PairState.SPLIT],
        )
        facts = [
            s.cycled(pr),
            s.pstate(pr) == state,
            s.home_current(pr) == s.source(j),
            s.home_default(pr) == s.destination(j),
        ]
        return z3.Implies(_of_pair(s, j, pr), z3.And(*facts))

    def moves_a_mirror(j: Term) -> Term:
        lu = s.job_lu(j)
        return z3.Implies(_backup_job(s, j), s.mirror(lu))

    return z3.And(forall([k.job, k.pair], body), forall([k.job], moves_a_mirror))


def _row_follows_backup_job(p: Steps, s: State) -> Term:
    k = sorts()

    def body(j: Term, c: Term, x: Term) -> Term:
        lu = s.job_lu(j)
        out = z3.And(p.done(s, j, Step.MIGRATE_OUT), z3.Not(p.done(s, j, Step.MIGRATE_BACK)))
        facts = [
            s.disk_current(lu) == z3.If(out, s.destination(j), s.source(j)),
            s.disk_default(lu) == z3.If(out, s.source(j), s.destination(j)),
            s.table_current(c, lu, x) == (x == s.disk_current(lu)),
        ]
        return z3.Implies(_backup_job(s, j), z3.And(*facts))

    return forall([k.job, k.controller, k.controller], body)


def _control_follows_backup_job(p: Steps, s: State) -> Term:
    k = sorts()

    def body(j: Term, c: Term) -> Term:
        lu, handed = s.job_lu(j), p.done(s, j, Step.HAND_OVER)
        holder = z3.If(handed, s.destination(j), s.source(j))
        return z3.Implies(_backup_job(s, j), z3.And(s.active(c, lu) == (c == holder), s.route(lu) == holder))

    return forall([k.job, k.controller], body)


def _backup_caches_purged(p: Steps, s: State) -> Term:
    k = sorts()

    def body(j: Term, b: Term) -> Term:
        lu = s.job_lu(j)
        out = z3.And(p.done(s, j, Step.PURGE_BACKUP), z3.Not(p.done(s, j, Step.HAND_OVER)))
        back = p.done(s, j, Step.PURGE_RETURN)
        return z3.Implies(
            _backup_job(s, j),
            z3.And(
                z3.Implies(out, z3.Not(s.line(s.source(j), lu, b))),
                z3.Implies(back, z3.Not(s.line(s.destination(j), lu, b))),
            ),
        )

    return forall([k.job, k.block], body)


def _tape_complete_after_backup(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.job, k.pair, k.block],
        lambda j, pr, b: z3.Implies(
            z3.And(_of_pair(s, j, pr), p.done(s, j, Step.BACKUP_DONE)), s.tape_has(pr, b)
        ),
    )


def _secondary_holds_snapshot(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair, k.block],
        lambda pr, b: z3.Implies(
            z3.And(_real(s, pr), _is(s, pr, PairState.SPLIT)),
            seen_is(s, s.secondary(pr), b, s.snapshot(pr, b)),
        ),
    )


def _mirror_is_expected(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair, k.block],
        lambda pr, b: z3.Implies(
            z3.And(_real(s, pr), z3.Or(_is(s, pr, PairState.PAIRED), z3.Not(s.diff(pr, b)))),
            seen_is(s, s.secondary(pr), b, expected(s, s.primary(pr), b)),
        ),
    )


def _secondary_default_elsewhere(p: Steps, s: State) -> Term:
    def body(pr: Term) -> Term:
        lu = s.secondary(pr)
        return z3.Implies(z3.And(_real(s, pr), z3.Not(s.busy(lu))), s.disk_default(lu) != s.disk_current(lu))

    return forall([sorts().pair], body)


def _paired_is_idle(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair],
        lambda pr: z3.Implies(
            z3.And(_real(s, pr), _is(s, pr, PairState.PAIRED)), z3.Not(s.busy(s.secondary(pr)))
        ),
    )


_ALL_DATA = ("no_acknowledged_write_lost", "reads_return_written_data")
_PAIR_PROPERTIES = (
    "backup_is_point_in_time",
    "mirror_differs_only_where_tracked",
    "resync_restores_mirror",
    "control_returns_home",
)


def _property(name: str, claim: str, formula: Callable[[Steps, State], Term]) -> Part:
    return Part(name, "property", claim, "", (name,), formula)


def _lemma(
    name: str, claim: str, why: str, protects: tuple[str, ...], formula: Callable[[Steps, State], Term]
) -> Part:
    return Part(name, "lemma", claim, why, protects, formula)


PARTS: tuple[Part, ...] = (
    # The properties, named and stated as in invariants/safety.py.
    _property(
        "single_active_controller",
        "No LU is ever in the charge of two controllers at once.",
        _single_active_controller,
    ),
    _property(
        "no_acknowledged_write_lost",
        "Every block, as seen through the LU's controller (its cache, else the disk; the disk "
        "alone when none is in charge), holds the last acknowledged write or the write now in "
        "flight to it.",
        _no_acknowledged_write_lost,
    ),
    _property(
        "reads_return_written_data",
        "Every read returns the last acknowledged write or the write in flight to the block.",
        _reads_return_written_data,
    ),
    _property(
        "no_stale_cache",
        "A controller holds cache lines only of LUs it is in charge of.",
        _no_stale_cache,
    ),
    _property(
        "path_routes_to_owner",
        "While an LU's path is not suspended, its frames go to the controller in charge.",
        _path_routes_to_owner,
    ),
    _property(
        "tables_agree",
        "Outside a take-over of an LU, every controller's row of it equals the disk's copy.",
        _tables_agree,
    ),
    # The lemmas: a claim, and why the protocol keeps it.
    _lemma(
        "one_job_per_lu",
        "At most one take-over job per LU is in progress.",
        "Step 801 refuses a take-over of an LU the management utility marks busy, and it "
        "marks an LU busy for as long as a job of it lives.",
        ("single_active_controller", "path_routes_to_owner"),
        _one_job_per_lu,
    ),
    _lemma(
        "job_marks_lu_busy",
        "The LU of a job in progress is marked busy.",
        "designate marks the LU busy as it creates the job, and only a job's last step clears "
        "the mark, and then only if no other job of the LU lives.",
        ("single_active_controller", "tables_agree"),
        _job_marks_lu_busy,
    ),
    _lemma(
        "busy_lu_has_job",
        "An LU marked busy has a job in progress.",
        "The mark is set only with a new job and cleared when the LU's last job ends; it makes "
        "tables_agree over 'not busy' the model's tables_agree over 'no job'.",
        ("tables_agree",),
        _busy_lu_has_job,
    ),
    _lemma(
        "source_is_not_destination",
        "A job's source and destination differ.",
        "Step 801 refuses to move an LU to the controller that already has it.",
        ("single_active_controller",),
        _source_is_not_destination,
    ),
    _lemma(
        "owner_at_rest",
        "Outside a take-over, exactly the controller the disk's row names is in charge of the LU.",
        "So it is initially, and a take-over ends with its destination started and named by "
        "the row its 803 wrote.",
        ("single_active_controller", "path_routes_to_owner"),
        _owner_at_rest,
    ),
    _lemma(
        "path_at_rest",
        "Outside a take-over, the LU's path leads to the controller the disk's row names and "
        "is not suspended (with no_resume it may be).",
        "A take-over ends after 807 switched the path to its destination, which its 803 "
        "named in the row, and after 809 released it.",
        ("path_routes_to_owner",),
        _path_at_rest,
    ),
    _lemma(
        "active_follows_job",
        "During a take-over the source is in charge until its 808 stop, the destination from "
        "its 808 start, and no other controller is.",
        "At designation the source is the one controller in charge (owner_at_rest); only the "
        "two halves of 808 change who is.",
        ("single_active_controller", "no_acknowledged_write_lost"),
        _active_follows_job,
    ),
    _lemma(
        "route_follows_job",
        "During a take-over the LU's path leads to the source until 807, to the destination after.",
        "At designation the path leads to the owner, the job's source (path_at_rest), and only "
        "807 changes it.",
        ("path_routes_to_owner",),
        _route_follows_job,
    ),
    _lemma(
        "suspension_follows_job",
        "During a take-over the LU is suspended exactly between 806 and 809.",
        "The LU is not suspended at designation (path_at_rest); 806 suspends it, 809 "
        "releases it, and no other step touches the suspension.",
        ("path_routes_to_owner",),
        _suspension_follows_job,
    ),
    _lemma(
        "disk_current_follows_job",
        "During a take-over the disk's row names the source until 803 writes it, the destination after.",
        "The source is taken from the disk's row at designation, and only the job's 803 rewrites that row.",
        ("tables_agree", "single_active_controller"),
        _disk_current_follows_job,
    ),
    _lemma(
        "tables_follow_job",
        "During a take-over every table names the source until 803; then the source's names "
        "the destination, and every table does once the row is read.",
        "All tables agreed on the source at designation (tables_agree); 803 writes the "
        "destination into the source's table and the disk, then the others read it.",
        ("tables_agree",),
        _tables_follow_job,
    ),
    _lemma(
        "write_through_while_moving",
        "Between 804 and 808 the source writes the LU through to disk.",
        "804 turns write-through on at the source and only the 808 stop turns it off.",
        ("no_stale_cache", *_ALL_DATA),
        _write_through_while_moving,
    ),
    _lemma(
        "source_purged",
        "After the purge of 804 the source holds no line of the LU.",
        "The purge removes them; afterwards the source is write-through, so its writes drop "
        "lines and its reads fill none, and after 808 no frame of the LU reaches it.",
        ("no_stale_cache", *_ALL_DATA),
        _source_purged,
    ),
    _lemma(
        "inbox_is_active",
        "A request in a controller's inbox is for an LU that controller is in charge of.",
        "The path controller's frames enter only the inbox of a controller in charge, and 808 "
        "stops the source only once its inbox holds nothing for the LU.",
        ("no_stale_cache", *_ALL_DATA),
        _inbox_is_active,
    ),
    _lemma(
        "clean_lines_match_disk",
        "A clean line holds the disk's value of its block.",
        "A line turns clean by a read filling it from disk or a de-stage writing it to disk, "
        "and only the controller in charge, the one holding lines, writes the LU's disk.",
        _ALL_DATA,
        _clean_lines_match_disk,
    ),
    _lemma(
        "visible_is_expected",
        "Each block of an LU shows, through the controller in charge (or on disk when none "
        "is), the value of the LU's write already performed but not yet acknowledged, if "
        "there is one, and else the last acknowledged write.",
        "Only performing the LU's one outstanding write changes what a block shows, and the "
        "write is acknowledged only after it was performed.",
        _ALL_DATA,
        _visible_is_expected,
    ),
    # Embodiment 2 (Steps 901-909): the pair properties, then their lemmas.
    _property(
        "backup_is_point_in_time",
        "Every block on tape is the primary's block at the split, and once re-synchronization "
        "is asked for every block is on tape.",
        _backup_is_point_in_time,
    ),
    _property(
        "mirror_differs_only_where_tracked",
        "While a pair is split or re-synchronizing, a block where secondary and primary differ "
        "is in the difference information.",
        _mirror_differs_only_where_tracked,
    ),
    _property(
        "resync_restores_mirror",
        "A paired secondary equals its primary block for block.",
        _resync_restores_mirror,
    ),
    _property(
        "control_returns_home",
        "After a backup cycle the secondary's default and current controller are those before it.",
        _control_returns_home,
    ),
    _lemma(
        "pairs_well_formed",
        "A pair's primary and secondary are distinct LUs in no other pair; the secondary is a "
        "mirror, the primary is not.",
        "The scenario's pairs are fixed (model.scenario._validate_pairs); no action changes them.",
        _PAIR_PROPERTIES,
        _pairs_well_formed,
    ),
    _lemma(
        "hosts_leave_mirrors_alone",
        "No host request is for a mirror.",
        "No host reads or writes a secondary (model.scenario._validate_pairs): send_write and "
        "send_read refuse a mirror, and only they start requests.",
        ("no_stale_cache", *_PAIR_PROPERTIES),
        _hosts_leave_mirrors_alone,
    ),
    _lemma(
        "takeovers_avoid_pairs",
        "A take-over job (801-809) moves no LU of a pair and no mirror, so no mirror is ever suspended.",
        "Plain take-overs never move a pair's LU (model.scenario._validate_pairs): designate "
        "refuses them; only a backup cycle moves a secondary, and only a take-over's 806 "
        "suspends an LU.",
        ("single_active_controller", *_PAIR_PROPERTIES),
        _takeovers_avoid_pairs,
    ),
    _lemma(
        "backup_job_of_pair",
        "A backup job moves its pair's secondary, which is split until 906 asks for "
        "re-synchronization and re-synchronizing after; its source and destination are the "
        "secondary's current and default controller before the cycle.",
        "split_pair creates the job with the pair's home recorded and the pair split; only "
        "request_resync changes the state while the job lives (re-synchronization waits for "
        "the job to end).",
        _PAIR_PROPERTIES,
        _backup_job_of_pair,
    ),
    _lemma(
        "row_follows_backup_job",
        "During a backup cycle the secondary's row names the source as current and the backup "
        "controller as default, except between 902 and 907, where the two are swapped; every "
        "table names the disk's current controller.",
        "902 and 907 are the only steps writing the row, each into the disk and every table at once.",
        ("tables_agree", "control_returns_home"),
        _row_follows_backup_job,
    ),
    _lemma(
        "control_follows_backup_job",
        "During a backup cycle the source is in charge of the secondary, and its path leads "
        "there, until 904; the backup controller from 904 on; nobody else.",
        "904 and 909 pass control (and the path) in one step; the job ends with 909.",
        ("single_active_controller", "path_routes_to_owner", *_PAIR_PROPERTIES),
        _control_follows_backup_job,
    ),
    _lemma(
        "backup_caches_purged",
        "After the purge of 903 and until 904 the source holds no line of the secondary; after "
        "the purge of 908 the backup controller holds none.",
        "The purge removes them, and while the job lives nothing writes or reads the secondary "
        "through a cache: hosts never do, the pair is not paired (no mirrored write) and "
        "re-synchronization waits for the job's end.",
        ("no_stale_cache", *_PAIR_PROPERTIES),
        _backup_caches_purged,
    ),
    _lemma(
        "tape_complete_after_backup",
        "Once 905 is done every block of the secondary is on tape.",
        "backup_done waits for the last block; tape blocks are cleared only by the next split.",
        ("backup_is_point_in_time",),
        _tape_complete_after_backup,
    ),
    _lemma(
        "secondary_holds_snapshot",
        "While a pair is split its secondary shows, block for block, the primary's image at the split.",
        "At the split the paired secondary equals the primary (mirror_is_expected), whose image "
        "the snapshot records; while split nothing writes the secondary, and 903's de-stage and "
        "purge and 904's change of control keep what it shows.",
        ("backup_is_point_in_time",),
        _secondary_holds_snapshot,
    ),
    _lemma(
        "mirror_is_expected",
        "A paired secondary, and a split one outside the difference information, shows the "
        "value its primary is expected to show (visible_is_expected).",
        "A write performed on a paired primary is written to the secondary in the same step; "
        "on a split or re-synchronizing one it is recorded in the difference information; "
        "re-synchronization copies the primary's block before clearing its bit, and pairs "
        "again only once no bit is left.",
        ("mirror_differs_only_where_tracked", "resync_restores_mirror"),
        _mirror_is_expected,
    ),
    _lemma(
        "secondary_default_elsewhere",
        "Outside a backup cycle a secondary's default controller differs from its current one.",
        "The scenario makes the default the backup controller (Fig. 9A), and 907 swaps the "
        "two numbers 902 swapped.",
        ("control_returns_home", "single_active_controller"),
        _secondary_default_elsewhere,
    ),
    _lemma(
        "paired_is_idle",
        "No backup cycle of a paired pair is in progress.",
        "A cycle splits the pair at 901, and re-synchronization pairs it again only after the cycle's end.",
        _PAIR_PROPERTIES,
        _paired_is_idle,
    ),
)

PART_NAMES: tuple[str, ...] = tuple(part.name for part in PARTS)
PROPERTY_NAMES: tuple[str, ...] = tuple(part.name for part in PARTS if part.kind == "property")
LEMMA_NAMES: tuple[str, ...] = tuple(part.name for part in PARTS if part.kind == "lemma")


def parts(omit: frozenset[str] = frozenset()) -> tuple[Part, ...]:
    """The invariant's parts, without the lemmas named in ``omit``."""
    unknown = omit - set(LEMMA_NAMES)
    if unknown:
        raise ValueError(f"not lemmas: {', '.join(sorted(unknown))}; lemmas are {', '.join(LEMMA_NAMES)}")
    return tuple(part for part in PARTS if part.name not in omit)


def initial(s: State) -> Term:
    """Fig. 4A / 5A for any array: every LU in the charge of the controller its row names,
    every table agreeing with the disk, routed to that controller, no job, no line, no
    request; every disk block holds what was last acknowledged."""
    k = sorts()
    c, lu, b = k.controller, k.lu, k.block
    return z3.And(
        forall([c, lu], lambda c1, l1: s.active(c1, l1) == (c1 == s.disk_current(l1))),
        forall([c, lu], lambda c1, l1: z3.Not(s.write_through(c1, l1))),
        forall(
            [c, lu, b], lambda c1, l1, b1: z3.And(z3.Not(s.line(c1, l1, b1)), z3.Not(s.dirty(c1, l1, b1)))
        ),
        forall([lu, b], lambda l1, b1: s.disk(l1, b1) == s.acked(l1, b1)),
        forall(
            [lu],
            lambda l1: z3.And(
                s.route(l1) == s.disk_current(l1),
                z3.Not(s.suspended(l1)),
                z3.Not(s.busy(l1)),
                z3.Not(s.w_on(l1)),
            ),
        ),
        forall([c, lu, c], lambda c1, l1, x: s.table_current(c1, l1, x) == (x == s.disk_current(l1))),
        forall([k.read], lambda r: z3.Not(s.r_on(r))),
        forall([k.job], lambda j: z3.Not(s.live(j))),
        z3.Not(s.bad_read),
        # Embodiment 2 (Fig. 9A): every pair paired, the mirror equal to its primary, its
        # default controller the backup controller (not its current one), no cycle yet.
        _pairs_well_formed(Steps(CORRECT), s),
        forall(
            [k.pair],
            lambda p1: z3.Implies(
                _real(s, p1),
                z3.And(
                    _is(s, p1, PairState.PAIRED),
                    z3.Not(s.cycled(p1)),
                    s.disk_default(s.secondary(p1)) != s.disk_current(s.secondary(p1)),
                ),
            ),
        ),
        forall(
            [k.pair, b],
            lambda p1, b1: z3.Implies(
                _real(s, p1),
                z3.And(
                    z3.Not(s.diff(p1, b1)),
                    z3.Not(s.tape_has(p1, b1)),
                    s.disk(s.secondary(p1), b1) == s.acked(s.primary(p1), b1),
                ),
            ),
        ),
    )


# --- the actions ---------------------------------------------------------------------------------


@dataclass
class Transition:
    """An action instance: its guard, the state after, and its arguments (z3 constants)."""

    guard: list[Term]
    after: State
    args: dict[str, Term] = field(default_factory=dict)


def _const(name: str, srt: Term) -> Term:
    return z3.Const(name, srt)


def _choose(selector: Term, first: Transition, second: Transition) -> Transition:
    """One transition that is ``first`` when ``selector`` holds and ``second`` otherwise:
    an action with two cases (a write or a read) is still one query per part."""
    changed: dict[str, Any] = {}
    for f in fields(State):
        a, b = getattr(first.after, f.name), getattr(second.after, f.name)
        if a is b:
            continue
        if f.name == "bad_read":
            changed[f.name] = z3.If(selector, a, b)
        else:
            changed[f.name] = (lambda fa, fb: lambda *xs: z3.If(selector, fa(*xs), fb(*xs)))(a, b)
    guard = z3.If(selector, z3.And(*first.guard), z3.And(*second.guard))
    return Transition(
        [guard], replace(first.after, **changed), {**first.args, **second.args, "write": selector}
    )


def _write_or_read(
    s: State, name: str, on_write: Callable[[Term], Transition], on_read: Callable[[Term], Transition]
) -> Transition:
    """The two cases of a host I/O action: the write slot of an LU, or a read in flight."""
    k = sorts()
    return _choose(z3.Bool(f"{name}_write"), on_write(_const("l", k.lu)), on_read(_const("r", k.read)))


def send_write(p: Steps, s: State) -> Transition:
    """A host writes a block of an LU it writes; any value (the model's counter is one)."""
    k = sorts()
    lu, b, x = _const("l", k.lu), _const("b", k.block), _const("v", k.value)
    after = replace(
        s,
        w_on=at(s.w_on, (lu,), z3.BoolVal(True)),
        w_block=at(s.w_block, (lu,), b),
        w_value=at(s.w_value, (lu,), x),
        w_loc=at(s.w_loc, (lu,), k.where["PATH"]),
    )
    return Transition([z3.Not(s.w_on(lu)), z3.Not(s.mirror(lu))], after, {"l": lu, "b": b, "v": x})


def send_read(p: Steps, s: State) -> Transition:
    """A host reads a block of an LU."""
    k = sorts()
    r, lu, b = _const("r", k.read), _const("l", k.lu), _const("b", k.block)
    after = replace(
        s,
        r_on=at(s.r_on, (r,), z3.BoolVal(True)),
        r_lu=at(s.r_lu, (r,), lu),
        r_block=at(s.r_block, (r,), b),
        r_loc=at(s.r_loc, (r,), k.where["PATH"]),
    )
    return Transition([z3.Not(s.r_on(r)), z3.Not(s.mirror(lu))], after, {"r": r, "l": lu, "b": b})


def deliver(p: Steps, s: State) -> Transition:
    """The path controller forwards a frame to the routed controller unless the LU is
    suspended; a controller not in charge refuses it (NOT READY)."""
    k = sorts()

    def place(lu: Term) -> Term:
        return z3.If(s.active(s.route(lu), lu), k.where["INBOX"], k.where["NOT_READY"])

    def write(lu: Term) -> Transition:
        guard = [s.w_on(lu), s.w_loc(lu) == k.where["PATH"], z3.Not(s.suspended(lu))]
        after = replace(s, w_loc=at(s.w_loc, (lu,), place(lu)), w_at=at(s.w_at, (lu,), s.route(lu)))
        return Transition(guard, after, {"l": lu})

    def read(r: Term) -> Transition:
        lu = s.r_lu(r)
        guard = [s.r_on(r), s.r_loc(r) == k.where["PATH"], z3.Not(s.suspended(lu))]
        after = replace(s, r_loc=at(s.r_loc, (r,), place(lu)), r_at=at(s.r_at, (r,), s.route(lu)))
        return Transition(guard, after, {"r": r})

    return _write_or_read(s, "deliver", write, read)


def _write_block(s: State, when: Term, c: Term, lu: Term, b: Term, x: Term) -> State:
    """If ``when``: controller ``c`` writes ``x`` to block ``b`` of ``lu``, through to disk
    (dropping its line) when write-through, else into a dirty line (model.actions._write_block)."""
    wt = s.write_through(c, lu)

    def here(c1: Term, l1: Term, b1: Term) -> Term:
        return z3.And(when, c1 == c, l1 == lu, b1 == b)

    return replace(
        s,
        disk=lambda l1, b1: z3.If(z3.And(when, wt, l1 == lu, b1 == b), x, s.disk(l1, b1)),
        line=lambda c1, l1, b1: z3.If(here(c1, l1, b1), z3.Not(wt), s.line(c1, l1, b1)),
        dirty=lambda c1, l1, b1: z3.If(here(c1, l1, b1), z3.Not(wt), s.dirty(c1, l1, b1)),
        line_value=lambda c1, l1, b1: z3.If(here(c1, l1, b1), x, s.line_value(c1, l1, b1)),
    )


def _owner_of(s: State, lu: Term, o: Term, owned: Term) -> list[Term]:
    """Guards making ``owned`` say that a controller is in charge of ``lu``, and ``o`` one."""
    owner = exists([sorts().controller], lambda c: s.active(c, lu))
    return [owned == owner, z3.Implies(owned, s.active(o, lu))]


def _seen(s: State, lu: Term, b: Term, o: Term, owned: Term) -> Term:
    """Block ``b`` of ``lu`` as its controller in charge ``o`` sees it, or the disk if none."""
    return z3.If(owned, visible(s, o, lu, b), s.disk(lu, b))


def process(p: Steps, s: State) -> Transition:
    """A controller performs a request in its inbox, even for an LU it has stopped
    controlling since: a write goes to disk (dropping the line) when write-through, else
    into a dirty line; a read returns the line, else the disk, filling a clean line when
    the controller is not write-through and has none."""
    k = sorts()

    def write(lu: Term) -> Transition:
        c, b, x = s.w_at(lu), s.w_block(lu), s.w_value(lu)
        after = _write_block(s, z3.BoolVal(True), c, lu, b, x)
        # Embodiment 2 (model.actions._mirror): q is lu's pair if lu is a primary; o is
        # the secondary's controller in charge, if it has one.
        q, o, owned = _const("q", k.pair), _const("o", k.controller), z3.Bool("process_owned")
        sec = s.secondary(q)
        is_primary = z3.And(_real(s, q), s.primary(q) == lu)
        paired = _is(s, q, PairState.PAIRED)
        after = _write_block(after, z3.And(is_primary, paired, owned), o, sec, b, x)
        track = z3.And(is_primary, z3.Not(paired))
        after = replace(
            after,
            diff=lambda p1, b1: z3.Or(z3.And(track, p1 == q, b1 == b), s.diff(p1, b1)),
            w_loc=at(s.w_loc, (lu,), k.where["REPLIED"]),
        )
        guard = [
            s.w_on(lu),
            s.w_loc(lu) == k.where["INBOX"],
            z3.Or(is_primary, forall([k.pair], lambda p1: z3.Implies(_real(s, p1), s.primary(p1) != lu))),
            *_owner_of(s, sec, o, owned),
        ]
        return Transition(guard, after, {"l": lu, "q": q, "o": o})

    def read(r: Term) -> Transition:
        c, lu, b = s.r_at(r), s.r_lu(r), s.r_block(r)
        hit = s.line(c, lu, b)
        value = visible(s, c, lu, b)
        fill = z3.And(z3.Not(hit), z3.Not(s.write_through(c, lu)))

        def filled(c1: Term, l1: Term, b1: Term) -> Term:
            return z3.And(fill, c1 == c, l1 == lu, b1 == b)

        after = replace(
            s,
            line=lambda c1, l1, b1: z3.Or(filled(c1, l1, b1), s.line(c1, l1, b1)),
            dirty=lambda c1, l1, b1: z3.And(z3.Not(filled(c1, l1, b1)), s.dirty(c1, l1, b1)),
            line_value=lambda c1, l1, b1: z3.If(filled(c1, l1, b1), s.disk(lu, b), s.line_value(c1, l1, b1)),
            bad_read=z3.Or(s.bad_read, z3.Not(admissible(s, lu, b, value))),
            r_loc=at(s.r_loc, (r,), k.where["REPLIED"]),
        )
        return Transition([s.r_on(r), s.r_loc(r) == k.where["INBOX"]], after, {"r": r})

    return _write_or_read(s, "process", write, read)


def complete(p: Steps, s: State) -> Transition:
    """The reply reaches the host: a write is now acknowledged."""
    k = sorts()

    def write(lu: Term) -> Transition:
        after = replace(
            s,
            acked=at(s.acked, (lu, s.w_block(lu)), s.w_value(lu)),
            w_on=at(s.w_on, (lu,), z3.BoolVal(False)),
        )
        return Transition([s.w_on(lu), s.w_loc(lu) == k.where["REPLIED"]], after, {"l": lu})

    def read(r: Term) -> Transition:
        after = replace(s, r_on=at(s.r_on, (r,), z3.BoolVal(False)))
        return Transition([s.r_on(r), s.r_loc(r) == k.where["REPLIED"]], after, {"r": r})

    return _write_or_read(s, "complete", write, read)


def retry(p: Steps, s: State) -> Transition:
    """The host got NOT READY and sends the same request again."""
    k = sorts()
    refused, path = k.where["NOT_READY"], k.where["PATH"]

    def write(lu: Term) -> Transition:
        after = replace(s, w_loc=at(s.w_loc, (lu,), path))
        return Transition([s.w_on(lu), s.w_loc(lu) == refused], after, {"l": lu})

    def read(r: Term) -> Transition:
        after = replace(s, r_loc=at(s.r_loc, (r,), path))
        return Transition([s.r_on(r), s.r_loc(r) == refused], after, {"r": r})

    return _write_or_read(s, "retry", write, read)


def designate(p: Steps, s: State) -> Transition:
    """801: the operator moves an LU to another controller; the job's source is the
    controller the disk's row names. A second take-over of a moving LU is refused."""
    k = sorts()
    j, lu, d = _const("j", k.job), _const("l", k.lu), _const("d", k.controller)
    guard = [z3.Not(s.live(j)), d != s.disk_current(lu)]
    # Plain take-overs never move a pair's LU (model.scenario._validate_pairs).
    guard.append(
        forall(
            [k.pair],
            lambda pr: z3.Implies(_real(s, pr), z3.And(s.primary(pr) != lu, s.secondary(pr) != lu)),
        )
    )
    guard.append(z3.Not(s.mirror(lu)))
    if not p.protocol.concurrent_same_lu:
        guard.append(z3.Not(s.busy(lu)))
    after = replace(
        s,
        live=at(s.live, (j,), z3.BoolVal(True)),
        backup=at(s.backup, (j,), z3.BoolVal(False)),
        job_lu=at(s.job_lu, (j,), lu),
        source=at(s.source, (j,), s.disk_current(lu)),
        destination=at(s.destination, (j,), d),
        phase=at(s.phase, (j,), k.step[p.order[1]]),
        busy=at(s.busy, (lu,), z3.BoolVal(True)),
    )
    return Transition(guard, after, {"j": j, "l": lu, "d": d})


@dataclass
class _Job:
    """A job taking its next step: its constants and the guard that binds them."""

    j: Term
    lu: Term
    source: Term
    destination: Term
    guard: list[Term]

    @property
    def args(self) -> dict[str, Term]:
        return {"j": self.j, "l": self.lu, "s": self.source, "d": self.destination}


def _job(p: Steps, s: State, step: Step) -> _Job:
    """Job ``j``, whose next step is ``step`` (never, if the order leaves ``step`` out)."""
    k = sorts()
    j = _const("j", k.job)
    lu, src, dst = _const("l", k.lu), _const("s", k.controller), _const("d", k.controller)
    enabled = s.phase(j) == k.step[step] if p.has(step) else z3.BoolVal(False)
    kind = s.backup(j) if step in BACKUP_ORDER else z3.Not(s.backup(j))
    guard = [s.live(j), kind, enabled, lu == s.job_lu(j), src == s.source(j), dst == s.destination(j)]
    return _Job(j, lu, src, dst, guard)


def _advance(p: Steps, s: State, job: _Job, step: Step, after: State) -> Transition:
    """The job has done ``step``: on to the order's next step, or over after the last;
    the LU stays busy only if another job of it lives (only a buggy utility makes one)."""
    k = sorts()
    nxt = p.next(step) if p.has(step) else None
    if nxt is not None:
        after = replace(after, phase=at(after.phase, (job.j,), k.step[nxt]))
        return Transition(job.guard, after, job.args)
    still = z3.Bool(f"{step.action}_lu_still_busy")
    other = exists([k.job], lambda j2: z3.And(j2 != job.j, s.live(j2), s.job_lu(j2) == job.lu))
    after = replace(
        after, live=at(after.live, (job.j,), z3.BoolVal(False)), busy=at(after.busy, (job.lu,), still)
    )
    return Transition([*job.guard, still == other], after, job.args)


def _plain_step(
    step: Step, effect: Callable[[Steps, State, _Job], State]
) -> Callable[[Steps, State], Transition]:
    def action(p: Steps, s: State) -> Transition:
        job = _job(p, s, step)
        return _advance(p, s, job, step, effect(p, s, job))

    action.__name__ = step.action
    action.__doc__ = effect.__doc__
    return action


def _instruct(p: Steps, s: State, job: _Job) -> State:
    """802: the management utility sends the take-over instruction to the array."""
    return s


def _write_row(p: Steps, s: State, job: _Job) -> State:
    """803: the source writes the LU's row, naming the destination (as current and as
    default controller), into its table and at the disk's predetermined position."""

    def row(c: Term, lu: Term, x: Term) -> Term:
        return z3.If(z3.And(c == job.source, lu == job.lu), x == job.destination, s.table_current(c, lu, x))

    return replace(
        s,
        table_current=row,
        disk_current=at(s.disk_current, (job.lu,), job.destination),
        disk_default=at(s.disk_default, (job.lu,), job.destination),  # Fig. 5B: both numbers
    )


def _read_row(p: Steps, s: State, job: _Job) -> State:
    """803: every controller but the source (and, with stale_config_row, the destination)
    reads the migrated row from the disk."""
    skipped = [job.source]
    if p.protocol.stale_config_row:
        skipped.append(job.destination)

    def row(c: Term, lu: Term, x: Term) -> Term:
        reads = z3.And(lu == job.lu, *[c != other for other in skipped])
        return z3.If(reads, x == s.disk_current(job.lu), s.table_current(c, lu, x))

    return replace(s, table_current=row)


def _begin_destage(p: Steps, s: State, job: _Job) -> State:
    """804: the source makes the LU's writes write-through (not with no_write_through)."""
    if p.protocol.no_write_through:
        return s
    return replace(s, write_through=at(s.write_through, (job.source, job.lu), z3.BoolVal(True)))


def destage_line(p: Steps, s: State) -> Transition:
    """804: the source writes one dirty line of the LU to disk and marks it clean; the job
    stays at its purge step."""
    k = sorts()
    job = _job(p, s, Step.PURGE)
    b = _const("b", k.block)
    src, lu = job.source, job.lu
    after = replace(
        s,
        disk=at(s.disk, (lu, b), s.line_value(src, lu, b)),
        dirty=at(s.dirty, (src, lu, b), z3.BoolVal(False)),
    )
    guard = [*job.guard, s.line(src, lu, b), s.dirty(src, lu, b)]
    return Transition(guard, after, {**job.args, "b": b})


def _purge(p: Steps, s: State, job: _Job) -> State:
    """804: the source removes its lines of the LU (keep_clean_lines: none; with no dirty
    line left, all that remain are clean)."""
    if p.protocol.keep_clean_lines:
        return s

    def mine(c: Term, lu: Term) -> Term:
        return z3.And(c == job.source, lu == job.lu)

    return replace(
        s,
        line=lambda c, lu, b: z3.And(z3.Not(mine(c, lu)), s.line(c, lu, b)),
        dirty=lambda c, lu, b: z3.And(z3.Not(mine(c, lu)), s.dirty(c, lu, b)),
    )


def purge(p: Steps, s: State) -> Transition:
    """804: with no dirty line of the LU left, the source removes all its lines of the LU."""
    k = sorts()
    job = _job(p, s, Step.PURGE)
    no_dirty = forall(
        [k.block], lambda b: z3.Not(z3.And(s.line(job.source, job.lu, b), s.dirty(job.source, job.lu, b)))
    )
    job.guard.append(no_dirty)
    return _advance(p, s, job, Step.PURGE, _purge(p, s, job))


def _notify(p: Steps, s: State, job: _Job) -> State:
    """805: the source notifies de-stage completion (write_back_after_destage: and ends
    write-through)."""
    if not p.protocol.write_back_after_destage:
        return s
    return replace(s, write_through=at(s.write_through, (job.source, job.lu), z3.BoolVal(False)))


def _suspend(p: Steps, s: State, job: _Job) -> State:
    """806: the path controller holds every new frame to the LU."""
    return replace(s, suspended=at(s.suspended, (job.lu,), z3.BoolVal(True)))


def _switch_path(p: Steps, s: State, job: _Job) -> State:
    """807: the path controller routes the LU's frames to the destination."""
    return replace(s, route=at(s.route, (job.lu,), job.destination))


def stop_source(p: Steps, s: State) -> Transition:
    """808: the source stops controlling the LU once its inbox holds nothing for it
    (stop_without_drain: at once); its write-through period ends."""
    k = sorts()
    job = _job(p, s, Step.STOP_SOURCE)
    src, lu, inbox = job.source, job.lu, k.where["INBOX"]
    if not p.protocol.stop_without_drain:
        job.guard.append(z3.Not(z3.And(s.w_on(lu), s.w_loc(lu) == inbox, s.w_at(lu) == src)))
        job.guard.append(
            forall(
                [k.read],
                lambda r: z3.Not(z3.And(s.r_on(r), s.r_loc(r) == inbox, s.r_at(r) == src, s.r_lu(r) == lu)),
            )
        )
    off = z3.BoolVal(False)
    after = replace(s, active=at(s.active, (src, lu), off), write_through=at(s.write_through, (src, lu), off))
    return _advance(p, s, job, Step.STOP_SOURCE, after)


def _start_destination(p: Steps, s: State, job: _Job) -> State:
    """808: the destination starts controlling the LU."""
    return replace(s, active=at(s.active, (job.destination, job.lu), z3.BoolVal(True)))


def _resume(p: Steps, s: State, job: _Job) -> State:
    """809: the path controller releases the LU's held frames."""
    return replace(s, suspended=at(s.suspended, (job.lu,), z3.BoolVal(False)))


# --- embodiment 2: Steps 901-909 ---------------------------------------------------------------


def split_pair(p: Steps, s: State) -> Transition:
    """901: a host splits a paired pair whose LUs no job moves; a backup job of its secondary
    begins, from its current controller to the one its row names as default. The ghost
    records the primary's image (through its controller in charge) and the secondary's home."""
    k = sorts()
    j, q = _const("j", k.job), _const("q", k.pair)
    o, owned = _const("o", k.controller), z3.Bool("split_owned")
    sec, pri = s.secondary(q), s.primary(q)
    guard = [
        z3.Not(s.live(j)),
        _real(s, q),
        _is(s, q, PairState.PAIRED),
        z3.Not(s.busy(sec)),
        z3.Not(s.busy(pri)),
        *_owner_of(s, pri, o, owned),
    ]
    src, dst = s.disk_current(sec), s.disk_default(sec)

    def on_q(f: Fn, value: Callable[[Term], Term]) -> Fn:
        return lambda p1, b1: z3.If(p1 == q, value(b1), f(p1, b1))

    after = replace(
        s,
        live=at(s.live, (j,), z3.BoolVal(True)),
        backup=at(s.backup, (j,), z3.BoolVal(True)),
        job_lu=at(s.job_lu, (j,), sec),
        source=at(s.source, (j,), src),
        destination=at(s.destination, (j,), dst),
        phase=at(s.phase, (j,), k.step[p.backup_order[1]]),
        busy=at(s.busy, (sec,), z3.BoolVal(True)),
        pstate=at(s.pstate, (q,), k.pair_state[PairState.SPLIT]),
        diff=on_q(s.diff, lambda b1: z3.BoolVal(False)),
        tape_has=on_q(s.tape_has, lambda b1: z3.BoolVal(False)),
        snapshot=on_q(s.snapshot, lambda b1: _seen(s, pri, b1, o, owned)),
        cycled=at(s.cycled, (q,), z3.BoolVal(True)),
        home_current=at(s.home_current, (q,), src),
        home_default=at(s.home_default, (q,), dst),
    )
    return Transition(guard, after, {"j": j, "q": q, "o": o})


def _migrate(s: State, lu: Term, current: Term, default: Term) -> State:
    """902 / 907: the row goes to the disk and every controller's table at once."""

    def row(c: Term, l1: Term, x: Term) -> Term:
        return z3.If(l1 == lu, x == current, s.table_current(c, l1, x))

    return replace(
        s,
        table_current=row,
        disk_current=at(s.disk_current, (lu,), current),
        disk_default=at(s.disk_default, (lu,), default),
    )


def _migrate_out(p: Steps, s: State, job: _Job) -> State:
    """902: default := the source (no_default_swap: unchanged), current := backup controller."""
    default = s.disk_default(job.lu) if p.protocol.no_default_swap else job.source
    return _migrate(s, job.lu, job.destination, default)


def _begin_backup_destage(p: Steps, s: State, job: _Job) -> State:
    """903: the source makes the secondary's writes write-through."""
    return replace(s, write_through=at(s.write_through, (job.source, job.lu), z3.BoolVal(True)))


def _holder(job: _Job, step: Step) -> Term:
    return job.destination if step is Step.PURGE_RETURN else job.source


def _destage_for(step: Step) -> Callable[[Steps, State], Transition]:
    def action(p: Steps, s: State) -> Transition:
        k = sorts()
        job = _job(p, s, step)
        b = _const("b", k.block)
        c, lu = _holder(job, step), job.lu
        after = replace(
            s,
            disk=at(s.disk, (lu, b), s.line_value(c, lu, b)),
            dirty=at(s.dirty, (c, lu, b), z3.BoolVal(False)),
        )
        guard = [*job.guard, s.line(c, lu, b), s.dirty(c, lu, b)]
        return Transition(guard, after, {**job.args, "b": b})

    action.__doc__ = f"{step.number}: one dirty line of the secondary goes to disk."
    return action


def _purge_for(step: Step) -> Callable[[Steps, State], Transition]:
    def action(p: Steps, s: State) -> Transition:
        k = sorts()
        job = _job(p, s, step)
        c, lu = _holder(job, step), job.lu
        job.guard.append(forall([k.block], lambda b: z3.Not(z3.And(s.line(c, lu, b), s.dirty(c, lu, b)))))

        def mine(c1: Term, l1: Term) -> Term:
            return z3.And(c1 == c, l1 == lu)

        after = replace(
            s,
            line=lambda c1, l1, b: z3.And(z3.Not(mine(c1, l1)), s.line(c1, l1, b)),
            dirty=lambda c1, l1, b: z3.And(z3.Not(mine(c1, l1)), s.dirty(c1, l1, b)),
        )
        return _advance(p, s, job, step, after)

    action.__doc__ = f"{step.number}: with nothing dirty left, the secondary's lines are removed."
    return action


def _pass_control(s: State, lu: Term, old: Term, new: Term) -> State:
    """904 / 909: control of ``lu`` (and its path) passes from ``old`` to ``new`` at once."""
    off, on = z3.BoolVal(False), z3.BoolVal(True)
    return replace(
        s,
        active=at(at(s.active, (old, lu), off), (new, lu), on),
        write_through=at(s.write_through, (old, lu), off),
        route=at(s.route, (lu,), new),
    )


def _drained(s: State, c: Term, lu: Term) -> list[Term]:
    """No request of ``lu`` is in ``c``'s inbox (model.actions._drained)."""
    k = sorts()
    inbox = k.where["INBOX"]
    return [
        z3.Not(z3.And(s.w_on(lu), s.w_loc(lu) == inbox, s.w_at(lu) == c)),
        forall(
            [k.read],
            lambda r: z3.Not(z3.And(s.r_on(r), s.r_loc(r) == inbox, s.r_at(r) == c, s.r_lu(r) == lu)),
        ),
    ]


def hand_over(p: Steps, s: State) -> Transition:
    """904: the source, its inbox drained, notifies completion; the backup controller takes control."""
    job = _job(p, s, Step.HAND_OVER)
    job.guard.extend(_drained(s, job.source, job.lu))
    return _advance(p, s, job, Step.HAND_OVER, _pass_control(s, job.lu, job.source, job.destination))


def backup_block(p: Steps, s: State) -> Transition:
    """905: the backup host reads a block of the secondary through the backup controller,
    in charge of it, and writes it to tape (any block: the model's order is dropped)."""
    k = sorts()
    job = _job(p, s, Step.BACKUP_DONE)
    b, q = _const("b", k.block), _const("q", k.pair)
    job.guard += [_real(s, q), s.secondary(q) == job.lu, s.active(job.destination, job.lu)]
    after = replace(
        s,
        tape_has=at(s.tape_has, (q, b), z3.BoolVal(True)),
        tape=at(s.tape, (q, b), visible(s, job.destination, job.lu, b)),
    )
    return Transition(job.guard, after, {**job.args, "b": b, "q": q})


def backup_done(p: Steps, s: State) -> Transition:
    """905: every block is on tape (resync_before_backup_done: whether or not)."""
    k = sorts()
    job = _job(p, s, Step.BACKUP_DONE)
    if not p.protocol.resync_before_backup_done:
        q = _const("q", k.pair)
        job.guard += [_real(s, q), s.secondary(q) == job.lu, forall([k.block], lambda b: s.tape_has(q, b))]
    return _advance(p, s, job, Step.BACKUP_DONE, s)


def _request_resync(p: Steps, s: State, job: _Job) -> State:
    """906: the backup host asks for re-synchronization; the pair is re-synchronizing."""
    k = sorts()
    resyncing = k.pair_state[PairState.RESYNCING]

    def state(pr: Term) -> Term:
        return z3.If(z3.And(_real(s, pr), s.secondary(pr) == job.lu), resyncing, s.pstate(pr))

    return replace(s, pstate=state)


def _migrate_back(p: Steps, s: State, job: _Job) -> State:
    """907: current := the default number (home), default := the backup controller."""
    return _migrate(s, job.lu, s.disk_default(job.lu), job.destination)


def _begin_return_destage(p: Steps, s: State, job: _Job) -> State:
    """908: the backup controller makes the secondary's writes write-through."""
    return replace(s, write_through=at(s.write_through, (job.destination, job.lu), z3.BoolVal(True)))


def return_control(p: Steps, s: State) -> Transition:
    """909: the backup controller, its inbox drained, passes control to the controller the
    row now names as current; the cycle is over."""
    job = _job(p, s, Step.RETURN_CONTROL)
    job.guard.extend(_drained(s, job.destination, job.lu))
    home = s.disk_current(job.lu)
    return _advance(p, s, job, Step.RETURN_CONTROL, _pass_control(s, job.lu, job.destination, home))


def _resyncing(s: State, q: Term) -> list[Term]:
    return [_real(s, q), _is(s, q, PairState.RESYNCING), z3.Not(s.busy(s.secondary(q)))]


def resync_block(p: Steps, s: State) -> Transition:
    """906: a block the difference information names is copied from the primary (through
    its controller in charge) to the secondary (through its)."""
    k = sorts()
    q, b = _const("q", k.pair), _const("b", k.block)
    o1, owned1 = _const("o", k.controller), z3.Bool("resync_primary_owned")
    o2, owned2 = _const("o2", k.controller), z3.Bool("resync_secondary_owned")
    pri, sec = s.primary(q), s.secondary(q)
    guard = [*_resyncing(s, q), s.diff(q, b), *_owner_of(s, pri, o1, owned1), *_owner_of(s, sec, o2, owned2)]
    after = _write_block(s, owned2, o2, sec, b, _seen(s, pri, b, o1, owned1))
    after = replace(after, diff=at(s.diff, (q, b), z3.BoolVal(False)))
    return Transition(guard, after, {"q": q, "b": b, "o": o1, "o2": o2})


def resync_done(p: Steps, s: State) -> Transition:
    """906: with no difference left (resync_without_diff: regardless), the pair is paired again."""
    k = sorts()
    q = _const("q", k.pair)
    guard = _resyncing(s, q)
    if not p.protocol.resync_without_diff:
        guard.append(forall([k.block], lambda b: z3.Not(s.diff(q, b))))
    after = replace(
        s,
        pstate=at(s.pstate, (q,), k.pair_state[PairState.PAIRED]),
        diff=lambda p1, b1: z3.And(p1 != q, s.diff(p1, b1)),
    )
    return Transition(guard, after, {"q": q})


@dataclass(frozen=True)
class AbstractAction:
    name: str
    step: Step | None
    relation: Callable[[Steps, State], Transition]


ACTIONS: tuple[AbstractAction, ...] = (
    AbstractAction("send_write", None, send_write),
    AbstractAction("send_read", None, send_read),
    AbstractAction("deliver", None, deliver),
    AbstractAction("process", None, process),
    AbstractAction("complete", None, complete),
    AbstractAction("retry", None, retry),
    AbstractAction("designate", Step.DESIGNATE, designate),
    AbstractAction("instruct", Step.INSTRUCT, _plain_step(Step.INSTRUCT, _instruct)),
    AbstractAction("write_row", Step.WRITE_ROW, _plain_step(Step.WRITE_ROW, _write_row)),
    AbstractAction("read_row", Step.READ_ROW, _plain_step(Step.READ_ROW, _read_row)),
    AbstractAction("begin_destage", Step.BEGIN_DESTAGE, _plain_step(Step.BEGIN_DESTAGE, _begin_destage)),
    AbstractAction("destage_line", Step.PURGE, destage_line),
    AbstractAction("purge", Step.PURGE, purge),
    AbstractAction("notify", Step.NOTIFY, _plain_step(Step.NOTIFY, _notify)),
    AbstractAction("suspend", Step.SUSPEND, _plain_step(Step.SUSPEND, _suspend)),
    AbstractAction("switch_path", Step.SWITCH_PATH, _plain_step(Step.SWITCH_PATH, _switch_path)),
    AbstractAction("stop_source", Step.STOP_SOURCE, stop_source),
    AbstractAction(
        "start_destination", Step.START_DESTINATION, _plain_step(Step.START_DESTINATION, _start_destination)
    ),
    AbstractAction("resume", Step.RESUME, _plain_step(Step.RESUME, _resume)),
    AbstractAction("split_pair", Step.SPLIT_PAIR, split_pair),
    AbstractAction("migrate_out", Step.MIGRATE_OUT, _plain_step(Step.MIGRATE_OUT, _migrate_out)),
    AbstractAction(
        "begin_backup_destage",
        Step.BEGIN_BACKUP_DESTAGE,
        _plain_step(Step.BEGIN_BACKUP_DESTAGE, _begin_backup_destage),
    ),
    AbstractAction("destage_backup_line", Step.PURGE_BACKUP, _destage_for(Step.PURGE_BACKUP)),
    AbstractAction("purge_backup", Step.PURGE_BACKUP, _purge_for(Step.PURGE_BACKUP)),
    AbstractAction("hand_over", Step.HAND_OVER, hand_over),
    AbstractAction("backup_block", Step.BACKUP_DONE, backup_block),
    AbstractAction("backup_done", Step.BACKUP_DONE, backup_done),
    AbstractAction("request_resync", Step.REQUEST_RESYNC, _plain_step(Step.REQUEST_RESYNC, _request_resync)),
    AbstractAction("migrate_back", Step.MIGRATE_BACK, _plain_step(Step.MIGRATE_BACK, _migrate_back)),
    AbstractAction(
        "begin_return_destage",
        Step.BEGIN_RETURN_DESTAGE,
        _plain_step(Step.BEGIN_RETURN_DESTAGE, _begin_return_destage),
    ),
    AbstractAction("destage_return_line", Step.PURGE_RETURN, _destage_for(Step.PURGE_RETURN)),
    AbstractAction("purge_return", Step.PURGE_RETURN, _purge_for(Step.PURGE_RETURN)),
    AbstractAction("return_control", Step.RETURN_CONTROL, return_control),
    AbstractAction("resync_block", Step.RESYNC_DONE, resync_block),
    AbstractAction("resync_done", Step.RESYNC_DONE, resync_done),
)

ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)
INITIAL = "initial"  # the pseudo-action of the obligations "the initial condition implies PART"


def obligations(omit: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Every (action, part) pair the proof discharges, in order: first the initial
    condition, then each action against each part."""
    names = [part.name for part in parts(omit)]
    return [(INITIAL, n) for n in names] + [(a, n) for a in ACTION_NAMES for n in names]


OBLIGATIONS: tuple[tuple[str, str], ...] = tuple(obligations())


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    """What the explicit checker says about a counterexample to induction on a small
    instance of the same size: ``reachable`` (a real bug), ``unreachable on this instance``
    (a missing lemma) or ``unknown`` (the search was cut short)."""

    verdict: str
    properties: tuple[str, ...]  # the model's properties checked for
    scenario: str
    states: int
    seconds: float
    broken: str | None = None  # the property found broken, when reachable
    trace: tuple[str, ...] = ()  # its shortest trace's action labels

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "properties": list(self.properties),
            "scenario": self.scenario,
            "states": self.states,
            "seconds": round(self.seconds, 3),
            "broken": self.broken,
            "trace": list(self.trace),
        }


@dataclass(frozen=True)
class Cti:
    """A counterexample to induction: a state satisfying the invariant from which
    ``action`` leads to a state breaking ``part``."""

    action: str
    part: str
    sizes: dict[str, int]  # sort name -> elements in z3's model
    args: dict[str, str]  # the action's arguments
    before: tuple[str, ...]  # the state table
    after: tuple[str, ...]  # the rows of the table the action changed
    jobs: int  # live jobs
    writes: int  # writes outstanding
    reads: int  # reads in flight
    classification: Classification | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "part": self.part,
            "sizes": dict(self.sizes),
            "args": dict(self.args),
            "before": list(self.before),
            "after": list(self.after),
            "classification": self.classification.to_json() if self.classification else None,
        }


@dataclass(frozen=True)
class Obligation:
    action: str  # an action name, or "initial"
    part: str
    status: str  # "ok", "failed" or "unknown"
    seconds: float
    cti: Cti | None = None
    reason: str | None = None  # z3's reason for "unknown"

    @property
    def line(self) -> str:
        verb = "implies" if self.action == INITIAL else "preserves"
        return f"{self.action} {verb} {self.part} ... {self.status}"

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "part": self.part,
            "status": self.status,
            "seconds": round(self.seconds, 4),
            "reason": self.reason,
            "cti": self.cti.to_json() if self.cti else None,
        }


@dataclass(frozen=True)
class ProofResult:
    protocol: str
    obligations: list[Obligation]
    seconds: float
    omitted: tuple[str, ...] = ()  # lemmas left out of the invariant
    # Actions the variant's order includes that no state satisfying the invariant enables
    # ("initial" if no state satisfies the initial condition): every obligation of such an
    # action holds vacuously, so the proof would say nothing about it.
    vacuous: tuple[str, ...] = ()

    @property
    def proved(self) -> bool:
        """Every obligation discharged (``unknown`` counts as a failure), none vacuously."""
        return bool(self.obligations) and not self.vacuous and all(o.status == "ok" for o in self.obligations)

    @property
    def failures(self) -> list[Obligation]:
        return [o for o in self.obligations if o.status != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "proved": self.proved,
            "seconds": round(self.seconds, 3),
            "omitted": list(self.omitted),
            "parts": [n for n in PART_NAMES if n not in self.omitted],
            "vacuous": list(self.vacuous),
            "obligations": [o.to_json() for o in self.obligations],
        }


# --- the proof ------------------------------------------------------------------------------------


def _verdict(solver: Any) -> str:
    """sat, unsat or unknown: the one place the solver is asked (tests replace it)."""
    return str(solver.check())


def prove(
    protocol: Protocol = CORRECT,
    *,
    classify: bool = False,
    omit: frozenset[str] | set[str] = frozenset(),
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    progress: Callable[[str], None] | None = None,
    max_states: int = CLASSIFY_MAX_STATES,
) -> ProofResult:
    """Discharge every obligation of ``protocol``: the initial condition implies each part
    of the invariant, and each action preserves each part. ``omit`` leaves lemmas out;
    ``classify`` runs the explicit checker on each counterexample to induction."""
    started = time.monotonic()
    omit = frozenset(omit)
    steps = Steps(protocol)
    invariant = parts(omit)
    pre = declare()
    hypothesis = z3.And(*[part.formula(steps, pre) for part in invariant])
    results: list[Obligation] = []

    def record(o: Obligation) -> None:
        if classify and o.cti is not None:
            o = replace(o, cti=replace(o.cti, classification=_classify(o.cti, protocol, max_states)))
        results.append(o)
        if progress is not None:
            progress(o.line)

    vacuous: list[str] = []
    solver = _solver(timeout_ms)
    solver.add(initial(pre))
    if _verdict(solver) != "sat":
        vacuous.append(INITIAL)
    for part in invariant:
        record(_discharge(solver, INITIAL, part, steps, pre, None))
    for action in ACTIONS:
        transition = action.relation(steps, pre)
        solver = _solver(timeout_ms)
        solver.add(hypothesis, *transition.guard)
        if steps.performs(action.step) and not _enabled(solver):
            vacuous.append(action.name)
        for part in invariant:
            record(_discharge(solver, action.name, part, steps, pre, transition))
    seconds = time.monotonic() - started
    return ProofResult(protocol.name, results, seconds, tuple(sorted(omit)), tuple(vacuous))


# The sizes of the small universe where an action is first looked for enabled: a model
# there is a model, and z3 finds it faster than an unbounded one (the pairs' quantifiers
# make unbounded model building slow).
_WITNESS_SIZES = {"controller": 3, "lu": 3, "block": 1, "value": 2, "job": 2, "read": 1, "pair": 1}


def _enabled(solver: Any) -> bool:
    """Whether some state satisfying the hypotheses in ``solver`` enables the action: first
    in a small universe, then, if none is found there, in any."""
    k = sorts()
    solver.push()
    try:
        for name, size in _WITNESS_SIZES.items():
            srt = getattr(k, name)
            elements = _vars(*[srt] * size)
            solver.add(forall([srt], lambda x, es=elements: z3.Or(*[x == e for e in es])))
        if _verdict(solver) == "sat":
            return True
    finally:
        solver.pop()
    return _verdict(solver) == "sat"


def _solver(timeout_ms: int) -> Any:
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    return solver


def _discharge(
    solver: Any,
    action: str,
    part: Part,
    steps: Steps,
    pre: State,
    transition: Transition | None,
) -> Obligation:
    """One query: the hypotheses already in ``solver`` and not ``part`` afterwards."""
    started = time.monotonic()
    after = transition.after if transition is not None else pre
    solver.push()
    try:
        solver.add(z3.Not(part.formula(steps, after)))
        answer = _verdict(solver)
        seconds = time.monotonic() - started  # the query's time, not the shrinking's
        if answer == "unsat":
            return Obligation(action, part.name, "ok", seconds)
        if answer == "sat":
            cti = read_cti(_shrink(solver), action, part.name, pre, transition)
            return Obligation(action, part.name, "failed", seconds, cti)
        return Obligation(action, part.name, "unknown", seconds, reason=str(solver.reason_unknown()))
    finally:
        while solver.num_scopes() > 0:
            solver.pop()


# The sorts in the order a counterexample is made small: fewest LUs and jobs first, so
# the instance the explicit checker replays is small where it costs most.
_SHRINK_ORDER = ("lu", "job", "pair", "read", "block", "controller", "value")


def _shrink(solver: Any) -> Any:
    """Bound each sort's size, smallest first, as long as a counterexample remains, and
    return the last model found: a small counterexample reads better and makes the
    explicit check affordable. Leaves the bounds pushed; the caller pops them."""
    k = sorts()
    model = solver.model()
    for name in _SHRINK_ORDER:
        srt = getattr(k, name)
        universe = model.get_universe(srt)
        size = len(universe) if universe is not None else 1
        for bound in range(1, size + 1):
            solver.push()
            elements = _vars(*[srt] * bound)
            solver.add(forall([srt], lambda x, es=elements: z3.Or(*[x == e for e in es])))
            if bound == size:
                break  # the model in hand has this size: the bound only stops the sort growing
            if _verdict(solver) == "sat":
                model = solver.model()
                break
            solver.pop()  # unsat or unknown: this bound is too tight (or too costly)
    return model


# --- reading a counterexample -------------------------------------------------------------------


class _Reader:
    """Evaluates a state in z3's model and names the universe's elements c0, LU0, b0..."""

    PREFIX: ClassVar[dict[str, str]] = {
        "controller": "c",
        "lu": "LU",
        "block": "b",
        "value": "v",
        "job": "j",
        "read": "r",
        "pair": "p",
    }

    def __init__(self, model: Any) -> None:
        self.model = model
        self.universe: dict[str, list[Term]] = {}
        self.names: dict[str, str] = {}
        k = sorts()
        for name, prefix in self.PREFIX.items():
            elements = model.get_universe(getattr(k, name)) or []
            self.universe[name] = list(elements)
            for i, e in enumerate(elements):
                self.names[str(e)] = f"{prefix}{i}"

    def true(self, term: Term) -> bool:
        return bool(z3.is_true(self.model.eval(term, model_completion=True)))

    def name(self, term: Term) -> str:
        """The short name of a universe element, a step or a place, or of what ``term`` evaluates to."""
        text = str(self.model.eval(term, model_completion=True))
        return self.names.get(text, text)

    def controllers(self, keep: Callable[[Term], Term]) -> str:
        """The controllers for which ``keep`` holds, as ``{c0, c1}``."""
        chosen = [self.names[str(c)] for c in self.universe["controller"] if self.true(keep(c))]
        return "{" + ", ".join(chosen) + "}"

    def table(self, s: State) -> dict[str, str]:
        """The state as rows, one per LU, block, job, line and request: key -> contents."""
        u, n = self.universe, self.name
        rows: dict[str, str] = {}
        for lu in u["lu"]:
            path = n(s.route(lu)) + (" (suspended)" if self.true(s.suspended(lu)) else "")
            tables = " ".join(
                f"{n(c)}:{self.controllers(functools.partial(s.table_current, c, lu))}"
                for c in u["controller"]
            )
            rows[n(lu)] = (
                f"active {self.controllers(_of_lu(s.active, lu))}, "
                f"write-through {self.controllers(_of_lu(s.write_through, lu))}, "
                f"route {path}, {'busy' if self.true(s.busy(lu)) else 'not busy'}, "
                f"disk row {n(s.disk_current(lu))}, tables {tables}"
            )
            for b in u["block"]:
                rows[f"{n(lu)} {n(b)}"] = f"disk {n(s.disk(lu, b))}, acked {n(s.acked(lu, b))}"
        for j in u["job"]:
            if self.true(s.live(j)):
                rows[f"job {n(j)}"] = (
                    f"{n(s.job_lu(j))} {n(s.source(j))}->{n(s.destination(j))}, next step {n(s.phase(j))}"
                )
        for c, lu, b in itertools.product(u["controller"], u["lu"], u["block"]):
            if self.true(s.line(c, lu, b)):
                state = "dirty" if self.true(s.dirty(c, lu, b)) else "clean"
                rows[f"line {n(c)} {n(lu)} {n(b)}"] = f"{n(s.line_value(c, lu, b))} {state}"
        for lu in u["lu"]:
            if self.true(s.w_on(lu)):
                where = self._where(s.w_loc(lu), s.w_at(lu))
                rows[f"write to {n(lu)}"] = f"{n(s.w_block(lu))} := {n(s.w_value(lu))}, {where}"
        for r in u["read"]:
            if self.true(s.r_on(r)):
                rows[f"read {n(r)}"] = (
                    f"{n(s.r_lu(r))} {n(s.r_block(r))}, {self._where(s.r_loc(r), s.r_at(r))}"
                )
        if self.true(s.bad_read):
            rows["bad read"] = "a read returned a value no write had acknowledged or was writing"
        return rows

    def _where(self, loc: Term, c: Term) -> str:
        place = self.name(loc)
        return f"in the inbox of {self.name(c)}" if place == "INBOX" else place


def _of_lu(relation: Fn, lu: Term) -> Callable[[Term], Term]:
    """``relation(c, lu)`` as a function of ``c``."""
    return lambda c: relation(c, lu)


def read_cti(model: Any, action: str, part: str, pre: State, transition: Transition | None) -> Cti:
    """The counterexample in ``model``: the state before as a table, and the rows the
    action changed (starred, as in the explicit checker's traces)."""
    reader = _Reader(model)
    before = reader.table(pre)
    changed: list[str] = []
    args: dict[str, str] = {}
    if transition is not None:
        after = reader.table(transition.after)
        changed = [f"* {key}: {row}" for key, row in after.items() if before.get(key) != row]
        changed += [f"* {key}: gone" for key in before if key not in after]
        args = {name: reader.name(term) for name, term in transition.args.items()}
        if "write" in args:  # a host I/O action: show the case taken and its request only
            write = args.pop("write") == "True"
            args.pop("r" if write else "l")
            args = {"case": "write" if write else "read", **args}
    u = reader.universe
    return Cti(
        action=action,
        part=part,
        sizes={name: len(elements) for name, elements in u.items()},
        args=args,
        before=tuple(f"{key}: {row}" for key, row in before.items()),
        after=tuple(changed),
        jobs=sum(reader.true(pre.live(j)) for j in u["job"]),
        writes=sum(reader.true(pre.w_on(lu)) for lu in u["lu"]),
        reads=sum(reader.true(pre.r_on(r)) for r in u["read"]),
    )


# --- classifying a counterexample by explicit search ----------------------------------------------


def _clamp(n: int, low: int, high: int) -> int:
    return max(low, min(n, high))


def classify(cti: Cti, protocol: Protocol, max_states: int = CLASSIFY_MAX_STATES) -> Classification:
    """Explore a small array of the counterexample's size under the same variant and say
    whether a property the broken part protects fails there. Sizes are capped (3
    controllers, 2 LUs, 2 blocks, 3 take-overs) so the search stays in seconds. A
    counterexample of embodiment 2 (a backup action, or a part protecting a pair property)
    is searched for on the built-in ``fig9`` instead: ``array_scenario`` makes no pairs."""
    wanted = next(p.protects for p in PARTS if p.name == cti.part)
    backup_actions = {a.name for a in ACTIONS if a.step in BACKUP_ORDER or a.step is Step.RESYNC_DONE}
    if cti.action in backup_actions or set(wanted) & set(_PAIR_PROPERTIES):
        scenario = builtin("fig9")
    else:
        scenario = array_scenario(
            controllers=_clamp(cti.sizes.get("controller", 2), 2, 3),
            lus=_clamp(cti.sizes.get("lu", 1), 1, 2),
            blocks=_clamp(cti.sizes.get("block", 1), 1, 2),
            # Two hosts let a write and a read be outstanding at once, as in the abstract state.
            hosts=2 if cti.writes and cti.reads else 1,
            budget=_clamp(cti.jobs + 1, 2, 3),
            writes_per_block=2,
            reads_per_block=1,
        )
    m = Model(scenario, protocol)
    search = explore(
        [m.initial()],
        m.successors,
        invariants=[(prop.name, functools.partial(prop.check, m)) for prop in SAFETY],
        keep_going=True,
        max_states=max_states,
    )
    shortest: dict[str, list[str]] = {}
    for v in search.violations:
        if v.property not in shortest or len(v.trace) - 1 < len(shortest[v.property]):
            shortest[v.property] = [step.label for step in v.trace[1:]]
    found = [name for name in wanted if name in shortest]
    if found:
        trace = shortest[found[0]]
        return Classification(
            "reachable",
            wanted,
            scenario.name,
            search.states,
            search.seconds,
            found[0],
            tuple(trace),
        )
    verdict = "unreachable on this instance" if search.complete else "unknown"
    return Classification(verdict, wanted, scenario.name, search.states, search.seconds)


# --- agreement with the model: its states and steps, written in this vocabulary ----------------


class Image:
    """Finite universes for the worlds of one model: an element per controller, LU, block
    (of the longest LU), value, LU (its one job) and host (its read). Asserting a world's
    image pins every symbol of a state, so z3 can say whether the invariant holds there, or
    whether an abstract step joins two worlds."""

    def __init__(self, m: Model) -> None:
        if m.protocol.concurrent_same_lu:
            raise ValueError("one job element per LU: concurrent-same-lu can have more")
        k = sorts()
        s = m.scenario
        self.m = m
        values = max(s.writes_per_block, 0) + 1

        def elements(srt: Term, n: int, prefix: str) -> list[Term]:
            return [z3.Const(f"{prefix}!{i}", srt) for i in range(n)]

        self.c = elements(k.controller, s.controllers, "c")
        self.lu = elements(k.lu, m.lus, "l")
        self.b = elements(k.block, max(m.blocks), "b")
        self.v = elements(k.value, values, "v")
        self.j = elements(k.job, m.lus, "j")
        self.r = elements(k.read, max(len(s.hosts), 1), "r")
        self.p = elements(k.pair, len(s.pairs), "p")  # none without pairs: pair formulas hold vacuously
        self.elements: dict[str, list[Term]] = {}
        self.distinct: list[Term] = []
        for srt, es in (
            (k.controller, self.c),
            (k.lu, self.lu),
            (k.block, self.b),
            (k.value, self.v),
            (k.job, self.j),
            (k.read, self.r),
            (k.pair, self.p),
        ):
            self.elements[str(srt)] = es
            if len(es) > 1:
                self.distinct.append(z3.Distinct(*es))
        self.steps = Steps(m.protocol)
        self.pre = declare()
        self._transitions: dict[str, tuple[Transition, list[Term]]] = {}
        self._invariant: dict[str, Term] | None = None

    @contextlib.contextmanager
    def ground(self) -> Iterator[None]:
        """Formulas built inside quantify over this universe only, written out."""
        token = _finite.set(self.elements)
        try:
            yield
        finally:
            _finite.reset(token)

    def invariant(self) -> dict[str, Term]:
        """Each part of the invariant, written out over the universe (built once: building
        formulas costs more than z3's answer)."""
        if self._invariant is None:
            with self.ground():
                self._invariant = {part.name: part.formula(self.steps, self.pre) for part in PARTS}
        return self._invariant

    def transition(self, action: str) -> tuple[Transition, list[Term]]:
        """The abstract action, written out, and formulas making its arguments elements."""
        if action not in self._transitions:
            relation = next(a.relation for a in ACTIONS if a.name == action)
            with self.ground():
                transition = relation(self.steps, self.pre)
            # An argument of a sort without elements (a pair, in an array without pairs) is
            # left free: the guards then make its choice harmless (no mirroring, say).
            choices = [
                z3.Or(*[arg == e for e in self.elements[str(arg.sort())]])
                for arg in transition.args.values()
                if self.elements.get(str(arg.sort()))
            ]
            self._transitions[action] = (transition, choices)
        return self._transitions[action]

    def pin(self, w: World, s: State) -> list[Term]:
        """Formulas saying that state ``s`` is the image of world ``w``."""
        m, k, c, lu, b, v = self.m, sorts(), self.c, self.lu, self.b, self.v
        out: list[Term] = []
        for ci, ctl in enumerate(w.controllers):
            lines = {(x.lu, x.block): x for x in ctl.cache}
            for li in range(m.lus):
                out.append(s.active(c[ci], lu[li]) == (li in ctl.active))
                out.append(s.write_through(c[ci], lu[li]) == (li in ctl.write_through))
                for xi in range(len(c)):
                    out.append(s.table_current(c[ci], lu[li], c[xi]) == (ctl.table[li].current == xi))
                for bi in range(len(b)):
                    x = lines.get((li, bi))
                    out.append(s.line(c[ci], lu[li], b[bi]) == (x is not None))
                    out.append(s.dirty(c[ci], lu[li], b[bi]) == (x is not None and x.dirty))
                    if x is not None:
                        out.append(s.line_value(c[ci], lu[li], b[bi]) == v[x.value])
        for li in range(m.lus):
            for bi in range(len(b)):
                inside = bi < m.blocks[li]  # blocks past an LU's end read 0 and never change
                out.append(s.disk(lu[li], b[bi]) == v[w.disk.blocks[li][bi] if inside else 0])
                out.append(s.acked(lu[li], b[bi]) == v[w.ghost.acked[li][bi] if inside else 0])
            out.append(s.route(lu[li]) == c[w.paths[li].route])
            out.append(s.suspended(lu[li]) == w.paths[li].suspended)
            out.append(s.disk_current(lu[li]) == c[w.disk.table[li].current])
            out.append(s.disk_default(lu[li]) == c[w.disk.table[li].default])
            pair = m.pair_of[li]
            out.append(s.mirror(lu[li]) == (pair is not None and m.scenario.pairs[pair].secondary == li))
            jobs = [job for job in w.jobs if job.lu == li]
            out.append(s.busy(lu[li]) == bool(jobs))
            out.append(s.live(self.j[li]) == bool(jobs))
            for job in jobs:
                out += [
                    s.job_lu(self.j[li]) == lu[li],
                    s.backup(self.j[li]) == job.backup,
                    s.source(self.j[li]) == c[job.source],
                    s.destination(self.j[li]) == c[job.destination],
                    s.phase(self.j[li]) == k.step[m.order_of(job)[job.done]],
                ]
            writer = m.writer[li]
            request = w.hosts[writer] if writer is not None else None
            writing = request is not None and request.op is Op.WRITE and request.lu == li
            out.append(s.w_on(lu[li]) == writing)
            if request is not None and writing:
                out += [s.w_block(lu[li]) == b[request.block], s.w_value(lu[li]) == v[request.value]]
                out += self._place(s.w_loc(lu[li]), s.w_at(lu[li]), request.at)
        for pi, spec in enumerate(m.scenario.pairs):
            pair_w, q = w.pairs[pi], self.p[pi]
            out += [
                s.primary(q) == lu[spec.primary],
                s.secondary(q) == lu[spec.secondary],
                s.pstate(q) == k.pair_state[pair_w.state],
                s.cycled(q) == bool(pair_w.snapshot),
            ]
            if pair_w.home:
                out += [s.home_default(q) == c[pair_w.home[0]], s.home_current(q) == c[pair_w.home[1]]]
            for bi in range(len(b)):
                out.append(s.diff(q, b[bi]) == (bi in pair_w.diff))
                out.append(s.tape_has(q, b[bi]) == (bi < len(pair_w.tape)))
                if bi < len(pair_w.tape):
                    out.append(s.tape(q, b[bi]) == v[pair_w.tape[bi]])
                if bi < len(pair_w.snapshot):
                    out.append(s.snapshot(q, b[bi]) == v[pair_w.snapshot[bi]])
        for h, request in enumerate(w.hosts):
            reading = request is not None and request.op is Op.READ
            out.append(s.r_on(self.r[h]) == reading)
            if request is not None and reading:
                out += [s.r_lu(self.r[h]) == lu[request.lu], s.r_block(self.r[h]) == b[request.block]]
                out += self._place(s.r_loc(self.r[h]), s.r_at(self.r[h]), request.at)
        out.append(s.bad_read == bool(w.ghost.bad_read))
        return out

    def _place(self, loc: Term, at_c: Term, where: int) -> list[Term]:
        k = sorts()
        if where >= 0:
            return [loc == k.where["INBOX"], at_c == self.c[where]]
        return [loc == k.where[Where(where).name]]


def broken_in(image: Image, w: World) -> list[str]:
    """The parts of the invariant false in the image of world ``w`` (none, if the lemmas
    are true of the model's reachable states, as a proof of them says)."""
    solver = _solver(DEFAULT_TIMEOUT_MS)
    solver.add(*image.distinct, *image.pin(w, image.pre))
    formulas = image.invariant()
    if _verdict_of(solver, z3.Not(z3.And(*formulas.values()))) == "unsat":
        return []  # one query for the usual case; part by part only to name what broke
    return [name for name, f in formulas.items() if _verdict_of(solver, z3.Not(f)) != "unsat"]


def simulates(image: Image, w: World, action: str, after: World) -> bool:
    """Whether the abstract action of that name leads from the image of ``w`` to the image
    of ``after``, for some choice of its arguments: every step of the model is a step here."""
    transition, choices = image.transition(action)
    solver = _solver(DEFAULT_TIMEOUT_MS)
    solver.add(*image.distinct, *choices, *transition.guard, *image.pin(w, image.pre))
    solver.add(*image.pin(after, transition.after))
    return _verdict(solver) == "sat"


def _verdict_of(solver: Any, query: Term) -> str:
    solver.push()
    try:
        solver.add(query)
        return _verdict(solver)
    finally:
        solver.pop()


# --- printing ------------------------------------------------------------------------------------


def format_cti(cti: Cti) -> str:
    sizes = ", ".join(f"{n} {name}" for name, n in cti.sizes.items())
    args = " ".join(f"{k}={v}" for k, v in cti.args.items())
    verb = "implies" if cti.action == INITIAL else "preserves"
    lines = [
        f"counterexample to induction: {cti.action} {verb} {cti.part}",
        f"  universe: {sizes}",
        "  before:",
        *[f"    {i}. {row}" for i, row in enumerate(cti.before, 1)],
    ]
    if cti.action != INITIAL:
        lines += [f"  {cti.action} {args}".rstrip() + ", changing:", *[f"    {row}" for row in cti.after]]
    where = "in this initial state" if cti.action == INITIAL else "after it"
    part = next(p for p in PARTS if p.name == cti.part)
    lines.append(f"  {where}, {part.kind} {part.name} is false: {part.claim}")
    c = cti.classification
    if c is not None:
        checked = ", ".join(c.properties)
        searched = f"{c.scenario} ({c.states} states, {c.seconds:.1f} s)"
        lines.append(f"  explicit search on {searched} for {checked}:")
        if c.verdict == "reachable":
            lines.append(f"    reachable: {c.broken} breaks after {len(c.trace)} steps:")
            lines += [f"      {i}. {label}" for i, label in enumerate(c.trace, 1)]
        elif c.verdict == "unknown":
            lines.append("    unknown: the search was cut short")
        else:
            lines.append(
                "    unreachable on this instance: those properties hold in every state; the "
                "invariant lacks a lemma that rules the state out (or a lemma claims more "
                "than the protocol keeps)"
            )
    return "\n".join(lines)


def format_proof(result: ProofResult) -> str:
    """Every obligation's line, each counterexample's table, and a verdict."""
    lines = [o.line for o in result.obligations]
    for o in result.failures:
        if o.cti is not None:
            lines += ["", format_cti(o.cti)]
        elif o.reason is not None:
            lines += ["", f"{o.line}: z3 gave no answer ({o.reason})"]
    if result.vacuous:
        lines += ["", f"no state satisfying the invariant was found to enable: {', '.join(result.vacuous)}"]
    ok = sum(o.status == "ok" for o in result.obligations)
    if result.proved:
        verdict = "proved"
    elif result.failures:
        verdict = f"NOT proved: {len(result.failures)} obligation(s) failed"
    else:
        verdict = "NOT proved: vacuous"
    omitted = f", without {', '.join(result.omitted)}" if result.omitted else ""
    lines += [
        "",
        f"{result.protocol}{omitted}: {ok}/{len(result.obligations)} obligations ok in "
        f"{result.seconds:.1f} s: {verdict}",
    ]
    return "\n".join(lines)


def failing(result: ProofResult) -> dict[str, list[str]]:
    """action -> parts it failed to preserve (initial included), in obligation order."""
    out: dict[str, list[str]] = {}
    for o in result.failures:
        out.setdefault(o.action, []).append(o.part)
    return out


def lemma_needs(protocol: Protocol = CORRECT) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """For each lemma, the obligations that fail when it alone is left out."""
    for name in LEMMA_NAMES:
        result = prove(protocol, omit=frozenset({name}))
        yield name, [(o.action, o.part) for o in result.failures]


_classify = classify  # prove's parameter of the same name hides the function inside it
