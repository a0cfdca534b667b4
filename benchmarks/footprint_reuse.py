"""How often the model's steps and properties repeat under a cache keyed by what they read.

The other half of the question ``benchmarks/footprint_floor.py`` asks.

Each reachable state of a built-in is cut into cells (each controller's part of each LU,
each LU's disk blocks, disk row, path, jobs and ghost records, each host's request, each
pair, the counters, the first wrong read), and the model's steps into groups: a host's
steps, a controller's de-stages of one LU, the take-over steps of one LU's jobs, a pair's
mirror and re-synchronization steps, the designations, and the backup's split and the
crash (these two read everything). A group's footprint is the cells its steps read,
worked out from the cells read before it (a host's request says which LU and which
controller come next). Over every state the search reaches:

- **steps**: a group's steps (label and the cells they write, with their new values) are
  looked up by the values of its footprint. Counted: lookups per state (every group; or
  only groups reading a cell the step into the state wrote), *misses* (values never seen:
  the model would run), and **wrong footprints**: values seen before with other steps (the
  footprint leaves out a cell the steps depend on). A cache needs that count at 0;
- **properties**: each safety property is looked up by the cells of the kinds it reads,
  in each new state where one of them changed; misses are values never seen.

The model's time for a state's steps and a property's time are measured on the way, so
the cost a cache would leave per state reads off the rows (misses times their cost).

    python benchmarks/footprint_reuse.py                 # fig5, three-way, multi-block, chain
    python benchmarks/footprint_reuse.py fig9 --max-states 20000
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial

from invariants import SAFETY
from model.actions import ACTIONS, Action, Model, describe
from model.labels import Label
from model.scenario import Scenario, builtin, builtin_names
from model.state import Op, Path, Request, Where, World
from proofs.composed import Composition

DEFAULT = ("fig5", "three-way", "multi-block", "chain")
Cells = tuple[Hashable, ...]


class Layout:
    """Where each cell is in a state's tuple of cells."""

    def __init__(self, m: Model) -> None:
        s = m.scenario
        self.m = m
        self.lus, self.controllers = m.lus, s.controllers
        self.hosts, self.pairs = len(s.hosts), len(s.pairs)
        self.per_lu = self.controllers + 8  # IC per controller, then the eight kinds below
        self.base = self.lus * self.per_lu
        self.size = self.base + self.hosts + self.pairs + 2
        self.kind = [self._kind(i) for i in range(self.size)]
        self.split = Composition(m)  # its split of a state per LU, each controller's part cached
        self.uses = [
            [h for h, spec in enumerate(s.hosts) if lu in (*spec.writes, *spec.reads)]
            for lu in range(self.lus)
        ]

    KINDS = ("blocks", "drow", "path", "jobs", "acked", "writes", "reads", "designated")

    def ic(self, c: int, lu: int) -> int:
        return lu * self.per_lu + c

    def of(self, kind: str, lu: int) -> int:
        return lu * self.per_lu + self.controllers + self.KINDS.index(kind)

    def req(self, h: int) -> int:
        return self.base + h

    def pair(self, i: int) -> int:
        return self.base + self.hosts + i

    @property
    def counter(self) -> int:
        return self.size - 2

    @property
    def bad(self) -> int:
        return self.size - 1

    def _kind(self, i: int) -> str:
        if i < self.base:
            j = i % self.per_lu
            return "ic" if j < self.controllers else self.KINDS[j - self.controllers]
        j = i - self.base
        if j < self.hosts:
            return "req"
        if j < self.hosts + self.pairs:
            return "pair"
        return "counter" if i == self.counter else "bad"

    def lu_cells(self, lu: int) -> list[int]:
        """Every cell of one LU, and its hosts' requests."""
        own = list(range(lu * self.per_lu, (lu + 1) * self.per_lu))
        return own + [self.req(h) for h in self.uses[lu]]

    def cells(self, w: World) -> Cells:
        """``w`` cut into cells: each LU's parts as the composed search splits them (without
        the hosts' requests, which are cells of their own here), then the rest."""
        out: list[Hashable] = []
        for part in self.split.split_lus(w):
            out += [*part.controllers, part.blocks, part.row, part.path, part.jobs]
            out += [part.acked, part.writes, part.reads, part.designated]
        out += [*w.hosts, *w.pairs, (w.budget, w.batches, w.backups, w.crashes), w.ghost.bad_read]
        return tuple(out)


def group_of(a: str, args: tuple[int, ...]) -> Hashable:
    """The group of a step not of a take-over: action ``a`` with ``args``."""
    if a in ("send_write", "send_read", "deliver", "process", "complete", "retry"):
        return ("host", args[0])
    if a in ("background_destage", "destage_done"):
        return ("destage", args[0], args[1])
    if a in ("designate", "designate_batch"):
        return ("designate",)
    if a in ("mirror_write", "resync_block", "resync_done"):
        return ("pair", args[0])
    return (a,)  # the backup's split, the crash


