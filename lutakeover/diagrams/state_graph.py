"""The reachable state graph of a small scenario, clustered by take-over phase.

Every state is a node labelled with what a storage engineer looks for (who is in charge of
which LU, dirty lines, write-through, held frames, requests in flight); every transition an
edge labelled with its action. The initial state is drawn bold, the edges of the shortest
counterexample (if the variant has one) thick and red, the state that breaks the property
filled red. A graph with more states than can be drawn legibly is replaced, with a message,
by its quotient by phase: one node per array phase, edges counted.

Both are built as networkx graphs whose node and edge attributes hold all the drawing needs
(and what `--graphml` exports); the DOT source is drawn from them.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import graphviz

from lutakeover.diagrams import DEFAULT_MAX_NODES
from lutakeover.diagrams.dot import HIGHLIGHT, DiagramError, digraph, esc
from lutakeover.diagrams.phases import WorldPhase, world_phase, world_phase_title
from model.actions import ACTIONS_BY_NAME, Model
from model.labels import Label
from model.state import Op, Where, World, in_inbox
from proofs.explicit import Progress
from proofs.trace import Counterexample

if TYPE_CHECKING:  # networkx takes a quarter second to import: only drawing needs it
    import networkx as nx

QUOTIENT_LIMIT = 500_000  # states explored to draw the quotient by phase
QUOTIENT_FACTOR = 2  # a quotient of more than this many times --max-nodes phases is not drawn

STATES, QUOTIENT = "states", "phases_quotient"  # the graphs' names, in DOT too

# A counterexample's edges (the class lets a test, or a stylesheet, find them in the SVG)
ON_TRACE = {"color": HIGHLIGHT, "fontcolor": HIGHLIGHT, "penwidth": "3", "class": "counterexample"}
BROKEN = {"style": "rounded,filled", "fillcolor": "#ffd6d6", "color": HIGHLIGHT, "penwidth": "2.5"}


@dataclass
class Graph:
    states: list[World]  # in breadth-first order; index 0 is the initial state
    edges: list[tuple[int, int, Label]]  # (from, to, action label)
    complete: bool  # False: more states than the limit


def reachable(m: Model, limit: int, progress: Callable[[str], None] | None = None) -> Graph:
    """Breadth-first, at most ``limit`` states (``complete`` says whether that was all)."""
    start = m.initial()
    index = {start: 0}
    states = [start]
    edges: list[tuple[int, int, Label]] = []
    queue = deque([start])
    complete = True
    ticker = Progress(progress)  # by time, not by count: a state of a large array takes ms
    while queue:
        w = queue.popleft()
        seconds = ticker.due()
        if progress is not None and seconds is not None:
            progress(f"state graph: {len(states):,} states, {seconds:.0f} s")
        for label, after in m.successors(w):
            if after not in index:
                if len(states) >= limit:
                    complete = False
                    continue
                index[after] = len(states)
                states.append(after)
                queue.append(after)
            edges.append((index[w], index[after], label))
    return Graph(states, edges, complete)


def state_label(m: Model, w: World) -> str:
    """Who is in charge of which LU, dirty lines, write-through, held frames, requests."""
    lines = [
        " ".join(
            f"c{c}:{','.join(f'LU{lu}' for lu in ctl.active) or '-'}" for c, ctl in enumerate(w.controllers)
        )
    ]
    dirty = [
        f"c{c} LU{x.lu}.{x.block}={x.value}"
        for c, ctl in enumerate(w.controllers)
        for x in ctl.cache
        if x.dirty
    ]
    if dirty:
        lines.append("dirty " + " ".join(dirty))
    wt = [f"c{c} LU{lu}" for c, ctl in enumerate(w.controllers) for lu in ctl.write_through]
    if wt:
        lines.append("write-through " + " ".join(wt))
    held = [f"LU{lu}" for lu, p in enumerate(w.paths) if p.suspended]
    routes = [
        f"LU{lu}->c{p.route}" for lu, p in enumerate(w.paths) if lu not in w.controllers[p.route].active
    ]
    if held:
        lines.append("held " + " ".join(held))
    if routes and m.scenario.topology == "path":
        lines.append("route " + " ".join(routes))
    for h, r in enumerate(w.hosts):
        if r is not None:
            what = f"W LU{r.lu}.{r.block}={r.value}" if r.op is Op.WRITE else f"R LU{r.lu}.{r.block}"
            where = f"at c{r.at}" if in_inbox(r) else _WHERE[Where(r.at)]
            lines.append(f"host{h} {what} {where}")
    return "\n".join(lines)


LEGEND = (
    ("c0:LU0 c1:-", "controller 0 is in charge of LU0, controller 1 of nothing"),
    ("dirty c0 LU0.0=1", "a dirty line in c0's cache: LU0 block 0 holds 1"),
    ("write-through c0 LU0", "c0 writes LU0 through to disk (Steps 804-808)"),
    ("held LU0", "the path controller holds LU0's frames (806-809)"),
    ("route LU0->c1", "LU0's frames go to c1, which is not in charge of it"),
    ("host0 W LU0.0=1 at path", "host0's write (R: read), and where its frame is"),
    ("red", "the shortest counterexample, and the state that breaks the property"),
)


def _legend_label() -> str:
    rows = "".join(
        f'<tr><td align="left">{esc(a)}</td><td align="left">{esc(b)}</td></tr>' for a, b in LEGEND
    )
    head = '<tr><td colspan="2"><b>how to read a state</b></td></tr>'
    return f'<<table border="0" cellspacing="0" cellpadding="2">{head}{rows}</table>>'


_WHERE = {
    Where.PATH: "at path",
    Where.REPLIED: "replied",
    Where.NOT_READY: "NOT READY",
    Where.MIRRORING: "mirroring",
}


def _edge_label(label: Label) -> str:
    number = _step_number(label)
    return f"{number} {label.action}" if number else label.action


def _step_number(label: Label) -> str:
    """The patent step of a transition's action ("" for a host's or the environment's)."""
    step = ACTIONS_BY_NAME[label.action].step
    return step.number if step is not None else ""


