"""A controller's dedicated cache (111x): lines of whole blocks with a dirty bit.

Battery-backed in a real array: ``snapshot`` and ``restore`` give the bytes a driver keeps
in a file that survives a crash."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CacheLine:
    data: bytes
    dirty: bool


class Cache:
    def __init__(self) -> None:
        self._lines: dict[tuple[int, int], CacheLine] = {}

    def get(self, lu: int, block: int) -> CacheLine | None:
        return self._lines.get((lu, block))

    def put(self, lu: int, block: int, data: bytes, dirty: bool) -> None:
        self._lines[lu, block] = CacheLine(data, dirty)

    def drop(self, lu: int, block: int) -> None:
        self._lines.pop((lu, block), None)

    def drop_lu(self, lu: int) -> None:
        for key in [k for k in self._lines if k[0] == lu]:
            del self._lines[key]

    def dirty_blocks(self, lu: int) -> list[int]:
        return sorted(b for (u, b), line in self._lines.items() if u == lu and line.dirty)

    def lines(self) -> list[tuple[int, int, CacheLine]]:
        """Every line, sorted by (LU, block)."""
        return [(lu, b, line) for (lu, b), line in sorted(self._lines.items())]
