"""What travels between hosts, the path controller and the controllers: host frames."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(Enum):
    """Where a frame is on its way: the host only sees its reply."""

    AT_PATH = "at the path controller"
    IN_INBOX = "in a controller's inbox"
    MIRRORING = "waiting for its mirror write"
    REPLIED = "replied"
    NOT_READY = "refused: not ready"


@dataclass
class Frame:
    """One host request (SCSI-like READ or WRITE of one block of an LU), and its reply.

    The host addresses the LU as the array presents it; the path controller knows the
    internal LUN (the model's LU number), which is what the frame carries inside."""

    host: int
    write: bool
    lu: int
    block: int
    data: bytes | None  # the data written, or the data read once performed
    status: Status = Status.AT_PATH
    controller: int | None = None  # whose inbox it is in, or who replied
