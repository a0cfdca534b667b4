"""The model's transition relation in z3, for one concrete scenario and protocol variant.

A ``World`` becomes a fixed set of named variables (``Layout``): every field of every
record, with absent things (an empty cache line, a host with no request, a free job slot)
written as canonical zeros, so one world has exactly one assignment and the relation below
can be *exact*: ``T(s, t)`` holds iff ``t`` is one of the model's successors of ``s``.

Each action of ``model/actions.py`` is written again here as a guard and a set of updates
over symbolic variables, split into *instances* by its concrete arguments (host, LU, block,
controller, job slot), so every index is a Python number and only values are symbolic. The
next state picks the updates of one enabled instance by a choice variable; a variable no
instance of the chosen kind touches keeps its value. A take-over or backup step finds its
actions in ``_JOB_ACTIONS``, a table from each step to one method per model action (the
write-through, de-stage and purge of 804, 903 and 908 share a method each, told apart by
the step).

This is a second, independent writing of the model: tests check it against the Python
successor function pair by pair, which is what lets BMC's answers stand for the model's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import z3

from model.actions import Model, destaging_controller
from model.protocol import Step
from model.state import (
    UNREAD,
    Address,
    BadRead,
    Controller,
    Destage,
    Disk,
    Ghost,
    Home,
    Job,
    Line,
    MirrorWrite,
    Op,
    Pair,
    PairState,
    Path,
    Request,
    Row,
    Where,
    World,
)

Value = int | bool
Sym = dict[str, z3.ExprRef]

# Numbers are two's-complement bit-vectors, which z3 bit-blasts to SAT: it decides unrolled
# runs far faster than integer arithmetic. A bit-vector wraps silently, so the width is
# chosen per scenario (``number_bits``) to hold every number a world of it can take; never
# below 8 bits, the width every built-in scenario fits (a wider one only costs time), and
# never above 32 (a scenario needing more is refused rather than made slow).
MIN_BITS = 8
MAX_BITS = 32
# The instance a step takes is numbered in at least 16 bits (unsigned: room for any
# scenario small enough to check), more when a scenario has more instances.
MIN_CHOICE_BITS = 16

_ROW_FIELDS = ("ext_lun", "port", "default", "current")
_JOB_FIELDS = ("source", "destination", "port", "ext_lun", "done")


class EncodingLimit(ValueError):
    """A scenario whose numbers do not fit the bit-vectors of the encoding: the message
    names the scenario field, its value and the bits it would need."""


def signed_bits(value: int) -> int:
    """The fewest bits holding ``value`` in two's complement."""
    return (value if value >= 0 else ~value).bit_length() + 1


def number_bounds(m: Model) -> list[tuple[str, int]]:
    """Every scenario field that bounds a number a world of ``m`` can hold, with the most
    extreme value it makes possible. No number grows with the length of a run: counters
    stop at their field (writes, reads, batches, backups), the budget only falls, and
    the rest are names and codes the scenario lists."""
    s = m.scenario
    bounds: list[tuple[str, int]] = [
        ("array.controllers", s.controllers - 1),  # controller numbers, routes, job ends
        ("array.ports", s.ports - 1),  # port numbers
        ("takeovers.port", s.takeover_port),
        # LU numbers; "any" mode designates external LUNs up to the number of LUs, and
        # the LUN-map check counts the LUs sharing an address.
        ("lu", m.lus),
        ("takeovers.budget", s.budget),
        ("workload.writes_per_block", s.writes_per_block),  # write counters and the values written
        ("workload.reads_per_block", s.reads_per_block),  # read counters
        ("takeovers.batch", len(s.batches)),  # the batch counter
        ("backup", len(s.backups)),  # the backup counter
        ("faults.crashes", s.crashes),  # the crashes left
        # A job's progress counts the steps of the longer of the two step orders.
        ("protocol step order", max(len(m.protocol.order()), len(m.protocol.backup_order()))),
        # Location codes are negative, and so is a read's value until it is done (UNREAD).
        ("request location", min(*Where, UNREAD)),
        ("pair state", max(PairState)),
    ]
    for i, spec in enumerate(s.lus):
        # Block numbers, and a tape's length, which reaches the number of blocks.
        bounds += [(f"lu[{i}].blocks", spec.blocks), (f"lu[{i}].ext_lun", spec.ext_lun)]
    for i, batch in enumerate(s.batches):
        where = f"takeovers.batch[{i}]"
        bounds.append((f"{where}.destination", batch.destination))
        if batch.port is not None:
            bounds.append((f"{where}.port", batch.port))
        bounds += [(f"{where}.ext_luns", ext) for ext in batch.ext_luns or ()]
    return bounds


def number_bits(m: Model) -> int:
    """The width of the encoding's numbers for ``m``: the fewest bits (at least
    ``MIN_BITS``) holding every number of ``number_bounds``, or EncodingLimit naming the
    field that needs more than ``MAX_BITS``."""
    bits = MIN_BITS
    for name, value in number_bounds(m):
        needed = signed_bits(value)
        if needed > MAX_BITS:
            raise EncodingLimit(
                f"{name}: {value} needs {needed} bits; bmc encodes numbers in at most {MAX_BITS} bits"
            )
        bits = max(bits, needed)
    return bits


def job_slots(m: Model) -> int:
    """How many take-overs of one LU can be under way at once: one, unless the variant
    accepts a second request for a moving LU; then as many as can be designated."""
    if not m.protocol.concurrent_same_lu:
        return 1
    s = m.scenario
    if s.mode == "any":
        return max(1, s.budget)
    return max(1, max(sum(lu in b.lus for b in s.batches) for lu in range(m.lus)))


