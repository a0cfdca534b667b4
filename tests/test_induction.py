"""The inductive proof, pinned: the correct protocol proves every obligation, each seeded bug
fails the obligations pinned here, and counterexamples to induction are classified."""

from __future__ import annotations

import functools
import itertools
import json
from typing import Any

import pytest
import z3

from conftest import AGREEMENT, one_by_default, reachable_worlds
from invariants import SAFETY
from model.actions import ACTIONS as MODEL_ACTIONS
from model.actions import Model, Transition
from model.generate import array_scenario
from model.protocol import ALL_BUGS, BACKUP_BUGS, CORRECT, SEEDED_BUGS, Protocol, Step, variant
from model.scenario import builtin
from model.state import Op, PairState, Request, World, in_inbox, replace_at
from proofs.check import run_check
from proofs.induction import (
    ACTION_NAMES,
    INITIAL,
    LEMMA_NAMES,
    OBLIGATIONS,
    PART_NAMES,
    Image,
    ProofResult,
    broken_in,
    failing,
    format_cti,
    format_proof,
    obligations,
    prove,
    prover,
    simulates,
)

PARTS = [
    # properties (invariants/safety.py)
    "single_active_controller",
    "no_acknowledged_write_lost",
    "reads_return_written_data",
    "no_stale_cache",
    "path_routes_to_owner",
    "tables_agree",
    # lemmas
    "one_job_per_lu",
    "job_marks_lu_busy",
    "busy_lu_has_job",
    "source_is_not_destination",
    "owner_at_rest",
    "path_at_rest",
    "active_follows_job",
    "route_follows_job",
    "suspension_follows_job",
    "disk_current_follows_job",
    "tables_follow_job",
    "write_through_while_moving",
    "source_purged",
    "inbox_is_active",
    "clean_lines_match_disk",
    "destage_has_dirty_line",
    "visible_is_expected",
    # embodiment 2: properties (invariants/safety.py)
    "backup_is_point_in_time",
    "mirror_differs_only_where_tracked",
    "resync_restores_mirror",
    "control_returns_home",
    # embodiment 2: lemmas
    "pairs_well_formed",
    "hosts_leave_mirrors_alone",
    "takeovers_avoid_pairs",
    "backup_job_of_pair",
    "row_follows_backup_job",
    "control_follows_backup_job",
    "backup_caches_purged",
    "tape_complete_after_backup",
    "secondary_holds_snapshot",
    "mirror_is_expected",
    "mirror_write_waits_for_writer",
    "mirror_write_at_holder",
    "write_through_until_hand_over",
    "secondary_default_elsewhere",
    "paired_is_idle",
    "split_has_job",
]

# The embodiment-2 actions (Steps 901-909, the mirror write and the re-synchronization),
# which an array without pairs never takes.
BACKUP_ACTIONS = [
    "split_pair",
    "migrate_out",
    "begin_backup_destage",
    "destage_backup_line",
    "purge_backup",
    "hand_over",
    "backup_block",
    "backup_done",
    "request_resync",
    "migrate_back",
    "begin_return_destage",
    "destage_return_line",
    "purge_return",
    "return_control",
    "mirror_write",
    "resync_block",
    "resync_done",
]

