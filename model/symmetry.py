"""Symmetry: renaming interchangeable controllers, LUs and hosts maps runs of the model to runs.

In "any" mode no step names a particular controller, so every permutation of controllers
maps runs to runs; so does renaming LUs of the same size together with the hosts that use
them. Of those renamings the checker keeps the ones that leave the initial state as it is
(its stabilizer), a group that merges most of the states the whole group would, for fewer
renamings of each state: a renaming that moves the initial state maps reached states onto
states reached from another start, which the search meets only where the take-overs used
happen to bring the array to the same place (``three-way``: 35,492 states with the 2
renamings that fix its start, 34,584 with all 6, 70,745 with none). The explicit checker
stores one representative per orbit, the image with the smallest hash, a choice that is
sound for any function picking an orbit member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import permutations, product
from math import factorial, prod
from typing import NamedTuple

from model.scenario import Scenario
from model.state import (
    Address,
    BadRead,
    Controller,
    Destage,
    Disk,
    Ghost,
    Job,
    Line,
    Path,
    Request,
    Row,
    World,
)

# The most permutations a search renames every state by: beyond this (8 interchangeable
# controllers) listing the group alone takes longer than any search it could shorten.
MAX_GROUP = factorial(8)


class Renaming(NamedTuple):
    """Controller ``c`` becomes ``controllers[c]``, LU ``l`` ``lus[l]``, host ``h`` ``hosts[h]``."""

    controllers: tuple[int, ...]
    lus: tuple[int, ...]
    hosts: tuple[int, ...]


class TooManySymmetries(ValueError):
    """The scenario has more symmetries than a search could rename every state by."""


def _lu_classes(s: Scenario) -> list[list[int]]:
    """LUs that could be renamed as one another: same size, port and external LUN, and
    used alike (by as many writers and readers). Scripted batches name LUs, and pairs tie
    an LU to its mirror: no LU is renamed there."""
    if s.mode != "any" or s.pairs or s.backups:
        return [[spec.lu] for spec in s.lus]
    classes: dict[tuple[object, ...], list[int]] = {}
    for spec in s.lus:
        writers = sum(spec.lu in h.writes for h in s.hosts)
        readers = sum(spec.lu in h.reads for h in s.hosts)
        classes.setdefault((spec.blocks, spec.port, spec.ext_lun, writers, readers), []).append(spec.lu)
    return list(classes.values())


def _host_map(s: Scenario, lm: tuple[int, ...]) -> tuple[int, ...] | None:
    """The hosts renamed along with the LUs: host ``h`` becomes the host that uses the
    images of ``h``'s LUs the same way; None if some host has no such partner."""
    usage = [(frozenset(h.writes), frozenset(h.reads)) for h in s.hosts]
    hm: list[int] = []
    for writes, reads in usage:
        image = (frozenset(lm[lu] for lu in writes), frozenset(lm[lu] for lu in reads))
        target = next((t for t, use in enumerate(usage) if use == image and t not in hm), None)
        if target is None:
            return None
        hm.append(target)
    return tuple(hm)


def _lu_candidates(s: Scenario) -> int:
    return prod(factorial(len(cls)) for cls in _lu_classes(s))


def _forced_controllers(s: Scenario, lm: tuple[int, ...], hm: tuple[int, ...]) -> dict[int, int] | None:
    """The controller map that LU map ``lm`` forces on the initial state: each controller an
    LU starts on (or defaults to) becomes the one its image starts on (defaults to). None if
    no controller map fixes the start: two images for one controller, one for two, a
    renaming of controllers in a scenario that names them, or a host cabled elsewhere."""
    forced: dict[int, int] = {}
    for spec in s.lus:
        target = s.lus[lm[spec.lu]]
        for old, new in ((spec.controller, target.controller), (spec.default, target.default)):
            if forced.setdefault(old, new) != new:
                return None
    if len(set(forced.values())) != len(forced):
        return None
    if not s.symmetric_controllers and any(old != new for old, new in forced.items()):
        return None
    if s.topology == "direct" and any(
        h.controller is not None and forced.get(h.controller, h.controller) != s.hosts[hm[i]].controller
        for i, h in enumerate(s.hosts)
    ):
        return None
    return forced


