"""The differential test: the reference array and the model in lockstep.

The array agrees with the model on every embodiment-1 built-in, and its runs take every
action the model can take there (so agreement is not the agreement of two idle systems);
each seeded implementation bug is caught, with a program that replays the divergence and
that the correct array passes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conformance.difftest import difftest, replay, run_once
from conformance.lockstep import Lockstep
from lutakeover.cli import main
from model.actions import Model
from model.labels import Label
from model.scenario import builtin, builtin_names
from reference_impl.bugs import ALL_IMPL_BUGS


def actions_of(name: str) -> set[str]:
    """Every action the model takes somewhere in the scenario's reachable state graph."""
    m = Model(builtin(name))
    names: set[str] = set()
    frontier, seen = [m.initial()], {m.initial()}
    while frontier:
        w = frontier.pop()
        for t in m.transitions(w):
            names.add(t.action.name)
            if t.after not in seen:
                seen.add(t.after)
                frontier.append(t.after)
    return names


@pytest.mark.parametrize("name", builtin_names())
def test_random_lockstep_runs_agree_and_take_every_action_the_model_has(name: str) -> None:
    taken: set[str] = set()
    for seed in range(40):
        rng = random.Random(seed)
        ls = Lockstep(builtin(name))
        assert run_once(ls, rng.choice) is None, f"seed {seed}"
        assert ls.enabled() == [] and ls.offered() == []  # ran to the end: nothing left to do
        taken |= {label.action for label in ls.taken}
    assert taken == actions_of(name)


@pytest.mark.parametrize("name", ["fig5", "three-way", "background-destage", "fig9", "primary-moves"])
def test_hypothesis_difftest_agrees(name: str) -> None:
    result = difftest(builtin(name), examples=30, seed=0)
    assert result.divergence is None and result.verdict == "ok"
    assert result.runs == 30 and result.longest > 20


# bug -> (built-in where it shows, kind of divergence, the action named first)
CAUGHT = {
    "skip-destage": ("fig5", "offers", "destage_line"),
    "no-suspend": ("fig5", "offers", "suspend"),
    "stop-without-drain": ("fig5", "offers", "stop_source"),
    "stale-config-row": ("fig5", "state", "read_row"),
    "clean-before-disk-write": ("fig5", "state", "destage_line"),
    "write-through-ignores-destage": ("ping-pong", "offers", "process"),
    "purge-keeps-clean-lines": ("fig5", "state", "purge"),
    "release-to-old-controller": ("ping-pong", "state", "deliver"),
    "table-without-checksum": ("fig5", "state", "write_row"),
    "accept-moving-lu": ("ping-pong", "offers", "designate"),
    "allow-lun-gap": ("three-way", "offers", "designate"),
    "no-default-swap": ("fig9", "state", "migrate_out"),
    "resync-without-diff": ("fig9", "offers", "resync_done"),
    "backup-without-destage": ("fig9", "offers", "destage_backup_line"),
    "reply-before-mirror-write": ("fig9", "state", "process"),
    # Recovery after a crash, on the built-in whose array may crash (in the simulator, in
    # process; tests/test_crash.py kills the real runtime).
    "recover-without-destage": ("crash-takeover", "state", "crash_recover"),
    "cache-not-reloaded": ("crash-takeover", "state", "crash_recover"),
}


def test_every_implementation_bug_has_a_row() -> None:
    assert set(CAUGHT) == set(ALL_IMPL_BUGS)


@pytest.mark.parametrize("bug", sorted(CAUGHT))
def test_each_implementation_bug_is_caught_with_a_replayable_program(bug: str) -> None:
    name, kind, action = CAUGHT[bug]
    scenario = builtin(name)
    result = difftest(scenario, frozenset([bug]), examples=300, seed=0)
    d = result.divergence
    assert d is not None and d.kind == kind, result
    named = d.label.action if d.label is not None else d.details[0].split()[3]
    assert named == action, d
    again, _ = replay(scenario, result.program, frozenset([bug]))
    assert again is not None and (again.kind, again.details) == (d.kind, d.details)
    fine, taken = replay(scenario, result.program)  # the correct array follows the program
    assert fine is None and taken == len(result.program)


