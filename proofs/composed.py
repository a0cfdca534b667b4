"""The search of every state, composed per group of LUs (``lutakeover check --composed``).

LUs are tied into one group by a host that uses several of them (its one outstanding
request is for one LU or another) and by a mirrored pair (a write to the primary writes the
secondary). A step of one group changes that group's records alone: for each of its LUs,
its flags, cache lines, row and de-stages in each controller, its disk blocks and row, its
path, its hosts' requests, its jobs and ghost records; and its pairs. A crash of the whole
array changes every group's records, each as the group's own records say. Three steps
read a counter of the whole array besides. Step 801, which also reads
other groups (the addresses their LUs hold or will hold: the lowest external LUN free at
the destination, and the gap rule), counts the budget of take-overs left ("any" mode, one
LU at a time) or the batches designated so far ("scripted" mode, where one designation
names every LU of its batch). Step 901 counts the backups begun: the backup script names
the pair it splits next. A crash counts the crashes the scenario still allows.

So a state of the array is the counter (the three counts in one number) and one record per
group (``Record``), each interned as a number, and the search runs over tuples of numbers.
What a group can do from one of its records is worked out once, by the model itself, in an
array where the other groups are where they start; designations once per layout of
addresses; a backup's split once per record of its pair's group; a crash once per record
of every group. Every state is
still visited (the counts, depths, counterexamples and the liveness graph are the array's
own), but a state costs a few tuple operations instead of the model's guards. Each step
worked out is checked to change its own group's record alone (``NotComposable``
otherwise), and every counterexample is replayed in the whole array's model.

Unlike the per-LU product (``proofs/product.py``), LUs may share ports, and liveness is
judged: the graph searched is the array's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, NamedTuple, cast

from invariants import SAFETY, WITNESSES
from invariants.safety import lun_map_well_formed, reads_return_written_data
from invariants.witnesses import backups_pending, batches_pending, obligations, untested_properties
from model.actions import ACTIONS, Model
from model.labels import Label
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
    Pair,
    Path,
    Request,
    Row,
    World,
)
from proofs.check import Check, bind_witness, counterexample
from proofs.explicit import Violation
from proofs.product import ONE_LU_WITNESSES
from proofs.trace import Counterexample

# (the counter: the budget left or the batches designated; the first wrong read's number or
# -1; the number of each group's record)
State = tuple[int, ...]
HEAD = 2  # where the groups' record numbers start in a State


class InController(NamedTuple):
    """An LU's records in one controller."""

    active: bool
    write_through: bool
    lines: tuple[Line, ...]
    row: Row
    destaging: tuple[Destage, ...]


class LuPart(NamedTuple):
    """Everything in the array's state that belongs to one LU."""

    controllers: tuple[InController, ...]
    blocks: tuple[int, ...]
    row: Row  # the disk's
    path: Path
    requests: tuple[Request | None, ...]  # of the hosts whose lowest LU it is, in host order
    jobs: tuple[Job, ...]
    acked: tuple[int, ...]
    writes: tuple[int, ...]
    reads: tuple[int, ...]
    designated: Address


class Record(NamedTuple):
    """Everything in the array's state that belongs to one group of LUs."""

    lus: tuple[LuPart, ...]  # in the group's order
    pairs: tuple[Pair, ...]  # the mirrored pairs of its LUs, in the scenario's order


class NotComposable(ValueError):
    """The array's groups of LUs are tied together beyond Step 801; says why."""


def lu_groups(scenario: Scenario) -> list[tuple[int, ...]]:
    """The LUs that share one record, each group sorted, in the order of their lowest LU:
    those a host uses (its one outstanding request is for one or another; a host as a record
    of its own, read by each of its LUs' steps, was tried: exact, and slower than the search
    of whole states, see docs/ARCHITECTURE.md) and the two LUs of a mirrored pair."""
    leader = list(range(len(scenario.lus)))

    def find(lu: int) -> int:
        while leader[lu] != lu:
            lu = leader[lu]
        return lu

    ties = [sorted(set(h.writes) | set(h.reads)) for h in scenario.hosts]
    ties += [[p.primary, p.secondary] for p in scenario.pairs]
    for tied in ties:
        for lu in tied[1:]:
            a, b = sorted((find(tied[0]), find(lu)))
            leader[b] = a
    groups: dict[int, list[int]] = {}
    for lu in range(len(scenario.lus)):
        groups.setdefault(find(lu), []).append(lu)
    return [tuple(g) for g in groups.values()]


