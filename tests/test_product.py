"""The per-LU product (``proofs.product``): an array whose LUs share only the take-over
budget has exactly as many states as the product of each LU's own space allows, which the
full search confirms; arrays whose LUs are tied together are refused, saying why."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import AGREEMENT, SLOW, summary
from invariants import LIVENESS, SAFETY, obligations
from lutakeover.cli import main
from lutakeover.formats.report import format_check
from model.actions import Model
from model.labels import Label
from model.protocol import CORRECT, VARIANTS, variant
from model.scenario import Scenario, builtin, from_dict, load
from model.state import Op
from proofs.check import Check, run_check
from proofs.explicit import explore
from proofs.product import (
    NotIndependent,
    local_scenario,
    local_space,
    product_check,
    product_states,
    rename,
    why_not_independent,
)
from proofs.product_liveness import LocalCycle, LocalGraph, shortest_dead_ends

ARRAYS = Path(__file__).parent.parent / "benchmarks" / "arrays"


def array(controllers: int, lus: int, blocks: int, budget: int, reads: int = 0) -> Scenario:
    """LU j on controller j % controllers, a host of its own writing and reading it, take-overs
    in any order to port 1 (the benchmark arrays' shape)."""
    data: dict[str, Any] = {
        "name": f"array-{controllers}x{lus}x{blocks}-t{budget}",
        "description": "LUs that share only the take-over budget",
        "array": {"controllers": controllers, "ports": 2},
        "lu": [
            {"id": j, "controller": j % controllers, "port": 0, "ext_lun": j // controllers, "blocks": blocks}
            for j in range(lus)
        ],
        "host": [{"name": f"host{j}", "writes": [j], "reads": [j] if reads else []} for j in range(lus)],
        "workload": {"writes_per_block": 1, "reads_per_block": reads},
        "takeovers": {"mode": "any", "budget": budget, "port": 1},
    }
    return from_dict(data)


def full_states(scenario: Scenario) -> int:
    check = run_check(Model(scenario, CORRECT), symmetry=False, liveness=False)
    assert check.search.complete
    return check.search.states


@pytest.mark.parametrize(
    ("controllers", "lus", "blocks", "budget", "reads", "states"),
    [
        (2, 2, 1, 1, 0, 685),
        (2, 2, 1, 2, 0, 5_781),
        (3, 2, 1, 1, 0, 1_345),
        (3, 3, 1, 1, 0, 10_025),
        (2, 2, 1, 1, 1, 7_360),
        (2, 2, 2, 1, 0, 8_640),
    ],
)
def test_the_product_of_the_lus_own_spaces_is_the_full_search(
    controllers: int, lus: int, blocks: int, budget: int, reads: int, states: int
) -> None:
    scenario = array(controllers, lus, blocks, budget, reads=reads)
    assert why_not_independent(scenario) is None
    assert product_states(scenario) == full_states(scenario) == states


@pytest.mark.parametrize(
    ("controllers", "lus", "budget", "reason", "product", "full"),
    [
        # LU0 and LU1 can both be moved to controller 2: they arrive under external LUNs 0
        # and 1 in either order, which the product of their own spaces cannot tell apart.
        (3, 2, 2, "two take-overs could bring LU0 and LU1 to controller 2", 21_659, 26_015),
        # LU0 and LU2 share port 0 of controller 0: LU0 may not leave (Step 801's gap rule).
        (2, 3, 1, "port 0 of controller 0 presents 2 LUs", 5_075, 3_425),
        (2, 2, 3, "3 take-overs could bring two LUs to one port", 16_289, 26_057),
    ],
)
def test_where_lus_share_a_port_the_product_is_wrong_and_refused(
    controllers: int, lus: int, budget: int, reason: str, product: int, full: int
) -> None:
    scenario = array(controllers, lus, 1, budget)
    assert why_not_independent(scenario) == reason
    assert product_states(scenario, unchecked=True) == product != full == full_states(scenario)


def test_an_lus_own_space_is_counted_by_the_take_overs_that_reach_it() -> None:
    scenario = array(2, 2, 1, 2)
    spaces = [local_space(scenario, lu) for lu in range(2)]
    # LU1 starts on controller 1, LU0 on controller 0: the same space, renamed.
    assert spaces[0].by_takeovers == spaces[1].by_takeovers
    assert spaces[0].states == sum(spaces[0].by_takeovers.values())
    assert sorted(spaces[0].by_takeovers) == [0, 1, 2]
    # Without the shared budget the product would be the square: the budget is what ties.
    assert product_states(scenario) < spaces[0].states * spaces[1].states


def test_a_local_scenario_keeps_the_lu_and_its_host_only() -> None:
    scenario = array(3, 3, 1, 1, reads=1)
    local = local_scenario(scenario, 2)
    assert [(lu.lu, lu.controller, lu.port, lu.ext_lun) for lu in local.lus] == [(0, 2, 0, 0)]
    assert [(h.name, h.writes, h.reads) for h in local.hosts] == [("host2", (0,), (0,))]
    assert (local.budget, local.controllers, local.takeover_port) == (1, 3, 1)


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        (builtin("fig5"), "take-overs are scripted in batches"),
        (builtin("three-way"), "host host0 uses 2 LUs, not one"),
        (replace(builtin("ping-pong"), crashes=1), "a crash of the whole array"),
        (replace(array(2, 2, 1, 1), takeover_port=0), "an LU starts on the take-over port 0"),
    ],
)
def test_lus_tied_together_are_refused_saying_why(scenario: Scenario, reason: str) -> None:
    because = why_not_independent(scenario)
    assert because is not None and reason in because
    with pytest.raises(NotIndependent, match="the per-LU product does not apply: " + because):
        product_states(scenario)
    with pytest.raises(NotIndependent, match=because):
        product_check(Model(scenario, CORRECT))