def test_a_program_no_one_can_follow_is_reported() -> None:
    program = [Label("designate_batch", (0,)), Label("resume", (2, 0, 1))]
    d, taken = replay(builtin("fig5"), program)
    assert taken == 1 and d is not None and "offered by neither" in d.what


# --- the command --------------------------------------------------------------------------


def test_difftest_command_agrees_and_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["difftest", "--builtin", "ping-pong", "--examples", "10", "--seed", "1", "--json", "--quiet"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["verdict"], data["runs"], data["seed"], data["divergence"]) == ("ok", 10, 1, None)


def test_difftest_command_writes_a_program_that_replays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = tmp_path / "program.txt"
    args = ["difftest", "--builtin", "fig5", "--seed", "0", "--impl-bug", "no-suspend", "--quiet"]
    assert main([*args, "--program-out", str(program)]) == 1
    out = capsys.readouterr().out
    assert "DIVERGED" in out and "the model enables suspend" in out
    assert main([*args, "--replay", str(program)]) == 1
    assert "the model enables suspend" in capsys.readouterr().out
    assert main(["difftest", "--builtin", "fig5", "--replay", str(program), "--quiet"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--impl-bug", "nope"], "no bug is called 'nope'"),
        (["--builtin", "nope"], "nope"),
    ],
)
def test_difftest_refuses_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["difftest", *argv, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_program_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = tmp_path / "p.txt"
    program.write_text("designate_batch 0\nthis is not a step\n", encoding="utf-8")
    assert main(["difftest", "--builtin", "fig5", "--replay", str(program), "--quiet"]) == 2
    assert "line 2" in capsys.readouterr().err


def test_impl_bug_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["difftest", "--impl-bug", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("skip-destage")


# --- generated arrays and the diagram of a divergence ------------------------------------------


@pytest.mark.parametrize(("controllers", "lus", "blocks", "background"), [(3, 4, 1, False), (2, 3, 2, True)])
def test_the_array_agrees_on_generated_arrays(
    controllers: int, lus: int, blocks: int, background: bool
) -> None:
    from model.generate import array_scenario

    scenario = array_scenario(controllers, lus, blocks, background_destage=background)
    result = difftest(scenario, examples=10, seed=0)
    assert result.divergence is None and result.longest > 50


@pytest.mark.slow
def test_the_array_agrees_on_fifteen_random_array_shapes() -> None:
    from model.generate import array_scenario

    rng = random.Random(2026)  # difftest is itself Hypothesis: the shapes come from a seeded walk
    for _ in range(15):
        shape = (rng.randint(2, 4), rng.randint(1, 5), rng.randint(1, 2), rng.random() < 0.5)
        scenario = array_scenario(*shape[:3], background_destage=shape[3])
        result = difftest(scenario, examples=5, seed=rng.randrange(2**16))
        assert result.divergence is None, (shape, result.divergence)


def test_generated_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["difftest", "--generated", "3x2x1", "--examples", "5", "--seed", "0", "--quiet"]) == 0
    assert "array-3c-2lu-1b" in capsys.readouterr().out
    assert main(["difftest", "--generated", "3x2", "--quiet"]) == 2
    assert "CxLxB" in capsys.readouterr().err


def test_a_divergence_is_drawn_as_a_sequence_diagram(tmp_path: Path) -> None:
    dot = tmp_path / "divergence.dot"
    args = ["difftest", "--builtin", "fig5", "--impl-bug", "skip-destage", "--seed", "0", "--quiet"]
    assert main([*args, "--diagram", str(dot)]) == 1
    text = dot.read_text()
    assert "array and model" in text and "disagree" in text and "begin_destage" in text
    assert main(["difftest", "--builtin", "fig5", "--quiet", "--diagram", str(tmp_path / "d.txt")]) == 2
