"""The proof itself: the obligations (the initial condition and each action against each part
of the invariant), one z3 query each (``prove``; ``unknown`` is a failure), their results
(``Obligation``, ``ProofResult``) and the proof's report (``format_proof``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import z3

from model.protocol import CORRECT, Protocol
from proofs.induction.actions import ACTION_NAMES, ACTIONS, INITIAL, Transition, initial
from proofs.induction.cti import CLASSIFY_MAX_STATES, Cti, classify, format_cti, read_cti
from proofs.induction.formulas import Steps, _vars, forall
from proofs.induction.invariant import LEMMA_NAMES, PART_NAMES, Part, parts
from proofs.induction.signature import State, declare, sorts

DEFAULT_TIMEOUT_MS = 10_000  # per query; z3 answers each of the correct protocol's in milliseconds


def obligations(omit: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Every (action, part) pair the proof discharges, in order: first the initial
    condition, then each action against each part."""
    names = [part.name for part in parts(omit)]
    return [(INITIAL, n) for n in names] + [(a, n) for a in ACTION_NAMES for n in names]


OBLIGATIONS: tuple[tuple[str, str], ...] = tuple(obligations())


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
    def verdict(self) -> str:
        return "proved" if self.proved else "not proved"

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
