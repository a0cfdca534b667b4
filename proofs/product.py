"""The per-LU product: how many states an array has whose LUs share nothing but the
operator's take-over budget, counted from each LU's own space.

When every host uses one LU, no LU is used by two hosts, no pair mirrors one LU to another,
no crash is scripted and take-overs are designated one LU at a time ("any" mode), a step of
one LU's host or take-over changes only that LU's part of the state (its rows in every
table, its cache lines, path, host request, job and ghost records) and, at Step 801, the
budget. Step 801 also ties LUs that share a port (the external LUN a moved LU gets, and
its gap rule): ``why_not_independent`` asks for what keeps LUs from ever sharing one.

Then the reachable states are the tuples of each LU's own reachable states whose take-overs
together fit the budget, and their number follows from each LU's space alone, searched
once: the array of two LUs of two blocks (benchmarks/arrays/array-2x2x2-t2.toml) has 60
million states, an LU of it 20,378. Without those conditions the count is wrong, and
``tests/test_product.py`` shows both against the full search. This module counts; a search
that explores the product instead of the array, and treats the properties relating LUs
(the LUN map) on their own, is the next step (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, replace

from model.actions import Model
from model.protocol import CORRECT, Protocol
from model.scenario import Scenario
from model.state import World


def why_not_independent(scenario: Scenario) -> str | None:
    """Why the scenario's LUs are not independent (the product does not apply), or None."""
    s = scenario
    if s.mode != "any":
        return "take-overs are scripted in batches, which name several LUs"
    if s.pairs or s.backups:
        return "mirrored pairs tie an LU to another"
    if s.crashes:
        return "a crash of the whole array touches every LU"
    used: Counter[int] = Counter()
    for host in s.hosts:
        lus = set(host.writes) | set(host.reads)
        if len(lus) != 1:
            return f"host {host.name} uses {len(lus)} LUs, not one"
        used.update(lus)
    shared = sorted(lu for lu, n in used.items() if n > 1)
    if shared:
        return f"LU{shared[0]} is used by {used[shared[0]]} hosts"
    # Step 801 ties LUs that share a port: it gives a moved LU the lowest external LUN free
    # there (so which LU gets which depends on the order they came in), and it refuses a
    # take-over that would leave a gap. Neither can happen if no two LUs ever share a port:
    # each alone on its port at the start, none on the take-over port, and, with two
    # take-overs, no controller that two LUs could be moved to (one take-over moves one LU).
    ports = Counter((lu.controller, lu.port) for lu in s.lus)
    crowded = sorted(at for at, n in ports.items() if n > 1)
    if crowded:
        return f"port {crowded[0][1]} of controller {crowded[0][0]} presents {ports[crowded[0]]} LUs"
    if any(lu.port == s.takeover_port for lu in s.lus):
        return f"an LU starts on the take-over port {s.takeover_port}"
    if s.budget > 2:
        return f"{s.budget} take-overs could bring two LUs to one port"
    if s.budget == 2:
        for c in range(s.controllers):
            others = [lu.lu for lu in s.lus if lu.controller != c]
            if len(others) > 1:
                return f"two take-overs could bring LU{others[0]} and LU{others[1]} to controller {c}"
    return None


def local_scenario(scenario: Scenario, lu: int) -> Scenario:
    """The array with LU ``lu`` alone (as LU0, external LUN 0 where it starts: alone on its
    port, a higher one would leave a gap), and its host if it has one."""
    spec = replace(scenario.lus[lu], lu=0, ext_lun=0)
    hosts = tuple(
        replace(h, writes=(0,) if h.writes else (), reads=(0,) if h.reads else ())
        for h in scenario.hosts
        if lu in h.writes or lu in h.reads
    )
    return replace(scenario, name=f"{scenario.name}-lu{lu}", lus=(spec,), hosts=hosts)


@dataclass
class LocalSpace:
    """One LU's own reachable states, counted by the take-overs designated to reach them."""

    lu: int
    states: int
    by_takeovers: dict[int, int]  # take-overs designated -> states reached with that many


def local_space(scenario: Scenario, lu: int, protocol: Protocol = CORRECT) -> LocalSpace:
    """Breadth-first search of LU ``lu``'s own space (every state kept: a few thousand)."""
    model = Model(local_scenario(scenario, lu), protocol)
    start = model.initial()
    seen: set[World] = {start}
    queue = deque([start])
    while queue:
        for _, after in model.successors(queue.popleft()):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    used = Counter(scenario.budget - w.budget for w in seen)
    return LocalSpace(lu, len(seen), dict(sorted(used.items())))


def product_states(scenario: Scenario, protocol: Protocol = CORRECT, unchecked: bool = False) -> int:
    """The number of states of the product of the LUs' own spaces whose take-overs fit the
    budget; ValueError saying why if the LUs are not independent (``unchecked``: count all
    the same, which shows what the conditions are for: the count is then too high)."""
    reason = why_not_independent(scenario)
    if reason is not None and not unchecked:
        raise ValueError(f"{scenario.name}: the per-LU product does not apply: {reason}")
    ways = {0: 1}  # take-overs used so far -> tuples of the LUs so far
    for lu in range(len(scenario.lus)):
        space = local_space(scenario, lu, protocol)
        combined: Counter[int] = Counter()
        for used, n in ways.items():
            for more, k in space.by_takeovers.items():
                if used + more <= scenario.budget:
                    combined[used + more] += n * k
        ways = dict(combined)
    return sum(ways.values())
