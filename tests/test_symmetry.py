"""Symmetry reduction is sound: renaming commutes with the transitions, and the reduced
search reaches the same verdicts, properties and counterexample lengths as the full one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from itertools import permutations
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import AGREEMENT, checked, reachable_worlds, summary
from invariants import SAFETY
from invariants.witnesses import LIVENESS
from model.actions import Model
from model.generate import array_scenario
from model.protocol import CORRECT, SEEDED_BUGS, variant
from model.scenario import Scenario, builtin, load
from model.state import World
from model.symmetry import (
    Renaming,
    TooManySymmetries,
    _Renamer,
    canonical_among,
    canonicalizer,
    group_size,
    permute,
    renamers,
    renamings_per_state,
    symmetries,
)
from proofs.check import Check, bind, run_check
from proofs.explicit import explore

ARRAYS = Path(__file__).parent.parent / "benchmarks" / "arrays"


def two_by_two(reads: bool = False) -> Scenario:
    """Two controllers, two LUs, one writer host each (reading the other LU if ``reads``),
    one take-over: the swap of both controllers, both LUs and both hosts fixes its start."""
    s = array_scenario(2, 2, 1, hosts=2, budget=1, writes_per_block=1, reads_per_block=int(reads))
    return s if reads else replace(s, hosts=tuple(replace(h, reads=()) for h in s.hosts))


SCENARIOS = {
    "two-by-two": two_by_two(),
    "two-by-two-reads": two_by_two(reads=True),
    # Spare controllers, sorted by the representative function rather than tried in turn:
    # one LU on five controllers (4 spare: 24 renamings), two LUs on five (3 spare, and
    # the swap of the LUs with their hosts and controllers: 12).
    "one-lu-five": array_scenario(5, 1, 1, hosts=1, budget=2),
    "two-lus-five": array_scenario(5, 2, 1, hosts=2, budget=1, writes_per_block=1, reads_per_block=0),
}


def scenario(name: str) -> Scenario:
    return SCENARIOS[name] if name in SCENARIOS else builtin(name)


def check(name: str, variant_name: str, symmetry: bool) -> Check:
    """With liveness: reduced, its cycles are judged on the concrete states behind them. The
    small arrays go on after a violation, so every property's shortest counterexample is
    compared."""
    if name not in SCENARIOS:
        return checked(name, variant_name, symmetry)
    return run_check(Model(SCENARIOS[name], variant(variant_name)), symmetry=symmetry, keep_going=True)


@pytest.mark.parametrize(
    ("name", "variant_name"),
    [
        *(("two-by-two", v) for v in ["correct", *SEEDED_BUGS]),
        *(pytest.param("two-by-two-reads", v, marks=AGREEMENT) for v in ["correct", *SEEDED_BUGS]),
        *(pytest.param("three-way", v, marks=AGREEMENT) for v in ["correct", *SEEDED_BUGS]),
    ],
)
def test_reduced_and_full_search_agree(name: str, variant_name: str) -> None:
    reduced = check(name, variant_name, True)
    full = check(name, variant_name, False)
    assert reduced.symmetry > 1 and full.symmetry == 1
    assert reduced.verdict == full.verdict
    assert summary(reduced) == summary(full)
    assert reduced.witnesses == full.witnesses
    assert reduced.search.depth == full.search.depth
    assert reduced.search.liveness_checked == full.search.liveness_checked
    assert [reduced.status(p.name, "liveness") for p in LIVENESS] == [
        full.status(p.name, "liveness") for p in LIVENESS
    ]


SORTED = ["correct", "skip-destage", "no-resume", "concurrent-same-lu"]


@pytest.mark.parametrize(
    ("name", "variant_name"),
    [
        (name, v)
        if v in SORTED and (name, v) != ("one-lu-five", "concurrent-same-lu")  # 11-24 s: agreement
        else pytest.param(name, v, marks=AGREEMENT)
        for name in ("one-lu-five", "two-lus-five")
        for v in ["correct", *SEEDED_BUGS]
    ],
)
def test_sorting_spare_controllers_picks_one_state_per_orbit_as_trying_them_all_does(
    name: str, variant_name: str
) -> None:
    """Two representative functions of the same group, each exact, reach one state per orbit:
    the same states, transitions, depth and shortest counterexamples, the sorted one with a
    renaming or two per state instead of every permutation of the spare controllers."""
    s = SCENARIOS[name]
    m = Model(s, variant(variant_name))
    assert renamings_per_state(s, group_size(s)) < group_size(s)
    invariants = [(p.name, bind(p.check, m)) for p in SAFETY]

    def search(canonical: Callable[[World], World] | None) -> tuple[object, ...]:
        r = explore([m.initial()], m.successors, invariants=invariants, keep_going=True, canonical=canonical)
        return r.states, r.transitions, r.depth, {v.invariant: len(v.labels) for v in r.violations}

    assert search(canonicalizer(s)) == search(canonical_among(renamers(s)))


def test_the_swap_of_controllers_lus_and_hosts_halves_a_two_by_two_array() -> None:
    """Renaming LUs renames their hosts too: without that the two LUs, written by different
    hosts, are not interchangeable, and the array has no symmetry that merges a state."""
    reduced, full = check("two-by-two", "correct", True), check("two-by-two", "correct", False)
    assert (reduced.search.states, full.search.states) == (345, 685)
    assert symmetries(SCENARIOS["two-by-two"]) == [
        Renaming((0, 1), (0, 1), (0, 1)),
        Renaming((1, 0), (1, 0), (1, 0)),
    ]


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("ping-pong", 1),  # the LU's controller and the empty one are not interchangeable
        ("three-way", 2),  # the two empty controllers are
        ("fig5", 1),  # scripted: no renaming
        ("fig9", 1),  # pairs
        ("array-2x2x1-t2", 2),
        ("array-3x2x1-t3", 2),
    ],
)
def test_every_symmetry_fixes_the_initial_state(name: str, size: int) -> None:
    s = load(ARRAYS / f"{name}.toml") if name.startswith("array-") else builtin(name)
    group = symmetries(s)
    assert len(group) == group_size(s) == size
    initial = Model(s).initial()
    assert all(permute(initial, r) == initial for r in group)
    assert group[0] == Renaming(
        tuple(range(s.controllers)), tuple(range(len(s.lus))), tuple(range(len(s.hosts)))
    )


def test_free_controllers_are_counted_without_listing_them() -> None:
    """Twelve controllers, two holding an LU: the other ten are interchangeable (10!), too
    many to rename every state by; nine identical LUs on nine controllers have more LU
    renamings to try than the limit, and are not even counted."""
    assert group_size(array_scenario(12, 2)) == 3_628_800
    with pytest.raises(TooManySymmetries, match="3,628,800 symmetries are too many"):
        symmetries(array_scenario(12, 2))
    nine = array_scenario(9, 9, hosts=1)
    assert group_size(nine) == 0
    with pytest.raises(TooManySymmetries, match="more than 40,320 symmetries"):
        symmetries(nine)


@pytest.mark.agreement
def test_the_stabilizer_merges_most_of_what_the_whole_group_would() -> None:
    """three-way: the 2 renamings that fix its start reach 35,492 states, all 6
    permutations of its controllers 34,584 (a state reached by take-overs that bring the
    array to where another start would): 97% of the saving for a third of the renamings."""
    s = builtin("three-way")
    m = Model(s, CORRECT)
    hosts = tuple(range(len(s.hosts)))
    renamers = [_Renamer(Renaming(cm, (0, 1), hosts)) for cm in permutations(range(3))]

    def whole_group(w: World) -> World:
        return min((rename(w) for rename in renamers), key=hash)

    whole = explore([m.initial()], m.successors, canonical=whole_group)
    assert (whole.states, check("three-way", "correct", True).search.states) == (34_584, 35_492)


def test_the_remembering_renamer_renames_as_a_fresh_one() -> None:
    """The canonicalizer remembers renamed records across states: every world of an array,
    renamed by one renamer in turn, is what a fresh renaming makes of it."""
    s = SCENARIOS["two-by-two-reads"]
    worlds = reachable_worlds(Model(s, CORRECT))
    swap = symmetries(s)[1]
    rename = _Renamer(swap)
    assert [rename(w) for w in worlds] == [permute(w, swap) for w in worlds]
    assert len(rename.controllers) > 10  # it did remember


def test_scripted_scenarios_have_no_symmetry() -> None:
    assert len(symmetries(builtin("fig5"))) == 1
    assert canonicalizer(builtin("fig5")) is None


def _renamings(name: str) -> list[Renaming]:
    """The scenario's symmetries, or for ping-pong (which has none that fix its start) the
    swap of its controllers: a renaming that maps runs to runs all the same."""
    if name == "ping-pong":
        return [Renaming((1, 0), (0,), (0,))]
    return symmetries(scenario(name))[1:]


@pytest.mark.parametrize(
    "name", ["ping-pong", "three-way", "two-by-two-reads", "one-lu-five", "two-lus-five"]
)
@settings(max_examples=30, deadline=None)
@given(data=st.data(), variant_name=st.sampled_from(["correct", *SEEDED_BUGS]))
def test_renaming_commutes_with_successors(name: str, data: st.DataObject, variant_name: str) -> None:
    """For states along a random run: successors of a renamed state are the renamed
    successors, and a state and its renaming have the same representative."""
    s = scenario(name)
    m, canonical = Model(s, variant(variant_name)), canonicalizer(s)
    w = m.initial()
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        successors = m.successors(w)
        r = data.draw(st.sampled_from(_renamings(name)), label="renaming")
        renamed = permute(w, r)
        if canonical is not None:
            assert canonical(renamed) == canonical(w)
        expected = sorted(hash(permute(n, r)) for _, n in successors)
        assert sorted(hash(n) for _, n in m.successors(renamed)) == expected
        if not successors:
            break
        w = data.draw(st.sampled_from(successors), label="step")[1]


def test_spare_controllers_that_tie_but_are_named_are_tried_in_every_order() -> None:
    """Spare controllers that name others in their tables (worlds no run reaches, but the
    representative function must pick one per orbit of any world). Spare 3 naming 1, and
    4 naming 2: 1 and 2 tie, and so do 3 and 4, yet swapping 1 and 2 moves what 3 and 4
    name. Spare 3 alone naming 1: 1 and 2 tie, and only what names them tells them apart.
    Every renaming of such a world has its representative only if each tie that anything
    names is tried in every order."""
    s = SCENARIOS["one-lu-five"]
    canonical = canonicalizer(s)
    assert canonical is not None
    for naming in ({3: 1, 4: 2}, {3: 1}):
        w = Model(s).initial()
        controllers = list(w.controllers)
        for spare, named in naming.items():
            table = controllers[spare].table
            controllers[spare] = controllers[spare]._replace(table=(table[0]._replace(current=named),))
        w = w._replace(controllers=tuple(controllers))
        assert {canonical(permute(w, r)) for r in symmetries(s)} == {canonical(w)}, naming
