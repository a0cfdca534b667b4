"""Safety properties of both embodiments: predicates that must hold in every reachable state.

Each returns None when it holds, or a sentence naming the LU, block and controllers
involved. Compound properties are split so a failure names the part that broke.
The order of ``SAFETY`` is the order a state is checked in, so it decides which property
a state breaking several is reported under: the most fundamental come first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from model.actions import Model
from model.state import (
    Op,
    PairState,
    Row,
    World,
    admissible_values,
    holders,
    jobs_for,
    owner,
    visible_value,
)


@dataclass(frozen=True)
class Property:
    name: str
    description: str
    check: Callable[[Model, World], str | None]


def single_active_controller(m: Model, w: World) -> str | None:
    """No LU is ever in the charge of two controllers at once."""
    for lu, active in enumerate(holders(w, m.lus)):
        if len(active) > 1:
            return f"LU{lu} is in the charge of controllers {active} at once"
    return None


def no_acknowledged_write_lost(m: Model, w: World) -> str | None:
    """Every block, as seen through the LU's controller (its cache, else the disk), holds
    the last acknowledged write or the write now in flight to it."""
    for lu, active in enumerate(holders(w, m.lus)):
        if _is_secondary(m, lu):
            continue  # a mirror holds the primary's writes, not its own: see the pair properties
        owners: list[int | None] = list(active) or [None]
        if m.blocks[lu] > _LARGE_LU and all(_reads_acked(m, w, lu, c) for c in owners):
            continue
        for block in range(m.blocks[lu]):
            allowed = admissible_values(w, m.writer[lu], lu, block)
            for c in owners:
                value = visible_value(w, c, lu, block)
                if value not in allowed:
                    through = f"controller {c}" if c is not None else "the disk (no controller in charge)"
                    return (
                        f"LU{lu} block {block} reads {value} through {through}, but the last "
                        f"acknowledged write there was {w.ghost.acked[lu][block]}"
                    )
    return None


# An LU larger than the engines take (an array served to real clients, a validated log of
# it) is first compared whole, in one pass over the cache; block by block only if it fails.
_LARGE_LU = 64


def _reads_acked(m: Model, w: World, lu: int, c: int | None) -> bool:
    """Whether every block of ``lu`` read through controller ``c`` (its cache, else the
    disk) holds its last acknowledged write or the write in flight to it."""
    visible = list(w.disk.blocks[lu])
    if c is not None:
        for line in w.controllers[c].cache:
            if line.lu == lu:
                visible[line.block] = line.value
    acked = w.ghost.acked[lu]
    writer = m.writer[lu]
    pending = w.hosts[writer] if writer is not None else None
    in_flight = pending is not None and pending.op is Op.WRITE and pending.lu == lu
    if in_flight and pending is not None and visible[pending.block] == pending.value:
        visible[pending.block] = acked[pending.block]
    return visible == list(acked)


def reads_return_written_data(m: Model, w: World) -> str | None:
    """Every read returns the last acknowledged write or the write in flight to the block."""
    bad = w.ghost.bad_read
    if bad is not None:
        return (
            f"a read of LU{bad.lu} block {bad.block} through controller {bad.controller} returned "
            f"{bad.value}, a value no write had acknowledged or was writing"
        )
    return None


def no_stale_cache(m: Model, w: World) -> str | None:
    """A controller holds cache lines only of LUs it is in charge of: the source purges
    before it stops (804), so a controller taking an LU (back) finds no old lines."""
    for c, ctl in enumerate(w.controllers):
        for line in ctl.cache:
            if line.lu not in ctl.active:
                state = "dirty" if line.dirty else "clean"
                return (
                    f"controller {c} holds a {state} line of LU{line.lu} block {line.block} "
                    f"(value {line.value}) but is not in charge of LU{line.lu}"
                )
    return None


def tables_agree(m: Model, w: World) -> str | None:
    """Outside a take-over of an LU, every controller's row of it equals the disk's copy."""
    # A controller whose whole table equals the disk's has no row to blame: one comparison
    # of tuples, where an array of a thousand LUs took milliseconds row by row.
    differing = [(c, ctl) for c, ctl in enumerate(w.controllers) if ctl.table != w.disk.table]
    if not differing:
        return None
    moving = {job.lu for job in w.jobs}
    for lu in range(m.lus):
        if lu in moving:
            continue
        on_disk = w.disk.table[lu]
        for c, ctl in differing:
            if ctl.table[lu] != on_disk:
                return (
                    f"controller {c}'s row of LU{lu} is {_row(ctl.table[lu])} but the disk's "
                    f"copy is {_row(on_disk)}"
                )
    return None


def rows_follow_designation(m: Model, w: World) -> str | None:
    """Outside a take-over of an LU, the disk's row of it names the controller in charge as
    current, and its port and external LUN are those Step 801 designated."""
    # tables_agree compares the tables with the disk's row, not the row with what it should
    # say: a Step 803 writing the old port everywhere passes it, and lun_map_well_formed too.
    held = holders(w, m.lus)
    moving = {job.lu for job in w.jobs}
    for lu in range(m.lus):
        if lu in moving:
            continue
        row, designated = w.disk.table[lu], w.ghost.designated[lu]
        if (row.current, row.port, row.ext_lun) != designated:
            return (
                f"the disk's row of LU{lu} is {_row(row)}, but Step 801 designated controller "
                f"{designated.controller}, port {designated.port}, external LUN {designated.ext_lun}"
            )
        active = held[lu]
        if active != [row.current]:
            if not active:
                in_charge = "no controller is"
            elif len(active) == 1:
                in_charge = f"controller {active[0]} is"
            else:
                in_charge = f"controllers {active} are"
            return (
                f"the disk's row of LU{lu} names controller {row.current} as current, but "
                f"{in_charge} in charge of it"
            )
    return None


def path_routes_to_owner(m: Model, w: World) -> str | None:
    """While an LU's path is not suspended, its frames go to the controller in charge."""
    held = holders(w, len(w.paths))
    for lu, path in enumerate(w.paths):
        if path.suspended:
            continue
        active = held[lu]
        if path.route not in active:
            owner = f"controller {active[0]}" if active else "no controller"
            return (
                f"LU{lu}'s frames go to controller {path.route}, but {owner} is in charge "
                "and the path is not suspended"
            )
    return None


