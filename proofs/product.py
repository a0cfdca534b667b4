"""The per-LU product (``lutakeover check --product``): an array whose LUs share nothing
but the operator's take-over budget, checked and counted from each LU's own array.

When every host uses one LU, no LU is used by two hosts, no pair mirrors one LU to another,
no crash is scripted and take-overs are designated one LU at a time ("any" mode), a step of
one LU's host or take-over changes only that LU's part of the state (its rows in every
table, its cache lines, path, host request, job and ghost records) and, at Step 801, the
budget. Step 801 also ties LUs that share a port (the external LUN a moved LU gets, and
its gap rule): ``why_not_independent`` asks for what keeps LUs from ever sharing one.

Then the reachable states are the tuples of each LU's own reachable states whose take-overs
together fit the budget: their number follows from each LU's space alone, searched once
(the array of two LUs of two blocks, benchmarks/arrays/array-2x2x2-t2.toml, has 60 million
states, an LU of it 20,378), and a safety property breaks in the array exactly when it
breaks in some LU's own array (``product_check``). Without those conditions the count is
wrong: ``tests/test_product.py`` shows both against the full search, and that product and
full search find the same for every variant. docs/ARCHITECTURE.md has the argument.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import cast

from invariants import SAFETY, WITNESSES, obligations
from invariants.witnesses import describe_obligation, liveness_of, untested_properties
from model.actions import Model
from model.labels import Label
from model.protocol import CORRECT, Protocol
from model.scenario import Scenario
from model.state import World
from model.symmetry import group_size
from proofs.check import Check, bind, bind_witness
from proofs.explicit import Search, Violation, explore
from proofs.product_liveness import LocalGraph, Stuck, shortest_dead_ends
from proofs.replay import replay
from proofs.trace import Counterexample


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
    depth_by_takeovers: dict[int, int]  # take-overs designated -> the deepest such state


class _Tally:
    """Each state of an LU's own space as a search reaches it (``explore``'s ``visit``),
    counted by the take-overs designated to reach it, with the deepest of each count."""

    def __init__(self, lu: int, budget: int) -> None:
        self.lu, self.budget = lu, budget
        self.by_takeovers: Counter[int] = Counter()
        self.deepest: dict[int, int] = {}

    def __call__(self, w: World, depth: int) -> None:
        used = self.budget - w.budget
        self.by_takeovers[used] += 1
        self.deepest[used] = max(self.deepest.get(used, 0), depth)

    def space(self) -> LocalSpace:
        return LocalSpace(
            self.lu,
            sum(self.by_takeovers.values()),
            dict(sorted(self.by_takeovers.items())),
            dict(sorted(self.deepest.items())),
        )


def local_space(scenario: Scenario, lu: int, protocol: Protocol = CORRECT) -> LocalSpace:
    """Breadth-first search of LU ``lu``'s own space, its states counted."""
    model = Model(local_scenario(scenario, lu), protocol)
    tally = _Tally(lu, scenario.budget)
    explore([model.initial()], model.successors, visit=tally)
    return tally.space()


class NotIndependent(ValueError):
    """The per-LU product was asked of an array whose LUs are tied together; says why."""


def _require_independent(scenario: Scenario) -> None:
    reason = why_not_independent(scenario)
    if reason is not None:
        raise NotIndependent(f"{scenario.name}: the per-LU product does not apply: {reason}")


def product_states(scenario: Scenario, protocol: Protocol = CORRECT, unchecked: bool = False) -> int:
    """The number of states of the product of the LUs' own spaces whose take-overs fit the
    budget; NotIndependent saying why if the LUs are not independent (``unchecked``: count
    all the same, which shows what the conditions are for: the count is then wrong)."""
    if not unchecked:
        _require_independent(scenario)
    return _product(scenario, [local_space(scenario, lu, protocol) for lu in range(len(scenario.lus))])[0]