def group_name(group: tuple[int, ...]) -> str:
    return "+".join(f"LU{lu}" for lu in group)


def live_groups(model: Model) -> int:
    """How many groups of LUs can change at all (a host uses them, or a take-over may move
    them): the composed search pays where two or more can."""
    s = model.scenario
    used = {lu for h in s.hosts for lu in (*h.writes, *h.reads)}
    movable = set(range(len(s.lus))) if s.mode == "any" else {lu for b in s.batches for lu in b.lus}
    return sum(1 for g in lu_groups(s) if set(g) & (used | movable))


def composes_by_default(model: Model) -> bool:
    """Whether ``check`` composes without being asked: where two groups or more can change
    (with one, its records are whole states, and slower to search than whole states)."""
    return live_groups(model) >= 2


class Composition:
    """The array's states as tuples of records, one per group of LUs, and the successor
    function on them."""

    def __init__(
        self,
        model: Model,
        witness_checks: list[tuple[str, Callable[[World, Label, World], bool]]] | None = None,
    ) -> None:
        self.model = model
        s = model.scenario
        self.lus = len(s.lus)
        self.groups = lu_groups(s)
        self.group_of = [0] * self.lus  # LU -> its group
        self.position = [0] * self.lus  # LU -> its place in its group
        for g, group in enumerate(self.groups):
            for i, lu in enumerate(group):
                self.group_of[lu], self.position[lu] = g, i
        self.names = [group_name(group) for group in self.groups]
        # A host's request is in the record of the lowest LU it uses (all its LUs are in
        # one group); a pair's in its group's.
        self.hosts_of = [
            tuple(h for h, spec in enumerate(s.hosts) if lu == min(spec.writes + spec.reads, default=-1))
            for lu in range(self.lus)
        ]
        self.pairs_of = [
            tuple(i for i, p in enumerate(s.pairs) if self.group_of[p.primary] == g)
            for g in range(len(self.groups))
        ]
        self.first = model.initial()
        # The counter, three counts in one number: Step 801's (the budget left, counting
        # down, or the batches designated, counting up to the script's length), plus
        # ``radix`` times the backups begun (Step 901, up to the backup script's length),
        # plus ``crash_unit`` times the crashes the scenario still allows (counting down);
        # ``counter_limit`` its largest value.
        self.scripted = s.mode != "any"
        main_limit = len(s.batches) if self.scripted else self.first.budget
        self.radix = main_limit + 1
        self.backup_script = len(s.backups)
        self.crash_unit = self.radix * (self.backup_script + 1)
        self.counter_limit = self.crash_unit * (self.first.crashes + 1) - 1
        self.counter_step = 1 if self.scripted else -1
        # A script done, every backup begun and no crash left: where a record's own steps
        # are worked out, so that the counters' steps are no record's (nor their obligations).
        self.done = (main_limit if self.scripted else self.first.budget) + self.radix * self.backup_script
        # Every action but the counters': a record's own steps (asking the model for the
        # designations too would work them out for every record, only to drop them).
        self.own_actions = frozenset(
            a.name for a in ACTIONS if a.name not in DESIGNATIONS + BACKUP_STARTS + CRASHES
        )
        self.witness_checks = witness_checks or []  # one-LU witnesses, judged on each group's own steps
        self.parts: list[Record] = []
        self.owner: list[int] = []  # part number -> its group
        self.broken_of: list[frozenset[str] | None] = []  # part number -> ``broken``, once asked
        # Part number -> the number of what lun_map_well_formed reads of it: each LU's disk
        # row and whether it has a job under way.
        self.address: list[int] = []
        self._addresses: dict[tuple[tuple[Row, bool], ...], int] = {}
        self.number: dict[tuple[int, Record], int] = {}
        self._in_controllers: dict[Controller, tuple[InController, ...]] = {}
        # Record number -> ``alone`` of it, from the step that found it until its own
        # steps are worked out.
        self._alone: dict[int, World] = {}
        self.start_parts = tuple(self.intern(g, p) for g, p in enumerate(self.split(self.first)))
        # The first wrong read is the array's, not an LU's: the model records the first
        # only, so a later one of another LU changes nothing.
        self.bad_reads: list[BadRead] = []
        self._bad_number: dict[BadRead, int] = {}
        self.initial: State = (self.counter_of(self.first), -1, *self.start_parts)
        # Per part number: its own moves and its pending obligations; per layout of
        # addresses: the designations.
        self._moves: dict[int, list[tuple[Label, int, int]]] = {}
        self._pending: dict[int, frozenset[Hashable]] = {}
        self._designations: dict[tuple[object, ...], list[tuple[Label, Designation]]] = {}
        self._designated: dict[tuple[int, Changes], int] = {}
        self._backup_starts: dict[tuple[int, int], list[tuple[Label, int, int]]] = {}
        self._crashed: dict[int, int] = {}
        self._lun_map: dict[tuple[int, ...], object] = {}
        self._last_state: State = ()
        self._last_broken: frozenset[str] = frozenset()
        self.reached: dict[str, set[tuple[int, Label]]] = {}  # witness -> (part, label) reaching it

    # --- records ---------------------------------------------------------------------------

    def intern(self, g: int, part: Record) -> int:
        """The number of group ``g``'s record ``part`` (two groups' records are never one
        number: under a seeded bug two LUs can hold equal records)."""
        n = self.number.get((g, part))
        if n is None:
            n = self.number[g, part] = len(self.parts)
            self.parts.append(part)
            self.owner.append(g)
            self.broken_of.append(None)
            address = tuple((p.row, bool(p.jobs)) for p in part.lus)
            self.address.append(self._addresses.setdefault(address, len(self._addresses)))
        return n

    def split(self, w: World) -> list[Record]:
        """Each group's records of ``w``."""
        lus = self.split_lus(w)
        return [
            Record(tuple(lus[lu] for lu in group), tuple(w.pairs[i] for i in self.pairs_of[g]))
            for g, group in enumerate(self.groups)
        ]

    def split_lus(self, w: World) -> list[LuPart]:
        """Each LU's records of ``w``."""
        in_controllers = list(zip(*map(self._in_controller, w.controllers), strict=True))
        jobs = self._per_lu(w.jobs)
        g = w.ghost
        return [
            LuPart(
                in_controllers[lu],
                w.disk.blocks[lu],
                w.disk.table[lu],
                w.paths[lu],
                tuple(w.hosts[h] for h in self.hosts_of[lu]),
                jobs[lu],
                g.acked[lu],
                g.writes[lu],
                g.reads[lu],
                g.designated[lu],
            )
            for lu in range(self.lus)
        ]

    def _in_controller(self, ctl: Controller) -> tuple[InController, ...]:
        """Controller ``ctl``'s part of each LU: worked out once per value of a controller
        (they repeat across records and their successors)."""
        found = self._in_controllers.get(ctl)
        if found is None:
            lus = range(self.lus)
            found = self._in_controllers[ctl] = tuple(
                InController(*part)
                for part in zip(
                    [lu in ctl.active for lu in lus],
                    [lu in ctl.write_through for lu in lus],
                    self._per_lu(ctl.cache),
                    ctl.table,
                    self._per_lu(ctl.destaging),
                    strict=True,
                )
            )
        return found

    def _per_lu(
        self, items: tuple[Line, ...] | tuple[Destage, ...] | tuple[Job, ...]
    ) -> list[tuple[Any, ...]]:
        """``items`` (each of an LU, in order) per LU, in their order."""
        if not items:
            return [()] * self.lus
        found: list[list[Any]] = [[] for _ in range(self.lus)]
        for x in items:
            found[x.lu].append(x)
        return [tuple(x) for x in found]

    def counter_of(self, w: World) -> int:
        main = w.batches if self.scripted else w.budget
        return main + self.radix * w.backups + self.crash_unit * w.crashes

    def backups_begun(self, counter: int) -> int:
        return (counter % self.crash_unit) // self.radix

    def may_designate(self, counter: int) -> bool:
        """Whether Step 801 has a designation left at this value of the counter."""
        main = counter % self.radix
        return main < self.radix - 1 if self.scripted else main > 0

    def counter_pending(self, counter: int) -> frozenset[Hashable]:
        """The obligations the counter leaves pending: the batches not designated yet, the
        backups not begun."""
        batches = batches_pending(self.model, counter % self.radix) if self.scripted else frozenset()
        return batches | backups_pending(self.model, self.backups_begun(counter))

    def world(self, state: State) -> World:
        """The array's state that ``state`` stands for."""
        bad = self.bad_reads[state[1]] if state[1] >= 0 else None
        return self.join(state[0], bad, [self.parts[n] for n in state[HEAD:]])

    def join(self, counter: int, bad: BadRead | None, records: list[Record]) -> World:
        parts = [records[self.group_of[lu]].lus[self.position[lu]] for lu in range(self.lus)]
        pairs = list(self.first.pairs)
        for g, record in enumerate(records):
            for i, pair in zip(self.pairs_of[g], record.pairs, strict=True):
                pairs[i] = pair
        controllers = []
        for c in range(len(self.first.controllers)):
            mine = [p.controllers[c] for p in parts]
            controllers.append(
                Controller(
                    tuple(lu for lu, x in enumerate(mine) if x.active),
                    tuple(lu for lu, x in enumerate(mine) if x.write_through),
                    tuple(line for x in mine for line in x.lines),
                    tuple(x.row for x in mine),
                    tuple(d for x in mine for d in x.destaging),
                )
            )
        hosts: list[Request | None] = list(self.first.hosts)
        for lu, p in enumerate(parts):
            for h, request in zip(self.hosts_of[lu], p.requests, strict=True):
                hosts[h] = request
        w = self.first._replace(
            controllers=tuple(controllers),
            disk=Disk(tuple(p.blocks for p in parts), tuple(p.row for p in parts)),
            paths=tuple(p.path for p in parts),
            hosts=tuple(hosts),
            jobs=tuple(j for p in parts for j in p.jobs),
            ghost=Ghost(
                tuple(p.acked for p in parts),
                tuple(p.writes for p in parts),
                tuple(p.reads for p in parts),
                bad,
                tuple(p.designated for p in parts),
            ),
            pairs=tuple(pairs),
        )
        main, backups, crashes = counter % self.radix, self.backups_begun(counter), counter // self.crash_unit
        return (
            w._replace(batches=main, backups=backups, crashes=crashes)
            if self.scripted
            else w._replace(budget=main, backups=backups, crashes=crashes)
        )

    def alone(self, g: int, n: int) -> World:
        """The array with group ``g`` in its record ``n`` and every other group where it
        started; the scripts there are done, so that their batches and backups are no
        record's obligations (they are the counter's)."""
        w = self._alone.get(n)
        if w is None:
            w = self.join(self.done, None, self.alone_records(g, n))
        return w

    def alone_records(self, g: int, n: int) -> list[Record]:
        """The records of ``alone(g, n)``."""
        records = [self.parts[m] for m in self.start_parts]
        records[g] = self.parts[n]
        return records

    # --- what one group can do --------------------------------------------------------------

    def _which(self, before: list[Record], after: World, label: Label) -> tuple[int, Record]:
        """The one group whose record a step changed, and its new record; NotComposable if
        it changed two groups' records, or none (every step of the model changes something)."""
        changed = self._changed(before, after, label)
        if len(changed) > 1:
            names = self.names
            raise NotComposable(f"'{label}' changes {names[changed[0][0]]} and {names[changed[1][0]]}")
        return changed[0]

    def _changed(self, before: list[Record], after: World, label: Label) -> list[tuple[int, Record]]:
        """The groups whose records a step changed, and their new records (NotComposable if
        none: every step of the model changes something)."""
        changed = self._differing(before, after)
        if not changed:
            raise NotComposable(f"'{label}' changes no LU's records")
        return changed

    def _differing(self, before: list[Record], after: World) -> list[tuple[int, Record]]:
        """The groups whose records differ in ``after`` from ``before``, and their records there."""
        return [(g, p) for g, p in enumerate(self.split(after)) if p != before[g]]

    def moves(self, n: int) -> list[tuple[Label, int, int]]:
        """Record ``n``'s own steps (not designations): (label, new record, the number of
        the wrong read it makes or -1)."""
        found = self._moves.get(n)
        if found is not None:
            return found
        g = self.owner[n]
        w = self.alone(g, n)
        self._alone.pop(n, None)  # its last use but for liveness's obligations
        before = self.alone_records(g, n)
        found = []
        for t in self.model.transitions(w, self.own_actions):
            label = t.label(w)
            if self.counter_of(t.after) != self.counter_of(w):
                raise NotComposable(f"'{label}' changes Step 801's counter")
            changed, part = self._which(before, t.after, label)
            if changed != g:
                continue  # another group's step, from where it started: its own record's move
            bad = -1
            if t.after.ghost.bad_read is not None:
                bad = self._bad_number.setdefault(t.after.ghost.bad_read, len(self.bad_reads))
                if bad == len(self.bad_reads):
                    self.bad_reads.append(t.after.ghost.bad_read)
            known = len(self.parts)
            m = self.intern(g, part)
            if m == known and bad < 0:
                # A new record, and the array it stands in is this one: kept for its own
                # steps and properties, not joined again.
                self._alone[m] = t.after
            found.append((label, m, bad))
            for name, reached in self.witness_checks:
                if reached(w, label, t.after):
                    self.reached.setdefault(name, set()).add((n, label))
        self._moves[n] = found
        return found

    def designations(self, state: State) -> list[tuple[Label, list[tuple[int, int]]]]:
        """Step 801's designations from ``state``: (label, [(group, its new record), ...])."""
        return [
            (label, [(g, self.designated(state[HEAD + g], changes)) for g, changes in designation])
            for label, designation in self.designation_steps(state)
        ]

    def designation_steps(self, state: State) -> list[tuple[Label, Designation]]:
        """Step 801's designations from ``state``: (label, for each group it designates LUs
        of: (group, its changes)), each moving the counter one step. They read the counter
        and every LU's disk row and jobs only, so they are worked out once per layout of
        those (in a script, and per value of the counter, which names the batch; the budget
        only says whether one is left)."""
        if not self.may_designate(state[0]):
            return []
        layout: tuple[object, ...] = tuple(self.layout_of(self.parts[n]) for n in state[HEAD:])
        if self.scripted:
            layout = (state[0], *layout)
        found = self._designations.get(layout)
        if found is None:
            w = self.world(state)
            before = [self.parts[n] for n in state[HEAD:]]  # the records w was joined from
            found = []
            for t in self.model.transitions(w, names=DESIGNATIONS):
                label = t.label(w)
                if self.counter_of(t.after) != state[0] + self.counter_step:
                    raise NotComposable(f"'{label}' moves Step 801's counter other than by one")
                designation = []
                for g, record in self._changed(before, t.after, label):
                    changes = tuple(
                        (i, part.jobs[-1], part.designated)
                        for i, part in enumerate(record.lus)
                        if part != before[g].lus[i]
                    )
                    if _designated(before[g], changes) != record:
                        raise NotComposable(
                            f"'{label}' changes more of {self.names[g]} than its LUs' jobs and designations"
                        )
                    designation.append((g, changes))
                found.append((label, tuple(designation)))
            self._designations[layout] = found
        return found

    def designated(self, n: int, changes: Changes) -> int:
        """The number of record ``n`` once Step 801 designated LUs of its group: for each,
        its job added and its address recorded."""
        key = (n, changes)
        m = self._designated.get(key)
        if m is None:
            m = self._designated[key] = self.intern(self.owner[n], _designated(self.parts[n], changes))
        return m

    @staticmethod
    def layout_of(record: Record) -> tuple[tuple[Row, tuple[Job, ...]], ...]:
        """What Step 801 reads of a record: each LU's disk row and jobs."""
        return tuple((p.row, p.jobs) for p in record.lus)

    @staticmethod
    def moving(record: Record) -> int:
        """How many of the record's LUs have a take-over under way (a backup is not one)."""
        return sum(1 for p in record.lus if any(not j.backup for j in p.jobs))

    def successors(self, state: State) -> Iterable[tuple[Hashable, State]]:
        out: list[tuple[Hashable, State]] = []
        budget, first_bad = state[0], state[1]
        for g in range(len(self.groups)):
            at = HEAD + g
            for label, m, bad in self.moves(state[at]):
                if bad >= 0 and first_bad < 0:
                    out.append((label, (budget, bad, *state[HEAD:at], m, *state[at + 1 :])))
                else:
                    out.append((label, (*state[:at], m, *state[at + 1 :])))
        for label, changes in self.designations(state):
            after = [budget + self.counter_step, first_bad, *state[HEAD:]]
            for g, m in changes:
                after[HEAD + g] = m
            out.append((label, tuple(after)))
        for label, g, m in self.backup_starts(state):
            at = HEAD + g
            out.append((label, (budget + self.radix, first_bad, *state[HEAD:at], m, *state[at + 1 :])))
        if budget >= self.crash_unit:
            out.append((CRASH, (budget - self.crash_unit, first_bad, *map(self.crashed, state[HEAD:]))))
        return out

    def crashed(self, n: int) -> int:
        """The number of record ``n`` once the whole array crashed and recovered. Recovery
        treats each LU by its own jobs, lines, rows and pairs, and a group where it started
        comes through unchanged (nothing held, nothing under way), so a crash is worked out
        once per record, in the array where the other groups are where they started (a
        crash that changed one of them raises NotComposable). The crash's witnesses reached
        from the record are kept as its own step's (``reached``)."""
        m = self._crashed.get(n)
        if m is None:
            g = self.owner[n]
            w = self.alone(g, n)._replace(crashes=1)
            before = self.alone_records(g, n)
            (t,) = self.model.transitions(w, CRASHES)
            changed = self._differing(before, t.after)
            if any(h != g for h, _ in changed):
                raise NotComposable(f"'{CRASH}' changes {self.names[changed[-1][0]]} where it started")
            m = self._crashed[n] = self.intern(g, changed[0][1]) if changed else n
            for name, reached in self.witness_checks:
                if reached(w, CRASH, t.after):
                    self.reached.setdefault(name, set()).add((n, CRASH))
        return m

    def backup_group(self, counter: int) -> int | None:
        """The group whose pair the backup script splits next at this value of the
        counter, or None when every backup is begun."""
        index = self.backups_begun(counter)
        if index >= self.backup_script:
            return None
        s = self.model.scenario
        return self.group_of[s.pairs[s.backups[index]].primary]

    def backup_starts(self, state: State) -> list[tuple[Label, int, int]]:
        """Step 901 from ``state``: (label, the group of the pair it splits, its new record),
        each moving the counter ``radix`` on. It reads which backup is next and that pair's
        group alone, so it is worked out once per backup and record."""
        g = self.backup_group(state[0])
        if g is None:
            return []
        index, n = self.backups_begun(state[0]), state[HEAD + g]
        found = self._backup_starts.get((index, n))
        if found is None:
            w = self.alone(g, n)._replace(backups=index)
            before = self.alone_records(g, n)
            found = []
            for t in self.model.transitions(w, BACKUP_STARTS):
                label = t.label(w)
                if self.counter_of(t.after) != self.counter_of(w) + self.radix:
                    raise NotComposable(f"'{label}' moves the backups begun other than by one")
                changed, record = self._which(before, t.after, label)
                if changed != g:
                    raise NotComposable(f"'{label}' changes {self.names[changed]}, not its pair's group")
                found.append((label, g, self.intern(g, record)))
            self._backup_starts[index, n] = found
        return found

    # --- properties, witnesses, obligations -------------------------------------------------

    def broken(self, n: int) -> frozenset[str]:
        """The properties of one group that record ``n`` breaks (in the array where the
        others are where they started, which breaks none); those of ``_WHOLE`` are judged on
        the State."""
        found = self.broken_of[n]
        if found is None:
            w = self.alone(self.owner[n], n)
            found = self.broken_of[n] = frozenset(
                p.name for p in SAFETY if p.name not in _WHOLE and p.check(self.model, w) is not None
            )
        return found

    def broken_in(self, state: State) -> frozenset[str]:
        """The per-group properties some group of ``state`` breaks. The engine asks each property
        in turn of the same state, so the last answer is kept."""
        if state is not self._last_state:
            self._last_state = state
            self._last_broken = frozenset().union(*(self.broken(n) for n in state[HEAD:]))
        return self._last_broken

    def all_hold(self, state: State) -> bool:
        """Every safety property holds in ``state``: the engine's quick test, asked of every
        state, so written for speed."""
        if state[1] >= 0:
            return False
        broken_of = self.broken_of
        for n in state[HEAD:]:
            found = broken_of[n]
            if found is None:
                found = self.broken(n)
            if found:
                return False
        return self.lun_map(state) is None

    def lun_map(self, state: State) -> str | None:
        """lun_map_well_formed reads every LU's disk row, and whether any job is under way."""
        layout = tuple(map(self.address.__getitem__, state[HEAD:]))
        verdict = self._lun_map.get(layout, _UNKNOWN)
        if verdict is _UNKNOWN:
            verdict = self._lun_map[layout] = lun_map_well_formed(self.model, self.world(state))
        return cast("str | None", verdict)

    def wrong_read(self, state: State) -> str | None:
        """reads_return_written_data: the model records the first wrong read, and so does
        the State."""
        if state[1] < 0:
            return None
        return reads_return_written_data(self.model, self.world(state))

    def pending(self, state: State) -> frozenset[Hashable]:
        return self.counter_pending(state[0]).union(*(self.record_pending(n) for n in state[HEAD:]))

    def record_pending(self, n: int) -> frozenset[Hashable]:
        """The obligations record ``n`` leaves pending: a state's are the union of its records'."""
        found = self._pending.get(n)
        if found is None:
            found = self._pending[n] = obligations(self.model, self.alone(self.owner[n], n))
        return found