def state_graph(
    m: Model,
    counterexample: Counterexample | None,
    max_nodes: int = DEFAULT_MAX_NODES,
    progress: Callable[[str], None] | None = None,
) -> tuple[nx.DiGraph, str | None]:
    """(the state graph, or its quotient by phase with a message saying why)."""
    graph = reachable(m, max_nodes)
    if not graph.complete:
        if progress is not None:
            progress(f"more than {max_nodes} states: exploring the whole graph to draw its quotient by phase")
        full = reachable(m, QUOTIENT_LIMIT, progress)
        too_many = (
            f"scenario {m.scenario.name} has "
            f"{'more than ' if not full.complete else ''}{len(full.states):,} reachable states, more than "
            f"{max_nodes} can be drawn legibly (--max-nodes)"
        )
        phase_of = [world_phase(m, w) for w in full.states]
        phases = len(set(phase_of))
        if phases > QUOTIENT_FACTOR * max_nodes:
            raise DiagramError(
                f"{too_many}, and even its quotient by phase has {phases:,} nodes; draw the per-LU "
                "phase machine (`lutakeover diagram phases`) or a smaller scenario"
            )
        message = f"{too_many}; drawing its quotient by phase instead"
        if progress is not None:
            progress(message)
        return quotient_graph(m, full, phase_of, counterexample), message
    return full_graph(m, graph, counterexample), None


def state_graph_dot(
    m: Model,
    counterexample: Counterexample | None,
    max_nodes: int = DEFAULT_MAX_NODES,
    progress: Callable[[str], None] | None = None,
) -> tuple[str, str | None]:
    """(DOT source, a message if the graph was too large and its quotient was drawn)."""
    g, message = state_graph(m, counterexample, max_nodes, progress)
    return graph_dot(g), message


def graph_dot(g: nx.DiGraph) -> str:
    """The DOT source of a graph of ``full_graph`` or ``quotient_graph``."""
    return _quotient_dot(g) if g.graph["name"] == QUOTIENT else _states_dot(g)


def _trace_pairs(counterexample: Counterexample | None) -> list[tuple[World, World]]:
    if counterexample is None:
        return []
    states = [step.state for step in counterexample.trace]
    return list(itertools.pairwise(states))


def _graph(name: str, title: str) -> graphviz.Digraph:
    g = digraph(name, title, nodesep="0.3", ranksep="0.5")
    g.attr("node", fontsize="9", shape="box", style="rounded")
    g.attr("edge", fontsize="8", color="#888888", fontcolor="#555555")
    return g


def _title(m: Model, counterexample: Counterexample | None, what: str) -> str:
    title = f"{what}: scenario {m.scenario.name}, variant {m.protocol.name}"
    if counterexample is not None:
        steps = len(counterexample.trace) - 1
        title += f"\nred: shortest counterexample, {counterexample.property} broken in {steps} steps"
    return title


def _full_dot(m: Model, graph: Graph, counterexample: Counterexample | None) -> str:
    return _states_dot(full_graph(m, graph, counterexample))


