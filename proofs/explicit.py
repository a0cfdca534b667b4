"""Exhaustive explicit-state search: breadth first, so every counterexample is a shortest one.

The engine knows nothing about disk arrays. It takes initial states, a successor function
returning (label, state) pairs (a label is any hashable value), invariants, witnesses and
liveness obligations, and returns a ``Search`` record. States are stored only as 64-bit
fingerprints with a parent link (hash compaction, as TLC does); a trace is rebuilt by
replaying the successor function along the recorded fingerprints, so the frontier is the
only place whole states live.

With a ``canonical`` function (symmetry reduction) the search explores one representative
per orbit; replay still follows concrete states, so traces are real runs of the model.
"""

from __future__ import annotations

import gc
import time
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from proofs.liveness import (
    Graph,
    Unfolding,
    cyclic_components,
    dead_ends,
    fair_cycles,
    find_liveness_violations,
)

S = TypeVar("S", bound=Hashable)

Successors = Callable[[S], Iterable[tuple[Hashable, S]]]
Invariant = Callable[[S], "str | None"]
WitnessCheck = Callable[[S, Any, S], bool]
Obligations = Callable[[S], frozenset[Hashable]]


@dataclass
class Violation(Generic[S]):
    """A run of the successor function that breaks an invariant or leaves an obligation
    pending. The caller turns it into its own trace type."""

    invariant: str | None  # the invariant broken; None for liveness (see ``obligation``)
    kind: str  # "safety", "deadlock" or "cycle"
    message: str  # the invariant's message in the last state; "" for liveness
    states: list[S]  # states[0] is an initial state
    labels: list[Hashable]  # labels[i] is the label of the move from states[i] to states[i + 1]
    loop_start: int | None = None  # for a cycle: the index of the state the run returns to
    obligation: Hashable = None  # for liveness: the obligation left pending


@dataclass
class Search(Generic[S]):
    """What a search found, and the statistics of the run."""

    states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0
    complete: bool = False  # False when --max-states stopped it
    violations: list[Violation[S]] = field(default_factory=list)
    witnesses: dict[str, int | None] = field(default_factory=dict)  # name -> depth reached
    liveness_checked: bool = False

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0


class FingerprintIndex:
    """Fingerprint -> state number, for every state seen: open addressing over one flat array
    of state numbers (plus one), compared through the search's own array of fingerprints.

    A dict of ints costs about 100 bytes per state (its table, and an int object for each
    key and value); this costs 8 to 16 (4-byte slots, between a quarter and half full), for
    a probe loop in Python of about half a microsecond, against the tens of microseconds
    of expanding a state."""

    def __init__(self, fingerprints: array[int]) -> None:
        self.fingerprints = fingerprints
        self.slots = array("I", bytes(4 * 1024))
        self.mask = len(self.slots) - 1
        self.count = 0

    def find(self, fp: int) -> int:
        """The number of the state with fingerprint ``fp``, or -1."""
        slots, fingerprints, mask = self.slots, self.fingerprints, self.mask
        i = fp & mask
        while True:
            n = slots[i]
            if n == 0:
                return -1
            if fingerprints[n - 1] == fp:
                return n - 1
            i = (i + 1) & mask

    def insert(self, fp: int, n: int) -> int:
        """The number of the state with fingerprint ``fp`` if there is one; else -1, and
        ``fp`` is recorded as state ``n``'s (the caller appends it to the fingerprints)."""
        if 2 * (self.count + 1) > len(self.slots):
            self._grow()
        slots, fingerprints, mask = self.slots, self.fingerprints, self.mask
        i = fp & mask
        while True:
            m = slots[i]
            if m == 0:
                slots[i] = n + 1
                self.count += 1
                return -1
            if fingerprints[m - 1] == fp:
                return m - 1
            i = (i + 1) & mask

    def _grow(self) -> None:
        self.slots = array("I", bytes(8 * len(self.slots)))
        self.mask = len(self.slots) - 1
        slots, mask = self.slots, self.mask
        for n, fp in enumerate(self.fingerprints[: self.count]):
            i = fp & mask
            while slots[i]:
                i = (i + 1) & mask
            slots[i] = n + 1

    def __contains__(self, fp: int) -> bool:
        return self.find(fp) >= 0