def test_an_lu_two_hosts_use_is_refused() -> None:
    scenario = array(2, 2, 1, 1)
    shared = replace(scenario, hosts=(*scenario.hosts, replace(scenario.hosts[0], name="other", writes=())))
    assert why_not_independent(shared) == "host other uses 0 LUs, not one"
    reader = replace(scenario.hosts[0], name="reader", writes=(), reads=(0,))
    assert why_not_independent(replace(scenario, hosts=(*scenario.hosts, reader))) == "LU0 is used by 2 hosts"


@pytest.mark.slow
def test_the_benchmark_array_2x2x1_has_the_product_of_its_lus_states() -> None:
    scenario = load(ARRAYS / "array-2x2x1-t2.toml")
    assert product_states(scenario) == full_states(scenario) == 214_978


# --- the search over the product --------------------------------------------------------------


def findings(check: Check) -> tuple[object, ...]:
    """What a search found: verdict, each broken property's shortest counterexample, the
    witnesses' depths, and (with nothing broken) the states and the depth."""
    figures = (check.search.states, check.search.depth) if not check.counterexamples else None
    return check.verdict, summary(check), check.witnesses, figures


# Every variant on the smallest array by default; on larger ones, a CI step. Each row: the
# array, and which variants (None: all).
SHAPES = [
    *[((2, 2, 1, 1), name) for name in VARIANTS],
    *[pytest.param((2, 2, 1, 2), name, marks=AGREEMENT) for name in VARIANTS],
    *[pytest.param((2, 2, 2, 1), name, marks=SLOW) for name in ("correct", "skip-destage", "no-suspend")],
]


@pytest.mark.parametrize(("shape", "name"), SHAPES)
def test_the_product_search_finds_what_the_full_search_finds(
    shape: tuple[int, int, int, int], name: str
) -> None:
    # Verdicts, broken properties with their shortest counterexamples, witnesses, and with
    # nothing broken the states and depth: the same, for the correct protocol and every
    # seeded bug (those of embodiment 2 and of crashes do nothing here, and agree too).
    # Liveness from the LUs' own arrays too: the obligations dead ends leave pending, and
    # the shortest run to a dead end owing each.
    model = Model(array(*shape, reads=1), variant(name))
    full = run_check(model, symmetry=False, keep_going=True)
    product = product_check(model, keep_going=True, liveness=True)
    assert findings(product) == findings(full)
    assert product.search.liveness_checked == full.search.liveness_checked
    assert [product.status(p.name, "liveness") for p in LIVENESS] == [
        full.status(p.name, "liveness") for p in LIVENESS
    ]
    assert owed(product) == owed(full)
    for v in product.counterexamples:  # each a run of the whole array, breaking its property
        assert v.trace[0].state == model.initial()
        last = v.trace[-1].state
        if v.kind == "safety":
            prop = next(p for p in SAFETY if p.name == v.property)
            assert prop.check(model, last) == v.message
        else:  # a dead end that owes the obligation
            assert v.kind == "deadlock" and model.successors(last) == []
            assert v.obligation in obligations(model, last)


