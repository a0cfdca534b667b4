"""The composed search's engine: every state packed into one integer.

A composed state is Step 801's counter, the first wrong read and one record number per
group of LUs (``proofs.composed``). Packed into fields of one integer (``Packing``), a step
of one group is the addition of a number worked out once per record (``(new - old) << the
group's shift``). The states seen are bits: one bitmap over the first group's record numbers
per value of the other fields, exact (no fingerprint, no collision) at a few bytes per state where a set of
integers costs 70. The states in the order found, in an ``array("q")``, are at once the
breadth-first queue and, with one parent number per state, the record of every run.

What a step can break is judged once per record. A record whose every step keeps its group's
properties holding, its LUs' addresses and how many have a take-over under way (``QUIET``)
leads from a state where everything holds to states where everything holds, so each of its
steps costs an addition and a bit test; others take the long way (``arrive``). Liveness
needs the number of every state a step reaches, for the graph's edges: an index over the
states themselves then (``_Numbers``).

The engine visits the states, transitions and counterexamples of ``proofs.explicit.explore``
over ``Composition.successors``, in the same order (tests/test_packed.py checks the two
against each other). A record numbered beyond its field raises ``TooWide``, and the caller
searches again with wider fields.
"""

from __future__ import annotations

import gc
import time
from array import array
from collections.abc import Callable, Hashable, MutableSequence, Sequence
from itertools import pairwise

from proofs.composed import CRASH, HEAD, Composition, Designation, State
from proofs.explicit import FingerprintIndex, Invariant, Progress, Search, Violation, record_broken
from proofs.liveness import Graph, find_liveness_violations

QUIET, CHECKED, SPECIAL = 0, 1, 2  # a record's kind: see the module's docstring and _Tables.build
CONCURRENT = "concurrent_takeovers"  # the one witness of two LUs at once
BAD_BITS = 12  # the field of the first wrong read's number


class TooWide(Exception):
    """A record or a wrong read numbered beyond its field: search again with wider fields."""


class Packing:
    """Where each part of a composed state lies in its integer: the first group's record
    number in the lowest ``bits`` bits (so the states that differ in it alone share one
    bitmap of the states seen), then the counter (Step 801's count, the backups begun and
    the crashes left, in one number), the first wrong read's number plus one (in ``BAD_BITS``) and every other
    group's record number. Two groups at 16 bits fit in 63 bits, which an ``array("q")``
    holds in 8 bytes."""

    def __init__(self, records: int, counter_limit: int, bits: int) -> None:
        self.bits = bits
        self.mask = (1 << bits) - 1
        self.counter_shift = bits
        self.counter_mask = (1 << max(1, counter_limit.bit_length())) - 1
        self.bad_shift = self.counter_shift + max(1, counter_limit.bit_length())
        self.bad_mask = (1 << BAD_BITS) - 1
        self.shifts = [0] + [self.bad_shift + BAD_BITS + bits * g for g in range(records - 1)]
        self.width = self.shifts[-1] + bits if records > 1 else self.bad_shift + BAD_BITS

    def pack(self, state: State) -> int:
        if max(state[HEAD:]) > self.mask or state[1] + 1 > self.bad_mask:
            raise TooWide(f"a record number above {self.mask} or a wrong read above {self.bad_mask - 1}")
        key = state[0] << self.counter_shift | (state[1] + 1) << self.bad_shift
        for n, shift in zip(state[HEAD:], self.shifts, strict=True):
            key |= n << shift
        return key

    def unpack(self, key: int) -> State:
        mask = self.mask
        return (
            (key >> self.counter_shift) & self.counter_mask,
            ((key >> self.bad_shift) & self.bad_mask) - 1,
            *((key >> shift) & mask for shift in self.shifts),
        )


class _Numbers:
    """The number of each state seen, for 63-bit states: a ``FingerprintIndex`` over each
    state multiplied by an odd constant modulo 2**64 and folded (a one-to-one map, so the
    index stays exact) to spread the states over the index's slots, which it picks by the
    lowest bits: a state's own lowest bits are the first group's record, shared by thousands
    of states."""

    def __init__(self) -> None:
        self.spread = array("Q")
        self.index = FingerprintIndex(self.spread)

    def insert(self, key: int, n: int) -> int:
        """The number of state ``key`` if seen; else -1, and ``key`` is recorded as ``n``."""
        # Each step one to one on 64 bits. The product's low bits are the state's low bits',
        # so the state's high bits are brought down first (where only a high group's record
        # varies, the low bits would be alike), and the product's high bits after.
        fp = ((key ^ (key >> 32)) * _ODD) & _WORD
        fp ^= fp >> 32
        found = self.index.insert(fp, n)
        if found < 0:
            self.spread.append(fp)
        return found