# The obligations each seeded bug fails: action -> parts it does not preserve.
FAILS: dict[str, dict[str, list[str]]] = {
    "skip-destage": {"stop_source": ["no_acknowledged_write_lost", "no_stale_cache", "visible_is_expected"]},
    "no-write-through": {"begin_destage": ["write_through_while_moving"]},
    "write-back-after-destage": {"notify": ["write_through_while_moving"]},
    "no-suspend": {"switch_path": ["path_routes_to_owner"]},
    "start-before-stop": {"start_destination": ["single_active_controller"]},
    "stop-without-drain": {"stop_source": ["inbox_is_active"]},
    "keep-clean-lines": {"purge": ["source_purged"]},
    "resume-before-switch": {"switch_path": ["path_routes_to_owner"]},
    "stale-config-row": {"read_row": ["tables_follow_job"]},
    "concurrent-same-lu": {
        "designate": [
            "one_job_per_lu",
            "active_follows_job",
            "route_follows_job",
            "suspension_follows_job",
            "tables_follow_job",
        ]
    },
    "no-resume": {},
    "destage-clean-unconditionally": {"destage_done": ["clean_lines_match_disk"]},
    # A write-through write keeping a line: at the source after 804's purge, and (the mirror
    # write, performed after the split) at the source after 903's purge.
    "literal-write-through": {"process": ["source_purged"], "mirror_write": ["backup_caches_purged"]},
    # embodiment 2
    "no-default-swap": {"migrate_out": ["row_follows_backup_job"]},
    "resync-without-diff": {"resync_done": ["resync_restores_mirror", "mirror_is_expected"]},
    "backup-without-destage": {
        "hand_over": [
            "no_stale_cache",
            "mirror_differs_only_where_tracked",
            "secondary_holds_snapshot",
            "mirror_is_expected",
        ]
    },
    "resync-before-backup-done": {"backup_done": ["tape_complete_after_backup"]},
    "stale-diff-copy": {"migrate_back": ["mirror_differs_only_where_tracked", "mirror_is_expected"]},
    # recovery after a crash
    "recover-without-destage": {
        "crash_recover": [
            "no_acknowledged_write_lost",
            "visible_is_expected",
            "mirror_differs_only_where_tracked",
            "mirror_is_expected",
        ]
    },
}


@functools.cache
def proof(name: str = "correct", classify: bool = False, omit: frozenset[str] = frozenset()) -> ProofResult:
    """One proof per argument tuple for the whole module."""
    return prove(variant(name), classify=classify, omit=omit)


def test_the_invariant_has_the_pinned_parts() -> None:
    assert list(PART_NAMES) == PARTS
    safety = {p.name for p in SAFETY}
    assert {p for p in PARTS if p not in LEMMA_NAMES} <= safety


def test_the_abstract_actions_are_the_models() -> None:
    # designate_batch is a sequence of designate steps here.
    assert list(ACTION_NAMES) == [a.name for a in MODEL_ACTIONS if a.name != "designate_batch"]


def test_correct_protocol_proves_every_obligation() -> None:
    result = proof()
    assert result.proved
    # 39 actions and the initial condition, 43 parts (23 of embodiment 1, 20 of embodiment 2).
    assert len(result.obligations) == len(OBLIGATIONS) == 40 * 43 == 1720
    assert [(o.action, o.part) for o in result.obligations] == list(OBLIGATIONS)
    assert all(o.status == "ok" and o.cti is None for o in result.obligations)
    assert result.vacuous == ()  # every action is enabled in some state of the invariant


def test_initial_condition_implies_every_part() -> None:
    first = proof().obligations[: len(PARTS)]
    assert [(o.action, o.part, o.status) for o in first] == [(INITIAL, p, "ok") for p in PARTS]
    assert INITIAL not in proof().vacuous  # and some state satisfies it


@pytest.mark.parametrize("name", one_by_default(ALL_BUGS, "skip-destage"))
def test_each_seeded_bug_fails_the_pinned_obligations(name: str) -> None:
    result = proof(name)
    assert failing(result) == FAILS[name]
    assert all(o.status == "failed" and o.cti is not None for o in result.failures)
    assert result.proved is (name == "no-resume")


def test_every_bug_but_no_resume_fails_something() -> None:
    # no-resume leaves the LU suspended for good: a liveness bug, safe by construction.
    assert {name for name, fails in FAILS.items() if not fails} == {"no-resume"}
    assert set(FAILS) == set(ALL_BUGS)


@AGREEMENT
def test_each_backup_bug_fails_only_backup_actions() -> None:
    # An embodiment-2 bug changes only the backup cycle: every embodiment-1 action still
    # preserves every part.
    for name in BACKUP_BUGS:
        assert set(failing(proof(name))) <= set(BACKUP_ACTIONS), name


def test_a_bugs_counterexample_is_reachable_with_a_concrete_trace() -> None:
    result = proof("start-before-stop", classify=True)
    [o] = result.failures
    assert o.cti is not None and o.cti.sizes["lu"] == 1 and o.cti.jobs == 1
    c = o.cti.classification
    assert c is not None and c.verdict == "reachable"
    assert c.broken == "single_active_controller"
    assert len(c.trace) == 10
    assert c.trace[0] == "designate LU0 to c1" and c.trace[-1].startswith("start_destination")
    text = format_cti(o.cti)
    assert "counterexample to induction: start_destination preserves single_active_controller" in text
    assert "next step START_DESTINATION" in text and "reachable: single_active_controller" in text


