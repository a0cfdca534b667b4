"""Hypothesis stateful exploration finds every seeded bug on an array far too large for the
exhaustive checker, with a fixed seed, and the shrunk run replays as a pytest test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from conftest import SLOW, checked, one_by_default, summary
from model.actions import Model
from model.generate import array_scenario
from model.protocol import BACKUP_BUGS, SEEDED_BUGS, variant
from model.scenario import builtin
from proofs.replay import ReplayError, check_run, replay
from proofs.simulate import simulate
from proofs.stateful import machine_for

# 3 controllers, 6 LUs, 3 hosts, 12 take-overs: the exhaustive search does not finish here.
ARRAY = array_scenario(3, 6)
SOURCE = "array_scenario(3, 6)"
# A bug that needs a host write to land while a de-stage is under way needs background de-stage.
BACKGROUND = {"destage-clean-unconditionally"}
ARRAY_BG = array_scenario(3, 6, background_destage=True)
SOURCE_BG = "array_scenario(3, 6, background_destage=True)"
SEED = 2026


def budget() -> tuple[int, int]:
    """Runs and steps of the current profile, at least those of "ci"."""
    ci, now = settings.get_profile("ci"), settings()
    return max(ci.max_examples, now.max_examples), max(ci.stateful_step_count, now.stateful_step_count)


def properties_broken_by(bug: str) -> set[str]:
    """Every property the exhaustive checker shows ``bug`` breaking on a built-in."""
    found: set[str] = set()
    for scenario in ("fig5", "ping-pong", "background-destage"):
        found |= set(summary(checked(scenario, bug, keep_going=True)))
    return found | set(summary(checked("three-way", bug)))


def test_the_array_is_beyond_exhaustive_search() -> None:
    from proofs.check import run_check

    partial = run_check(Model(ARRAY, variant("correct")), liveness=False, max_states=2_000)
    assert not partial.search.complete


def test_correct_protocol_survives_the_budget() -> None:
    runs, steps = budget()
    result = simulate(Model(ARRAY, variant("correct")), SOURCE, runs=runs, steps=steps, seed=SEED)
    assert result.verdict == "ok", result.failure and result.failure.message
    assert result.runs == runs and result.deepest > 100
    assert all(depth is not None for depth in result.witnesses.values())


def found_and_replayed(bug: str, shrink: bool) -> None:
    runs, steps = budget()
    array, source = (ARRAY_BG, SOURCE_BG) if bug in BACKGROUND else (ARRAY, SOURCE)
    result = simulate(Model(array, variant(bug)), source, runs=runs, steps=steps, seed=SEED, shrink=shrink)
    assert result.failure is not None, f"{bug} not found in {result.runs} runs"
    assert result.failure.property in properties_broken_by(bug)
    namespace: dict[str, object] = {}
    assert result.program is not None
    exec(compile(result.program, f"replay_{bug}.py", "exec"), namespace)
    test = next(v for k, v in namespace.items() if k.startswith("test_"))
    assert callable(test)
    test()  # the run, replayed from its labels alone, breaks the same property


@pytest.mark.parametrize("bug", one_by_default(sorted(SEEDED_BUGS), "skip-destage", SLOW))
def test_every_seeded_bug_is_found(bug: str) -> None:
    """Finding is cheap (a few runs each); shrinking is what costs, so it is tested below."""
    found_and_replayed(bug, shrink=False)


@pytest.mark.parametrize(
    "bug", one_by_default(["keep-clean-lines", "no-resume", "stale-config-row"], "no-resume", SLOW)
)
def test_shrunk_runs_replay(bug: str) -> None:
    found_and_replayed(bug, shrink=True)


@pytest.mark.slow
@pytest.mark.parametrize("bug", sorted(SEEDED_BUGS))
def test_every_shrunk_run_replays(bug: str) -> None:
    """About two minutes in all: `pytest -m slow`."""
    found_and_replayed(bug, shrink=True)


@SLOW  # a pytest of its own in a subprocess
def test_a_replay_program_runs_under_pytest(tmp_path: Path) -> None:
    result = simulate(Model(ARRAY, variant("skip-destage")), SOURCE, runs=60, steps=40, seed=SEED)
    assert result.program is not None
    path = tmp_path / "test_replay_skip_destage.py"
    path.write_text(result.program)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_replay_refuses_an_action_that_is_not_enabled() -> None:
    model = Model(ARRAY, variant("correct"))
    with pytest.raises(ReplayError, match="step 1: 'purge LU0 c0->c1' is not enabled"):
        replay(model, ["purge LU0 c0->c1"])


def test_check_run_is_quiet_on_a_correct_run() -> None:
    model = Model(ARRAY, variant("correct"))
    assert check_run(model, replay(model, ["designate LU3 to c1", "instruct LU3 c0->c1"])) is None


# The machine also runs as an ordinary Hypothesis test under the active profile.
TestCorrectArray = machine_for(Model(array_scenario(3, 6), variant("correct"))).TestCase


# Embodiment 2: the backup bugs on fig9 (every interleaving of two backup cycles).
@pytest.mark.parametrize("bug", one_by_default(BACKUP_BUGS, "backup-without-destage", SLOW))
def test_every_backup_bug_is_found_on_fig9(bug: str) -> None:
    runs, steps = budget()
    result = simulate(
        Model(builtin("fig9"), variant(bug)), "builtin('fig9')", runs=runs, steps=steps, seed=SEED
    )
    assert result.failure is not None, f"{bug} not found in {result.runs} runs"
    assert result.failure.property in summary(checked("fig9", bug, keep_going=True))


def test_both_backups_complete_in_a_correct_simulation() -> None:
    runs, steps = budget()
    result = simulate(Model(builtin("fig9")), "builtin('fig9')", runs=runs, steps=steps, seed=SEED)
    assert result.verdict == "ok" and result.witnesses["backup_completes"] is not None
