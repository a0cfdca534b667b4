"""Simulated hosts and operator: what is done to the array in a simulated run.

A host writes blocks whose bytes say which write they are: the ``n``-th write of a block
fills it with ``n`` as a 64-bit little-endian number, repeated. A read then tells exactly
which write it returned, and a block of zeros is one never written."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from reference_impl.config import ArrayConfig, HostConfig, Workload
from reference_impl.frames import Frame, Status
from reference_impl.table import ConfigRow
from reference_impl.utility import ManagementUtility, Move

_WORD = struct.Struct("<Q")


def pattern(n: int, block_size: int) -> bytes:
    """The data of the ``n``-th write of a block (0: never written)."""
    return _WORD.pack(n) * (block_size // _WORD.size)


def pattern_number(data: bytes) -> int | None:
    """Which write ``data`` is, or None if it is no write's pattern (torn or foreign)."""
    (n,) = _WORD.unpack_from(data)
    return n if data == _WORD.pack(n) * (len(data) // _WORD.size) else None


class Host:
    """A computer (2x) with one request outstanding at a time."""

    def __init__(self, number: int, config: HostConfig, workload: Workload, blocks: dict[int, int]) -> None:
        self.number = number
        self.config = config
        self.workload = workload
        self.blocks = blocks  # LU -> blocks, for the LUs it uses
        self.writes: dict[tuple[int, int], int] = {}  # writes issued per (LU, block)
        self.reads: dict[tuple[int, int], int] = {}
        self.outstanding: Frame | None = None
        self.acked: dict[tuple[int, int], int] = {}  # (LU, block) -> the last write acknowledged
        self.bad_reads: list[str] = []  # reads of its own LUs that returned another write

    def can_send(self, write: bool, lu: int, block: int) -> bool:
        if self.outstanding is not None:
            return False
        if write:
            return (
                lu in self.config.writes and self.writes.get((lu, block), 0) < self.workload.writes_per_block
            )
        return lu in self.config.reads and self.reads.get((lu, block), 0) < self.workload.reads_per_block

    def sends(self) -> Iterator[tuple[bool, int, int]]:
        for write, lus in ((True, self.config.writes), (False, self.config.reads)):
            for lu in lus:
                for block in range(self.blocks[lu]):
                    if self.can_send(write, lu, block):
                        yield write, lu, block

    def send(self, write: bool, lu: int, block: int, block_size: int) -> Frame:
        counts = self.writes if write else self.reads
        n = counts.get((lu, block), 0) + 1
        counts[lu, block] = n
        self.outstanding = Frame(self.number, write, lu, block, pattern(n, block_size) if write else None)
        return self.outstanding

    def value_read(self, data: bytes) -> int:
        """Which write ``data`` (a block just read) is: -1 if it is none of this host's."""
        n = pattern_number(data)
        return -1 if n is None else n

    def complete(self) -> Frame:
        frame = self.outstanding
        assert frame is not None and frame.status is Status.REPLIED and frame.data is not None
        self.outstanding = None
        key, n = (frame.lu, frame.block), pattern_number(frame.data)
        if frame.write:
            assert n is not None
            self.acked[key] = n
        elif frame.lu in self.config.writes and n != self.acked.get(key, 0):
            # No other host writes the LU and this one has no write in flight: a read must
            # return the last write acknowledged.
            self.bad_reads.append(
                f"block {frame.block} of LU{frame.lu}: read write {n}, acknowledged {self.acked.get(key, 0)}"
            )
        return frame


class Operator:
    """The operator at the management console: the scripted batches in order, or ("any")
    any LU to any controller while the budget lasts."""

    def __init__(self, workload: Workload, array: ArrayConfig) -> None:
        self.workload = workload
        self.array = array
        self.batches = 0  # batches designated so far
        self.backups = 0  # backup cycles (embodiment 2) started so far
        self.budget = workload.budget if workload.mode == "any" else 0

    def next_backup(self) -> int | None:
        """The index of the script's next backup, or None when all have started."""
        return self.backups if self.backups < len(self.workload.backups) else None

    def batch_moves(self, index: int, rows: dict[int, ConfigRow]) -> list[Move]:
        batch = self.workload.batches[index]
        moves = []
        for i, lu in enumerate(batch.lus):
            row = rows[lu]
            port = batch.port if batch.port is not None else row.port
            ext = batch.ext_luns[i] if batch.ext_luns is not None else row.ext_lun
            moves.append(Move(lu, batch.destination, port, ext))
        return moves

    def single_move(
        self, lu: int, destination: int, rows: dict[int, ConfigRow], utility: ManagementUtility
    ) -> Move:
        port = self.workload.takeover_port
        return Move(lu, destination, port, utility.free_ext_lun(rows, destination, port))

    def designations(
        self, rows: dict[int, ConfigRow], utility: ManagementUtility
    ) -> Iterator[tuple[str, tuple[int, ...], list[Move]]]:
        """(event name, args, moves) of every designation the operator could make now."""
        if self.workload.mode == "scripted":
            if self.batches < len(self.workload.batches):
                yield "designate_batch", (self.batches,), self.batch_moves(self.batches, rows)
        elif self.budget > 0:
            for lu in sorted(rows):
                for c in range(self.array.controllers):
                    yield "designate", (lu, c), [self.single_move(lu, c, rows, utility)]
