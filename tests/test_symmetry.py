"""Symmetry reduction is sound: renaming commutes with the transitions, and the reduced
search reaches the same verdicts, properties and counterexample lengths as the full one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import AGREEMENT, checked, summary
from model.actions import Model
from model.protocol import SEEDED_BUGS, variant
from model.scenario import builtin
from model.symmetry import canonicalizer, permutation_group, permute


@pytest.mark.parametrize(
    ("scenario", "name"),
    [
        *(("ping-pong", name) for name in ["correct", *SEEDED_BUGS]),
        *(pytest.param("three-way", name, marks=AGREEMENT) for name in ["correct", *SEEDED_BUGS]),
    ],
)
def test_reduced_and_full_search_agree(scenario: str, name: str) -> None:
    reduced = checked(scenario, name, True, liveness=False)
    full = checked(scenario, name, False, liveness=False)
    assert reduced.symmetry > 1 and full.symmetry == 1
    assert reduced.verdict == full.verdict
    assert summary(reduced) == summary(full)
    assert reduced.witnesses == full.witnesses
    assert reduced.search.depth == full.search.depth


def test_scripted_scenarios_have_no_symmetry() -> None:
    assert len(permutation_group(builtin("fig5"))) == 1
    assert canonicalizer(builtin("fig5")) is None


@pytest.mark.parametrize("scenario", ["ping-pong", "three-way"])
@settings(max_examples=30, deadline=None)
@given(data=st.data(), name=st.sampled_from(["correct", *SEEDED_BUGS]))
def test_renaming_commutes_with_successors(scenario: str, data: st.DataObject, name: str) -> None:
    """For states along a random run: successors of a renamed state are the renamed
    successors, and every renaming of a state has the same representative."""
    s = builtin(scenario)
    m, canonical, group = Model(s, variant(name)), canonicalizer(s), permutation_group(s)
    assert canonical is not None
    w = m.initial()
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        successors = m.successors(w)
        cm, lm = data.draw(st.sampled_from(group), label="renaming")
        renamed = permute(w, cm, lm)
        assert canonical(renamed) == canonical(w)
        expected = sorted(hash(permute(n, cm, lm)) for _, n in successors)
        assert sorted(hash(n) for _, n in m.successors(renamed)) == expected
        if not successors:
            break
        w = data.draw(st.sampled_from(successors), label="step")[1]
