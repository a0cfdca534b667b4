"""`lutakeover check`: the model, its properties and the explicit checker, put together.

This is the one place that binds the generic engine to the disk-array model: it turns
properties over (model, state) into the engine's predicates over states, picks the
symmetry reduction the scenario allows, and turns the engine's records into the project's
counterexamples (``proofs.trace``) and a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from invariants import SAFETY, WITNESSES, obligations
from invariants.witnesses import describe_obligation, liveness_of, untested_properties
from model.actions import Model
from model.labels import Label
from model.scenario import Scenario
from model.sharing import Sharing
from model.state import World
from model.symmetry import MAX_GROUP, canonicalizer, group_size, lazy_renamers, renamings_per_state
from proofs.explicit import Search, Violation, explore
from proofs.trace import Counterexample, run_of

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
# Every engine's verdict and the exit code it means, in one place: a vacuous run fails like a
# violation (it proves nothing), and an undecided one is incomplete, never a pass.
EXIT_CODES = {
    "ok": EXIT_OK,
    "proved": EXIT_OK,
    "violated": EXIT_VIOLATED,
    "vacuous": EXIT_VIOLATED,
    "not proved": EXIT_VIOLATED,
    "incomplete": EXIT_INCOMPLETE,
    "unknown": EXIT_INCOMPLETE,  # bmc: z3 could not decide a depth in time
}


def exit_code(verdict: str) -> int:
    """The exit code of a verdict of check, simulate, bmc or prove."""
    return EXIT_CODES[verdict]


AUTO_SYMMETRY_LIMIT = 24


@dataclass
class Check:
    """A finished run of the explicit checker on one scenario and variant."""

    model: Model
    search: Search[World]
    symmetry: int  # size of the symmetry group used (1: no reduction)
    witnesses: dict[str, int | None]  # applicable witnesses -> depth reached, None if never
    keep_going: bool = False
    symmetries: int = 1  # size of the scenario's symmetry group, used or not (0: too many to count)
    untested: dict[str, str] = field(default_factory=dict)  # vacuous properties -> why
    counterexamples: list[Counterexample] = field(default_factory=list)  # in the order found
    # With the per-LU product (proofs/product.py): each LU's own space, in states; the
    # search's states are then the product's, counted, not visited one by one.
    lu_spaces: list[int] | None = None
    # With the composed search (proofs/composed.py): how many records of each group of LUs
    # it met, and the groups (LUs tied by a host or a pair share a record); every state was
    # still searched.
    lu_records: list[int] | None = None
    lu_groups: list[list[int]] | None = None

    @property
    def verdict(self) -> str:
        if self.counterexamples:
            return "violated"
        if not self.search.complete:
            return "incomplete"
        if any(depth is None for depth in self.witnesses.values()):
            return "vacuous"  # a witness was never reached: the model forbids too much
        return "ok"

    @property
    def exit_code(self) -> int:
        return exit_code(self.verdict)

    def status(self, name: str, kind: str) -> bool | None:
        """True: holds (checked everywhere); False: violated; None: not known, because the
        search was cut short (state limit, or it stopped at another property's violation)."""
        if name in {v.property for v in self.counterexamples}:
            return False
        if kind == "safety":
            safety = [v for v in self.counterexamples if v.kind == "safety"]
            finished = self.search.complete and (self.keep_going or not safety)
        else:
            live = [v for v in self.counterexamples if v.kind != "safety"]
            finished = self.search.liveness_checked and (self.keep_going or not live)
        return True if finished else None

    def shortest(self) -> dict[str, Counterexample]:
        """The shortest counterexample of each broken property, in the order found."""
        best: dict[str, Counterexample] = {}
        for v in self.counterexamples:
            if v.property not in best or len(v.trace) < len(best[v.property].trace):
                best[v.property] = v
        return best


def counterexample(v: Violation[World]) -> Counterexample:
    """The engine's record of a violation as the project's counterexample: a liveness one
    named by its property, and its sentence read off the obligation left pending."""
    trace = run_of(v.states, [cast(Label, label) for label in v.labels])
    if v.invariant is not None:
        return Counterexample(v.invariant, v.kind, v.message, trace)
    where = "the run stops" if v.kind == "deadlock" else "the run can loop forever, fairly"
    message = f"{describe_obligation(v.obligation)}: {where}"
    name = liveness_of(v.obligation).name
    return Counterexample(name, v.kind, message, trace, v.loop_start, v.obligation)


def run_check(
    model: Model,
    *,
    symmetry: bool | None = None,
    max_states: int | None = None,
    keep_going: bool = False,
    liveness: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Check:
    """Explore every state of ``model``. ``symmetry`` None (the default) reduces by the
    scenario's symmetries (the renamings that fix its initial state: only they merge states
    it reaches, ``model.symmetry``) where that pays (``symmetry_pays``). Liveness holds on
    the reduced search as on the full one: its cycles are judged on the concrete states
    behind them (``proofs.liveness``)."""
    scenario = model.scenario
    size = group_size(scenario)
    if symmetry is None:
        symmetry = symmetry_pays(scenario, size)
    canonical = canonicalizer(scenario) if symmetry else None
    # Liveness renames a few states (a run to a dead end) by the group's elements one by one.
    renames = lazy_renamers(scenario) if canonical is not None and liveness else []
    applicable = [w for w in WITNESSES if w.applies(model)]
    search = explore(
        [model.initial()],
        model.successors,
        invariants=[(p.name, bind(p.check, model)) for p in SAFETY],
        witnesses=[(w.name, bind_witness(w.reached, model)) for w in applicable],
        obligations=(lambda w: obligations(model, w)) if liveness else None,
        canonical=canonical,
        renamings=renames,
        max_states=max_states,
        keep_going=keep_going,
        progress=progress,
        share=Sharing(),
    )
    return Check(
        model,
        search,
        size if canonical is not None else 1,
        dict(search.witnesses),
        keep_going,
        size,
        untested_properties(model),
        [counterexample(v) for v in search.violations],
    )


def symmetry_pays(scenario: Scenario, size: int) -> bool:
    """Whether reducing by the scenario's ``size`` symmetries pays: there are some, few
    enough to list (liveness renames by them one by one), and a state is renamed at most
    ``AUTO_SYMMETRY_LIMIT`` times (free controllers are sorted, not tried in every order),
    so the renaming costs less than the states it saves."""
    return 1 < size <= MAX_GROUP and renamings_per_state(scenario, size) <= AUTO_SYMMETRY_LIMIT


def bind(check: Callable[[Model, World], str | None], model: Model) -> Callable[[World], str | None]:
    return lambda w: check(model, w)


def bind_witness(
    reached: Callable[[Model, World, Label, World], bool], model: Model
) -> Callable[[World, Label, World], bool]:
    return lambda before, label, after: reached(model, before, label, after)
