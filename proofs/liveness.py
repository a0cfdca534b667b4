"""Liveness under weak fairness, on a state graph the explicit search kept as integer arrays.

A state owes obligations (a take-over to finish, a request to answer). An obligation is
violated by a dead end where it is pending, or by a weakly fair cycle along which it stays
pending: a cycle that takes every action enabled in all of its states. The whole strongly
connected component is the fairest cycle inside it, so components are what is tested.

On a search reduced by symmetry the graph holds one state per orbit, and fairness cannot be
judged there: an action enabled all along a concrete cycle can wear a different name in each
representative. Dead ends can (a state is a dead end exactly when its representative is), and
every concrete cycle maps onto a cycle of representatives, so the cycles are judged on the
``Unfolding``: every renaming of every representative that lies on a cycle, with its concrete
edges. On the correct protocol no state lies on a cycle, and that costs nothing.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

S = TypeVar("S", bound=Hashable)


class Graph:
    """The state graph in compressed sparse rows: the edges of state ``v`` are
    ``dst[off[v]:off[v + 1]]`` with their action labels in ``label``. The search appends
    edges in the order it expands states, so the rows come out sorted for free."""

    def __init__(self, nodes: int, src: array[int], dst: array[int], label: array[int]) -> None:
        self.nodes, self.dst, self.label = nodes, dst, label
        self.off = array("I", [0]) * (nodes + 1)
        for v in src:
            self.off[v + 1] += 1
        for v in range(nodes):
            self.off[v + 1] += self.off[v]

    def successors(self, v: int) -> array[int]:
        return self.dst[self.off[v] : self.off[v + 1]]

    def labels(self, v: int) -> array[int]:
        return self.label[self.off[v] : self.off[v + 1]]

    def has_self_loop(self, v: int) -> bool:
        return v in self.successors(v)


def strongly_connected_components(
    graph: Graph, nodes: Iterable[int], inside: set[int] | None
) -> list[list[int]]:
    """Tarjan's algorithm, iterative, over the subgraph induced by ``inside`` (None: all)."""
    counter = 0
    # Arrays rather than dicts: this runs over every state of the graph.
    number = array("q", [-1]) * graph.nodes
    low = array("q", [0]) * graph.nodes
    on_stack = bytearray(graph.nodes)
    stack: list[int] = []
    components: list[list[int]] = []
    off, dst = graph.off, graph.dst
    for root in nodes:
        if number[root] >= 0:
            continue
        work = [(root, off[root])]
        number[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        while work:
            v, e = work[-1]
            if e < off[v + 1]:
                work[-1] = (v, e + 1)
                w = dst[e]
                if inside is not None and w not in inside:
                    continue
                if number[w] < 0:
                    number[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    work.append((w, off[w]))
                elif on_stack[w]:
                    low[v] = min(low[v], number[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == number[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack[w] = 0
                    component.append(w)
                    if w == v:
                        break
                components.append(component)
    return components


def cyclic_components(graph: Graph) -> list[list[int]]:
    """The non-trivial strongly connected components, each a list of states."""
    return [
        c
        for c in strongly_connected_components(graph, range(graph.nodes), None)
        if len(c) > 1 or graph.has_self_loop(c[0])
    ]


def cyclic_nodes(graph: Graph) -> list[int]:
    """The states that lie on a cycle."""
    return [v for component in cyclic_components(graph) for v in component]


def dead_ends(
    graph: Graph, pending_of: array[int], pending_sets: dict[frozenset[Hashable], int]
) -> list[tuple[Hashable, int]]:
    """For each obligation pending in some dead end, the first such dead end (in BFS order:
    the shallowest), as (obligation, state) pairs."""
    sets = {i: s for s, i in pending_sets.items()}
    found: list[tuple[Hashable, int]] = []
    reported: set[Hashable] = set()
    for v in range(graph.nodes):
        if graph.off[v] == graph.off[v + 1]:
            for key in sorted(sets[pending_of[v]] - reported, key=repr):
                found.append((key, v))
                reported.add(key)
    return found


def fair_cycles(
    graph: Graph,
    pending_of: array[int],
    pending_sets: dict[frozenset[Hashable], int],
    reported: set[Hashable],
) -> list[tuple[Hashable, int, list[int]]]:
    """For each obligation not in ``reported``, a weakly fair cycle along which it stays
    pending, if there is one: (obligation, entry state, cycle from the entry back to it)."""
    sets = {i: s for s, i in pending_sets.items()}
    cyclic = cyclic_nodes(graph)
    found: list[tuple[Hashable, int, list[int]]] = []
    keys = sorted({k for i in {pending_of[v] for v in cyclic} for k in sets[i]} - reported, key=repr)
    for key in keys:
        nodes = [v for v in cyclic if key in sets[pending_of[v]]]
        for component in strongly_connected_components(graph, nodes, set(nodes)):
            members = set(component)
            entry = min(component)  # lowest index = first reached by the BFS
            if len(component) == 1 and not graph.has_self_loop(entry):
                continue
            always_enabled = set.intersection(*(set(graph.labels(v)) for v in component))
            taken = {
                lab
                for v in component
                for d, lab in zip(graph.successors(v), graph.labels(v), strict=True)
                if d in members
            }
            if always_enabled <= taken:
                found.append((key, entry, _cycle(entry, graph, members)))
                break
    return found


def find_liveness_violations(
    graph: Graph,
    pending_of: array[int],
    pending_sets: dict[frozenset[Hashable], int],
) -> list[tuple[Hashable, int, list[int] | None]]:
    """For each obligation, a dead end or a weakly fair cycle along which it stays pending.

    Returns (obligation, state, cycle) triples in BFS order of their states; the cycle lists
    states from ``state`` back to it, None for a dead end. An obligation with a dead end is
    not looked for on cycles.
    """
    ends = dead_ends(graph, pending_of, pending_sets)
    found: list[tuple[Hashable, int, list[int] | None]] = [(key, v, None) for key, v in ends]
    found.extend(fair_cycles(graph, pending_of, pending_sets, {key for key, _ in ends}))
    found.sort(key=lambda f: f[1])
    return found


class Unfolding(Generic[S]):
    """The concrete states and edges behind the representatives that lie on cycles.

    ``representatives`` maps a reduced search's state numbers to their states; the unfolding
    holds every image of each under ``renamings`` (the group's elements, the identity among
    them), numbered in the order of their representatives, so a lower number is still a
    shallower state. Its edges are the concrete successors; an edge that leaves the
    unfolding ends in one extra state, a dead end owing nothing, so the labels enabled in a
    state are all there for fairness, and no cycle passes through the outside."""

    def __init__(
        self,
        representatives: dict[int, S],
        renamings: Sequence[Callable[[S], S]],
        successors: Callable[[S], Iterable[tuple[Hashable, S]]],
        obligations: Callable[[S], frozenset[Hashable]],
    ) -> None:
        self.states: list[S] = []
        self.representative: list[int] = []  # each state's number in the reduced search
        number: dict[S, int] = {}
        for q in sorted(representatives):
            for rename in renamings:
                image = rename(representatives[q])
                if image not in number:
                    number[image] = len(self.states)
                    self.states.append(image)
                    self.representative.append(q)
        outside = len(self.states)
        src, dst, label = array("I"), array("I"), array("I")
        labels: dict[Hashable, int] = {}
        self.pending_sets: dict[frozenset[Hashable], int] = {}
        self.pending_of = array("I")
        for n, state in enumerate(self.states):
            for lab, nxt in successors(state):
                src.append(n)
                dst.append(number.get(nxt, outside))
                label.append(labels.setdefault(lab, len(labels)))
            self.pending_of.append(self.pending_sets.setdefault(obligations(state), len(self.pending_sets)))
        self.pending_of.append(self.pending_sets.setdefault(frozenset(), len(self.pending_sets)))
        self.graph = Graph(outside + 1, src, dst, label)


def _cycle(entry: int, graph: Graph, members: set[int]) -> list[int]:
    """A shortest cycle from ``entry`` back to itself inside the component."""
    parent = {entry: entry}
    queue = deque([entry])
    while queue:
        v = queue.popleft()
        for d in graph.successors(v):
            if d == entry:
                path = [v]
                while path[-1] != entry:
                    path.append(parent[path[-1]])
                return [*path[::-1], entry]
            if d in members and d not in parent:
                parent[d] = v
                queue.append(d)
    raise AssertionError("a component with more than one state has a cycle")
