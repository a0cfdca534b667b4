"""The take-over protocol's steps and its variants: the correct one and the seeded bugs.

A take-over job walks through the protocol's *step order* (Fig. 3, Steps 801-809). The
order is data, derived from the ``Protocol`` record, so a variant that reorders or omits a
step (resume before switch, no suspension) is a different tuple, and every engine, diagram
and report reads the same tuple.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any


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
    # Embodiment 2 (Fig. 7): a split secondary is backed up through the controller its row
    # names as default, and control returns home by swapping default and current back.
    SPLIT_PAIR = ("901", 0)  # host splits the pair; the backup cycle begins
    MIGRATE_OUT = ("902", 0)  # source migrates the row: default := source, current := backup controller
    BEGIN_BACKUP_DESTAGE = ("903", 0)  # source makes the secondary's writes write-through
    PURGE_BACKUP = ("903", 1)  # source de-stages and removes the secondary's lines
    HAND_OVER = ("904", 0)  # source notifies completion; control passes to the backup controller
    BACKUP_DONE = ("905", 0)  # backup host copies the secondary to tape, block by block
    REQUEST_RESYNC = ("906", 0)  # backup host asks for the pair's re-synchronization
    MIGRATE_BACK = ("907", 0)  # backup controller migrates the row: current := default, default := itself
    BEGIN_RETURN_DESTAGE = ("908", 0)  # backup controller makes the secondary write-through
    PURGE_RETURN = ("908", 1)  # backup controller de-stages and removes the secondary's lines
    RETURN_CONTROL = ("909", 0)  # control returns to the controller the default number named
    RESYNC_DONE = ("906", 1)  # the tracked blocks are copied to the secondary; the pair is paired again

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


CORRECT_ORDER: tuple[Step, ...] = tuple(Step)[: list(Step).index(Step.RESUME) + 1]
BACKUP_ORDER: tuple[Step, ...] = (
    Step.SPLIT_PAIR,
    Step.MIGRATE_OUT,
    Step.BEGIN_BACKUP_DESTAGE,
    Step.PURGE_BACKUP,
    Step.HAND_OVER,
    Step.BACKUP_DONE,
    Step.REQUEST_RESYNC,
    Step.MIGRATE_BACK,
    Step.BEGIN_RETURN_DESTAGE,
    Step.PURGE_RETURN,
    Step.RETURN_CONTROL,
)


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
    no_default_swap: bool = False
    resync_without_diff: bool = False
    backup_without_destage: bool = False
    resync_before_backup_done: bool = False
    destage_clean_unconditionally: bool = False
    literal_write_through: bool = False
    stale_diff_copy: bool = False
    recover_without_destage: bool = False
    # Steps left out altogether: what each step protects is shown by leaving it out.
    omitted: tuple[Step, ...] = ()

    @property
    def name(self) -> str:
        on = [f.name.replace("_", "-") for f in fields(self) if f.name != "omitted" and getattr(self, f.name)]
        on += [f"without-{step.action.replace('_', '-')}" for step in self.omitted]
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
        return tuple(step for step in steps if step not in self.omitted)

    def backup_order(self) -> tuple[Step, ...]:
        """The steps of an embodiment-2 backup cycle, in the order this protocol performs them."""
        steps = list(BACKUP_ORDER)
        if self.backup_without_destage:
            steps.remove(Step.PURGE_BACKUP)
        return tuple(step for step in steps if step not in self.omitted)


def without(step: Step) -> Protocol:
    """The correct protocol with ``step`` left out of every job's order."""
    return replace(CORRECT, omitted=(step,))


CORRECT = Protocol()

#: Every seeded bug of embodiment 1 (DESIGN section 6): name -> what it does.
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
    "destage-clean-unconditionally": "a de-stage marks its line clean when the disk write is "
    "done even if a host wrote the line meanwhile, so the newer value is never written",
    "literal-write-through": "the patent taken literally: write-through as a plain cache does it, "
    "a write-through write leaves a clean line of its value and a read fills one, so lines "
    "come back between the purge of Step 804 and Step 808",
}

#: The seeded bugs of embodiment 2 (the backup cycle of Steps 901-909).
BACKUP_BUGS: dict[str, str] = {
    "no-default-swap": "embodiment 2: Step 902 leaves the default controller number alone, so "
    "Step 907 finds the backup controller itself there and control never returns home",
    "resync-without-diff": "embodiment 2: the re-synchronization ignores the difference "
    "information and declares the pair paired without copying the blocks written since the split",
    "backup-without-destage": "embodiment 2: Step 903's de-stage and purge are skipped; the backup "
    "controller takes the secondary while its newest data sits in the source's cache",
    "resync-before-backup-done": "embodiment 2: the backup host asks for re-synchronization (906) "
    "before every block is on tape",
    "stale-diff-copy": "embodiment 2: Step 907 migrates the backup controller's copy of the "
    "difference information, which saw none of the primary's writes since the split, so the "
    "re-synchronization skips them",
}

#: The seeded bugs of recovery after a crash of the whole array (``crash_recover``).
RECOVERY_BUGS: dict[str, str] = {
    "recover-without-destage": "recovery after a crash completes an interrupted take-over "
    "without de-staging the source's dirty lines of the LU: it drops them, and with them "
    "writes the source had acknowledged from its battery-backed cache",
}

ALL_BUGS: dict[str, str] = {**SEEDED_BUGS, **BACKUP_BUGS, **RECOVERY_BUGS}


def variant(name: str) -> Protocol:
    """The protocol called ``name``: ``correct`` or a seeded bug's name."""
    if name == "correct":
        return CORRECT
    if name not in ALL_BUGS:
        known = ", ".join(["correct", *ALL_BUGS])
        raise KeyError(f"unknown variant {name!r}; known variants: {known}")
    switch: dict[str, Any] = {name.replace("-", "_"): True}  # one of the bool fields
    return replace(CORRECT, **switch)


VARIANTS: dict[str, str] = {"correct": "the protocol of Figs. 3 and 7, Steps 801-809 and 901-909", **ALL_BUGS}
