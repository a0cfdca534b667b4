"""The take-over protocol's steps and its variants: the correct one and the seeded bugs.

A take-over job walks through the protocol's *step order* (Fig. 3, Steps 801-809). The
order is data, derived from the ``Protocol`` record, so a variant that reorders or omits a
step (resume before switch, no suspension) is a different tuple, and every engine, diagram
and report reads the same tuple.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum


class Step(Enum):
    """One step of a take-over job. The value is (patent step number, part of that step)."""

    DESIGNATE = ("801", 0)  # operator designates LUs, destination, new port / external LUN
    INSTRUCT = ("802", 0)  # management utility sends the take-over instruction to the array
    WRITE_ROW = ("803", 0)  # source writes the LU's changed row at the disk's predetermined position
    READ_ROW = ("803", 1)  # the other controllers read that row from the disk
    BEGIN_DESTAGE = ("804", 0)  # source makes the LU's writes write-through
    PURGE = ("804", 1)  # source removes the LU's lines once de-staging left none dirty
    NOTIFY = ("805", 0)  # source notifies de-stage completion; utility orders the path switch
    SUSPEND = ("806", 0)  # path controller holds the LU's frames
    SWITCH_PATH = ("807", 0)  # path controller routes the LU's frames to the destination
    STOP_SOURCE = ("808", 0)  # source stops controlling, after finishing what it accepted
    START_DESTINATION = ("808", 1)  # destination starts controlling the LU
    RESUME = ("809", 0)  # path controller releases the held frames

    @property
    def number(self) -> str:
        """The patent's step number, as in Fig. 3."""
        return str(self.value[0])

    @property
    def action(self) -> str:
        """The name of the model action that performs this step."""
        return self.name.lower()

    def __repr__(self) -> str:
        return self.name


CORRECT_ORDER: tuple[Step, ...] = tuple(Step)


@dataclass(frozen=True)
class Protocol:
    """Switches of the take-over protocol. Every switch off is the correct protocol (Fig. 3);
    each seeded bug turns exactly one on."""

    skip_destage: bool = False
    no_write_through: bool = False
    write_back_after_destage: bool = False
    no_suspend: bool = False
    start_before_stop: bool = False
    stop_without_drain: bool = False
    keep_clean_lines: bool = False
    resume_before_switch: bool = False
    stale_config_row: bool = False
    concurrent_same_lu: bool = False
    no_resume: bool = False

    @property
    def name(self) -> str:
        on = [f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name)]
        return "+".join(on) if on else "correct"

    def order(self) -> tuple[Step, ...]:
        """The steps a take-over job performs, in the order this protocol performs them."""
        steps = list(CORRECT_ORDER)
        if self.skip_destage:
            steps.remove(Step.PURGE)  # and with it the de-stage of dirty lines it waits for
        if self.no_suspend:
            steps.remove(Step.SUSPEND)
        if self.start_before_stop:
            i = steps.index(Step.STOP_SOURCE)
            steps[i], steps[i + 1] = Step.START_DESTINATION, Step.STOP_SOURCE
        if self.no_resume:
            steps.remove(Step.RESUME)
        if self.resume_before_switch:
            steps.remove(Step.RESUME)
            steps.insert(steps.index(Step.SWITCH_PATH), Step.RESUME)
        return tuple(steps)


CORRECT = Protocol()

#: Every seeded bug of embodiment 1 (DESIGN section 6): name -> (switch, what it does).
SEEDED_BUGS: dict[str, str] = {
    "skip-destage": "the de-stage and purge of Step 804 are skipped (write-through still "
    "turns on): the LU changes controller with dirty lines left in the source's cache",
    "no-write-through": "the source stays write-back during Steps 804-808, so a write "
    "after the de-stage pass stays dirty in its cache",
    "write-back-after-destage": "write-through ends at Step 805 instead of Step 808",
    "no-suspend": "Step 807 without Step 806: the path switches while frames still flow",
    "start-before-stop": "the destination starts (808) before the source stops",
    "stop-without-drain": "the source stops (808) with accepted requests unfinished; it finishes them later",
    "keep-clean-lines": "the purge of Step 804 keeps the LU's clean lines in the source's cache",
    "resume-before-switch": "Step 809 runs before Step 807",
    "stale-config-row": "the destination keeps its old row instead of reading the migrated one at Step 803",
    "concurrent-same-lu": "a second take-over of an LU already moving is accepted",
    "no-resume": "Step 809 never happens: the LU's path stays suspended after the take-over",
}


def variant(name: str) -> Protocol:
    """The protocol called ``name``: ``correct`` or a seeded bug's name."""
    if name == "correct":
        return CORRECT
    if name not in SEEDED_BUGS:
        known = ", ".join(["correct", *SEEDED_BUGS])
        raise KeyError(f"unknown variant {name!r}; known variants: {known}")
    return replace(CORRECT, **{name.replace("-", "_"): True})


VARIANTS: dict[str, str] = {"correct": "the protocol of Fig. 3, Steps 801-809", **SEEDED_BUGS}
