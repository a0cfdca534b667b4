"""Hypothesis stateful exploration: random deep runs of arrays too large to exhaust.

``machine_for`` builds a ``RuleBasedStateMachine`` over the model. Its rules never invent
arguments: they draw from the transitions the model says are *enabled* (blind rules with
random arguments miss deep bugs). Every safety property is checked after every transition.

To get deep runs out of Hypothesis's budget of about a thousand rule calls, the choice is
biased three ways:
- weights: host I/O against take-over steps (``Weights``);
- swarm: each run switches some things off from the start (host I/O to some LUs, reads,
  some controllers as destinations), so different runs stress different corners;
- macro-steps: a whole take-over, or a burst of host I/O, in one rule call.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from invariants import WITNESSES
from invariants.safety import first_broken
from model.actions import ACTIONS, Model, Transition
from model.labels import INITIAL
from proofs.replay import FINISHING, check_run
from proofs.trace import Counterexample, Step

HOST_IO = frozenset({"send_write", "send_read", "deliver", "process", "complete", "retry"})
DESIGNATIONS = frozenset({"designate", "designate_batch"})
JOB_STEPS = frozenset(a.name for a in ACTIONS if a.per_job is not None)
DRAIN_STEPS = 10_000


@dataclass(frozen=True)
class Weights:
    """How often a single step picks host I/O rather than a take-over step."""

    host_io: int = 3
    takeover: int = 1


@dataclass
class Tally:
    """What all runs of one machine class did: for progress, statistics and reports.

    A run is counted when it ends: ``runs`` are the runs Hypothesis counts towards its
    ``max_examples`` (and the failing one). Those it abandons part-way, because they made
    more random choices than it allowed them, are counted apart (``abandoned``), as are the
    runs it makes after the first failure to shrink that run (``shrink_runs``); neither
    changes any other count, so ``rule_calls``, ``steps``, ``deepest`` and ``witnesses``
    describe the counted runs alone."""

    runs: int = 0
    rule_calls: int = 0  # calls of step, whole_takeover and io_burst (not the swarm choice)
    most_rule_calls: int = 0  # in one run
    steps: int = 0  # transitions, the settling ones at the end of a run included
    deepest: int = 0  # transitions of the longest run
    abandoned: int = 0
    shrink_runs: int = 0
    witnesses: dict[str, int | None] = field(default_factory=dict)
    first_failure: Counterexample | None = None  # the failing run the search found
    failed_at: float | None = None  # time.monotonic() when it failed
    failure: Counterexample | None = None  # the last failing run (after shrinking)
    on_run: Callable[[Tally], None] | None = None  # called after every rule call
    current: Run | None = None  # the run under way, for progress on arrays slow to step

    @property
    def searching(self) -> bool:
        return self.first_failure is None

    def fail(self, failure: Counterexample) -> None:
        if self.first_failure is None:
            self.first_failure, self.failed_at = failure, time.monotonic()
        self.failure = failure

    def count(self, run: Run) -> None:
        """Add up a run that has ended."""
        if not run.searching:
            self.shrink_runs += 1
        elif run.abandoned:
            self.abandoned += 1
        else:
            self.runs += 1
            self.rule_calls += run.rule_calls
            self.most_rule_calls = max(self.most_rule_calls, run.rule_calls)
            self.steps += run.transitions
            self.deepest = max(self.deepest, run.transitions)
            for name, depth in run.reached.items():
                if self.witnesses.get(name) is None:
                    self.witnesses[name] = depth


@dataclass
class Run:
    """What one run did, counted by the tally when it ends."""

    searching: bool  # started before any run failed
    rule_calls: int = 0
    transitions: int = 0
    reached: dict[str, int] = field(default_factory=dict)  # witness -> step first reached
    abandoned: bool = False


class PropertyViolated(AssertionError):
    """A safety property failed after a transition; the message is its sentence."""


@dataclass
class Swarm:
    """Things one run never starts (steps of what is already under way always run)."""

    quiet_lus: frozenset[int] = frozenset()  # no host sends I/O to these LUs
    no_reads: bool = False
    no_destinations: frozenset[int] = frozenset()  # never designated as destination

    def allows(self, t: Transition) -> bool:
        name = t.action.name
        if name in ("send_write", "send_read"):
            return t.args[1] not in self.quiet_lus and not (self.no_reads and name == "send_read")
        if name == "designate":
            return t.args[1] not in self.no_destinations
        return True


DEFAULT_WEIGHTS = Weights()


def machine_for(model: Model, weights: Weights = DEFAULT_WEIGHTS) -> type[RuleBasedStateMachine]:
    """A state machine class exploring ``model``; its ``tally`` collects what runs did."""
    applicable = [w for w in WITNESSES if w.applies(model)]
    controllers = model.scenario.controllers

    class TakeoverMachine(RuleBasedStateMachine):
        tally: ClassVar[Tally] = Tally(witnesses={w.name: None for w in applicable})

        def __init__(self) -> None:
            super().__init__()
            self.world = model.initial()
            self.trace: list[Step] = [Step(INITIAL, self.world)]
            self.swarm = Swarm()
            self.run = Run(self.tally.searching)
            # An exception being handled around the whole run, if any: not one of the run's.
            self.outer = sys.exc_info()[1]

        @initialize(
            quiet=st.sets(st.integers(0, model.lus - 1), max_size=max(model.lus - 1, 0)),
            no_reads=st.booleans(),
            no_destinations=st.sets(st.integers(0, controllers - 1), max_size=max(controllers - 2, 0)),
        )
        def choose_swarm(self, quiet: set[int], no_reads: bool, no_destinations: set[int]) -> None:
            self.swarm = Swarm(frozenset(quiet), no_reads, frozenset(no_destinations))

        # --- transitions ------------------------------------------------------------------

        def enabled(self, names: Container[str] | None = None, lu: int | None = None) -> list[Transition]:
            return [t for t in model.transitions(self.world, names, lu) if self.swarm.allows(t)]

        def apply(self, t: Transition) -> None:
            before = self.world
            label = t.label(before)
            self.world = t.after
            self.trace.append(Step(label, t.after))
            self.run.transitions += 1
            if self.run.searching:
                for w in applicable:
                    if w.name not in self.run.reached and w.reached(model, before, label, t.after):
                        self.run.reached[w.name] = self.run.transitions
            broken = first_broken(model, self.world)
            if broken is not None:
                name, message = broken
                self.tally.fail(Counterexample(name, "safety", message, list(self.trace)))
                raise PropertyViolated(f"{name}: {message}")

        def pick(self, data: st.DataObject, choices: list[Transition], what: str) -> Transition:
            return choices[data.draw(st.integers(0, len(choices) - 1), label=what)]

        # --- rules --------------------------------------------------------------------------

        @rule(data=st.data())
        def step(self, data: st.DataObject) -> None:
            """One transition, host I/O weighted against take-over steps."""
            self.run.rule_calls += 1
            enabled = self.enabled()
            io = [t for t in enabled if t.action.name in HOST_IO]
            takeover = [t for t in enabled if t.action.name not in HOST_IO]
            if not io and not takeover:
                return
            total = weights.host_io * bool(io) + weights.takeover * bool(takeover)
            use_io = bool(io) and (not takeover or data.draw(st.integers(0, total - 1)) < weights.host_io)
            self.apply(self.pick(data, io if use_io else takeover, "step"))

        @rule(data=st.data())
        def whole_takeover(self, data: st.DataObject) -> None:
            """Designate a take-over (or take one under way) and run it to its end, with host
            I/O slipped in between its steps where a coin says so (the window between 804
            and 808 is where writes go missing)."""
            self.run.rule_calls += 1
            if not self.world.jobs:
                starts = self.enabled(DESIGNATIONS)
                if not starts:
                    return
                self.apply(self.pick(data, starts, "designation"))
            if not self.world.jobs:
                return
            lu = self.world.jobs[data.draw(st.integers(0, len(self.world.jobs) - 1), label="job")].lu
            while any(j.lu == lu for j in self.world.jobs):
                steps = self.enabled(JOB_STEPS, lu)
                if not steps:
                    return  # waiting for something else (a drain): leave it to other rules
                between = self.enabled(HOST_IO)
                interleave: bool = bool(between) and data.draw(st.booleans(), label="interleave io")
                self.apply(self.pick(data, between, "io") if interleave else steps[0])

        @rule(data=st.data(), length=st.integers(1, 20))
        def io_burst(self, data: st.DataObject, length: int) -> None:
            """Up to ``length`` host I/O transitions in a row."""
            self.run.rule_calls += 1
            for _ in range(length):
                io = self.enabled(HOST_IO)
                if not io:
                    return
                self.apply(self.pick(data, io, "io"))

        @invariant()
        def report_progress(self) -> None:
            if self.tally.on_run is not None:
                self.tally.current = self.run
                self.tally.on_run(self.tally)

        def teardown(self) -> None:
            """Bounded liveness: start nothing new, let what is under way finish, and check
            that every take-over, suspended path and host request is then done.

            Hypothesis calls this however the run ends. When it abandons the run (the run
            wanted more random choices than Hypothesis allows it, and Hypothesis does not
            count it), its exception is in flight: the run is not settled, and counted apart."""
            in_flight = sys.exc_info()[1]
            ended = in_flight is None or in_flight is self.outer  # as Hypothesis decided
            self.run.abandoned = not ended and not isinstance(in_flight, PropertyViolated)
            try:
                if ended:
                    self.settle()
            finally:
                self.tally.count(self.run)

        def settle(self) -> None:
            for _ in range(DRAIN_STEPS):
                finishing = next(model.transitions(self.world, FINISHING), None)
                if finishing is None:
                    break
                self.apply(finishing)
            found = check_run(model, self.trace[-1:])
            if found is not None:  # settled with an obligation pending
                self.tally.fail(
                    Counterexample(
                        found.property, found.kind, found.message, list(self.trace), None, found.obligation
                    )
                )
                raise PropertyViolated(f"{found.property}: {found.message}")

    TakeoverMachine.__name__ = f"TakeoverMachine_{model.scenario.name}_{model.protocol.name}"
    return TakeoverMachine