# The bugs of the split de-stage, classified: each counterexample to induction is reachable on
# an instance of its size; one with a de-stage under way is searched for with background
# de-stages on, since only they let a host write overtake a de-stage.
DESTAGE_BUGS_CLASSIFIED = {
    "destage-clean-unconditionally": {
        "destage_done": ("array-2c-1lu-1b+background-destage", "no_acknowledged_write_lost", 16),
    },
    "literal-write-through": {
        "process": ("array-2c-1lu-1b", "no_stale_cache", 13),
        # The mirror write performed at the source after 903's purge keeps a line there.
        "mirror_write": ("fig9", "no_stale_cache", 9),
    },
}


@AGREEMENT  # classification by default: test_a_bugs_counterexample_is_reachable_with_a_concrete_trace
@pytest.mark.parametrize("name", list(DESTAGE_BUGS_CLASSIFIED))
def test_the_destage_bugs_counterexamples_are_reachable(name: str) -> None:
    result = proof(name, classify=True)
    found: dict[str, tuple[str, str | None, int]] = {}
    traces: dict[str, tuple[str, ...]] = {}
    for o in result.failures:
        assert o.cti is not None and o.cti.classification is not None
        c = o.cti.classification
        assert c.verdict == "reachable", o.line
        found[o.action] = (c.scenario, c.broken, len(c.trace))
        traces[o.action] = c.trace
    assert found == DESTAGE_BUGS_CLASSIFIED[name]
    if name == "destage-clean-unconditionally":
        # The state: a de-stage under way of an older value than its line's.
        [o] = result.failures
        assert o.cti is not None and o.cti.destages == 1
        assert any(row.startswith("destage c") for row in o.cti.before)
        assert [label.split()[0] for label in traces["destage_done"][6:10]] == [
            "background_destage",
            "process",
            "complete",
            "destage_done",
        ]
    else:
        # The state: a mirror write under way at the source of a backup cycle, past 903.
        [o] = [o for o in result.failures if o.action == "mirror_write"]
        assert o.cti is not None and any(row.startswith("mirror write of p0") for row in o.cti.before)
        assert traces["mirror_write"][-3:] == (
            "purge_backup LU1 c0->c2",
            "mirror_write pair0",
            "hand_over LU1 c0->c2",
        )


# Counterexamples to induction when one lemma is left out of the correct protocol's invariant
# (measured; 151 in all, each classified by explicit search in 0.1-25 s).
ONE_LEMMA_OUT = {
    "one_job_per_lu": 16,
    "job_marks_lu_busy": 8,
    "busy_lu_has_job": 0,
    "source_is_not_destination": 3,
    "owner_at_rest": 0,
    "path_at_rest": 2,
    "active_follows_job": 6,
    "route_follows_job": 2,
    "suspension_follows_job": 1,
    "disk_current_follows_job": 4,
    "tables_follow_job": 1,
    "write_through_while_moving": 1,
    "source_purged": 3,
    "inbox_is_active": 6,
    "clean_lines_match_disk": 11,
    "destage_has_dirty_line": 7,
    "visible_is_expected": 3,
    "pairs_well_formed": 19,
    "hosts_leave_mirrors_alone": 6,
    "takeovers_avoid_pairs": 9,
    "backup_job_of_pair": 5,
    "row_follows_backup_job": 3,
    "control_follows_backup_job": 9,
    "backup_caches_purged": 7,
    "tape_complete_after_backup": 1,
    "secondary_holds_snapshot": 1,
    "mirror_is_expected": 0,
    "mirror_write_waits_for_writer": 6,
    "mirror_write_at_holder": 8,
    "write_through_until_hand_over": 1,
    "secondary_default_elsewhere": 1,
    "paired_is_idle": 0,
    "split_has_job": 1,
}


@pytest.mark.bench
@pytest.mark.parametrize("lemma", list(ONE_LEMMA_OUT))
def test_every_lemma_left_out_gives_only_unreachable_counterexamples(lemma: str) -> None:
    """A lemma is needed (its absence breaks induction) but claims nothing the protocol does
    not keep: no counterexample without it is reachable on the small instance. About 5
    minutes for all 33 (`pytest -m bench`)."""
    result = proof(classify=True, omit=frozenset({lemma}))
    assert len(result.failures) == ONE_LEMMA_OUT[lemma]
    for o in result.failures:
        assert o.cti is not None and o.cti.classification is not None
        assert o.cti.classification.verdict == "unreachable on this instance", (o.action, o.part)


