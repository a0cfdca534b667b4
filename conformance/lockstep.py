"""The model and the array, side by side, one step at a time.

Before every step the set of steps the array offers must equal the set the model enables
(so missing behaviour is caught, not only wrong behaviour); a step is then chosen among
them, taken by both, and the abstraction of the array's state must equal the model's
state after it. The first difference stops the run as a ``Divergence``."""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.abstraction import AbstractionError, abstract, differences
from conformance.labels import event_of, label_of
from conformance.setup import array_of
from model.actions import Model
from model.labels import Label
from model.protocol import CORRECT, Protocol
from model.scenario import Scenario
from model.state import World
from reference_impl.array import NotOffered
from reference_impl.simulator import Simulation


@dataclass
class Divergence:
    """Where the array first did something the model does not (or failed to)."""

    step: int  # steps both took before it
    # "offers", "state", "error" (the array failed to take a step both offered), or
    # "program" (a replayed program's next step is offered by neither)
    kind: str
    what: str  # one sentence
    details: list[str] = field(default_factory=list)  # the differing fields or labels
    label: Label | None = None  # the step being taken, for "state" and "error"

    def __str__(self) -> str:
        head = f"after {self.step} steps: {self.what}"
        return "\n".join([head, *(f"  {d}" for d in self.details)])


class Lockstep:
    def __init__(
        self,
        scenario: Scenario,
        protocol: Protocol = CORRECT,
        bugs: frozenset[str] = frozenset(),
        block_size: int = 512,
        directory: str | None = None,
    ) -> None:
        self.model = Model(scenario, protocol)
        self.world: World = self.model.initial()
        config, workload = array_of(scenario, block_size)
        self.sim = Simulation(config, workload, bugs, directory)
        self.taken: list[Label] = []

    def enabled(self) -> list[Label]:
        """The model's enabled steps, sorted."""
        return sorted({t.label(self.world) for t in self.model.transitions(self.world)})

    def offered(self) -> list[Label]:
        """The array's offered steps, as labels, sorted."""
        return sorted(label_of(e) for e in self.sim.offers())

    def compare_offers(self) -> tuple[list[Label], Divergence | None]:
        """The steps both can take next, or how the two sets differ (each step the array
        offers against the model given with the model's own reason for refusing it)."""
        model, array = self.enabled(), self.offered()
        if model == array:
            return model, None
        details = [
            f"the model enables {label}; the array does not offer it" for label in model if label not in array
        ]
        details += [
            f"the array offers {label}; the model refuses it: {self.model.why_not(self.world, label)}"
            for label in array
            if label not in model
        ]
        what = "the array and the model disagree on what can happen next"
        return model, Divergence(len(self.taken), "offers", what, details)

    def compare_state(self, label: Label | None) -> Divergence | None:
        try:
            seen = abstract(self.sim, self.world)
        except AbstractionError as e:
            return Divergence(
                len(self.taken), "state", f"the array's state has no model counterpart: {e}", label=label
            )
        if seen == self.world:
            return None
        what = "the array's state differs from the model's" + (
            f" after {label}" if label else " at the start"
        )
        return Divergence(len(self.taken), "state", what, differences(self.world, seen), label)

    def take(self, label: Label) -> Divergence | None:
        """Take ``label`` in both (it is enabled in both) and compare the states."""
        transition = self.model.transition_labelled(self.world, label)
        assert transition is not None, f"{label} is enabled in the model"
        try:
            self.sim.perform(event_of(label))
        except (NotOffered, ValueError, KeyError, AssertionError) as e:
            return Divergence(
                len(self.taken), "error", f"the array failed to take {label}: {e!r}", label=label
            )
        self.world = transition.after
        self.taken.append(label)
        return self.compare_state(label)

    def start(self) -> Divergence | None:
        return self.compare_state(None)
