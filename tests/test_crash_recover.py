"""The model's crash-and-recover action (``crash_recover``): pins, the seeded recovery bug,
and what each part of the recovery rule protects.

Each part of the rule is taken out in turn (a textual mutant of ``crash_recover``, applied
to a copy of the function) and the checker is run on the two crash built-ins: a part whose
removal breaks nothing is either pinned here with the reason, or a gap.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap

import pytest

import model.actions as actions
from conftest import reachable_worlds
from model.actions import Model
from model.labels import Label
from model.protocol import variant
from model.scenario import ScenarioError, builtin, parse
from model.state import Op, Request, Row, Where, World
from proofs.check import run_check
from proofs.replay import replay

CRASH_BUILTINS = ("crash-takeover", "crash-backup")

# built-in -> (states, transitions, depth) of the correct protocol
PINS = {"crash-takeover": (4_550, 11_037, 28), "crash-backup": (634, 1_361, 24)}


@pytest.mark.parametrize("name", CRASH_BUILTINS)
def test_the_correct_protocol_recovers_on_every_crash_builtin(name: str) -> None:
    check = run_check(Model(builtin(name)))
    assert check.verdict == "ok"
    assert (check.search.states, check.search.transitions, check.search.depth) == PINS[name]
    assert all(depth is not None for depth in check.search.witnesses.values())


# recovery bug -> what `check` finds first on crash-takeover (docs/walkthrough.md's kill matrix)
FIRST = {"recover-without-destage": {"no_acknowledged_write_lost": 6}}


def test_recovery_without_destage_loses_an_acknowledged_write() -> None:
    """The seeded recovery bug: a crash after a write is acknowledged into the source's cache
    and before its take-over de-stages it; recovery drops the line."""
    check = run_check(Model(builtin("crash-takeover"), variant("recover-without-destage")))
    (cx,) = check.counterexamples
    assert {cx.property: len(cx.trace) - 1} == FIRST["recover-without-destage"]
    assert [str(label) for label in cx.labels()][-1] == "crash_recover"


def test_a_crash_needs_the_scenario_to_allow_it() -> None:
    m = Model(builtin("one-lu"))
    assert m.initial().crashes == 0
    assert all(t.action.name != "crash_recover" for t in m.transitions(m.initial()))
    crashed = Model(builtin("crash-takeover"))
    after = [t.after for t in crashed.transitions(crashed.initial()) if t.action.name == "crash_recover"]
    assert len(after) == 1 and after[0].crashes == 0
    assert all(t.action.name != "crash_recover" for t in crashed.transitions(after[0]))


def test_a_negative_crash_budget_is_refused() -> None:
    text = builtin_text("crash-takeover").replace("crashes = 1", "crashes = -1")
    with pytest.raises(ScenarioError, match=r"faults\.crashes"):
        parse(text)
    with pytest.raises(ScenarioError, match=r"faults\.power"):
        parse(builtin_text("crash-takeover").replace("crashes = 1", "power = 1"))


def builtin_text(name: str) -> str:
    from importlib import resources

    return (resources.files("model") / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")


def test_requests_at_the_path_and_replied_hash_apart() -> None:
    """CPython hashes -1 like -2; the explicit checker keeps states as hashes, and a request
    at the path controller (-1) must not pass for the same request replied (-2). Before
    ``Request.__hash__``, an early crash_recover that sent replied requests back to the path
    lost states of crash-backup that way, and reported a fair cycle that no run has."""
    at_path = Request(Op.WRITE, 0, 0, 1, Where.PATH)
    assert hash(at_path) != hash(at_path._replace(at=Where.REPLIED))
    assert hash((at_path,)) != hash((at_path._replace(at=Where.REPLIED),))


# --- what each part of the recovery rule protects ------------------------------------------

# part taken out -> (the text of crash_recover it replaces, by what)
PARTS: dict[str, tuple[str, str]] = {
    "held-frames-resent": ("hosts = tuple(_after_crash(r) for r in w.hosts)", "hosts = w.hosts"),
    "take-over-completed": (
        "row = Row(job.ext_lun, job.port, default=job.destination, current=job.destination)",
        "row = w.disk.table[job.lu]",
    ),
    "backup-returns-home": (
        "row = Row(job.ext_lun, job.port, default=job.destination, current=job.source)",
        "row = w.disk.table[job.lu]",
    ),
    "pair-resynchronized": ("state=PairState.RESYNCING, tape=()", "state=PairState.PAIRED, tape=()"),
    "tables-reloaded": ("active=active, table=table))", "active=active))"),
    "routes-follow-table": (
        "Path(route=row.current, suspended=False) for row in table)",
        "Path(route=p.route, suspended=False) for row, p in zip(table, w.paths, strict=True))",
    ),
    "suspensions-lifted": (
        "Path(route=row.current, suspended=False) for row in table)",
        "Path(route=row.current, suspended=p.suspended) for row, p in zip(table, w.paths, strict=True))",
    ),
    "pending-mirror-tracked": ("diff = tuple(sorted({*pair.diff, pair.mirror.block}))", "diff = pair.diff"),
    "pending-mirror-resyncs": ("state=PairState.RESYNCING, diff=diff", "diff=diff"),
    "unowned-lines-dropped": (
        "            w = _destage_all(m, w, c, lu)\n    for i",
        "            pass\n    for i",
    ),
    "write-through-ended": (
        "controllers = tuple(ctl._replace(write_through=(), destaging=()) for ctl in w.controllers)",
        "controllers = tuple(ctl._replace(destaging=()) for ctl in w.controllers)",
    ),
}

# part taken out -> {built-in: the first property broken there and its depth}
CAUGHT: dict[str, dict[str, tuple[str, int]]] = {
    "held-frames-resent": {"crash-takeover": ("no_stale_cache", 5), "crash-backup": ("requests_answered", 7)},
    "take-over-completed": {"crash-takeover": ("rows_follow_designation", 2)},
    "backup-returns-home": {"crash-backup": ("control_returns_home", 3)},
    "pair-resynchronized": {"crash-backup": ("resync_restores_mirror", 5)},
    "tables-reloaded": {"crash-takeover": ("tables_agree", 2), "crash-backup": ("tables_agree", 3)},
    "routes-follow-table": {
        "crash-takeover": ("path_routes_to_owner", 2),
        "crash-backup": ("path_routes_to_owner", 6),
    },
    "suspensions-lifted": {"crash-takeover": ("paths_resumed", 10)},
    "pending-mirror-tracked": {"crash-backup": ("mirror_differs_only_where_tracked", 4)},
    "pending-mirror-resyncs": {"crash-backup": ("resync_restores_mirror", 4)},
}

# part taken out -> why no property notices (the differential test still compares the
# reference array's caches and write-through sets with the model's after recovery)
NOT_CAUGHT: dict[str, str] = {
    "unowned-lines-dropped": "in the correct protocol only the source of an interrupted take-over or the "
    "backup controller of an interrupted cycle holds lines of an LU it is not in charge of, and "
    "step 1 or 2 of the rule has already dropped them",
    "write-through-ended": "write-through is slower, never wrong: no property says when it ends",
}


def _mutant(part: str) -> actions.Action:
    old, new = PARTS[part]
    source = inspect.getsource(actions.crash_recover)
    assert source.count(old) == 1, part
    namespace = dict(vars(actions))
    exec(textwrap.dedent(source.replace(old, new)), namespace)
    return dataclasses.replace(actions.ACTIONS_BY_NAME["crash_recover"], apply=namespace["crash_recover"])


def _first_broken(part: str, scenario: str) -> tuple[str, int] | None:
    m = Model(builtin(scenario))
    mutant = _mutant(part)
    m._unbound = [mutant if a.name == "crash_recover" else a for a in m._unbound]
    check = run_check(m, keep_going=True)
    if not check.counterexamples:
        return None
    first = min(check.counterexamples, key=lambda cx: len(cx.trace))
    return first.property, len(first.trace) - 1


def test_every_part_is_pinned_once() -> None:
    assert set(CAUGHT) | set(NOT_CAUGHT) == set(PARTS)
    assert not set(CAUGHT) & set(NOT_CAUGHT)


@pytest.mark.parametrize("part", list(PARTS))
def test_what_each_part_of_the_recovery_rule_protects(part: str) -> None:
    found = {name: _first_broken(part, name) for name in CRASH_BUILTINS}
    expected = CAUGHT.get(part, {})
    assert {name: hit for name, hit in found.items() if hit is not None} == expected


def test_the_walkthrough_shows_these_pins() -> None:
    """docs/walkthrough.md's table of what each part of the rule protects is these pins."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    section = text.split("### Recovery after a crash\n")[1]
    table = next(block for block in section.split("\n\n") if block.startswith("| part taken out"))
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    assert list(rows) == list(PARTS)
    for part, cells in rows.items():
        if part in NOT_CAUGHT:
            assert cells[0].startswith("none: "), part
            continue
        shown = {name: f"`{prop}` {steps}" for name, (prop, steps) in CAUGHT[part].items()}
        assert cells == [shown.get(name, "") for name in CRASH_BUILTINS], part


