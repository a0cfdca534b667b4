"""The project's trace format: a run of the model as labelled states, and a counterexample.

Every engine reports in these types (the explicit checker, the Hypothesis machine, BMC, the
induction's CTI search), and every output reads them (reports, ITF, diagrams, replay tests):
a run is the same thing whichever engine found it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from model.labels import INITIAL, Label
from model.state import World


@dataclass(frozen=True)
class Step:
    """One step of a run: the label of the action taken and the state after it (the first
    step of a run is its initial state, labelled ``INITIAL``)."""

    label: Label
    state: World


def run_of(states: list[World], labels: list[Label]) -> list[Step]:
    """The run through ``states``, ``labels[i]`` leading from ``states[i]`` to the next."""
    return [Step(INITIAL, states[0]), *(Step(label, s) for label, s in zip(labels, states[1:], strict=True))]


@dataclass
class Counterexample:
    """A run that breaks a property: a safety property in its last state, or a liveness
    property by stopping (``deadlock``) or looping fairly (``cycle``) with an obligation
    of it still pending."""

    property: str  # the property's name, safety or liveness
    kind: str  # "safety", "deadlock" or "cycle"
    message: str  # why it fails, one sentence
    trace: list[Step]  # trace[0] is the initial state
    loop_start: int | None = None  # for a cycle: the index of the state the run returns to
    obligation: Hashable = None  # for liveness: the obligation left pending

    def labels(self) -> list[Label]:
        """The run's action labels, without the initial state's."""
        return [step.label for step in self.trace[1:]]
