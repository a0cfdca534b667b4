"""Agreement with the model: a concrete ``World`` written in the proof's vocabulary over
finite universes (``Image``), so that z3 can say whether the invariant holds in a world the
model reaches (``broken_in``) and whether a step of the model is a step of the abstract
action of the same name (``simulates``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import z3

from model.actions import Model
from model.state import Op, Request, Where, World, in_inbox
from proofs.induction.actions import ACTIONS, Transition
from proofs.induction.formulas import Steps, _finite
from proofs.induction.invariant import PARTS
from proofs.induction.prover import DEFAULT_TIMEOUT_MS, _solver, _verdict
from proofs.induction.signature import State, Term, declare, sorts


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
            destages = {(d.lu, d.block): d for d in ctl.destaging}
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
                    d = destages.get((li, bi))
                    out.append(s.destaging(c[ci], lu[li], b[bi]) == (d is not None))
                    if d is not None:
                        out.append(s.destage_value(c[ci], lu[li], b[bi]) == v[d.value])
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
                out += self._place(s.w_loc(lu[li]), s.w_at(lu[li]), request)
        for pi, spec in enumerate(m.scenario.pairs):
            pair_w, q = w.pairs[pi], self.p[pi]
            out += [
                s.primary(q) == lu[spec.primary],
                s.secondary(q) == lu[spec.secondary],
                s.pstate(q) == k.pair_state[pair_w.state],
                s.cycled(q) == bool(pair_w.snapshot),
            ]
            home = pair_w.home
            if home is not None:
                out += [s.home_default(q) == c[home.default], s.home_current(q) == c[home.current]]
            mirror = pair_w.mirror
            out.append(s.mw_on(q) == (mirror is not None))
            if mirror is not None:
                out += [
                    s.mw_block(q) == b[mirror.block],
                    s.mw_value(q) == v[mirror.value],
                    s.mw_at(q) == c[mirror.controller],
                ]
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
                out += self._place(s.r_loc(self.r[h]), s.r_at(self.r[h]), request)
        out.append(s.bad_read == (w.ghost.bad_read is not None))
        # Ghost.designated has no image: what rows_follow_designation asks of the controller
        # at rest is the lemma owner_at_rest over the row itself, and addresses are abstracted.
        return out

    def _place(self, loc: Term, at_c: Term, request: Request) -> list[Term]:
        k = sorts()
        if in_inbox(request):
            return [loc == k.where["INBOX"], at_c == self.c[request.at]]
        return [loc == k.where[Where(request.at).name]]


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
