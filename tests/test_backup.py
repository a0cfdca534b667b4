"""Embodiment 2 (Steps 901-909): mirrored pairs backed up through a dedicated controller.

Pinned like tests/test_pins.py: the state spaces of the built-ins, each embodiment-2 bug's
broken property and shortest trace, and the scenario rules that keep the model meaningful.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import checked, summary
from lutakeover.docgen.walkthrough import backup_cycle, fig9_table
from lutakeover.formats.itf import read_trace, write_trace
from model.actions import Model
from model.labels import Label
from model.protocol import BACKUP_BUGS, SEEDED_BUGS, Step, variant, without
from model.scenario import ScenarioError, builtin, parse
from model.state import Line, MirrorWrite, PairState, Where, World
from proofs.check import run_check
from proofs.replay import replay
from test_pins import CAUGHT_ALIKE

STATES = {"fig9": (11476, 37406, 36), "backup-and-takeover": (5145, 13962, 34)}


@pytest.mark.parametrize("scenario", list(STATES))
def test_correct_protocol_explores_the_pinned_state_space(scenario: str) -> None:
    check = checked(scenario)
    s = check.search
    assert (s.states, s.transitions, s.depth) == STATES[scenario]
    assert check.verdict == "ok" and s.liveness_checked
    assert check.witnesses["backup_completes"] is not None
    assert check.witnesses["write_tracked_during_split"] is not None


FIRST = {
    "no-default-swap": {"control_returns_home": 12},
    "resync-without-diff": {"resync_restores_mirror": 16},
    "backup-without-destage": {"no_stale_cache": 8},
    "resync-before-backup-done": {"backup_is_point_in_time": 7},
    "stale-diff-copy": {"mirror_differs_only_where_tracked": 12},
}


@pytest.mark.parametrize("scenario", list(STATES))
@pytest.mark.parametrize("bug", list(BACKUP_BUGS))
def test_each_backup_bug_breaks_the_pinned_property(scenario: str, bug: str) -> None:
    check = checked(scenario, bug)
    assert summary(check) == FIRST[bug]
    assert check.verdict == "violated"


ALL = {
    # The mirror stays on the backup controller: neither home nor where it was designated.
    "no-default-swap": {"control_returns_home": 12, "lun_map_well_formed": 12, "rows_follow_designation": 12},
    "resync-without-diff": {"resync_restores_mirror": 16},
    "backup-without-destage": {
        "no_stale_cache": 8,
        "mirror_differs_only_where_tracked": 8,
        "backup_is_point_in_time": 9,
    },
    "resync-before-backup-done": {"backup_is_point_in_time": 7},
    # The row comes back at 907 without the blocks written since the split; the
    # re-synchronization then declares the pair whole with them still different.
    "stale-diff-copy": {"mirror_differs_only_where_tracked": 12, "resync_restores_mirror": 16},
}


@pytest.mark.parametrize("bug", list(BACKUP_BUGS))
def test_keep_going_finds_every_property_a_backup_bug_breaks(bug: str) -> None:
    assert summary(checked("fig9", bug, keep_going=True)) == ALL[bug]


# With a backup interleaved, each embodiment-1 bug is still caught on the plain take-over.
TAKEOVER_BUGS = {
    **CAUGHT_ALIKE,
    "keep-clean-lines": {"no_stale_cache": 15},  # no host reads: the kept line is a de-staged one
    # The mirror write at 903 leaves a clean line after the purge, before the primary's take-over.
    "literal-write-through": {"no_stale_cache": 9},
    "concurrent-same-lu": {},  # one scripted batch cannot move an LU twice
    "no-resume": {"paths_resumed": 25},
}


@pytest.mark.parametrize("bug", list(SEEDED_BUGS))
def test_takeover_bugs_are_caught_beside_a_backup(bug: str) -> None:
    assert summary(checked("backup-and-takeover", bug)) == TAKEOVER_BUGS[bug]


def test_fig9_has_no_plain_takeover_so_takeover_bugs_change_nothing() -> None:
    assert checked("fig9", "skip-destage").search.states == STATES["fig9"][0]


def test_a_backup_may_repeat_once_the_pair_is_whole_again() -> None:
    twice = replace(builtin("fig9"), name="fig9-twice", backups=(0, 0))
    check = run_check(Model(twice, variant("correct")))
    assert check.verdict == "ok"
    assert (check.search.states, check.search.depth) == (1308, 36)
    m = Model(twice)
    run = states(m, _one_backup_cycle(m) + _one_backup_cycle(m, index=1))
    assert run[-1].backups == 2 and run[-1].pairs[0].state is PairState.PAIRED


def states(m: Model, labels: list[str]) -> list[World]:
    return [step.state for step in replay(m, labels)]


def _one_backup_cycle(m: Model, index: int = 0) -> list[str]:
    return backup_cycle(1, 0, 0, index)


def test_the_backup_cycle_swaps_default_and_current_and_back() -> None:
    """Figs. 9A -> 9B -> 9A for LU1: (default 2, current 0) -> (0, 2) -> (2, 0)."""
    m = Model(builtin("fig9"))
    run = states(m, _one_backup_cycle(m))
    rows = [(w.disk.table[1].default, w.disk.table[1].current) for w in run]
    assert rows[0] == (2, 0)  # Fig. 9A
    assert rows[2] == (0, 2)  # Fig. 9B, after Step 902
    assert rows[-1] == (2, 0)  # Fig. 9A again, after Step 907
    assert all(w.controllers[c].table == w.disk.table for w in (run[2], run[-1]) for c in range(3))


def test_a_write_while_split_is_tracked_and_copied_back_by_the_resync() -> None:
    m = Model(builtin("fig9"))
    cycle = _one_backup_cycle(m)
    write = ["send_write host0 LU0 block 0", "deliver host0", "process host0", "complete host0"]
    run = states(m, cycle[:5] + write + cycle[5:-1])
    assert run[-1].pairs[0].diff == (0,) and run[-1].pairs[0].state is PairState.RESYNCING
    assert run[-1].pairs[0].tape == (0,)  # the image at the split, not the later write
    run = states(m, cycle[:5] + write + cycle[5:-1] + ["resync_block pair0 block 0", "resync_done pair0"])
    assert run[-1].pairs[0].state is PairState.PAIRED
    assert run[-1].controllers[0].cache[-1][:3] == (1, 0, 1)  # LU1 block 0 now holds the write


def test_direct_topology_delivers_to_the_cabled_controller() -> None:
    m = Model(builtin("fig9"))
    run = states(m, ["send_write host1 LU2 block 0", "deliver host1"])
    request = run[-1].hosts[1]
    assert request is not None and request.at == 1


def test_backup_steps_carry_the_patent_numbers() -> None:
    numbers = {step.number for step in Model(builtin("fig9")).backup_order}
    assert numbers == {"901", "902", "903", "904", "905", "906", "907", "908", "909"}
    assert Step.RESYNC_DONE.number == "906"


FIG9 = builtin("fig9")
BASE = """
name = "t"
[array]
controllers = 3
topology = "direct"
[[lu]]
id = 0
controller = 0
ext_lun = 0
[[lu]]
id = 1
controller = 0
default = 2
ext_lun = 1
[[pair]]
primary = 0
secondary = 1
[[backup]]
pair = 0
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[host]]\nname = "h"\nwrites = [0]\n', "host[0].controller: topology 'direct' cables each host"),
        ('[[host]]\nname = "h"\ncontroller = 0\nwrites = [1]\n', "LU1 is a mirror; only the backup host"),
        ('[[host]]\nname = "h"\ncontroller = 7\n', "host[0].controller: controller 7 does not exist"),
        ("[[backup]]\npair = 3\n", "backup[1].pair: pair 3 does not exist"),
        ("[[pair]]\nprimary = 1\nsecondary = 0\n", "LU1 is already in a pair"),
        ('[takeovers]\nmode = "any"\nbudget = 1\n', "a plain take-over moves an LU away from a directly"),
    ],
)
def test_bad_pair_scenarios_are_refused_with_the_field(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(BASE + extra)


def test_a_mirror_must_name_the_backup_controller_as_default() -> None:
    with pytest.raises(ScenarioError, match="default controller must name the backup controller"):
        parse(BASE.replace("default = 2\n", ""))


def test_unknown_topology_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"array\.topology: 'ring'"):
        parse(BASE.replace('topology = "direct"', 'topology = "ring"'))


