"""The backup host's tape: blocks appended in order, in a file or in memory."""

from __future__ import annotations

import io
import os
from typing import BinaryIO


class Tape:
    def __init__(self, path: str | None, block_size: int) -> None:
        self.path = path
        self.block_size = block_size
        self._file: BinaryIO = io.BytesIO() if path is None else open(path, "w+b")  # noqa: SIM115
        self.count = 0

    def rewind(self) -> None:
        """A new backup starts: the tape is written from its beginning."""
        self._file.seek(0)
        self._file.truncate()
        self.count = 0

    def append(self, data: bytes) -> None:
        self._file.seek(self.count * self.block_size)
        self._file.write(data)
        self._file.flush()
        if self.path is not None:
            os.fsync(self._file.fileno())
        self.count += 1

    def blocks(self) -> list[bytes]:
        self._file.seek(0)
        return [self._file.read(self.block_size) for _ in range(self.count)]

    def close(self) -> None:
        self._file.close()
