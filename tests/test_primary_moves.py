"""A backup interleaved with a take-over of its primary (the built-in ``primary-moves``).

The patent does not forbid moving a primary while its mirror is split and backed up, so the
model supports it: Step 801 may move the primary during the backup cycle, Step 901 waits
while the primary is being moved (its image would be taken mid-move), and only a mirror is
never taken over by Steps 801-809 (its backups move it).
"""

from __future__ import annotations

import pytest

import model.actions as actions
from conftest import checked
from model.actions import Model
from model.labels import Label
from model.protocol import CORRECT, Step
from model.scenario import ScenarioError, builtin, parse
from model.state import World, owner, replace_at, visible_value
from proofs.check import run_check
from proofs.replay import replay


def test_the_primary_moves_while_its_mirror_is_backed_up() -> None:
    check = checked("primary-moves")
    assert check.verdict == "ok"
    assert (check.search.states, check.search.transitions, check.search.depth) == (4486, 11198, 36)
    assert check.witnesses["primary_moved_during_backup"] == 3
    assert check.witnesses["backup_completes"] is not None


def test_step_901_waits_while_the_primary_is_moved_and_801_may_move_it_during_the_backup() -> None:
    m = Model(builtin("primary-moves"))
    moving = replay(m, ["designate_batch 0"])[-1].state
    assert m.why_not(moving, Label.parse("split_pair backup 0")) == "an LU of pair0 is being moved"
    split = replay(m, ["split_pair backup 0"])[-1].state
    assert m.why_not(split, Label.parse("designate_batch 0")) is None


def _resync_from_the_primarys_first_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mutant of the re-synchronization: it reads the primary through the controller the
    primary started on, not the one in charge of it now."""

    def resync_block(m: Model, w: World, i: int, block: int) -> World | None:
        pair, spec = w.pairs[i], m.scenario.pairs[i]
        if not actions._resyncing(m, w, i) or block not in pair.diff:
            return None
        first = m.scenario.lus[spec.primary].controller
        value = visible_value(w, first, spec.primary, block)  # the mutation: not owner(w, primary)
        c = owner(w, spec.secondary)
        assert c is not None, "a resyncing mirror is home"
        if actions._write_waits(w.controllers[c], spec.secondary, block):
            return None
        w = actions._write_block(m, w, c, spec.secondary, block, value)
        diff = tuple(b for b in pair.diff if b != block)
        return w._replace(pairs=replace_at(w.pairs, i, pair._replace(diff=diff)))

    mutant = actions.Action(
        "resync_block", Step.RESYNC_DONE, actions._storage, actions._resync_blocks, resync_block
    )
    monkeypatch.setattr(
        actions, "ACTIONS", tuple(mutant if a.name == "resync_block" else a for a in actions.ACTIONS)
    )


@pytest.mark.parametrize(
    ("name", "caught"), [("primary-moves", True), ("fig9", False), ("backup-twice", False)]
)
def test_only_a_moving_primary_shows_a_resync_that_reads_it_in_the_wrong_place(
    monkeypatch: pytest.MonkeyPatch, name: str, caught: bool
) -> None:
    _resync_from_the_primarys_first_controller(monkeypatch)
    check = run_check(Model(builtin(name), CORRECT), liveness=False)
    if caught:
        (v,) = check.counterexamples
        # The block copied from the old controller is no longer tracked, and differs.
        assert v.property == "mirror_differs_only_where_tracked"
        assert v.labels()[-1].action == "resync_block"
    else:
        assert check.verdict == "ok"


PAIRED = """
name = "p"
[array]
controllers = 3
[[lu]]
id = 0
controller = 0
ext_lun = 1
[[lu]]
id = 1
controller = 0
default = 2
ext_lun = 0
[[pair]]
primary = 0
secondary = 1
[[host]]
writes = [0]
[[backup]]
pair = 0
"""


def test_a_mirror_is_never_taken_over_and_pairs_need_a_script() -> None:
    parse(PAIRED + "[takeovers]\n[[takeovers.batch]]\nlus = [0]\ndestination = 1\next_luns = [0]\n")
    with pytest.raises(ScenarioError, match=r"takeovers: LU1 is a mirror; only its backups move it"):
        parse(PAIRED + "[takeovers]\n[[takeovers.batch]]\nlus = [1]\ndestination = 1\next_luns = [0]\n")
    with pytest.raises(
        ScenarioError, match=r"mode 'any' may move a mirror; with pairs, script the take-overs"
    ):
        parse(PAIRED.replace("[[backup]]\npair = 0\n", "") + '[takeovers]\nmode = "any"\nbudget = 1\n')
