"""Small formula builders over the signature: quantifiers (written out over a finite universe
while one is given, see ``Image.ground``), a function changed at one point, what a block
shows (``visible``, ``admissible``, ``expected``), and a protocol variant's step order as
formulas over a job's next step (``Steps``)."""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Callable, Sequence

import z3

from model.protocol import BACKUP_ORDER, Protocol, Step
from proofs.induction.signature import Fn, State, Term, sorts

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
    """The one value the block must show: the write already performed (replied, or waiting
    for its mirror write; not yet acknowledged) if there is one, else the last acknowledged
    write."""
    where = sorts().where
    loc = s.w_loc(lu)
    performed = z3.And(
        s.w_on(lu), z3.Or(loc == where["REPLIED"], loc == where["MIRRORING"]), s.w_block(lu) == b
    )
    return z3.If(performed, s.w_value(lu), s.acked(lu, b))


def mirror_write_of(s: State, pr: Term, b: Term) -> Term:
    """Pair ``pr`` has a mirror write of block ``b`` under way."""
    return z3.And(s.mw_on(pr), s.mw_block(pr) == b)


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
