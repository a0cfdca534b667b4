"""Liveness of an array of independent LUs (``lutakeover check --product``), from each LU's
own array.

A run of such an array interleaves runs of its LUs, and Step 801 is the one step whose
effect (the budget) an LU's neighbours see. So:

- **Cycles.** A cycle of the array moves some LU around a cycle of its own (801 spends
  budget, so no cycle designates). If no LU's own array has a cycle, neither has the array,
  and liveness is about dead ends alone. If one has, the product does not judge liveness
  (``NotIndependent``: the composed search does).
- **Dead ends.** A tuple of the LUs' states is a dead end of the array when no LU has a step
  of its own left (a host request, a take-over step, a de-stage) and no take-over can be
  designated: none of the LUs' states offers one, or the take-overs they used together
  have spent the budget. What it owes is what its LUs owe.

For each obligation the shallowest such tuple in which it is pending is found from a few
figures per LU (its stuck states, by the take-overs used and whether one could designate,
with the shallowest of each); ``proofs.product`` puts the LUs' runs to it one after the
other and replays them in the whole array, where the last state must be a dead end owing
it (``ProductError`` if not: the product would be wrong). As for safety, a shortest run to
a tuple takes each LU's shortest run to its part.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from itertools import product

from invariants import obligations
from model.actions import Model
from model.labels import Label
from model.state import World
from proofs.liveness import Graph, cyclic_components


class LocalCycle(ValueError):
    """An LU's own array has a cycle: the product cannot judge liveness (says where)."""


@dataclass(frozen=True)
class Stuck:
    """A state of an LU's own array with no step of its own left."""

    index: int  # its number in the LU's breadth-first search
    depth: int
    used: int  # take-overs designated to reach it
    designates: bool  # whether Step 801 could designate one of its LU (with budget left)
    owes: frozenset[Hashable]


class LocalGraph:
    """One LU's own array searched breadth first, its graph kept: how to reach each state,
    and the states where the LU is stuck.

    ``successors`` is the model's successor function, recording what it is asked in the
    order asked: the safety search of the LU's own array (``explore``, breadth first)
    builds the graph as it goes, so the array is searched once for both. ``search`` runs a
    search of its own."""

    def __init__(self, model: Model, budget: int) -> None:
        self.model, self.budget = model, budget
        first = model.initial()
        self.number: dict[World, int] = {first: 0}
        self.expanded = bytearray(1)
        self.parent, self.depth = [-1], [0]
        self.label: list[Label | None] = [None]  # the step that first reached each state
        self.src, self.dst = array("I"), array("I")
        self.stuck: list[Stuck] = []
        self.reached: list[World] = []  # the states the last new call first reached
        self.states = 1
        self.cycles: list[list[int]] = []

    @classmethod
    def search(cls, model: Model, budget: int) -> LocalGraph:
        graph = cls(model, budget)
        queue: deque[World] = deque([model.initial()])
        while queue:
            graph.successors(queue.popleft())
            queue.extend(graph.reached)
        return graph.finish()

    def successors(self, w: World) -> list[tuple[Label, World]]:
        """The model's successors of ``w``; the first time ``w`` is asked about, its edges
        and the states they first reach (``reached``) are recorded. States must be asked
        about in breadth-first order, each after it was reached."""
        moves = self.model.successors(w)
        i = self.number[w]
        if self.expanded[i]:  # asked again (a trace rebuilt): recorded already
            return moves
        self.expanded[i] = 1
        own_steps, designates = 0, False
        self.reached = []
        for label, after in moves:
            if label.action == "designate":
                designates = True
            else:
                own_steps += 1
            j = self.number.get(after)
            if j is None:
                j = self.number[after] = len(self.parent)
                self.parent.append(i)
                self.label.append(label)
                self.depth.append(self.depth[i] + 1)
                self.expanded.append(0)
                self.reached.append(after)
            self.src.append(i)
            self.dst.append(j)
        if not own_steps:
            self.stuck.append(
                Stuck(i, self.depth[i], self.budget - w.budget, designates, obligations(self.model, w))
            )
        return moves

    def finish(self) -> LocalGraph:
        """The graph once every state reached was asked about: its cycles found."""
        if not all(self.expanded):
            raise ValueError("the search of the LU's own array stopped before its end")
        self.states = len(self.parent)
        labels = array("I", bytes(4 * len(self.src)))  # only the components are asked for: no labels
        self.cycles = cyclic_components(Graph(self.states, self.src, self.dst, labels))
        self.number.clear()
        return self

    def run_to(self, i: int) -> list[Label]:
        """The labels of a shortest run to state ``i``."""
        labels = []
        while i > 0:
            label = self.label[i]
            assert label is not None
            labels.append(label)
            i = self.parent[i]
        return labels[::-1]


def rename_obligation(key: Hashable, lu: int, host: int | None) -> Hashable:
    """An obligation of an LU's own array (its LU0 and host0) as the whole array names it."""
    assert isinstance(key, tuple)
    if key[0] in ("takeover", "path"):
        return (key[0], lu, *key[2:])
    if key[0] == "request":
        assert host is not None
        return ("request", host, key[2], lu, *key[4:])
    raise ValueError(f"the per-LU product cannot name the obligation {key} in the array")


def shortest_dead_ends(
    graphs: list[LocalGraph], hosts: list[int | None], budget: int
) -> list[tuple[Hashable, int, list[Stuck]]]:
    """For each obligation some dead end of the array owes: the obligation (as the array
    names it), the length of the shortest run to such a dead end, and the LUs' states it is
    the tuple of; shallowest first. LocalCycle if an LU's own array has a cycle."""
    for lu, g in enumerate(graphs):
        if g.cycles:
            raise LocalCycle(
                f"LU{lu}'s own array has a cycle ({len(g.cycles[0])} states): its liveness is "
                "judged on the array's own graph (--composed)"
            )
    # Each LU's shallowest stuck state by (take-overs used, could designate): the other LUs
    # of a dead end need be no deeper.
    groups: list[list[Stuck]] = []
    for g in graphs:
        best: dict[tuple[int, bool], Stuck] = {}
        for s in g.stuck:
            kind = (s.used, s.designates)
            if kind not in best or s.depth < best[kind].depth:
                best[kind] = s
        groups.append(list(best.values()))
    found: dict[Hashable, tuple[int, list[Stuck]]] = {}
    for lu, g in enumerate(graphs):
        for owing in (s for s in g.stuck if s.owes):
            choices = [groups[j] if j != lu else [owing] for j in range(len(graphs))]
            for combination in product(*choices):
                used = sum(s.used for s in combination)
                # A dead end: no take-over can be designated, for want of budget or of an LU
                # that could be.
                if used > budget or (used < budget and any(s.designates for s in combination)):
                    continue
                length = sum(s.depth for s in combination)
                for key in owing.owes:
                    name = rename_obligation(key, lu, hosts[lu])
                    if name not in found or length < found[name][0]:
                        found[name] = (length, list(combination))
    return sorted(((name, n, parts) for name, (n, parts) in found.items()), key=lambda f: (f[1], repr(f[0])))
