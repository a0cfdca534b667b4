"""The data mirroring function of embodiment 2 (Figs. 6-9): each pair's status, its
difference information, and the mirror write handed to the secondary's controller.

While a pair is paired, a write of the primary is handed to the controller in charge of
the secondary, and the host's reply waits until that controller has performed it
(synchronous mirroring). While the pair is split or re-synchronizing, the blocks written
are recorded as different instead, and the re-synchronization copies them back."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from reference_impl.frames import Frame


class PairStatus(Enum):
    PAIRED = "paired"
    SPLIT = "split"
    RESYNCING = "re-synchronizing"


@dataclass
class MirrorWrite:
    block: int
    data: bytes
    controller: int  # the secondary's controller in charge when the write was handed over
    frame: Frame  # the host's frame, whose reply waits


@dataclass
class PairRecord:
    primary: int
    secondary: int
    status: PairStatus = PairStatus.PAIRED
    diff: set[int] = field(default_factory=set)  # primary blocks written since the split
    pending: MirrorWrite | None = None
