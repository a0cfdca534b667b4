"""Properties that no seeded bug of embodiment 1 breaks are still shown to fail: on states
built by hand, or on a model whose steps are cut by the test."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import z3

import model.actions as actions
import model.scenario as scenario_module
import proofs.check as check_module
from conftest import AGREEMENT, reachable_worlds
from invariants import safety
from invariants.safety import lun_map_well_formed
from invariants.witnesses import WITNESSES, liveness_of, obligations
from model.actions import Model
from model.generate import array_scenario
from model.labels import Label
from model.protocol import variant
from model.scenario import ScenarioError, builtin, parse
from model.state import Job, Row, World, active_controllers, holders
from proofs.check import run_check
from proofs.encoding import Encoding
from proofs.explicit import explore


def test_lun_map_well_formed_fails_on_a_shared_address_and_on_a_gap() -> None:
    m = Model(builtin("fig5"), variant("correct"))
    w = m.initial()
    assert lun_map_well_formed(m, w) is None
    clash = w._replace(disk=w.disk._replace(table=(*w.disk.table[:3], Row(0, 0, 0, 0))))
    assert lun_map_well_formed(m, clash) == "LU0 and LU3 are both external LUN 0 on port 0 of controller 0"
    gap = w._replace(disk=w.disk._replace(table=(*w.disk.table[:3], Row(5, 1, 0, 0))))
    message = lun_map_well_formed(m, gap)
    assert message is not None and "presents external LUNs [0, 5]" in message
    # While a take-over is under way a gap is expected; a shared address is not.
    moving = gap._replace(jobs=(Job(3, 0, 1, 0, 1, 1),))
    assert lun_map_well_formed(m, moving) is None
    assert lun_map_well_formed(m, clash._replace(jobs=(Job(3, 0, 1, 0, 1, 1),))) is not None


def test_takeovers_complete_fails_when_a_step_never_happens() -> None:
    """Cut every Step 806: the take-overs stop half way and the liveness check says so."""
    m = Model(builtin("fig5"), variant("correct"))
    result = explore(
        [m.initial()],
        lambda w: [(label, n) for label, n in m.successors(w) if label.action != "suspend"],
        obligations=lambda w: obligations(m, w),
        keep_going=True,
    )
    broken = {liveness_of(v.obligation).name for v in result.violations}
    assert "takeovers_complete" in broken
    (v,) = [v for v in result.violations if v.obligation == ("takeover", 2, 0, 1)]
    assert v.kind == "deadlock" and isinstance(v.labels[-1], Label) and v.labels[-1].action == "notify"


def test_a_witness_never_reached_makes_the_run_vacuous() -> None:
    """LU0 is external LUN 0 under LU1: Step 801 never lets it leave first, and the host
    writes only LU0, so no write is ever acknowledged during a de-stage."""
    from model.scenario import parse
    from proofs.check import EXIT_VIOLATED, run_check

    text = """
    name = "stuck"
    [array]
    controllers = 2
    [[lu]]
    controller = 0
    ext_lun = 0
    [[lu]]
    controller = 0
    ext_lun = 1
    [[host]]
    writes = [0]
    [takeovers]
    mode = "any"
    budget = 1
    """
    check = run_check(Model(parse(text), variant("correct")))
    assert check.search.complete and not check.counterexamples
    assert check.witnesses["write_acked_during_destage"] is None
    assert (check.verdict, check.exit_code) == ("vacuous", EXIT_VIOLATED)


def test_lun_map_well_formed_does_not_share_step_801_s_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the LUN-map rule that Step 801 and the loader ask (model.scenario.lun_map_problem),
    wherever it is referred to: both then let LU2 leave port 1 without LU3, and the property,
    stated on its own, still sees the gap."""
    fig5 = (Path(__file__).parent.parent / "model" / "scenarios" / "fig5.toml").read_text()
    text = fig5.replace("lus = [2, 3]\ndestination = 1", "lus = [2]\ndestination = 1")
    with pytest.raises(ScenarioError, match=r"not 0\.\.n-1 without a gap"):
        parse(text)
    for module in (scenario_module, safety):
        monkeypatch.setattr(module, "lun_map_problem", lambda addresses: None, raising=False)
    check = run_check(Model(parse(text), variant("correct")), liveness=False)
    assert check.verdict == "violated"
    (v,) = check.counterexamples
    assert v.property == "lun_map_well_formed"
    assert v.message == "port 1 of controller 0 presents external LUNs [1], not 0..n-1 without a gap"