class Layout:
    """The variables of one scenario's worlds: names, kinds, and the two-way translation."""

    def __init__(self, m: Model) -> None:
        self.m = m
        self.bits = number_bits(m)
        self.slots = job_slots(m)
        self.secondaries = {pair.secondary for pair in m.scenario.pairs}
        s = m.scenario
        self.kinds: dict[str, str] = {}  # name -> "b" (Bool) or "i" (Int)
        for c in range(s.controllers):
            for lu in range(m.lus):
                self._add(f"c{c}.active.{lu}", "b")
                self._add(f"c{c}.wt.{lu}", "b")
                for b in range(m.blocks[lu]):
                    self._add(f"c{c}.line.{lu}.{b}", "b")
                    self._add(f"c{c}.line.{lu}.{b}.value", "i")
                    self._add(f"c{c}.line.{lu}.{b}.dirty", "b")
                    # A de-stage of the block under way there, and the value it writes.
                    self._add(f"c{c}.destage.{lu}.{b}", "b")
                    self._add(f"c{c}.destage.{lu}.{b}.value", "i")
                for f in _ROW_FIELDS:
                    self._add(f"c{c}.row.{lu}.{f}", "i")
        for lu in range(m.lus):
            for b in range(m.blocks[lu]):
                self._add(f"disk.{lu}.{b}", "i")
                for g in ("acked", "writes", "reads"):
                    self._add(f"{g}.{lu}.{b}", "i")
            for f in _ROW_FIELDS:
                self._add(f"disk.row.{lu}.{f}", "i")
            for f in Address._fields:  # designated.{lu}.controller, .port, .ext_lun
                self._add(f"designated.{lu}.{f}", "i")
            self._add(f"path.{lu}.route", "i")
            self._add(f"path.{lu}.suspended", "b")
            for i in range(self.slots):
                self._add(f"job.{lu}.{i}", "b")
                for f in _JOB_FIELDS:
                    self._add(f"job.{lu}.{i}.{f}", "i")
        for h in range(len(s.hosts)):
            self._add(f"host{h}", "b")
            self._add(f"host{h}.write", "b")
            for f in ("lu", "block", "value", "at"):
                self._add(f"host{h}.{f}", "i")
        for i, pair in enumerate(s.pairs):
            self._add(f"pair{i}.state", "i")
            self._add(f"pair{i}.tape_len", "i")
            self._add(f"pair{i}.split", "b")  # a split happened: home is recorded
            self._add(f"pair{i}.imaged", "b")  # the snapshot is recorded (a crash discards it)
            for f in Home._fields:  # pair{i}.home.default, pair{i}.home.current
                self._add(f"pair{i}.home.{f}", "i")
            self._add(f"pair{i}.mirror", "b")  # a mirror write under way: the MirrorWrite fields say which
            for f in MirrorWrite._fields:  # pair{i}.mirror.block, .value, .controller
                self._add(f"pair{i}.mirror.{f}", "i")
            for b in range(m.blocks[pair.primary]):
                self._add(f"pair{i}.diff.{b}", "b")
                self._add(f"pair{i}.tape.{b}", "i")
                self._add(f"pair{i}.snapshot.{b}", "i")
        self._add("backups", "i")
        self._add("crashes", "i")
        self._add("budget", "i")
        self._add("batches", "i")
        self._add("bad_read", "b")  # some read went wrong: the BadRead fields say which
        for f in BadRead._fields:  # bad_read.lu, .block, .value, .controller
            self._add(f"bad_read.{f}", "i")

    def _add(self, name: str, kind: str) -> None:
        self.kinds[name] = kind

    def variables(self, prefix: str) -> Sym:
        """Fresh z3 constants for one state, named ``prefix`` + field name."""
        return {
            n: z3.Bool(prefix + n) if k == "b" else self.number(prefix + n) for n, k in self.kinds.items()
        }

    def number(self, name: str) -> z3.ExprRef:
        return z3.BitVec(name, self.bits)

    def fits(self, value: int) -> bool:
        return -(1 << (self.bits - 1)) <= value < 1 << (self.bits - 1)

    def constant(self, value: int) -> z3.ExprRef:
        if not self.fits(value):
            raise OverflowError(f"{value} does not fit the {self.bits}-bit numbers of {self.m.scenario.name}")
        return z3.BitVecVal(value, self.bits)

    def flatten(self, w: World) -> dict[str, Value]:
        """The one assignment that stands for ``w``."""
        m, v = self.m, dict.fromkeys(self.kinds, 0)
        for name, kind in self.kinds.items():
            v[name] = False if kind == "b" else 0
        for c, ctl in enumerate(w.controllers):
            for lu in ctl.active:
                v[f"c{c}.active.{lu}"] = True
            for lu in ctl.write_through:
                v[f"c{c}.wt.{lu}"] = True
            for line in ctl.cache:
                key = f"c{c}.line.{line.lu}.{line.block}"
                v[key], v[key + ".value"], v[key + ".dirty"] = True, line.value, line.dirty
            for d in ctl.destaging:
                key = f"c{c}.destage.{d.lu}.{d.block}"
                v[key], v[key + ".value"] = True, d.value
            for lu, row in enumerate(ctl.table):
                for f in _ROW_FIELDS:
                    v[f"c{c}.row.{lu}.{f}"] = getattr(row, f)
        for lu in range(m.lus):
            for b in range(m.blocks[lu]):
                v[f"disk.{lu}.{b}"] = w.disk.blocks[lu][b]
                v[f"acked.{lu}.{b}"] = w.ghost.acked[lu][b]
                v[f"writes.{lu}.{b}"] = w.ghost.writes[lu][b]
                v[f"reads.{lu}.{b}"] = w.ghost.reads[lu][b]
            for f in _ROW_FIELDS:
                v[f"disk.row.{lu}.{f}"] = getattr(w.disk.table[lu], f)
            for f, x in w.ghost.designated[lu]._asdict().items():
                v[f"designated.{lu}.{f}"] = x
            v[f"path.{lu}.route"] = w.paths[lu].route
            v[f"path.{lu}.suspended"] = w.paths[lu].suspended
        used = [0] * m.lus
        for job in w.jobs:
            i = used[job.lu]
            used[job.lu] += 1
            if i >= self.slots:
                raise ValueError(f"LU{job.lu} has more take-overs under way than the {self.slots} slots")
            v[f"job.{job.lu}.{i}"] = True
            for f in _JOB_FIELDS:
                v[f"job.{job.lu}.{i}.{f}"] = getattr(job, f)
        for h, r in enumerate(w.hosts):
            if r is not None:
                v[f"host{h}"], v[f"host{h}.write"] = True, r.op is Op.WRITE
                for f in ("lu", "block", "value", "at"):
                    v[f"host{h}.{f}"] = int(getattr(r, f))
        v["budget"], v["batches"], v["backups"], v["crashes"] = w.budget, w.batches, w.backups, w.crashes
        for i, pair in enumerate(w.pairs):
            v[f"pair{i}.state"], v[f"pair{i}.tape_len"] = int(pair.state), len(pair.tape)
            for b in pair.diff:
                v[f"pair{i}.diff.{b}"] = True
            for b, x in enumerate(pair.tape):
                v[f"pair{i}.tape.{b}"] = x
            if pair.mirror is not None:
                v[f"pair{i}.mirror"] = True
                for f, x in pair.mirror._asdict().items():
                    v[f"pair{i}.mirror.{f}"] = x
            if pair.home is not None:
                v[f"pair{i}.split"] = True
                for f, x in pair.home._asdict().items():
                    v[f"pair{i}.home.{f}"] = x
            if pair.snapshot:
                v[f"pair{i}.imaged"] = True
                for b, x in enumerate(pair.snapshot):
                    v[f"pair{i}.snapshot.{b}"] = x
        if w.ghost.bad_read is not None:
            v["bad_read"] = True
            for f, x in w.ghost.bad_read._asdict().items():
                v[f"bad_read.{f}"] = x
        self._check_fits(v)
        return v

    def _check_fits(self, v: dict[str, Value]) -> None:
        """A number too wide for the bit-vectors would wrap into another world: refuse it
        (``number_bounds`` missed a field if a world of the scenario gets here)."""
        for name, x in v.items():
            if self.kinds[name] == "i" and not self.fits(int(x)):
                raise OverflowError(
                    f"{name} = {x} does not fit the {self.bits}-bit numbers of {self.m.scenario.name}"
                )

    def unflatten(self, v: dict[str, Value]) -> World:
        """The world an assignment stands for (the inverse of ``flatten``)."""
        m, s = self.m, self.m.scenario

        def row(prefix: str) -> Row:
            return Row(*(int(v[f"{prefix}.{f}"]) for f in _ROW_FIELDS))

        controllers = []
        for c in range(s.controllers):
            cache, destaging = [], []
            for lu in range(m.lus):
                for b in range(m.blocks[lu]):
                    key = f"c{c}.line.{lu}.{b}"
                    if v[key]:
                        cache.append(Line(lu, b, int(v[key + ".value"]), bool(v[key + ".dirty"])))
                    key = f"c{c}.destage.{lu}.{b}"
                    if v[key]:
                        destaging.append(Destage(lu, b, int(v[key + ".value"])))
            controllers.append(
                Controller(
                    active=tuple(lu for lu in range(m.lus) if v[f"c{c}.active.{lu}"]),
                    write_through=tuple(lu for lu in range(m.lus) if v[f"c{c}.wt.{lu}"]),
                    cache=tuple(sorted(cache)),
                    table=tuple(row(f"c{c}.row.{lu}") for lu in range(m.lus)),
                    destaging=tuple(sorted(destaging)),
                )
            )

        def grid(g: str) -> tuple[tuple[int, ...], ...]:
            return tuple(tuple(int(v[f"{g}.{lu}.{b}"]) for b in range(m.blocks[lu])) for lu in range(m.lus))

        def job(lu: int, i: int) -> Job:
            source, destination, port, ext_lun, done = (int(v[f"job.{lu}.{i}.{f}"]) for f in _JOB_FIELDS)
            return Job(lu, source, destination, port, ext_lun, done, backup=lu in self.secondaries)

        jobs = [job(lu, i) for lu in range(m.lus) for i in range(self.slots) if v[f"job.{lu}.{i}"]]
        pairs = []
        for i, spec in enumerate(s.pairs):
            blocks = range(m.blocks[spec.primary])
            split = bool(v[f"pair{i}.split"])
            mirror = MirrorWrite(*(int(v[f"pair{i}.mirror.{f}"]) for f in MirrorWrite._fields))
            pairs.append(
                Pair(
                    PairState(int(v[f"pair{i}.state"])),
                    tuple(b for b in blocks if v[f"pair{i}.diff.{b}"]),
                    tuple(int(v[f"pair{i}.tape.{b}"]) for b in range(int(v[f"pair{i}.tape_len"]))),
                    tuple(int(v[f"pair{i}.snapshot.{b}"]) for b in blocks) if v[f"pair{i}.imaged"] else (),
                    Home(*(int(v[f"pair{i}.home.{f}"]) for f in Home._fields)) if split else None,
                    mirror if v[f"pair{i}.mirror"] else None,
                )
            )
        hosts: list[Request | None] = []
        for h in range(len(s.hosts)):
            if not v[f"host{h}"]:
                hosts.append(None)
                continue
            op = Op.WRITE if v[f"host{h}.write"] else Op.READ
            hosts.append(Request(op, *(int(v[f"host{h}.{f}"]) for f in ("lu", "block", "value", "at"))))
        bad = BadRead(*(int(v[f"bad_read.{f}"]) for f in BadRead._fields)) if v["bad_read"] else None
        designated = tuple(
            Address(*(int(v[f"designated.{lu}.{f}"]) for f in Address._fields)) for lu in range(m.lus)
        )
        return World(
            controllers=tuple(controllers),
            disk=Disk(blocks=grid("disk"), table=tuple(row(f"disk.row.{lu}") for lu in range(m.lus))),
            paths=tuple(
                Path(int(v[f"path.{lu}.route"]), bool(v[f"path.{lu}.suspended"])) for lu in range(m.lus)
            ),
            hosts=tuple(hosts),
            jobs=tuple(jobs),
            budget=int(v["budget"]),
            batches=int(v["batches"]),
            ghost=Ghost(
                acked=grid("acked"),
                writes=grid("writes"),
                reads=grid("reads"),
                bad_read=bad,
                designated=designated,
            ),
            pairs=tuple(pairs),
            backups=int(v["backups"]),
            crashes=int(v["crashes"]),
        )

    def equals(self, s: Sym, w: World) -> z3.BoolRef:
        """The constraint that the symbolic state ``s`` is the world ``w``."""
        return z3.And(
            [
                s[n] == (x if self.kinds[n] == "b" else self.constant(int(x)))
                for n, x in self.flatten(w).items()
            ]
        )

    def read(self, model: z3.ModelRef, s: Sym) -> World:
        """The world a z3 model assigns to the symbolic state ``s``."""
        values: dict[str, Value] = {}
        for n, x in s.items():
            e = model.eval(x, model_completion=True)
            values[n] = z3.is_true(e) if self.kinds[n] == "b" else _integer(e)
        return self.unflatten(values)