@AGREEMENT
def test_a_missing_lemmas_counterexample_is_unreachable() -> None:
    result = proof(classify=True, omit=frozenset({"clean_lines_match_disk"}))
    # The purges of embodiment 2 (903, 908) need the lemma as much as 804's does.
    assert [(o.action, o.part) for o in result.failures] == [
        ("purge", "no_acknowledged_write_lost"),
        ("purge", "visible_is_expected"),
        ("purge_backup", "mirror_differs_only_where_tracked"),
        ("purge_backup", "secondary_holds_snapshot"),
        ("purge_backup", "mirror_is_expected"),
        ("purge_return", "mirror_differs_only_where_tracked"),
        ("purge_return", "mirror_is_expected"),
        # a clean line of the new owner unlike the disk, kept by recovery
        ("crash_recover", "no_acknowledged_write_lost"),
        ("crash_recover", "visible_is_expected"),
        ("crash_recover", "mirror_differs_only_where_tracked"),
        ("crash_recover", "mirror_is_expected"),
    ]
    for o in result.failures:
        assert o.cti is not None and o.cti.classification is not None
        assert o.cti.classification.verdict == "unreachable on this instance"
        assert o.cti.classification.broken is None and o.cti.classification.trace == ()
    # The state: a clean line that differs from the disk, dropped by the purge.
    cti = result.failures[0].cti
    assert cti is not None and any(row.startswith("line ") and row.endswith("clean") for row in cti.before)
    assert len(result.obligations) == 40 * 42


def test_omit_accepts_only_lemmas() -> None:
    with pytest.raises(ValueError, match="not lemmas: tables_agree"):
        obligations(frozenset({"tables_agree"}))


def test_unknown_counts_as_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = prover._verdict  # the one place a query asks the solver

    def second_query_unknown(solver: Any) -> str:
        nonlocal calls
        calls += 1
        return "unknown" if calls == 2 else real(solver)  # the first is the initial condition's sanity check

    monkeypatch.setattr(prover, "_verdict", second_query_unknown)
    result = prove(CORRECT)
    assert [(o.action, o.part, o.status) for o in result.failures] == [
        (INITIAL, "single_active_controller", "unknown")
    ]
    assert not result.proved
    assert "initial implies single_active_controller ... unknown" in format_proof(result)
    assert "NOT proved: 1 obligation(s) failed" in format_proof(result)


def test_a_query_z3_gives_up_on_is_unknown_not_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """A query z3 gives up on (a timeout, a resource limit) is never a pass. z3 is made to
    give up by a tiny resource limit, which it checks as it works: a 1 ms timeout, whose
    timer thread cancels the query from outside, once crashed the interpreter inside
    ``Z3_solver_check_assumptions`` in CI."""
    from proofs.induction import prover

    def starved(timeout_ms: int) -> Any:
        solver = z3.Solver()
        solver.set("rlimit", 50)
        return solver

    monkeypatch.setattr(prover, "_solver", starved)
    result = prove(CORRECT, timeout_ms=1)
    assert not result.proved
    assert {o.status for o in result.failures} == {"unknown"}
    assert len(result.failures) > len(result.obligations) // 2


@pytest.mark.slow  # the whole proof again; CI runs -m slow
def test_progress_reports_each_obligation_and_json_is_plain() -> None:
    lines: list[str] = []
    result = prove(variant("stale-config-row"), progress=lines.append)
    assert len(lines) == 1720
    assert lines[43] == "send_write preserves single_active_controller ... ok"
    assert "read_row preserves tables_follow_job ... failed" in lines
    data: dict[str, Any] = json.loads(json.dumps(result.to_json()))
    assert data["protocol"] == "stale-config-row" and data["proved"] is False
    assert data["parts"] == PARTS
    [bad] = [o for o in data["obligations"] if o["status"] != "ok"]
    assert bad["cti"]["args"]["j"] == "j0" and bad["cti"]["part"] == "tables_follow_job"