# --- rows_follow_designation: what Step 803 writes is checked against what 801 designated ----

FIG5 = (Path(__file__).parent.parent / "model" / "scenarios" / "fig5.toml").read_text()
# fig5 with the batch keeping each LU's port: LU2 and LU3 go to port 1 of controller 1, so a
# row that keeps the old controller numbers keeps the old address whole.
FIG5_SAME_PORT = FIG5.replace("destination = 1\nport = 0", "destination = 1")


def _write_row_keeping(monkeypatch: pytest.MonkeyPatch, *kept: str) -> None:
    """Make Step 803 write the row with the fields ``kept`` as they were before it. ``ACTIONS``
    holds the step function itself, so its entry is replaced; models built after use it."""
    correct = actions.write_row

    def write_row(m: Model, w: World, k: int) -> World | None:
        after = correct(m, w, k)
        if after is None:
            return None
        lu, source = w.jobs[k].lu, w.jobs[k].source
        old, new = w.disk.table[lu], after.disk.table[lu]
        row = new._replace(**{f: getattr(old, f) for f in kept})
        table = after.controllers[source].table
        source_ctl = after.controllers[source]._replace(table=(*table[:lu], row, *table[lu + 1 :]))
        controllers = (*after.controllers[:source], source_ctl, *after.controllers[source + 1 :])
        disk = after.disk._replace(table=(*after.disk.table[:lu], row, *after.disk.table[lu + 1 :]))
        return after._replace(controllers=controllers, disk=disk)

    patched = tuple(
        dataclasses.replace(a, apply=write_row) if a.name == "write_row" else a for a in actions.ACTIONS
    )
    monkeypatch.setattr(actions, "ACTIONS", patched)
    monkeypatch.setattr(actions, "ACTIONS_BY_NAME", {a.name: a for a in patched})


@pytest.mark.parametrize(
    ("text", "kept", "message"),
    [
        (
            FIG5,
            ("port",),
            "the disk's row of LU2 is (port 1, external LUN 0, default 1, current 1), but Step 801 "
            "designated controller 1, port 0, external LUN 0",
        ),
        (
            FIG5_SAME_PORT,
            ("default", "current"),
            "the disk's row of LU2 is (port 1, external LUN 0, default 0, current 0), but Step 801 "
            "designated controller 1, port 1, external LUN 0",
        ),
    ],
    ids=["old-port", "old-controller-numbers"],
)
def test_rows_follow_designation_alone_sees_a_row_803_got_wrong(
    monkeypatch: pytest.MonkeyPatch, text: str, kept: tuple[str, ...], message: str
) -> None:
    """A Step 803 that keeps the old port, or the old controller numbers, in the row it
    writes: rows_follow_designation says so, and without it every property holds (the
    tables agree with the disk's wrong row, and the LUN map stays well formed)."""
    scenario = parse(text)
    assert run_check(Model(scenario, variant("correct")), liveness=False).verdict == "ok"
    _write_row_keeping(monkeypatch, *kept)
    check = run_check(Model(scenario, variant("correct")), liveness=False)
    assert check.verdict == "violated"
    (v,) = check.counterexamples
    assert (v.property, v.message) == ("rows_follow_designation", message)
    assert v.trace[-1].label.action == "resume"  # LU2's take-over has just ended
    others = tuple(p for p in safety.SAFETY if p.name != "rows_follow_designation")
    monkeypatch.setattr(check_module, "SAFETY", others)
    unguarded = run_check(Model(scenario, variant("correct")), liveness=False)
    assert unguarded.verdict == "ok" and not unguarded.counterexamples