class Progress:
    """Reports progress to a callback every ``every`` seconds, after ``after`` seconds
    (by default ``Progress.first_after``: a short search prints nothing)."""

    first_after = 3.0

    def __init__(self, report: Callable[[str], None] | None, after: float | None = None, every: float = 2.0):
        self.report, self.every = report, every
        self.start = time.monotonic()
        self.next = self.start + (Progress.first_after if after is None else after)

    def tick(self, states: int, depth: int, queued: int) -> None:
        seconds = self.due()
        if seconds is not None and self.report is not None:
            self.report(
                f"{states:,} states, depth {depth}, {queued:,} queued, {seconds:.0f} s, "
                f"{states / max(seconds, 1e-6):,.0f} states/s"
            )

    def due(self) -> float | None:
        """The seconds since the start if a line is due now (the next is then ``every``
        seconds away), else None; always None without a callback. For loops that word
        their own lines (the diagrams' explorations)."""
        if self.report is None:
            return None
        now = time.monotonic()
        if now < self.next:
            return None
        self.next = now + self.every
        return now - self.start


@contextmanager
def first_progress_after(seconds: float) -> Iterator[None]:
    """Searches started inside wait ``seconds`` before their first progress line (the
    command line's --progress-after; deep inside the engines, hence not a parameter)."""
    saved, Progress.first_after = Progress.first_after, seconds
    try:
        yield
    finally:
        Progress.first_after = saved