@pytest.mark.slow  # the whole proof again; CI runs -m slow
def test_format_proof_ends_with_the_verdict() -> None:
    text = format_proof(proof())
    assert text.splitlines()[0] == "initial implies single_active_controller ... ok"
    assert "resume preserves visible_is_expected ... ok" in text
    assert "resync_done preserves paired_is_idle ... ok" in text
    assert text.splitlines()[-1].startswith("correct: 1720/1720 obligations ok in ")
    assert text.endswith(": proved")


@pytest.mark.slow  # long; CI runs -m slow
def test_a_variant_without_a_step_leaves_its_actions_out_without_vacuity() -> None:
    # skip-destage has no purge step: purge and destage_line are never enabled, by design.
    assert proof("skip-destage").vacuous == ()
    # backup-without-destage has no purge step of 903: likewise for its two actions.
    assert proof("backup-without-destage").vacuous == ()
    assert variant("skip-destage") != Protocol()


# --- agreement with the model: its reachable states satisfy the invariant, its steps are steps here


@functools.cache
def small_array(name: str = "correct") -> tuple[Model, list[World]]:
    """Every reachable world of 2 controllers, 1 LU of 1 block, a writer and a reader host,
    two take-overs, in breadth-first order."""
    m = Model(array_scenario(2, 1, 1, hosts=2, budget=2), variant(name))
    return m, reachable_worlds(m)


@AGREEMENT
def test_the_invariant_holds_in_the_models_reachable_states() -> None:
    m, worlds = small_array()
    assert len(worlds) == 1941
    image = Image(m)
    assert [w for w in worlds[::2] if broken_in(image, w)] == []


@AGREEMENT
def test_every_step_of_the_model_is_a_step_of_the_abstract_protocol() -> None:
    m, worlds = small_array()
    image = Image(m)
    steps = [(w, t) for w in worlds[::9] for t in m.transitions(w)]
    # Every action but retry: the correct protocol never routes a frame to a controller not
    # in charge, so no request is refused NOT READY. The array has no pair, so no step of
    # embodiment 2 either, and no background de-stage (the built-in background-destage has),
    # and it never crashes (the crash built-ins are tested below).
    taken = set(ACTION_NAMES) - {"retry", "background_destage", "crash_recover", *BACKUP_ACTIONS}
    assert {t.action.name for _, t in steps} == taken
    assert [(t.action.name, w) for w, t in steps if not simulates(image, w, t.action.name, t.after)] == []


def _abstract_action(name: str) -> str:
    # A scripted batch of one LU is one designate step here.
    return "designate" if name == "designate_batch" else name


@pytest.mark.parametrize(
    "name", one_by_default([n for n in SEEDED_BUGS if n not in ("concurrent-same-lu", "no-resume")])
)
def test_each_bugs_shortest_counterexample_is_an_abstract_run(name: str) -> None:
    # The switches act on the abstract actions as on the model's: the bug's concrete run
    # is a run here too, step by step. (concurrent-same-lu needs two job elements per LU.)
    # destage-clean-unconditionally needs a host write during a de-stage, which only a
    # background de-stage allows (Step 804's de-stages run write-through: writes wait).
    if name == "destage-clean-unconditionally":
        scenario = builtin("background-destage")
    else:
        scenario = array_scenario(2, 1, 1, hosts=1, budget=2)
    m = Model(scenario, variant(name))
    check = run_check(m, liveness=False)
    [trace] = [v.trace for v in check.counterexamples]
    image = Image(m)
    for before, after in itertools.pairwise(trace):
        action = _abstract_action(after.label.action)
        assert simulates(image, before.state, action, after.state), after.label


def test_agreement_checks_can_fail() -> None:
    m, worlds = small_array()
    image = Image(m)
    w = worlds[0]
    assert not simulates(image, w, "designate", w)  # 801 must create a job
    both = w._replace(controllers=tuple(c._replace(active=(0,)) for c in w.controllers))
    assert broken_in(image, both) == ["single_active_controller", "owner_at_rest"]


# --- embodiment 2: the same agreement checks on an array with mirrored pairs


@functools.cache
def backup_array() -> tuple[Model, list[World]]:
    """Every reachable world of the built-in backup-and-takeover: a backup cycle of a mirror
    beside a plain take-over of another LU, through the path controller."""
    m = Model(builtin("backup-and-takeover"), CORRECT)
    return m, reachable_worlds(m)