def test_the_walkthrough_in_the_docs_is_the_models() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "backup.md").read_text()
    assert fig9_table() in doc


def test_an_embodiment_2_trace_round_trips_through_itf(tmp_path: Path) -> None:
    check = checked("fig9", "backup-without-destage", keep_going=True)
    v = check.shortest()["backup_is_point_in_time"]
    path = tmp_path / "backup.itf.json"
    write_trace(path, v, "test", "tape differs from the split image")
    assert read_trace(path) == v.trace
    assert any(step.state.pairs[0].tape for step in read_trace(path))


# --- the mirror write is a step of its own ------------------------------------------------------

WRITE_LU0 = ["send_write host0 LU0 block 0", "deliver host0", "process host0"]


def test_a_write_of_a_paired_primary_is_answered_once_the_mirror_has_it() -> None:
    m = Model(builtin("fig9"))
    run = states(m, [*WRITE_LU0, "mirror_write pair0", "complete host0"])
    handed = run[3]
    assert handed.hosts[0] is not None and handed.hosts[0].at == Where.MIRRORING
    assert handed.pairs[0].mirror == MirrorWrite(0, 1, 0) and handed.controllers[0].cache == (
        Line(0, 0, 1, True),
    )
    assert run[4].pairs[0].mirror is None and run[4].controllers[0].cache[-1] == Line(1, 0, 1, True)
    assert run[-1].ghost.acked[0] == (1,)
    assert m.why_not(handed, Label.parse("complete host0")) == "no reply is on its way to host0"


