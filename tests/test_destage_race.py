"""De-stage takes time: a host write may land between its start and its end.

A de-stage issues the disk write of a dirty line's value (``destage_line`` and the like start
it, ``destage_done`` ends it); the line stays dirty meanwhile. A write-back write changes the
line under way, which must then stay dirty; a write that goes to disk (write-through) waits
for the de-stage of its block, or the older value could land last. The built-in
``background-destage`` lets a controller start a de-stage of a write-back LU at any time, as
real write-back caches do, so the first race happens there.
"""

from __future__ import annotations

import pytest

import model.actions as actions
from model import actions as a
from model.actions import Model
from model.labels import Label
from model.protocol import CORRECT, Step, variant
from model.scenario import builtin
from model.state import Destage, Line, World, find_line
from proofs.check import run_check
from test_actions import run_job_to


def _written(m: Model, w: World, lu: int = 0, block: int = 0, h: int = 0) -> World:
    """The host's next write of the block, processed by the controller in charge."""
    w = a.send_write(m, w, h, lu, block)  # type: ignore[assignment]
    w = a.deliver(m, w, h)  # type: ignore[assignment]
    w = a.process(m, w, h)  # type: ignore[assignment]
    assert w is not None
    return a.complete(m, w, h)  # type: ignore[return-value]


def test_a_write_during_a_background_destage_keeps_the_newer_value_dirty() -> None:
    m = Model(builtin("background-destage"))
    w = _written(m, m.initial())
    w = a.background_destage(m, w, 0, 0, 0)  # type: ignore[assignment]
    assert w is not None and w.controllers[0].destaging == (Destage(0, 0, 1),)
    assert w.controllers[0].cache == (Line(0, 0, 1, True),) and w.disk.blocks[0] == (0,)
    w = _written(m, w)  # write-back: only the line changes, while the disk write of 1 is under way
    assert w.controllers[0].cache == (Line(0, 0, 2, True),)
    done = a.destage_done(m, w, 0, 0, 0)
    assert done is not None and done.disk.blocks[0] == (1,) and done.controllers[0].destaging == ()
    assert done.controllers[0].cache == (Line(0, 0, 2, True),)  # still dirty: 2 is not on disk
    bug = a.destage_done(Model(m.scenario, variant("destage-clean-unconditionally")), w, 0, 0, 0)
    assert bug is not None and bug.controllers[0].cache == (Line(0, 0, 2, False),)


def test_background_destage_needs_the_scenario_and_leaves_write_through_lus_to_their_step() -> None:
    fig5 = Model(builtin("fig5"))
    w = _written(fig5, fig5.initial(), lu=2)
    assert a.background_destage(fig5, w, 0, 2, 0) is None
    why = fig5.why_not(w, Label("background_destage", (0, 2, 0)))
    assert why == "controllers de-stage only at Steps 804, 903 and 908 in this scenario"
    m = Model(builtin("background-destage"))
    w = run_job_to(m, a.designate_batch(m, _written(m, m.initial()), 0), Step.PURGE)  # type: ignore[arg-type]
    assert w.controllers[0].write_through == (0,)
    assert a.background_destage(m, w, 0, 0, 0) is None
    assert a.destage_line(m, w, 0, 0) is not None


def test_a_write_through_write_waits_for_the_destage_of_its_block() -> None:
    m = Model(builtin("background-destage"))
    w: World | None
    w = run_job_to(m, a.designate_batch(m, _written(m, m.initial()), 0), Step.PURGE)  # type: ignore[arg-type]
    w = a.destage_line(m, w, 0, 0)
    assert w is not None
    w = a.deliver(m, a.send_write(m, w, 0, 0, 0), 0)  # type: ignore[arg-type]
    assert w is not None
    assert a.process(m, w, 0) is None
    why = m.why_not(w, Label("process", (0,)))
    assert why == "controller 0 is still de-staging block 0 of LU0: the write waits"
    w = a.destage_done(m, w, 0, 0, 0)
    assert w is not None
    w = a.process(m, w, 0)
    assert w is not None and w.disk.blocks[0] == (2,) and w.controllers[0].cache == ()


def _no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mutant: a write-through write goes to disk while a de-stage of its block is under way."""
    monkeypatch.setattr(actions, "_write_waits", lambda ctl, lu, block: False)


# Where the mutant loses a write: the de-stage of the first value lands after the second,
# written through, and the disk keeps the older one. It needs two writes of one block around
# a take-over's de-stage; one-lu writes once, fig5 and multi-block once per block.
NO_WAIT_CAUGHT = {"background-destage": 15, "ping-pong": 15, "one-lu": None, "fig5": None}


@pytest.mark.parametrize("name", list(NO_WAIT_CAUGHT))
def test_a_write_through_that_does_not_wait_loses_the_newer_write(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _no_wait(monkeypatch)
    check = run_check(Model(builtin(name), CORRECT), liveness=False)
    depth = NO_WAIT_CAUGHT[name]
    if depth is None:
        assert check.verdict == "ok"
    else:
        (v,) = check.counterexamples
        assert (v.property, len(v.trace) - 1) == ("no_acknowledged_write_lost", depth)
        assert v.labels()[-1].action == "destage_done"


@pytest.mark.parametrize("name", ["background-destage", "ping-pong", "chain", "fig9"])
def test_a_destage_under_way_always_has_its_dirty_line(name: str) -> None:
    """Why the purge's wait for de-stages under way never decides anything: a line stays dirty
    until its de-stage is done, and the purge waits for clean lines already."""
    m = Model(builtin(name))
    seen, frontier = {m.initial()}, [m.initial()]
    under_way = 0
    while frontier:
        w = frontier.pop()
        for ctl in w.controllers:
            for d in ctl.destaging:
                under_way += 1
                line = find_line(ctl, d.lu, d.block)
                assert line is not None and line.dirty, (name, w)
        for _, after in m.successors(w):
            if after not in seen:
                seen.add(after)
                frontier.append(after)
    assert under_way > 0


def test_destage_labels_name_the_controller_and_the_block() -> None:
    for action in ("background_destage", "destage_done"):
        label = Label(action, (1, 0, 2))
        assert str(label) == f"{action} c1 LU0 block 2" and Label.parse(str(label)) == label
        assert label.lus == (0,) and label.with_lus_swapped(0, 3).args == (1, 3, 2)
