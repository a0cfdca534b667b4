"""The model's actions one at a time: guards and effects as the patent describes them."""

from __future__ import annotations

from model import actions as a
from model.actions import Model
from model.protocol import Step, variant
from model.scenario import builtin
from model.state import UNREAD, Destage, Line, Op, Request, Where, World


def fig5(name: str = "correct") -> tuple[Model, World]:
    m = Model(builtin("fig5"), variant(name))
    return m, m.initial()


def run_job_to(m: Model, w: World, step: Step) -> World:
    """Advance the first job until its next step is ``step``, de-staging as needed."""
    while m.next_step(w.jobs[0]) is not step:
        for t in m.transitions(w):
            if t.action.step is not None and t.action.name != "designate_batch" and t.args[0] == 0:
                w = t.after
                break
        else:
            raise AssertionError(f"job stuck before {step}")
    return w


def test_initial_state_is_fig_5a() -> None:
    _, w = fig5()
    assert w.controllers[0].active == (0, 1, 2, 3) and w.controllers[1].active == ()
    assert [(r.port, r.ext_lun, r.default, r.current) for r in w.disk.table] == [
        (0, 0, 0, 0),
        (0, 1, 0, 0),
        (1, 0, 0, 0),
        (1, 1, 0, 0),
    ]
    assert all(ctl.table == w.disk.table for ctl in w.controllers)


def test_fig5_takeover_ends_in_fig_5b() -> None:
    w: World | None
    m, w = fig5()
    w = a.designate_batch(m, w, 0)
    assert w is not None and [j.lu for j in w.jobs] == [2, 3]
    while w.jobs:
        w = next(t.after for t in m.transitions(w) if t.action.step is not None)
    assert [(r.port, r.ext_lun, r.default, r.current) for r in w.disk.table] == [
        (0, 0, 0, 0),
        (0, 1, 0, 0),
        (0, 0, 1, 1),
        (0, 1, 1, 1),
    ]
    assert w.controllers[0].active == (0, 1) and w.controllers[1].active == (2, 3)
    assert all(ctl.table == w.disk.table for ctl in w.controllers)
    assert not any(p.suspended for p in w.paths) and w.paths[2].route == 1


def test_write_back_keeps_a_dirty_line_and_write_through_goes_to_disk() -> None:
    w: World | None
    m, w = fig5()
    w = a.send_write(m, w, 0, 2, 0)
    assert w is not None
    w = a.deliver(m, w, 0)
    assert w is not None and w.hosts[0] is not None and w.hosts[0].at == 0
    after = a.process(m, w, 0)
    assert after is not None and after.controllers[0].cache == (Line(2, 0, 1, True),)
    assert after.disk.blocks[2] == (0,)
    through = w._replace(controllers=(w.controllers[0]._replace(write_through=(2,)), w.controllers[1]))
    after = a.process(m, through, 0)
    assert after is not None and after.controllers[0].cache == () and after.disk.blocks[2] == (1,)


def test_a_controller_not_in_charge_refuses_frames_and_the_host_retries() -> None:
    w: World | None
    m, w = fig5()
    w = a.send_read(m, w, 0, 2, 0)
    assert w is not None
    w = w._replace(paths=tuple(p._replace(route=1) for p in w.paths))
    w = a.deliver(m, w, 0)
    assert w is not None and w.hosts[0] == Request(Op.READ, 2, 0, UNREAD, Where.NOT_READY)
    w = a.retry(m, w, 0)
    assert w is not None and w.hosts[0] is not None and w.hosts[0].at == Where.PATH


def test_a_suspended_path_holds_frames() -> None:
    w: World | None
    m, w = fig5()
    w = a.send_write(m, w, 0, 2, 0)
    assert w is not None
    w = w._replace(paths=tuple(p._replace(suspended=True) for p in w.paths))
    assert a.deliver(m, w, 0) is None