def groups(layout: Layout) -> list[Hashable]:
    """Every group of the array (looked up in every state, or when a cell it read changed)."""
    m = layout.m
    out: list[Hashable] = [("host", h) for h in range(layout.hosts)]
    out += [("destage", c, lu) for c in range(layout.controllers) for lu in range(layout.lus)]
    out += [("job", lu) for lu in range(layout.lus)] + [("designate",)]
    out += [("pair", i) for i in range(layout.pairs)]
    if m.scenario.backups:
        out.append(("split_pair",))
    if m.initial().crashes:
        out.append(("crash_recover",))
    return out


def footprint(layout: Layout, cells: Cells, group: Hashable) -> list[int]:
    """The cells ``group``'s steps read in the state ``cells``."""
    m, L = layout.m, layout
    assert isinstance(group, tuple)
    kind = group[0]
    if kind == "host":
        h = group[1]
        fp = [L.req(h)]
        r = cells[L.req(h)]
        spec = m.scenario.hosts[h]
        if r is None:
            return fp + [L.of("writes", lu) for lu in spec.writes] + [L.of("reads", lu) for lu in spec.reads]
        assert isinstance(r, Request)
        lu, at = r.lu, r.at
        if at == Where.PATH:
            route = spec.controller
            if not (m.scenario.topology == "direct" and route is not None):
                path = cells[L.of("path", lu)]
                assert isinstance(path, Path)
                route = path.route
            return [*fp, L.of("path", lu), L.ic(route, lu)]
        if at >= 0:
            fp += [L.ic(at, lu), L.of("blocks", lu)]
            i = m.pair_of[lu]
            if r.op is Op.WRITE:
                if i is not None:
                    sec = m.scenario.pairs[i].secondary
                    fp += [L.pair(i)] + [L.ic(c, sec) for c in range(L.controllers)]
                return fp
            fp += [L.bad, L.of("acked", lu)]
            writer = m.writer[lu]
            return fp + ([L.req(writer)] if writer is not None else [])
        if at == Where.REPLIED:
            return [*fp, L.of("acked", lu)]
        return fp
    if kind == "destage":
        return [L.ic(group[1], group[2]), L.of("blocks", group[2])]
    if kind in ("job", "pair"):
        lus = [group[1]] if kind == "job" else []
        i = m.pair_of[group[1]] if kind == "job" else group[1]
        fp = [L.pair(i)] if i is not None else []
        if i is not None:
            lus = [m.scenario.pairs[i].primary, m.scenario.pairs[i].secondary]
        return fp + [c for lu in lus for c in L.lu_cells(lu)]
    if kind == "designate":
        return [L.counter] + [L.of(k, lu) for lu in range(L.lus) for k in ("drow", "jobs", "designated")]
    return list(range(L.size))  # the backup's split and the crash read everything


# The kinds of cells each safety property reads.
PROPERTY_KINDS: dict[str, frozenset[str]] = {
    "single_active_controller": frozenset({"ic"}),
    "no_acknowledged_write_lost": frozenset({"ic", "blocks", "acked", "req"}),
    "reads_return_written_data": frozenset({"bad"}),
    "no_stale_cache": frozenset({"ic"}),
    "tables_agree": frozenset({"ic", "drow", "jobs"}),
    "rows_follow_designation": frozenset({"ic", "drow", "jobs", "designated"}),
    "path_routes_to_owner": frozenset({"ic", "path"}),
    "lun_map_well_formed": frozenset({"drow", "jobs"}),
}
PAIR_KINDS = frozenset({"pair", "ic", "blocks", "drow", "jobs"})


@dataclass
class Reuse:
    states: int = 0
    groups: int = 0
    lookups: int = 0
    incremental: int = 0
    misses: int = 0
    wrong: int = 0
    first_wrong: str = ""
    model_seconds: float = 0.0
    property_lookups: int = 0
    property_misses: int = 0
    property_seconds: float = 0.0
    seen: dict[Hashable, frozenset[Hashable]] = field(default_factory=dict)


def timed_steps(
    m: Model, L: Layout, w: World
) -> tuple[list[tuple[Hashable, Label, World]], dict[Hashable, float]]:
    """The steps of ``w`` (as ``Model.transitions`` finds them) with their groups, and the
    time each group's guards and effects took: what a miss of that group would cost the
    model (joining a World from the cells, which a miss needs too, is not counted)."""
    out: list[tuple[Hashable, Label, World]] = []
    spent: dict[Hashable, float] = {}

    def run(
        action: Action, instances: list[tuple[int, ...]], group: Callable[[tuple[int, ...]], Hashable]
    ) -> None:
        for args in instances:
            started = time.perf_counter()
            after = action.apply(m, w, *args)
            g = group(args)
            spent[g] = spent.get(g, 0.0) + time.perf_counter() - started
            if after is not None:
                out.append((g, describe(action, w, args), after))

    for action in ACTIONS:
        if action.per_job is None:
            started = time.perf_counter()
            instances = list(action.arguments(m, w))
            enumerating = time.perf_counter() - started
            run(action, instances, partial(group_of, action.name))
            for args in instances:  # the enumerator's time, shared by the instances it offered
                g = group_of(action.name, args)
                spent[g] += enumerating / len(instances)
    for k, job in enumerate(w.jobs):
        step = m.next_step(job)
        for action in ACTIONS:
            if action.per_job is not None and action.step is step:
                run(action, list(action.per_job(m, w, k)), partial(_job_group, job.lu))
    return out, spent