@AGREEMENT
def test_the_invariant_holds_in_reachable_states_with_pairs() -> None:
    m, worlds = backup_array()
    assert len(worlds) == 5145
    image = Image(m)
    assert [w for w in worlds[::20] if broken_in(image, w)] == []


def _sampled_steps(m: Model, worlds: list[World], stride: int) -> list[tuple[World, Transition]]:
    """The model's steps from every ``stride``-th world, and from the first world where each
    action the sample misses is enabled: every action the model takes is checked, however
    the sample falls."""
    steps = [(w, t) for w in worlds[::stride] for t in m.transitions(w)]
    missed = {a.name for a in MODEL_ACTIONS} - {t.action.name for _, t in steps}
    for w in worlds:
        if not missed:
            break
        found = list(m.transitions(w, missed))
        steps += [(w, t) for t in found]
        missed -= {t.action.name for t in found}
    return steps


@AGREEMENT
def test_every_step_with_pairs_is_a_step_of_the_abstract_protocol() -> None:
    m, worlds = backup_array()
    image = Image(m)
    # designate_batch is a sequence of designate steps here, not one step.
    steps = [(w, t) for w, t in _sampled_steps(m, worlds, 60) if t.action.name != "designate_batch"]
    # destage_return_line is never enabled: nothing writes the mirror while the backup
    # controller has it, so that controller never holds a dirty line of it.
    assert set(BACKUP_ACTIONS) - {t.action.name for _, t in steps} == {"destage_return_line"}
    assert [(t.action.name, w) for w, t in steps if not simulates(image, w, t.action.name, t.after)] == []


@pytest.mark.slow  # long; CI runs -m slow
def test_a_backup_bugs_counterexamples_are_reachable_on_fig9() -> None:
    # Counterexamples of embodiment 2 are searched for on the built-in fig9 (array_scenario
    # makes no pairs).
    result = proof("backup-without-destage", classify=True)
    found = []
    for o in result.failures:
        c = o.cti.classification if o.cti is not None else None
        assert c is not None and c.verdict == "reachable" and c.scenario == "fig9", o.line
        found.append((o.part, c.broken))
    assert found == [
        ("no_stale_cache", "no_stale_cache"),
        ("mirror_differs_only_where_tracked", "mirror_differs_only_where_tracked"),
        ("secondary_holds_snapshot", "backup_is_point_in_time"),
        ("mirror_is_expected", "mirror_differs_only_where_tracked"),
    ]


@AGREEMENT  # several seconds: run with the other agreement checks
def test_stale_diff_copys_counterexamples_are_reachable_on_fig9() -> None:
    # 907 forgetting the writes since the split is caught at 907 itself: the pair is
    # re-synchronizing, and a block written since the split differs untracked.
    result = proof("stale-diff-copy", classify=True)
    found = []
    for o in result.failures:
        c = o.cti.classification if o.cti is not None else None
        assert c is not None and c.verdict == "reachable" and c.scenario == "fig9", o.line
        found.append((o.action, o.part, c.broken, len(c.trace)))
        assert c.trace[-1] == "migrate_back LU1 c0->c2"
    assert found == [
        ("migrate_back", "mirror_differs_only_where_tracked", "mirror_differs_only_where_tracked", 12),
        ("migrate_back", "mirror_is_expected", "mirror_differs_only_where_tracked", 12),
    ]


@pytest.mark.parametrize("name", one_by_default(BACKUP_BUGS))
def test_each_backup_bugs_counterexample_is_an_abstract_run(name: str) -> None:
    m = Model(builtin("fig9"), variant(name))
    check = run_check(m, liveness=False)
    [trace] = [v.trace for v in check.counterexamples]
    image = Image(m)
    for before, after in itertools.pairwise(trace):
        assert simulates(image, before.state, after.label.action, after.state), after.label


# --- the split de-stage: background de-stages, and writes waiting for a de-stage


@functools.cache
def background_array() -> tuple[Model, list[World]]:
    """Every reachable world of the built-in background-destage: controller 0 de-stages in
    the background while the host writes the block again, then the LU moves."""
    m = Model(builtin("background-destage"), CORRECT)
    return m, reachable_worlds(m)


def _destaging(w: World) -> bool:
    return any(ctl.destaging for ctl in w.controllers)


