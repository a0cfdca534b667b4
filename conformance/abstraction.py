"""The array's state seen as a model state.

Every field is read from where the array keeps it: cache lines and tables from each
controller, blocks and the table from the disk file (the newest valid copy), routes from
the path controller, each host's request from wherever its frame is, take-overs from the
management utility. Data is decoded from the blocks' bytes (the workload writes the n-th
write of a block as n, repeated), so the abstraction of data is exact. The ghost
variables are no component's: they are taken from the model's state."""

from __future__ import annotations

from model.labels import Label
from model.state import (
    UNREAD,
    Controller,
    Destage,
    Disk,
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
from reference_impl.frames import Frame, Status
from reference_impl.mirroring import PairStatus
from reference_impl.simulator import Simulation
from reference_impl.table import ConfigRow
from reference_impl.workload import pattern_number


class AbstractionError(ValueError):
    """Array state with no model counterpart (a block holding no write's pattern)."""


def _value(data: bytes, where: str) -> int:
    n = pattern_number(data)
    if n is None:
        raise AbstractionError(f"{where} holds bytes that are no write's data")
    return n


def _row(row: ConfigRow) -> Row:
    return Row(row.ext_lun, row.port, row.default, row.current)


def _request(frame: Frame | None) -> Request | None:
    if frame is None:
        return None
    at: int | None = {
        Status.AT_PATH: Where.PATH,
        Status.REPLIED: Where.REPLIED,
        Status.NOT_READY: Where.NOT_READY,
        Status.MIRRORING: Where.MIRRORING,
    }.get(frame.status)
    if at is None:
        assert frame.controller is not None, "a frame in an inbox names its controller"
        at = frame.controller
    where = f"host{frame.host}'s frame"
    value = UNREAD if frame.data is None else _value(frame.data, where)
    return Request(Op.WRITE if frame.write else Op.READ, frame.lu, frame.block, value, at)


def abstract(sim: Simulation, model: World) -> World:
    """The array's state as a model state; the ghost variables (and each pair's snapshot
    and home, which are ghosts too) are ``model``'s."""
    array = sim.array
    lus = array.config.lus
    controllers = []
    for ctl in array.controllers:
        here = f"controller {ctl.number}"
        controllers.append(
            Controller(
                active=tuple(sorted(ctl.active)),
                write_through=tuple(sorted(ctl.write_through)),
                cache=tuple(
                    Line(lu, b, _value(line.data, f"{here}'s line of block {b} of LU{lu}"), line.dirty)
                    for lu, b, line in ctl.cache.lines()
                ),
                table=tuple(_row(ctl.table[lu.lu]) for lu in lus),
                destaging=tuple(
                    Destage(lu, b, _value(data, f"{here}'s de-stage of block {b} of LU{lu}"))
                    for (lu, b), data in sorted(ctl.destaging.items())
                ),
            )
        )
    blocks = tuple(
        tuple(
            _value(array.disk.read(lu.physical_address + b), f"block {b} of LU{lu.lu} on disk")
            for b in range(lu.blocks)
        )
        for lu in lus
    )
    disk_rows = {row.lu: row for row in array.disk.read_table()}
    jobs = sorted(array.utility.jobs, key=lambda j: j.lu)  # stable: designation order within an LU
    return World(
        controllers=tuple(controllers),
        disk=Disk(blocks, tuple(_row(disk_rows[lu.lu]) for lu in lus)),
        paths=tuple(Path(array.path.routes[lu.lu], lu.lu in array.path.suspended) for lu in lus),
        hosts=tuple(_request(host.outstanding) for host in sim.hosts),
        jobs=tuple(Job(j.lu, j.source, j.destination, j.port, j.ext_lun, j.done, j.backup) for j in jobs),
        budget=sim.operator.budget,
        batches=sim.operator.batches,
        ghost=model.ghost,
        pairs=tuple(_pair(sim, i, ghost) for i, ghost in enumerate(model.pairs)),
        backups=sim.operator.backups,
        crashes=sim.crashes,
    )


_STATUS = {
    PairStatus.PAIRED: PairState.PAIRED,
    PairStatus.SPLIT: PairState.SPLIT,
    PairStatus.RESYNCING: PairState.RESYNCING,
}


def _pair(sim: Simulation, i: int, model: Pair) -> Pair:
    record, tape = sim.array.pairs[i], sim.array.tapes[i]
    pending = record.pending
    mirror = None
    if pending is not None:
        mirror = MirrorWrite(
            pending.block, _value(pending.data, f"pair{i}'s mirror write"), pending.controller
        )
    return Pair(
        state=_STATUS[record.status],
        diff=tuple(sorted(record.diff)),
        tape=tuple(_value(data, f"block {b} of pair{i}'s tape") for b, data in enumerate(tape.blocks())),
        snapshot=model.snapshot,
        home=model.home,
        mirror=mirror,
    )


def differences(model: object, array: object, path: str = "") -> list[str]:
    """Field by field, where the model's state and the array's abstraction differ."""
    if model == array:
        return []
    fields = getattr(model, "_fields", None)
    if fields is not None and type(model) is type(array):
        return [d for f in fields for d in differences(getattr(model, f), getattr(array, f), f"{path}.{f}")]
    if (
        isinstance(model, tuple)
        and isinstance(array, tuple)
        and len(model) == len(array)
        and not isinstance(model, Label)
    ):
        return [
            d
            for i, (a, b) in enumerate(zip(model, array, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    return [f"{path.lstrip('.') or 'state'}: model {model!r}, array {array!r}"]
