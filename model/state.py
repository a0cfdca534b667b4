"""The state of the array: immutable, hashable records, one per component.

Every record is a ``NamedTuple``: a plain tuple underneath, so hashing and comparison run
at C speed in the explicit checker, while code and traces still read fields by name.
Identifiers are small integers: controller ``c`` is the patent's 11x, LU ``l`` its internal
LUN (121x), host ``h`` a computer 2x. Per-LU data is kept in tuples indexed by internal LUN,
per-block data in tuples indexed by block number inside the LU.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, TypeVar

T = TypeVar("T")


class Op(IntEnum):
    """What a host request asks for."""

    READ = 0
    WRITE = 1

    def __repr__(self) -> str:
        return self.name


class Where(IntEnum):
    """Where a host request is when it is not in a controller's inbox.

    A request in controller ``c``'s inbox has ``at == c`` (a non-negative number); the
    negative values below are the other places a frame can be.
    """

    PATH = -1  # sent by the host, held by the path controller (31) until delivered
    REPLIED = -2  # processed; the reply is on its way back to the host
    NOT_READY = -3  # refused by a controller not in charge of the LU; the host will retry
    MIRRORING = -4  # embodiment 2: the primary is written; the reply waits for the mirror write

    def __repr__(self) -> str:
        return self.name


class Row(NamedTuple):
    """The fields of a configuration information table row (Fig. 2) that a take-over changes.

    Internal LUN is the row's index; block count, RAID group, RAID level and physical
    address never change (Figs. 5A/5B omit them for that reason) and live in the scenario.
    """

    ext_lun: int
    port: int
    default: int  # default controller number: who should take charge of the LU
    current: int  # current controller number: who takes charge of it now


class Line(NamedTuple):
    """One line of a dedicated cache (111x): a block of an LU, its value, its dirty bit."""

    lu: int
    block: int
    value: int
    dirty: bool


class Destage(NamedTuple):
    """A de-stage under way: the disk write of a line's value, issued and not yet done.

    The line itself stays in the cache, dirty, and a host write may change it meanwhile, so
    the value written is kept here: the line is clean at the end only if it still holds it."""

    lu: int
    block: int
    value: int


class Controller(NamedTuple):
    """A controller (11x) with its dedicated cache (111x) and configuration table (1121x)."""

    active: tuple[int, ...]  # sorted LUs this controller is in charge of (accepts I/O for)
    write_through: tuple[int, ...]  # sorted LUs whose writes bypass the cache (Step 804)
    cache: tuple[Line, ...]  # sorted by (lu, block)
    table: tuple[Row, ...]  # indexed by internal LUN
    destaging: tuple[Destage, ...] = ()  # sorted by (lu, block): disk writes under way


class Disk(NamedTuple):
    """The disk apparatus (12x): the LUs' blocks and the table at its predetermined position."""

    blocks: tuple[tuple[int, ...], ...]  # [lu][block] -> value
    table: tuple[Row, ...]  # rows written at Step 803, indexed by internal LUN


class Path(NamedTuple):
    """The path change means (31) for one LU: where its frames go, and whether they are held."""

    route: int  # controller that receives the LU's frames
    suspended: bool  # Step 806 .. 809: frames are held at the path controller


# The value of a read request until a controller has processed it (values written are >= 1).
UNREAD = -1
# What a request at the path controller hashes its place as (see ``Request.__hash__``):
# a number no place is.
_PATH_HASH = -1_000_003


class Request(NamedTuple):
    """A host's one outstanding request, and where its frame is now."""

    op: Op
    lu: int
    block: int
    value: int  # the value written, or the value read once processed (``UNREAD`` before)
    # A controller number (>= 0: in its inbox; see ``in_inbox``) or a (negative) ``Where``
    # value. One plain int rather than a small type: host actions test it millions of times.
    at: int

    def __hash__(self) -> int:
        # CPython hashes -1 as -2 (-1 is its C error code), so a request at the path
        # controller (-1) and the same request replied (-2) would hash alike, and the explicit
        # checker, which keeps states as hashes, would take two states for one.
        return hash(
            (self.op, self.lu, self.block, self.value, self.at if self.at != Where.PATH else _PATH_HASH)
        )