def _lu_renamings(s: Scenario) -> Iterator[tuple[tuple[int, ...], tuple[int, ...], dict[int, int]]]:
    """Each LU map (with its host map) that can fix the initial state, and the controller
    map it forces."""
    classes = _lu_classes(s)
    for choice in product(*(permutations(cls) for cls in classes)):
        lm = [0] * len(s.lus)
        for cls, image in zip(classes, choice, strict=True):
            for old, new in zip(cls, image, strict=True):
                lm[old] = new
        hm = _host_map(s, tuple(lm))
        forced = None if hm is None else _forced_controllers(s, tuple(lm), hm)
        if hm is not None and forced is not None:
            yield tuple(lm), hm, forced


def _free_controllers(s: Scenario) -> list[int]:
    """Controllers no LU starts on or defaults to: interchangeable among themselves."""
    if not s.symmetric_controllers:
        return []
    held = {spec.controller for spec in s.lus} | {spec.default for spec in s.lus}
    held |= {h.controller for h in s.hosts if h.controller is not None}
    return [c for c in range(s.controllers) if c not in held]


def group_size(s: Scenario) -> int:
    """How many symmetries ``symmetries`` would list (the identity counts), computed
    without listing the controllers' part; 0 when even the LUs' part has too many
    candidates to go through (more than ``MAX_GROUP``: too many to count, or to use)."""
    if _lu_candidates(s) > MAX_GROUP:
        return 0
    return sum(1 for _ in _lu_renamings(s)) * factorial(len(_free_controllers(s)))


def describe_size(size: int) -> str:
    """A ``group_size`` in words: "3,628,800", or "more than 40,320" for one too large to count."""
    return f"more than {MAX_GROUP:,}" if size == 0 else f"{size:,}"


def symmetries(s: Scenario) -> list[Renaming]:
    """Every renaming that maps runs to runs and the initial state to itself, identity first."""
    size = group_size(s)
    if size == 0 or size > MAX_GROUP:
        raise TooManySymmetries(
            f"{describe_size(size)} symmetries are too many to list (at most {MAX_GROUP:,})"
        )
    free = _free_controllers(s)
    found: list[Renaming] = []
    for lm, hm, forced in _lu_renamings(s):
        for image in permutations(free):
            cm = list(range(s.controllers))
            for old, new in (*forced.items(), *zip(free, image, strict=True)):
                cm[old] = new
            found.append(Renaming(tuple(cm), lm, hm))
    found.sort(key=lambda r: r != _identity(s))  # stable: the identity first
    return found


def _identity(s: Scenario) -> Renaming:
    return Renaming(tuple(range(s.controllers)), tuple(range(len(s.lus))), tuple(range(len(s.hosts))))


_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__: this is hot