@AGREEMENT  # several seconds: run with the other agreement checks
def test_the_invariant_holds_in_reachable_states_with_background_destage() -> None:
    m, worlds = background_array()
    assert len(worlds) == 780
    assert sum(map(_destaging, worlds)) == 224
    image = Image(m)
    assert [w for w in worlds if broken_in(image, w)] == []


def _writes_during_destage(m: Model, w: World) -> bool:
    """A host write in the inbox of a controller de-staging its block."""

    def overtakes(request: Request) -> bool:
        under_way = w.controllers[request.at].destaging
        return any((d.lu, d.block) == (request.lu, request.block) for d in under_way)

    return any(r is not None and r.op is Op.WRITE and in_inbox(r) and overtakes(r) for r in w.hosts)


@AGREEMENT  # several seconds: run with the other agreement checks
def test_every_step_with_background_destage_is_a_step_of_the_abstract_protocol() -> None:
    m, worlds = background_array()
    image = Image(m)
    steps = [(w, t) for w in worlds[::3] for t in m.transitions(w)]
    names = {t.action.name for _, t in steps}
    assert {"background_destage", "destage_done", "destage_line", "purge"} <= names
    # A write-back write during a de-stage: the line takes the new value and stays dirty.
    assert any(t.action.name == "process" and _writes_during_destage(m, w) for w, t in steps)
    failed = [
        (t.action.name, w)
        for w, t in steps
        if not simulates(image, w, _abstract_action(t.action.name), t.after)
    ]
    assert failed == []


def _abstract_write_enabled(image: Image, w: World, lu: int) -> bool:
    """Whether the abstract process may perform LU ``lu``'s write in the image of ``w``."""
    transition, choices = image.transition("process")
    solver = z3.Solver()
    solver.add(*image.distinct, *choices, *transition.guard, *image.pin(w, image.pre))
    solver.add(transition.args["write"], transition.args["l"] == image.lu[lu])
    return bool(solver.check() == z3.sat)


def test_a_write_through_write_waits_for_a_destage_of_its_block_in_both() -> None:
    m, worlds = background_array()
    image = Image(m)
    cases = {True: 0, False: 0}  # write-through at the controller: the write waits
    for w in worlds:
        if not _writes_during_destage(m, w):
            continue
        [(h, request)] = [(h, r) for h, r in enumerate(w.hosts) if r is not None and r.op is Op.WRITE]
        waits = request.lu in w.controllers[request.at].write_through
        model_enabled = any(t.action.name == "process" and t.args == (h,) for t in m.transitions(w))
        assert model_enabled is not waits
        assert _abstract_write_enabled(image, w, request.lu) is not waits
        cases[waits] += 1
    assert cases == {True: 2, False: 12}


def test_the_image_pins_destages() -> None:
    m, worlds = background_array()
    image = Image(m)
    w = next(w for w in worlds if _destaging(w))
    [ctl] = [c for c in w.controllers if c.destaging]
    # A de-stage whose line is gone: the lemma says it cannot be.
    bare = w._replace(controllers=tuple(c._replace(cache=()) if c is ctl else c for c in w.controllers))
    assert "destage_has_dirty_line" in broken_in(image, bare)
    # destage_done writes the value the de-stage recorded, and only it.
    [t] = [t for t in m.transitions(w) if t.action.name == "destage_done"]
    assert simulates(image, w, "destage_done", t.after)
    assert t.after.disk != w.disk
    assert not simulates(image, w, "destage_done", t.after._replace(disk=w.disk))


# --- the mirror write as its own step: handed over by process, performed by mirror_write


@functools.cache
def twice_array() -> tuple[Model, list[World]]:
    """Every reachable world of the built-in backup-twice: a two-block pair backed up twice
    while its primary is written, a mirror write possibly under way at each split."""
    m = Model(builtin("backup-twice"), CORRECT)
    return m, reachable_worlds(m)


def _abstract_enabled(image: Image, w: World, action: str) -> bool:
    """Whether the abstract action of that name is enabled in the image of ``w``."""
    transition, choices = image.transition(action)
    solver = z3.Solver()
    solver.add(*image.distinct, *choices, *transition.guard, *image.pin(w, image.pre))
    return bool(solver.check() == z3.sat)


def _at_hand_over(m: Model, w: World) -> bool:
    return any(m.next_step(job) is Step.HAND_OVER for job in w.jobs)