def owed(check: Check) -> dict[object, int]:
    """Each obligation a dead end leaves pending, and the length of the run to it."""
    return {v.obligation: len(v.trace) - 1 for v in check.counterexamples if v.kind == "deadlock"}


def test_no_resume_leaves_every_obligation_of_both_lus_pending_in_the_product() -> None:
    # The pins: both paths stay suspended, and both hosts' requests go unanswered.
    model = Model(array(2, 2, 1, 2, reads=1), variant("no-resume"))
    product = product_check(model, keep_going=True, liveness=True)
    assert owed(product) == {
        ("path", 0): 24,
        ("path", 1): 24,
        ("request", 0, Op.READ, 0, 0, 0): 24,
        ("request", 0, Op.WRITE, 0, 0, 1): 24,
        ("request", 1, Op.READ, 1, 0, 0): 24,
        ("request", 1, Op.WRITE, 1, 0, 1): 24,
    }
    first = product_check(model, liveness=True)  # without keep_going: the shallowest alone
    assert [(v.property, len(v.trace) - 1) for v in first.counterexamples] == [("paths_resumed", 24)]


def test_an_lu_whose_own_array_has_a_cycle_is_not_judged_by_the_product() -> None:
    graph = LocalGraph.search(Model(local_scenario(array(2, 2, 1, 1), 0), CORRECT), 1)
    assert graph.cycles == [] and graph.states == 71 and graph.stuck
    graph.cycles = [[3, 4]]  # as if the LU could go round states 3 and 4 forever
    with pytest.raises(LocalCycle, match="LU1's own array has a cycle"):
        shortest_dead_ends(
            [LocalGraph.search(Model(local_scenario(array(2, 2, 1, 1), 0), CORRECT), 1), graph], [0, 1], 1
        )


def test_check_searches_every_state_where_the_product_cannot_judge_liveness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def cycle(*args: object) -> list[object]:
        raise LocalCycle("LU0's own array has a cycle (2 states)")

    monkeypatch.setattr("proofs.product.shortest_dead_ends", cycle)
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    assert main(["check", str(path), "--product", "--quiet"]) == 2
    assert "--product: LU0's own array has a cycle" in capsys.readouterr().err
    assert main(["check", str(path), "--json"]) == 0
    out = capsys.readouterr()
    assert "lutakeover: LU0's own array has a cycle (2 states): every state searched instead" in out.err
    data = json.loads(out.out)  # composed, as where there is no product: liveness on the graph
    assert (data["lu_spaces"], data["lu_records"] is not None, data["states"]) == (None, True, 685)
    assert main(["check", str(path), "--no-liveness", "--json", "--quiet"]) == 0  # safety alone: product
    assert json.loads(capsys.readouterr().out)["lu_spaces"] == [71, 71]


def test_without_keep_going_the_product_reports_the_shallowest_violation() -> None:
    model = Model(array(2, 2, 1, 1, reads=1), variant("skip-destage"))
    full, product = run_check(model, symmetry=False, liveness=False), product_check(model)
    assert len(product.counterexamples) == 1
    assert len(product.counterexamples[0].trace) == len(full.counterexamples[0].trace)
    assert product.verdict == full.verdict == "violated"


def test_an_lus_labels_are_renamed_to_the_arrays() -> None:
    assert rename(Label("send_write", (0, 0, 1)), 2, 5) == Label("send_write", (5, 2, 1))
    assert rename(Label("complete", (0,)), 2, 5) == Label("complete", (5,))
    assert rename(Label("destage_done", (1, 0, 1)), 2, 5) == Label("destage_done", (1, 2, 1))
    assert rename(Label("designate", (0, 1)), 2, 5) == Label("designate", (2, 1))
    assert rename(Label("destage_line", (0, 0, 1, 1)), 2, 5) == Label("destage_line", (2, 0, 1, 1))