def test_a_mirror_write_under_way_at_the_split_reaches_the_tape() -> None:
    """The primary had the write before the split, so the image holds it: the source may
    not hand the mirror over (904) before performing the write, under write-through (903)."""
    m = Model(builtin("fig9"))
    cycle = _one_backup_cycle(m)
    run = states(m, [*WRITE_LU0, *cycle[:4]])
    w = run[-1]
    assert w.pairs[0].snapshot == (1,) and w.pairs[0].mirror == MirrorWrite(0, 1, 0)
    assert m.why_not(w, Label.parse(cycle[4])) == "controller 0 still has a mirror write of LU1 to perform"
    run = states(m, [*WRITE_LU0, *cycle[:4], "mirror_write pair0", *cycle[4:7]])
    assert run[-4].disk.blocks[1] == (1,) and run[-4].controllers[0].cache == (Line(0, 0, 1, True),)
    assert run[-1].pairs[0].tape == (1,)


def test_without_the_write_through_of_903_a_late_mirror_write_stays_in_the_source() -> None:
    m = Model(builtin("fig9"), without(Step.BEGIN_BACKUP_DESTAGE))
    cycle = [label for label in _one_backup_cycle(m) if not label.startswith("begin_backup_destage")]
    w = states(m, [*WRITE_LU0, *cycle[:3], "mirror_write pair0"])[-1]
    assert Line(1, 0, 1, True) in w.controllers[0].cache  # dirty, after the purge: 904 gives it away


# backup-twice: one pair backed up twice (the second cycle starts once the pair is whole
# again); primary-moves: a backup while the primary is taken over (tests/test_primary_moves.py).
MORE_STATES = {"backup-twice": (7418, 14920, 48), "primary-moves": (4486, 11198, 36)}
# backup-twice's mirror has two blocks: Step 905 takes a step more than in fig9.
MORE_FIRST = {
    "backup-twice": {
        "no-default-swap": {"control_returns_home": 13},
        "resync-without-diff": {"resync_restores_mirror": 17},
        "backup-without-destage": {"no_stale_cache": 8},
        "resync-before-backup-done": {"backup_is_point_in_time": 7},
        "stale-diff-copy": {"mirror_differs_only_where_tracked": 13},
    },
    "primary-moves": FIRST,
}


@pytest.mark.parametrize("scenario", list(MORE_STATES))
def test_more_backup_builtins_explore_the_pinned_state_space(scenario: str) -> None:
    check = checked(scenario)
    s = check.search
    assert (s.states, s.transitions, s.depth) == MORE_STATES[scenario]
    assert check.verdict == "ok" and all(depth is not None for depth in check.witnesses.values())


@pytest.mark.parametrize("scenario", list(MORE_FIRST))
@pytest.mark.parametrize("bug", list(BACKUP_BUGS))
def test_more_backup_builtins_catch_each_backup_bug(scenario: str, bug: str) -> None:
    assert summary(checked(scenario, bug)) == MORE_FIRST[scenario][bug]
