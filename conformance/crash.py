"""The crash test: the array killed (SIGKILL) after a chosen step, restarted from its
files, and checked.

A child process runs a built-in scenario in the simulator with its state in files (disk,
battery-backed caches, tapes, journal) and a record of every write its hosts sent and had
acknowledged, and kills itself right after the ``k``-th step. The parent then restarts the
array from the directory (``DiskArray(..., restart=True)``, which recovers) and checks:
exactly one controller in charge of each LU, every controller's table equal to the disk's,
each LU routed to the controller in charge, and every block holding the last write
acknowledged to it or the one sent after it (a write in flight may or may not have
landed), and every mirror equal to its primary but where the difference information says
otherwise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from conformance.setup import array_of
from model.scenario import builtin
from reference_impl.array import DiskArray
from reference_impl.events import Event
from reference_impl.simulator import Simulation
from reference_impl.workload import pattern_number

BLOCK = 512
WRITES = "writes.jsonl"
# The steps a crash is put after: every step of a take-over or backup cycle, a de-stage's
# start (the disk write issued and not done) and the splitting of a pair.
CRASH_POINTS = {
    "designate", "designate_batch", "instruct", "write_row", "read_row", "begin_destage",
    "destage_line", "purge", "notify", "suspend", "switch_path", "stop_source",
    "start_destination", "resume", "split_pair", "migrate_out", "begin_backup_destage",
    "destage_backup_line", "purge_backup", "hand_over", "backup_block", "backup_done",
    "request_resync", "migrate_back", "begin_return_destage", "destage_return_line",
    "purge_return", "return_control", "background_destage", "mirror_write", "resync_block",
}  # fmt: skip


@dataclass
class CrashResult:
    scenario: str
    after: int  # steps taken before the crash
    step: str  # the last step taken
    killed: bool
    problems: list[str] = field(default_factory=list)


def steps_of(name: str, seed: int) -> list[Event]:
    """The steps of the seeded run (the child takes the same ones)."""
    config, workload = array_of(builtin(name), BLOCK)
    return Simulation(config, workload).run(seed)


def crash_points(name: str, seed: int) -> list[int]:
    """After how many steps to crash: after each take-over or backup step of the run."""
    return [k for k, e in enumerate(steps_of(name, seed), 1) if e.name in CRASH_POINTS]


def child(name: str, directory: str, seed: int, kill_after: int, bugs: frozenset[str]) -> None:
    config, workload = array_of(builtin(name), BLOCK)
    sim = Simulation(config, workload, bugs, directory)
    sim.record_writes(os.path.join(directory, WRITES))

    def after(event: Event) -> None:
        if sim.steps == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    sim.listeners.append(after)
    sim.run(seed)


def crash_and_recover(
    name: str, directory: str | Path, seed: int, kill_after: int, bugs: frozenset[str] = frozenset()
) -> CrashResult:
    """Run ``name`` (seeded) in a child killed after ``kill_after`` steps, restart, check.
    ``bugs``: implementation or recovery bugs the array is built with, before and after."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    spec = json.dumps(
        {"name": name, "directory": directory, "seed": seed, "kill_after": kill_after, "bugs": sorted(bugs)}
    )
    done = subprocess.run([sys.executable, "-m", "conformance.crash", spec], capture_output=True, text=True)
    steps = steps_of(name, seed)
    result = CrashResult(name, kill_after, str(steps[kill_after - 1]), done.returncode == -signal.SIGKILL)
    if not result.killed:
        result.problems.append(f"the child was not killed (exit {done.returncode}): {done.stderr[-500:]}")
        return result
    config, _ = array_of(builtin(name), BLOCK)
    try:
        array = DiskArray(config, bugs, directory, restart=True)
    except Exception as e:  # a restart that fails is a finding, not a crash of the test
        result.problems.append(f"restart failed: {e!r}")
        return result
    try:
        result.problems += check_recovered(array, directory)
    finally:
        array.close()
    return result


def check_recovered(array: DiskArray, directory: str) -> list[str]:
    """What is wrong with a recovered array, against the writes its hosts recorded."""
    problems = []
    rows = array.rows()
    for lu in rows:
        active = [c.number for c in array.controllers if lu in c.active]
        if len(active) != 1:
            problems.append(f"LU{lu} has controllers {active} in charge")
        if array.path.routes[lu] != rows[lu].current:
            problems.append(
                f"LU{lu} is routed to controller {array.path.routes[lu]}, its row names {rows[lu].current}"
            )
    for ctl in array.controllers:
        if ctl.table != rows:
            problems.append(f"controller {ctl.number}'s table differs from the disk's")
    acked: dict[tuple[int, int], int] = {}
    sent: dict[tuple[int, int], int] = {}
    with open(os.path.join(directory, WRITES), encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            kind = "acked" if "acked" in entry else "sent"
            lu, block, n = entry[kind]
            (acked if kind == "acked" else sent)[lu, block] = n
    written = {lu for lu, _ in sent}
    for spec in array.config.lus:
        for b in range(spec.blocks):
            n, last = _read(array, spec.lu, b), acked.get((spec.lu, b), 0)
            if spec.lu in written and n not in (last, sent.get((spec.lu, b), 0)):
                problems.append(f"block {b} of LU{spec.lu} reads write {n}; write {last} was acknowledged")
    for i, pair in enumerate(array.pairs):
        # A mirror equals its primary, but where the difference information says otherwise.
        for b in range(array.config.lus[pair.primary].blocks):
            primary, secondary = _read(array, pair.primary, b), _read(array, pair.secondary, b)
            if b not in pair.diff and primary != secondary:
                problems.append(
                    f"pair{i} is {pair.status.value}: block {b} of the primary is write {primary}, "
                    f"of the secondary write {secondary}, and no difference is recorded"
                )
    return problems


def _read(array: DiskArray, lu: int, block: int) -> int | None:
    """Which write the block holds, read as a host would: the cache of the controller in
    charge, else the disk."""
    return pattern_number(array.visible(lu, block))


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    child(args["name"], args["directory"], args["seed"], args["kill_after"], frozenset(args.get("bugs", [])))
