"""`lutakeover simulate`: the Hypothesis state machine run outside pytest, with a seed.

The search makes ``runs`` runs and stops at the first that fails. Hypothesis shrinks that
run and then replays the smallest one; the machine's tally keeps the last failure, so that
is the one taken. It is replayed from its labels, to be sure the report stands on the model
alone, and minimised by replay (``proofs.replay.minimise``): Hypothesis shrinks the choices
behind a run, which often leaves steps that play no part; dropping labels removes them.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.configuration import set_hypothesis_home_dir, storage_directory
from hypothesis.stateful import get_state_machine_test

from invariants.witnesses import untested_properties
from model.actions import Model
from proofs.replay import MAX_REPLAYS, check_run, minimise, pytest_program, replay
from proofs.stateful import DEFAULT_WEIGHTS, Tally, Weights, machine_for
from proofs.trace import Counterexample


@dataclass
class Simulation:
    model: Model
    seed: int
    runs: int  # runs the search counted: ``runs_asked``, or fewer when one failed
    steps: int  # transitions of those runs, the settling ones at their ends included
    seconds: float  # in all: search, shrinking and minimisation
    deepest: int  # transitions of the longest run
    witnesses: dict[str, int | None]
    failure: Counterexample | None  # minimised by replay
    program: str | None  # a pytest test replaying the failure
    runs_asked: int = 0
    rule_calls: int = 0  # of the counted runs; each may take many transitions
    most_rule_calls: int = 0  # in one run
    abandoned: int = 0  # runs Hypothesis abandoned part-way and did not count
    search_seconds: float | None = None  # until the first failure, if any; None: all of ``seconds``
    shrink_runs: int = 0  # runs Hypothesis made after the first failure, to shrink and replay it
    found_steps: int | None = None  # steps of the failing run as the search found it
    shrunk_steps: int | None = None  # after Hypothesis's shrinking (before replay's)
    replays: int = 0  # candidate runs the minimisation by replay tried
    minimised: bool = True  # False when the minimisation stopped at its budget
    untested: dict[str, str] = field(default_factory=dict)  # vacuous properties -> why

    @property
    def verdict(self) -> str:
        if self.failure is not None:
            return "violated"
        if any(depth is None for depth in self.witnesses.values()):
            return "vacuous"
        return "ok"

    @property
    def steps_per_second(self) -> float:
        seconds = self.search_seconds if self.search_seconds is not None else self.seconds
        return self.steps / seconds if seconds > 0 else 0.0


def simulate(
    model: Model,
    scenario_source: str,
    *,
    runs: int = 100,
    steps: int = 50,
    seed: int = 0,
    weights: Weights = DEFAULT_WEIGHTS,
    shrink: bool = True,
    max_replays: int = MAX_REPLAYS,
    progress: Callable[[str], None] | None = None,
) -> Simulation:
    """``runs`` random runs of up to ``steps`` rule calls each (a rule call may be a whole
    take-over), every safety property checked after every transition; the search stops at
    the first failing run, which is then shrunk (by Hypothesis if ``shrink``, then by
    replay, at most ``max_replays`` replays)."""
    machine = machine_for(model, weights)
    tally: Tally = machine.tally  # type: ignore[attr-defined]
    started = time.monotonic()
    next_report = [started + 3.0]

    def on_run(t: Tally) -> None:
        now = time.monotonic()
        if progress is not None and now >= next_report[0]:
            next_report[0] = now + 2.0
            if t.searching:
                under_way = t.current
                now_at = (
                    f"; run {t.runs + 1} at {under_way.rule_calls} rule calls, "
                    f"{under_way.transitions} transitions"
                    if under_way is not None and under_way.rule_calls
                    else ""
                )
                progress(
                    f"{t.runs:,} runs done, {t.steps:,} transitions, deepest {t.deepest}{now_at}, "
                    f"{now - started:.0f} s"
                )
            else:
                progress(f"shrinking the failing run: {t.shrink_runs:,} runs, {now - started:.0f} s")

    tally.on_run = on_run
    test = get_state_machine_test(
        machine,
        settings=settings(
            max_examples=runs,
            # The swarm's choice (an initialize rule) is a rule call to Hypothesis: one more
            # leaves ``steps`` calls of the rules that take transitions.
            stateful_step_count=steps + 1,
            deadline=None,
            database=None,
            verbosity=Verbosity.quiet,
            # Only generate (and shrink): no explicit or reused examples, no targeting, and
            # no search for further distinct failures, so the search is ``runs`` runs or
            # stops at the first failure.
            phases=[Phase.generate, Phase.shrink] if shrink else [Phase.generate],
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
        ),
    )
    failure = None
    try:
        with _private_hypothesis_home():
            hypothesis_seed(seed)(test)()
    except AssertionError:
        failure = tally.failure
    except BaseException as e:  # Hypothesis groups errors of several distinct failures
        if tally.failure is None or not _only_violations(e):
            raise
        failure = tally.failure
    program, found_steps, shrunk_steps, replays, complete = None, None, None, 0, True
    if failure is not None:
        # Stand on the model alone: replay the labels and find the violation again.
        found = check_run(model, replay(model, [s.label for s in failure.trace[1:]]))
        assert found is not None, "a reported failure did not replay"
        assert tally.first_failure is not None
        found_steps, shrunk_steps = len(tally.first_failure.trace) - 1, len(found.trace) - 1
        minimised = minimise(model, found, max_replays=max_replays, progress=progress)
        failure, replays, complete = minimised.failure, minimised.replays, minimised.complete
        program = pytest_program(
            scenario_source, model.protocol.name, failure, f"replay_{model.protocol.name.replace('-', '_')}"
        )
    finished = time.monotonic()
    return Simulation(
        model,
        seed,
        tally.runs,
        tally.steps,
        finished - started,
        tally.deepest,
        dict(tally.witnesses),
        failure,
        program,
        runs_asked=runs,
        rule_calls=tally.rule_calls,
        most_rule_calls=tally.most_rule_calls,
        abandoned=tally.abandoned,
        search_seconds=(tally.failed_at or finished) - started,
        shrink_runs=tally.shrink_runs,
        found_steps=found_steps,
        shrunk_steps=shrunk_steps,
        replays=replays,
        minimised=complete,
        untested=untested_properties(model),
    )


@contextmanager
def _private_hypothesis_home() -> Iterator[None]:
    """Hypothesis caches what it learns from the source of local modules (constants for
    its generation) under its home directory, ``.hypothesis`` in the current directory by
    default, even with no example database. A temporary home for the run leaves nothing
    behind; the one in force before is restored after."""
    before = storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="lutakeover-hypothesis-") as home:
        set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            set_hypothesis_home_dir(before)


def _only_violations(e: BaseException) -> bool:
    if isinstance(e, BaseExceptionGroup):
        return all(_only_violations(x) for x in e.exceptions)
    return isinstance(e, AssertionError)
