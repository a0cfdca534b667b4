"""Scenario files: the built-ins load, and every kind of bad file is refused with a message
naming the file, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.actions import Model
from model.scenario import (
    MAX_SERVED_BLOCKS,
    ScenarioError,
    ServedScenario,
    builtin,
    builtin_names,
    from_dict,
    load,
    parse,
)

GOOD = """
name = "tiny"
[array]
controllers = 2
ports = 1
[[lu]]
id = 0
controller = 0
port = 0
ext_lun = 0
[[host]]
writes = [0]
[takeovers]
mode = "any"
budget = 1
"""


def test_background_destage_is_off_unless_asked() -> None:
    assert not parse(GOOD).background_destage
    assert parse(GOOD.replace("ports = 1", "ports = 1\nbackground_destage = true")).background_destage
    assert builtin("background-destage").background_destage


def test_builtins() -> None:
    assert builtin_names() == [
        "background-destage",
        "backup-and-takeover",
        "backup-twice",
        "chain",
        "crash-backup",
        "crash-takeover",
        "fig5",
        "fig9",
        "multi-block",
        "one-lu",
        "ping-pong",
        "primary-moves",
        "swap",
        "three-hosts",
        "three-way",
    ]
    fig5 = builtin("fig5")
    assert (fig5.controllers, len(fig5.lus), fig5.mode) == (2, 4, "scripted")
    assert fig5.batches[0].lus == (2, 3) and fig5.batches[0].destination == 1


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD)
    s = load(path)
    assert (s.name, s.controllers, s.budget, s.hosts[0].name) == ("tiny", 2, 1, "host0")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("ports = 1", "ports = 0"), "array.ports: 0 must be at least 1"),
        (("ext_lun = 0", "ext_lun = 1"), "port 0 of controller 0 presents external LUNs [1]"),
        (("controller = 0", "controller = 5"), "lu[0].controller: controller 5 does not exist (0-1)"),
        (("id = 0", "id = 3"), "lu[0].id: 3 should be 0"),
        (("writes = [0]", "writes = [4]"), "host[0].writes: LU4 does not exist"),
        (("writes = [0]", "writes = [0]\nreeds = [0]"), "host[0].reeds: unknown field"),
        (("budget = 1", "budget = 0"), "takeovers.budget: 0; mode 'any' needs a budget of at least 1"),
        (('mode = "any"', 'mode = "scripted"'), "takeovers.budget: only mode 'any' has a budget"),
        (("budget = 1", "budget = 'two'"), "takeovers.budget: expected an integer, found 'two'"),
        (('mode = "any"', 'mode = "sometimes"'), "takeovers.mode: 'sometimes' is neither"),
        (("[array]", "[arrays]"), "arrays: unknown field"),
        (("controllers = 2", "controllers = true"), "array.controllers: expected an integer, found True"),
        (
            ("ports = 1", "ports = 1\nbackground_destage = 1"),
            "array.background_destage: expected true or false, found 1",
        ),
        (('name = "tiny"', "name = "), "not valid TOML"),
    ],
)
def test_bad_files_are_refused_by_name(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(*change, 1))
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_two_writers_of_one_lu_are_refused() -> None:
    text = GOOD.replace("writes = [0]", "writes = [0]\n[[host]]\nname = 'other'\nwrites = [0]")
    with pytest.raises(ScenarioError, match=r"host\[1\]\.writes: LU0 is already written by host0"):
        parse(text, "x.toml")


def test_duplicate_addresses_are_refused() -> None:
    second_lu = "[[lu]]\nid = 1\ncontroller = 0\nport = 0\next_lun = 0\n[takeovers]"
    text = GOOD.replace("[takeovers]", second_lu, 1)
    with pytest.raises(ScenarioError, match="LU0 and LU1 are both external LUN 0 on port 0 of controller 0"):
        parse(text, "x.toml")


def test_batch_checks() -> None:
    scripted = GOOD.replace(
        'mode = "any"\nbudget = 1', 'mode = "scripted"\n[[takeovers.batch]]\nlus = [0, 0]\ndestination = 1'
    )
    with pytest.raises(ScenarioError, match=r"takeovers.batch\[0\].lus: \[0, 0\] names an LU twice"):
        parse(scripted)


def test_scripted_mode_needs_a_batch() -> None:
    with pytest.raises(ScenarioError, match=r"takeovers\.batch: mode 'scripted' needs at least one"):
        parse(GOOD.replace('mode = "any"\nbudget = 1', 'mode = "scripted"'))


FIG5 = (Path(__file__).parent.parent / "model" / "scenarios" / "fig5.toml").read_text()


@pytest.mark.parametrize(
    ("batch", "reason"),
    [
        # LU2 back to controller 0 as external LUN 0 of port 0: LU0's address.
        (
            "lus = [2]\ndestination = 0\nport = 0",
            "external LUN 0 on port 0 of controller 0 still belongs to LU0",
        ),
        # After batch 0, LU3 is on controller 1 already.
        ("lus = [3]\ndestination = 1", "LU3 is already on controller 1"),
        # LU3 alone back to port 1 as external LUN 1: port 1 would present LUN 1 without a 0.
        ("lus = [3]\ndestination = 0\nport = 1", "not 0..n-1 without a gap"),
    ],
)
def test_a_batch_that_step_801_would_refuse_is_refused_when_loaded(batch: str, reason: str) -> None:
    with pytest.raises(ScenarioError, match=r"takeovers\.batch\[1\]: Step 801 refuses it: ") as e:
        parse(FIG5 + f"\n[[takeovers.batch]]\n{batch}\n", "fig5+")
    assert reason in str(e.value)


def test_a_take_back_that_step_801_accepts_loads() -> None:
    s = parse(FIG5 + "\n[[takeovers.batch]]\nlus = [2, 3]\ndestination = 0\nport = 1\n")
    assert [b.destination for b in s.batches] == [1, 0]


def test_script_completes_catches_a_step_801_that_refuses_a_valid_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mutant of Step 801's guard that refuses every take-back: the loader accepts the
    script (it is valid), and only the liveness property script_completes sees the batch
    never happen."""
    import model.actions as actions
    from model.protocol import CORRECT
    from model.state import Job, World
    from proofs.check import run_check

    accept = actions._create_jobs

    def refuse_take_backs(m: actions.Model, w: World, jobs: list[Job]) -> World | None:
        return None if any(job.destination == 0 for job in jobs) else accept(m, w, jobs)

    scenario = parse(FIG5 + "\n[[takeovers.batch]]\nlus = [2, 3]\ndestination = 0\nport = 1\n")
    assert run_check(Model(scenario, CORRECT)).verdict == "ok"
    monkeypatch.setattr(actions, "_create_jobs", refuse_take_backs)
    check = run_check(Model(scenario, CORRECT))
    assert check.verdict == "violated"
    (v,) = check.counterexamples
    assert v.property == "script_completes" and v.kind == "deadlock"
    assert "batch 1 of the script is never designated" in v.message


def test_missing_file() -> None:
    with pytest.raises(ScenarioError, match=r"nowhere\.toml: cannot read"):
        load("/nowhere.toml")


def _one_lu(blocks: int) -> dict[str, object]:
    return {
        "name": "big",
        "array": {"controllers": 2},
        "lu": [{"id": 0, "controller": 0, "ext_lun": 0, "blocks": blocks}],
        "host": [{"name": "host0", "writes": [0]}],
        "takeovers": {"mode": "any", "budget": 1},
    }


def test_a_served_scenario_takes_lus_of_real_sizes_and_the_engines_do_not() -> None:
    assert isinstance(from_dict(_one_lu(4096), served=True), ServedScenario)
    with pytest.raises(ScenarioError, match=r"4096 is more than 64, the most the engines handle \(an array"):
        from_dict(_one_lu(4096))
    too_big = MAX_SERVED_BLOCKS + 1
    with pytest.raises(ScenarioError, match=f"{too_big} is more than 65,536, the most an array served"):
        from_dict(_one_lu(too_big), served=True)
