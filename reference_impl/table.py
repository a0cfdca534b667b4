"""The configuration information table (Fig. 2) and its copies on the disk apparatus.

The table lives at a predetermined position of the disk in two alternating copies, each
with a generation number and a CRC-32 checksum: a write goes to the copy the older
generation occupies, so a write torn halfway leaves the newer valid copy intact, and a
reader takes the valid copy of the highest generation.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"LUTABLE1"
_HEADER = struct.Struct("<8sQI")  # magic, generation, number of rows
_ROW = struct.Struct("<9I")
_CRC = struct.Struct("<I")


class TableError(ValueError):
    """A table copy that cannot be read: torn, overwritten, or never written."""


@dataclass(frozen=True)
class ConfigRow:
    """One row of Fig. 2. Take-overs change the port, external LUN and the two controller
    numbers; the rest describes where the LU lives and never changes."""

    lu: int  # internal LUN
    ext_lun: int
    port: int
    default: int  # default controller number
    current: int  # current controller number
    blocks: int
    raid_group: int
    raid_level: int
    physical_address: int  # first physical block of the LU's extent

    def moved(self, ext_lun: int, port: int, default: int, current: int) -> ConfigRow:
        return ConfigRow(
            self.lu,
            ext_lun,
            port,
            default,
            current,
            self.blocks,
            self.raid_group,
            self.raid_level,
            self.physical_address,
        )


def table_bytes_needed(rows: int) -> int:
    return _HEADER.size + rows * _ROW.size + _CRC.size


def encode_table(rows: list[ConfigRow], generation: int, checksum: bool = True) -> bytes:
    """One copy of the table. ``checksum=False`` writes zeros where the CRC goes (an
    implementation bug the tests seed: such a copy is never read back)."""
    body = _HEADER.pack(MAGIC, generation, len(rows)) + b"".join(
        _ROW.pack(
            r.lu,
            r.ext_lun,
            r.port,
            r.default,
            r.current,
            r.blocks,
            r.raid_group,
            r.raid_level,
            r.physical_address,
        )
        for r in rows
    )
    return body + _CRC.pack(zlib.crc32(body) if checksum else 0)


def decode_table(data: bytes) -> tuple[int, list[ConfigRow]]:
    """(generation, rows) of a table copy, or TableError saying what is wrong with it."""
    if len(data) < _HEADER.size + _CRC.size:
        raise TableError(f"a table copy needs at least {_HEADER.size + _CRC.size} bytes, not {len(data)}")
    magic, generation, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise TableError("no table here (bad magic)")
    end = _HEADER.size + count * _ROW.size
    if end + _CRC.size > len(data):
        raise TableError(f"the copy claims {count} rows, more than its slot holds")
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(data[:end]) != crc:
        raise TableError(f"checksum mismatch in the copy of generation {generation}")
    rows = [ConfigRow(*_ROW.unpack_from(data, _HEADER.size + i * _ROW.size)) for i in range(count)]
    return generation, rows