def _job_group(lu: int, args: tuple[int, ...]) -> Hashable:
    return ("job", lu)


def measure(scenario: Scenario, limit: int) -> Reuse:
    """Every figure of ``scenario`` over its first ``limit`` states (the collector is
    off meanwhile: a collection in a timed call of a few microseconds would swamp it)."""
    gc.disable()
    try:
        return _measure(scenario, limit)
    finally:
        gc.enable()


def _measure(scenario: Scenario, limit: int) -> Reuse:
    m = Model(scenario)
    name = scenario.name
    L = Layout(m)
    all_groups = groups(L)
    props = [
        (p, [i for i in range(L.size) if L.kind[i] in PROPERTY_KINDS.get(p.name, PAIR_KINDS)]) for p in SAFETY
    ]
    prop_cells = [frozenset(cells) for _, cells in props]
    prop_seen: set[Hashable] = set()
    r = Reuse(groups=len(all_groups))
    first = m.initial()
    seen = {first}
    queue: list[tuple[World, frozenset[int] | None, dict[Hashable, frozenset[int]]]] = [(first, None, {})]
    head = 0
    while head < len(queue) and head < limit:
        w, changed, parent_fps = queue[head]
        head += 1
        cells = L.cells(w)
        steps, spent = timed_steps(m, L, w)
        found: dict[Hashable, set[Hashable]] = {g: set() for g in all_groups}
        afters = []
        for g, label, after in steps:
            after_cells = L.cells(after)
            delta = tuple((i, v) for i, (u, v) in enumerate(zip(cells, after_cells, strict=True)) if u != v)
            found[g].add((label, delta))
            afters.append((after, frozenset(i for i, _ in delta)))
        fps: dict[Hashable, frozenset[int]] = {}
        for g in all_groups:
            fp = footprint(L, cells, g)
            fps[g] = frozenset(fp)
            key = (g, tuple(fp), tuple(cells[i] for i in fp))
            r.lookups += 1
            if changed is None or g not in parent_fps or parent_fps[g] & changed:
                r.incremental += 1
            result = frozenset(found[g])
            known = r.seen.get(key)
            if known is None:
                r.seen[key] = result
                r.misses += 1
                r.model_seconds += spent.get(g, 0.0)
            elif known != result:
                r.wrong += 1
                r.first_wrong = (
                    r.first_wrong
                    or f"{name}: group {g}, footprint {fp}: {sorted(map(str, known ^ result))[:2]}"
                )
        for (p, cells_of_p), cells_set in zip(props, prop_cells, strict=True):
            if changed is not None and not (cells_set & changed):
                continue
            r.property_lookups += 1
            prop_key = (p.name, tuple(cells[i] for i in cells_of_p))
            if prop_key not in prop_seen:
                prop_seen.add(prop_key)
                r.property_misses += 1
                started = time.perf_counter()
                p.check(m, w)
                r.property_seconds += time.perf_counter() - started
        for after, written in afters:
            if after not in seen:
                seen.add(after)
                queue.append((after, written, fps))
    r.states = head
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="SCENARIO", help=f"built-ins (default {', '.join(DEFAULT)})"
    )
    parser.add_argument("--max-states", type=int, default=100_000, help="states expanded (default 100,000)")
    args = parser.parse_args()
    names = args.names or list(DEFAULT)
    unknown = [n for n in names if n not in builtin_names()]
    if unknown:
        parser.error(f"no built-in scenario called {', '.join(unknown)}; known: {', '.join(builtin_names())}")
    if args.max_states < 1:
        parser.error("--max-states is at least 1")
    print(
        f"{'scenario':<12} {'states':>7} {'groups':>6} {'looked up':>9} {'misses':>7} {'wrong':>5} "
        f"{'µs/miss':>7} {'props looked up':>15} {'prop misses':>11} {'µs/prop miss':>12} "
        f"{'left µs/state':>13}"
    )
    for name in names:
        r = measure(builtin(name), args.max_states)
        n = r.states
        per_miss = r.model_seconds / max(1, r.misses) * 1e6
        per_prop = r.property_seconds / max(1, r.property_misses) * 1e6
        left = (r.misses * per_miss + r.property_misses * per_prop) / n
        print(
            f"{name:<12} {n:>7,} {r.groups:>6} {r.incremental / n:>9.2f} {r.misses / n:>7.3f} {r.wrong:>5} "
            f"{per_miss:>7.1f} {r.property_lookups / n:>15.2f} {r.property_misses / n:>11.3f} "
            f"{per_prop:>12.1f} {left:>13.1f}",
            flush=True,
        )
        if r.wrong:
            print(f"  wrong footprint: {r.first_wrong}")


if __name__ == "__main__":
    main()