class Job(NamedTuple):
    """A take-over of one LU, as the management utility (41) tracks it."""

    lu: int
    source: int
    destination: int
    port: int  # port the LU will use on the destination (Step 801 may change it)
    ext_lun: int  # external LUN the LU will use there
    done: int  # how many steps of the protocol's step order are done
    backup: bool = False  # embodiment 2: a backup cycle (Steps 901-909), not a take-over


class BadRead(NamedTuple):
    """A read that returned a value no write had acknowledged or was writing."""

    lu: int
    block: int
    value: int  # what the read returned
    controller: int  # the controller that performed it


class Address(NamedTuple):
    """Where hosts find an LU: the controller in charge of it, the port and the external LUN."""

    controller: int
    port: int
    ext_lun: int


class Ghost(NamedTuple):
    """Variables no component can see; they exist only to state the properties."""

    acked: tuple[tuple[int, ...], ...]  # [lu][block] -> value of the last acknowledged write
    writes: tuple[tuple[int, ...], ...]  # [lu][block] -> writes issued so far (= last value)
    reads: tuple[tuple[int, ...], ...]  # [lu][block] -> reads issued so far
    bad_read: BadRead | None  # the first wrong read; None while every read was right
    # [lu] -> the address Step 801 last designated for the LU (the scenario's until then).
    # A finished take-over leaves no job behind, so what Step 803 had to write is kept here.
    # A backup cycle (Steps 901-909) does not change it: control returns home.
    designated: tuple[Address, ...]


class PairState(IntEnum):
    """The state of a mirrored pair (embodiment 2)."""

    PAIRED = 0  # writes to the primary are mirrored to the secondary
    SPLIT = 1  # Step 901: the secondary is frozen; writes to the primary are tracked
    RESYNCING = 2  # Step 906: tracked blocks are being copied back to the secondary

    def __repr__(self) -> str:
        return self.name


class Home(NamedTuple):
    """A secondary's controller numbers before a backup cycle (Fig. 9A): where control
    must return when the cycle ends."""

    default: int
    current: int


class MirrorWrite(NamedTuple):
    """A write of the primary on its way to the secondary: the data mirroring function hands
    it to the secondary's controller in charge (``controller``), which performs it later.
    The host's reply waits for it (synchronous mirroring)."""

    block: int
    value: int
    controller: int


class Pair(NamedTuple):
    """A mirrored pair of LUs (Fig. 6: LU1 mirrors LU0, LU3 mirrors LU2) and its backups."""

    state: PairState
    diff: tuple[int, ...]  # difference information: primary blocks written since the split
    tape: tuple[int, ...]  # the backup written so far, block by block (Step 905)
    snapshot: tuple[int, ...]  # ghost: the primary's blocks at the split (the image to back up)
    home: Home | None  # ghost: the secondary's row before the last backup; None before the first
    # The mirror write under way (one writer per LU, who waits for it: at most one), or None.
    mirror: MirrorWrite | None = None


class World(NamedTuple):
    """The whole array at one instant: the explicit checker's state."""

    controllers: tuple[Controller, ...]
    disk: Disk
    paths: tuple[Path, ...]  # indexed by internal LUN
    hosts: tuple[Request | None, ...]  # each host's outstanding request
    jobs: tuple[Job, ...]  # take-overs in progress, sorted
    budget: int  # take-overs the operator may still designate ("any" mode)
    batches: int  # scripted batches designated so far ("scripted" mode)
    ghost: Ghost
    pairs: tuple[Pair, ...] = ()  # embodiment 2: mirrored pairs, indexed as the scenario's
    backups: int = 0  # embodiment 2: backup cycles started so far (scripted, in order)
    crashes: int = 0  # crashes of the whole array the scenario still allows (``crash_recover``)


def active_controllers(w: World, lu: int) -> list[int]:
    """The controllers in charge of ``lu`` (the correct protocol keeps at most one)."""
    return [c for c, ctl in enumerate(w.controllers) if lu in ctl.active]


