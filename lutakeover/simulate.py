"""`lutakeover simulate`: the Hypothesis state machine run outside pytest, with a seed.

Hypothesis shrinks a failing run and then replays the smallest one; the machine's tally
keeps the last failure, so that is the one reported. The run is replayed once more from
its labels, to be sure the report stands on the model alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import get_state_machine_test

from model.actions import Model
from model.state import World
from proofs.explicit import Counterexample
from proofs.replay import check_run, pytest_program, replay
from proofs.stateful import DEFAULT_WEIGHTS, Tally, Weights, machine_for


@dataclass
class Simulation:
    model: Model
    seed: int
    runs: int
    steps: int
    seconds: float
    deepest: int
    witnesses: dict[str, int | None]
    failure: Counterexample[World] | None
    program: str | None  # a pytest test replaying the failure

    @property
    def verdict(self) -> str:
        if self.failure is not None:
            return "violated"
        if any(depth is None for depth in self.witnesses.values()):
            return "vacuous"
        return "ok"

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def simulate(
    model: Model,
    scenario_source: str,
    *,
    runs: int = 100,
    steps: int = 50,
    seed: int = 0,
    weights: Weights = DEFAULT_WEIGHTS,
    shrink: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Simulation:
    """``runs`` random runs of up to ``steps`` rule calls each (a rule call may be a whole
    take-over), every safety property checked after every transition."""
    machine = machine_for(model, weights)
    tally: Tally = machine.tally  # type: ignore[attr-defined]
    started = time.monotonic()
    next_report = [started + 3.0]

    def on_run(t: Tally) -> None:
        now = time.monotonic()
        if progress is not None and now >= next_report[0]:
            next_report[0] = now + 2.0
            progress(f"{t.runs:,} runs, {t.steps:,} steps, deepest {t.deepest}, {now - started:.0f} s")

    tally.on_run = on_run
    test = get_state_machine_test(
        machine,
        settings=settings(
            max_examples=runs,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            verbosity=Verbosity.quiet,
            phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )
    failure = None
    try:
        hypothesis_seed(seed)(test)()
    except AssertionError:
        failure = tally.failure
    except BaseException as e:  # Hypothesis groups errors of several distinct failures
        if tally.failure is None or not _only_violations(e):
            raise
        failure = tally.failure
    seconds = time.monotonic() - started
    program = None
    if failure is not None:
        # Stand on the model alone: replay the labels and find the violation again.
        found = check_run(model, replay(model, [s.label for s in failure.trace[1:]]))
        assert found is not None, "a reported failure did not replay"
        failure = found
        program = pytest_program(
            scenario_source, model.protocol.name, failure, f"replay_{model.protocol.name.replace('-', '_')}"
        )
    return Simulation(
        model, seed, tally.runs, tally.steps, seconds, tally.deepest, dict(tally.witnesses), failure, program
    )


def _only_violations(e: BaseException) -> bool:
    if isinstance(e, BaseExceptionGroup):
        return all(_only_violations(x) for x in e.exceptions)
    return isinstance(e, AssertionError)
