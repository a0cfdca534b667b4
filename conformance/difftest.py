"""The differential test: Hypothesis chooses every step of the array and the model run in
lockstep, and shrinks a divergence to a shortest program of steps that replays it.

A run starts both from the scenario's initial state and, while they agree, takes one of
the steps both offer until none is left (every scenario's runs end: writes and take-overs
are bounded) or ``max_steps``. A run's *program* is the list of labels it took; a
divergence is reported with the program that leads to it, which ``replay`` runs again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance import DEFAULT_EXAMPLES, DEFAULT_MAX_STEPS
from conformance.lockstep import Divergence, Lockstep
from model.labels import Label
from model.protocol import CORRECT, Protocol
from model.scenario import Scenario

_WINDOW = 8  # longest run of steps ``minimise`` tries to leave out at once


@dataclass
class DifftestResult:
    scenario: str
    bugs: tuple[str, ...]
    seed: int | None  # None: a replayed program, whose steps no seed chose
    runs: int = 0  # runs made, shrinking included
    steps: int = 0  # steps taken in all runs
    longest: int = 0  # steps of the longest run
    seconds: float = 0.0
    divergence: Divergence | None = None
    program: list[Label] = field(default_factory=list)  # the steps that lead to the divergence

    @property
    def verdict(self) -> str:
        return "ok" if self.divergence is None else "violated"


class _Diverged(Exception):
    def __init__(self, divergence: Divergence, program: list[Label]) -> None:
        super().__init__(str(divergence))
        self.divergence, self.program = divergence, program


def run_once(
    ls: Lockstep, choose: Callable[[list[Label]], Label], max_steps: int = DEFAULT_MAX_STEPS
) -> Divergence | None:
    """One run of ``ls`` from its start, ``choose`` picking each step among those offered."""
    divergence = ls.start()
    while divergence is None and len(ls.taken) < max_steps:
        labels, divergence = ls.compare_offers()
        if divergence is not None or not labels:
            break
        divergence = ls.take(choose(labels))
    return divergence


def difftest(
    scenario: Scenario,
    bugs: frozenset[str] = frozenset(),
    examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    protocol: Protocol = CORRECT,
    max_steps: int = DEFAULT_MAX_STEPS,
    progress: Callable[[str], None] | None = None,
) -> DifftestResult:
    """Run ``examples`` lockstep runs chosen by Hypothesis (from ``seed``); on a divergence,
    the shrunk program leading to it."""
    # Imported here: Hypothesis takes a tenth of a second to import, and the command line
    # imports this module for every command.
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    result = DifftestResult(scenario.name, tuple(sorted(bugs)), seed)
    started = time.monotonic()

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        ls = Lockstep(scenario, protocol, bugs)
        divergence = run_once(ls, lambda labels: data.draw(st.sampled_from(labels)), max_steps)
        result.runs += 1
        result.steps += len(ls.taken)
        result.longest = max(result.longest, len(ls.taken))
        if progress is not None and result.runs % 50 == 0:
            progress(f"{result.runs} runs, {result.steps:,} steps, longest {result.longest}")
        if divergence is not None:
            raise _Diverged(divergence, program_of(ls, divergence))

    try:
        run()
    except _Diverged as found:
        result.program = minimise(scenario, found.program, found.divergence, bugs, protocol)
        result.divergence, _ = replay(scenario, result.program, bugs, protocol)
    result.seconds = time.monotonic() - started
    return result


def program_of(ls: Lockstep, divergence: Divergence) -> list[Label]:
    """The steps that lead to ``divergence``: those taken, and the step the array failed
    to take (a step whose state differed was taken)."""
    failed = [divergence.label] if divergence.kind == "error" and divergence.label is not None else []
    return [*ls.taken, *failed]


def minimise(
    scenario: Scenario,
    program: list[Label],
    divergence: Divergence,
    bugs: frozenset[str] = frozenset(),
    protocol: Protocol = CORRECT,
) -> list[Label]:
    """A shorter program reaching the same divergence (same kind; the same fields differ,
    or the same steps are offered on one side only). Runs of up to ``_WINDOW`` steps are
    left out while the replay still diverges the same way (a host's whole request is four
    to six steps, none of which can go alone). Hypothesis shrinks the choices, which are
    indexes into the steps on offer; this shortens the program itself."""

    def key(d: Divergence) -> tuple[str, list[str]]:
        # A state divergence is the same if the same fields differ (their values may not).
        fields = [line.split(": ")[0] for line in d.details] if d.kind == "state" else d.details
        return d.kind, fields

    def same(candidate: list[Label]) -> bool:
        found, _ = replay(scenario, candidate, bugs, protocol)
        return found is not None and key(found) == key(divergence)

    shorter = True
    while shorter:
        shorter = False
        for size in range(min(_WINDOW, len(program)), 0, -1):
            for i in reversed(range(len(program) - size + 1)):
                candidate = program[:i] + program[i + size :]
                if i + size <= len(program) and same(candidate):
                    program, shorter = candidate, True
    return program


def replay(
    scenario: Scenario, program: list[Label], bugs: frozenset[str] = frozenset(), protocol: Protocol = CORRECT
) -> tuple[Divergence | None, int]:
    """Run ``program`` in lockstep: the divergence it reaches (or None) and the number of
    its steps taken. A step neither side offers ends the replay with a divergence."""
    ls = Lockstep(scenario, protocol, bugs)
    divergence = ls.start()
    for label in program:
        if divergence is not None:
            break
        labels, divergence = ls.compare_offers()
        if divergence is None and label not in labels:
            what = f"the program's next step, {label}, is offered by neither the array nor the model"
            divergence = Divergence(len(ls.taken), "program", what, label=label)
        if divergence is None:
            divergence = ls.take(label)
    if divergence is None:
        _, divergence = ls.compare_offers()  # where a disagreement on what comes next shows
    return divergence, len(ls.taken)
