"""The disk apparatus (12x): a file of blocks, with the configuration table at its head.

Layout: two table slots of one block each at offset 0 (the predetermined position), then
the data area, physical block ``p`` at ``(2 + p) * block_size``. An LU is the extent of
``blocks`` physical blocks starting at its row's physical address.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from reference_impl.table import ConfigRow, TableError, decode_table, encode_table, table_bytes_needed

TABLE_SLOTS = 2
DEFAULT_BLOCK_SIZE = 4096


class DiskError(ValueError):
    """A request the disk apparatus cannot serve: a block outside it, a wrong size."""


class DiskApparatus:
    """Blocks and table copies in a file (``path``), or in memory when ``path`` is None
    (the simulator's quick runs; the layout is the same)."""

    def __init__(self, path: str | None, block_size: int, data_blocks: int) -> None:
        if block_size < 512 or block_size & (block_size - 1):
            raise DiskError(f"block size {block_size} is not a power of two of at least 512")
        self.path = path
        self.block_size = block_size
        self.data_blocks = data_blocks
        size = (TABLE_SLOTS + data_blocks) * block_size
        self._file: BinaryIO
        if path is None:
            self._file = io.BytesIO(bytes(size))
        else:
            exists = os.path.exists(path)
            self._file = open(path, "r+b" if exists else "w+b")  # noqa: SIM115 (closed by close())
            if not exists or os.path.getsize(path) < size:
                self._file.truncate(size)
        self.generation = -1  # of the newest table copy written or read; -1: none yet
        newest = self._newest_copy()
        if newest is not None:  # a disk used before: new copies must be newer than its own
            self.generation = newest[0]

    def close(self) -> None:
        self._file.close()

    # --- data blocks ---------------------------------------------------------------------

    def read(self, physical_block: int) -> bytes:
        self._check(physical_block)
        self._file.seek((TABLE_SLOTS + physical_block) * self.block_size)
        return self._file.read(self.block_size)

    def write(self, physical_block: int, data: bytes, stored: bool = False) -> None:
        """Write a block; ``stored``: persistent before returning (the patent's "stored":
        a de-stage done, a write-through write acknowledged)."""
        self._check(physical_block)
        if len(data) != self.block_size:
            raise DiskError(f"a block is {self.block_size} bytes, not {len(data)}")
        self._file.seek((TABLE_SLOTS + physical_block) * self.block_size)
        self._file.write(data)
        if stored:
            self.flush()

    def flush(self) -> None:
        """Make what was written persistent (the patent's "stored")."""
        self._file.flush()
        if self.path is not None:
            os.fsync(self._file.fileno())

    def _check(self, physical_block: int) -> None:
        if not 0 <= physical_block < self.data_blocks:
            raise DiskError(
                f"physical block {physical_block} is outside the disk (0..{self.data_blocks - 1})"
            )

    # --- the configuration table at the predetermined position --------------------------

    def write_table(self, rows: list[ConfigRow], checksum: bool = True) -> None:
        """Store a new generation of the table in the slot that does not hold the newest
        valid copy, so that copy survives whatever happens to this write."""
        if table_bytes_needed(len(rows)) > self.block_size:
            raise DiskError(f"{len(rows)} rows do not fit a table slot of {self.block_size} bytes")
        newest = self._newest_copy()
        generation = max(self.generation, newest[0] if newest is not None else -1) + 1
        slot = (newest[1] + 1) % TABLE_SLOTS if newest is not None else 0
        data = encode_table(rows, generation, checksum)
        self._file.seek(slot * self.block_size)
        self._file.write(data.ljust(self.block_size, b"\0"))
        self.flush()
        self.generation = generation

    def read_table(self) -> list[ConfigRow]:
        """The rows of the newest valid copy; TableError if no copy is valid."""
        problems: list[str] = []
        newest = self._newest_copy(problems)
        if newest is None:
            raise TableError("no valid table copy on the disk: " + "; ".join(problems))
        return newest[2]

    def _newest_copy(self, problems: list[str] | None = None) -> tuple[int, int, list[ConfigRow]] | None:
        """(generation, slot, rows) of the newest valid copy, or None; each invalid copy's
        problem is added to ``problems``."""
        best: tuple[int, int, list[ConfigRow]] | None = None
        for slot in range(TABLE_SLOTS):
            self._file.seek(slot * self.block_size)
            try:
                generation, rows = decode_table(self._file.read(self.block_size))
            except TableError as e:
                if problems is not None:
                    problems.append(f"slot {slot}: {e}")
                continue
            if best is None or generation > best[0]:
                best = (generation, slot, rows)
        return best