_ODD = 0x9E3779B97F4A7C15  # 2**64 over the golden ratio, made odd
_WORD = (1 << 64) - 1


class _DictIndex:
    """``FingerprintIndex``'s interface over a dict, for states too wide for an array."""

    def __init__(self) -> None:
        self.number: dict[int, int] = {}

    def insert(self, key: int, n: int) -> int:
        """The number of state ``key`` if seen; else -1, and ``key`` is recorded as ``n``."""
        found = self.number.get(key)
        if found is not None:
            return found
        self.number[key] = n
        return -1


class _Tables:
    """Per record number, what the search needs of it, worked out once: the numbers its
    steps add to a state, their labels, its kind, and what the properties read of it."""

    def __init__(self, comp: Composition, packing: Packing, witnesses: Sequence[str]) -> None:
        self.comp, self.packing, self.witnesses = comp, packing, witnesses
        self.deltas: list[list[int] | None] = []
        self.labels: list[list[Hashable]] = []
        self.ids: list[list[int]] = []  # the labels' numbers (the liveness graph's edges carry them)
        self.label_ids: dict[Hashable, int] = {}
        self.kind: list[int] = []
        # Per record: its address number (what lun_map_well_formed reads of it) if its own
        # properties hold, else -1; and how many of its LUs have a take-over under way.
        self.address: list[int] = []
        self.moving: list[int] = []
        self.layout: list[int] = []  # the number of its disk row and jobs (Step 801 reads them)
        self._layouts: dict[tuple[object, ...], int] = {}
        self.grow()

    def grow(self) -> None:
        """Tables for the records the composition has numbered since the last call."""
        comp = self.comp
        if len(comp.parts) > self.packing.mask + 1 or len(comp.bad_reads) >= self.packing.bad_mask:
            raise TooWide(f"more than {self.packing.mask + 1} records of a group of LUs, or wrong reads")
        for n in range(len(self.address), len(comp.parts)):
            part = comp.parts[n]
            self.deltas.append(None)
            self.labels.append([])
            self.ids.append([])
            self.kind.append(SPECIAL)
            self.address.append(-1 if comp.broken(n) else comp.address[n])
            self.moving.append(comp.moving(part))
            self.layout.append(self._layouts.setdefault(comp.layout_of(part), len(self._layouts)))

    def label_id(self, label: Hashable) -> int:
        return self.label_ids.setdefault(label, len(self.label_ids))

    def build(self, n: int) -> list[int]:
        """Record ``n``'s steps, and its kind: SPECIAL if a step makes a wrong read or
        reaches a witness, QUIET if every step keeps the record's own properties holding,
        its address and whether a take-over is under way, CHECKED otherwise."""
        comp = self.comp
        moves = comp.moves(n)
        self.grow()
        shift = self.packing.shifts[comp.owner[n]]
        deltas = [(m - n) << shift for _, m, _ in moves]
        self.labels[n] = [label for label, _, _ in moves]
        self.ids[n] = [self.label_id(label) for label, _, _ in moves]
        address, moving = self.address, self.moving
        if any(bad >= 0 for _, _, bad in moves) or any(
            (n, label) in comp.reached.get(name, ()) for name in self.witnesses for label, _, _ in moves
        ):
            self.kind[n] = SPECIAL
        elif all(address[m] == address[n] >= 0 and moving[m] == moving[n] for _, m, _ in moves):
            self.kind[n] = QUIET
        else:
            self.kind[n] = CHECKED
        self.deltas[n] = deltas
        return deltas


