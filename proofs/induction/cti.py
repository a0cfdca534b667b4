"""Counterexamples to induction: reading one out of z3's model as a state table
(``read_cti``), classifying it by explicit search on a small instance of the same size
(``classify``: a real bug, or a lemma missing), and printing it (``format_cti``)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import z3

from invariants.safety import SAFETY
from model.actions import Model
from model.generate import array_scenario
from model.protocol import BACKUP_ORDER, Protocol, Step
from model.scenario import builtin
from proofs.explicit import explore
from proofs.induction.actions import ACTIONS, INITIAL, Transition
from proofs.induction.invariant import _PAIR_PROPERTIES, PARTS
from proofs.induction.signature import Fn, State, Term, sorts

# Explicit states per classification: about 25 s at most. fig9 with background de-stage and a
# crash, where a crash_recover counterexample of a pair's part is searched for, has 210,960.
CLASSIFY_MAX_STATES = 250_000


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
    destages: int  # de-stages under way
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
        for c, lu, b in itertools.product(u["controller"], u["lu"], u["block"]):
            if self.true(s.destaging(c, lu, b)):
                rows[f"destage {n(c)} {n(lu)} {n(b)}"] = f"writing {n(s.destage_value(c, lu, b))} to disk"
        for pr in u["pair"]:
            if self.true(s.mw_on(pr)) and not self.true(s.primary(pr) == s.secondary(pr)):
                rows[f"mirror write of {n(pr)}"] = (
                    f"{n(s.secondary(pr))} {n(s.mw_block(pr))} := {n(s.mw_value(pr))}, by {n(s.mw_at(pr))}"
                )
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
        destages=sum(
            reader.true(pre.destaging(c, lu, b))
            for c, lu, b in itertools.product(u["controller"], u["lu"], u["block"])
        ),
    )


# --- classifying a counterexample by explicit search ----------------------------------------------


def _clamp(n: int, low: int, high: int) -> int:
    return max(low, min(n, high))


def classify(cti: Cti, protocol: Protocol, max_states: int = CLASSIFY_MAX_STATES) -> Classification:
    """Explore a small array of the counterexample's size under the same variant and say
    whether a property the broken part protects fails there. Sizes are capped (3
    controllers, 2 LUs, 2 blocks, 3 take-overs) so the search stays in seconds. A
    counterexample of embodiment 2 (a backup action or the mirror write, or a part
    protecting a pair property) is searched for on the built-in ``fig9`` instead:
    ``array_scenario`` makes no pairs. When it involves a de-stage (one under way, or
    ``background_destage`` starting one) the instance's controllers also de-stage in the
    background, as the abstract ones always may: only then can a host write overtake a
    de-stage. For a counterexample of ``crash_recover`` the instance may crash once."""
    wanted = next(p.protects for p in PARTS if p.name == cti.part)
    # The mirror write belongs to no step, but only an array with pairs takes it.
    backup_actions = {a.name for a in ACTIONS if a.step in BACKUP_ORDER or a.step is Step.RESYNC_DONE}
    backup_actions.add("mirror_write")
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
    if cti.destages or cti.action == "background_destage":
        scenario = dataclasses.replace(
            scenario, name=f"{scenario.name}+background-destage", background_destage=True
        )
    if cti.action == "crash_recover":  # the instance's array may crash, as the abstract one may
        scenario = dataclasses.replace(scenario, name=f"{scenario.name}+crash", crashes=1)
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
        name = v.invariant
        if name is not None and (name not in shortest or len(v.labels) < len(shortest[name])):
            shortest[name] = [str(label) for label in v.labels]
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
