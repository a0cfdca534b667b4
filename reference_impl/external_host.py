"""Hosts outside the array: their requests come from real clients (the NBD front end).

A real client sends requests of any length; the array's hosts send one block at a time,
one request outstanding, as the model's hosts do. ``ExternalHost`` is the host's initiator:
block operations wait in its queue in the order they were submitted, and the runtime's host
thread sends them one at a time; each one's ``then`` is called with the block's data once
its reply arrives. Requests of several connections of one host are thus served one block at
a time, in order of submission.

Which write a read returned is known by content: every block written is remembered by a
digest, numbered as the model numbers writes (the ``n``-th write of a block is ``n``; a
block of zeros never written is 0), in a ledger all hosts share."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reference_impl.config import HostConfig, Workload
from reference_impl.frames import Frame, Status
from reference_impl.workload import Host


@dataclass
class BlockOp:
    """One block of a client's request, to be sent as one host frame."""

    write: bool
    lu: int
    block: int
    data: bytes | None  # the block's new data, for a write
    then: Callable[[bytes], None]  # called under the array's lock with the data read or written


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class WriteLedger:
    """Every block's writes still worth telling apart, by digest: the last acknowledged one
    and any later. An older write's data read back is stale, whichever number it had."""

    def __init__(self) -> None:
        self._writes: dict[tuple[int, int], dict[bytes, int]] = {}

    def sent(self, lu: int, block: int, n: int, data: bytes) -> None:
        self._writes.setdefault((lu, block), {})[_digest(data)] = n

    def acknowledged(self, lu: int, block: int, n: int) -> None:
        known = self._writes.get((lu, block), {})
        for digest in [d for d, m in known.items() if m < n]:
            del known[digest]

    def which(self, lu: int, block: int, data: bytes) -> int:
        n = self._writes.get((lu, block), {}).get(_digest(data))
        if n is not None:
            return n
        return 0 if not any(data) else -1


class ExternalHost(Host):
    def __init__(
        self, number: int, config: HostConfig, workload: Workload, blocks: dict[int, int], ledger: WriteLedger
    ) -> None:
        super().__init__(number, config, workload, blocks)
        self.ledger = ledger
        self.queue: deque[BlockOp] = deque()
        self._current: BlockOp | None = None

    def can_send(self, write: bool, lu: int, block: int) -> bool:
        if self.outstanding is not None or not self.queue:
            return False
        op = self.queue[0]
        return (op.write, op.lu, op.block) == (write, lu, block)

    def sends(self) -> Iterator[tuple[bool, int, int]]:
        if self.outstanding is None and self.queue:
            op = self.queue[0]
            yield op.write, op.lu, op.block

    def send(self, write: bool, lu: int, block: int, block_size: int) -> Frame:
        op = self.queue.popleft()
        assert (op.write, op.lu, op.block) == (write, lu, block)
        counts = self.writes if write else self.reads
        n = counts.get((lu, block), 0) + 1
        counts[lu, block] = n
        if write:
            assert op.data is not None and len(op.data) == block_size
            self.ledger.sent(lu, block, n, op.data)
        self._current = op
        self.outstanding = Frame(self.number, write, lu, block, op.data if write else None)
        return self.outstanding

    def value_read(self, data: bytes) -> int:
        frame = self.outstanding
        assert frame is not None
        return self.ledger.which(frame.lu, frame.block, data)

    def complete(self) -> Frame:
        frame, op = self.outstanding, self._current
        assert frame is not None and frame.status is Status.REPLIED and frame.data is not None
        assert op is not None
        self.outstanding, self._current = None, None
        if frame.write:
            n = self.writes[frame.lu, frame.block]
            self.acked[frame.lu, frame.block] = n
            self.ledger.acknowledged(frame.lu, frame.block, n)
        op.then(frame.data)
        return frame