class _Renamer:
    """Renames worlds by one renaming, remembering the records it renamed: a state differs
    from the states before it in a record or two, so most records of a world have been
    renamed before, and looking one up costs a hash where renaming it builds tuples."""

    LIMIT = 1 << 16  # records remembered per kind before the memory is cleared

    def __init__(self, r: Renaming) -> None:
        self.r = r
        lm = r.lus
        self.inverse_lu = [0] * len(lm)
        for old, new in enumerate(lm):
            self.inverse_lu[new] = old
        self.identity_lu = self.inverse_lu == sorted(self.inverse_lu)
        self.rows: dict[Row, Row] = {}
        self.controllers: dict[Controller, Controller] = {}
        self.parts: dict[tuple[object, ...], object] = {}  # (kind, record) -> renamed record

    def row(self, x: Row) -> Row:
        mapped = self.rows.get(x)
        if mapped is None:
            cm = self.r.controllers
            mapped = self.rows[x] = _new(Row, (x[0], x[1], cm[x[2]], cm[x[3]]))
        return mapped

    def per_lu(self, items: tuple) -> tuple:  # type: ignore[type-arg]
        return tuple([items[old] for old in self.inverse_lu])

    def controller(self, ctl: Controller) -> Controller:
        mapped = self.controllers.get(ctl)
        if mapped is not None:
            return mapped
        lm = self.r.lus
        if self.identity_lu:
            active, write_through, cache, destaging = ctl.active, ctl.write_through, ctl.cache, ctl.destaging
        else:
            active = tuple(sorted([lm[lu] for lu in ctl.active]))
            write_through = tuple(sorted([lm[lu] for lu in ctl.write_through]))
            cache = tuple(sorted([_new(Line, (lm[x[0]], x[1], x[2], x[3])) for x in ctl.cache]))
            destaging = tuple(sorted([_new(Destage, (lm[x[0]], x[1], x[2])) for x in ctl.destaging]))
        table = tuple([self.row(ctl.table[old]) for old in self.inverse_lu])
        mapped = _new(Controller, (active, write_through, cache, table, destaging))
        if len(self.controllers) >= self.LIMIT:
            self.controllers.clear()
        self.controllers[ctl] = mapped
        return mapped

    def memo(self, kind: str, record: object, rename: Callable[[object], object]) -> object:
        key = (kind, record)
        mapped = self.parts.get(key)
        if mapped is None:
            if len(self.parts) >= self.LIMIT:
                self.parts.clear()
            mapped = self.parts[key] = rename(record)
        return mapped

    def hosts(self, hosts: tuple[Request | None, ...]) -> tuple[Request | None, ...]:
        # A request's ``at`` (x[4]) is a controller number when >= 0 (``in_inbox``), else a
        # ``Where`` place, which no renaming moves.
        cm, lm, hm = self.r
        renamed: list[Request | None] = list(hosts)
        for h, x in enumerate(hosts):
            renamed[hm[h]] = (
                None
                if x is None
                else _new(Request, (x[0], lm[x[1]], x[2], x[3], cm[x[4]] if x[4] >= 0 else x[4]))
            )
        return tuple(renamed)

    def jobs(self, jobs: tuple[Job, ...]) -> tuple[Job, ...]:
        cm, lm, _ = self.r
        renamed = [_new(Job, (lm[j[0]], cm[j[1]], cm[j[2]], j[3], j[4], j[5], j[6])) for j in jobs]
        if not self.identity_lu:
            renamed.sort(key=lambda j: j.lu)  # stable: jobs of one LU keep their designation order
        return tuple(renamed)

    def ghost(self, ghost: Ghost) -> Ghost:
        cm, lm, _ = self.r
        bad = ghost.bad_read
        if bad is not None:
            bad = _new(BadRead, (lm[bad.lu], bad.block, bad.value, cm[bad.controller]))
        # The designated addresses name controllers, so every renaming rebuilds the ghost.
        designated = tuple([_new(Address, (cm[a[0]], a[1], a[2])) for a in self.per_lu(ghost.designated)])
        if self.identity_lu:
            return _new(Ghost, (ghost.acked, ghost.writes, ghost.reads, bad, designated))
        per_lu = self.per_lu
        return _new(Ghost, (per_lu(ghost.acked), per_lu(ghost.writes), per_lu(ghost.reads), bad, designated))

    def disk(self, disk: Disk) -> Disk:
        blocks = disk.blocks if self.identity_lu else self.per_lu(disk.blocks)
        return _new(Disk, (blocks, tuple([self.row(disk.table[old]) for old in self.inverse_lu])))

    def paths(self, paths: tuple[Path, ...]) -> tuple[Path, ...]:
        cm = self.r.controllers
        return tuple([_new(Path, (cm[paths[old][0]], paths[old][1])) for old in self.inverse_lu])

    def __call__(self, w: World) -> World:
        cm = self.r.controllers
        controllers: list[Controller] = list(w.controllers)
        for c, ctl in enumerate(w.controllers):
            controllers[cm[c]] = self.controller(ctl)
        memo = self.memo
        # Scenarios with mirrored pairs rename no LU (pairs name their LUs), so the pair
        # records pass through unchanged.
        world = (
            tuple(controllers),
            memo("disk", w.disk, self.disk),  # type: ignore[arg-type]
            memo("paths", w.paths, self.paths),  # type: ignore[arg-type]
            memo("hosts", w.hosts, self.hosts),  # type: ignore[arg-type]
            memo("jobs", w.jobs, self.jobs) if w.jobs else (),  # type: ignore[arg-type]
            w.budget,
            w.batches,
            memo("ghost", w.ghost, self.ghost),  # type: ignore[arg-type]
            w.pairs,
            w.backups,
            w.crashes,
        )
        return _new(World, world)