@AGREEMENT  # several seconds: run with the other agreement checks
def test_the_mirror_write_agrees_with_the_models_in_backup_twice() -> None:
    m, worlds = twice_array()
    assert len(worlds) == 7418
    image = Image(m)
    pending = [w for w in worlds if w.pairs[0].mirror is not None]
    assert len(pending) == 370
    # Every mirror write the model waits on, or that holds 904 back, and a third of the rest.
    waits = [w for w in pending if not any(t.action.name == "mirror_write" for t in m.transitions(w))]
    sample = [w for i, w in enumerate(pending) if i % 3 == 0 or w in waits or _at_hand_over(m, w)]
    done_while_split = 0
    for w in sample:
        assert broken_in(image, w) == []
        [*performed] = m.transitions(w, ("mirror_write",))
        assert _abstract_enabled(image, w, "mirror_write") is bool(performed)
        for t in performed:
            assert simulates(image, w, "mirror_write", t.after)
            # The writer's reply goes with the mirror write, not before or after it.
            [h] = [h for h, r in enumerate(t.after.hosts) if r is not None]
            waiting = replace_at(t.after.hosts, h, w.hosts[h])
            assert not simulates(image, w, "mirror_write", t.after._replace(hosts=waiting))
            done_while_split += t.after.pairs[0].state is PairState.SPLIT
        if _at_hand_over(m, w):
            # 904 waits for the source's mirror write in both, and for nothing else here.
            assert not any(t.action.name == "hand_over" for t in m.transitions(w))
            assert not _abstract_enabled(image, w, "hand_over")
            free = w._replace(pairs=(w.pairs[0]._replace(mirror=None),))
            assert any(t.action.name == "hand_over" for t in m.transitions(free))
            assert _abstract_enabled(image, free, "hand_over")
    # Waiting: written through at its controller (903 on) while a de-stage of its block runs.
    assert len(waits) == 36 and all(w.pairs[0].state is PairState.SPLIT for w in waits)
    assert sum(map(functools.partial(_at_hand_over, m), sample)) == 24
    assert done_while_split > 0


# --- a crash of the whole array: the same agreement checks on the crash built-ins


@pytest.mark.parametrize("scenario", [pytest.param("crash-takeover", marks=AGREEMENT), "crash-backup"])
def test_every_crash_of_the_model_is_a_crash_of_the_abstract_protocol(scenario: str) -> None:
    """Every reachable state of the crash built-ins satisfies the invariant, and every crash
    the model takes from them (and a sample of its other steps) is a step here."""
    m = Model(builtin(scenario))
    worlds = reachable_worlds(m)
    image = Image(m)
    assert [w for w in worlds[::7] if broken_in(image, w)] == []
    crashes = [(w, t) for w in worlds[::3] for t in m.transitions(w, ("crash_recover",))]
    assert len(crashes) > 50
    others = [(w, t) for w in worlds[::40] for t in m.transitions(w) if t.action.name != "crash_recover"]
    steps = [*crashes, *others]
    assert [
        (t.action.name, w)
        for w, t in steps
        if not simulates(image, w, _abstract_action(t.action.name), t.after)
    ] == []


def test_recovery_without_destage_fails_the_crash_and_its_run_is_abstract() -> None:
    m = Model(builtin("crash-takeover"), variant("recover-without-destage"))
    check = run_check(m, liveness=False)
    [trace] = [v.trace for v in check.counterexamples]
    image = Image(m)
    for before, after in itertools.pairwise(trace):
        assert simulates(image, before.state, _abstract_action(after.label.action), after.state), after.label


@AGREEMENT  # about 11 s: a proof and an explicit search
def test_recovery_without_destage_is_classified_reachable_on_an_array_that_may_crash() -> None:
    """A counterexample of crash_recover is searched for on an instance that may crash once
    (without it, the crash never happens there and everything looks unreachable)."""
    result = proof("recover-without-destage", classify=True)
    o = next(o for o in result.failures if o.part == "no_acknowledged_write_lost")
    assert o.action == "crash_recover" and o.cti is not None
    c = o.cti.classification
    assert c is not None and (c.verdict, c.broken, c.scenario) == (
        "reachable",
        "no_acknowledged_write_lost",
        "array-2c-1lu-1b+crash",
    )
    assert c.trace[-1] == "crash_recover" and len(c.trace) == 6