_UNKNOWN = object()

# The witnesses a group's own step reaches, judged on its records' steps (in the array
# where the other groups are where they started): one LU's, and a mirrored pair's.
GROUP_WITNESSES = ONE_LU_WITNESSES | {
    "backup_completes",
    "primary_moved_during_backup",
    "write_tracked_during_split",
    # reached by a crash (every group's step at once) where one group's jobs are under way
    "recovery_completes_takeover",
    "recovery_abandons_backup",
}

# Step 801's actions: one LU in "any" mode, a batch of them in a script.
DESIGNATIONS = ("designate", "designate_batch")
# Step 901's: the backup script's next pair split.
BACKUP_STARTS = ("split_pair",)
# A crash of the whole array and its recovery: every group's record changes at once.
CRASHES = ("crash_recover",)
CRASH = Label("crash_recover", ())

# What a designation does to one group's record: for each LU of it designated, (its place in
# the group, the job it adds, the address it records).
Changes = tuple[tuple[int, Job, Address], ...]
# A designation's changes: (group, its changes) for each group it designates LUs of.
Designation = tuple[tuple[int, Changes], ...]

# Bits per record number in the packed state (proofs.packed): 65,536 records of a group
# before the search starts again with wider fields.
RECORD_BITS = 16

# The properties that read more than one group's records: judged on the State.
_WHOLE = {"lun_map_well_formed", "reads_return_written_data"}