def permute(w: World, r: Renaming) -> World:
    """``w`` with every controller, LU and host renamed by ``r``."""
    return _Renamer(r)(w)


def renamers(s: Scenario) -> list[Callable[[World], World]]:
    """One function per symmetry of the scenario but the identity, each renaming worlds."""
    return [_Renamer(r) for r in symmetries(s)[1:]]


def lazy_renamers(s: Scenario) -> list[Callable[[World], World]]:
    """As ``renamers``, each building its renaming when called: for the few worlds liveness
    renames (a run to a dead end), where a large group's renamers would cost memory."""
    return [partial(permute, r=r) for r in symmetries(s)[1:]]


def canonical_among(renamers: Sequence[Callable[[World], World]]) -> Callable[[World], World] | None:
    """The representative function for a group of renamings (the identity left out): the
    image with the smallest hash; None for the group of the identity alone."""
    return _least_hash(renamers, lambda w: w) if renamers else None


def _least_hash(
    renamers: Sequence[Callable[[World], World]], then: Callable[[World], World]
) -> Callable[[World], World]:
    """The function taking a world to the image of smallest hash among ``then`` of it and
    ``then`` of each of its renamings."""

    def canonical(w: World) -> World:
        best = then(w)
        best_hash = hash(best)
        for rename in renamers:
            image = then(rename(w))
            h = hash(image)
            if h < best_hash:
                best, best_hash = image, h
        return best

    return canonical


# From this many interchangeable free controllers on, the representative sorts them instead of
# trying each of their permutations (two: one renaming against the sorting's own work).
SORT_FREE_FROM = 3


def renamings_per_state(s: Scenario, size: int) -> int:
    """How many renamings the representative function tries per state (about), for the
    scenario's ``group_size``: the whole group, or, where it sorts the free controllers, the
    LU renamings alone (the group is those times the free controllers' permutations)."""
    free = len(_free_controllers(s))
    return size // factorial(free) if free >= SORT_FREE_FROM else size


def canonicalizer(s: Scenario) -> Callable[[World], World] | None:
    """The representative function for the scenario's symmetries, or None if it has none:
    the image of smallest hash over the group, the free controllers sorted (``_FreeSorter``)
    where there are ``SORT_FREE_FROM`` or more of them."""
    free = _free_controllers(s)
    if len(free) < SORT_FREE_FROM:
        return canonical_among(renamers(s))
    lu_renamers = [
        _Renamer(Renaming(tuple(forced.get(c, c) for c in range(s.controllers)), lm, hm))
        for lm, hm, forced in _lu_renamings(s)
    ][1:]  # the identity first (``_lu_renamings`` lists it first), left out
    return _least_hash(lu_renamers, _FreeSorter(s, free))


