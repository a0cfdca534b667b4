"""Guards that say why: ``Model.why_not`` answers in the guard's own words, for every action."""

from __future__ import annotations

from collections import deque

import pytest

from model.actions import Model
from model.labels import Label
from model.protocol import variant
from model.scenario import builtin
from model.state import World
from proofs.replay import ReplayError, replay


def reachable(m: Model, limit: int = 3000) -> list[World]:
    seen, queue = {m.initial()}, deque([m.initial()])
    while queue and len(seen) < limit:
        for _, after in m.successors(queue.popleft()):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return list(seen)


def test_stop_source_waits_for_the_source_to_finish_what_it_accepted() -> None:
    m = Model(builtin("fig5"))
    steps = ["designate_batch 0", "instruct LU2 c0->c1", "write_row LU2 c0->c1", "read_row LU2 c0->c1"]
    steps += ["begin_destage LU2 c0->c1", "purge LU2 c0->c1", "notify LU2 c0->c1", "suspend LU2 c0->c1"]
    steps += ["switch_path LU2 c0->c1"]
    before = replay(m, ["send_write host0 LU2 block 0", "deliver host0", *steps])[-1].state
    label = Label.parse("stop_source LU2 c0->c1")
    assert m.why_not(before, label) == "controller 0 still holds a request for LU2"
    after = replay(m, ["send_write host0 LU2 block 0", "deliver host0", *steps, "process host0"])[-1].state
    assert m.why_not(after, label) is None


@pytest.mark.parametrize("scenario", ["fig5", "fig9", "backup-and-takeover", "three-way"])
def test_every_refusal_says_why(scenario: str) -> None:
    """Every action instance the model ever takes, asked in every state where it is not
    enabled, is refused by a guard in words: never by the fallback that none spoke."""
    m = Model(builtin(scenario))
    worlds = reachable(m)
    labels = {label for w in worlds for label, _ in m.successors(w)}
    asked = 0
    for w in worlds[::7]:
        for label in sorted(labels):
            why = m.why_not(w, label)
            if why is not None:
                asked += 1
                assert "is not offered" not in why, (label, why)
    assert asked > 1000


def test_why_not_is_none_exactly_when_enabled() -> None:
    m = Model(builtin("fig9"))
    for w in reachable(m)[::11]:
        enabled = {t.label(w) for t in m.transitions(w)}
        for label in enabled:
            assert m.why_not(w, label) is None


def test_labels_naming_nothing_are_told_so() -> None:
    m = Model(builtin("fig5"))
    w = m.initial()
    assert m.why_not(w, Label("fly", (1,))) == "no action is called 'fly'"
    assert m.why_not(w, Label.parse("suspend LU2 c0->c1")) == (
        "no take-over of LU2 from controller 0 to 1 is under way"
    )
    assert m.why_not(w, Label.parse("deliver host9")) == "'deliver host9' names nothing in this array"


def test_a_step_out_of_order_names_the_job_s_next_step() -> None:
    m = Model(builtin("fig5"))
    w = replay(m, ["designate_batch 0"])[-1].state
    assert m.why_not(w, Label.parse("suspend LU2 c0->c1")) == "the next step of its job is 802, not 806"


def test_a_replay_error_carries_the_guard_s_reason() -> None:
    m = Model(builtin("fig5"), variant("correct"))
    reason = r"'retry host0' is not enabled \(host0 has had no NOT READY to retry\)"
    with pytest.raises(ReplayError, match=reason):
        replay(m, ["send_write host0 LU2 block 0", "retry host0"])


def test_a_designation_refused_by_step_801_says_which_rule() -> None:
    m = Model(builtin("fig5"))
    w = replay(m, ["designate_batch 0"])[-1].state
    assert m.why_not(w, Label("designate_batch", (0,))) == "the script's next batch is batch 1, of 1"
