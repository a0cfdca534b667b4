"""Replaying a run given as action labels, and writing it out as a pytest test.

A counterexample found by any engine is, in the end, a list of action labels from the
initial state. Replaying it re-derives every state from the model, so a saved run stays
honest: if the model changes and an action is no longer enabled, the replay says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from invariants import obligations
from invariants.safety import first_broken
from invariants.witnesses import describe_obligation, liveness_of
from model.actions import ACTIONS, Model
from model.labels import INITIAL, Label, LabelError
from model.state import World
from proofs.trace import Counterexample, Step

# What may run at the end of a run to let it settle: everything but starting new work (the
# rest of a scripted scenario's script is not new work: the operator has already asked for it).
FINISHING = frozenset(a.name for a in ACTIONS) - {"send_write", "send_read", "designate"}


class ReplayError(ValueError):
    """A label that names no action enabled in the state reached so far."""


def replay(model: Model, labels: Sequence[Label | str]) -> list[Step]:
    """The run taking the labelled actions in order from the initial state; a label may be
    given as its text (a saved run, a test)."""
    w = model.initial()
    trace = [Step(INITIAL, w)]
    for i, given in enumerate(labels, start=1):
        try:
            label = given if isinstance(given, Label) else Label.parse(given)
        except LabelError as e:
            raise ReplayError(f"step {i}: {e}") from None
        t = model.transition_labelled(w, label)
        if t is None:
            enabled = ", ".join(str(t.label(w)) for t in model.transitions(w)) or "nothing"
            why = model.why_not(w, label)
            raise ReplayError(f"step {i}: '{label}' is not enabled ({why}); enabled: {enabled}")
        w = t.after
        trace.append(Step(label, w))
    return trace


def first_violation(model: Model, trace: list[Step]) -> Counterexample | None:
    """The first state of ``trace`` breaking a safety property, as a counterexample."""
    for n, step in enumerate(trace):
        broken = first_broken(model, step.state)
        if broken is not None:
            return Counterexample(broken[0], "safety", broken[1], trace[: n + 1])
    return None


def stuck(model: Model, w: World) -> bool:
    """Nothing under way can make progress: no finishing action is enabled."""
    return next(model.transitions(w, FINISHING), None) is None


def check_run(model: Model, trace: list[Step]) -> Counterexample | None:
    """The first safety violation along ``trace``; else, if the run ends settled (nothing
    under way can move) with an obligation pending, that liveness violation."""
    found = first_violation(model, trace)
    if found is not None:
        return found
    return settled_pending(model, trace)


def settled_pending(model: Model, trace: list[Step]) -> Counterexample | None:
    """The liveness violation of a run that ends settled with an obligation pending."""
    last = trace[-1].state
    pending = obligations(model, last)
    if pending and stuck(model, last):
        key = min(pending, key=repr)
        message = f"{describe_obligation(key)}, even once everything under way has finished"
        return Counterexample(liveness_of(key).name, "deadlock", message, trace, None, key)
    return None


# --- minimising a failing run by replay ----------------------------------------------------

MAX_REPLAYS = 3_000  # a few seconds at most on a 4-controller, 16-LU array (tens of µs a step)


@dataclass
class Minimised:
    """A failing run after minimisation, and what it cost."""

    failure: Counterexample
    before: int  # steps of the run it started from
    replays: int  # candidate runs replayed
    complete: bool  # a fixed point: no chunk can be dropped and no renaming helps


@dataclass
class _Budget:
    """Replays left, and a progress line every 2 s once the work has lasted 2 s."""

    left: int
    start: int  # steps of the run minimisation started from
    progress: Callable[[str], None] | None
    used: int = 0
    next_report: float = field(default_factory=lambda: time.monotonic() + 2.0)

    def spend(self, best: Counterexample) -> None:
        self.used += 1
        self.left -= 1
        if self.progress is not None and time.monotonic() >= self.next_report:
            self.next_report = time.monotonic() + 2.0
            self.progress(
                f"minimising by replay: {self.used:,} replays, {self.start} -> {len(best.trace) - 1} steps"
            )


def minimise(
    model: Model,
    v: Counterexample,
    *,
    max_replays: int = MAX_REPLAYS,
    progress: Callable[[str], None] | None = None,
) -> Minimised:
    """Drop steps from ``v`` while what remains is a run of the model breaking the same property.

    Delta debugging on the list of labels: chunks of half the run, a quarter, ..., one step
    are dropped in turn; later steps that are then not enabled are skipped, and a candidate
    is kept when the first violation along it is ``v``'s property (of the same kind). Passes
    repeat until none drops anything. Then each LU named in the run is renamed to every
    other LU (a take-over of another LU may need fewer steps: Step 801 moves an LU only if
    the LUN map stays without gaps), and a renamed run that replays and breaks the property
    is minimised in turn, kept if shorter. At most ``max_replays`` candidates are replayed.

    Hypothesis shrinks the choices behind a run, and often cannot drop a step without
    disturbing later choices; the labels can, so this gets much closer to the shortest.
    """
    budget = _Budget(max_replays, len(v.trace) - 1, progress)
    best = _drop_chunks(model, v, budget)
    while budget.left > 0:
        renamed = _shorter_renamed(model, best, budget)
        if renamed is None:
            break
        best = renamed
    return Minimised(best, len(v.trace) - 1, budget.used, budget.left > 0)


def _drop_chunks(model: Model, v: Counterexample, budget: _Budget) -> Counterexample:
    best, changed = v, True
    while changed and budget.left > 0:
        changed = False
        size = max((len(best.trace) - 1) // 2, 1)
        while size >= 1 and budget.left > 0:
            i = 0  # drop steps i+1 .. i+size of the trace
            while i + size <= len(best.trace) - 1 and budget.left > 0:
                labels = [s.label for s in best.trace[i + size + 1 :]]
                found = _replay_from(model, best.trace[: i + 1], labels, best)
                budget.spend(best)
                if found is not None:
                    best, changed = found, True  # the same i now names the next chunk
                else:
                    i += size
            size //= 2
    return best


def _shorter_renamed(model: Model, v: Counterexample, budget: _Budget) -> Counterexample | None:
    """A run shorter than ``v`` got by renaming one of its LUs and minimising, or None."""
    labels = v.labels()
    named = sorted({lu for label in labels for lu in label.lus})
    for a in named:
        for b in range(model.lus):
            if b == a or budget.left <= 0:
                continue
            swapped = [label.with_lus_swapped(a, b) for label in labels]
            found = _replay_from(model, v.trace[:1], swapped, v)
            budget.spend(v)
            if found is not None:
                shorter = _drop_chunks(model, found, budget)
                if len(shorter.trace) < len(v.trace):
                    return shorter
    return None


def _replay_from(
    model: Model, prefix: list[Step], labels: list[Label], v: Counterexample
) -> Counterexample | None:
    """``prefix`` followed by ``labels``, skipping a label not enabled when its turn comes,
    if that breaks ``v``'s property (a safety violation cuts the run there).

    The states of ``prefix`` are taken as breaking nothing: it is a prefix of a run whose
    first violation is its last state, or just the initial state."""
    trace = list(prefix)
    w = trace[-1].state
    for label in labels:
        t = model.transition_labelled(w, label)
        if t is None:
            # Not enabled here (the deliver of a dropped send, say): skip it. What is taken
            # is still a run of the model, only shorter.
            continue
        w = t.after
        trace.append(Step(label, w))
        broken = first_broken(model, w)
        if broken is not None:
            if (broken[0], "safety") != (v.property, v.kind):
                return None
            return Counterexample(broken[0], "safety", broken[1], trace)
    if v.kind == "safety":
        return None  # the violation needed a dropped step
    found = settled_pending(model, trace)
    return found if found is not None and found.property == v.property else None


def pytest_program(scenario_source: str, variant: str, v: Counterexample, name: str) -> str:
    """A self-contained pytest test that replays ``v`` and checks it still breaks its property.

    ``scenario_source`` is a Python expression building the scenario, for instance
    ``builtin("three-way")`` or ``array_scenario(8, 32, blocks=2)``.
    """
    labels = "".join(f"        {str(label)!r},\n" for label in v.labels())
    return f'''"""Replays a counterexample: {v.property} broken by variant {variant}."""

from model.actions import Model
from model.generate import array_scenario  # noqa: F401
from model.protocol import variant
from model.scenario import builtin, load  # noqa: F401
from proofs.replay import check_run, replay


def test_{name}() -> None:
    model = Model({scenario_source}, variant({variant!r}))
    labels = [
{labels}    ]
    found = check_run(model, replay(model, labels))
    assert found is not None and found.property == {v.property!r}, found
    assert len(found.trace) - 1 == {len(v.trace) - 1}
'''
