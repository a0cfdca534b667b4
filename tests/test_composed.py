"""The composed search (``proofs.composed``): every state of an array, as one record per
group of LUs, finds what the search of whole states finds (states, depth, counterexamples,
witnesses and liveness verdicts), where LUs share ports too, and where a host or a mirrored
pair ties LUs into a group; a step that ties two groups is caught."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import AGREEMENT, SLOW, reachable_worlds, summary
from invariants import SAFETY
from lutakeover.cli import main
from model.actions import Model, Transition
from model.protocol import BACKUP_BUGS, CORRECT, RECOVERY_BUGS, VARIANTS, variant
from model.scenario import Scenario, builtin, builtin_names, load, parse
from model.state import Job, World
from proofs.check import Check, run_check
from proofs.composed import (
    CRASH,
    Composition,
    NotComposable,
    composed_check,
    live_groups,
    lu_groups,
)
from test_product import array

ARRAYS = Path(__file__).parent.parent / "benchmarks" / "arrays"
GROUPED = Path(__file__).parent.parent / "benchmarks" / "grouped"


def findings(check: Check) -> tuple[object, ...]:
    """Everything a search reports: verdict, each broken property's shortest counterexample
    (safety and liveness), witnesses, states, transitions and depth."""
    s = check.search
    return check.verdict, summary(check), check.witnesses, (s.states, s.transitions, s.depth)


# (controllers, LUs, blocks, budget): where LUs share ports, so the per-LU product does not
# apply. (2, 3, 1, 1): LU0 and LU2 share port 0 of controller 0; (3, 2, 1, 2): two LUs can
# arrive at controller 2's port 1 in either order; (2, 2, 1, 3): three take-overs can bring
# both LUs to one port.
SHAPES = [
    *[((2, 3, 1, 1), name) for name in VARIANTS],
    *[pytest.param((3, 2, 1, 2), name, marks=AGREEMENT) for name in VARIANTS],
    *[pytest.param((2, 2, 1, 3), name, marks=AGREEMENT) for name in VARIANTS],
]


@pytest.mark.parametrize(("shape", "name"), SHAPES)
def test_the_composed_search_finds_what_the_search_of_whole_states_finds(
    shape: tuple[int, int, int, int], name: str
) -> None:
    # The correct protocol and every seeded bug, liveness included, every property's
    # shortest counterexample: the same, and the same number of states in every case.
    finds_the_same(Model(array(*shape), variant(name)))


SCRIPT_TWO = """\
name = "script-two"
description = "two LUs on controller 0, a host each, moved to controller 1 together and taken back"
[array]
controllers = 2
[[lu]]
id = 0
controller = 0
port = 0
ext_lun = 0
[[lu]]
id = 1
controller = 0
port = 0
ext_lun = 1
[[host]]
name = "h0"
writes = [0]
reads = [0]
[[host]]
name = "h1"
writes = [1]
[workload]
writes_per_block = 1
reads_per_block = 1
[takeovers]
mode = "scripted"
[[takeovers.batch]]
lus = [0, 1]
destination = 1
[[takeovers.batch]]
lus = [0, 1]
destination = 0
"""


# Batches of one LU each, the second designated while the first is under way, on a port
# and external LUN of their own, then a take-back.
OVERLAP = """\
name = "overlap"
description = "two LUs, batches of one that may overlap, then a take-back"
[array]
controllers = 3
ports = 2
[[lu]]
id = 0
controller = 0
port = 0
ext_lun = 0
[[lu]]
id = 1
controller = 1
port = 0
ext_lun = 0
[[host]]
name = "h0"
writes = [0]
[[host]]
name = "h1"
writes = [1]
reads = [1]
[workload]
writes_per_block = 1
reads_per_block = 1
[takeovers]
mode = "scripted"
[[takeovers.batch]]
lus = [0]
destination = 2
port = 1
[[takeovers.batch]]
lus = [1]
destination = 2
port = 1
ext_luns = [1]
[[takeovers.batch]]
lus = [1]
destination = 1
port = 0
ext_luns = [0]
"""


# script-two where the whole array may crash once: a crash changes every group's record.
CRASH_TWO = SCRIPT_TWO.replace('name = "script-two"', 'name = "script-two-crash"').replace(
    "[takeovers]", "[faults]\ncrashes = 1\n\n[takeovers]"
)


def scripted(name: str) -> Scenario:
    if (GROUPED / f"{name}.toml").exists():
        return load(GROUPED / f"{name}.toml")
    texts = {"script-two": SCRIPT_TWO, "overlap": OVERLAP, "script-two-crash": CRASH_TWO}
    return parse(texts[name]) if name in texts else builtin(name)


FIVE = ("correct", "skip-destage", "no-resume", "start-before-stop", "stale-config-row")

# Scripted take-overs: one designation names every LU of its batch, and the script's
# progress is a counter with obligations of its own (script_completes). three-hosts: a
# batch of two LUs, one of them with two hosts; script-two: two batches, the second taking
# both LUs back. Every variant of both (by default one seeded bug); overlapping batches
# under five variants in the agreement step.
SCRIPTED = [
    (scenario, name)
    if (scenario, name) == ("three-hosts", "skip-destage")
    else pytest.param(
        scenario,
        name,
        # script-two under concurrent-same-lu: 2,904,080 states, 4 minutes of the search of
        # whole states.
        marks=pytest.mark.bench if (scenario, name) == ("script-two", "concurrent-same-lu") else AGREEMENT,
    )
    for scenario in ("three-hosts", "script-two")
    for name in VARIANTS
    # Bugs of backups and of crash recovery change nothing in a script with neither: their
    # searches are the correct protocol's (measured once on both, findings equal).
    if name not in BACKUP_BUGS and name not in RECOVERY_BUGS
] + [pytest.param("overlap", name, marks=AGREEMENT) for name in FIVE]

# The arrays of benchmarks/grouped/, whose records are groups of two LUs: two mirrored
# pairs, a host writing each primary (46,336 states; a seeded bug breaking a pair's
# property, resync_restores_mirror, by default), and two hosts each writing one LU and
# reading another ("any" mode; 142,052 states, five variants in the agreement step).
SCRIPTED += [
    # Crashes: script-two's two groups (70,016 states), the recovery's seeded bug by
    # default; the built-ins of one group in the agreement step.
    ("script-two-crash", "recover-without-destage"),
    *[pytest.param("script-two-crash", name, marks=AGREEMENT) for name in FIVE],
    *[
        pytest.param(scenario, name, marks=AGREEMENT)
        for scenario, names in (
            ("crash-takeover", ("correct", "recover-without-destage", "skip-destage")),
            ("crash-backup", ("correct", "backup-without-destage", "stale-diff-copy")),
        )
        for name in names
    ],
    ("two-pairs", "skip-destage"),
    # fig9: two pairs, each backed up in turn (Step 901 counts the backups begun); of the
    # built-ins with pairs, the only one of two groups. primary-moves: a backup and a
    # take-over of the pair's primary in one group.
    ("fig9", "stale-diff-copy"),
    *[pytest.param("fig9", name, marks=AGREEMENT) for name in VARIANTS if name != "stale-diff-copy"],
    *[
        pytest.param("primary-moves", name, marks=AGREEMENT)
        for name in (*FIVE, "backup-without-destage", "no-default-swap", "stale-diff-copy")
    ],
    *[
        # concurrent-same-lu: 314,306 states, 38 s of the search of whole states.
        pytest.param(
            "two-pairs", name, marks=pytest.mark.bench if name == "concurrent-same-lu" else AGREEMENT
        )
        for name in VARIANTS
        # As above: with no backup or crash scripted, those bugs' searches are the correct
        # protocol's (measured once, findings equal).
        if name != "skip-destage" and name not in BACKUP_BUGS and name not in RECOVERY_BUGS
    ],
    *[pytest.param("two-hosts", name, marks=AGREEMENT) for name in FIVE],
]


@pytest.mark.parametrize(("scenario", "name"), SCRIPTED)
def test_scripts_and_groups_compose_and_find_what_the_search_of_whole_states_finds(
    scenario: str, name: str
) -> None:
    finds_the_same(Model(scripted(scenario), variant(name)))


# Every other built-in under every variant, on demand (-m bench; 251 cases, 14 minutes on
# two cores): composing is not their default (one group of LUs can change), but --composed
# takes them, and must find the same.
COVERED = {tuple(getattr(p, "values", p)) for p in SCRIPTED}  # a pytest.param's, or the pair
EVERY_BUILTIN = [
    pytest.param(scenario, name, marks=pytest.mark.bench)
    for scenario in builtin_names()
    for name in VARIANTS
    # chain under concurrent-same-lu: with one group, a record is a whole state, and the
    # composed search keeps every record; its records outgrew 7 GB.
    if (scenario, name) not in COVERED and (scenario, name) != ("chain", "concurrent-same-lu")
]


@pytest.mark.parametrize(("scenario", "name"), EVERY_BUILTIN)
def test_every_built_in_composes_and_finds_what_the_search_of_whole_states_finds(
    scenario: str, name: str
) -> None:
    finds_the_same(Model(builtin(scenario), variant(name)))


def finds_the_same(model: Model) -> None:
    whole = run_check(model, symmetry=False, keep_going=True)
    composed = composed_check(model, keep_going=True)
    assert findings(composed) == findings(whole)
    for v in composed.counterexamples:  # each a run of the array, breaking its property
        assert v.trace[0].state == model.initial()
        for before, step in zip(v.trace, v.trace[1:], strict=False):
            assert Model.transition_labelled(model, before.state, step.label) is not None
        if v.kind == "safety":
            prop = next(p for p in SAFETY if p.name == v.property)
            assert prop.check(model, v.trace[-1].state) == v.message


@pytest.mark.parametrize(
    ("shape", "states"),
    [((3, 2, 1, 2), 26_015), ((2, 3, 1, 1), 3_425), ((2, 2, 1, 3), 26_057)],
)
def test_where_the_product_is_wrong_the_composed_search_counts_right(
    shape: tuple[int, int, int, int], states: int
) -> None:
    """The arrays tests/test_product.py shows the per-LU product miscounting (LUs sharing
    a port: Step 801's lowest free LUN and gap rule tie them)."""
    check = composed_check(Model(array(*shape), CORRECT), liveness=False)
    assert (check.verdict, check.search.states) == ("ok", states)


def test_each_state_stands_for_the_world_it_was_split_from() -> None:
    model = Model(array(2, 3, 1, 1), CORRECT)
    comp = Composition(model)
    worlds = reachable_worlds(model)
    assert len(worlds) == 3_425
    for w in worlds:
        parts = [comp.intern(lu, p) for lu, p in enumerate(comp.split(w))]
        assert comp.world((w.budget, -1, *parts)) == w


@pytest.mark.parametrize(
    ("name", "variant_name"), [("fig9", "stale-diff-copy"), ("script-two-crash", "recover-without-destage")]
)
def test_the_array_kept_for_a_new_record_is_the_one_joined_for_it(
    name: str, variant_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record's own steps and properties are worked out in the array a step found it in
    (``Composition.alone`` keeps it): that array must be the one its records join into."""
    kept = 0
    alone = Composition.alone

    def checked(comp: Composition, g: int, n: int) -> World:
        nonlocal kept
        w = alone(comp, g, n)
        if n in comp._alone:
            kept += 1
            assert w == comp.join(comp.done, None, comp.alone_records(g, n))
        return w

    monkeypatch.setattr(Composition, "alone", checked)
    check = composed_check(Model(scripted(name), variant(variant_name)), liveness=True, keep_going=True)
    # Each record a step found is asked for twice (its properties, then its steps).
    assert check.lu_records is not None and kept >= sum(check.lu_records)


class Tied(Model):
    """A mutant array in which a host's write to LU0 also suspends LU1's path: one step
    changes two LUs."""

    def transitions(self, w: World, names: object = None, lu: int | None = None) -> Iterator[Transition]:
        for t in super().transitions(w, names, lu):  # type: ignore[arg-type]
            if t.action.name == "send_write" and t.args[1] == 0:
                paths = (t.after.paths[0], t.after.paths[1]._replace(suspended=True), *t.after.paths[2:])
                t = Transition(t.action, t.args, t.after._replace(paths=paths))
            yield t


def test_a_step_that_changes_two_lus_is_caught() -> None:
    with pytest.raises(NotComposable, match="'send_write host0 LU0 block 0' changes LU0 and LU1"):
        composed_check(Tied(array(2, 2, 1, 1), CORRECT), liveness=False)


def test_a_script_left_undone_is_found_by_the_counters_obligations(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mutant of Step 801's guard that refuses every take-back: script-two's second batch
    is never designated, which only the counter's obligations show (no LU's record owes
    it). A composition that forgets them misses the violation."""
    import model.actions as actions

    model = Model(parse(SCRIPT_TWO), CORRECT)
    done = composed_check(model)
    assert (done.verdict, done.search.states, done.search.depth) == ("ok", 35_008, 58)
    accept = actions._create_jobs

    def refuse_take_backs(m: actions.Model, w: World, jobs: list[Job]) -> World | None:
        return None if any(job.destination == 0 for job in jobs) else accept(m, w, jobs)

    monkeypatch.setattr(actions, "_create_jobs", refuse_take_backs)
    check = composed_check(model)
    assert findings(check) == findings(run_check(model, symmetry=False))
    (v,) = check.counterexamples
    assert (v.property, v.kind) == ("script_completes", "deadlock")
    assert "batch 1 of the script is never designated" in v.message
    monkeypatch.setattr(Composition, "counter_pending", lambda self, counter: frozenset())
    missed = composed_check(model)  # vacuous only: the take-back witness is never reached
    assert missed.counterexamples == [] and missed.verdict == "vacuous"


def test_check_composes_by_default_where_it_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shared.toml"
    path.write_text(SHARED)
    assert main(["check", str(path), "--json"]) == 0
    out = capsys.readouterr()
    assert "every state searched as one record per group of LUs" in out.err
    composed = json.loads(out.out)
    assert composed["lu_records"] is not None and composed["liveness_checked"]
    assert main(["check", str(path), "--json", "--quiet", "--no-composed"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["lu_records"] is None
    same = ("states", "transitions", "depth", "verdict", "witnesses", "properties")
    assert {k: composed[k] for k in same} == {k: whole[k] for k in same}
    assert composed["states"] == 3_425
    # A reduction asked for, or both at once, is not composed; one LU is not worth it.
    for extra in (["--symmetry", "--no-liveness"], ["--product", "--no-liveness"]):
        assert main(["check", str(path), "--json", "--quiet", *extra, "--composed"]) == 2
    assert "choose one" in capsys.readouterr().err
    assert main(["check", "--builtin", "ping-pong", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["lu_records"] is None
    # fig5: of its groups LU0, LU1 and LU2+LU3 only the last changes, so its records are
    # whole states: not composed by default, and a note where asked for.
    assert main(["check", "--builtin", "fig5", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["lu_records"] is None
    assert main(["check", "--builtin", "fig5", "--json", "--composed", "--no-liveness"]) == 0
    out = capsys.readouterr()
    assert "one group of LUs at most can change here" in out.err
    assert json.loads(out.out)["lu_groups"] == [[0], [1], [2, 3]]


class CrashTied(Model):
    """A mutant recovery that also suspends LU1's path: a crash changes a group where it
    started."""

    def transitions(self, w: World, names: object = None, lu: int | None = None) -> Iterator[Transition]:
        for t in super().transitions(w, names, lu):  # type: ignore[arg-type]
            if t.action.name == "crash_recover":
                paths = (t.after.paths[0], t.after.paths[1]._replace(suspended=True))
                t = Transition(t.action, t.args, t.after._replace(paths=paths))
            yield t


def test_a_crash_is_worked_out_per_group_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash changes every group's record, each worked out once per record: a recovery
    that changes a group where it started is caught, and a composition that forgets the
    witnesses a group's crash reaches leaves recovery_completes_takeover unreached."""
    with pytest.raises(NotComposable, match="'crash_recover' changes LU1 where it started"):
        composed_check(CrashTied(parse(CRASH_TWO), CORRECT), liveness=False)
    model = Model(parse(CRASH_TWO), CORRECT)
    check = composed_check(model, liveness=False)
    assert (check.verdict, check.search.states, check.witnesses["recovery_completes_takeover"]) == (
        "ok",
        70_016,
        5,
    )
    crashed = Composition.crashed

    def forgetting(self: Composition, n: int) -> int:
        m = crashed(self, n)
        for reached in self.reached.values():
            reached.discard((n, CRASH))
        return m

    monkeypatch.setattr(Composition, "crashed", forgetting)
    missed = composed_check(model, liveness=False)
    assert (missed.verdict, missed.witnesses["recovery_completes_takeover"]) == ("vacuous", None)


class NoSecondBackup(Model):
    """A mutant of Step 901 that never splits the backup script's second pair."""

    def transitions(self, w: World, names: object = None, lu: int | None = None) -> Iterator[Transition]:
        for t in super().transitions(w, names, lu):  # type: ignore[arg-type]
            if not (t.action.name == "split_pair" and t.args == (1,)):
                yield t


def test_a_backup_script_left_undone_is_found_by_the_counters_obligations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fig9 under a mutant that never begins its second backup: only the counter owes it
    (no group's record does), and a composition that forgets that calls the array correct."""
    model = NoSecondBackup(builtin("fig9"), CORRECT)
    check = composed_check(model)
    assert findings(check) == findings(run_check(model, symmetry=False))
    (v,) = check.counterexamples
    assert (v.property, v.kind, check.search.states) == ("script_completes", "deadlock", 660)
    assert "backup 1 of the script never starts" in v.message
    monkeypatch.setattr("proofs.composed.backups_pending", lambda m, begun: frozenset())
    assert composed_check(model).verdict == "ok"


@pytest.mark.parametrize(
    ("name", "groups", "live"),
    [
        ("fig5", [(0,), (1,), (2, 3)], 1),  # host0 uses LU2 and LU3; nothing moves LU0 or LU1
        ("fig9", [(0, 1), (2, 3)], 2),  # two mirrored pairs
        ("three-way", [(0, 1)], 1),  # host0 writes LU0 and reads LU1
        ("three-hosts", [(0,), (1,)], 2),  # host2 reads LU0 only
        ("backup-and-takeover", [(0, 1, 2)], 1),  # the pair LU0-LU1, and host0 writes LU0 and LU2
    ],
)
def test_lus_a_host_or_a_pair_ties_share_a_group(name: str, groups: list[tuple[int, ...]], live: int) -> None:
    model = Model(builtin(name), CORRECT)
    assert (lu_groups(model.scenario), live_groups(model)) == (groups, live)


def test_the_grouped_arrays_are_searched_per_group() -> None:
    """Pinned: states, depth, and each group's records (the pair LU0-LU1 moves twice, the
    pair LU2-LU3 once, so the first has more)."""
    check = composed_check(Model(scripted("two-pairs"), CORRECT))
    assert (check.verdict, check.search.states, check.search.depth) == ("ok", 46_336, 50)
    assert (check.lu_groups, check.lu_records) == ([[0, 1], [2, 3]], [272, 176])


@pytest.mark.parametrize(
    ("scenario", "tie", "message"),
    [
        ("two-pairs", "pairs", "'mirror_write pair0' changes LU0 and LU1"),
        ("two-hosts", "hosts", "changes LU0 and LU1"),
    ],
)
def test_a_group_split_where_a_host_or_a_pair_ties_its_lus_is_caught(
    scenario: str, tie: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutant of the grouping that forgets one kind of tie (the pairs, or the LUs a host
    reads), so each LU is a record of its own: the check that every step worked out
    changes one record stops the search."""
    import proofs.composed as composed

    grouped = composed.lu_groups

    def forgetting(s: Scenario) -> list[tuple[int, ...]]:
        if tie == "pairs":
            return grouped(replace(s, pairs=()))
        return grouped(replace(s, hosts=tuple(replace(h, reads=()) for h in s.hosts)))

    monkeypatch.setattr(composed, "lu_groups", forgetting)
    with pytest.raises(NotComposable, match=message):
        composed_check(Model(scripted(scenario), CORRECT), liveness=False)


SHARED = """\
name = "shared-port"
description = "LU0 and LU2 share port 0 of controller 0"
[array]
controllers = 2
ports = 2
[[lu]]
id = 0
controller = 0
port = 0
ext_lun = 0
[[lu]]
id = 1
controller = 1
port = 0
ext_lun = 0
[[lu]]
id = 2
controller = 0
port = 0
ext_lun = 1
[[host]]
name = "h0"
writes = [0]
[[host]]
name = "h1"
writes = [1]
[[host]]
name = "h2"
writes = [2]
[workload]
writes_per_block = 1
reads_per_block = 0
[takeovers]
mode = "any"
budget = 1
port = 1
"""


@SLOW
@pytest.mark.parametrize(
    ("name", "states", "depth"),
    [("array-2x2x1-t3", 1_142_940, 60), ("array-3x2x1-t2", 973_262, 48)],
)
def test_the_benchmark_arrays_the_product_cannot_take_are_searched_whole(
    name: str, states: int, depth: int
) -> None:
    """array-2x2x1-t3: the search of whole states found 1,142,940 states in 89 s."""
    check = composed_check(Model(load(ARRAYS / f"{name}.toml"), CORRECT), liveness=False)
    assert (check.verdict, check.search.states, check.search.depth) == ("ok", states, depth)
