"""Implementation bugs the reference array can be built with (``--impl-bug NAME``): the
ways implementers break a take-over, so the differential test and the log validator can be
shown to catch each."""

from __future__ import annotations

IMPL_BUGS: dict[str, str] = {
    "skip-destage": "the utility leaves out Step 804's de-stage and purge: the LU moves with "
    "dirty lines left in the source's cache",
    "no-suspend": "the utility leaves out Step 806: the path switches while frames still flow",
    "stop-without-drain": "the source stops controlling the LU (808) with accepted frames not yet performed",
    "stale-config-row": "the destination keeps its old row instead of reading the migrated one (803)",
    "clean-before-disk-write": "a de-stage marks its line clean when it issues the disk write, "
    "before the write is done",
    "write-through-ignores-destage": "a write-through write goes to disk while a de-stage of "
    "its block is still under way, so the older data can land last",
    "purge-keeps-clean-lines": "the purge of Step 804 keeps the LU's clean lines",
    "release-to-old-controller": "the path controller releases frames held across a take-over "
    "(809) to the controller they were routed to when the LU was suspended",
    "table-without-checksum": "Step 803 writes the table copy without its checksum, so readers "
    "fall back to the previous generation",
    "accept-moving-lu": "Step 801 accepts a take-over of an LU already being taken over",
    "allow-lun-gap": "Step 801 accepts a designation that leaves a port presenting external LUNs with a gap",
    "no-default-swap": "embodiment 2: Step 902 leaves the default controller number alone, so "
    "control never returns home at 909",
    "resync-without-diff": "embodiment 2: the pair is declared paired again with blocks of the "
    "difference information not yet copied",
    "backup-without-destage": "embodiment 2: Step 903's de-stage and purge are left out",
    "reply-before-mirror-write": "embodiment 2: the host's write is acknowledged before the "
    "secondary's controller has performed its mirror write",
}

#: Bugs of recovery after a crash, caught by the crash test (``conformance.crash``) and, on
#: scenarios whose array may crash, by the differential test.
RECOVERY_BUGS: dict[str, str] = {
    "recover-without-destage": "recovery completes an interrupted take-over without de-staging "
    "the source's dirty lines: they are dropped",
    "cache-not-reloaded": "on restart the controllers' battery-backed caches are not reloaded",
}

ALL_IMPL_BUGS: dict[str, str] = {**IMPL_BUGS, **RECOVERY_BUGS}