def explore(
    initial: Sequence[S],
    successors: Successors[S],
    invariants: Sequence[tuple[str, Invariant[S]]] = (),
    witnesses: Sequence[tuple[str, WitnessCheck[S]]] = (),
    obligations: Obligations[S] | None = None,
    canonical: Callable[[S], S] | None = None,
    renamings: Sequence[Callable[[S], S]] = (),
    max_states: int | None = None,
    keep_going: bool = False,
    progress: Callable[[str], None] | None = None,
    visit: Callable[[S, int], None] | None = None,
    all_hold: Callable[[S], bool] | None = None,
    share: Callable[[S, int], S] | None = None,
) -> Search[S]:
    """Breadth-first search of every state reachable from ``initial``.

    ``visit``, if given, is called with each new state (its representative, with
    ``canonical``) and its depth, as the search reaches it. ``all_hold``, if given, is a
    quick test that every invariant holds in a state: where it says so, the invariants are
    not asked one by one (where it does not, they are, and name what broke). ``share``, if
    given, is called with each state put in the frontier and its depth, and returns an
    equal state to keep there instead (one whose parts it shares with other states: the
    frontier is where a search's memory goes).

    Stops at the first invariant violation unless ``keep_going``, in which case it records
    the shortest counterexample of every property it can break. With ``obligations`` it
    keeps the whole graph (as integer arrays) and afterwards looks for fair cycles and dead
    ends that leave an obligation pending (liveness under weak fairness).

    With ``canonical`` and ``obligations``, liveness needs ``renamings``: the symmetries
    ``canonical`` picks a representative among (each maps runs to runs and the initial states
    to initial states; the identity left out). Fairness compares the labels of the states of
    a cycle, and two representatives may be renamed differently, so an action enabled all
    along the concrete cycle can wear another name in each; cycles are therefore judged on
    the concrete states behind the representatives that lie on one (``proofs.liveness``).
    """
    if canonical is not None and obligations is not None and not renamings:
        raise ValueError(
            "liveness on a reduced search needs the renamings behind canonical: fairness is "
            "judged on the concrete states"
        )
    canon = canonical or (lambda s: s)
    started = time.monotonic()
    result: Search[S] = Search(witnesses={name: None for name, _ in witnesses})
    fingerprints = array("q")
    index = FingerprintIndex(fingerprints)
    parents = array("i")  # a state's parent's number (-1 for an initial state)
    # The graph, kept only for liveness: edges as three parallel arrays, labels interned.
    edge_src, edge_dst, edge_label = array("I"), array("I"), array("I")
    labels: dict[Hashable, int] = {}
    pending_of = array("I")
    pending_sets: dict[frozenset[Hashable], int] = {}
    broken: dict[str, int] = {}  # property -> state index of its first violation
    open_witnesses = list(witnesses)
    progress_meter = Progress(progress)

    def add(state: S, parent: int, fp: int) -> int | None:
        """State ``state`` (of fingerprint ``fp``) as a new state, numbered; None if seen."""
        i = len(fingerprints)
        if index.insert(fp, i) >= 0:
            return None
        fingerprints.append(fp)
        parents.append(parent)
        if obligations is not None:
            pending_of.append(pending_sets.setdefault(obligations(state), len(pending_sets)))
        return i

    def check(state: S, i: int) -> bool:
        """Record violations in ``state``; True when the search should stop."""
        if all_hold is not None and all_hold(state):
            return False
        return record_broken(state, i, invariants, broken, keep_going)

    was_enabled = gc.isenabled()
    gc.disable()  # the search allocates millions of tuples and frees none: no cycles to find
    try:
        queue: deque[tuple[S, int, int]] = deque()
        stop = False
        for s in initial:
            s = canon(s)
            i = add(s, -1, hash(s))
            if i is not None:
                if visit is not None:
                    visit(s, 0)
                queue.append((s, i, 0))
                stop = stop or check(s, i) or (max_states is not None and len(fingerprints) >= max_states)
        while queue and not stop:
            state, i, depth = queue.popleft()
            result.depth = max(result.depth, depth)
            for label, nxt in successors(state):
                result.transitions += 1
                if open_witnesses:
                    for w in [w for w in open_witnesses if w[1](state, label, nxt)]:
                        result.witnesses[w[0]] = depth + 1
                        open_witnesses.remove(w)
                fp = hash(nxt)
                if canonical is not None and fp not in index:
                    # A state stored already is a representative: no need to rename it.
                    nxt = canonical(nxt)
                    fp = hash(nxt)
                j = add(nxt, i, fp)
                if obligations is not None:
                    target = j if j is not None else index.find(fp)
                    edge_src.append(i)
                    edge_dst.append(target)
                    edge_label.append(labels.setdefault(label, len(labels)))
                if j is None:
                    continue
                if visit is not None:
                    visit(nxt, depth + 1)
                result.depth = max(result.depth, depth + 1)
                if check(nxt, j):
                    stop = True
                    break
                if max_states is not None and len(fingerprints) >= max_states:
                    stop = True
                    break
                queue.append((nxt if share is None else share(nxt, depth + 1), j, depth + 1))
                # At each new state, not each state expanded: a state of a large array may have a
                # thousand successors, each checked, and its expansion alone take a minute.
                progress_meter.tick(len(fingerprints), depth, len(queue))
        hit_limit = max_states is not None and len(fingerprints) >= max_states
        # A violation found is a final verdict even with states left; the limit is not.
        result.complete = not hit_limit and (not queue or bool(broken))
    finally:
        if was_enabled:
            gc.enable()

    result.states = len(fingerprints)
    for name, invariant in invariants:
        if name in broken:
            states, moves = replay(initial, successors, canon, _path(parents, fingerprints, broken[name]))
            message = invariant(states[-1]) or "(violated in the canonical state only)"
            result.violations.append(Violation(name, "safety", message, states, moves))
    if obligations is not None and result.complete and not result.violations:
        result.liveness_checked = True
        graph = Graph(len(fingerprints), edge_src, edge_dst, edge_label)
        if canonical is None:
            for key, node, loop in find_liveness_violations(graph, pending_of, pending_sets):
                path = _path(parents, fingerprints, node)
                if loop is not None:
                    path = path + [fingerprints[n] for n in loop[1:]]
                states, moves = replay(initial, successors, canon, path)
                kind = "cycle" if loop is not None else "deadlock"
                loop_start = len(path) - len(loop) if loop is not None else None
                result.violations.append(Violation(None, kind, "", states, moves, loop_start, key))
                if not keep_going:
                    break
        else:
            reduced = _Reduced(initial, successors, canonical, renamings, parents, fingerprints, index)
            found = reduced.liveness_violations(graph, pending_of, pending_sets, obligations)
            result.violations.extend(found if keep_going else found[:1])
    result.seconds = time.monotonic() - started
    return result


def record_broken(
    state: S, i: int, invariants: Sequence[tuple[str, Invariant[S]]], broken: dict[str, int], keep_going: bool
) -> bool:
    """Record in ``broken`` each invariant state ``state`` (number ``i``) is the first to
    break; True when the search should stop: at the first, or once all are broken."""
    for name, invariant in invariants:
        if name not in broken and invariant(state) is not None:
            broken[name] = i
            if not keep_going:
                return True
    return keep_going and bool(invariants) and len(broken) == len(invariants)