def test_check_product_on_the_benchmark_array(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ARRAYS / "array-2x2x1-t2.toml")
    assert main(["check", path, "--product", "--no-liveness", "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["states"], data["depth"], data["lu_spaces"]) == (214_978, 48, [987, 987])
    assert main(["check", path, "--product", "--no-liveness", "--quiet"]) == 0
    assert (
        "214,978 states, depth 48, by the per-LU product of LU spaces of 987, 987" in capsys.readouterr().out
    )
    bug = ["check", path, "--product", "--no-liveness", "--variant", "skip-destage", "--quiet"]
    assert main(bug) == 1
    assert "no_stale_cache is violated after 12 steps" in capsys.readouterr().out  # as the full search


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--no-liveness", "--symmetry"], "drop --symmetry"),
        (["--no-liveness", "--max-states", "9"], "drop --max-states"),
        (["--no-liveness", "--builtin", "fig5"], "scripted in batches"),
    ],
)
def test_check_product_refuses_what_it_cannot_do(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", str(ARRAYS / "array-2x2x1-t2.toml"), "--product", *extra, "--quiet"]
    if "--builtin" in extra:
        args.remove(str(ARRAYS / "array-2x2x1-t2.toml"))
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_the_product_report_says_how_it_counted_and_nothing_of_symmetry() -> None:
    # Five LUs on five controllers: 120 symmetries, which the full search's report would
    # say it did not reduce by; the product's report says what it searched instead.
    check = product_check(Model(array(5, 5, 1, 1), CORRECT))
    assert check.lu_spaces == [269] * 5  # 5 states without a take-over, 264 with one
    text = format_check(check)
    assert "828,125 states, depth 32, by the per-LU product of LU spaces of 269, 269, 269, 269, 269" in text
    assert "symmetry" not in text.splitlines()[1] and "no symmetry reduction" not in text


SMALL = """
name = "small"
description = "two LUs that share only the take-over budget"
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
[[host]]
name = "host0"
writes = [0]
[[host]]
name = "host1"
writes = [1]
[takeovers]
mode = "any"
budget = 1
port = 1
"""


def test_check_takes_the_product_by_default_where_it_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    assert main(["check", str(path), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["lu_spaces"] == [71, 71]
    assert json.loads(out.out)["states"] == 685  # as the full search finds (array(2, 2, 1, 1))
    assert "checked by the per-LU product (--no-product for the search of every state)" in out.err
    # What asks for the search itself: --no-product, --no-symmetry, --symmetry or --max-states.
    for extra in (["--no-product"], ["--no-symmetry"], ["--symmetry"], ["--max-states", "10000"]):
        assert main(["check", str(path), "--no-liveness", "--json", "--quiet", *extra]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["lu_spaces"] is None and data["states"] <= 685, extra
    assert main(["check", str(path), "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["lu_spaces"], data["states"], data["liveness_checked"]) == ([71, 71], 685, True)
    # A scenario whose LUs are tied together is searched as ever, and says nothing of it.
    assert main(["check", "--builtin", "three-hosts", "--no-liveness", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["lu_spaces"] is None and "per-LU product" not in out.err


def test_the_graph_recorded_by_the_safety_search_is_the_graph_searched_alone() -> None:
    """product_check with liveness builds each LU's graph from its safety search (one
    search of the LU's own array, not two): the same states, edges, runs and stuck states."""
    local = Model(local_scenario(array(3, 2, 1, 2), 1), variant("no-resume"))
    alone = LocalGraph.search(local, 2)
    recorded = LocalGraph(local, 2)
    explore([local.initial()], recorded.successors, keep_going=True)
    recorded.finish()
    assert alone.states == recorded.states == 295 and alone.stuck
    for field in ("parent", "depth", "label", "src", "dst", "stuck", "cycles"):
        assert getattr(recorded, field) == getattr(alone, field), field
    unfinished = LocalGraph(local, 2)
    explore([local.initial()], unfinished.successors, max_states=100)
    with pytest.raises(ValueError, match="stopped before its end"):
        unfinished.finish()
