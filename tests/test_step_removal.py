"""What each step protects: the correct protocol with one step left out, and what breaks.

A step whose removal breaks nothing is a gap in the model (or a step with nothing to
protect); so every job step of both embodiments is pinned here, either to the shortest
violation that leaving it out produces on the first built-in (in ``SCENARIOS`` order) that
shows one, or to the reason no built-in does. docs/walkthrough.md shows the same table.
"""

from __future__ import annotations

import pytest

from conftest import AGREEMENT
from model.actions import Model
from model.protocol import BACKUP_ORDER, CORRECT_ORDER, Step, without
from model.scenario import builtin
from proofs.check import run_check

SCENARIOS = ("one-lu", "fig5", "fig9", "backup-and-takeover", "chain", "multi-block", "ping-pong")

# step left out -> (first built-in that shows it, the property broken first, steps to it)
CAUGHT: dict[Step, tuple[str, str, int]] = {
    Step.WRITE_ROW: ("one-lu", "rows_follow_designation", 11),
    Step.READ_ROW: ("one-lu", "tables_agree", 11),
    Step.BEGIN_DESTAGE: ("one-lu", "no_stale_cache", 12),
    Step.PURGE: ("one-lu", "no_stale_cache", 12),
    Step.SUSPEND: ("one-lu", "path_routes_to_owner", 8),
    Step.SWITCH_PATH: ("one-lu", "path_routes_to_owner", 11),
    Step.STOP_SOURCE: ("one-lu", "single_active_controller", 10),
    Step.START_DESTINATION: ("one-lu", "path_routes_to_owner", 11),
    Step.RESUME: ("one-lu", "paths_resumed", 12),
    Step.MIGRATE_OUT: ("fig9", "control_returns_home", 11),
    # A mirror write handed over before the split lands after the purge of 903.
    Step.BEGIN_BACKUP_DESTAGE: ("fig9", "no_stale_cache", 8),
    Step.PURGE_BACKUP: ("fig9", "no_stale_cache", 8),
    Step.HAND_OVER: ("fig9", "pairs_resynced", 16),  # and takeovers_complete, at the same dead end
    Step.BACKUP_DONE: ("fig9", "backup_is_point_in_time", 6),
    Step.REQUEST_RESYNC: ("fig9", "pairs_resynced", 30),
    Step.MIGRATE_BACK: ("fig9", "control_returns_home", 11),
    Step.RETURN_CONTROL: ("fig9", "rows_follow_designation", 11),
    # The backup host's reads at 905 leave clean lines in the backup controller's cache.
    Step.PURGE_RETURN: ("fig9", "no_stale_cache", 11),
}

# step left out -> why no built-in notices
NOT_CAUGHT: dict[Step, str] = {
    Step.INSTRUCT: "a message only: the job's step order is the instruction, and nothing reads it",
    Step.NOTIFY: "a message only: it changes state under the write-back-after-destage bug alone",
    Step.BEGIN_RETURN_DESTAGE: "nothing to divert: no I/O reaches the mirror between 905's last read "
    "and 909 (the backup host only reads, and has finished; hosts never address a mirror)",
}

JOB_STEPS = (*CORRECT_ORDER[1:], *BACKUP_ORDER[1:])  # 801 and 901 start the job: not left out


def test_every_job_step_is_pinned_once() -> None:
    assert set(CAUGHT) | set(NOT_CAUGHT) == set(JOB_STEPS)
    assert not set(CAUGHT) & set(NOT_CAUGHT)


def _first_violation(step: Step) -> tuple[str, str, int] | None:
    for name in SCENARIOS:
        check = run_check(Model(builtin(name), without(step)))
        if check.counterexamples:
            v = check.counterexamples[0]
            return name, v.property, len(v.trace) - 1
        assert check.verdict == "ok", (name, check.verdict)
    return None


@pytest.mark.parametrize("step", list(CAUGHT), ids=lambda s: s.action)
def test_leaving_the_step_out_breaks_its_property(step: Step) -> None:
    assert _first_violation(step) == CAUGHT[step]


@pytest.mark.parametrize(
    "step",
    [pytest.param(s, marks=AGREEMENT) if i else s for i, s in enumerate(NOT_CAUGHT)],
    ids=lambda s: s.action,
)
def test_leaving_the_step_out_breaks_nothing_any_built_in_shows(step: Step) -> None:
    # When a change makes one of these caught, move it to CAUGHT: that closes a gap.
    assert _first_violation(step) is None


def test_a_protocol_without_a_step_is_named_for_it() -> None:
    assert without(Step.SUSPEND).name == "without-suspend"
    assert Step.SUSPEND not in without(Step.SUSPEND).order()
    assert without(Step.PURGE_RETURN).backup_order() == tuple(
        s for s in BACKUP_ORDER if s is not Step.PURGE_RETURN
    )