def test_rows_follow_designation_names_a_controller_in_charge_that_the_row_does_not() -> None:
    m = Model(builtin("fig5"), variant("correct"))
    w = m.initial()
    assert safety.rows_follow_designation(m, w) is None
    c0, c1 = w.controllers
    moved = w._replace(
        controllers=(c0._replace(active=(0, 1, 3)), c1._replace(active=(2,))),
    )
    assert safety.rows_follow_designation(m, moved) == (
        "the disk's row of LU2 names controller 0 as current, but controller 1 is in charge of it"
    )
    nobody = w._replace(controllers=(c0._replace(active=(0, 1, 3)), c1))
    message = safety.rows_follow_designation(m, nobody)
    assert message is not None and message.endswith("but no controller is in charge of it")
    # During LU2's take-over the row may lag behind: only the LU at rest is judged.
    assert safety.rows_follow_designation(m, moved._replace(jobs=(Job(2, 0, 1, 0, 0, 5),))) is None


def _with_disk_row(w: World, lu: int, row: Row) -> World:
    return w._replace(disk=w.disk._replace(table=(*w.disk.table[:lu], row, *w.disk.table[lu + 1 :])))


def _without(lus: tuple[int, ...], lu: int) -> tuple[int, ...]:
    return tuple(x for x in lus if x != lu)


@AGREEMENT
def test_bmc_states_rows_follow_designation_as_the_model_does() -> None:
    """The z3 formula of the property and the Python check agree on reachable worlds and on
    worlds with the row, the designation or the controller in charge changed."""
    m = Model(parse(FIG5_SAME_PORT), variant("correct"))
    enc = Encoding(m)
    worlds = reachable_worlds(m)[::97]
    assert len(worlds) > 20
    changed = []
    for w in worlds:
        row, designated = w.disk.table[2], w.ghost.designated
        changed += [
            _with_disk_row(w, 2, row._replace(port=0)),
            _with_disk_row(w, 2, row._replace(current=1 - row.current)),
            w._replace(
                ghost=w.ghost._replace(designated=(*designated[:3], designated[3]._replace(ext_lun=0)))
            ),
            w._replace(controllers=tuple(c._replace(active=_without(c.active, 0)) for c in w.controllers)),
        ]
    verdicts = set()
    for w in [*worlds, *changed]:
        layout = enc.layout
        s = {
            n: z3.BoolVal(bool(x)) if layout.kinds[n] == "b" else layout.constant(int(x))
            for n, x in layout.flatten(w).items()
        }
        holds = z3.is_true(z3.simplify(enc.properties(s)["rows_follow_designation"]))
        assert holds == (safety.rows_follow_designation(m, w) is None), w
        verdicts.add(holds)
    assert verdicts == {True, False}


# --- witnesses: take-backs, and two take-overs at once however they were designated -----------


def _applies(name: str, m: Model) -> bool:
    return next(w for w in WITNESSES if w.name == name).applies(m)


FIG5_AND_BACK = FIG5 + "\n[[takeovers.batch]]\nlus = [2, 3]\ndestination = 0\nport = 1\n"


def test_takeback_applies_where_a_script_brings_an_lu_back_and_is_reached_there() -> None:
    applies = {
        "fig5": _applies("takeback", Model(builtin("fig5"))),
        "fig5 and back": _applies("takeback", Model(parse(FIG5_AND_BACK))),
        "chain": _applies("takeback", Model(builtin("chain"))),
        # Symmetry reduction renames controllers: a first move would pass for a return.
        "ping-pong": _applies("takeback", Model(builtin("ping-pong"))),
    }
    assert applies == {"fig5": False, "fig5 and back": True, "chain": True, "ping-pong": False}
    check = run_check(Model(parse(FIG5_AND_BACK)), liveness=False)
    assert check.verdict == "ok" and check.witnesses["takeback"] is not None
    first_move = check.witnesses["takeover_completes"]
    assert first_move is not None and check.witnesses["takeback"] > first_move