def lun_map_well_formed(m: Model, w: World) -> str | None:
    """No two LUs share a (controller, port, external LUN) in the disk's table, and when
    no take-over is in progress every port presents external LUNs 0..n-1 with no gap."""
    # Written out here, not asked of model.scenario.lun_map_problem: Step 801's guard and the
    # scenario loader ask that function, and a bug in it must not blind the property too.
    on_port: dict[tuple[int, int], dict[int, int]] = {}  # (controller, port) -> ext LUN -> LU
    for lu, row in enumerate(w.disk.table):
        luns = on_port.setdefault((row.current, row.port), {})
        if row.ext_lun in luns:
            return (
                f"LU{luns[row.ext_lun]} and LU{lu} are both external LUN {row.ext_lun} on port "
                f"{row.port} of controller {row.current}"
            )
        luns[row.ext_lun] = lu
    if w.jobs:
        return None  # a port may have a gap while its LUs are on their way
    for (c, port), luns in sorted(on_port.items()):
        if any(n not in luns for n in range(len(luns))):
            shown = sorted(luns)
            return f"port {port} of controller {c} presents external LUNs {shown}, not 0..n-1 without a gap"
    return None


# --- embodiment 2: mirrored pairs and the backup cycle ----------------------------------------


def _is_secondary(m: Model, lu: int) -> bool:
    i = m.pair_of[lu]
    return i is not None and m.scenario.pairs[i].secondary == lu