def holders(w: World, lus: int) -> list[list[int]]:
    """For each of the ``lus`` LUs, the controllers in charge of it, in one pass over the
    controllers: asking ``active_controllers`` of every LU scans every controller's LUs once
    per LU, which on an array of a thousand LUs costs milliseconds a state.

    Four safety properties ask it of each state in turn, so the last answer is kept (for
    that very state object, which it keeps alive): the lists are shared, not to be changed."""
    global _held
    last = _held
    if last is not None and last[0] is w and last[1] == lus:
        return last[2]
    held: list[list[int]] = [[] for _ in range(lus)]
    for c, ctl in enumerate(w.controllers):
        for lu in ctl.active:
            held[lu].append(c)
    _held = (w, lus, held)
    return held


_held: tuple[World, int, list[list[int]]] | None = None  # holders' last state and answer


def owner(w: World, lu: int) -> int | None:
    """The lowest-numbered controller in charge of ``lu``, or None."""
    return next((c for c, ctl in enumerate(w.controllers) if lu in ctl.active), None)


def in_inbox(request: Request) -> bool:
    """Whether a controller has accepted the request: it waits in the inbox of controller
    ``request.at``. Otherwise ``Where(request.at)`` names the place it is. (The model's hot
    paths write the same test inline, ``request.at >= 0``.)"""
    return request.at >= 0


def find_line(ctl: Controller, lu: int, block: int) -> Line | None:
    for line in ctl.cache:
        if line.lu == lu and line.block == block:
            return line
    return None


def visible_value(w: World, c: int | None, lu: int, block: int) -> int:
    """What a read of the block would return through controller ``c``: its cache, else disk.

    With ``c`` None (no controller in charge, the instant between the two halves of
    Step 808) the disk alone holds the LU.
    """
    if c is not None:
        line = find_line(w.controllers[c], lu, block)
        if line is not None:
            return line.value
    return w.disk.blocks[lu][block]


def admissible_values(w: World, writer: int | None, lu: int, block: int) -> tuple[int, ...]:
    """Values a block may hold or a read may return: the last acknowledged write, or the
    write to it now in flight from ``writer``, the LU's one writer (it has at most one).

    The definition behind "no acknowledged write is lost" lives with the ghost state it
    reads: the model needs it too, to record a wrong read (``Ghost.bad_read``)."""
    pending = w.hosts[writer] if writer is not None else None
    acked = w.ghost.acked[lu][block]
    if pending is not None and pending.op is Op.WRITE and (pending.lu, pending.block) == (lu, block):
        return (acked, pending.value)
    return (acked,)


def jobs_for(w: World, lu: int) -> list[Job]:
    return [job for job in w.jobs if job.lu == lu]


def replace_at(items: tuple[T, ...], index: int, item: T) -> tuple[T, ...]:
    """A copy of ``items`` with ``items[index]`` replaced: the one way tuples are updated."""
    return (*items[:index], item, *items[index + 1 :])


def _quick_replace(record: type[tuple[object, ...]]) -> None:
    """Give a record class a ``_replace`` that builds the new tuple directly.

    The stock one passes every field through ``kwds.pop`` and ``_make``; the search of
    whole states calls it several times per successor, and this one takes about half the
    time (the whole search about 9% less). Same result, same error for a name that is no
    field."""
    index = {name: i for i, name in enumerate(record._fields)}  # type: ignore[attr-defined]
    new = tuple.__new__

    def _replace(self: tuple[object, ...], **changes: object) -> tuple[object, ...]:
        values = list(self)
        for name, value in changes.items():
            i = index.get(name)
            if i is None:
                raise ValueError(f"Got unexpected field names: {[n for n in changes if n not in index]!r}")
            values[i] = value
        return new(record, values)

    setattr(record, "_replace", _replace)  # noqa: B010 (NamedTuple forbids defining it in the class)


RECORDS: tuple[type[tuple[object, ...]], ...] = (
    Row, Line, Destage, Controller, Disk, Path, Request, Job,
    BadRead, Address, Ghost, Home, MirrorWrite, Pair, World,
)  # fmt: skip
for _record in RECORDS:
    _quick_replace(_record)
