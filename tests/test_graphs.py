"""The diagram layer's graphs as networkx graphs: `--graphml` reads back with the counts the
drawings are pinned to (tests/test_diagrams.py), the quotient by phase is the state graph
contracted by phase, and a GraphML path is checked before any work."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import networkx as nx
import pytest

from lutakeover.cli import main
from lutakeover.diagrams import kinds as diagram
from lutakeover.diagrams.phases import world_phase
from lutakeover.diagrams.state_graph import QUOTIENT_LIMIT, full_graph, reachable, state_graph
from model.actions import Model
from model.protocol import CORRECT_ORDER, variant
from model.scenario import builtin


def model(scenario: str, name: str = "correct") -> Model:
    return Model(builtin(scenario), variant(name))


def graphml_of(tmp_path: Path, *argv: str) -> nx.DiGraph:
    """Run `lutakeover diagram ... --graphml` and read the GraphML back."""
    path = tmp_path / "g.graphml"
    assert main(["diagram", *argv, "-o", str(tmp_path / "d.dot"), "--graphml", str(path), "--quiet"]) == 0
    return nx.read_graphml(path)


def test_the_state_graph_reads_back_with_its_counterexample_flagged(tmp_path: Path) -> None:
    g = graphml_of(tmp_path, "states", "--builtin", "one-lu", "--variant", "skip-destage")
    flagged = [(a, b) for a, b, on in g.edges(data="counterexample") if on]
    # 74 states; 102 edges drawn grey and the counterexample's 12 red (tests/test_diagrams.py)
    assert (g.number_of_nodes(), g.number_of_edges(), len(flagged)) == (74, 102 + 12, 12)
    assert len({cluster for _, cluster in g.nodes(data="cluster")}) == 11  # one per phase
    (initial,) = [n for n, yes in g.nodes(data="initial") if yes]
    (broken,) = [n for n, yes in g.nodes(data="broken") if yes]
    # The flagged edges are the run from the initial state to the broken one, and a shortest path.
    assert len(nx.shortest_path(g.edge_subgraph(flagged), initial, broken)) - 1 == 12
    assert nx.shortest_path_length(g, initial, broken) == 12
    assert "c0:LU0 c1:-" in g.nodes[initial]["label"]


def test_the_phase_graph_of_fig5_has_every_patent_step_on_an_edge(tmp_path: Path) -> None:
    g = graphml_of(tmp_path, "phases")
    # 12 phases (the drawing's 13 nodes less the legend) and 13 actions (tests/test_diagrams.py)
    assert (g.number_of_nodes(), g.number_of_edges()) == (12, 13)
    steps = {step for _, _, step in g.edges(data="step")}
    assert {str(n) for n in range(801, 810)} <= steps
    assert {step.number for step in CORRECT_ORDER} <= steps
    assert g.nodes["rest0"]["label"] == "at rest" and g.nodes["takeover3"]["done"] == 3
    assert all(isinstance(n, int) and n > 0 for _, _, n in g.edges(data="transitions"))


def test_the_quotient_is_the_state_graph_contracted_by_phase() -> None:
    m = model("fig5", "no-suspend")
    v = diagram.shortest_counterexample(m)
    q, message = state_graph(m, v, max_nodes=150)
    assert message is not None
    on_trace = [e for e in q.edges(data="counterexample") if e[2]]
    assert (q.number_of_nodes(), len(on_trace)) == (121, 8)  # as drawn (tests/test_diagrams.py)
    # The same by networkx's own contraction: relabelling every state by its phase merges them.
    full = reachable(m, QUOTIENT_LIMIT)
    phase_of = {f"s{i}": world_phase(m, w) for i, w in enumerate(full.states)}
    contracted = nx.relabel_nodes(full_graph(m, full, v), phase_of)
    contracted.remove_edges_from(list(nx.selfloop_edges(contracted)))
    first = list(dict.fromkeys(phase_of.values()))  # the quotient numbers phases by first state
    named = nx.relabel_nodes(q, {f"p{i}": p for i, p in enumerate(first)})
    assert set(named.nodes) == set(contracted.nodes)
    assert set(named.edges) == {(a, b) for a, b, _key in contracted.edges(keys=True)}
    for a, b, label in named.edges(data="label"):
        assert label == ", ".join(sorted({d["label"] for d in contracted[a][b].values()}))
    assert dict(named.nodes(data="states")) == Counter(phase_of.values())


def test_write_graphml_types_every_attribute(tmp_path: Path) -> None:
    g = nx.MultiDiGraph(name="x", where=("a", 1))
    g.add_node("n", phase=(("LU", 0),), none=None, count=3)
    g.add_edge("n", "n", key="a b", flag=True)
    g.add_edge("n", "n", key="a c", flag=False)
    diagram.write_graphml(g, tmp_path / "x.graphml")
    back = nx.read_graphml(tmp_path / "x.graphml")
    assert back.nodes["n"] == {"phase": "(('LU', 0),)", "none": "None", "count": 3}
    assert back.graph["where"] == "('a', 1)"
    assert sorted(back.edges(keys=True, data="flag")) == [("n", "n", "e0", True), ("n", "n", "e1", False)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trace", "--variant", "no-suspend", "--graphml", "g.graphml"], "a trace diagram is not a graph"),
        (["tables", "--graphml", "g.graphml"], "a tables diagram is not a graph"),
        (["phases", "--graphml", "missing/g.graphml"], "--graphml missing/g.graphml: directory missing"),
        (["states", "--graphml", "sub"], "--graphml sub: is a directory"),
    ],
)
def test_a_bad_graphml_request_is_refused_before_any_work(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()

    def no_work(*args: object) -> object:
        raise AssertionError("refused too late: the diagram was being built")

    for build in ("phases_graph", "states_graph", "trace", "tables", "shortest_counterexample"):
        monkeypatch.setattr(diagram, build, no_work)
    assert main(["diagram", *argv, "-o", "x.svg"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lutakeover: error: ") and err.count("\n") == 1 and message in err
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]  # nothing written
