"""The floor of a search whose successors are cached by what each step reads.

That design (a state as a vector of interned cells; the steps in groups, each group's
steps worked out once per value of the cells it reads and kept as the cells they write;
LTSmin's "transition groups" and its cache) is the one left for reaching 150,000 states
per second on whole states where no reduction applies (docs/ARCHITECTURE.md,
"Performance"). This measures what such an engine costs in CPython before it does any of
the model's work: on a generated system whose steps depend only on the cells they read,
with every lookup a hit and no property judged, three searches run over the same states
in one process:

- **tuples, successors looked up by state**: a breadth-first search over tuples of
  numbers whose successors are read from a dict (a set of states seen, a queue, a parent
  number per state): the floor of any engine over whole states;
- **footprint cache**: the same search, each state's successors made by one lookup per
  group (its read cells picked out of the state) and each step's cells written into a
  copy of the state;
- **footprint cache, incremental**: each state in the queue carries its groups' lookups,
  and a successor looks up again only the groups that read a cell the step wrote.

The model's own figures follow: how many action instances its guards try per state and
how many successors a state has, on some built-ins; the groups of such an engine would be
about as many as the components those instances belong to.

    python benchmarks/footprint_floor.py                     # groups 4, 8, 12
    python benchmarks/footprint_floor.py --groups 8 --states 400000
"""

from __future__ import annotations

import argparse
import random
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter

from model.actions import ACTIONS, Model
from model.scenario import builtin
from model.state import World

Cells = tuple[int, ...]
Delta = tuple[tuple[int, int], ...]  # (cell, new value) for each cell a step writes


@dataclass(frozen=True)
class System:
    """A generated transition system: ``cells`` cells of ``values`` values each; group g
    reads the cells ``reads[g]`` and, where enabled, writes two of them. Whether a group is
    enabled and what it writes are functions of the cells it reads alone, so a cache keyed
    by them is exact."""

    cells: int
    values: int
    reads: tuple[tuple[int, ...], ...]
    enabled_percent: int

    def steps(self, g: int, read: Cells) -> list[Delta]:
        mix = g + 1  # a fixed mixing of the values read (not ``hash``: the same system everywhere)
        for value in read:
            mix = (mix * 31 + value + 1) * 2654435761 % 2**32
        if mix % 100 >= self.enabled_percent:
            return []
        a, b = self.reads[g][mix % 2], self.reads[g][2 + (mix >> 8) % 2]
        where = dict(zip(self.reads[g], read, strict=True))
        bump = 1 + (mix >> 16) % (self.values - 1)
        return [((a, (where[a] + bump) % self.values), (b, (where[b] + 1) % self.values))]


def generated(groups: int, successors: float, cells: int = 18, reads: int = 4, seed: int = 1) -> System:
    """A system of ``groups`` groups, each enabled in a share of its reads' values that
    gives about ``successors`` successors a state."""
    rng = random.Random(seed)
    # Groups that read the same cells would look alike; the two cells written are among
    # the first four read, so ``reads`` is at least 4.
    read_sets = tuple(tuple(sorted(rng.sample(range(cells), max(4, reads)))) for _ in range(groups))
    percent = min(95, round(100 * successors / groups))
    return System(cells=cells, values=3, reads=read_sets, enabled_percent=percent)


def apply(state: Cells, delta: Delta) -> Cells:
    cells = list(state)
    for i, value in delta:
        cells[i] = value
    return tuple(cells)


def direct_successors(system: System, state: Cells) -> list[Cells]:
    return [
        apply(state, d)
        for g, read in enumerate(system.reads)
        for d in system.steps(g, tuple(state[i] for i in read))
    ]


@dataclass
class Searched:
    states: int
    transitions: int
    seconds: float
    expanded: int  # states whose successors were worked out (the rest were found at the limit)
    found: list[Cells]  # in the order found


def search(start: Cells, successors: Callable[[Cells], list[Cells]], limit: int) -> Searched:
    """Breadth-first, a set of states seen, a parent number per state (the engines' own
    bookkeeping, as in proofs/explicit.py and proofs/packed.py), stopping at ``limit``."""
    began = time.perf_counter()
    seen = {start}
    queue = [start]
    parents = array("q", [-1])
    transitions = 0
    head = 0
    while head < len(queue) and len(queue) < limit:
        for nxt in successors(queue[head]):
            transitions += 1
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
                parents.append(head)
        head += 1
    return Searched(len(queue), transitions, time.perf_counter() - began, head, queue)


