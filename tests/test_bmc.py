"""z3's transition relation against the model, and bounded model checking against BFS.

The encoding is a second writing of the model, so it is trusted only as far as these tests
reach: on sampled reachable states z3's successors are exactly the model's, a successor
changed in any one variable is refused, and BMC finds every seeded bug at the depth and
under the property breadth-first search pins.
"""

from __future__ import annotations

import functools
import random

import pytest

from conftest import checked, one_by_default, reachable_worlds, summary
from model.actions import Model
from model.generate import array_scenario
from model.protocol import BACKUP_BUGS, SEEDED_BUGS, Step, variant
from model.scenario import builtin
from model.state import World
from proofs.bmc import EncodingDisagrees, bmc
from proofs.check import run_check
from proofs.encoding import Encoding


@functools.cache
def reachable(scenario: str, variant_name: str) -> list[World]:
    return reachable_worlds(Model(builtin(scenario), variant(variant_name)))


def sample(states: list[World], n: int) -> list[World]:
    """``n`` states spread evenly over the breadth-first order: every depth is represented."""
    step = max(1, len(states) // n)
    return states[::step][:n]


def test_every_reachable_state_has_one_assignment_and_back() -> None:
    for scenario in ("fig5", "ping-pong", "fig9"):
        layout = Encoding(Model(builtin(scenario))).layout
        for w in reachable(scenario, "correct"):
            assert layout.unflatten(layout.flatten(w)) == w


EXACT = [
    ("fig5", "correct", 30),
    ("ping-pong", "correct", 30),
    ("three-way", "correct", 15),
    ("ping-pong", "concurrent-same-lu", 15),  # two job slots per LU, and jobs shifting down
    ("fig9", "correct", 25),  # embodiment 2: pairs, backup cycles, direct topology
    ("backup-and-takeover", "correct", 15),  # both embodiments, through the path controller
    *[("backup-and-takeover", bug, 6) for bug in BACKUP_BUGS],
    *[("fig5", bug, 8) for bug in SEEDED_BUGS if bug != "concurrent-same-lu"],
]


@pytest.mark.parametrize(("scenario", "variant_name", "n"), one_by_default(EXACT))
def test_z3_successors_are_exactly_the_models(scenario: str, variant_name: str, n: int) -> None:
    m = Model(builtin(scenario), variant(variant_name))
    enc = Encoding(m)
    for w in sample(reachable(scenario, variant_name), n):
        assert enc.successors(w) == {after for _, after in m.successors(w)}, w


def test_a_successor_changed_in_any_one_variable_is_refused() -> None:
    m = Model(builtin("ping-pong"))
    enc, rng = Encoding(m), random.Random(7)
    layout = enc.layout
    checked_pairs = 0
    for w in sample(reachable("ping-pong", "correct"), 12):
        before = layout.flatten(w)
        for _, after in m.successors(w):
            good = layout.flatten(after)
            assert enc.holds(before, good)
            name = rng.choice(sorted(good))
            bad = dict(good)
            bad[name] = (
                (not good[name]) if layout.kinds[name] == "b" else int(good[name]) + rng.choice((-1, 1, 2))
            )
            assert not enc.holds(before, bad), (w, name)
            checked_pairs += 1
    assert checked_pairs > 20


def test_reachable_states_that_do_not_follow_are_refused() -> None:
    m = Model(builtin("fig5"))
    enc, rng = Encoding(m), random.Random(11)
    states = reachable("fig5", "correct")
    for w in sample(states, 10):
        successors = {after for _, after in m.successors(w)}
        others = [x for x in rng.sample(states, 8) if x not in successors]
        for other in others:
            assert not enc.holds(enc.layout.flatten(w), enc.layout.flatten(other))


def drifted() -> Encoding:
    """A wrong encoding of fig5's correct protocol: its Step 808 source stops without
    waiting for the requests it accepted (the encoding of another variant)."""
    return Encoding(Model(builtin("fig5"), variant("stop-without-drain")))


def test_the_exactness_check_catches_an_encoding_that_drifted() -> None:
    m, wrong = Model(builtin("fig5")), drifted()
    # States where a source is due to stop while a request it accepted is unfinished.
    waiting = [
        w
        for w in reachable("fig5", "correct")
        if any(
            m.next_step(j) is Step.STOP_SOURCE and r is not None and (r.at, r.lu) == (j.source, j.lu)
            for j in w.jobs
            for r in w.hosts
        )
    ]
    assert waiting
    for w in waiting[:5]:
        assert wrong.successors(w) > {after for _, after in m.successors(w)}


def test_bmc_refuses_to_print_a_run_the_model_cannot_take() -> None:
    with pytest.raises(EncodingDisagrees):
        bmc(Model(builtin("fig5")), 14, encoding=drifted())


# BMC against the explicit checker: same property, same shortest length, for every seeded
# bug fig5 shows (the pins of tests/test_pins.py), and no violation for the correct protocol.
FIG5_BUGS = [bug for bug in SEEDED_BUGS if bug not in ("concurrent-same-lu", "no-resume")]


@pytest.mark.parametrize("bug", one_by_default(FIG5_BUGS, "skip-destage"))
def test_bmc_finds_each_seeded_bug_where_breadth_first_search_does(bug: str) -> None:
    result = bmc(Model(builtin("fig5"), variant(bug)), 15)
    assert result.verdict == "violated" and result.violation is not None
    assert {result.violation.property: len(result.violation.trace) - 1} == summary(checked("fig5", bug))


@pytest.mark.bench
def test_bmc_finds_concurrent_same_lu_where_breadth_first_search_does() -> None:
    # fig5 cannot show this bug (one scripted batch); the smallest "any" array that does is
    # 3 controllers and 1 LU: about 2 minutes of BMC (three-way takes 12).
    scenario = array_scenario(controllers=3, lus=1, hosts=1, budget=2)
    protocol = variant("concurrent-same-lu")
    result = bmc(Model(scenario, protocol), 14)
    assert result.violation is not None
    check = run_check(Model(scenario, protocol), liveness=False)
    assert {result.violation.property: len(result.violation.trace) - 1} == summary(check)
    assert summary(check) == {"single_active_controller": 14}


def test_the_correct_protocol_and_a_liveness_bug_pass_a_bounded_check() -> None:
    # no-resume breaks only liveness, which BMC does not look for: an engine limit, pinned.
    for name in ("correct", "no-resume"):
        result = bmc(Model(builtin("fig5"), variant(name)), 10)
        assert (result.verdict, result.reached, len(result.per_depth)) == ("ok", 10, 11)


def test_a_depth_z3_cannot_decide_in_time_is_unknown_not_ok() -> None:
    result = bmc(Model(builtin("three-way")), 12, timeout=0.001)
    assert result.verdict == "unknown" and result.unknown is not None
    assert result.reached < 12


# Embodiment 2 (fig9): BMC finds each backup bug with the property and depth BFS pins.
@pytest.mark.parametrize(
    "bug",
    one_by_default(
        ["no-default-swap", "backup-without-destage", "resync-before-backup-done"], "backup-without-destage"
    ),
)
def test_bmc_finds_each_backup_bug_where_breadth_first_search_does(bug: str) -> None:
    result = bmc(Model(builtin("fig9"), variant(bug)), 14)
    assert result.violation is not None
    assert {result.violation.property: len(result.violation.trace) - 1} == summary(checked("fig9", bug))


@pytest.mark.bench
def test_bmc_finds_resync_without_diff_where_breadth_first_search_does() -> None:
    result = bmc(Model(builtin("fig9"), variant("resync-without-diff")), 16)  # about a minute
    assert result.violation is not None
    assert {result.violation.property: len(result.violation.trace) - 1} == summary(
        checked("fig9", "resync-without-diff")
    )
