"""The larger built-ins see what the first six cannot.

Those six have LUs of one block, so Step 804 never has more than one dirty line to de-stage,
and four of them have one host, so at most one request is in the array at a time. A de-stage
that skips every other line passes all of them; ``multi-block`` (an LU of three blocks) and
``chain`` (two blocks) catch it. ``three-hosts`` has three requests in flight at once during
a take-over, and ``swap`` runs two take-overs in opposite directions at the same time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import pytest

import model.actions as actions
from conftest import AGREEMENT, checked, summary
from model.actions import Model
from model.protocol import CORRECT, Step
from model.scenario import builtin
from model.state import World
from proofs.check import Check, run_check
from test_backup import STATES as BACKUP_STATES
from test_pins import STATES

OLD_BUILTINS = ("backup-and-takeover", "fig5", "fig9", "one-lu", "ping-pong", "three-way")
PINNED = {
    **{name: STATES[name, False] for name in ("fig5", "ping-pong", "three-way", "one-lu")},
    **BACKUP_STATES,
}


def _skip_every_other_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mutant of Step 804: the source de-stages only the dirty lines of even blocks, and its
    purge does not look at the odd ones, so it drops them with the clean lines.

    ``ACTIONS`` holds each action's argument generator, bound when the module was loaded, so
    the mutant replaces the ``destage_line`` action itself; a Model reads ``ACTIONS`` when
    it is built."""
    every_line = actions._dirty_lines_of_job

    def even_lines(m: Model, w: World, k: int) -> Iterator[tuple[int, ...]]:
        return (args for args in every_line(m, w, k) if args[1] % 2 == 0)

    destage_even = actions._step(
        "destage_line", Step.PURGE, actions._source, actions.destage_line, even_lines
    )
    mutated = tuple(destage_even if a.name == "destage_line" else a for a in actions.ACTIONS)
    monkeypatch.setattr(actions, "ACTIONS", mutated)

    purge = actions._purge

    def purge_ignoring_odd_lines(m: Model, w: World, k: int, step: Step) -> World | None:
        if step is Step.PURGE:
            job = w.jobs[k]
            c = actions.destaging_controller(step, job.source, job.destination)
            ctl = w.controllers[c]
            kept = tuple(
                line for line in ctl.cache if not (line.lu == job.lu and line.dirty and line.block % 2 == 1)
            )
            w = actions._set_controller(w, c, ctl._replace(cache=kept))
        return purge(m, w, k, step)

    monkeypatch.setattr(actions, "_purge", purge_ignoring_odd_lines)


def _mutant_check(name: str, liveness: bool = True) -> Check:
    # Not conftest's ``checked``: its cache would keep the mutant's run as the correct one's.
    return run_check(Model(builtin(name), CORRECT), symmetry=False, liveness=liveness)


# The first property the mutant breaks and the length of its shortest counterexample: a write
# to block 1 is acknowledged, the purge of Step 804 drops its dirty line without de-staging
# it, and the source reads the disk's old value back.
CAUGHT = {
    "multi-block": {"no_acknowledged_write_lost": 10},
    "chain": {"no_acknowledged_write_lost": 10},
}


@pytest.mark.parametrize("name", list(CAUGHT))
def test_a_multi_block_builtin_catches_a_destage_that_skips_every_other_line(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    assert checked(name).verdict == "ok"
    correct = Model(builtin(name), CORRECT)  # built before the patch: a Model keeps its actions
    _skip_every_other_line(monkeypatch)
    check = _mutant_check(name)
    assert check.verdict == "violated"
    assert summary(check) == CAUGHT[name]
    (v,) = check.counterexamples
    assert v.labels()[-1].action == "purge" and "block 1 " in v.message
    # Before that purge, the correct source may de-stage block 1; the mutant's may not.
    before = v.trace[-2].state
    assert _destageable_blocks(check.model, before) == set()
    assert _destageable_blocks(correct, before) == {1}


def _destageable_blocks(m: Model, w: World) -> set[int]:
    return {label.args[-1] for label, _ in m.successors(w) if label.action == "destage_line"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=AGREEMENT) if n == "three-way" else n for n in OLD_BUILTINS]
)
def test_no_older_builtin_catches_it(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Every LU of these has one block: the mutant explores the correct protocol's very
    graph (the pinned counts) and every property holds."""
    assert all(lu.blocks == 1 for lu in builtin(name).lus)
    _skip_every_other_line(monkeypatch)
    check = _mutant_check(name, liveness=False)
    s = check.search
    assert check.verdict == "ok" and s.complete and not s.violations
    assert (s.states, s.transitions, s.depth) == PINNED[name]


def _first_reachable(m: Model, wanted: Callable[[World], bool]) -> World | None:
    """The first world found breadth-first for which ``wanted`` holds, else None."""
    first = m.initial()
    seen, queue = {first}, deque([first])
    while queue:
        w = queue.popleft()
        if wanted(w):
            return w
        for _, after in m.successors(w):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return None


def _in_flight(w: World) -> int:
    return sum(request is not None for request in w.hosts)


def test_three_hosts_have_requests_in_flight_at_once_while_their_lus_move() -> None:
    m = Model(builtin("three-hosts"), CORRECT)
    both_moving = _first_reachable(m, lambda w: _in_flight(w) == 3 and {j.lu for j in w.jobs} == {0, 1})
    assert both_moving is not None
    # Accepted by controllers at the same time, not only sent: two frames in inboxes at once.
    accepted = _first_reachable(
        m, lambda w: bool(w.jobs) and sum(r is not None and r.at >= 0 for r in w.hosts) >= 2
    )
    assert accepted is not None


def test_swap_runs_both_takeovers_at_once_in_opposite_directions() -> None:
    m = Model(builtin("swap"), CORRECT)

    def both_destaging(w: World) -> bool:
        moves = {(j.lu, j.source, j.destination) for j in w.jobs if m.next_step(j) is Step.PURGE}
        return moves == {(0, 0, 1), (1, 1, 0)}

    # Each controller de-stages the LU it gives up while it is the other's destination.
    assert _first_reachable(m, both_destaging) is not None