# --- the rule's effects, state by state (kills for mutants the built-in outcomes miss) --------

WITNESSES = {
    "crash-takeover": {
        "takeover_completes": 12,
        "write_acked_during_destage": 9,
        "recovery_completes_takeover": 5,
    },
    "crash-backup": {"backup_completes": 12, "write_tracked_during_split": 4, "recovery_abandons_backup": 2},
}


@pytest.mark.parametrize("name", CRASH_BUILTINS)
def test_the_crash_witnesses_are_reached_at_their_pinned_depths(name: str) -> None:
    assert run_check(Model(builtin(name))).witnesses == WITNESSES[name]


def _run(scenario: str, labels: list[str]) -> list[World]:
    m = Model(builtin(scenario))
    return [step.state for step in replay(m, labels)]


def test_the_witnesses_name_only_the_crashes_they_are_for() -> None:
    """A crash while the source holds only a clean line (a read filled it) is not the case
    recovery's de-stage is for; a step other than the crash during a backup abandons nothing."""
    from invariants.witnesses import _recovery_abandons_backup, _recovery_completes_takeover

    m = Model(builtin("crash-takeover"))
    read = ["send_read host0 LU0 block 0", "deliver host0", "process host0", "designate_batch 0"]
    *_, before, after = _run("crash-takeover", [*read, "crash_recover"])
    assert before.controllers[0].cache and not before.controllers[0].cache[0].dirty
    assert not _recovery_completes_takeover(m, before, Label("crash_recover"), after)
    write = ["send_write host0 LU0 block 0", "deliver host0", "process host0", "designate_batch 0"]
    *_, dirty, instructed = _run("crash-takeover", [*write, "instruct LU0 c0->c1"])
    assert dirty.controllers[0].cache[0].dirty
    assert not _recovery_completes_takeover(m, dirty, Label("instruct", (0, 0, 1)), instructed)
    assert _recovery_completes_takeover(
        m, dirty, Label("crash_recover"), _run("crash-takeover", [*write, "crash_recover"])[-1]
    )
    backup = Model(builtin("crash-backup"))
    split, written = _run("crash-backup", ["split_pair backup 0", "send_write host0 LU0 block 0"])[1:]
    assert split.jobs and not _recovery_abandons_backup(
        backup, split, Label("send_write", (0, 0, 0)), written
    )