class _Reduced(Generic[S]):
    """Liveness on a search reduced by symmetry (see ``proofs.liveness``): the dead ends of
    the representatives' graph, the fair cycles of the unfolding of its cycles, and runs to
    them rebuilt as concrete runs that end in the very state whose obligation is reported."""

    def __init__(
        self,
        initial: Sequence[S],
        successors: Successors[S],
        canonical: Callable[[S], S],
        renamings: Sequence[Callable[[S], S]],
        parents: array[int],
        fingerprints: array[int],
        index: FingerprintIndex,
    ) -> None:
        self.initial, self.successors, self.canonical = initial, successors, canonical
        self.group: list[Callable[[S], S]] = [_same, *renamings]
        self.parents, self.fingerprints, self.index = parents, fingerprints, index

    def liveness_violations(
        self,
        graph: Graph,
        pending_of: array[int],
        pending_sets: dict[frozenset[Hashable], int],
        obligations: Obligations[S],
    ) -> list[Violation[S]]:
        found: list[tuple[int, Violation[S]]] = []
        dead: set[Hashable] = set()  # every obligation some dead end leaves pending
        for key, v in dead_ends(graph, pending_of, pending_sets):
            states, moves = self.run_to(v)
            found.append((v, Violation(None, "deadlock", "", states, moves, None, key)))
            dead.update(*(obligations(rename(states[-1])) for rename in self.group))
        components = cyclic_components(graph)
        if components:
            unfolding = Unfolding(self.representatives(components), self.group, self.successors, obligations)
            for key, n, loop in fair_cycles(
                unfolding.graph, unfolding.pending_of, unfolding.pending_sets, dead
            ):
                prefix, _ = self.run_to(unfolding.representative[n], unfolding.states[n])
                path = [hash(s) for s in prefix] + [hash(unfolding.states[m]) for m in loop[1:]]
                states, moves = replay(self.initial, self.successors, _same, path)
                violation = Violation(None, "cycle", "", states, moves, len(prefix) - 1, key)
                found.append((unfolding.representative[n], violation))
        found.sort(key=lambda f: f[0])
        return [v for _, v in found]

    def run_to(self, i: int, target: S | None = None) -> tuple[list[S], list[Hashable]]:
        """A concrete run from an initial state to ``target``, a state in the orbit of the
        search's state ``i`` (by default its representative)."""
        states, _ = replay(
            self.initial, self.successors, self.canonical, _path(self.parents, self.fingerprints, i)
        )
        goal = self.canonical(states[-1]) if target is None else target
        # The run ends somewhere in the orbit; the renaming that takes its end to the goal
        # takes the whole run to one from the same (fixed) initial states.
        rename = next(r for r in self.group if r(states[-1]) == goal)
        return replay(self.initial, self.successors, _same, [hash(rename(s)) for s in states])

    def representatives(self, components: list[list[int]]) -> dict[int, S]:
        """The representative state of every state number in ``components``: one run per
        component to its first state, then steps inside the component."""
        states: dict[int, S] = {}
        for component in components:
            members = set(component)
            first = min(component)
            states[first] = self.run_to(first)[0][-1]
            queue = deque([first])
            while queue:
                v = queue.popleft()
                for _, nxt in self.successors(states[v]):
                    representative = self.canonical(nxt)
                    w = self.index.find(hash(representative))
                    if w in members and w not in states:
                        states[w] = representative
                        queue.append(w)
        return states


def _same(state: S) -> S:
    return state


def _path(parents: array[int], fingerprints: array[int], i: int) -> list[int]:
    """The fingerprints from an initial state to state ``i``, following parent links."""
    path = []
    while i >= 0:
        path.append(fingerprints[i])
        i = parents[i]
    return path[::-1]


def replay(
    initial: Sequence[S], successors: Successors[S], canon: Callable[[S], S], path: list[int]
) -> tuple[list[S], list[Hashable]]:
    """Rebuild the concrete run whose canonical states have the fingerprints ``path``: its
    states, and the labels of the moves between them."""
    state = next(s for s in initial if hash(canon(s)) == path[0])
    states, labels = [state], []
    for fp in path[1:]:
        for label, nxt in successors(state):
            if hash(canon(nxt)) == fp:
                state = nxt
                states.append(nxt)
                labels.append(label)
                break
        else:  # pragma: no cover - only a fingerprint collision can get here
            raise RuntimeError("trace replay failed: the successor function is not deterministic")
    return states, labels