def test_takeback_not_reached_makes_the_run_vacuous(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Step 801 that refuses every move back to an LU's first controller: the script's
    second batch never happens, no safety property breaks, and the take-back witness says
    the run never put a take-back to the test."""
    accept = actions._create_jobs

    def no_take_backs(m: Model, w: World, jobs: list[Job]) -> World | None:
        first = m.scenario.lus
        return (
            None if any(job.destination == first[job.lu].controller for job in jobs) else accept(m, w, jobs)
        )

    monkeypatch.setattr(actions, "_create_jobs", no_take_backs)
    check = run_check(Model(parse(FIG5_AND_BACK)), liveness=False)
    assert check.search.complete and not check.counterexamples
    assert check.witnesses["takeback"] is None and check.witnesses["takeover_completes"] is not None
    assert check.verdict == "vacuous"


def _run(m: Model, *labels: str) -> list[World]:
    """The worlds of the run taking the labelled steps, from the initial world."""
    worlds = [m.initial()]
    for text in labels:
        t = m.transition_labelled(worlds[-1], Label.parse(text))
        assert t is not None, m.why_not(worlds[-1], Label.parse(text))
        worlds.append(t.after)
    return worlds


def test_concurrent_takeovers_counts_a_designation_made_while_another_is_under_way() -> None:
    """ "any" mode designates one LU at a time: LU1 to controller 1, and while that take-over
    is under way, LU0. The step designating LU0 reaches the witness; a backup cycle running
    beside one take-over does not."""
    witness = next(w for w in WITNESSES if w.name == "concurrent_takeovers")
    m = Model(array_scenario(3, 2, 1, hosts=1, budget=2))  # LU0 on controller 0, LU1 on 1
    *_, before, after = _run(m, "designate LU1 to c2", "instruct LU1 c1->c2", "designate LU0 to c2")
    assert [j.lu for j in before.jobs] == [1] and [j.lu for j in after.jobs] == [0, 1]
    assert not witness.reached(m, m.initial(), Label("designate", (1, 2)), before)
    assert witness.reached(m, before, Label("designate", (0, 2)), after)
    # Scripted: swap designates LU0 and LU1 in two batches of one; they can still overlap.
    swap = Model(builtin("swap"))
    assert witness.applies(swap)
    assert run_check(swap, liveness=False).witnesses["concurrent_takeovers"] == 2
    both = Model(builtin("backup-and-takeover"))
    *_, moving, split = _run(both, "designate_batch 0", "split_pair backup 0")
    assert {(j.lu, j.backup) for j in split.jobs} == {(1, True), (2, False)}
    assert not witness.reached(both, moving, Label("split_pair", (0,)), split)


@pytest.mark.parametrize("scenario", ["fig5", "fig9"])
def test_bmc_states_every_safety_property(scenario: str) -> None:
    """bmc asks z3 for a state breaking any formula of ``Encoding.properties``: a property
    missing there would go unchecked by bmc without a word."""
    enc = Encoding(Model(builtin(scenario)))
    assert set(enc.properties(enc.layout.variables("s."))) == {p.name for p in safety.SAFETY}


def _large_lu_world_after_a_write(block: int) -> tuple[Model, World]:
    """An array served to real clients (an LU of 200 blocks, beyond the engines' 64): host0
    has written ``block`` once, acknowledged, and the line is dirty in controller 0."""
    from conformance.served import nbd_scenario

    m = Model(nbd_scenario(200))
    w = m.initial()
    for label in (
        Label("send_write", (0, 0, block)),
        Label("deliver", (0,)),
        Label("process", (0,)),
        Label("complete", (0,)),
    ):
        t = m.transition_labelled(w, label)
        assert t is not None, label
        w = t.after
    return m, w


def test_no_acknowledged_write_lost_on_an_lu_larger_than_the_engines_take() -> None:
    # Such LUs are compared whole first (_reads_acked); the block-by-block loop names the
    # block only when that fails. Both must agree: holds, then a lost write found and named.
    m, w = _large_lu_world_after_a_write(150)
    assert safety.no_acknowledged_write_lost(m, w) is None
    (line,) = w.controllers[0].cache
    lost = w._replace(controllers=(w.controllers[0]._replace(cache=()), *w.controllers[1:]))
    assert safety.no_acknowledged_write_lost(m, lost) == (
        "LU0 block 150 reads 0 through controller 0, but the last acknowledged write there was 1"
    )
    stale = w._replace(
        controllers=(w.controllers[0]._replace(cache=(line._replace(value=7),)), *w.controllers[1:])
    )
    assert "LU0 block 150 reads 7 through controller 0" in (safety.no_acknowledged_write_lost(m, stale) or "")


def test_a_write_in_flight_to_a_large_lu_may_already_show() -> None:
    m, w = _large_lu_world_after_a_write(3)
    for label in (Label("send_write", (0, 0, 199)), Label("deliver", (0,)), Label("process", (0,))):
        t = m.transition_labelled(w, label)
        assert t is not None, label
        w = t.after
    assert w.ghost.acked[0][199] == 0 and safety.no_acknowledged_write_lost(m, w) is None  # 1 in flight


@pytest.mark.parametrize(("name", "bug"), [("three-way", "correct"), ("fig5", "start-before-stop")])
def test_holders_are_the_controllers_in_charge_of_each_lu(name: str, bug: str) -> None:
    """The properties find each LU's controllers in one pass (``holders``), not a scan per
    LU: the same lists, in every reachable state, two controllers at once included."""
    m = Model(builtin(name), variant(bug))
    twice = 0
    for w in reachable_worlds(m):
        held = holders(w, m.lus)
        assert held == [active_controllers(w, lu) for lu in range(m.lus)]
        twice += any(len(h) > 1 for h in held)
    assert (twice > 0) is (bug != "correct")


def _tables_agree_row_by_row(m: Model, w: World) -> str | None:
    """tables_agree as first written, row by row: the reference its quicker form keeps to."""
    for lu in range(m.lus):
        if any(job.lu == lu for job in w.jobs):
            continue
        on_disk = w.disk.table[lu]
        for c, ctl in enumerate(w.controllers):
            if ctl.table[lu] != on_disk:
                row, disk = safety._row(ctl.table[lu]), safety._row(on_disk)
                return f"controller {c}'s row of LU{lu} is {row} but the disk's copy is {disk}"
    return None


@pytest.mark.parametrize(("name", "bug"), [("three-way", "correct"), ("fig5", "stale-config-row")])
def test_tables_agree_says_what_it_said_row_by_row(name: str, bug: str) -> None:
    """tables_agree skips a controller whose whole table is the disk's (one comparison of
    tuples; an array of a thousand LUs took milliseconds row by row): in every reachable
    state it says what the row-by-row reading says, broken rows included, and when two
    controllers differ it names the same one."""
    m = Model(builtin(name), variant(bug))
    broken = 0
    for w in reachable_worlds(m):
        assert safety.tables_agree(m, w) == _tables_agree_row_by_row(m, w)
        broken += safety.tables_agree(m, w) is not None
        if len(w.controllers) > 1 and not w.jobs:  # two controllers with a wrong row
            wrong = [
                ctl._replace(table=(ctl.table[0]._replace(port=9), *ctl.table[1:])) for ctl in w.controllers
            ]
            both = w._replace(controllers=(wrong[0], wrong[1], *w.controllers[2:]))
            assert safety.tables_agree(m, both) == _tables_agree_row_by_row(m, both) is not None
    assert (broken > 0) is (bug != "correct")


def test_holders_answers_a_state_asked_again_without_working_it_out_again() -> None:
    """The four properties that ask holders of one state get one answer; an equal state
    that is another object is worked out afresh."""
    m = Model(builtin("fig5"))
    w = m.initial()
    first = holders(w, m.lus)
    assert holders(w, m.lus) is first
    twin = w._replace()  # equal, another object
    assert twin == w and twin is not w
    again = holders(twin, m.lus)
    assert again == first and again is not first