def full_graph(m: Model, graph: Graph, counterexample: Counterexample | None) -> nx.MultiDiGraph:
    """Every state a node ``s{i}`` (its ``label``, ``phase``, phase ``cluster``, ``initial``,
    ``broken``), in breadth-first order; every distinct transition an edge keyed by its action
    (``action``, drawn ``label``, patent ``step``, ``counterexample``), in the order drawn."""
    import networkx as nx  # here, not at the top: see TYPE_CHECKING above

    g = nx.MultiDiGraph(name=STATES, title=_title(m, counterexample, f"{len(graph.states)} reachable states"))
    index = {w: i for i, w in enumerate(graph.states)}
    on_trace = {(index[a], index[b]) for a, b in _trace_pairs(counterexample) if a in index and b in index}
    bad = index.get(counterexample.trace[-1].state) if counterexample is not None else None
    clusters: dict[WorldPhase, int] = {}  # numbered by their first state: the order they are drawn in
    for i, w in enumerate(graph.states):
        phase = world_phase(m, w)
        cluster = clusters.setdefault(phase, len(clusters))
        g.add_node(
            f"s{i}",
            label=state_label(m, w),
            phase=world_phase_title(m, phase),
            cluster=cluster,
            initial=i == 0,
            broken=i == bad,
        )
    # networkx yields edges by source in node order, then in the order added: these, sorted.
    for a, b, label in sorted(set(graph.edges), key=lambda e: (e[0], e[1], str(e[2]))):
        g.add_edge(
            f"s{a}",
            f"s{b}",
            key=str(label),
            action=str(label),
            label=_edge_label(label),
            step=_step_number(label),
            counterexample=(a, b) in on_trace,
        )
    return g


def _states_dot(g: nx.MultiDiGraph) -> str:
    d = _graph(STATES, g.graph["title"])
    d.node("legend", _legend_label(), shape="note", style="", fontsize="9", color="#999999")
    members: dict[int, list[str]] = {}
    for node, cluster in g.nodes(data="cluster"):
        members.setdefault(cluster, []).append(node)
    for k, nodes in members.items():
        with d.subgraph(name=f"cluster_{k}") as cluster:
            cluster.attr(
                label=g.nodes[nodes[0]]["phase"],
                style="rounded,filled",
                fillcolor="#f6f6f6",
                color="#cccccc",
            )
            for node in nodes:
                data = g.nodes[node]
                attrs = {}
                if data["initial"]:
                    attrs = {"penwidth": "2.5", "xlabel": "initial"}
                if data["broken"]:
                    attrs.update(BROKEN)
                cluster.node(node, esc_plain(data["label"]), **attrs)
    for a, b, data in g.edges(data=True):
        attrs = {"label": data["label"]}
        if data["counterexample"]:
            attrs.update(ON_TRACE)
        d.edge(a, b, **attrs)
    return str(d.source)


def esc_plain(text: str) -> str:
    """A plain (non-HTML) label: DOT escapes quotes itself; lines end left-aligned."""
    return text.replace("\\", "\\\\").replace("\n", "\\l") + "\\l"


def quotient_graph(
    m: Model, graph: Graph, phase_of: list[WorldPhase], counterexample: Counterexample | None
) -> nx.DiGraph:
    """The state graph contracted by phase (``phase_of[i]`` is the phase of ``graph.states[i]``):
    one node ``p{i}`` per array phase, numbered by its first state (its ``label``, how many
    ``states`` it has, ``initial``, ``broken``); one edge per pair of phases some transition
    joins (the drawn ``label``: every action that joins them; ``counterexample``)."""
    import networkx as nx  # here, not at the top: see TYPE_CHECKING above

    title = f"{len(graph.states):,}{'+' if not graph.complete else ''} reachable states, by phase"
    q = nx.DiGraph(name=QUOTIENT, title=_title(m, counterexample, title))
    counts = Counter(phase_of)
    ids = {p: i for i, p in enumerate(counts)}  # a Counter keeps the order of first occurrence
    # Contracted by hand, not by nx.quotient_graph: the state graph may have half a million
    # states, too many to hold as a networkx graph, and its default block test is quadratic.
    joined: dict[tuple[int, int], set[str]] = {}
    for a, b, label in graph.edges:
        pa, pb = ids[phase_of[a]], ids[phase_of[b]]
        if pa != pb:
            joined.setdefault((pa, pb), set()).add(_edge_label(label))
    on_trace = {(ids[world_phase(m, a)], ids[world_phase(m, b)]) for a, b in _trace_pairs(counterexample)}
    bad = ids.get(world_phase(m, counterexample.trace[-1].state)) if counterexample is not None else None
    for p, i in ids.items():
        q.add_node(f"p{i}", label=world_phase_title(m, p), states=counts[p], initial=i == 0, broken=i == bad)
    for (a, b), labels in sorted(joined.items()):  # yielded back in this order, as for full_graph
        q.add_edge(f"p{a}", f"p{b}", label=", ".join(sorted(labels)), counterexample=(a, b) in on_trace)
    return q


def _quotient_dot(q: nx.DiGraph) -> str:
    d = _graph(QUOTIENT, q.graph["title"])
    for node, data in q.nodes(data=True):
        attrs = {"penwidth": "2.5"} if data["initial"] else {}
        if data["broken"]:
            attrs.update(BROKEN)
        d.node(node, data["label"] + f"\\n{data['states']:,} states", **attrs)
    for a, b, data in q.edges(data=True):
        attrs = {"label": data["label"]}
        if data["counterexample"]:
            attrs.update(ON_TRACE)
        d.edge(a, b, **attrs)
    return str(d.source)
