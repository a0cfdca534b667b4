"""A controller (11x): it takes charge of LUs, keeps their blocks in its dedicated cache
(111x) and runs its configuration manager (112x) over its table (1121x)."""

from __future__ import annotations

from itertools import islice

from reference_impl.cache import Cache
from reference_impl.disk import DiskApparatus
from reference_impl.frames import Frame, Status
from reference_impl.table import ConfigRow


class Controller:
    def __init__(
        self, number: int, disk: DiskApparatus, bugs: frozenset[str] = frozenset(), cache: Cache | None = None
    ) -> None:
        self.number = number
        self.disk = disk
        self.bugs = bugs
        self.cache = cache if cache is not None else Cache()
        self.table: dict[int, ConfigRow] = {}
        self.active: set[int] = set()  # LUs this controller is in charge of
        self.write_through: set[int] = set()  # LUs whose writes bypass the cache (804-808)
        self.inbox: list[Frame] = []  # frames accepted, not yet performed
        self.destaging: dict[tuple[int, int], bytes] = {}  # disk writes issued, not yet done

    def power_off(self) -> None:
        """A crash: everything but the battery-backed cache is lost (a cache never
        reloaded, a seeded bug, comes back empty)."""
        self.table, self.active, self.write_through = {}, set(), set()
        self.inbox.clear()
        self.destaging.clear()
        if "cache-not-reloaded" in self.bugs:
            self.cache.forget()

    def load_table(self) -> None:
        """At power-on: read the table from the disk and take charge of the LUs whose row
        names this controller as current."""
        self.table = {row.lu: row for row in self.disk.read_table()}
        self.active = {lu for lu, row in self.table.items() if row.current == self.number}

    def _physical(self, lu: int, block: int) -> int:
        row = self.table[lu]
        if not 0 <= block < row.blocks:
            raise ValueError(f"block {block} is outside LU{lu} (0..{row.blocks - 1})")
        return row.physical_address + block

    # --- host frames ---------------------------------------------------------------------

    def accept(self, frame: Frame) -> bool:
        """Take a frame the path controller delivers, if in charge of its LU (else the host
        gets NOT READY)."""
        if frame.lu not in self.active:
            return False
        frame.status, frame.controller = Status.IN_INBOX, self.number
        self.inbox.append(frame)
        return True

    def can_perform(self, frame: Frame) -> bool:
        return not (frame.write and self.write_waits(frame.lu, frame.block))

    def write_waits(self, lu: int, block: int) -> bool:
        """A write that goes to disk waits while a de-stage of its block is under way, or
        the older data could land last."""
        busy = lu in self.write_through and (lu, block) in self.destaging
        return busy and "write-through-ignores-destage" not in self.bugs

    def perform(self, frame: Frame) -> None:
        """Do what the frame asks, in the cache or on disk; the reply goes back."""
        self.inbox.remove(frame)
        lu, block = frame.lu, frame.block
        if frame.write:
            assert frame.data is not None
            self.store(lu, block, frame.data)
        else:
            frame.data = self.read_through(lu, block)
            if frame.data is None:
                frame.data = self.read_filling(lu, block)
        frame.status = Status.REPLIED

    def read_through(self, lu: int, block: int) -> bytes | None:
        """The block as this controller's cache holds it, or None on a miss."""
        line = self.cache.get(lu, block)
        return line.data if line is not None else None

    def read_filling(self, lu: int, block: int) -> bytes:
        """A read miss: the block from disk, kept as a clean line unless write-through."""
        data = self.disk.read(self._physical(lu, block))
        if lu not in self.write_through:
            self.cache.put(lu, block, data, dirty=False)
        return data

    def store(self, lu: int, block: int, data: bytes) -> None:
        """Write a block: through to disk with no line kept while the LU is write-through
        (so no line comes back between the purge and the hand-over), else a dirty line."""
        if lu in self.write_through:
            self.disk.write(self._physical(lu, block), data, stored=True)
            self.cache.drop(lu, block)
        else:
            self.cache.put(lu, block, data, dirty=True)

    def holds_frames_for(self, lu: int) -> bool:
        return any(frame.lu == lu for frame in self.inbox)

    # --- de-stage and purge --------------------------------------------------------------

    def destageable(self, lu: int, limit: int | None = None) -> list[int]:
        """Blocks of ``lu`` whose dirty line can start its disk write now, in order; with
        ``limit``, at most that many of them, in no particular order (found without
        looking at every dirty line: a runtime de-staging thousands of lines needs only a
        few to choose from)."""
        if limit is None:
            return [b for b in self.cache.dirty_blocks(lu) if (lu, b) not in self.destaging]
        some = (b for b in self.cache.dirty_of(lu) if (lu, b) not in self.destaging)
        return list(islice(some, limit))

    def may_destage(self, lu: int, block: int) -> bool:
        """The dirty line of ``block`` can start its disk write now."""
        line = self.cache.get(lu, block)
        return line is not None and line.dirty and (lu, block) not in self.destaging

    def start_destage(self, lu: int, block: int) -> None:
        """Issue the disk write of a dirty line; the line stays dirty until it is done."""
        line = self.cache.get(lu, block)
        assert line is not None and self.may_destage(lu, block)
        self.destaging[lu, block] = line.data
        if "clean-before-disk-write" in self.bugs:
            self.cache.mark_clean(lu, block)

    def finish_destage(self, lu: int, block: int) -> None:
        """The disk write is done; the line is clean if no host wrote it meanwhile."""
        data = self.destaging.pop((lu, block))
        self.disk.write(self._physical(lu, block), data, stored=True)
        line = self.cache.get(lu, block)
        if line is not None and line.dirty and line.data == data:
            self.cache.mark_clean(lu, block)

    def can_purge(self, lu: int) -> bool:
        nothing_dirty = not self.cache.has_dirty(lu)
        return nothing_dirty and not any(key[0] == lu for key in self.destaging)

    def purge(self, lu: int) -> None:
        if "purge-keeps-clean-lines" not in self.bugs:
            self.cache.drop_lu(lu)

    # --- configuration manager -----------------------------------------------------------

    def write_row(self, row: ConfigRow) -> None:
        """Step 803: the changed row into this table and into the disk's copy. The disk's
        other rows are kept as they are there (another take-over may have changed them)."""
        self.table[row.lu] = row
        rows = {r.lu: r for r in self.disk.read_table()}
        rows[row.lu] = row
        self.disk.write_table(
            sorted(rows.values(), key=lambda r: r.lu), "table-without-checksum" not in self.bugs
        )

    def read_row(self, lu: int) -> None:
        """Step 803: read the LU's migrated row from the disk's copy."""
        self.table[lu] = next(row for row in self.disk.read_table() if row.lu == lu)
