"""Symmetry: renaming interchangeable controllers and LUs maps runs of the model to runs.

In "any" mode no step names a particular controller, so every permutation of controllers
is a symmetry; LUs with the same blocks, writer and readers are interchangeable too. The
explicit checker stores one representative per orbit: the image with the smallest hash,
a choice that is sound for any function picking an orbit member.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations, product
from math import factorial, prod

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


def group_size(s: Scenario) -> int:
    """How many symmetries ``permutation_group`` would list, computed without listing them."""
    controllers = factorial(s.controllers) if s.symmetric_controllers else 1
    return controllers * prod(factorial(len(cls)) for cls in s.lu_classes())


def permutation_group(s: Scenario) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every (controller map, LU map) pair that is a symmetry of the scenario, identity first."""
    if group_size(s) > MAX_GROUP:
        raise ValueError(f"{group_size(s):,} symmetries are too many to list (at most {MAX_GROUP:,})")
    controllers = range(s.controllers)
    controller_maps = list(permutations(controllers)) if s.symmetric_controllers else [tuple(controllers)]
    lu_maps = []
    for choice in product(*(permutations(cls) for cls in s.lu_classes())):
        lu_map = [0] * len(s.lus)
        for cls, image in zip(s.lu_classes(), choice, strict=True):
            for old, new in zip(cls, image, strict=True):
                lu_map[old] = new
        lu_maps.append(tuple(lu_map))
    return [(cm, lm) for cm in controller_maps for lm in lu_maps]


_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__: this is hot


def permute(w: World, cm: tuple[int, ...], lm: tuple[int, ...]) -> World:
    """``w`` with controller ``c`` renamed ``cm[c]`` and LU ``l`` renamed ``lm[l]``."""
    inverse_lu = [0] * len(lm)
    for old, new in enumerate(lm):
        inverse_lu[new] = old
    rows: dict[Row, Row] = {}

    def row(r: Row) -> Row:
        mapped = rows.get(r)
        if mapped is None:
            mapped = rows[r] = _new(Row, (r[0], r[1], cm[r[2]], cm[r[3]]))
        return mapped

    def per_lu(items: tuple) -> tuple:  # type: ignore[type-arg]
        return tuple([items[old] for old in inverse_lu])

    identity_lu = inverse_lu == sorted(inverse_lu)
    controllers: list[Controller] = list(w.controllers)
    for c, ctl in enumerate(w.controllers):
        if identity_lu:
            active, write_through, cache, destaging = ctl.active, ctl.write_through, ctl.cache, ctl.destaging
        else:
            active = tuple(sorted([lm[lu] for lu in ctl.active]))
            write_through = tuple(sorted([lm[lu] for lu in ctl.write_through]))
            cache = tuple(sorted([_new(Line, (lm[x[0]], x[1], x[2], x[3])) for x in ctl.cache]))
            destaging = tuple(sorted([_new(Destage, (lm[x[0]], x[1], x[2])) for x in ctl.destaging]))
        table = tuple([row(ctl.table[old]) for old in inverse_lu])
        controllers[cm[c]] = _new(Controller, (active, write_through, cache, table, destaging))
    # A request's ``at`` (r[4]) is a controller number when >= 0 (``in_inbox``), else a
    # ``Where`` place, which no renaming moves.
    hosts = tuple(
        [
            None
            if r is None
            else _new(Request, (r[0], lm[r[1]], r[2], r[3], cm[r[4]] if r[4] >= 0 else r[4]))
            for r in w.hosts
        ]
    )
    jobs = [_new(Job, (lm[j[0]], cm[j[1]], cm[j[2]], j[3], j[4], j[5], j[6])) for j in w.jobs]
    if not identity_lu:
        jobs.sort(key=lambda j: j.lu)  # stable: jobs of one LU keep their designation order
    ghost = w.ghost
    bad = ghost.bad_read
    if bad is not None:
        bad = _new(BadRead, (lm[bad.lu], bad.block, bad.value, cm[bad.controller]))
    # The designated addresses name controllers, so every renaming rebuilds the ghost.
    designated = tuple([_new(Address, (cm[a[0]], a[1], a[2])) for a in per_lu(ghost.designated)])
    if identity_lu:
        ghost = _new(Ghost, (ghost.acked, ghost.writes, ghost.reads, bad, designated))
    else:
        ghost = _new(Ghost, (per_lu(ghost.acked), per_lu(ghost.writes), per_lu(ghost.reads), bad, designated))
    disk = w.disk
    disk = _new(
        Disk,
        (
            per_lu(disk.blocks) if not identity_lu else disk.blocks,
            tuple([row(disk.table[old]) for old in inverse_lu]),
        ),
    )
    paths = tuple([_new(Path, (cm[w.paths[old][0]], w.paths[old][1])) for old in inverse_lu])
    # Scenarios with mirrored pairs have no symmetries (pairs name their LUs), so the pair
    # records pass through unchanged.
    world = (
        tuple(controllers),
        disk,
        paths,
        hosts,
        tuple(jobs),
        w.budget,
        w.batches,
        ghost,
        w.pairs,
        w.backups,
        w.crashes,
    )
    return _new(World, world)


def canonicalizer(s: Scenario) -> Callable[[World], World] | None:
    """The representative function for the scenario's symmetries, or None if it has none."""
    group = permutation_group(s)[1:]  # without the identity
    if not group:
        return None

    def canonical(w: World) -> World:
        best, best_hash = w, hash(w)
        for cm, lm in group:
            image = permute(w, cm, lm)
            h = hash(image)
            if h < best_hash:
                best, best_hash = image, h
        return best

    return canonical