def test_every_crash_leaves_nothing_in_flight() -> None:
    """From every reachable state of the crash built-ins where a crash is possible: no
    write-through, de-stage, suspension or job is left, no request waits in an inbox or for a
    mirror write, the budget falls by one, every table is the disk's and every LU has the one
    controller its row names; an abandoned backup keeps no tape and no image (``()``)."""
    for name in CRASH_BUILTINS:
        m = Model(builtin(name))
        for w in reachable_worlds(m):
            for t in m.transitions(w, ("crash_recover",)):
                after = t.after
                assert after.crashes == w.crashes - 1
                assert all(c.write_through == () and c.destaging == () for c in after.controllers)
                assert all(p.suspended is False for p in after.paths) and after.jobs == ()
                held = [r for r in after.hosts if r is not None and r.at in (*range(8), Where.MIRRORING)]
                assert held == []
                assert all(c.table == after.disk.table for c in after.controllers)
                for lu, row in enumerate(after.disk.table):
                    assert [c for c, ctl in enumerate(after.controllers) if lu in ctl.active] == [row.current]
                for job in w.jobs:
                    if job.backup:
                        (i,) = [i for i, p in enumerate(m.scenario.pairs) if p.secondary == job.lu]
                        assert (after.pairs[i].tape, after.pairs[i].snapshot) == ((), ())


def test_a_completed_takeovers_row_is_the_one_step_803_writes() -> None:
    """Recovery stores the row Step 803 would have: the destination as default and current."""
    designated = _run("crash-takeover", ["designate_batch 0"])[-1]
    (job,) = designated.jobs
    after = _run("crash-takeover", ["designate_batch 0", "crash_recover"])[-1]
    assert after.disk.table[0] == Row(job.ext_lun, job.port, default=job.destination, current=job.destination)
    finished = [
        step.state
        for step in replay(
            Model(builtin("one-lu")), ["designate_batch 0", "instruct LU0 c0->c1", "write_row LU0 c0->c1"]
        )
    ][-1]
    assert finished.disk.table[0] == after.disk.table[0]


def test_a_spent_budget_says_why_no_crash_comes() -> None:
    m = Model(builtin("crash-takeover"))
    crashed = _run("crash-takeover", ["crash_recover"])[-1]
    assert m.why_not(crashed, Label("crash_recover")) == "the scenario allows no more crashes"


# LU0 moves from controller 0 to 1 while LU1 stays on controller 0; one host writes both.
TWO_LUS = """
name = "crash-two-lus"
[array]
controllers = 2
[[lu]]
controller = 0
ext_lun = 1
[[lu]]
controller = 0
ext_lun = 0
[[host]]
writes = [0, 1]
[faults]
crashes = 1
[takeovers]
mode = "scripted"
[[takeovers.batch]]
lus = [0]
destination = 1
ext_luns = [0]
"""


def test_recovery_writes_each_dirty_line_to_its_own_lu() -> None:
    """The source of an interrupted take-over also holds a dirty line of an LU that stays:
    recovery de-stages the moving LU's lines only, each to its own block."""
    m = Model(parse(TWO_LUS))
    check = run_check(m)
    assert check.verdict == "ok", [c.property for c in check.counterexamples]
    assert check.witnesses["recovery_completes_takeover"] == 5


def test_a_crash_in_any_mode_has_its_witness_too() -> None:
    """The crash witnesses apply wherever the array may crash and LUs move: scripted or, as
    here, designated by the operator ("any" mode)."""
    import dataclasses

    from model.generate import array_scenario

    scenario = dataclasses.replace(array_scenario(2, 1, 1, hosts=1, budget=1), crashes=1)
    check = run_check(Model(scenario))
    assert check.verdict == "ok"
    assert check.witnesses["recovery_completes_takeover"] == 5
    assert "recovery_abandons_backup" not in check.witnesses  # no pair to back up
