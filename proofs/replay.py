"""Replaying a run given as action labels, and writing it out as a pytest test.

A counterexample found by any engine is, in the end, a list of action labels from the
initial state. Replaying it re-derives every state from the model, so a saved run stays
honest: if the model changes and an action is no longer enabled, the replay says so.
"""

from __future__ import annotations

from invariants import obligations
from invariants.safety import first_broken
from invariants.witnesses import describe_obligation, liveness_of
from model.actions import ACTIONS, Model
from model.state import World
from proofs.explicit import Counterexample, Step

# What may run at the end of a run to let it settle: everything but starting new work (the
# rest of a scripted scenario's script is not new work: the operator has already asked for it).
FINISHING = frozenset(a.name for a in ACTIONS) - {"send_write", "send_read", "designate"}


class ReplayError(ValueError):
    """A label that names no action enabled in the state reached so far."""


def replay(model: Model, labels: list[str]) -> list[Step[World]]:
    """The run taking the labelled actions in order from the initial state."""
    w = model.initial()
    trace = [Step("initial", w)]
    for i, label in enumerate(labels, start=1):
        t = model.transition_labelled(w, label)
        if t is None:
            enabled = ", ".join(t.label(w) for t in model.transitions(w)) or "nothing"
            raise ReplayError(f"step {i}: {label!r} is not enabled; enabled: {enabled}")
        w = t.after
        trace.append(Step(label, w))
    return trace


def first_violation(model: Model, trace: list[Step[World]]) -> Counterexample[World] | None:
    """The first state of ``trace`` breaking a safety property, as a counterexample."""
    for n, step in enumerate(trace):
        broken = first_broken(model, step.state)
        if broken is not None:
            return Counterexample(broken[0], "safety", broken[1], trace[: n + 1])
    return None


def stuck(model: Model, w: World) -> bool:
    """Nothing under way can make progress: no finishing action is enabled."""
    return next(model.transitions(w, FINISHING), None) is None


def check_run(model: Model, trace: list[Step[World]]) -> Counterexample[World] | None:
    """The first safety violation along ``trace``; else, if the run ends settled (nothing
    under way can move) with an obligation pending, that liveness violation."""
    found = first_violation(model, trace)
    if found is not None:
        return found
    last = trace[-1].state
    pending = obligations(model, last)
    if pending and stuck(model, last):
        key = min(pending, key=repr)
        message = f"{describe_obligation(key)}, even once everything under way has finished"
        return Counterexample(liveness_of(key).name, "deadlock", message, trace, None, key)
    return None


def pytest_program(scenario_source: str, variant: str, v: Counterexample[World], name: str) -> str:
    """A self-contained pytest test that replays ``v`` and checks it still breaks its property.

    ``scenario_source`` is a Python expression building the scenario, for instance
    ``builtin("three-way")`` or ``array_scenario(8, 32, blocks=2)``.
    """
    labels = "".join(f"        {step.label!r},\n" for step in v.trace[1:])
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
