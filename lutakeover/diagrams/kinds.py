"""`lutakeover diagram KIND`: the four kinds of picture, built from the model.

- phases: the per-LU phase machine (take-over, and the backup cycle where the scenario has one)
- states: the reachable state graph of a small scenario (or its quotient by phase)
- trace: a counterexample, or an ITF trace file, as a sequence diagram
- tables: every controller's configuration information table before and after (Figs. 5, 9)

The phase machine and the state graph are networkx graphs before they are DOT, and can be
written as GraphML too (``write_graphml``) for other graph tools.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lutakeover.diagrams import DEFAULT_MAX_NODES
from lutakeover.diagrams.dot import DiagramError
from lutakeover.diagrams.phases import DEFAULT_LIMIT, derive, phase_graph, phase_graph_dot
from lutakeover.diagrams.sequence import trace_dot
from lutakeover.diagrams.state_graph import graph_dot, state_graph
from lutakeover.diagrams.tables import tables_dot
from lutakeover.formats.itf import ItfError, read_trace
from model.actions import Model
from model.generate import array_scenario
from model.scenario import Scenario, builtin, builtin_names
from proofs.check import run_check
from proofs.replay import ReplayError, check_run, replay
from proofs.trace import Counterexample, Step

if TYPE_CHECKING:  # networkx takes a quarter second to import: only drawing needs it
    import networkx as nx

Progress = Callable[[str], None] | None


def phases(m: Model, progress: Progress = None) -> str:
    return graph_dot_of(phases_graph(m, progress))


def phases_graph(m: Model, progress: Progress = None) -> nx.MultiDiGraph:
    """The per-LU phase machine as a graph (see ``phases.phase_graph``)."""
    machine = derive(m, DEFAULT_LIMIT, progress)
    if not machine.complete and progress is not None:
        progress(f"phase machine drawn from the first {machine.states:,} states (the scenario has more)")
    return phase_graph(machine)


def graph_dot_of(g: nx.DiGraph) -> str:
    """The DOT source of a graph of ``phases_graph`` or ``states_graph``."""
    return phase_graph_dot(g) if g.graph["name"] == "phases" else graph_dot(g)


def shortest_counterexample(m: Model, progress: Progress = None) -> Counterexample | None:
    """The check's shortest counterexample, on the unreduced state space (so its states are
    the model's own, and can be found in a drawn graph)."""
    check = run_check(m, symmetry=False, progress=progress)
    return next(iter(check.shortest().values()), None)


def states(m: Model, max_nodes: int = DEFAULT_MAX_NODES, progress: Progress = None) -> str:
    return graph_dot_of(states_graph(m, max_nodes, progress))


def states_graph(m: Model, max_nodes: int = DEFAULT_MAX_NODES, progress: Progress = None) -> nx.DiGraph:
    """The state graph, or its quotient by phase (see ``state_graph.state_graph``)."""
    counterexample = shortest_counterexample(m, progress)
    g, _message = state_graph(m, counterexample, max_nodes, progress)
    return g


def write_graphml(g: nx.DiGraph, path: str | Path) -> None:
    """Write the graph as GraphML: every attribute as GraphML can type it (str, int, float,
    bool; anything else as its text), parallel edges with ids unique in the file (``e0``, ...:
    a GraphML id is one token, and an edge's action is among its attributes already)."""
    import networkx as nx  # here, not at the top: see TYPE_CHECKING above

    out = g.__class__(**_typed(g.graph))
    out.add_nodes_from((node, _typed(data)) for node, data in g.nodes(data=True))
    if g.is_multigraph():
        out.add_edges_from((a, b, f"e{i}", _typed(data)) for i, (a, b, data) in enumerate(g.edges(data=True)))
    else:
        out.add_edges_from((a, b, _typed(data)) for a, b, data in g.edges(data=True))
    nx.write_graphml(out, str(path))


def _typed(attrs: dict[str, object]) -> dict[str, object]:
    return {k: v if isinstance(v, str | int | float | bool) else str(v) for k, v in attrs.items()}


def trace(m: Model, trace_file: str | None = None, progress: Progress = None) -> str:
    if trace_file is None:
        v = shortest_counterexample(m, progress)
        if v is None:
            raise DiagramError(
                f"variant {m.protocol.name} breaks no property on scenario {m.scenario.name}: "
                "no counterexample to draw; name a seeded bug with --variant, "
                "or give an ITF trace with --trace"
            )
        title = f"{v.property} broken by variant {m.protocol.name}: scenario {m.scenario.name}, shortest run"
        return trace_dot(m, v.trace, title, v)
    run = _replayed(m, trace_file)
    found = check_run(m, run)
    title = f"{Path(trace_file).name}: scenario {m.scenario.name}, variant {m.protocol.name}"
    if found is not None:
        title += f"; {found.property} broken at step {len(found.trace) - 1}"
    return trace_dot(m, run, title, found)


def _replayed(m: Model, trace_file: str) -> list[Step]:
    try:
        states = read_trace(trace_file)
    except ItfError as e:
        raise DiagramError(str(e)) from None
    try:
        run = replay(m, [step.label for step in states[1:]])
    except ReplayError as e:
        raise DiagramError(
            f"{trace_file} is not a run of scenario {m.scenario.name} under variant {m.protocol.name}: {e}"
        ) from None
    for i, (given, step) in enumerate(zip(states, run, strict=True)):
        if given.state != step.state:
            raise DiagramError(
                f"{trace_file}: state {i} differs from the model's state after the same steps "
                f"(scenario {m.scenario.name}, variant {m.protocol.name})"
            )
    return run


def tables(m: Model, progress: Progress = None) -> str:
    return tables_dot(m)


# The largest generated array a trace may name: a file's #meta must not make us build an
# array of any size it likes (and a sequence diagram this wide would be unreadable anyway).
GENERATED_LIMIT = 256


def scenario_named(name: str | None) -> Scenario | None:
    """The scenario a trace's #meta names: a built-in, or a generated array of `simulate`
    (``array-4c-16lu-1b``); None if it names neither (a scenario file's name); DiagramError
    if it names a generated array that cannot or should not be built."""
    if name in builtin_names():
        return builtin(name)
    generated = re.fullmatch(r"array-([0-9]+)c-([0-9]+)lu-([0-9]+)b", name or "")
    if generated is None:
        return None
    if any(len(x) > 4 or not 1 <= int(x) <= GENERATED_LIMIT for x in generated.groups()):
        raise DiagramError(
            f"its #meta names the generated array {name}: controllers, LUs and blocks per LU "
            f"must each be 1 to {GENERATED_LIMIT}"
        )
    controllers, lus, blocks = (int(x) for x in generated.groups())
    try:
        return array_scenario(controllers, lus, blocks)
    except ValueError as e:
        raise DiagramError(
            f"its #meta names the generated array {name}, which cannot be built: {e}"
        ) from None