def _product(scenario: Scenario, spaces: list[LocalSpace]) -> tuple[int, int]:
    """The product's states, and its depth (the deepest tuple: a shortest run to a tuple
    takes each LU's shortest run to its part, so its length is the sum of theirs)."""
    ways = {0: (1, 0)}  # take-overs used so far -> (tuples of the LUs so far, deepest)
    for space in spaces:
        combined: dict[int, tuple[int, int]] = {}
        for used, (n, deep) in ways.items():
            for more, k in space.by_takeovers.items():
                if used + more <= scenario.budget:
                    total, deepest = combined.get(used + more, (0, 0))
                    combined[used + more] = (
                        total + n * k,
                        max(deepest, deep + space.depth_by_takeovers[more]),
                    )
        ways = combined
    return sum(n for n, _ in ways.values()), max(d for _, d in ways.values())


# --- the search ------------------------------------------------------------------------------

# Where an action's arguments name an LU and a host: (index of the LU, index of the host).
_NAMES = {
    "send_write": (1, 0), "send_read": (1, 0), "deliver": (None, 0), "process": (None, 0),
    "complete": (None, 0), "retry": (None, 0), "destage_done": (1, None),
    "background_destage": (1, None), "designate": (0, None),
}  # fmt: skip


def rename(label: Label, lu: int, host: int | None) -> Label:
    """A label of an LU's own array (its LU0 and host0) as the whole array names it."""
    at_lu, at_host = _NAMES.get(label.action, (0, None))  # a take-over step names its LU first
    args = list(label.args)
    if at_lu is not None:
        args[at_lu] = lu
    if at_host is not None:
        assert host is not None, f"{label} names a host, and LU{lu} has none"
        args[at_host] = host
    return Label(label.action, tuple(args))