@dataclass(frozen=True)
class Instance:
    """One action with concrete arguments: enabled when ``guard`` holds, it sets the
    variables named in ``updates`` (every other variable keeps its value)."""

    action: str
    args: tuple[int, ...]
    guard: z3.BoolRef
    updates: dict[str, z3.ExprRef]


@dataclass(frozen=True)
class _JobStep:
    """One action of a job's next step: the action's name, the step, the job (slot ``i``
    of ``lu``, from ``src`` to ``dst``), the guard that this step is the job's next, and
    the updates recording it done."""

    name: str
    step: Step
    lu: int
    i: int
    src: int
    dst: int
    guard: z3.BoolRef
    advance: dict[str, z3.ExprRef]

    @property
    def args(self) -> tuple[int, ...]:
        return (self.lu, self.i, self.src, self.dst)

    @property
    def slot(self) -> str:
        """The prefix of the job's variables."""
        return f"job.{self.lu}.{self.i}"

    @property
    def holder(self) -> int:
        """The controller that de-stages at this step, by the model's own rule."""
        return destaging_controller(self.step, self.src, self.dst)

    def instance(self, updates: dict[str, z3.ExprRef], guard: z3.BoolRef | None = None) -> Instance:
        """The instance taking the step: ``updates`` and the job's progress, when ``guard``
        (by default the step's own) holds."""
        when = self.guard if guard is None else guard
        return Instance(self.name, self.args, when, {**updates, **self.advance})


