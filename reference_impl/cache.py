"""A controller's dedicated cache (111x): lines of whole blocks with a dirty bit.

Battery-backed, as in real arrays: with a ``CacheFile`` every change of a line is written
to a file at once (a slot per block of every LU), so the cache survives a crash of the
process and is reloaded on restart."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

_EMPTY, _CLEAN, _DIRTY = 0, 1, 2
_SLOT = struct.Struct("<BxxxI")  # state, CRC-32 of the data


@dataclass
class CacheLine:
    data: bytes
    dirty: bool


class CacheFileError(ValueError):
    """A cache file that cannot be reloaded: the message names the slot."""


class CacheFile:
    """The battery-backed memory: one slot per (LU, block), ``slots`` numbering them."""

    def __init__(self, path: str, slots: dict[tuple[int, int], int], block_size: int) -> None:
        self.path, self.slots, self.block_size = path, slots, block_size
        self._record = _SLOT.size + block_size
        size = len(slots) * self._record
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)

    def write(self, key: tuple[int, int], line: CacheLine | None) -> None:
        if line is None:
            record = _SLOT.pack(_EMPTY, 0) + bytes(self.block_size)
        else:
            record = _SLOT.pack(_DIRTY if line.dirty else _CLEAN, zlib.crc32(line.data)) + line.data
        os.pwrite(self._fd, record, self.slots[key] * self._record)

    def load(self) -> dict[tuple[int, int], CacheLine]:
        lines = {}
        for key, slot in self.slots.items():
            record = os.pread(self._fd, self._record, slot * self._record)
            state, crc = _SLOT.unpack_from(record)
            data = record[_SLOT.size :]
            if state == _EMPTY:
                continue
            if state not in (_CLEAN, _DIRTY) or zlib.crc32(data) != crc:
                raise CacheFileError(f"{self.path}: the slot of block {key[1]} of LU{key[0]} is damaged")
            lines[key] = CacheLine(data, state == _DIRTY)
        return lines

    def clear(self) -> None:
        os.ftruncate(self._fd, 0)
        os.ftruncate(self._fd, len(self.slots) * self._record)

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class Cache:
    def __init__(self, backing: CacheFile | None = None) -> None:
        self._backing = backing
        self._lines: dict[tuple[int, int], CacheLine] = {}
        # Each LU's dirty blocks, kept as lines change: a take-over asks for them at every
        # step of its de-stage, and an LU of real size has thousands of lines.
        self._dirty: dict[int, set[int]] = {}

    def reload(self) -> None:
        """After a restart: the lines the battery-backed file kept."""
        if self._backing is not None:
            self._lines = self._backing.load()
            self._dirty = {}
            for (lu, block), line in self._lines.items():
                if line.dirty:
                    self._dirty.setdefault(lu, set()).add(block)

    def forget(self) -> None:
        """The lines in memory are lost (its battery-backed file, if any, keeps them)."""
        self._lines, self._dirty = {}, {}

    def clear(self) -> None:
        """A new array: an empty cache, in memory and in its file."""
        self._lines, self._dirty = {}, {}
        if self._backing is not None:
            self._backing.clear()

    def _kept(self, key: tuple[int, int]) -> None:
        line = self._lines.get(key)
        if line is not None and line.dirty:
            self._dirty.setdefault(key[0], set()).add(key[1])
        else:
            self._dirty.get(key[0], set()).discard(key[1])
        if self._backing is not None:
            self._backing.write(key, line)

    def get(self, lu: int, block: int) -> CacheLine | None:
        return self._lines.get((lu, block))

    def put(self, lu: int, block: int, data: bytes, dirty: bool) -> None:
        self._lines[lu, block] = CacheLine(data, dirty)
        self._kept((lu, block))

    def mark_clean(self, lu: int, block: int) -> None:
        self._lines[lu, block].dirty = False
        self._kept((lu, block))

    def drop(self, lu: int, block: int) -> None:
        if self._lines.pop((lu, block), None) is not None:
            self._kept((lu, block))

    def drop_lu(self, lu: int) -> None:
        for key in [k for k in self._lines if k[0] == lu]:
            del self._lines[key]
            self._kept(key)

    def dirty_blocks(self, lu: int) -> list[int]:
        return sorted(self._dirty.get(lu, ()))

    def has_dirty(self, lu: int) -> bool:
        return bool(self._dirty.get(lu))

    def dirty_of(self, lu: int) -> Iterator[int]:
        """The blocks of ``lu`` with a dirty line, in no particular order (none sorted)."""
        yield from self._dirty.get(lu, ())

    def dirty_count(self) -> int:
        return sum(len(blocks) for blocks in self._dirty.values())

    def dirty_lines(self) -> Iterator[tuple[int, int]]:
        """Every dirty line's (LU, block), in no particular order."""
        for lu, blocks in self._dirty.items():
            for block in blocks:
                yield lu, block

    def lines(self) -> list[tuple[int, int, CacheLine]]:
        """Every line, sorted by (LU, block)."""
        return [(lu, b, line) for (lu, b), line in sorted(self._lines.items())]

    def sync(self) -> None:
        """Every line written so far persistent in the battery-backed file."""
        if self._backing is not None:
            self._backing.sync()

    def close(self) -> None:
        if self._backing is not None:
            self._backing.close()
