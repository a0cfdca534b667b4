"""The invariant: the safety properties of ``invariants/safety.py`` and the lemmas that make
them inductive (``PARTS``), each a ``Part`` with its claim and, for a lemma, why the protocol
keeps it and which of the model's properties a counterexample to it threatens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import z3

from model.protocol import Step
from model.state import PairState
from proofs.induction.formulas import Steps, admissible, exists, expected, forall, mirror_write_of, visible
from proofs.induction.signature import State, Term, sorts


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


def _destage_has_dirty_line(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.controller, k.lu, k.block],
        lambda c, lu, b: z3.Implies(s.destaging(c, lu, b), z3.And(s.line(c, lu, b), s.dirty(c, lu, b))),
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


def mirror_shows(s: State, pr: Term, b: Term, x: Term) -> Term:
    """Pair ``pr``'s secondary shows ``x`` in block ``b`` (``seen_is``), counting a mirror
    write of the block under way as done: the writer's reply waits for it, and nothing
    else writes the block meanwhile (``model.invariants.safety._mirror_differences``)."""
    return z3.If(mirror_write_of(s, pr, b), s.mw_value(pr) == x, seen_is(s, s.secondary(pr), b, x))


def mirror_equal(s: State, pr: Term, b: Term) -> Term:
    """Pair ``pr``'s primary and secondary show one value in block ``b`` (``seen_equal``),
    counting a mirror write of the block under way as done."""
    return z3.If(
        mirror_write_of(s, pr, b),
        seen_is(s, s.primary(pr), b, s.mw_value(pr)),
        seen_equal(s, s.primary(pr), s.secondary(pr), b),
    )


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
            mirror_equal(s, pr, b),
        ),
    )


def _resync_restores_mirror(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair, k.block],
        lambda pr, b: z3.Implies(
            z3.And(_real(s, pr), _is(s, pr, PairState.PAIRED)),
            mirror_equal(s, pr, b),
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
            mirror_shows(s, pr, b, s.snapshot(pr, b)),
        ),
    )


def _mirror_is_expected(p: Steps, s: State) -> Term:
    k = sorts()
    return forall(
        [k.pair, k.block],
        lambda pr, b: z3.Implies(
            z3.And(_real(s, pr), z3.Or(_is(s, pr, PairState.PAIRED), z3.Not(s.diff(pr, b)))),
            mirror_shows(s, pr, b, expected(s, s.primary(pr), b)),
        ),
    )


def _mirror_write_waits_for_writer(p: Steps, s: State) -> Term:
    k = sorts()

    def body(pr: Term) -> Term:
        lu = s.primary(pr)
        waiting = z3.And(s.w_on(lu), s.w_loc(lu) == k.where["MIRRORING"])
        same = z3.And(s.w_block(lu) == s.mw_block(pr), s.w_value(lu) == s.mw_value(pr))
        return z3.Implies(_real(s, pr), z3.And(s.mw_on(pr) == waiting, z3.Implies(s.mw_on(pr), same)))

    return forall([k.pair], body)


def _mirror_write_at_holder(p: Steps, s: State) -> Term:
    k = sorts()

    def pair(pr: Term) -> Term:
        return z3.Implies(z3.And(_real(s, pr), s.mw_on(pr)), s.active(s.mw_at(pr), s.secondary(pr)))

    def cycle(j: Term, pr: Term) -> Term:
        return z3.Implies(z3.And(_of_pair(s, j, pr), s.mw_on(pr)), z3.Not(p.done(s, j, Step.HAND_OVER)))

    return z3.And(forall([k.pair], pair), forall([k.job, k.pair], cycle))


def _write_through_until_hand_over(p: Steps, s: State) -> Term:
    def body(j: Term) -> Term:
        window = z3.And(p.done(s, j, Step.BEGIN_BACKUP_DESTAGE), z3.Not(p.done(s, j, Step.HAND_OVER)))
        return z3.Implies(z3.And(_backup_job(s, j), window), s.write_through(s.source(j), s.job_lu(j)))

    return forall([sorts().job], body)


def _secondary_default_elsewhere(p: Steps, s: State) -> Term:
    def body(pr: Term) -> Term:
        lu = s.secondary(pr)
        return z3.Implies(z3.And(_real(s, pr), z3.Not(s.busy(lu))), s.disk_default(lu) != s.disk_current(lu))

    return forall([sorts().pair], body)


def _split_has_job(p: Steps, s: State) -> Term:
    return forall(
        [sorts().pair],
        lambda pr: z3.Implies(z3.And(_real(s, pr), _is(s, pr, PairState.SPLIT)), s.busy(s.secondary(pr))),
    )


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
        "destage_has_dirty_line",
        "A de-stage under way at a controller is of a dirty line that controller holds.",
        "A de-stage starts only from a dirty line, and until it is done the line stays: a "
        "write-back write keeps it dirty, a write-through write waits for the de-stage, a read "
        "hits it, and a purge waits for every de-stage of the LU; only the de-stage's end "
        "may clean it.",
        _ALL_DATA,
        _destage_has_dirty_line,
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
        "through a cache: hosts never do, the pair is not paired (no new mirror write), "
        "re-synchronization waits for the job's end, and a mirror write handed over before "
        "the split goes to disk after 903 and is done before 904.",
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
        "While a pair is split its secondary shows, block for block, the primary's image at the "
        "split, a mirror write under way counting as done.",
        "At the split the paired secondary so counted equals the primary (mirror_is_expected), "
        "whose image the snapshot records; while split nothing else writes the secondary, and "
        "903's de-stage and purge and 904's change of control keep what it shows.",
        ("backup_is_point_in_time",),
        _secondary_holds_snapshot,
    ),
    _lemma(
        "mirror_is_expected",
        "A paired secondary, and a split one outside the difference information, shows the "
        "value its primary is expected to show (visible_is_expected), a mirror write under "
        "way counting as done.",
        "A write performed on a paired primary is handed to the secondary's controller in the "
        "same step, with its block and value; on a split or re-synchronizing one it is "
        "recorded in the difference information; "
        "re-synchronization copies the primary's block before clearing its bit, and pairs "
        "again only once no bit is left.",
        ("mirror_differs_only_where_tracked", "resync_restores_mirror"),
        _mirror_is_expected,
    ),
    _lemma(
        "mirror_write_waits_for_writer",
        "A pair has a mirror write under way exactly while its primary's write waits at "
        "MIRRORING, and it writes that write's block and value.",
        "process hands a write of a paired primary over and parks the request at MIRRORING "
        "in one step; mirror_write performs it and replies in one step; a host has one "
        "request at a time, so no other write of the primary comes meanwhile.",
        ("mirror_differs_only_where_tracked", "resync_restores_mirror", *_ALL_DATA),
        _mirror_write_waits_for_writer,
    ),
    _lemma(
        "mirror_write_at_holder",
        "A mirror write under way was handed to the controller in charge of the secondary, "
        "and a backup cycle of the pair has not passed 904.",
        "process hands it to the secondary's controller in charge, only while the pair is "
        "paired, so before any cycle of it; only 904 and 909 change who is in charge, and "
        "both wait for that controller's mirror writes.",
        ("no_stale_cache", *_PAIR_PROPERTIES),
        _mirror_write_at_holder,
    ),
    _lemma(
        "write_through_until_hand_over",
        "Between 903 and 904 the source writes the secondary through to disk.",
        "903 turns write-through on at the source and only 904 turns it off; a mirror write "
        "performed after 903's purge therefore leaves no line behind.",
        ("no_stale_cache", *_PAIR_PROPERTIES),
        _write_through_until_hand_over,
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
    _lemma(
        "split_has_job",
        "A split pair's secondary is being moved by its backup cycle.",
        "Step 901 splits the pair and starts the cycle at once; the cycle asks for the "
        "re-synchronization (906) before it ends, and a crash abandons both together.",
        _PAIR_PROPERTIES,
        _split_has_job,
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