def cached_search(system: System, start: Cells, limit: int, incremental: bool) -> Searched:
    """The search with each group's steps looked up by the cells it reads (every lookup
    hits: the caches are filled first); ``incremental``: a state carries its groups'
    lookups and a successor repeats only those of groups reading a cell the step wrote."""
    caches: list[dict[Cells, list[Delta]]] = [{} for _ in system.reads]
    pick: list[Callable[[Cells], Cells]] = [itemgetter(*read) for read in system.reads]
    search(start, lambda s: _filling(system, caches, pick, s), limit)
    direct = search(start, lambda s: direct_successors(system, s), limit)
    readers = [tuple(g for g, read in enumerate(system.reads) if i in read) for i in range(system.cells)]
    groups = list(zip(pick, caches, strict=True))
    began = time.perf_counter()
    seen = {start}
    queue: list[Cells] = [start]
    carried: list[tuple[list[Delta], ...]] = [tuple(c[p(start)] for p, c in groups)]
    parents = array("q", [-1])
    transitions = 0
    head = 0
    while head < len(queue) and len(queue) < limit:
        state = queue[head]
        looked = carried[head] if incremental else tuple(c[p(state)] for p, c in groups)
        for steps in looked:
            for delta in steps:
                cells = list(state)
                for i, value in delta:
                    cells[i] = value
                nxt = tuple(cells)
                transitions += 1
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
                    parents.append(head)
                    if incremental:
                        again = list(looked)
                        for i, _ in delta:
                            for g in readers[i]:
                                again[g] = _looked_up(system, caches[g], g, pick[g](nxt))
                        carried.append(tuple(again))
        if incremental:
            carried[head] = ()  # a state's lookups are not needed once it is expanded
        head += 1
    seconds = time.perf_counter() - began
    if (queue, transitions) != (direct.found, direct.transitions):
        raise AssertionError(
            f"the cached search found {len(queue)} states and {transitions} transitions, "
            f"the direct one {direct.states} and {direct.transitions}"
        )
    return Searched(len(queue), transitions, seconds, head, queue)


def _looked_up(system: System, cache: dict[Cells, list[Delta]], g: int, read: Cells) -> list[Delta]:
    """A group's steps from the cache; a state found but never expanded by the search that
    filled it may still miss."""
    steps = cache.get(read)
    if steps is None:
        steps = cache[read] = system.steps(g, read)
    return steps


def _filling(
    system: System, caches: list[dict[Cells, list[Delta]]], pick: list[Callable[[Cells], Cells]], state: Cells
) -> list[Cells]:
    return [
        apply(state, d)
        for g, cache in enumerate(caches)
        for d in _looked_up(system, cache, g, pick[g](state))
    ]


def floor_rows(groups: int, successors: float, limit: int) -> Iterator[tuple[str, Searched]]:
    system = generated(groups, successors)
    start = (0,) * system.cells
    known: dict[Cells, list[Cells]] = {}

    def remember(s: Cells) -> list[Cells]:
        known[s] = direct_successors(system, s)
        return known[s]

    search(start, remember, limit)
    yield "tuples, successors looked up by state", search(start, known.__getitem__, limit)
    yield "footprint cache", cached_search(system, start, limit, incremental=False)
    yield "footprint cache, incremental", cached_search(system, start, limit, incremental=True)


def model_figures(name: str, limit: int) -> tuple[int, float, float]:
    """(states, action instances tried per state, successors per state) of built-in
    ``name``, over its first ``limit`` states."""
    m = Model(builtin(name))
    tried = 0

    def counting(w: World) -> list[World]:
        nonlocal tried
        tried += sum(1 for a in ACTIONS if a.per_job is None for _ in a.arguments(m, w))
        for k, job in enumerate(w.jobs):
            step = m.next_step(job)
            tried += sum(
                1 for a in ACTIONS if a.per_job is not None and a.step is step for _ in a.per_job(m, w, k)
            )
        return [t.after for t in m.transitions(w)]

    seen = {m.initial()}
    queue = [m.initial()]
    successors = 0
    head = 0
    while head < len(queue) and head < limit:
        for nxt in counting(queue[head]):
            successors += 1
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
        head += 1
    return head, tried / head, successors / head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", default="4,8,12", help="groups of steps per state (default 4,8,12)")
    parser.add_argument("--states", type=int, default=200_000, help="states per search (default 200,000)")
    parser.add_argument(
        "--successors", type=float, default=3.1, help="successors per state, as the model's (default 3.1)"
    )
    parser.add_argument(
        "--model-states",
        type=int,
        default=20_000,
        help="states of each built-in the model's figures are counted over (default 20,000; 0: none)",
    )
    args = parser.parse_args()
    try:
        group_counts = [int(g) for g in args.groups.split(",")]
    except ValueError:
        parser.error(f"--groups takes numbers separated by commas, not {args.groups!r}")
    if any(g < 1 for g in group_counts) or args.states < 2 or not 0 < args.successors <= 8:
        parser.error("--groups are at least 1, --states at least 2 and --successors from 0 (excluded) to 8")
    if args.model_states < 0:
        parser.error("--model-states is at least 0")
    print(f"{'groups':>6} {'search':<38} {'states':>8} {'succ./state':>11} {'states/s':>9} {'µs/state':>9}")
    for groups in group_counts:
        for row, found in floor_rows(groups, args.successors, args.states):
            print(
                f"{groups:>6} {row:<38} {found.states:>8,} {found.transitions / found.expanded:>11.2f} "
                f"{found.states / found.seconds:>9,.0f} {1e6 * found.seconds / found.states:>9.2f}",
                flush=True,
            )
    if not args.model_states:
        return
    print()
    print(f"{'built-in':<12} {'states':>7} {'instances tried/state':>22} {'successors/state':>17}")
    for name in ("fig5", "three-way", "multi-block", "chain"):
        states, tried, successors = model_figures(name, args.model_states)
        print(f"{name:<12} {states:>7,} {tried:>22.1f} {successors:>17.2f}", flush=True)


if __name__ == "__main__":
    main()