def search_packed(
    comp: Composition,
    packing: Packing,
    invariants: Sequence[tuple[str, Invariant[State]]],
    witnesses: Sequence[str],
    liveness: bool = False,
    max_states: int | None = None,
    keep_going: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Search[State]:
    """Breadth-first search of the composed states, as ``explore`` over
    ``comp.successors`` with ``comp.all_hold`` and ``comp.pending`` (``liveness``) would.
    ``witnesses``: their names, each reached by a record's own step (``comp.reached``)
    but "concurrent_takeovers", reached where two LUs have a take-over under way."""
    started = time.monotonic()
    tables = _Tables(comp, packing, [name for name in witnesses if name != CONCURRENT])
    result: Search[State] = Search(witnesses={name: None for name in witnesses})
    mask, shifts, bits = packing.mask, packing.shifts, packing.bits
    bad_shift, bad_mask = packing.bad_shift, packing.bad_mask
    counter_shift, counter_mask = packing.counter_shift, packing.counter_mask
    scripted = comp.scripted
    designating = [comp.may_designate(c) for c in range(counter_mask + 1)]  # per value of the counter
    counter_step = comp.counter_step << counter_shift
    # Per value of the counter, the group whose pair Step 901 splits next, or -1; per
    # (counter, that group's record): (label, its number, the number it adds to a state).
    backing_up = [-1] * (counter_mask + 1)
    for c in range(comp.counter_limit + 1):
        group = comp.backup_group(c)
        backing_up[c] = -1 if group is None else group
    backup_step = comp.radix << counter_shift
    backup_starts: dict[tuple[int, int], list[tuple[Hashable, int, int]]] = {}
    # A crash, while the counter allows one: per record number, its change once crashed.
    crash_unit = comp.crash_unit
    crash_step = crash_unit << counter_shift
    crash_change: dict[int, int] = {}
    crash_id = tables.label_id(CRASH)

    unpack = packing.unpack
    deltas_of, kind_of, labels_of, ids_of = tables.deltas, tables.kind, tables.labels, tables.ids
    address_of, moving_of, layout_of = tables.address, tables.moving, tables.layout
    lun_map_holds: dict[tuple[int, ...], bool] = {}
    # Step 801's designations per layout of addresses (and, in a script, per batch): (label,
    # its number, its changes per group, the record numbers of those groups -> the
    # number it adds to a state).
    designations: dict[
        tuple[int, ...], list[tuple[Hashable, int, Designation, dict[tuple[int, ...], int]]]
    ] = {}
    open_witnesses = set(result.witnesses)
    broken: dict[str, int] = {}
    limit = max_states if max_states is not None else 1 << 62
    progress_meter = Progress(progress)

    def holds(key: int) -> bool:
        """Every safety property holds in the state ``key``."""
        if (key >> bad_shift) & bad_mask:
            return False
        addresses = tuple([address_of[(key >> shift) & mask] for shift in shifts])
        if -1 in addresses:
            return False
        verdict = lun_map_holds.get(addresses)
        if verdict is None:
            verdict = lun_map_holds[addresses] = comp.lun_map(unpack(key)) is None
        return verdict

    def judge(key: int, j: int) -> bool:
        """Record the properties state ``key`` (number ``j``) breaks; True to stop."""
        if holds(key):
            return False
        return record_broken(unpack(key), j, invariants, broken, keep_going)

    def concurrent_in(key: int) -> bool:
        return sum([moving_of[(key >> shift) & mask] for shift in shifts]) >= 2

    # The states in the order found: the queue, and with their parents every run. Which
    # states were seen: one bitmap over the first group's record numbers per value of the other fields
    # (a bit per state where a set of integers costs 70 bytes). Where liveness needs the
    # edges, the number of each state seen: an index over the states themselves.
    initial = packing.pack(comp.initial)
    keys: MutableSequence[int] = array("q", [initial]) if packing.width <= 63 else [initial]
    parents = array("i", [-1])
    seen: dict[int, bytearray] = {}
    number = _Numbers() if isinstance(keys, array) else _DictIndex()
    number.insert(initial, 0)
    edge_src, edge_dst, edge_label = array("I"), array("I"), array("I")
    pending_of = array("I")
    pending_sets: dict[frozenset[Hashable], int] = {}
    # The number of each record's obligations; per tuple of those, the number of their
    # union (a state's): few of either.
    record_sets: dict[frozenset[Hashable], int] = {}
    union_of: dict[tuple[int, ...], int] = {}

    def mark(key: int) -> bool:
        """Mark ``key`` seen; False if it was."""
        lo = key & mask
        row = seen.get(key >> bits)
        if row is None:
            row = seen[key >> bits] = bytearray((lo >> 3) + 16)
        elif (lo >> 3) >= len(row):
            row.extend(bytes((lo >> 3) - len(row) + 16))
        elif row[lo >> 3] & (1 << (lo & 7)):
            return False
        row[lo >> 3] |= 1 << (lo & 7)
        return True

    mark(initial)

    def pending(key: int) -> int:
        """The number of the obligations state ``key`` leaves pending."""
        sets = [comp.record_pending((key >> shift) & mask) for shift in shifts]
        sets.append(comp.counter_pending((key >> counter_shift) & counter_mask))
        ids = tuple([record_sets.setdefault(found, len(record_sets)) for found in sets])
        whole = union_of.get(ids)
        if whole is None:
            whole = union_of[ids] = pending_sets.setdefault(frozenset().union(*sets), len(pending_sets))
        return whole

    def arrive(i: int, key: int, depth: int, label: Hashable, label_id: int, nxt: int, moved: bool) -> bool:
        """The step ``label`` (numbered ``label_id``) from state ``i`` (``key``, at
        ``depth``) to ``nxt``, taken the long way: witnesses, edges, properties. ``moved``:
        a record's own step (one-LU witnesses are reached by those). True to stop."""
        if open_witnesses:
            for name in list(open_witnesses):
                if (
                    concurrent_in(nxt)
                    if name == CONCURRENT
                    else moved
                    and any(((key >> shift) & mask, label) in comp.reached.get(name, ()) for shift in shifts)
                ):
                    result.witnesses[name] = depth + 1
                    open_witnesses.discard(name)
        if liveness:
            j = number.insert(nxt, len(keys))
            edge_src.append(i)
            edge_dst.append(j if j >= 0 else len(keys))
            edge_label.append(label_id)
            if j >= 0:
                return False
            pending_of.append(pending(nxt))
        elif not mark(nxt):
            return False
        keys.append(nxt)
        parents.append(i)
        return judge(nxt, len(keys) - 1) or len(keys) >= limit

    if liveness:
        pending_of.append(pending(initial))
    stop = judge(initial, 0) or len(keys) >= limit
    depth = 0  # the depth of the state being expanded
    deepest = 0
    level_end = 1  # the number of the first state one level deeper
    transitions = 0
    i = 0
    was_enabled = gc.isenabled()
    gc.disable()  # millions of objects and no cycles to find
    try:
        while i < len(keys) and not stop:
            if i == level_end:
                depth += 1
                level_end = len(keys)
            key = keys[i]
            parent_holds = not keep_going or holds(key)
            # Where the state's first record lies in a bitmap: a step of another group keeps it.
            lo = key & mask
            byte, bit = lo >> 3, 1 << (lo & 7)
            for lu, shift in enumerate(shifts):
                n = (key >> shift) & mask
                deltas = deltas_of[n]
                if deltas is None:
                    deltas = tables.build(n)
                kind = kind_of[n]
                if kind == QUIET and parent_holds and not liveness:
                    # The common case, inline: no property can break, no witness be reached.
                    transitions += len(deltas)
                    own_row = seen[key >> bits]  # the first group's steps keep every other field
                    for delta in deltas:
                        nxt = key + delta
                        if lu:
                            row = seen.get(nxt >> bits)
                            if row is None:
                                row = seen[nxt >> bits] = bytearray(byte + 16)
                            elif byte >= len(row):
                                row.extend(bytes(byte - len(row) + 16))
                            elif row[byte] & bit:
                                continue
                            row[byte] |= bit
                        else:
                            lo = nxt & mask
                            if (lo >> 3) >= len(own_row):
                                own_row.extend(bytes((lo >> 3) - len(own_row) + 16))
                            elif own_row[lo >> 3] & (1 << (lo & 7)):
                                continue
                            own_row[lo >> 3] |= 1 << (lo & 7)
                        keys.append(nxt)
                        parents.append(i)
                        if len(keys) >= limit:
                            # A repeated step would have found nxt first: index is exact.
                            transitions -= len(deltas) - deltas.index(delta) - 1
                            stop = True
                            break
                elif kind == QUIET and parent_holds:
                    # The common case with liveness: the edges and obligations, no property.
                    for label_id, delta in zip(ids_of[n], deltas, strict=True):
                        transitions += 1
                        nxt = key + delta
                        j = number.insert(nxt, len(keys))
                        edge_src.append(i)
                        edge_dst.append(j if j >= 0 else len(keys))
                        edge_label.append(label_id)
                        if j >= 0:
                            continue
                        pending_of.append(pending(nxt))
                        keys.append(nxt)
                        parents.append(i)
                        if len(keys) >= limit:
                            stop = True
                            break
                elif kind == SPECIAL:
                    for (own, _, bad), label_id, delta in zip(comp.moves(n), ids_of[n], deltas, strict=True):
                        nxt = key + delta
                        if bad >= 0 and not (key >> bad_shift) & bad_mask:
                            nxt += (bad + 1) << bad_shift
                        transitions += 1
                        if arrive(i, key, depth, own, label_id, nxt, True):
                            stop = True
                            break
                else:
                    for label, label_id, delta in zip(labels_of[n], ids_of[n], deltas, strict=True):
                        transitions += 1
                        if arrive(i, key, depth, label, label_id, key + delta, True):
                            stop = True
                            break
                if stop:
                    break
            counter = (key >> counter_shift) & counter_mask
            if not stop and designating[counter]:
                layout = tuple([layout_of[(key >> shift) & mask] for shift in shifts])
                if scripted:
                    layout = (counter, *layout)
                steps = designations.get(layout)
                if steps is None:
                    steps = designations[layout] = [
                        (label, tables.label_id(label), changes, {})
                        for label, changes in comp.designation_steps(unpack(key))
                    ]
                for designation, label_id, changes, memo in steps:
                    ns = tuple([(key >> shifts[g]) & mask for g, _ in changes])
                    added = memo.get(ns)
                    if added is None:
                        added = counter_step
                        for (g, group_changes), n in zip(changes, ns, strict=True):
                            added += (comp.designated(n, group_changes) - n) << shifts[g]
                        tables.grow()
                        memo[ns] = added
                    transitions += 1
                    if arrive(i, key, depth, designation, label_id, key + added, False):
                        stop = True
                        break
            g = backing_up[counter]
            if not stop and g >= 0:
                n = (key >> shifts[g]) & mask
                starts = backup_starts.get((counter, n))
                if starts is None:
                    starts = backup_starts[counter, n] = [
                        (label, tables.label_id(label), backup_step + ((m - n) << shifts[g]))
                        for label, _, m in comp.backup_starts(unpack(key))
                    ]
                    tables.grow()
                for label, label_id, added in starts:
                    transitions += 1
                    if arrive(i, key, depth, label, label_id, key + added, False):
                        stop = True
                        break
            if not stop and counter >= crash_unit:
                # A crash changes every group's record: the sum of each one's change.
                added = -crash_step
                for shift in shifts:
                    n = (key >> shift) & mask
                    change = crash_change.get(n)
                    if change is None:
                        change = crash_change[n] = comp.crashed(n) - n
                        tables.grow()
                    added += change << shift
                transitions += 1
                # The crash's witnesses are its groups' (comp.reached): a record's own step's.
                if arrive(i, key, depth, CRASH, crash_id, key + added, True):
                    stop = True
            if len(keys) > level_end:
                deepest = depth + 1
            i += 1
            if not i & 1023:
                progress_meter.tick(len(keys), depth, len(keys) - i)
    finally:
        if was_enabled:
            gc.enable()

    result.states = len(keys)
    result.transitions = transitions
    result.depth = deepest
    hit_limit = len(keys) >= limit
    result.complete = not hit_limit and (i >= len(keys) or bool(broken))

    def run(path: list[int]) -> tuple[list[State], list[Hashable]]:
        """The states and labels of the run through the states numbered ``path``: the
        first step (in the engine's order) from each to the next."""
        labels = []
        for a, b in pairwise(path):
            before = unpack(keys[a])
            labels.append(next(label for label, s in comp.successors(before) if packing.pack(s) == keys[b]))
        return [unpack(keys[n]) for n in path], labels

    def path_to(j: int) -> list[int]:
        path = []
        while j >= 0:
            path.append(j)
            j = parents[j]
        return path[::-1]

    for name, invariant in invariants:
        if name in broken:
            states, labels = run(path_to(broken[name]))
            message = invariant(states[-1]) or ""
            result.violations.append(Violation(name, "safety", message, states, labels))
    if liveness and result.complete and not result.violations:
        result.liveness_checked = True
        del number  # the index is not needed any more: its memory is the graph's
        graph = Graph(len(keys), edge_src, edge_dst, edge_label)
        for obligation, node, loop in find_liveness_violations(graph, pending_of, pending_sets):
            path = path_to(node)
            if loop is not None:
                path = path + list(loop[1:])
            states, labels = run(path)
            how = "cycle" if loop is not None else "deadlock"
            loop_start = len(path) - len(loop) if loop is not None else None
            result.violations.append(Violation(None, how, "", states, labels, loop_start, obligation))
            if not keep_going:
                break
    result.seconds = time.monotonic() - started
    return result
