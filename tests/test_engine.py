"""The generic explicit-state engine on small hand-made systems whose answers are known."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import pytest

from proofs.explicit import Obligations, Successors, explore


def counter(limit: int, step: int = 1) -> Successors[int]:
    """States 0..limit; from n one may add 1 or ``step``."""

    def successors(n: int) -> Iterable[tuple[str, int]]:
        if n + 1 <= limit:
            yield ("inc", n + 1)
        if step > 1 and n + step <= limit:
            yield (f"jump{step}", n + step)

    return successors


def test_bfs_counts_states_transitions_and_depth() -> None:
    result = explore([0], counter(10, 3))
    assert (result.states, result.transitions, result.depth) == (11, 18, 4)
    assert result.complete and not result.violations


def test_counterexample_is_a_shortest_replayable_trace() -> None:
    result = explore([0], counter(20, 5), invariants=[("below 12", lambda n: "12" if n == 12 else None)])
    (v,) = result.violations
    assert len(v.labels) == 4  # 12 = 5 + 5 + 1 + 1 in some order: no shorter run exists
    assert v.states == [0, 1, 2, 7, 12]  # successors are tried in order
    assert v.labels == ["inc", "inc", "jump5", "jump5"]
    assert v.message == "12"


def test_keep_going_finds_each_property_once() -> None:
    props = [("no 3", lambda n: "3" if n == 3 else None), ("no 7", lambda n: "7" if n == 7 else None)]
    first = explore([0], counter(9), invariants=props)
    assert [v.invariant for v in first.violations] == ["no 3"]
    every = explore([0], counter(9), invariants=props, keep_going=True)
    assert {v.invariant: len(v.labels) for v in every.violations} == {"no 3": 3, "no 7": 7}


def test_max_states_gives_an_incomplete_result() -> None:
    result = explore([0], counter(1000), max_states=50)
    assert result.states == 50 and not result.complete


def test_witness_records_the_depth_first_reached() -> None:
    result = explore(
        [0],
        counter(10, 4),
        witnesses=[("reach 8", lambda a, label, b: b == 8), ("never", lambda a, label, b: b > 100)],
    )
    assert result.witnesses == {"reach 8": 2, "never": None}


def test_canonical_function_merges_states() -> None:
    result = explore([0], counter(10), canonical=lambda n: min(n, 5))  # 5..10 look alike
    assert result.states == 6


# --- liveness ---------------------------------------------------------------------------------


def graph(edges: dict[int, list[tuple[str, int]]]) -> Successors[int]:
    return lambda n: edges.get(n, [])


def pending_unless_done(done: set[int]) -> Obligations[int]:
    return lambda n: frozenset() if n in done else frozenset({"job"})


def test_dead_end_with_pending_obligation_is_a_violation() -> None:
    g = graph({0: [("a", 1), ("b", 2)]})
    result = explore([0], g, obligations=pending_unless_done({2}))
    (v,) = result.violations
    assert v.kind == "deadlock" and v.obligation == "job" and v.states == [0, 1]


def test_fair_cycle_keeping_an_obligation_is_a_violation() -> None:
    g = graph({0: [("spin", 1)], 1: [("spin back", 0)]})  # nothing else is ever enabled
    (v,) = explore([0], g, obligations=pending_unless_done(set())).violations
    assert v.kind == "cycle" and v.loop_start == 0
    assert v.states == [0, 1, 0]


def test_weak_fairness_excludes_a_cycle_that_ignores_an_enabled_exit() -> None:
    # 0 <-> 1 loops, but "finish" is enabled in both states: a fair run must take it.
    g = graph({0: [("spin", 1), ("finish", 2)], 1: [("spin back", 0), ("finish", 2)]})
    result = explore([0], g, obligations=pending_unless_done({2}))
    assert result.liveness_checked and result.violations == []


def test_weak_fairness_allows_a_cycle_where_the_exit_is_not_always_enabled() -> None:
    # "finish" is enabled only in state 0, so a run can loop 0 -> 1 -> 0 forever, fairly.
    g = graph({0: [("spin", 1), ("finish", 2)], 1: [("spin back", 0)]})
    (v,) = explore([0], g, obligations=pending_unless_done({2})).violations
    assert v.kind == "cycle"


def test_terminal_state_without_obligation_is_fine() -> None:
    result = explore([0], counter(3), obligations=lambda n: frozenset())
    assert result.liveness_checked and not result.violations


# CPython hashes -1 as -2, and a request's place uses both: an early crash_recover, which sent
# replied requests (-2) back to the path controller (-1), made states of crash-backup collide
# until ``Request.__hash__`` (tests/test_crash_recover.py pins the hashes apart).
@pytest.mark.parametrize("scenario", ["fig5", "ping-pong", "crash-backup", "crash-takeover"])
def test_fingerprints_lose_no_state_of_the_builtins(scenario: str) -> None:
    """States are stored as 64-bit hashes: on the built-ins no two states collide."""
    from model.actions import Model
    from model.scenario import builtin

    m = Model(builtin(scenario))
    seen = {m.initial()}
    frontier = [m.initial()]
    while frontier:
        nxt = []
        for w in frontier:
            for _, n in m.successors(w):
                if n not in seen:
                    seen.add(n)
                    nxt.append(n)
        frontier = nxt
    assert len({hash(w) for w in seen}) == len(seen)
    assert explore([m.initial()], m.successors).states == len(seen)


def test_keep_going_without_invariants_still_explores_everything() -> None:
    result = explore([0], counter(10), keep_going=True)
    assert result.states == 11 and result.complete


Clock = tuple[int, int, int, bool] | str
START: Clock = "start"  # the initial state, typed so that explore([START], ...) searches Clock states


def _clock(s: Clock, fair_exit: bool = True) -> list[tuple[str, Clock]]:
    """Two symmetric processes (ready flags x, y) and a clock k; finishing ends the run.
    From "start" either process becomes ready. With ``fair_exit`` a ready process may
    finish at any tick; without it only when the clock shows its number (it starts at the
    ready process's), so the ticking loop keeps no finish enabled all along and it is fair."""
    if s == "start":
        return [("ready0", (1, 0, 0, False)), ("ready1", (0, 1, 0 if fair_exit else 1, False))]
    assert isinstance(s, tuple)
    x, y, k, done = s
    if done:
        return []
    moves: list[tuple[str, Clock]] = [("tick", (x, y, 1 - k, False))]
    if x and (fair_exit or k == 0):
        moves.append(("fin0", (x, y, k, True)))
    if y and (fair_exit or k == 1):
        moves.append(("fin1", (x, y, k, True)))
    return moves


def _swap(s: Clock) -> Clock:
    """The processes renamed as each other: start stays start (so runs map to runs from it)."""
    return s if isinstance(s, str) else (s[1], s[0], s[2], s[3])


def _swap_with_clock(s: Clock) -> Clock:
    """The renaming of the clock without a fair exit: process 0 finishes at k == 0, so its
    image, process 1, must see the clock inverted."""
    return s if isinstance(s, str) else (s[1], s[0], 1 - s[2], s[3])


def _tilted(s: Clock) -> Clock:
    """A representative per orbit of ``_swap`` that calls the ready process "1" at k = 0 and
    "0" at k = 1: the choice that renames fin0 at every other tick."""
    if isinstance(s, str) or s[0] == s[1]:
        return s
    return s if s[1] == 1 - s[2] else _swap(s)


def _finish_pending(s: Clock) -> frozenset[Hashable]:
    return frozenset() if s != "start" and s[3] else frozenset({"finish"})


def test_liveness_on_representatives_alone_is_unsound_so_cycles_are_judged_concretely() -> None:
    # Concretely, process 0 is ready all along the tick loop and never finishes: the loop is
    # unfair (fin0 stays enabled), so weak fairness forces a finish and nothing is violated.
    full = explore([START], _clock, obligations=_finish_pending)
    assert full.liveness_checked and full.violations == []
    # On representatives alone, fin0 is called fin1 at every other tick, so no finish stays
    # enabled along the loop and it passes for fair: a violation that is none.
    on_representatives = explore(
        [START], lambda s: [(label, _tilted(t)) for label, t in _clock(s)], obligations=_finish_pending
    )
    assert [v.kind for v in on_representatives.violations] == ["cycle"]
    # The reduced search judges the loop on the concrete states behind it: no violation.
    reduced = explore([START], _clock, obligations=_finish_pending, canonical=_tilted, renamings=[_swap])
    assert reduced.states < full.states and reduced.liveness_checked and reduced.violations == []
    # Without the renamings there is no concrete state to judge it on: refused.
    with pytest.raises(ValueError, match="needs the renamings behind canonical"):
        explore([START], _clock, obligations=_finish_pending, canonical=_tilted)


def test_a_fair_cycle_is_found_under_reduction_as_a_concrete_run() -> None:
    """Without a fair exit the tick loop is fair and keeps the finish pending: the reduced
    search reports it, as a run of the system itself that really loops, at the full search's
    length."""

    def clock(s: Clock) -> list[tuple[str, Clock]]:
        return _clock(s, fair_exit=False)

    def canonical(s: Clock) -> Clock:
        return min(s, _swap_with_clock(s), key=repr)

    (full,) = explore([START], clock, obligations=_finish_pending).violations
    reduced_search = explore(
        [START], clock, obligations=_finish_pending, canonical=canonical, renamings=[_swap_with_clock]
    )
    (reduced,) = reduced_search.violations
    assert reduced_search.states < explore([START], clock).states
    assert (reduced.kind, reduced.obligation, len(reduced.states)) == ("cycle", "finish", len(full.states))
    assert reduced.loop_start is not None and reduced.states[reduced.loop_start] == reduced.states[-1]
    for before, label, after in zip(reduced.states, reduced.labels, reduced.states[1:], strict=False):
        assert (label, after) in clock(before)  # each step is one of the system's own
    assert all(_finish_pending(s) for s in reduced.states)


def test_a_dead_end_under_reduction_ends_in_the_state_whose_obligation_is_reported() -> None:
    """Each process may get stuck; the obligation names the process. The reduced search
    stores one stuck state of the two, and renames the run to it so that the obligation it
    reports is pending in the run's last state."""

    def successors(s: Clock) -> list[tuple[str, Clock]]:
        if s == "start":
            return [("stuck0", (1, 0, 0, False)), ("stuck1", (0, 1, 0, False))]
        return []

    def pending(s: Clock) -> frozenset[Hashable]:
        return frozenset() if s == "start" else frozenset({f"process{0 if s[0] else 1}"})

    def canonical(s: Clock) -> Clock:
        return min(s, _swap(s), key=repr)

    reduced = explore([START], successors, obligations=pending, canonical=canonical, renamings=[_swap])
    assert reduced.states == 2
    (v,) = reduced.violations
    assert v.kind == "deadlock" and v.obligation in pending(v.states[-1])
    assert v.states == ["start", canonical((1, 0, 0, False))]


# --- the fingerprint index -----------------------------------------------------------------------


def test_the_fingerprint_index_finds_every_state_through_collisions_and_growth() -> None:
    """Fingerprints as Python hashes states (tuples), a cluster that shares its low bits (so
    every probe in it collides), negative ones and the extremes, enough to grow the table
    several times: each is found as its own state, and a fingerprint never added is not."""
    from array import array

    from proofs.explicit import FingerprintIndex

    fingerprints = array("q")
    index = FingerprintIndex(fingerprints)
    values = [hash((k, "state")) for k in range(6000)] + [k << 20 for k in range(1, 200)]
    values += [2**63 - 1, -(2**63)]
    for n, fp in enumerate(values):
        assert index.insert(fp, n) == -1
        fingerprints.append(fp)
    assert len(index.slots) == 16384 and index.count == len(values)
    assert [index.find(fp) for fp in values] == list(range(len(values)))
    assert [index.insert(fp, -5) for fp in values[:100]] == list(range(100))  # seen: nothing added
    assert index.count == len(values)
    assert index.find(1 << 19) == -1 and 12345 not in index and (200 << 20) not in index


def test_the_search_remembers_states_by_fingerprint_alone() -> None:
    """The index keeps state numbers in 4-byte slots, not a dict of ints: searching 50,000
    states adds at most 16 bytes per state to what the fingerprint and parent arrays take
    (a dict would take about 100)."""
    import tracemalloc

    tracemalloc.start()
    result = explore([0], counter(50_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.states == 50_001
    assert peak < 50_001 * (8 + 8 + 16) * 1.5  # fingerprints, parents, index; array growth slack


def test_progress_is_told_while_a_state_with_many_successors_is_expanded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an array of a thousand LUs the initial state has a thousand successors, each
    checked in milliseconds: progress told once per state expanded stayed silent for
    minutes. It is told at each new state, here with a clock that moves a second a look."""
    clock = iter(range(10**6))
    monkeypatch.setattr("proofs.explicit.time.monotonic", lambda: float(next(clock)))
    lines: list[str] = []
    result = explore(
        [0], lambda n: [("add", k) for k in range(1, 101)] if n == 0 else [], progress=lines.append
    )
    assert result.states == 101
    assert len(lines) > 10 and all(", depth 0, " in line for line in lines)  # all during the first state