def test_one_outstanding_request_per_host_and_bounded_writes() -> None:
    w: World | None
    m, w = fig5()
    w = a.send_write(m, w, 0, 2, 0)
    assert w is not None
    assert a.send_write(m, w, 0, 3, 0) is None  # busy
    w = a.complete(m, a.process(m, a.deliver(m, w, 0), 0), 0)  # type: ignore[arg-type]
    assert w is not None and w.ghost.acked[2] == (1,)
    assert a.send_write(m, w, 0, 2, 0) is None  # writes_per_block = 1 in fig5


def test_purge_waits_for_the_destage_of_every_dirty_line() -> None:
    w: World | None
    m, w = fig5()
    w = a.process(m, a.deliver(m, a.send_write(m, w, 0, 2, 0), 0), 0)  # type: ignore[arg-type]
    assert w is not None
    w = run_job_to(m, a.designate_batch(m, w, 0), Step.PURGE)  # type: ignore[arg-type]
    assert w.controllers[0].write_through == (2,)
    assert a.purge(m, w, 0) is None
    w = a.destage_line(m, w, 0, 0)
    # The disk write is under way: the line stays dirty and the purge still waits.
    assert w is not None and w.disk.blocks[2] == (0,) and w.controllers[0].cache == (Line(2, 0, 1, True),)
    assert w.controllers[0].destaging == (Destage(2, 0, 1),) and a.purge(m, w, 0) is None
    w = a.destage_done(m, w, 0, 2, 0)
    assert w is not None and w.disk.blocks[2] == (1,) and w.controllers[0].cache == (Line(2, 0, 1, False),)
    assert w.controllers[0].destaging == ()
    w = a.purge(m, w, 0)
    assert w is not None and w.controllers[0].cache == ()


def test_the_source_stops_only_after_finishing_what_it_accepted() -> None:
    w: World | None
    m, w = fig5()
    w = run_job_to(m, a.designate_batch(m, w, 0), Step.SUSPEND)  # type: ignore[arg-type]
    w = a.deliver(m, a.send_read(m, w, 0, 2, 0), 0)  # type: ignore[arg-type]
    assert w is not None
    w = run_job_to(m, w, Step.STOP_SOURCE)
    assert a.stop_source(m, w, 0) is None
    assert a.stop_source(Model(m.scenario, variant("stop-without-drain")), w, 0) is not None
    w = a.process(m, w, 0)
    assert w is not None and a.stop_source(m, w, 0) is not None


def test_a_second_takeover_of_a_moving_lu_is_refused() -> None:
    m = Model(builtin("ping-pong"))
    w = a.designate(m, m.initial(), 0, 1)
    assert w is not None and len(w.jobs) == 1
    w = run_job_to(m, w, Step.READ_ROW)  # the row now names controller 1 as current
    assert a.designate(m, w, 0, 0) is None
    buggy = Model(m.scenario, variant("concurrent-same-lu"))
    after = a.designate(buggy, w, 0, 0)
    assert after is not None and [(j.source, j.destination) for j in after.jobs] == [(0, 1), (1, 0)]


def test_designation_to_the_current_controller_is_refused() -> None:
    m = Model(builtin("ping-pong"))
    assert a.designate(m, m.initial(), 0, 0) is None


def test_designation_keeps_the_lun_map_gap_free() -> None:
    m = Model(builtin("three-way"))
    w: World | None
    w = m.initial()  # LU0 is external LUN 0 and LU1 LUN 1, both on controller 0
    assert a.designate(m, w, 0, 1) is None  # LU1 would be left alone at LUN 1
    w = a.designate(m, w, 1, 1)
    assert w is not None and (w.jobs[0].destination, w.jobs[0].ext_lun) == (1, 0)
    w = a.designate(m, w, 0, 1)  # now LU0 may follow, as LUN 1 there
    assert w is not None and [(j.lu, j.ext_lun) for j in w.jobs] == [(0, 1), (1, 0)]


def test_a_read_during_destage_does_not_fill_the_cache() -> None:
    w: World | None
    m, w = fig5()
    w = run_job_to(m, a.designate_batch(m, w, 0), Step.PURGE)  # type: ignore[arg-type]
    w = a.process(m, a.deliver(m, a.send_read(m, w, 0, 2, 0), 0), 0)  # type: ignore[arg-type]
    assert w is not None and w.controllers[0].cache == ()