def _designated(record: Record, changes: Changes) -> Record:
    """A group's record after Step 801 designated LUs of it: each LU's job added (after any
    other of the LU's, in designation order), its address recorded."""
    lus = list(record.lus)
    for i, job, address in changes:
        lus[i] = lus[i]._replace(jobs=(*lus[i].jobs, job), designated=address)
    return record._replace(lus=tuple(lus))


def composed_check(
    model: Model,
    *,
    keep_going: bool = False,
    liveness: bool = True,
    max_states: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Check:
    """Every state of the array, searched as tuples of records per group of LUs: the same states,
    depths, counterexamples and liveness verdicts as ``run_check`` without symmetry."""
    started = time.monotonic()
    applicable = [w for w in WITNESSES if w.applies(model)]
    comp = Composition(  # refuses an array it cannot take, saying why
        model, [(w.name, bind_witness(w.reached, model)) for w in applicable if w.name in GROUP_WITNESSES]
    )
    unknown = [w.name for w in applicable if w.name not in GROUP_WITNESSES | {"concurrent_takeovers"}]
    if unknown:
        raise NotComposable(f"the composed search cannot judge the witness {unknown[0]}")
    # Every record's own steps are worked out when the record is first expanded, so a
    # witness is known reached for (record, label) by the time its transition is taken.

    whole = {"lun_map_well_formed": comp.lun_map, "reads_return_written_data": comp.wrong_read}
    invariants = [(p.name, whole.get(p.name) or _per_lu(p.name, comp)) for p in SAFETY]
    # Imported here: the engine's module builds on this one's records.
    from proofs.packed import Packing, TooWide, search_packed

    bits = RECORD_BITS
    while True:
        try:
            search = search_packed(
                comp,
                Packing(len(comp.groups), comp.counter_limit, bits),
                invariants,
                [w.name for w in applicable],
                liveness=liveness,
                max_states=max_states,
                keep_going=keep_going,
                progress=progress,
            )
            break
        except TooWide:
            bits *= 2  # the records found so far stay: only the search starts again
    counterexamples = [_in_the_array(model, comp, v) for v in search.violations]
    search.seconds = time.monotonic() - started
    return Check(
        model,
        search,  # type: ignore[arg-type]
        1,
        dict(search.witnesses),
        keep_going,
        1,
        untested_properties(model),
        counterexamples,
        lu_records=[comp.owner.count(g) for g in range(len(comp.groups))],
        lu_groups=[list(group) for group in comp.groups],
    )


def _per_lu(name: str, comp: Composition) -> Callable[[State], str | None]:
    def check(state: State) -> str | None:
        return name if name in comp.broken_in(state) else None

    return check


def _in_the_array(model: Model, comp: Composition, v: Violation[State]) -> Counterexample:
    """The engine's violation over composed states as a run of the array: its states
    rebuilt, and a safety property checked again in the last one (NotComposable if it did
    not break there: the composition would be wrong)."""
    worlds = [comp.world(s) for s in v.states]
    message = v.message
    if v.invariant is not None:
        prop = next(p for p in SAFETY if p.name == v.invariant)
        found = prop.check(model, worlds[-1])
        if found is None:
            raise NotComposable(f"the composed run breaking {v.invariant} does not break it in the array")
        message = found
    labels = [cast(Label, label) for label in v.labels]
    for before, label, after in zip(worlds, labels, worlds[1:], strict=False):
        t = model.transition_labelled(before, label)
        if t is None or t.after != after:
            raise NotComposable(f"'{label}' of the composed run is not a step of the array")
    return counterexample(
        Violation(v.invariant, v.kind, message, worlds, list(v.labels), v.loop_start, v.obligation)
    )