class Encoding:
    """The symbolic transition relation and properties of one model."""

    def __init__(self, m: Model) -> None:
        self.m = m
        self.layout = Layout(m)
        self._n = self.layout.constant
        # Told how many instances are built so far, after each: on an array of many LUs
        # building them takes minutes, and a caller may report it or give up (bmc does).
        self.building: Callable[[int], None] | None = None
        self._count: int | None = None  # instances over any state, once some were built

    # --- the relation ------------------------------------------------------------------

    def instances(self, s: Sym) -> list[Instance]:
        """Every action instance over the current state ``s``."""
        built: list[Instance] = []
        for instance in self._instances(s):
            built.append(instance)
            if self.building is not None:
                self.building(len(built))
        self._count = len(built)
        return built

    def choice(self, name: str) -> z3.ExprRef:
        """A variable numbering the instance a step takes."""
        return z3.BitVec(name, self.choice_bits)

    @functools.cached_property
    def choice_bits(self) -> int:
        """Bits numbering every instance (unsigned): two instances sharing a number would
        let one step mix their updates. The count is the same over any state, so the
        instances a transition built are counted, not built again."""
        count = (
            self._count if self._count is not None else len(self.instances(self.layout.variables("count.")))
        )
        bits = max(MIN_CHOICE_BITS, (count - 1).bit_length())
        if bits > MAX_BITS:
            raise EncodingLimit(
                f"{self.m.scenario.name}: {count} action instances need {bits} bits to number; "
                f"bmc numbers at most 2**{MAX_BITS}"
            )
        return bits

    def transition(self, s: Sym, t: Sym, choice: z3.ExprRef | str) -> z3.BoolRef:
        """``t`` is reached from ``s`` by the instance numbered ``choice`` (a variable, or
        the name of one to make once the instances are built and counted)."""
        instances = self.instances(s)
        if isinstance(choice, str):
            choice = self.choice(choice)
        if len(instances) > 1 << choice.size():
            raise OverflowError(f"{len(instances)} instances cannot be numbered in {choice.size()} bits")
        touched: dict[str, list[tuple[int, z3.ExprRef]]] = {n: [] for n in s}
        for i, inst in enumerate(instances):
            for n, e in inst.updates.items():
                touched[n].append((i, e))
        parts = [z3.Or([z3.And(choice == i, inst.guard) for i, inst in enumerate(instances)])]
        for n, cases in touched.items():
            value = s[n]
            for i, e in reversed(cases):
                value = z3.If(choice == i, e, value)
            parts.append(t[n] == value)
        return z3.And(parts)

    def successors(self, w: World, limit: int = 1000) -> set[World]:
        """The worlds z3 says follow ``w``: every ``t`` with ``T(w, t)``, found one by one,
        each excluded before asking again. Tests compare this with the model's successors."""
        s, t = self.layout.variables("s."), self.layout.variables("t.")
        solver = z3.SolverFor("QF_BV")
        solver.add(self.transition(s, t, self.choice("choice")), self.layout.equals(s, w))
        found: set[World] = set()
        while len(found) < limit and solver.check() == z3.sat:
            after = self.layout.read(solver.model(), t)
            found.add(after)
            solver.add(z3.Not(self.layout.equals(t, after)))
        return found

    def holds(self, before: dict[str, Value], after: dict[str, Value]) -> bool:
        """Whether ``T(before, after)`` holds for two assignments (not necessarily worlds)."""
        s, t = self.layout.variables("s."), self.layout.variables("t.")
        solver = z3.SolverFor("QF_BV")
        solver.add(self.transition(s, t, self.choice("choice")))
        for state, values in ((s, before), (t, after)):
            for n, x in values.items():
                solver.add(state[n] == (x if self.layout.kinds[n] == "b" else self.layout.constant(int(x))))
        return bool(solver.check() == z3.sat)

    def initial(self, s: Sym) -> z3.BoolRef:
        return self.layout.equals(s, self.m.initial())

    # --- properties (each: the formula that holds when the property does) ------------------

    def properties(self, s: Sym) -> dict[str, z3.BoolRef]:
        m = self.m
        c_range = range(m.scenario.controllers)
        single, lost, stale, routes, agree, follow = [], [], [], [], [], []
        for lu in range(m.lus):
            single.append(z3.AtMost(*[s[f"c{c}.active.{lu}"] for c in c_range], 1))
            nobody = z3.Not(z3.Or([s[f"c{c}.active.{lu}"] for c in c_range]))
            mirror = lu in self.layout.secondaries  # its data is the pair properties' concern
            for b in range(m.blocks[lu]):
                for c in c_range:
                    if not mirror:
                        visible = self._visible(s, c, lu, b)
                        lost.append(z3.Implies(s[f"c{c}.active.{lu}"], self._admissible(s, lu, b, visible)))
                    stale.append(z3.Implies(s[f"c{c}.line.{lu}.{b}"], s[f"c{c}.active.{lu}"]))
                if not mirror:
                    lost.append(z3.Implies(nobody, self._admissible(s, lu, b, s[f"disk.{lu}.{b}"])))
            routes.append(
                z3.Or(
                    s[f"path.{lu}.suspended"],
                    *[z3.And(s[f"path.{lu}.route"] == c, s[f"c{c}.active.{lu}"]) for c in c_range],
                )
            )
            same = [s[f"c{c}.row.{lu}.{f}"] == s[f"disk.row.{lu}.{f}"] for c in c_range for f in _ROW_FIELDS]
            agree.append(z3.Or(self._moving(s, lu), z3.And(same)))
            follow.append(z3.Or(self._moving(s, lu), self._follows_designation(s, lu)))
        addresses = [self._address(s, "disk.row", lu) for lu in range(m.lus)]
        any_job = z3.Or([self._moving(s, lu) for lu in range(m.lus)])
        lun_map = z3.And(_unique(addresses), z3.Or(any_job, _gap_free(addresses, self._n(1), self._n(0))))
        return {
            **self._pair_properties(s),
            "single_active_controller": z3.And(single),
            "no_acknowledged_write_lost": z3.And(lost),
            "reads_return_written_data": z3.Not(s["bad_read"]),
            "no_stale_cache": z3.And(stale),
            "path_routes_to_owner": z3.And(routes),
            "tables_agree": z3.And(agree),
            "rows_follow_designation": z3.And(follow),
            "lun_map_well_formed": lun_map,
        }

    def _pair_properties(self, s: Sym) -> dict[str, z3.BoolRef]:
        """The embodiment-2 properties of ``invariants/safety.py``."""
        point, tracked, mirror, home = [], [], [], []
        for i, spec in enumerate(self.m.scenario.pairs):
            state, tape_len, split = s[f"pair{i}.state"], s[f"pair{i}.tape_len"], s[f"pair{i}.split"]
            blocks = range(self.m.blocks[spec.primary])
            for b in blocks:
                point.append(z3.Implies(tape_len > b, s[f"pair{i}.tape.{b}"] == s[f"pair{i}.snapshot.{b}"]))
                same = self._seen(s, spec.primary, b) == self._mirrored(s, i, b)
                paired = state == int(PairState.PAIRED)
                tracked.append(z3.Or(paired, same, s[f"pair{i}.diff.{b}"]))
                mirror.append(z3.Implies(paired, same))
            imaged = s[f"pair{i}.imaged"]
            point.append(z3.Not(z3.And(imaged, state != int(PairState.SPLIT), tape_len < len(blocks))))
            row = f"disk.row.{spec.secondary}"
            back = z3.And(
                s[f"{row}.default"] == s[f"pair{i}.home.default"],
                s[f"{row}.current"] == s[f"pair{i}.home.current"],
            )
            home.append(z3.Implies(z3.And(split, z3.Not(self._moving(s, spec.secondary))), back))
        return {
            "backup_is_point_in_time": z3.And(point),
            "mirror_differs_only_where_tracked": z3.And(tracked),
            "resync_restores_mirror": z3.And(mirror),
            "control_returns_home": z3.And(home),
        }

    def _mirrored(self, s: Sym, i: int, b: int) -> z3.ExprRef:
        """``_mirror_differences``' view of pair ``i``'s mirror: a mirror write of the block
        under way counts as done (the host's reply waits for it)."""
        mirror = f"pair{i}.mirror"
        pending = z3.And(s[mirror], s[mirror + ".block"] == b)
        return z3.If(pending, s[mirror + ".value"], self._seen(s, self.m.scenario.pairs[i].secondary, b))

    def _follows_designation(self, s: Sym, lu: int) -> z3.BoolRef:
        """``rows_follow_designation`` for an LU at rest: the disk's row is the designated
        address, and the controller it names as current is the one controller in charge."""
        current = s[f"disk.row.{lu}.current"]
        designated = [s[f"designated.{lu}.{f}"] for f in Address._fields]
        controllers = range(self.m.scenario.controllers)
        return z3.And(
            _same(self._address(s, "disk.row", lu), tuple(designated)),
            z3.Or([current == c for c in controllers]),
            *[s[f"c{c}.active.{lu}"] == (current == c) for c in controllers],
        )

    # --- helpers ---------------------------------------------------------------------------

    def _visible(self, s: Sym, c: int, lu: int, b: int) -> z3.ExprRef:
        key = f"c{c}.line.{lu}.{b}"
        return z3.If(s[key], s[key + ".value"], s[f"disk.{lu}.{b}"])

    def _admissible(self, s: Sym, lu: int, b: int, value: z3.ExprRef) -> z3.BoolRef:
        """``admissible_values``: the last acknowledged write, or the write in flight."""
        options = [value == s[f"acked.{lu}.{b}"]]
        h = self.m.writer[lu]
        if h is not None:
            p = f"host{h}"
            options.append(
                z3.And(
                    s[p], s[p + ".write"], s[p + ".lu"] == lu, s[p + ".block"] == b, value == s[p + ".value"]
                )
            )
        return z3.Or(options)

    def _moving(self, s: Sym, lu: int) -> z3.BoolRef:
        return s[f"job.{lu}.0"]  # slots fill from 0, so slot 0 is taken whenever any is

    def _address(self, s: Sym, prefix: str, lu: int) -> tuple[z3.ExprRef, z3.ExprRef, z3.ExprRef]:
        return (s[f"{prefix}.{lu}.current"], s[f"{prefix}.{lu}.port"], s[f"{prefix}.{lu}.ext_lun"])

    def _final_layout(self, s: Sym) -> list[tuple[z3.ExprRef, z3.ExprRef, z3.ExprRef]]:
        """Every LU's address once the take-overs under way are done: the last job wins. A
        backup cycle (a job of a mirror) ends where it began: control returns home (909)."""
        layout = []
        for lu in range(self.m.lus):
            address = self._address(s, "disk.row", lu)
            end = "source" if lu in self.layout.secondaries else "destination"
            for i in range(self.layout.slots):
                j = f"job.{lu}.{i}"
                address = tuple(
                    z3.If(s[j], s[f"{j}.{f}"], a)
                    for f, a in zip((end, "port", "ext_lun"), address, strict=True)
                )
            layout.append(address)
        return layout

    def _clear_host(self, h: int) -> dict[str, z3.ExprRef]:
        return {
            f"host{h}": z3.BoolVal(False),
            f"host{h}.write": z3.BoolVal(False),
            **{f"host{h}.{f}": self._n(0) for f in ("lu", "block", "value", "at")},
        }

    def _designated(self, jobs: list[tuple[int, dict[str, z3.ExprRef]]]) -> dict[str, z3.ExprRef]:
        """``_create_jobs``'s ghost: each designated LU's new address (a backup cycle's job
        does not come here: control returns home)."""
        updates: dict[str, z3.ExprRef] = {}
        for lu, f in jobs:
            for name, key in zip(Address._fields, ("destination", "port", "ext_lun"), strict=True):
                updates[f"designated.{lu}.{name}"] = f[key]
        return updates

    def _append_jobs(self, s: Sym, jobs: list[tuple[int, dict[str, z3.ExprRef]]]) -> dict[str, z3.ExprRef]:
        """Updates putting each new job of an LU in that LU's first free slot."""
        updates: dict[str, z3.ExprRef] = {}
        for lu, fields in jobs:
            for i in range(self.layout.slots):
                j = f"job.{lu}.{i}"
                first_free = z3.Not(s[j]) if i == 0 else z3.And(z3.Not(s[j]), s[f"job.{lu}.{i - 1}"])
                updates[j] = z3.Or(s[j], first_free)
                for f, e in fields.items():
                    updates[f"{j}.{f}"] = z3.If(first_free, e, s[f"{j}.{f}"])
        return updates

    def _accept(self, s: Sym, jobs: list[tuple[int, dict[str, z3.ExprRef]]]) -> z3.BoolRef:
        """``_create_jobs``: the management utility's reasons to refuse a designation."""
        m = self.m
        conditions: list[z3.BoolRef] = []
        for lu, f in jobs:
            conditions.append(f["source"] != f["destination"])
            if not m.protocol.concurrent_same_lu:
                conditions.append(z3.Not(self._moving(s, lu)))
        now = [self._address(s, "disk.row", lu) for lu in range(m.lus)]
        for _, f in jobs:
            new = (f["destination"], f["port"], f["ext_lun"])
            conditions.extend(z3.Not(_same(new, a)) for a in now)
        final = self._final_layout(s)
        for lu, f in jobs:
            final[lu] = (f["destination"], f["port"], f["ext_lun"])
        conditions.append(_unique(final))
        conditions.append(_gap_free(final, self._n(1), self._n(0)))
        return z3.And(conditions)

    # --- the instances, action by action (model/actions.py) ------------------------------

    def _instances(self, s: Sym) -> Iterator[Instance]:
        m, sc = self.m, self.m.scenario
        controllers = range(sc.controllers)
        for h, host in enumerate(sc.hosts):
            p = f"host{h}"
            for lu in host.writes:
                for b in range(m.blocks[lu]):
                    yield self._send(s, h, lu, b, write=True)
            if sc.reads_per_block > 0:
                for lu in host.reads:
                    for b in range(m.blocks[lu]):
                        yield self._send(s, h, lu, b, write=False)
            for lu in sorted({*host.writes, *host.reads}):
                mine = z3.And(s[p], s[p + ".lu"] == lu)
                cabled = host.controller if sc.topology == "direct" else None
                for c in controllers if cabled is None else [cabled]:
                    routed = s[f"path.{lu}.route"] == c if cabled is None else z3.BoolVal(True)
                    yield Instance(
                        "deliver",
                        (h, lu, c),
                        z3.And(mine, s[p + ".at"] == Where.PATH, z3.Not(s[f"path.{lu}.suspended"]), routed),
                        {p + ".at": z3.If(s[f"c{c}.active.{lu}"], self._n(c), self._n(Where.NOT_READY))},
                    )
                for b in range(m.blocks[lu]):
                    here = z3.And(mine, s[p + ".block"] == b)
                    for c in controllers:
                        yield from self._process(s, h, lu, b, c, z3.And(here, s[p + ".at"] == c))
                    acked = f"acked.{lu}.{b}"
                    yield Instance(
                        "complete",
                        (h, lu, b),
                        z3.And(here, s[p + ".at"] == Where.REPLIED),
                        {**self._clear_host(h), acked: z3.If(s[p + ".write"], s[p + ".value"], s[acked])},
                    )
            yield Instance(
                "retry", (h,), z3.And(s[p], s[p + ".at"] == Where.NOT_READY), {p + ".at": self._n(Where.PATH)}
            )
        for c in controllers:
            for lu in range(m.lus):
                for b in range(m.blocks[lu]):
                    if sc.background_destage:
                        yield self._background_destage(s, c, lu, b)
                    yield self._destage_done(s, c, lu, b)
        if sc.mode == "any":
            yield from self._designate(s)
        for index, batch in enumerate(sc.batches):
            jobs = []
            for i, lu in enumerate(batch.lus):
                row = f"disk.row.{lu}"
                jobs.append(
                    (
                        lu,
                        {
                            "source": s[f"{row}.current"],
                            "destination": self._n(batch.destination),
                            "port": self._n(batch.port) if batch.port is not None else s[f"{row}.port"],
                            "ext_lun": self._n(batch.ext_luns[i])
                            if batch.ext_luns is not None
                            else s[f"{row}.ext_lun"],
                            "done": self._n(1),
                        },
                    )
                )
            yield Instance(
                "designate_batch",
                (index,),
                z3.And(s["batches"] == index, self._accept(s, jobs)),
                {**self._append_jobs(s, jobs), **self._designated(jobs), "batches": self._n(index + 1)},
            )
        for index, i in enumerate(sc.backups):
            yield self._split_pair(s, index, i)
        for i in range(len(sc.pairs)):
            yield from self._mirror_write(s, i)
            yield from self._resync(s, i)
        for lu in range(m.lus):
            for i in range(self.layout.slots):
                for src in controllers:
                    for dst in controllers:
                        if src != dst:
                            yield from self._job_steps(s, lu, i, src, dst)
        if sc.crashes > 0:
            yield self._crash_recover(s)

    # --- a crash of the whole array, and recovery --------------------------------------------

    def _crash_recover(self, s: Sym) -> Instance:
        """``crash_recover``: the model's sequence of updates, run over symbolic values.
        ``v`` holds each variable's value so far; a job's ends are symbolic, so every
        controller it might name is tried under the condition that it does."""
        m, sc, n = self.m, self.m.scenario, self._n
        v: dict[str, z3.ExprRef] = dict(s)
        controllers = range(sc.controllers)
        for h in range(len(sc.hosts)):  # _after_crash
            p, at = f"host{h}", s[f"host{h}.at"]
            kept = z3.Or(at == Where.REPLIED, at == Where.NOT_READY)
            v[p + ".at"] = z3.If(
                z3.Or(z3.Not(s[p]), kept), at, z3.If(at == Where.MIRRORING, n(Where.REPLIED), n(Where.PATH))
            )
        for c in controllers:
            for lu in range(m.lus):
                v[f"c{c}.wt.{lu}"] = z3.BoolVal(False)
                for b in range(m.blocks[lu]):
                    v[f"c{c}.destage.{lu}.{b}"] = z3.BoolVal(False)
                    v[f"c{c}.destage.{lu}.{b}.value"] = n(0)
        v["crashes"] = s["crashes"] - 1

        def destage_all(c: int, lu: int, when: z3.BoolRef) -> None:
            for b in range(m.blocks[lu]):
                key, disk = f"c{c}.line.{lu}.{b}", f"disk.{lu}.{b}"
                if not m.protocol.recover_without_destage:
                    dirty = z3.And(when, v[key], v[key + ".dirty"])
                    v[disk] = z3.If(dirty, v[key + ".value"], v[disk])
                v[key] = z3.If(when, z3.BoolVal(False), v[key])
                v[key + ".value"] = z3.If(when, n(0), v[key + ".value"])
                v[key + ".dirty"] = z3.If(when, z3.BoolVal(False), v[key + ".dirty"])

        for lu in range(m.lus):
            backup = lu in self.layout.secondaries
            for i in range(self.layout.slots):
                j = f"job.{lu}.{i}"
                live, src, dst = s[j], s[f"{j}.source"], s[f"{j}.destination"]
                holder = dst if backup else src
                for c in controllers:
                    destage_all(c, lu, z3.And(live, holder == c))
                row = {"ext_lun": s[f"{j}.ext_lun"], "port": s[f"{j}.port"], "default": dst}
                row["current"] = src if backup else dst
                for f, e in row.items():
                    v[f"disk.row.{lu}.{f}"] = z3.If(live, e, v[f"disk.row.{lu}.{f}"])
                if backup:
                    k = self._pair(lu)
                    v[f"pair{k}.state"] = z3.If(live, n(int(PairState.RESYNCING)), v[f"pair{k}.state"])
                    v[f"pair{k}.tape_len"] = z3.If(live, n(0), v[f"pair{k}.tape_len"])
                    v[f"pair{k}.imaged"] = z3.If(live, z3.BoolVal(False), v[f"pair{k}.imaged"])
                    for b in range(m.blocks[lu]):
                        for g in ("tape", "snapshot"):
                            v[f"pair{k}.{g}.{b}"] = z3.If(live, n(0), v[f"pair{k}.{g}.{b}"])
        for c in controllers:
            for lu in range(m.lus):
                current = v[f"disk.row.{lu}.current"]
                v[f"c{c}.active.{lu}"] = current == c
                for f in _ROW_FIELDS:
                    v[f"c{c}.row.{lu}.{f}"] = v[f"disk.row.{lu}.{f}"]
            for lu in range(m.lus):
                destage_all(c, lu, z3.Not(v[f"c{c}.active.{lu}"]))
        for k, spec in enumerate(sc.pairs):
            mirror = f"pair{k}.mirror"
            on = s[mirror]
            v[f"pair{k}.state"] = z3.If(on, n(int(PairState.RESYNCING)), v[f"pair{k}.state"])
            for b in range(m.blocks[spec.primary]):
                diff = f"pair{k}.diff.{b}"
                v[diff] = z3.Or(v[diff], z3.And(on, s[mirror + ".block"] == b))
            v[mirror] = z3.BoolVal(False)
            for f in MirrorWrite._fields:
                v[f"{mirror}.{f}"] = n(0)
        for lu in range(m.lus):
            v[f"path.{lu}.route"] = v[f"disk.row.{lu}.current"]
            v[f"path.{lu}.suspended"] = z3.BoolVal(False)
            for i in range(self.layout.slots):
                j = f"job.{lu}.{i}"
                v[j] = z3.BoolVal(False)
                for f in _JOB_FIELDS:
                    v[f"{j}.{f}"] = n(0)
        updates = {name: e for name, e in v.items() if e is not s[name]}
        return Instance("crash_recover", (), s["crashes"] > 0, updates)

    def _send(self, s: Sym, h: int, lu: int, b: int, write: bool) -> Instance:
        """``send_write`` / ``send_read``: an idle host sends the next request to a block."""
        p, counter = f"host{h}", f"{'writes' if write else 'reads'}.{lu}.{b}"
        n = s[counter]
        bound = self.m.scenario.writes_per_block if write else self.m.scenario.reads_per_block
        return Instance(
            "send_write" if write else "send_read",
            (h, lu, b),
            z3.And(z3.Not(s[p]), n < self._n(bound)),
            {
                p: z3.BoolVal(True),
                p + ".write": z3.BoolVal(write),
                p + ".lu": self._n(lu),
                p + ".block": self._n(b),
                p + ".value": n + 1 if write else self._n(UNREAD),
                p + ".at": self._n(Where.PATH),
                counter: n + 1,
            },
        )

    def _write_block(
        self, s: Sym, writers: list[tuple[int, z3.BoolRef]], lu: int, b: int, value: z3.ExprRef
    ) -> dict[str, z3.ExprRef]:
        """``_write_block``: the controller whose condition holds (at most one) writes the
        block, through to disk if the LU is write-through there (dropping its line, or
        under ``literal_write_through`` keeping a clean one of the value), else into a dirty
        line. Callers guard with ``_write_waits`` first."""
        disk = f"disk.{lu}.{b}"
        updates: dict[str, z3.ExprRef] = {}
        to_disk = []
        literal = self.m.protocol.literal_write_through
        for c, cond in writers:
            key, wt = f"c{c}.line.{lu}.{b}", s[f"c{c}.wt.{lu}"]
            dropped = z3.And(wt, z3.BoolVal(not literal))
            updates[key] = z3.If(cond, z3.Not(dropped), s[key])
            updates[key + ".value"] = z3.If(cond, z3.If(dropped, self._n(0), value), s[key + ".value"])
            updates[key + ".dirty"] = z3.If(cond, z3.Not(wt), s[key + ".dirty"])
            to_disk.append(z3.And(cond, wt))
        updates[disk] = z3.If(z3.Or(to_disk), value, s[disk])
        return updates

    def _write_waits(self, s: Sym, c: int, lu: int, b: int) -> z3.BoolRef:
        """``_write_waits``: a write of the block at ``c`` goes to disk (write-through) while
        ``c``'s de-stage of the block is under way, so it must wait."""
        return z3.And(s[f"c{c}.wt.{lu}"], s[f"c{c}.destage.{lu}.{b}"])

    def _owner_waits(self, s: Sym, writers: list[tuple[int, z3.BoolRef]], lu: int, b: int) -> z3.BoolRef:
        """The controller whose condition holds (at most one) must wait to write the block."""
        return z3.Or([z3.And(cond, self._write_waits(s, c, lu, b)) for c, cond in writers])

    def _first_owner(self, s: Sym, lu: int) -> list[tuple[int, z3.BoolRef]]:
        """``_owner``: for each controller, the condition that it is the lowest-numbered one
        in charge of ``lu``."""
        controllers = range(self.m.scenario.controllers)
        return [
            (c, z3.And(s[f"c{c}.active.{lu}"], *[z3.Not(s[f"c{d}.active.{lu}"]) for d in range(c)]))
            for c in controllers
        ]

    def _seen(self, s: Sym, lu: int, b: int) -> z3.ExprRef:
        """A block through its first controller in charge, else the disk."""
        value = s[f"disk.{lu}.{b}"]
        for c, first in reversed(self._first_owner(s, lu)):
            value = z3.If(first, self._visible(s, c, lu, b), value)
        return value

    def _mirror(self, s: Sym, lu: int, b: int, value: z3.ExprRef) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        """``_mirror``: a write to a paired primary is handed to the secondary's controller in
        charge (``_mirror_write`` performs it); a split pair records the block in its
        difference information. With the updates, the condition that a mirror write is now
        under way (the host's reply waits for it)."""
        i = self.m.pair_of[lu]
        if i is None or self.m.scenario.pairs[i].primary != lu:
            return z3.BoolVal(False), {}
        paired = s[f"pair{i}.state"] == int(PairState.PAIRED)
        owners = self._first_owner(s, self.m.scenario.pairs[i].secondary)
        handed = z3.And(paired, z3.Or([first for _, first in owners]))
        c: z3.ExprRef = self._n(0)
        for d, first in reversed(owners):
            c = z3.If(first, self._n(d), c)
        mirror, diff = f"pair{i}.mirror", f"pair{i}.diff.{b}"
        updates = {
            mirror: z3.Or(s[mirror], handed),
            mirror + ".block": z3.If(handed, self._n(b), s[mirror + ".block"]),
            mirror + ".value": z3.If(handed, value, s[mirror + ".value"]),
            mirror + ".controller": z3.If(handed, c, s[mirror + ".controller"]),
            diff: z3.Or(s[diff], z3.Not(paired)),
        }
        return handed, updates

    def _mirror_write(self, s: Sym, i: int) -> Iterator[Instance]:
        """``mirror_write``: the controller handed pair ``i``'s mirror write performs it, once
        no de-stage of the block is under way there if it goes to disk; the reply goes."""
        spec, mirror = self.m.scenario.pairs[i], f"pair{i}.mirror"
        h = self.m.writer[spec.primary]
        if h is None:
            return  # nobody writes the primary: no mirror write is ever handed over
        for c in range(self.m.scenario.controllers):
            for b in range(self.m.blocks[spec.secondary]):
                due = z3.And(s[mirror], s[mirror + ".controller"] == c, s[mirror + ".block"] == b)
                yield Instance(
                    "mirror_write",
                    (i, c, b),
                    z3.And(due, z3.Not(self._write_waits(s, c, spec.secondary, b))),
                    {
                        **self._write_block(
                            s, [(c, z3.BoolVal(True))], spec.secondary, b, s[mirror + ".value"]
                        ),
                        mirror: z3.BoolVal(False),
                        **{f"{mirror}.{f}": self._n(0) for f in MirrorWrite._fields},
                        f"host{h}.at": self._n(Where.REPLIED),
                    },
                )

    def _mirror_pending(self, s: Sym, c: int, lu: int) -> z3.BoolRef:
        """``_mirror_pending``: controller ``c`` still has a mirror write of the secondary
        ``lu`` to perform."""
        mirror = f"pair{self._pair(lu)}.mirror"
        return z3.And(s[mirror], s[mirror + ".controller"] == c)

    def _process(self, s: Sym, h: int, lu: int, b: int, c: int, at_c: z3.BoolRef) -> Iterator[Instance]:
        p, key = f"host{h}", f"c{c}.line.{lu}.{b}"
        disk = f"disk.{lu}.{b}"
        handed, mirrored = self._mirror(s, lu, b, s[p + ".value"])
        yield Instance(
            "process",
            (h, lu, b, c),
            z3.And(at_c, s[p + ".write"], z3.Not(self._write_waits(s, c, lu, b))),
            {
                **self._write_block(s, [(c, z3.BoolVal(True))], lu, b, s[p + ".value"]),
                **mirrored,
                p + ".at": z3.If(handed, self._n(Where.MIRRORING), self._n(Where.REPLIED)),
            },
        )
        value = z3.If(s[key], s[key + ".value"], s[disk])
        fill = z3.And(z3.Not(s[key]), self._fills(s, c, lu))
        bad = z3.And(z3.Not(s["bad_read"]), z3.Not(self._admissible(s, lu, b, value)))
        yield Instance(
            "process",
            (h, lu, b, c),
            z3.And(at_c, z3.Not(s[p + ".write"])),
            {
                key: z3.Or(s[key], fill),
                key + ".value": z3.If(fill, s[disk], s[key + ".value"]),
                p + ".value": value,
                p + ".at": self._n(Where.REPLIED),
                "bad_read": z3.Or(s["bad_read"], bad),
                "bad_read.lu": z3.If(bad, self._n(lu), s["bad_read.lu"]),
                "bad_read.block": z3.If(bad, self._n(b), s["bad_read.block"]),
                "bad_read.value": z3.If(bad, value, s["bad_read.value"]),
                "bad_read.controller": z3.If(bad, self._n(c), s["bad_read.controller"]),
            },
        )

    def _fills(self, s: Sym, c: int, lu: int) -> z3.BoolRef:
        """Whether a read miss at ``c`` fills a clean line: not while the LU is write-through
        there, unless write-through is taken literally (``literal_write_through``)."""
        if self.m.protocol.literal_write_through:
            return z3.BoolVal(True)
        return z3.Not(s[f"c{c}.wt.{lu}"])

    def _designate(self, s: Sym) -> Iterator[Instance]:
        """801 in "any" mode: only the last external LUN of a port may leave (the argument
        filter of ``_designations``), to the lowest external LUN free on the take-over port."""
        m, sc = self.m, self.m.scenario
        final = self._final_layout(s)
        now = [self._address(s, "disk.row", lu) for lu in range(m.lus)]
        port = self._n(sc.takeover_port)
        for lu in range(m.lus):
            c0, p0, e0 = final[lu]
            last = []
            for other in range(m.lus):
                if other != lu:
                    c1, p1, e1 = final[other]
                    beats = e1 >= e0 if other < lu else e1 > e0  # ties go to the lower LU
                    last.append(z3.Not(z3.And(c1 == c0, p1 == p0, beats)))
            for dst in range(sc.controllers):
                d = self._n(dst)

                def free(n: int, d: z3.ExprRef = d) -> z3.BoolRef:
                    wanted = (d, port, self._n(n))
                    return z3.And([z3.Not(_same(wanted, a)) for a in [*final, *now]])

                ext: z3.ExprRef = self._n(m.lus)
                for n in reversed(range(m.lus + 1)):
                    ext = z3.If(free(n), self._n(n), ext)
                fields = {
                    "source": s[f"disk.row.{lu}.current"],
                    "destination": d,
                    "port": port,
                    "ext_lun": ext,
                    "done": self._n(1),
                }
                yield Instance(
                    "designate",
                    (lu, dst),
                    z3.And(s["budget"] > 0, *last, self._accept(s, [(lu, fields)])),
                    {
                        **self._append_jobs(s, [(lu, fields)]),
                        **self._designated([(lu, fields)]),
                        "budget": s["budget"] - 1,
                    },
                )

    def _job_steps(self, s: Sym, lu: int, i: int, src: int, dst: int) -> Iterator[Instance]:
        """The steps of the job in slot ``i`` of ``lu``, moving it from ``src`` to ``dst``
        (802-809, or 902-909 for a secondary's backup cycle): each step's actions as
        ``_JOB_ACTIONS`` lists them, enabled when it is the job's next step."""
        m = self.m
        order = m.backup_order if lu in self.layout.secondaries else m.order
        j = f"job.{lu}.{i}"
        mine = z3.And(s[j], s[f"{j}.source"] == src, s[f"{j}.destination"] == dst)
        for k, step in enumerate(order):
            if step in (Step.DESIGNATE, Step.SPLIT_PAIR):
                continue  # the job's first step is its creation
            guard = z3.And(mine, s[f"{j}.done"] == k)
            advance = self._advance(s, lu, i, k, len(order))
            for name, action in _JOB_ACTIONS[step]:
                yield from action(self, s, _JobStep(name, step, lu, i, src, dst, guard, advance))

    # --- Steps 802-809, one method per action ------------------------------------------------

    def _instruct(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """802: the instruction reaches the array; nothing but the job's progress changes."""
        yield job.instance({})

    def _write_row(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """803: the new row into the source's table and the disk's."""
        lu = job.lu
        row = {
            "ext_lun": s[f"{job.slot}.ext_lun"],
            "port": s[f"{job.slot}.port"],
            "default": self._n(job.dst),
            "current": self._n(job.dst),
        }
        updates: dict[str, z3.ExprRef] = {}
        for f, e in row.items():
            updates[f"c{job.src}.row.{lu}.{f}"] = e
            updates[f"disk.row.{lu}.{f}"] = e
        yield job.instance(updates)

    def _read_row(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """803: every controller but the source (and a stale destination) reads the row."""
        m, lu = self.m, job.lu
        updates: dict[str, z3.ExprRef] = {}
        for c in range(m.scenario.controllers):
            if c == job.src or (c == job.dst and m.protocol.stale_config_row):
                continue
            for f in _ROW_FIELDS:
                updates[f"c{c}.row.{lu}.{f}"] = s[f"disk.row.{lu}.{f}"]
        yield job.instance(updates)

    def _notify(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """805: a seeded bug ends write-through here."""
        updates: dict[str, z3.ExprRef] = {}
        if self.m.protocol.write_back_after_destage:
            updates[f"c{job.src}.wt.{job.lu}"] = z3.BoolVal(False)
        yield job.instance(updates)

    def _suspend(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """806: the path holds the LU's frames."""
        yield job.instance({f"path.{job.lu}.suspended": z3.BoolVal(True)})

    def _switch_path(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """807: the path routes the LU to the destination."""
        yield job.instance({f"path.{job.lu}.route": self._n(job.dst)})

    def _stop_source(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """808: the source, once it holds no request for the LU, stops; write-through ends."""
        guard = job.guard
        if not self.m.protocol.stop_without_drain:
            for h in range(len(self.m.scenario.hosts)):
                p = f"host{h}"
                guard = z3.And(guard, z3.Not(z3.And(s[p], s[p + ".at"] == job.src, s[p + ".lu"] == job.lu)))
        c, lu = f"c{job.src}", job.lu
        yield job.instance({f"{c}.active.{lu}": z3.BoolVal(False), f"{c}.wt.{lu}": z3.BoolVal(False)}, guard)

    def _start_destination(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """808: the destination starts controlling the LU."""
        yield job.instance({f"c{job.dst}.active.{job.lu}": z3.BoolVal(True)})

    def _resume(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """809: the path releases the LU's frames."""
        yield job.instance({f"path.{job.lu}.suspended": z3.BoolVal(False)})

    # --- 804 / 903 / 908: one mechanism, at the controller ``holder`` names ---------------------

    def _begin_writethrough(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """``begin_destage`` / ``_begin_writethrough``: the LU's writes become write-through
        (at 804 not under the seeded bug that forgets it)."""
        updates: dict[str, z3.ExprRef] = {}
        if not (job.step is Step.BEGIN_DESTAGE and self.m.protocol.no_write_through):
            updates[f"c{job.holder}.wt.{job.lu}"] = z3.BoolVal(True)
        yield job.instance(updates)

    def _destage(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """``_destage``: the holder starts writing one dirty line of the LU to disk
        (``_destage_done`` finishes it)."""
        for b in range(self.m.blocks[job.lu]):
            guard, updates = self._start_destage(s, job.holder, job.lu, b)
            yield Instance(job.name, (*job.args, b), z3.And(job.guard, guard), updates)

    def _start_destage(self, s: Sym, c: int, lu: int, b: int) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        """``_start_destage``: with a dirty line of the block and no de-stage of it under
        way, ``c`` records the line's value as being written; the line stays dirty."""
        key, busy = f"c{c}.line.{lu}.{b}", f"c{c}.destage.{lu}.{b}"
        guard = z3.And(s[key], s[key + ".dirty"], z3.Not(s[busy]))
        return guard, {busy: z3.BoolVal(True), busy + ".value": s[key + ".value"]}

    def _background_destage(self, s: Sym, c: int, lu: int, b: int) -> Instance:
        """``background_destage``: any controller starts a de-stage of a write-back LU."""
        guard, updates = self._start_destage(s, c, lu, b)
        return Instance("background_destage", (c, lu, b), z3.And(z3.Not(s[f"c{c}.wt.{lu}"]), guard), updates)

    def _destage_done(self, s: Sym, c: int, lu: int, b: int) -> Instance:
        """``destage_done``: the disk block takes the recorded value, and the line is clean
        if it still holds that value (under ``destage_clean_unconditionally``, whatever it
        holds). An absent line is canonically clean, so it stays as it is."""
        key, busy = f"c{c}.line.{lu}.{b}", f"c{c}.destage.{lu}.{b}"
        cleans = (
            z3.BoolVal(True)
            if self.m.protocol.destage_clean_unconditionally
            else z3.And(s[key], s[key + ".value"] == s[busy + ".value"])
        )
        return Instance(
            "destage_done",
            (c, lu, b),
            s[busy],
            {
                f"disk.{lu}.{b}": s[busy + ".value"],
                busy: z3.BoolVal(False),
                busy + ".value": self._n(0),
                key + ".dirty": z3.And(s[key + ".dirty"], z3.Not(cleans)),
            },
        )

    def _purge(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """``_purge``: with nothing dirty left and every de-stage done, the LU's lines leave
        the cache (at 804 not under the seeded bug that keeps clean ones)."""
        lu, blocks = job.lu, range(self.m.blocks[job.lu])
        c = f"c{job.holder}"
        guard = z3.And(
            job.guard,
            *[z3.Not(z3.Or(s[f"{c}.line.{lu}.{b}.dirty"], s[f"{c}.destage.{lu}.{b}"])) for b in blocks],
        )
        updates: dict[str, z3.ExprRef] = {}
        if not (job.step is Step.PURGE and self.m.protocol.keep_clean_lines):
            for b in blocks:
                key = f"c{job.holder}.line.{lu}.{b}"
                updates.update(
                    {key: z3.BoolVal(False), key + ".value": self._n(0), key + ".dirty": z3.BoolVal(False)}
                )
        yield job.instance(updates, guard)

    # --- embodiment 2: Steps 901-909 --------------------------------------------------------

    def _all_tables(self, lu: int, row: dict[str, z3.ExprRef]) -> dict[str, z3.ExprRef]:
        """``_migrate``: the row to the disk and every controller's table."""
        updates = {f"disk.row.{lu}.{f}": e for f, e in row.items()}
        for c in range(self.m.scenario.controllers):
            updates.update({f"c{c}.row.{lu}.{f}": e for f, e in row.items()})
        return updates

    def _split_pair(self, s: Sym, index: int, i: int) -> Instance:
        """901: the next backup of the script splits its pair and starts the cycle."""
        m, spec = self.m, self.m.scenario.pairs[i]
        q, row = spec.secondary, f"disk.row.{spec.secondary}"
        blocks = range(m.blocks[spec.primary])
        free = z3.Not(z3.Or(self._moving(s, spec.primary), self._moving(s, q)))
        job = {
            "source": s[f"{row}.current"],
            "destination": s[f"{row}.default"],
            "port": s[f"{row}.port"],
            "ext_lun": s[f"{row}.ext_lun"],
            "done": self._n(1),
        }
        updates = {
            **self._append_jobs(s, [(q, job)]),
            f"pair{i}.state": self._n(int(PairState.SPLIT)),
            f"pair{i}.tape_len": self._n(0),
            f"pair{i}.split": z3.BoolVal(True),
            f"pair{i}.imaged": z3.BoolVal(True),
            f"pair{i}.home.default": s[f"{row}.default"],
            f"pair{i}.home.current": s[f"{row}.current"],
            "backups": self._n(index + 1),
        }
        for b in blocks:
            updates[f"pair{i}.diff.{b}"] = z3.BoolVal(False)
            updates[f"pair{i}.tape.{b}"] = self._n(0)
            updates[f"pair{i}.snapshot.{b}"] = self._seen(s, spec.primary, b)
        guard = z3.And(s["backups"] == index, s[f"pair{i}.state"] == int(PairState.PAIRED), free)
        return Instance("split_pair", (index,), guard, updates)

    def _migrate_out(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """902: the row to every table, default := source, current := backup controller."""
        row = f"disk.row.{job.lu}"
        default = s[f"{row}.default"] if self.m.protocol.no_default_swap else self._n(job.src)
        fields = {"ext_lun": s[f"{row}.ext_lun"], "port": s[f"{row}.port"]}
        row_out = {**fields, "default": default, "current": self._n(job.dst)}
        yield job.instance(self._all_tables(job.lu, row_out))

    def _hand_over(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """904: once drained and its mirror write done, the source passes control to the
        backup controller."""
        guard = z3.And(
            job.guard, self._drained(s, job.src, job.lu), z3.Not(self._mirror_pending(s, job.src, job.lu))
        )
        yield job.instance(self._pass_control(job.lu, job.src, job.dst), guard)

    def _backup_block(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """905: the next block, read through the backup controller's cache, onto the tape;
        a miss fills a clean line as a host read does (``_fills``)."""
        p, lu = self._pair(job.lu), job.lu
        tape_len = s[f"pair{p}.tape_len"]
        for b in range(self.m.blocks[lu]):
            key = f"c{job.dst}.line.{lu}.{b}"
            fill = z3.And(z3.Not(s[key]), self._fills(s, job.dst, lu))
            yield Instance(
                job.name,
                (*job.args, b),
                z3.And(job.guard, tape_len == b, s[f"c{job.dst}.active.{lu}"]),
                {
                    f"pair{p}.tape.{b}": self._visible(s, job.dst, lu, b),
                    f"pair{p}.tape_len": self._n(b + 1),
                    key: z3.Or(s[key], fill),
                    key + ".value": z3.If(fill, s[f"disk.{lu}.{b}"], s[key + ".value"]),
                },
            )

    def _backup_done(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """905: every block is on tape (a seeded bug does not wait for it)."""
        guard, tape_len = job.guard, s[f"pair{self._pair(job.lu)}.tape_len"]
        if not self.m.protocol.resync_before_backup_done:
            guard = z3.And(guard, tape_len >= self.m.blocks[job.lu])
        yield job.instance({}, guard)

    def _request_resync(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """906: the pair starts re-synchronizing."""
        yield job.instance({f"pair{self._pair(job.lu)}.state": self._n(int(PairState.RESYNCING))})

    def _migrate_back(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """907: the row to every table, current := default, default := backup controller
        (a seeded bug brings back the backup controller's empty difference information)."""
        row = f"disk.row.{job.lu}"
        fields = {"ext_lun": s[f"{row}.ext_lun"], "port": s[f"{row}.port"]}
        updates = self._all_tables(
            job.lu, {**fields, "default": self._n(job.dst), "current": s[f"{row}.default"]}
        )
        if self.m.protocol.stale_diff_copy:
            p = self._pair(job.lu)
            updates.update({f"pair{p}.diff.{b}": z3.BoolVal(False) for b in range(self.m.blocks[job.lu])})
        yield job.instance(updates)

    def _return_control(self, s: Sym, job: _JobStep) -> Iterator[Instance]:
        """909: once drained and its mirror write done, the backup controller passes control
        to the row's current one."""
        guard = z3.And(
            job.guard, self._drained(s, job.dst, job.lu), z3.Not(self._mirror_pending(s, job.dst, job.lu))
        )
        for home in range(self.m.scenario.controllers):
            here = z3.And(guard, s[f"disk.row.{job.lu}.current"] == home)
            yield job.instance(self._pass_control(job.lu, job.dst, home), here)

    def _pair(self, lu: int) -> int:
        """The pair whose secondary ``lu`` is (a backup job moves a secondary)."""
        p = self.m.pair_of[lu]
        assert p is not None, "a backup job moves a secondary"
        return p

    def _drained(self, s: Sym, c: int, lu: int) -> z3.BoolRef:
        hosts = range(len(self.m.scenario.hosts))
        return z3.And(
            [z3.Not(z3.And(s[f"host{h}"], s[f"host{h}.at"] == c, s[f"host{h}.lu"] == lu)) for h in hosts]
        )

    def _pass_control(self, lu: int, old: int, new: int) -> dict[str, z3.ExprRef]:
        """``_pass_control``: ``old`` stops (write-through ends), ``new`` starts, the route follows."""
        return {
            f"c{old}.active.{lu}": z3.BoolVal(False),
            f"c{old}.wt.{lu}": z3.BoolVal(False),
            f"c{new}.active.{lu}": z3.BoolVal(True),  # after old's: new may equal old
            f"path.{lu}.route": self._n(new),
        }

    def _resync(self, s: Sym, i: int) -> Iterator[Instance]:
        """906: copy each tracked block to the secondary, then pair again."""
        spec = self.m.scenario.pairs[i]
        resyncing = z3.And(
            s[f"pair{i}.state"] == int(PairState.RESYNCING), z3.Not(self._moving(s, spec.secondary))
        )
        blocks = range(self.m.blocks[spec.primary])
        writers = self._first_owner(s, spec.secondary)
        for b in blocks:
            diff = f"pair{i}.diff.{b}"
            value = self._seen(s, spec.primary, b)
            yield Instance(
                "resync_block",
                (i, b),
                z3.And(resyncing, s[diff], z3.Not(self._owner_waits(s, writers, spec.secondary, b))),
                {
                    **self._write_block(s, writers, spec.secondary, b, value),
                    diff: z3.BoolVal(False),
                },
            )
        clean = (
            z3.BoolVal(True)
            if self.m.protocol.resync_without_diff
            else z3.Not(z3.Or([s[f"pair{i}.diff.{b}"] for b in blocks]))
        )
        yield Instance(
            "resync_done",
            (i,),
            z3.And(resyncing, clean),
            {
                f"pair{i}.state": self._n(int(PairState.PAIRED)),
                **{f"pair{i}.diff.{b}": z3.BoolVal(False) for b in blocks},
            },
        )

    def _advance(self, s: Sym, lu: int, i: int, k: int, steps: int) -> dict[str, z3.ExprRef]:
        """``_advance``: the job's next step is done; after its last step the job is over,
        and the LU's later jobs move down a slot (the model keeps them in a sorted tuple)."""
        j = f"job.{lu}.{i}"
        if k + 1 < steps:
            return {f"{j}.done": self._n(k + 1)}
        updates: dict[str, z3.ExprRef] = {}
        for slot in range(i, self.layout.slots):
            to, frm = f"job.{lu}.{slot}", f"job.{lu}.{slot + 1}"
            last = slot + 1 == self.layout.slots
            updates[to] = z3.BoolVal(False) if last else s[frm]
            for f in _JOB_FIELDS:
                updates[f"{to}.{f}"] = self._n(0) if last else s[f"{frm}.{f}"]
        return updates


# What a job's step does: the model's actions performing it (``ACTIONS`` of model/actions.py,
# with their names), in the order their instances are numbered. 804, 903 and 908 are one
# mechanism, told apart by the step.
_StepAction = Callable[[Encoding, Sym, _JobStep], Iterator[Instance]]
_JOB_ACTIONS: dict[Step, tuple[tuple[str, _StepAction], ...]] = {
    Step.INSTRUCT: (("instruct", Encoding._instruct),),
    Step.WRITE_ROW: (("write_row", Encoding._write_row),),
    Step.READ_ROW: (("read_row", Encoding._read_row),),
    Step.BEGIN_DESTAGE: (("begin_destage", Encoding._begin_writethrough),),
    Step.PURGE: (("destage_line", Encoding._destage), ("purge", Encoding._purge)),
    Step.NOTIFY: (("notify", Encoding._notify),),
    Step.SUSPEND: (("suspend", Encoding._suspend),),
    Step.SWITCH_PATH: (("switch_path", Encoding._switch_path),),
    Step.STOP_SOURCE: (("stop_source", Encoding._stop_source),),
    Step.START_DESTINATION: (("start_destination", Encoding._start_destination),),
    Step.RESUME: (("resume", Encoding._resume),),
    Step.MIGRATE_OUT: (("migrate_out", Encoding._migrate_out),),
    Step.BEGIN_BACKUP_DESTAGE: (("begin_backup_destage", Encoding._begin_writethrough),),
    Step.PURGE_BACKUP: (("destage_backup_line", Encoding._destage), ("purge_backup", Encoding._purge)),
    Step.HAND_OVER: (("hand_over", Encoding._hand_over),),
    Step.BACKUP_DONE: (("backup_block", Encoding._backup_block), ("backup_done", Encoding._backup_done)),
    Step.REQUEST_RESYNC: (("request_resync", Encoding._request_resync),),
    Step.MIGRATE_BACK: (("migrate_back", Encoding._migrate_back),),
    Step.BEGIN_RETURN_DESTAGE: (("begin_return_destage", Encoding._begin_writethrough),),
    Step.PURGE_RETURN: (("destage_return_line", Encoding._destage), ("purge_return", Encoding._purge)),
    Step.RETURN_CONTROL: (("return_control", Encoding._return_control),),
}


def _integer(e: z3.ExprRef) -> int:
    return int(e.as_signed_long()) if z3.is_bv_value(e) else int(e.as_long())


def _same(a: tuple[z3.ExprRef, ...], b: tuple[z3.ExprRef, ...]) -> z3.BoolRef:
    return z3.And([x == y for x, y in zip(a, b, strict=True)])


def _unique(addresses: list[tuple[z3.ExprRef, z3.ExprRef, z3.ExprRef]]) -> z3.BoolRef:
    return z3.And([z3.Not(_same(a, b)) for i, a in enumerate(addresses) for b in addresses[i + 1 :]])


def _gap_free(
    addresses: list[tuple[z3.ExprRef, z3.ExprRef, z3.ExprRef]], one: z3.ExprRef, zero: z3.ExprRef
) -> z3.BoolRef:
    """With addresses unique: on every (controller, port) the external LUNs are 0..n-1, as
    each is below the number of LUs sharing its (controller, port) and none is negative."""
    parts = []
    for c, p, e in addresses:
        sharing = z3.Sum([z3.If(z3.And(c2 == c, p2 == p), one, zero) for c2, p2, _ in addresses])
        parts.append(z3.And(e >= 0, e < sharing))
    return z3.And(parts)
