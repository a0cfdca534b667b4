"""Properties that no seeded bug of embodiment 1 breaks are still shown to fail: on states
built by hand, or on a model whose steps are cut by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

import model.scenario as scenario_module
from invariants import safety
from invariants.safety import lun_map_well_formed
from invariants.witnesses import liveness_of, obligations
from model.actions import Model
from model.protocol import variant
from model.scenario import ScenarioError, builtin, parse
from model.state import Job, Row
from proofs.check import run_check
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
    assert v.kind == "deadlock" and v.labels[-1].action == "notify"


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
