"""What the explicit checker finds, pinned: a change to the model shows up as a changed number.

Every built-in passes with the correct protocol and reaches every witness; every seeded bug
is caught, by the property and at the depth pinned here.
"""

from __future__ import annotations

import pytest

from conftest import AGREEMENT, checked, summary
from model.protocol import ALL_BUGS, SEEDED_BUGS, VARIANTS

# (states, transitions, depth) of the correct protocol, with and without symmetry reduction
# (with it, liveness is off: fairness is judged on the unreduced graph only).
STATES = {
    ("fig5", True): (7958, 21633, 35),
    ("fig5", False): (7958, 21633, 35),
    ("ping-pong", True): (2575, 4986, 52),
    ("ping-pong", False): (2575, 4986, 52),
    ("three-way", True): (32548, 108662, 36),
    ("three-way", False): (66601, 220972, 36),
    ("one-lu", True): (69, 110, 16),
    ("one-lu", False): (69, 110, 16),
}


@pytest.mark.parametrize(
    ("scenario", "symmetry"),
    [pytest.param(*key, marks=AGREEMENT) if key[0] == "three-way" else key for key in STATES],
)
def test_correct_protocol_explores_the_pinned_state_space(scenario: str, symmetry: bool) -> None:
    check = checked(scenario, "correct", symmetry, liveness=not symmetry)
    s = check.search
    assert (s.states, s.transitions, s.depth) == STATES[scenario, symmetry]
    assert check.verdict == "ok"
    assert s.complete and s.liveness_checked is not symmetry and not s.violations
    assert check.witnesses and all(depth is not None for depth in check.witnesses.values())


def test_fig5_interleaves_host_io_with_the_takeover() -> None:
    check = checked("fig5")
    assert check.search.states >= 5000
    assert check.witnesses["write_acked_during_destage"] is not None
    assert check.witnesses["concurrent_takeovers"] is not None


# The first property each seeded bug breaks (the search stops there) and the length of the
# shortest counterexample. fig5's script designates one batch, so a second take-over of a
# moving LU cannot happen there: concurrent-same-lu is caught by the "any" scenarios.
CAUGHT_ALIKE = {
    "skip-destage": {"no_stale_cache": 12},
    "no-write-through": {"no_stale_cache": 13},
    "write-back-after-destage": {"no_stale_cache": 13},
    "no-suspend": {"path_routes_to_owner": 8},
    "start-before-stop": {"single_active_controller": 10},
    "stop-without-drain": {"no_stale_cache": 13},
    "keep-clean-lines": {"no_stale_cache": 13},
    "resume-before-switch": {"path_routes_to_owner": 10},
    "stale-config-row": {"tables_agree": 12},
}
FIRST = {
    "fig5": {**CAUGHT_ALIKE, "concurrent-same-lu": {}, "no-resume": {"paths_resumed": 22}},
    "ping-pong": {
        **CAUGHT_ALIKE,
        "concurrent-same-lu": {"path_routes_to_owner": 21},
        "no-resume": {"paths_resumed": 34},
    },
    "three-way": {
        **CAUGHT_ALIKE,
        "concurrent-same-lu": {"single_active_controller": 14},
        "no-resume": {"paths_resumed": 24},
    },
}


@pytest.mark.parametrize(
    ("scenario", "bug"),
    [pytest.param(s, b, marks=AGREEMENT) if s == "three-way" else (s, b) for s in FIRST for b in FIRST[s]],
)
def test_seeded_bug_breaks_the_pinned_property(scenario: str, bug: str) -> None:
    check = checked(scenario, bug)
    assert summary(check) == FIRST[scenario][bug]
    assert check.verdict == ("violated" if FIRST[scenario][bug] else "ok")


def test_every_seeded_bug_is_caught_somewhere() -> None:
    assert set(FIRST["fig5"]) == set(SEEDED_BUGS)
    for bug in SEEDED_BUGS:
        assert any(FIRST[s][bug] for s in FIRST), bug
    assert set(VARIANTS) == {"correct", *ALL_BUGS}


# With --keep-going: every property each bug breaks, with its own shortest counterexample.
# ping-pong's take-back shows keep-clean-lines losing a write only on the return trip.
ALL = {
    ("fig5", "skip-destage"): {
        "no_acknowledged_write_lost": 13,
        "reads_return_written_data": 18,
        "no_stale_cache": 12,
    },
    ("fig5", "no-write-through"): {
        "no_acknowledged_write_lost": 14,
        "reads_return_written_data": 19,
        "no_stale_cache": 13,
    },
    ("fig5", "write-back-after-destage"): {
        "no_acknowledged_write_lost": 14,
        "reads_return_written_data": 19,
        "no_stale_cache": 13,
    },
    ("fig5", "stop-without-drain"): {
        "no_acknowledged_write_lost": 14,
        "reads_return_written_data": 19,
        "no_stale_cache": 13,
    },
    ("fig5", "keep-clean-lines"): {"no_stale_cache": 13},
    ("fig5", "no-resume"): {"paths_resumed": 22, "requests_answered": 22},
    ("ping-pong", "keep-clean-lines"): {
        "no_acknowledged_write_lost": 31,
        "reads_return_written_data": 35,
        "no_stale_cache": 13,
    },
    ("ping-pong", "no-resume"): {"paths_resumed": 34, "requests_answered": 34},
}


@pytest.mark.parametrize(("scenario", "bug"), list(ALL))
def test_keep_going_finds_every_broken_property(scenario: str, bug: str) -> None:
    assert summary(checked(scenario, bug, keep_going=True)) == ALL[scenario, bug]
