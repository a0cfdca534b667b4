"""The abstract protocol's steps: its initial condition (Fig. 4A / 5A, and 9A for the pairs)
and each action of ``model/actions.py`` written again, with the same name, as a guard and an
effect on the state (``ACTIONS``). ``INITIAL`` names the initial condition where an
obligation names its action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import z3

from model.protocol import BACKUP_ORDER, CORRECT, Step
from model.state import PairState
from proofs.induction.formulas import Steps, admissible, at, exists, forall, mirror_write_of, visible
from proofs.induction.invariant import _is, _pairs_well_formed, _real
from proofs.induction.signature import Fn, State, Term, sorts


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
            [c, lu, b],
            lambda c1, l1, b1: z3.And(
                z3.Not(s.line(c1, l1, b1)), z3.Not(s.dirty(c1, l1, b1)), z3.Not(s.destaging(c1, l1, b1))
            ),
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
        # default controller the backup controller (not its current one), no cycle yet, no
        # mirror write under way.
        _pairs_well_formed(Steps(CORRECT), s),
        forall(
            [k.pair],
            lambda p1: z3.Implies(
                _real(s, p1),
                z3.And(
                    _is(s, p1, PairState.PAIRED),
                    z3.Not(s.cycled(p1)),
                    z3.Not(s.mw_on(p1)),
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


def _write_waits(s: State, c: Term, lu: Term, b: Term) -> Term:
    """A write of block ``b`` by ``c`` must wait: it goes to disk (write-through) while c's
    de-stage of the block is under way (model.actions._write_waits)."""
    return z3.And(s.write_through(c, lu), s.destaging(c, lu, b))


def _write_block(p: Steps, s: State, when: Term, c: Term, lu: Term, b: Term, x: Term) -> State:
    """If ``when``: controller ``c`` writes ``x`` to block ``b`` of ``lu``, through to disk
    (dropping its line; literal_write_through: keeping a clean line of ``x``) when
    write-through, else into a dirty line (model.actions._write_block). Callers first
    wait for a de-stage of the block under way there (``_write_waits``)."""
    wt = s.write_through(c, lu)
    keeps = z3.BoolVal(True) if p.protocol.literal_write_through else z3.Not(wt)

    def here(c1: Term, l1: Term, b1: Term) -> Term:
        return z3.And(when, c1 == c, l1 == lu, b1 == b)

    return replace(
        s,
        disk=lambda l1, b1: z3.If(z3.And(when, wt, l1 == lu, b1 == b), x, s.disk(l1, b1)),
        line=lambda c1, l1, b1: z3.If(here(c1, l1, b1), keeps, s.line(c1, l1, b1)),
        dirty=lambda c1, l1, b1: z3.If(here(c1, l1, b1), z3.Not(wt), s.dirty(c1, l1, b1)),
        line_value=lambda c1, l1, b1: z3.If(here(c1, l1, b1), x, s.line_value(c1, l1, b1)),
    )


def _fill(p: Steps, s: State, c: Term, lu: Term, b: Term) -> State:
    """A read of block ``b`` through ``c`` that misses fills a clean line from disk, unless
    ``c`` writes the LU through (literal_write_through: regardless)."""
    fill = z3.Not(s.line(c, lu, b))
    if not p.protocol.literal_write_through:
        fill = z3.And(fill, z3.Not(s.write_through(c, lu)))

    def filled(c1: Term, l1: Term, b1: Term) -> Term:
        return z3.And(fill, c1 == c, l1 == lu, b1 == b)

    return replace(
        s,
        line=lambda c1, l1, b1: z3.Or(filled(c1, l1, b1), s.line(c1, l1, b1)),
        dirty=lambda c1, l1, b1: z3.And(z3.Not(filled(c1, l1, b1)), s.dirty(c1, l1, b1)),
        line_value=lambda c1, l1, b1: z3.If(filled(c1, l1, b1), s.disk(lu, b), s.line_value(c1, l1, b1)),
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
    into a dirty line, and waits while it would go to disk during a de-stage of its block
    there; a write of a paired primary is handed to the secondary's controller in charge
    (``mirror_write`` performs it) and its reply waits at MIRRORING. A read returns the
    line, else the disk, filling a clean line when the controller is not write-through and
    has none."""
    k = sorts()

    def write(lu: Term) -> Transition:
        c, b, x = s.w_at(lu), s.w_block(lu), s.w_value(lu)
        after = _write_block(p, s, z3.BoolVal(True), c, lu, b, x)
        # Embodiment 2 (model.actions._mirror): q is lu's pair if lu is a primary; o is
        # the secondary's controller in charge, if it has one.
        q, o, owned = _const("q", k.pair), _const("o", k.controller), z3.Bool("process_owned")
        sec = s.secondary(q)
        is_primary = z3.And(_real(s, q), s.primary(q) == lu)
        paired = _is(s, q, PairState.PAIRED)
        mirrored = z3.And(is_primary, paired, owned)
        track = z3.And(is_primary, z3.Not(paired))

        def handed(f: Fn, value: Term) -> Fn:
            return lambda p1: z3.If(z3.And(mirrored, p1 == q), value, f(p1))

        after = replace(
            after,
            diff=lambda p1, b1: z3.Or(z3.And(track, p1 == q, b1 == b), s.diff(p1, b1)),
            mw_on=handed(s.mw_on, z3.BoolVal(True)),
            mw_block=handed(s.mw_block, b),
            mw_value=handed(s.mw_value, x),
            mw_at=handed(s.mw_at, o),
            w_loc=at(s.w_loc, (lu,), z3.If(mirrored, k.where["MIRRORING"], k.where["REPLIED"])),
        )
        guard = [
            s.w_on(lu),
            s.w_loc(lu) == k.where["INBOX"],
            z3.Or(is_primary, forall([k.pair], lambda p1: z3.Implies(_real(s, p1), s.primary(p1) != lu))),
            *_owner_of(s, sec, o, owned),
            z3.Not(_write_waits(s, c, lu, b)),
        ]
        return Transition(guard, after, {"l": lu, "q": q, "o": o})

    def read(r: Term) -> Transition:
        c, lu, b = s.r_at(r), s.r_lu(r), s.r_block(r)
        value = visible(s, c, lu, b)
        after = replace(
            _fill(p, s, c, lu, b),
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


def _start_destage(s: State, c: Term, lu: Term, b: Term) -> tuple[list[Term], State]:
    """Controller ``c`` issues the disk write of its dirty line of block ``b``, if no
    de-stage of the block is under way there; the line stays dirty until ``destage_done``
    (model.actions._start_destage). The guard and the state after."""
    guard = [s.line(c, lu, b), s.dirty(c, lu, b), z3.Not(s.destaging(c, lu, b))]
    after = replace(
        s,
        destaging=at(s.destaging, (c, lu, b), z3.BoolVal(True)),
        destage_value=at(s.destage_value, (c, lu, b), s.line_value(c, lu, b)),
    )
    return guard, after


def _no_destage_of(s: State, c: Term, lu: Term) -> Term:
    """No de-stage of ``lu`` is under way at ``c``: what a purge waits for."""
    return forall([sorts().block], lambda b: z3.Not(s.destaging(c, lu, b)))


def background_destage(p: Steps, s: State) -> Transition:
    """A controller starts de-staging a dirty line of an LU it does not write through, on
    its own (scenarios with background_destage; the proof allows it always, so it covers
    scenarios with and without)."""
    k = sorts()
    c, lu, b = _const("c", k.controller), _const("l", k.lu), _const("b", k.block)
    guard, after = _start_destage(s, c, lu, b)
    return Transition([z3.Not(s.write_through(c, lu)), *guard], after, {"c": c, "l": lu, "b": b})


def destage_done(p: Steps, s: State) -> Transition:
    """A de-stage's disk write is done: the block holds the value written, and the line is
    clean if it still holds that value (destage_clean_unconditionally: whatever it holds)."""
    k = sorts()
    c, lu, b = _const("c", k.controller), _const("l", k.lu), _const("b", k.block)
    written = s.destage_value(c, lu, b)
    unchanged = s.line_value(c, lu, b) == written
    if p.protocol.destage_clean_unconditionally:
        unchanged = z3.BoolVal(True)
    cleaned = z3.And(s.line(c, lu, b), unchanged)
    after = replace(
        s,
        disk=at(s.disk, (lu, b), written),
        destaging=at(s.destaging, (c, lu, b), z3.BoolVal(False)),
        dirty=at(s.dirty, (c, lu, b), z3.And(s.dirty(c, lu, b), z3.Not(cleaned))),
    )
    return Transition([s.destaging(c, lu, b)], after, {"c": c, "l": lu, "b": b})


def destage_line(p: Steps, s: State) -> Transition:
    """804: the source starts writing one dirty line of the LU to disk (``destage_done``
    finishes it); the job stays at its purge step."""
    k = sorts()
    job = _job(p, s, Step.PURGE)
    b = _const("b", k.block)
    guard, after = _start_destage(s, job.source, job.lu, b)
    return Transition([*job.guard, *guard], after, {**job.args, "b": b})


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
    """804: with no dirty line of the LU left and every de-stage of it done, the source
    removes all its lines of the LU."""
    k = sorts()
    job = _job(p, s, Step.PURGE)
    no_dirty = forall(
        [k.block], lambda b: z3.Not(z3.And(s.line(job.source, job.lu, b), s.dirty(job.source, job.lu, b)))
    )
    job.guard += [no_dirty, _no_destage_of(s, job.source, job.lu)]
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
        guard, after = _start_destage(s, _holder(job, step), job.lu, b)
        return Transition([*job.guard, *guard], after, {**job.args, "b": b})

    action.__doc__ = f"{step.number}: one dirty line of the secondary starts going to disk."
    return action


def _purge_for(step: Step) -> Callable[[Steps, State], Transition]:
    def action(p: Steps, s: State) -> Transition:
        k = sorts()
        job = _job(p, s, step)
        c, lu = _holder(job, step), job.lu
        job.guard.append(forall([k.block], lambda b: z3.Not(z3.And(s.line(c, lu, b), s.dirty(c, lu, b)))))
        job.guard.append(_no_destage_of(s, c, lu))

        def mine(c1: Term, l1: Term) -> Term:
            return z3.And(c1 == c, l1 == lu)

        after = replace(
            s,
            line=lambda c1, l1, b: z3.And(z3.Not(mine(c1, l1)), s.line(c1, l1, b)),
            dirty=lambda c1, l1, b: z3.And(z3.Not(mine(c1, l1)), s.dirty(c1, l1, b)),
        )
        return _advance(p, s, job, step, after)

    action.__doc__ = (
        f"{step.number}: with nothing dirty left and every de-stage done, the secondary's lines are removed."
    )
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


def _no_mirror_pending(s: State, c: Term, lu: Term) -> Term:
    """``c`` has no mirror write of ``lu`` (a secondary) left to perform
    (model.actions._mirror_pending): what 904 and 909 wait for."""
    return forall(
        [sorts().pair],
        lambda p1: z3.Not(z3.And(_real(s, p1), s.secondary(p1) == lu, s.mw_on(p1), s.mw_at(p1) == c)),
    )


def hand_over(p: Steps, s: State) -> Transition:
    """904: the source, its inbox drained and its mirror writes of the secondary performed,
    notifies completion; the backup controller takes control."""
    job = _job(p, s, Step.HAND_OVER)
    job.guard.extend(_drained(s, job.source, job.lu))
    job.guard.append(_no_mirror_pending(s, job.source, job.lu))
    return _advance(p, s, job, Step.HAND_OVER, _pass_control(s, job.lu, job.source, job.destination))


def backup_block(p: Steps, s: State) -> Transition:
    """905: the backup host reads a block of the secondary through the backup controller,
    in charge of it, and writes it to tape (any block: the model's order is dropped). The
    read goes through that controller's cache as any read does: a miss fills a line."""
    k = sorts()
    job = _job(p, s, Step.BACKUP_DONE)
    b, q = _const("b", k.block), _const("q", k.pair)
    job.guard += [_real(s, q), s.secondary(q) == job.lu, s.active(job.destination, job.lu)]
    after = replace(
        _fill(p, s, job.destination, job.lu, b),
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
    """907: current := the default number (home), default := the backup controller
    (stale_diff_copy: and the pair's difference information is cleared)."""
    after = _migrate(s, job.lu, s.disk_default(job.lu), job.destination)
    if not p.protocol.stale_diff_copy:
        return after

    def diff(p1: Term, b1: Term) -> Term:
        of_job = z3.And(_real(s, p1), s.secondary(p1) == job.lu)
        return z3.And(z3.Not(of_job), s.diff(p1, b1))

    return replace(after, diff=diff)


def _begin_return_destage(p: Steps, s: State, job: _Job) -> State:
    """908: the backup controller makes the secondary's writes write-through."""
    return replace(s, write_through=at(s.write_through, (job.destination, job.lu), z3.BoolVal(True)))


def return_control(p: Steps, s: State) -> Transition:
    """909: the backup controller, its inbox drained and its mirror writes of the secondary
    performed, passes control to the controller the row now names as current; the cycle is
    over."""
    job = _job(p, s, Step.RETURN_CONTROL)
    job.guard.extend(_drained(s, job.destination, job.lu))
    job.guard.append(_no_mirror_pending(s, job.destination, job.lu))
    home = s.disk_current(job.lu)
    return _advance(p, s, job, Step.RETURN_CONTROL, _pass_control(s, job.lu, job.destination, home))


def mirror_write(p: Steps, s: State) -> Transition:
    """The secondary's controller performs the mirror write it was handed (in its cache, or
    on disk while write-through there, waiting as a host write does for a de-stage of the
    block), even if the pair was split since; then the primary's writer gets its reply."""
    k = sorts()
    q = _const("q", k.pair)
    c, sec, b = s.mw_at(q), s.secondary(q), s.mw_block(q)
    guard = [_real(s, q), s.mw_on(q), z3.Not(_write_waits(s, c, sec, b))]
    after = _write_block(p, s, z3.BoolVal(True), c, sec, b, s.mw_value(q))
    after = replace(
        after,
        mw_on=at(s.mw_on, (q,), z3.BoolVal(False)),
        w_loc=at(s.w_loc, (s.primary(q),), k.where["REPLIED"]),
    )
    return Transition(guard, after, {"q": q})


def _resyncing(s: State, q: Term) -> list[Term]:
    return [_real(s, q), _is(s, q, PairState.RESYNCING), z3.Not(s.busy(s.secondary(q)))]


def resync_block(p: Steps, s: State) -> Transition:
    """906: a block the difference information names is copied from the primary (through
    its controller in charge) to the secondary (through its), waiting while that write
    would go to disk during a de-stage of the block there."""
    k = sorts()
    q, b = _const("q", k.pair), _const("b", k.block)
    o1, owned1 = _const("o", k.controller), z3.Bool("resync_primary_owned")
    o2, owned2 = _const("o2", k.controller), z3.Bool("resync_secondary_owned")
    pri, sec = s.primary(q), s.secondary(q)
    guard = [
        *_resyncing(s, q),
        s.diff(q, b),
        *_owner_of(s, pri, o1, owned1),
        *_owner_of(s, sec, o2, owned2),
        z3.Not(z3.And(owned2, _write_waits(s, o2, sec, b))),
    ]
    after = _write_block(p, s, owned2, o2, sec, b, _seen(s, pri, b, o1, owned1))
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


# --- a crash of the whole array, and recovery -----------------------------------------------


def crash_recover(p: Steps, s: State) -> Transition:
    """The whole array crashes and recovers (model.actions.crash_recover): a frame in an
    inbox goes back to its host to be sent again, a write waiting for its mirror write is
    answered; every LU a job moves goes where the job takes it (a
    take-over's destination) or returns (a backup cycle's source); each controller is in
    charge of exactly the LUs whose row names it and keeps only their lines, the others'
    dirty lines de-staged (``recover_without_destage``: dropped); a mirror write under way,
    and an abandoned backup, put the pair to re-synchronize. Two choice functions stand for
    the model's loops: ``jobof`` names a live job of each busy LU, ``destager`` the
    controller whose dirty line of a block recovery writes (any, where several could)."""
    k = sorts()
    jobof = z3.Function("crash_jobof", k.lu, k.job)
    destager = z3.Function("crash_destager", k.lu, k.block, k.controller)
    off = z3.BoolVal(False)

    def new_current(lu: Term) -> Term:
        j = jobof(lu)
        return z3.If(s.busy(lu), z3.If(s.backup(j), s.source(j), s.destination(j)), s.disk_current(lu))

    def new_default(lu: Term) -> Term:
        return z3.If(s.busy(lu), s.destination(jobof(lu)), s.disk_default(lu))

    def written(lu: Term, b: Term) -> Term:
        c = destager(lu, b)
        if p.protocol.recover_without_destage:
            return off
        return z3.And(c != new_current(lu), s.line(c, lu, b), s.dirty(c, lu, b))

    guard = [
        forall(
            [k.lu], lambda lu: z3.Implies(s.busy(lu), z3.And(s.live(jobof(lu)), s.job_lu(jobof(lu)) == lu))
        ),
        forall(
            [k.controller, k.lu, k.block],
            lambda c, lu, b: z3.Implies(
                z3.And(c != new_current(lu), s.line(c, lu, b), s.dirty(c, lu, b)),
                z3.And(
                    destager(lu, b) != new_current(lu),
                    s.line(destager(lu, b), lu, b),
                    s.dirty(destager(lu, b), lu, b),
                ),
            ),
        ),
    ]

    def abandoned(pr: Term) -> Term:
        lu = s.secondary(pr)
        return z3.And(_real(s, pr), s.busy(lu), s.backup(jobof(lu)))

    def resyncs(pr: Term) -> Term:
        return z3.Or(abandoned(pr), z3.And(_real(s, pr), s.mw_on(pr)))

    path, inbox, mirroring, replied = (k.where[x] for x in ("PATH", "INBOX", "MIRRORING", "REPLIED"))
    after = replace(
        s,
        active=lambda c, lu: c == new_current(lu),
        write_through=lambda c, lu: off,
        line=lambda c, lu, b: z3.And(s.line(c, lu, b), c == new_current(lu)),
        dirty=lambda c, lu, b: z3.And(s.dirty(c, lu, b), c == new_current(lu)),
        destaging=lambda c, lu, b: off,
        disk=lambda lu, b: z3.If(written(lu, b), s.line_value(destager(lu, b), lu, b), s.disk(lu, b)),
        route=new_current,
        suspended=lambda lu: off,
        disk_current=new_current,
        disk_default=new_default,
        table_current=lambda c, lu, x: x == new_current(lu),
        w_loc=lambda lu: z3.If(
            s.w_loc(lu) == mirroring, replied, z3.If(s.w_loc(lu) == inbox, path, s.w_loc(lu))
        ),
        r_loc=lambda r: z3.If(s.r_loc(r) == inbox, path, s.r_loc(r)),
        live=lambda j: off,
        busy=lambda lu: off,
        pstate=lambda pr: z3.If(resyncs(pr), k.pair_state[PairState.RESYNCING], s.pstate(pr)),
        diff=lambda pr, b: z3.Or(s.diff(pr, b), z3.And(_real(s, pr), mirror_write_of(s, pr, b))),
        tape_has=lambda pr, b: z3.And(s.tape_has(pr, b), z3.Not(abandoned(pr))),
        cycled=lambda pr: z3.And(s.cycled(pr), z3.Not(abandoned(pr))),
        mw_on=lambda pr: off,
    )
    return Transition(guard, after, {})


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
    AbstractAction("background_destage", None, background_destage),
    AbstractAction("destage_done", None, destage_done),
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
    AbstractAction("mirror_write", None, mirror_write),
    AbstractAction("resync_block", Step.RESYNC_DONE, resync_block),
    AbstractAction("resync_done", Step.RESYNC_DONE, resync_done),
    AbstractAction("crash_recover", None, crash_recover),
)

ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)
INITIAL = "initial"  # the pseudo-action of the obligations "the initial condition implies PART"
