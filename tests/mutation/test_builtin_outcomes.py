"""The kill test of mutation testing (benchmarks/mutation.py, docs/mutation.md): what the
explicit checker finds on the small built-in scenarios, for every protocol variant, pinned
in builtin_outcomes.json.

A mutant of model/ or invariants/ is killed when one outcome changes: the verdict, or which
properties break and the length of each one's shortest counterexample. The cases run
cheapest first (see conftest.py) and mutmut stops at the first difference, so most mutants
die in well under a second. A bench test: ``pytest -n 0 -m bench tests/mutation/``.
``python benchmarks/mutation.py --pin`` rewrites the pins after an intended change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from model.actions import Model
from model.protocol import VARIANTS, variant
from model.scenario import builtin
from proofs.check import Check, run_check

PINS = Path(__file__).with_name("builtin_outcomes.json")

# A mutant that makes a state space this many times larger is stopped there: its run is
# incomplete, an outcome no pin has, so it dies in seconds instead of running into the
# timeout (or the machine's memory).
STATE_CAP = 10


@dataclass(frozen=True)
class Case:
    """One pinned run: scenario, variant, whether it kept going past the first violation,
    and what it found."""

    scenario: str
    variant: str
    keep_going: bool
    verdict: str
    broken: dict[str, int]  # property -> length of its shortest counterexample
    states: int  # states the run explored (sets the cap)
    seconds: float  # how long it took when pinned (sets the order)

    @property
    def id(self) -> str:
        return f"{self.scenario}:{self.variant}"


def outcome(check: Check) -> tuple[str, dict[str, int]]:
    """What a mutant must not change: the verdict, each broken property and its depth."""
    return check.verdict, {name: len(v.trace) - 1 for name, v in check.shortest().items()}


def load_pins() -> tuple[list[Case], set[tuple[str, str]]]:
    """The pinned cases, cheapest first, and the (scenario, variant) pairs left out because
    the variant's run is the correct protocol's there, state for state."""
    pins = json.loads(PINS.read_text(encoding="utf-8"))
    return [Case(**row) for row in pins["cases"]], {(s, v) for s, v in pins["unexercised"]}


CASES, UNEXERCISED = load_pins()


@pytest.mark.bench
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_checker_outcome_is_pinned(case: Case) -> None:
    model = Model(builtin(case.scenario), variant(case.variant))
    check = run_check(model, keep_going=case.keep_going, max_states=case.states * STATE_CAP)
    assert outcome(check) == (case.verdict, case.broken), case.id


@pytest.mark.bench
def test_every_variant_of_every_pinned_scenario_is_pinned() -> None:
    pinned = [(case.scenario, case.variant) for case in CASES]
    assert len(pinned) == len(set(pinned)) and not set(pinned) & UNEXERCISED
    scenarios = {case.scenario for case in CASES}
    every = {(s, v) for s in scenarios for v in VARIANTS}
    assert set(pinned) | UNEXERCISED == every, "re-pin: python benchmarks/mutation.py --pin"
    assert all((s, "correct") in pinned for s in scenarios)


@pytest.mark.bench
def test_cases_are_pinned_cheapest_first() -> None:
    seconds = [case.seconds for case in CASES]
    assert seconds == sorted(seconds)
