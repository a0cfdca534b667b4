"""The composed search's engine (``proofs.packed``): states packed into one integer visit
what the generic engine visits over ``Composition.successors``, in the same order, with
the same counterexamples to the label; its shortcut (quiet records) is what it must be."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import pytest

from conftest import AGREEMENT
from invariants import SAFETY, WITNESSES
from model.actions import Model
from model.protocol import VARIANTS, variant
from proofs.check import bind_witness
from proofs.composed import GROUP_WITNESSES, HEAD, Composition, State, _per_lu, composed_check
from proofs.explicit import Search, explore
from proofs.packed import CONCURRENT, QUIET, Packing, TooWide, _Tables, search_packed
from test_composed import scripted
from test_product import array

# Three controllers, two LUs, one block, one take-over, one read per block: reads make the
# seeded bugs' wrong reads (the records the engine takes the long way), liveness runs whole.
SHAPE = (3, 2, 1, 1, 1)
# LU0 and LU2 on one port: Step 801's designations read several LUs.
SHARED = (2, 3, 1, 1, 0)


def composition(
    model: Model,
) -> tuple[Composition, list[tuple[str, Callable[[State], str | None]]], list[str]]:
    names = [w.name for w in WITNESSES if w.applies(model)]
    comp = Composition(
        model, [(w.name, bind_witness(w.reached, model)) for w in WITNESSES if w.name in GROUP_WITNESSES]
    )
    whole = {"lun_map_well_formed": comp.lun_map, "reads_return_written_data": comp.wrong_read}
    return comp, [(p.name, whole.get(p.name) or _per_lu(p.name, comp)) for p in SAFETY], names


def generic(model: Model, keep_going: bool, liveness: bool, max_states: int | None = None) -> Search[State]:
    """The generic engine over the composed states: the reference."""
    comp, invariants, names = composition(model)

    def witness(name: str) -> Callable[[State, Hashable, State], bool]:
        if name == CONCURRENT:
            return lambda before, label, after: sum(comp.moving(comp.parts[n]) for n in after[HEAD:]) >= 2
        return lambda before, label, after: any(
            (n, label) in comp.reached.get(name, ()) for n in before[HEAD:]
        )

    return explore(
        [comp.initial],
        comp.successors,
        invariants=invariants,
        witnesses=[(name, witness(name)) for name in names],
        obligations=comp.pending if liveness else None,
        max_states=max_states,
        keep_going=keep_going,
        all_hold=comp.all_hold,
    )


def packed(
    model: Model, keep_going: bool, liveness: bool, max_states: int | None = None, bits: int = 20
) -> Search[State]:
    comp, invariants, names = composition(model)
    return search_packed(
        comp,
        Packing(len(comp.groups), comp.counter_limit, bits),
        invariants,
        names,
        liveness=liveness,
        max_states=max_states,
        keep_going=keep_going,
    )


def everything(s: Search[State]) -> tuple[object, ...]:
    """All a search reports, counterexamples to the state and label."""
    violations = [
        (v.invariant, v.kind, v.message, v.states, v.labels, v.loop_start, v.obligation) for v in s.violations
    ]
    return s.states, s.transitions, s.depth, s.complete, s.witnesses, s.liveness_checked, violations


# A wrong read, a dead end, the correct protocol and a fair cycle's absence by default;
# every seeded bug in the agreement step.
KEPT = {"correct", "skip-destage", "no-resume"}


@pytest.mark.parametrize(
    "name", [name if name in KEPT else pytest.param(name, marks=AGREEMENT) for name in VARIANTS]
)
@pytest.mark.parametrize("shape", [SHAPE, pytest.param(SHARED, marks=AGREEMENT)])
def test_the_packed_engine_visits_what_the_generic_engine_visits(
    name: str, shape: tuple[int, int, int, int, int]
) -> None:
    model = Model(array(*shape), variant(name))
    for keep_going in (False, True):
        for liveness in (False, True):
            assert everything(packed(model, keep_going, liveness)) == everything(
                generic(model, keep_going, liveness)
            ), (keep_going, liveness)


@pytest.mark.parametrize(
    ("scenario", "name"),
    [("fig9", "stale-diff-copy")]
    + [
        pytest.param(scenario, name, marks=AGREEMENT)
        for scenario in ("script-two", "two-pairs", "fig9", "script-two-crash")
        for name in sorted(KEPT)
    ],
)
def test_the_packed_engine_visits_what_the_generic_engine_visits_in_a_script(
    scenario: str, name: str
) -> None:
    # A designation of a batch changes two LUs' records and counts the script on; in
    # two-pairs and fig9, a record is a mirrored pair's two LUs, and in fig9 Step 901
    # splits each pair in turn, counting the backup script on; in script-two-crash a crash
    # changes every record at once.
    model = Model(scripted(scenario), variant(name))
    for keep_going in (False, True):
        for liveness in (False, True):
            assert everything(packed(model, keep_going, liveness)) == everything(
                generic(model, keep_going, liveness)
            ), (keep_going, liveness)


def test_a_search_stopped_at_its_limit_stops_where_the_generic_one_does() -> None:
    model = Model(array(*SHAPE), variant("correct"))
    for limit in (1, 2, 1_000, 9_999):
        for liveness in (False, True):
            found = packed(model, False, liveness, max_states=limit)
            assert everything(found) == everything(generic(model, False, liveness, max_states=limit))
            assert (found.states, found.complete) == (limit, False)


def test_records_beyond_their_field_start_the_search_again_wider(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Model(array(*SHAPE), variant("skip-destage"))
    with pytest.raises(TooWide):
        packed(model, True, True, bits=4)
    wide = composed_check(model, keep_going=True)
    monkeypatch.setattr("proofs.composed.RECORD_BITS", 2)
    narrow = composed_check(model, keep_going=True)
    assert everything(narrow.search) == everything(wide.search)  # type: ignore[arg-type]


def test_packing_round_trips() -> None:
    packing = Packing(records=3, counter_limit=5, bits=7)
    for state in [(0, -1, 0, 0, 0), (5, 126, 127, 1, 64), (3, 0, 5, 127, 0)]:
        assert packing.unpack(packing.pack(state)) == state
    with pytest.raises(TooWide):
        packing.pack((1, -1, 128, 0, 0))


def test_only_quiet_records_skip_the_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortcut is sound only for records judged quiet: a mutant that calls every
    record quiet misses the seeded bugs' broken properties."""
    model = Model(array(*SHAPE), variant("skip-destage"))
    assert packed(model, False, False).violations and packed(model, False, True).violations
    build = _Tables.build

    def all_quiet(self: _Tables, n: int) -> list[int]:
        deltas = build(self, n)
        self.kind[n] = QUIET
        return deltas

    monkeypatch.setattr(_Tables, "build", all_quiet)
    assert not packed(model, False, False).violations
    assert not packed(model, False, True).violations  # with liveness: its own quiet path
