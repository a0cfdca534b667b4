"""Recovery after a crash: the array rebuilt from its files, every interrupted job resolved.

What survives a crash: the disk (blocks and the newest valid table copy), each
controller's battery-backed cache, the tapes, and the utility's journal (take-overs under
way, each pair's status, difference information and mirror write handed over). Frames in
flight do not survive: a host that got no reply sends its request again, and a write it was
not told of is no write it may rely on.

The rule, and why it is safe:

1. **An interrupted take-over is completed**, whatever step it had reached: the source
   de-stages every dirty line of the LU it still holds (Step 804, again if need be), then the
   row naming the destination is stored on the disk (Step 803, again), and the destination
   takes charge. Completing rather than rolling back needs no undo of Step 803, which may
   already be on the disk; and since an acknowledged write is in the source's battery-backed
   cache or on the disk, de-staging the source's lines before anyone else serves the LU puts
   every acknowledged write where the destination reads it.
2. **An interrupted backup cycle is abandoned**: the backup controller de-stages what it
   holds, the secondary's row names its home controller again (as before Step 902), and the
   pair is re-synchronized from its difference information. The tape is incomplete; the
   backup must be run again.
3. **A mirror write handed over and not known to be done marks its block out of sync**: the
   block is recorded as different and the pair re-synchronizes, which copies the primary's
   block as it is then (the mirror write is journaled before the primary is written, so
   none is lost), as arrays do with a region whose mirror write may be lost.
4. Then every controller gives up what the table does not give it: it de-stages and drops
   the lines of every LU whose row names another controller, and it is in charge of exactly
   the LUs whose row names it. Routes follow the table; nothing is suspended.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from reference_impl.mirroring import PairStatus
from reference_impl.utility import Takeover

if TYPE_CHECKING:
    from reference_impl.array import DiskArray
    from reference_impl.controller import Controller


def _journal(array: DiskArray) -> dict[str, Any]:
    path = array._file("journal.json")
    if path is None or not os.path.exists(path):
        return {"jobs": [], "pairs": []}
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _destage_all(array: DiskArray, ctl: Controller, lu: int) -> None:
    """Every dirty line of ``lu`` in ``ctl``'s cache to the disk, then none of its lines."""
    if "recover-without-destage" not in array.bugs:
        for block in ctl.cache.dirty_blocks(lu):
            line = ctl.cache.get(lu, block)
            assert line is not None
            array.disk.write(array.config.lus[lu].physical_address + block, line.data, stored=True)
            ctl.cache.mark_clean(lu, block)
    ctl.cache.drop_lu(lu)


def recover(array: DiskArray, journal: dict[str, Any] | None = None) -> None:
    """Recover ``array`` from its files, or from ``journal`` (a crash in process)."""
    if "cache-not-reloaded" not in array.bugs:
        for ctl in array.controllers:
            ctl.cache.reload()
    journal = journal if journal is not None else _journal(array)
    for record, pair in zip(journal["pairs"], array.pairs, strict=False):
        pair.status, pair.diff = PairStatus(record["status"]), set(record["diff"])
    rows = array.rows()
    for record in journal["jobs"]:
        job = Takeover(
            record["lu"], record["source"], record["destination"], record["port"], record["ext_lun"], ()
        )
        source, destination = array.controllers[job.source], array.controllers[job.destination]
        if record["backup"]:
            _destage_all(array, destination, job.lu)
            row = rows[job.lu].moved(job.ext_lun, job.port, job.destination, job.source)
            i = next(i for i, p in enumerate(array.pairs) if p.secondary == job.lu)
            array.pairs[i].status = PairStatus.RESYNCING
            array.tapes[i].rewind()
        else:
            _destage_all(array, source, job.lu)
            row = rows[job.lu].moved(job.ext_lun, job.port, job.destination, job.destination)
        source.write_row(row)
        rows = array.rows()
    for ctl in array.controllers:
        ctl.load_table()  # in charge of exactly the LUs whose row names it
        for lu in {lu for lu, _, _ in ctl.cache.lines()} - ctl.active:
            _destage_all(array, ctl, lu)
    for record, pair in zip(journal["pairs"], array.pairs, strict=False):
        block = record["pending"]
        if isinstance(block, int):
            pair.diff.add(block)
            pair.status = PairStatus.RESYNCING
    for lu, row in rows.items():
        array.path.routes[lu] = row.current