def _mirror_differences(m: Model, w: World, i: int) -> list[tuple[int, int, int]]:
    """(block, primary's value, mirror's value) wherever pair ``i``'s mirror differs, each
    seen through its controller in charge (the disk when none is). A mirror write under way
    counts as done: the host's reply waits for it, and nothing can overtake it."""
    spec = m.scenario.pairs[i]
    mirror = w.pairs[i].mirror
    out = []
    for block in range(m.blocks[spec.primary]):
        p = visible_value(w, owner(w, spec.primary), spec.primary, block)
        q = visible_value(w, owner(w, spec.secondary), spec.secondary, block)
        if mirror is not None and mirror.block == block:
            q = mirror.value
        if p != q:
            out.append((block, p, q))
    return out


def backup_is_point_in_time(m: Model, w: World) -> str | None:
    """Every block on tape is the primary's block at the moment of the split, and once
    re-synchronization is asked for, every block is on tape."""
    for i, pair in enumerate(w.pairs):
        for block, value in enumerate(pair.tape):
            if value != pair.snapshot[block]:
                return (
                    f"the backup of pair {i} holds {value} for block {block}, but the primary held "
                    f"{pair.snapshot[block]} when the pair was split"
                )
        secondary = m.scenario.pairs[i].secondary
        if pair.snapshot and pair.state is not PairState.SPLIT and len(pair.tape) < m.blocks[secondary]:
            return (
                f"pair {i} is {pair.state.name.lower()} again with {len(pair.tape)} of "
                f"{m.blocks[secondary]} blocks on tape: the backup is incomplete"
            )
    return None


def mirror_differs_only_where_tracked(m: Model, w: World) -> str | None:
    """While a pair is split or re-synchronizing, every block where secondary and primary
    differ is in the difference information (nothing writes the mirror untracked)."""
    for i, pair in enumerate(w.pairs):
        if pair.state is PairState.PAIRED:
            continue
        spec = m.scenario.pairs[i]
        for block, p, q in _mirror_differences(m, w, i):
            if block not in pair.diff:
                return (
                    f"pair {i} block {block}: primary LU{spec.primary} holds {p}, mirror "
                    f"LU{spec.secondary} holds {q}, and the difference information does not say so"
                )
    return None


def resync_restores_mirror(m: Model, w: World) -> str | None:
    """A paired secondary equals its primary block for block."""
    for i, pair in enumerate(w.pairs):
        if pair.state is not PairState.PAIRED:
            continue
        spec = m.scenario.pairs[i]
        for block, p, q in _mirror_differences(m, w, i)[:1]:
            return (
                f"pair {i} is paired but block {block} differs: primary LU{spec.primary} "
                f"holds {p}, mirror LU{spec.secondary} holds {q}"
            )
    return None


def control_returns_home(m: Model, w: World) -> str | None:
    """After a backup cycle the secondary's default and current controller numbers are
    those before it (Fig. 9A restored)."""
    for i, pair in enumerate(w.pairs):
        secondary = m.scenario.pairs[i].secondary
        home = pair.home
        if home is None or jobs_for(w, secondary):
            continue
        row = w.disk.table[secondary]
        if (row.default, row.current) != (home.default, home.current):
            return (
                f"after the backup of pair {i}, LU{secondary} has default controller {row.default} "
                f"and current controller {row.current}; before it they were {home.default} and {home.current}"
            )
    return None


def _row(r: Row) -> str:
    return f"(port {r.port}, external LUN {r.ext_lun}, default {r.default}, current {r.current})"


def first_broken(m: Model, w: World) -> tuple[str, str] | None:
    """(name, sentence) of the first property of ``SAFETY`` that ``w`` breaks, or None."""
    for p in SAFETY:
        message = p.check(m, w)
        if message is not None:
            return p.name, message
    return None


SAFETY: tuple[Property, ...] = tuple(
    Property(fn.__name__, " ".join((fn.__doc__ or "").split()), fn)
    for fn in (
        single_active_controller,
        no_acknowledged_write_lost,
        reads_return_written_data,
        no_stale_cache,
        path_routes_to_owner,
        backup_is_point_in_time,
        mirror_differs_only_where_tracked,
        resync_restores_mirror,
        control_returns_home,
        tables_agree,
        rows_follow_designation,
        lun_map_well_formed,
    )
)