def product_check(
    model: Model,
    *,
    keep_going: bool = False,
    liveness: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Check:
    """Safety and witnesses of an array whose LUs are independent, from each LU's own
    array: a property of one LU breaks in the array exactly when it breaks in that LU's own
    array (the other LUs can stay where they start), and no sooner. Each counterexample is
    replayed in the whole array's model, so it is a run of it. With ``liveness``, its dead
    ends too (``proofs.product_liveness``; ``LocalCycle`` if an LU's own array has a cycle,
    which the product does not judge)."""
    scenario = model.scenario
    _require_independent(scenario)
    started = time.monotonic()
    hosts = [
        next((h for h, spec in enumerate(scenario.hosts) if lu in spec.writes + spec.reads), None)
        for lu in range(len(scenario.lus))
    ]
    searches: list[Search[World]] = []
    tallies: list[_Tally] = []
    moving: list[int | None] = []  # each LU's shallowest depth with a take-over under way
    graphs: list[LocalGraph] = []  # with liveness: each LU's graph, recorded by its search
    for lu in range(len(scenario.lus)):
        local = Model(local_scenario(scenario, lu), model.protocol)
        if liveness:
            graphs.append(LocalGraph(local, scenario.budget))
        witnesses = [(w.name, bind_witness(w.reached, local)) for w in WITNESSES if w.applies(local)]
        witnesses.append(("moving", lambda before, label, after: any(not j.backup for j in after.jobs)))
        tallies.append(_Tally(lu, scenario.budget))
        own = explore(
            [local.initial()],
            graphs[-1].successors if liveness else local.successors,
            invariants=[(p.name, bind(p.check, local)) for p in SAFETY],
            witnesses=witnesses,
            keep_going=True,
            progress=progress,
            visit=tallies[-1],
        )
        moving.append(own.witnesses.pop("moving"))
        searches.append(own)
    # Shortest first; of one length, LU by LU, each LU's in the order of SAFETY.
    found: list[tuple[int, int, Violation[World]]] = sorted(
        ((len(v.labels), lu, v) for lu, s in enumerate(searches) for v in s.violations),
        key=lambda f: f[:2],
    )
    counterexamples: list[Counterexample] = []
    for _, lu, v in found:
        if not keep_going and counterexamples:
            break
        if any(c.property == v.invariant for c in counterexamples):
            continue
        counterexamples.append(_in_the_array(model, lu, hosts[lu], v))
    safe = not counterexamples
    if liveness and safe:
        graphs = [g.finish() for g in graphs]
        for name, _, parts in shortest_dead_ends(graphs, hosts, scenario.budget)[: None if keep_going else 1]:
            counterexamples.append(_dead_end_in_the_array(model, graphs, hosts, name, parts))
    search: Search[World] = Search(
        complete=True,
        seconds=0.0,
        liveness_checked=liveness and safe,
    )
    search.transitions = sum(s.transitions for s in searches)
    if not safe:  # the array's states are not counted: they are not all safe
        search.states = sum(s.states for s in searches)
        search.depth = max(s.depth for s in searches)
    else:  # every LU's space searched whole (nothing broke), so each tally is complete
        search.states, search.depth = _product(scenario, [t.space() for t in tallies])
    applicable = [w for w in WITNESSES if w.applies(model)]
    search.witnesses = {w.name: _witness_depth(w.name, searches, moving, scenario.budget) for w in applicable}
    search.seconds = time.monotonic() - started
    return Check(
        model,
        search,
        1,
        dict(search.witnesses),
        keep_going,
        group_size(scenario),
        untested_properties(model),
        counterexamples,
        [s.states for s in searches],
    )


# The witnesses that are one LU's own: an array reaches them where one of its LUs does.
ONE_LU_WITNESSES = {"takeover_completes", "write_acked_during_destage", "takeback"}


def _witness_depth(
    name: str, searches: list[Search[World]], moving: list[int | None], budget: int
) -> int | None:
    """How deep the array reaches a witness: an LU's own witness as deep as the shallowest
    LU reaches it; two take-overs at once where the two quickest LUs to start one meet."""
    if name == "concurrent_takeovers":
        starts = sorted(d for d in moving if d is not None)
        return starts[0] + starts[1] if len(starts) > 1 and budget > 1 else None
    if name not in ONE_LU_WITNESSES:
        raise NotIndependent(f"the per-LU product cannot judge the witness {name}")
    depths = [d for s in searches if (d := s.witnesses.get(name)) is not None]
    return min(depths, default=None)


def _in_the_array(model: Model, lu: int, host: int | None, v: Violation[World]) -> Counterexample:
    """An LU's own counterexample replayed in the whole array, where it breaks the same
    property in its last state (else the product was wrong: ProductError)."""
    labels = [rename(cast(Label, label), lu, host) for label in v.labels]
    trace = replay(model, labels)
    prop = next(p for p in SAFETY if p.name == v.invariant)
    message = prop.check(model, trace[-1].state)
    if message is None:
        raise ProductError(
            f"LU{lu}'s own run breaking {v.invariant} does not break it in {model.scenario.name}"
        )
    return Counterexample(prop.name, "safety", message, trace)


def _dead_end_in_the_array(
    model: Model, graphs: list[LocalGraph], hosts: list[int | None], name: Hashable, parts: list[Stuck]
) -> Counterexample:
    """The LUs' runs to a dead end owing ``name``, one after the other in the whole array,
    where the last state must be a dead end owing it (else ProductError)."""
    labels = [
        rename(label, lu, hosts[lu])
        for lu, part in enumerate(parts)
        for label in graphs[lu].run_to(part.index)
    ]
    trace = replay(model, labels)
    last = trace[-1].state
    if model.successors(last) or name not in obligations(model, last):
        raise ProductError(
            f"the LUs' runs to a dead end owing {name} do not end in one in {model.scenario.name}"
        )
    message = f"{describe_obligation(name)}: the run stops"
    return Counterexample(liveness_of(name).name, "deadlock", message, trace, None, name)


class ProductError(AssertionError):
    """An LU's own counterexample that is not one of the whole array: the product is wrong."""