class _FreeSorter:
    """The representative of a world under the permutations of the free controllers (those no
    LU starts on or defaults to), found by sorting them instead of trying each permutation.

    Each free controller gets a signature that no permutation of free controllers changes:
    its record and every reference to it, with free controller numbers written as -1 (itself)
    or -2 (another). Sorting by signature puts the world's free controllers in an order that
    depends on the orbit only, up to ties; the world renamed so, tie by tie in every order,
    gives a set of images that depends on the orbit only, and the one of smallest hash is the
    representative. A tie of pristine controllers (identical records referring to no free
    controller, referred to by nothing) is one image whatever the order, so it costs one."""

    def __init__(self, s: Scenario, free: list[int]) -> None:
        self.free = free
        self.is_free = [c in free for c in range(s.controllers)]
        self.controllers = s.controllers
        self.same_lus, self.same_hosts = tuple(range(len(s.lus))), tuple(range(len(s.hosts)))
        self.renamers: dict[tuple[int, ...], _Renamer] = {}

    def _mark(self, d: int, c: int) -> int:
        return -1 if d == c else (-2 if self.is_free[d] else d)

    def signature(self, w: World, c: int) -> tuple[object, ...]:
        ctl = w.controllers[c]
        mark = self._mark
        rows = tuple([(r[0], r[1], mark(r[2], c), mark(r[3], c)) for r in ctl.table])
        referred = (
            tuple([lu for lu, p in enumerate(w.paths) if p[0] == c]),
            tuple([h for h, r in enumerate(w.hosts) if r is not None and r[4] == c]),
            tuple([(k, j[1] == c, j[2] == c) for k, j in enumerate(w.jobs) if c in (j[1], j[2])]),
            tuple([(lu, r[2] == c, r[3] == c) for lu, r in enumerate(w.disk.table) if c in (r[2], r[3])]),
            tuple(
                [
                    (d, lu, r[2] == c, r[3] == c)
                    for d, other in enumerate(w.controllers)
                    if not self.is_free[d]
                    for lu, r in enumerate(other.table)
                    if c in (r[2], r[3])
                ]
            ),
            tuple([lu for lu, a in enumerate(w.ghost.designated) if a[0] == c]),
            w.ghost.bad_read is not None and w.ghost.bad_read[3] == c,
        )
        return (ctl.active, ctl.write_through, ctl.cache, rows, ctl.destaging, referred)

    @staticmethod
    def _pristine(signature: tuple[object, ...]) -> bool:
        """Referred to by nothing but (perhaps) tables, and its own table naming no free
        controller: the caller checks the tables."""
        referred, rows = signature[-1], signature[3]
        assert isinstance(referred, tuple) and isinstance(rows, tuple)
        return not any(referred) and all(r[2] >= 0 and r[3] >= 0 for r in rows)

    def _renamer(self, cm: tuple[int, ...]) -> _Renamer:
        rename = self.renamers.get(cm)
        if rename is None:
            if len(self.renamers) >= 256:  # each remembers records: keep a few hundred at most
                self.renamers.clear()
            rename = self.renamers[cm] = _Renamer(Renaming(cm, self.same_lus, self.same_hosts))
        return rename

    def __call__(self, w: World) -> World:
        free, is_free = self.free, self.is_free
        signatures = {c: self.signature(w, c) for c in free}
        # Free controllers named in some controller's table: not pristine.
        named = {d for ctl in w.controllers for r in ctl.table for d in (r[2], r[3]) if is_free[d]}
        order = sorted(free, key=lambda c: hash(signatures[c]))
        ties: list[list[int]] = []
        for c in order:
            if ties and signatures[ties[-1][0]] == signatures[c]:
                ties[-1].append(c)
            else:
                ties.append([c])
        choices: list[Iterable[tuple[int, ...]]] = []
        for tie in ties:
            if len(tie) == 1 or all(self._pristine(signatures[c]) and c not in named for c in tie):
                choices.append([tuple(tie)])
            else:
                choices.append(permutations(tie))
        best: World | None = None
        best_hash = 0
        for arrangement in product(*choices):
            cm = list(range(self.controllers))
            for slot, c in zip(free, (c for part in arrangement for c in part), strict=True):
                cm[c] = slot
            image = self._renamer(tuple(cm))(w)
            h = hash(image)
            if best is None or h < best_hash:
                best, best_hash = image, h
        assert best is not None  # every tie has at least one order
        return best
