"""The disk array (1): controllers, disk apparatus, path controller, management utility
and, in embodiment 2, the data mirroring function and the backup host's tapes, wired
together. ``offers`` lists the steps the array could take next; ``perform`` methods take
one. Hosts and the operator sit outside (``workload``); a driver decides the order."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from itertools import islice
from typing import Any

from reference_impl.cache import Cache, CacheFile
from reference_impl.config import ArrayConfig
from reference_impl.controller import Controller
from reference_impl.disk import DiskApparatus
from reference_impl.events import Event
from reference_impl.frames import Frame, Status
from reference_impl.mirroring import MirrorWrite, PairRecord, PairStatus
from reference_impl.path import PathController
from reference_impl.recovery import recover
from reference_impl.table import ConfigRow
from reference_impl.tape import Tape
from reference_impl.utility import ManagementUtility, Move, Takeover


class NotOffered(ValueError):
    """A step the array cannot take now; the message says why."""


# The purge steps (804, 903, 908) and the de-stage event each offers per dirty line. The
# source holds the lines at 804 and 903; at 908 the backup controller (the job's destination).
_AT_DESTINATION_CONTROLLER = {  # job steps the destination (or backup) controller takes
    "read_row", "start_destination", "migrate_back", "begin_return_destage", "purge_return",
    "destage_return_line", "return_control",
}  # fmt: skip
_DESTAGE_EVENT = {
    "purge": "destage_line",
    "purge_backup": "destage_backup_line",
    "purge_return": "destage_return_line",
}


class DiskArray:
    """The array. With a ``directory`` its state that must survive a crash lives in files
    there: the disk (``disk.img``), each controller's battery-backed cache
    (``cache-c<N>.img``), the tapes, and the utility's journal of take-overs and pairs
    (``journal.json``); ``restart=True`` builds the array from them and recovers."""

    def __init__(
        self,
        config: ArrayConfig,
        bugs: frozenset[str] = frozenset(),
        directory: str | None = None,
        restart: bool = False,
    ) -> None:
        config.check()
        self.config = config
        self.bugs = bugs
        self.directory = directory
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
        self.disk = DiskApparatus(self._file("disk.img"), config.block_size, config.data_blocks)
        slots = {(lu.lu, b): lu.physical_address + b for lu in config.lus for b in range(lu.blocks)}
        self.controllers = [
            Controller(c, self.disk, bugs, Cache(self._cache_file(c, slots)))
            for c in range(config.controllers)
        ]
        if not restart:
            self.disk.write_table([ConfigRow(**asdict(lu)) for lu in config.lus])  # the same fields
            for ctl in self.controllers:
                ctl.cache.clear()
        for ctl in self.controllers:
            ctl.load_table()
        self._power_on()
        self.tapes = [Tape(self._file(f"tape{i}.img"), config.block_size) for i in range(len(config.pairs))]
        if restart:
            recover(self)
        self.save_journal()

    def _file(self, name: str) -> str | None:
        return os.path.join(self.directory, name) if self.directory is not None else None

    def _cache_file(self, c: int, slots: dict[tuple[int, int], int]) -> CacheFile | None:
        path = self._file(f"cache-c{c}.img")
        return CacheFile(path, slots, self.config.block_size) if path is not None else None

    def save_journal(self) -> None:
        """The utility's record of what is under way, replaced whole (write, then rename),
        so a crash leaves the old record or the new one."""
        path = self._file("journal.json")
        if path is None:
            return
        with open(path + ".new", "w", encoding="utf-8") as f:
            json.dump(self.journal(), f)
        os.replace(path + ".new", path)

    def journal(self) -> dict[str, Any]:
        """The utility's record of what is under way: the jobs, and each pair's status,
        difference information and mirror write handed over."""
        return {
            "jobs": [
                {
                    "lu": j.lu,
                    "source": j.source,
                    "destination": j.destination,
                    "port": j.port,
                    "ext_lun": j.ext_lun,
                    "done": j.done,
                    "backup": j.backup,
                }
                for j in self.utility.jobs
            ],
            "pairs": [
                {
                    "status": p.status.value,
                    "diff": sorted(p.diff),
                    "pending": None if p.pending is None else p.pending.block,
                }
                for p in self.pairs
            ],
        }

    def crash(self) -> None:
        """The whole array crashes and recovers, in process (the simulator's crash; the
        runtime's is a real one, SIGKILL and restart). What lives in memory only is lost:
        frames at the path controller and in inboxes, de-stages under way, suspensions,
        write-through, the utility's jobs and the pairs' state. What survives is recovered
        from: the disk, the battery-backed caches and the journal (saved at every change)."""
        journal = self.journal()
        for ctl in self.controllers:
            ctl.power_off()
        self._power_on()
        recover(self, journal)
        self.save_journal()

    def _power_on(self) -> None:
        """What lives in memory only, as at power-on: the path controller routing by the
        disk's table, the utility with no job, every pair paired (recovery corrects them)."""
        config = self.config
        self.path = PathController(
            {lu: row.current for lu, row in self.rows().items()}, self.bugs, config.cables
        )
        self.utility = ManagementUtility(config.controllers, config.ports, self.bugs)
        self.pairs = [PairRecord(p.primary, p.secondary) for p in config.pairs]

    def persist(self) -> None:
        """Everything written so far made persistent: the disk and every controller's
        battery-backed cache file (a host's flush, or a write it asked to be durable)."""
        self.disk.flush()
        for ctl in self.controllers:
            ctl.cache.sync()

    def close(self) -> None:
        self.disk.close()
        for ctl in self.controllers:
            ctl.cache.close()
        for tape in self.tapes:
            tape.close()

    def rows(self) -> dict[int, ConfigRow]:
        """The table as the disk's newest valid copy holds it (what the utility reads)."""
        return {row.lu: row for row in self.disk.read_table()}

    def owner(self, lu: int) -> Controller | None:
        """The controller in charge of ``lu`` (the lowest-numbered, should there be two)."""
        return next((ctl for ctl in self.controllers if lu in ctl.active), None)

    def visible(self, lu: int, block: int) -> bytes:
        """The block as a host reads it now: the cache of the controller in charge, else
        the disk (no line is filled)."""
        owner = self.owner(lu)
        data = owner.read_through(lu, block) if owner is not None else None
        return data if data is not None else self.disk.read(self.config.lus[lu].physical_address + block)

    def copy_to_mirror(self, pair: PairRecord, block: int) -> None:
        """The primary's block as it is now, written by the secondary's controller."""
        secondary = self.owner(pair.secondary)
        if secondary is not None:
            secondary.store(pair.secondary, block, self.visible(pair.primary, block))

    def pair_of(self, lu: int, role: str) -> PairRecord | None:
        return next((p for p in self.pairs if getattr(p, role) == lu), None)

    # --- what the array could do next ------------------------------------------------------

    def offers(self, destage_sample: int | None = None) -> Iterator[Event]:
        """Every step the array could take next; with ``destage_sample``, of the de-stages
        a controller could start (of a purge, or in the background) at most that many,
        which are offers all the same: a runtime choosing among a few takes a step of the
        model at every step, and surveys in time that does not grow with the dirty lines."""
        for frame in self.path.frames:
            if self.path.can_deliver(frame):
                yield Event("deliver", (frame.host,))
        for ctl in self.controllers:
            for frame in ctl.inbox:
                if ctl.can_perform(frame):
                    yield Event("process", (frame.host,))
            for lu, block in sorted(ctl.destaging):
                yield Event("destage_done", (ctl.number, lu, block))
            if self.config.background_destage:
                dirty = ctl.cache.dirty_lines()
                alone = ((lu, b) for lu, b in dirty if self._may_destage_alone(ctl, lu, b))
                for lu, block in islice(alone, destage_sample):
                    yield Event("background_destage", (ctl.number, lu, block))
        for job in self.utility.jobs:
            yield from self._job_offers(job, destage_sample)
        for i, pair in enumerate(self.pairs):
            if self._may_mirror(pair):
                yield Event("mirror_write", (i,))
            for block in sorted(pair.diff):
                if self._may_resync(pair, block):
                    yield Event("resync_block", (i, block))
            if self._may_finish_resync(pair):
                yield Event("resync_done", (i,))

    def _pair(self, i: int) -> PairRecord:
        if not 0 <= i < len(self.pairs):
            raise NotOffered(f"there is no pair{i}")
        return self.pairs[i]

    # The guards of the steps that are not a job's: ``offers`` and the steps ask the same ones.

    def _may_destage_alone(self, ctl: Controller, lu: int, block: int) -> bool:
        return self.config.background_destage and lu not in ctl.write_through and ctl.may_destage(lu, block)

    def _may_mirror(self, pair: PairRecord) -> bool:
        pending = pair.pending
        return pending is not None and not self.controllers[pending.controller].write_waits(
            pair.secondary, pending.block
        )

    def _may_resync(self, pair: PairRecord, block: int) -> bool:
        secondary = self.owner(pair.secondary)
        waits = secondary is not None and secondary.write_waits(pair.secondary, block)
        return self._resyncing(pair) and block in pair.diff and not waits

    def _may_finish_resync(self, pair: PairRecord) -> bool:
        return self._resyncing(pair) and (not pair.diff or "resync-without-diff" in self.bugs)

    def _resyncing(self, pair: PairRecord) -> bool:
        """The re-synchronization may copy: requested, and the secondary is home."""
        return pair.status is PairStatus.RESYNCING and not any(
            j.lu == pair.secondary for j in self.utility.jobs
        )

    def _job_offers(self, job: Takeover, destage_sample: int | None = None) -> Iterator[Event]:
        step, names = job.next_step, (job.lu, job.source, job.destination)
        source = self.controllers[job.source]
        if step in _DESTAGE_EVENT:
            holder = self._purging(job)
            for block in holder.destageable(job.lu, destage_sample):
                yield Event(_DESTAGE_EVENT[step], (*names, block))
            if holder.can_purge(job.lu):
                yield Event(step, names)
        elif step == "stop_source":
            if not source.holds_frames_for(job.lu) or "stop-without-drain" in self.bugs:
                yield Event("stop_source", names)
        elif step in ("hand_over", "return_control"):
            holder = source if step == "hand_over" else self.controllers[job.destination]
            if not holder.holds_frames_for(job.lu) and not self._mirror_pending(holder.number, job.lu):
                yield Event(step, names)
        elif step == "backup_done":
            on_tape = self.tapes[self._pair_index(job.lu)].count
            if (
                on_tape < self.config.lus[job.lu].blocks
                and job.lu in self.controllers[job.destination].active
            ):
                yield Event("backup_block", (*names, on_tape))
            if on_tape == self.config.lus[job.lu].blocks:
                yield Event("backup_done", names)
        else:
            yield Event(step, names)

    def _purging(self, job: Takeover) -> Controller:
        """The controller whose cache the job's purge step empties."""
        return self.controllers[job.destination if job.next_step == "purge_return" else job.source]

    def _offered(self, job: Takeover, event: Event) -> bool:
        """``event`` is among the job's offers (a de-stage line asked directly, as the job
        may offer thousands)."""
        if _DESTAGE_EVENT.get(job.next_step) == event.name and len(event.args) == 4:
            return self._purging(job).may_destage(job.lu, event.args[3])
        return event in set(self._job_offers(job))

    def _mirror_pending(self, c: int, lu: int) -> bool:
        pair = self.pair_of(lu, "secondary")
        return pair is not None and pair.pending is not None and pair.pending.controller == c

    def _pair_index(self, secondary: int) -> int:
        return next(i for i, p in enumerate(self.pairs) if p.secondary == secondary)

    # --- host frames ---------------------------------------------------------------------------

    def deliver(self, frame: Frame) -> None:
        """The path controller forwards a frame to its route (or the host's cable reaches a
        controller); a controller not in charge of the LU answers NOT READY."""
        if frame not in self.path.frames or not self.path.can_deliver(frame):
            raise NotOffered(f"host{frame.host}'s frame is not deliverable")
        c = self.path.route_of(frame)
        self.path.take(frame)
        if not self.controllers[c].accept(frame):
            frame.status, frame.controller = Status.NOT_READY, c

    def process(self, frame: Frame) -> None:
        if frame.status is not Status.IN_INBOX or frame.controller is None:
            raise NotOffered(f"host{frame.host}'s frame is in no controller's inbox")
        ctl = self.controllers[frame.controller]
        if not ctl.can_perform(frame):
            raise NotOffered(f"controller {ctl.number} is de-staging block {frame.block} of LU{frame.lu}")
        pair = self.pair_of(frame.lu, "primary") if frame.write else None
        secondary = self.owner(pair.secondary) if pair is not None else None
        if pair is not None and pair.status is PairStatus.PAIRED and secondary is not None:
            # The mirror write is journaled before the primary is written: after a crash
            # between the two, recovery copies the block to the secondary again.
            assert frame.data is not None
            pair.pending = MirrorWrite(frame.block, frame.data, secondary.number, frame)
            self.save_journal()
        ctl.perform(frame)
        if pair is None:
            return
        if pair.pending is not None and pair.pending.frame is frame:
            if "reply-before-mirror-write" not in self.bugs:
                frame.status = Status.MIRRORING
        elif pair.status is not PairStatus.PAIRED:
            pair.diff.add(frame.block)
            self.save_journal()

    def mirror_write(self, i: int) -> None:
        """The secondary's controller performs the mirror write it was handed; the host's
        reply, which waited for it, goes."""
        pair = self._pair(i)
        pending = pair.pending
        if pending is None or not self._may_mirror(pair):
            raise NotOffered(f"no mirror write of pair{i} can be performed now")
        self.controllers[pending.controller].store(pair.secondary, pending.block, pending.data)
        pair.pending = None
        self.save_journal()
        if pending.frame.status is Status.MIRRORING:
            pending.frame.status = Status.REPLIED

    # --- de-stage ------------------------------------------------------------------------------

    def destage_done(self, c: int, lu: int, block: int) -> None:
        if (lu, block) not in self.controllers[c].destaging:
            raise NotOffered(f"controller {c} is not de-staging block {block} of LU{lu}")
        self.controllers[c].finish_destage(lu, block)

    def background_destage(self, c: int, lu: int, block: int) -> None:
        if not 0 <= c < len(self.controllers) or not self._may_destage_alone(self.controllers[c], lu, block):
            raise NotOffered(
                f"controller {c} cannot start a de-stage of block {block} of LU{lu} on its own now"
            )
        self.controllers[c].start_destage(lu, block)

    # --- the management utility and the take-over steps --------------------------------------

    def designate(self, moves: list[Move]) -> list[Takeover]:
        """801: the operator's designation, accepted or refused (DesignationRefused)."""
        jobs = self.utility.designate(self.rows(), moves)
        self.save_journal()
        return jobs

    def split_refusal(self, i: int) -> str | None:
        """Why pair ``i`` cannot be split (901) now, or None."""
        pair = self.pairs[i]
        if pair.status is not PairStatus.PAIRED:
            return f"pair{i} is {pair.status.value}, not paired"
        if any(j.lu in (pair.primary, pair.secondary) for j in self.utility.jobs):
            return f"an LU of pair{i} is being moved"
        return None

    def split_pair(self, i: int) -> Takeover:
        """901: the pair is split; the backup cycle of its secondary begins."""
        reason = self.split_refusal(i)
        if reason is not None:
            raise NotOffered(reason)
        pair = self.pairs[i]
        pair.status, pair.diff = PairStatus.SPLIT, set()
        self.tapes[i].rewind()
        job = self.utility.start_backup(self.rows()[pair.secondary])
        self.save_journal()
        return job

    def resync_block(self, i: int, block: int) -> None:
        """906: a block the difference information names is copied to the secondary."""
        if not self._may_resync(self._pair(i), block):
            raise NotOffered(f"pair{i} cannot copy block {block} now")
        pair = self.pairs[i]
        self.copy_to_mirror(pair, block)
        pair.diff.discard(block)
        self.save_journal()

    def resync_done(self, i: int) -> None:
        if not self._may_finish_resync(self._pair(i)):
            raise NotOffered(f"pair{i} is not re-synchronized")
        self.pairs[i].status, self.pairs[i].diff = PairStatus.PAIRED, set()
        self.save_journal()

    def job_step(self, event: Event) -> None:
        """A step of the take-over or backup cycle the event names (LU, source, destination)."""
        lu, source, destination = event.args[:3]
        job = next(
            (j for j in self.utility.jobs if (j.lu, j.source, j.destination) == (lu, source, destination)),
            None,
        )
        if job is None:
            raise NotOffered(f"no take-over of LU{lu} from controller {source} to {destination} is under way")
        if not self._offered(job, event):
            raise NotOffered(f"the take-over of LU{lu} is at {job.next_step}, which cannot be {event} now")
        src, dst = self.controllers[source], self.controllers[destination]
        name = event.name
        if name in ("destage_line", "destage_backup_line"):
            src.start_destage(lu, event.args[3])
            return  # the purge step is done when the purge is
        if name == "destage_return_line":
            dst.start_destage(lu, event.args[3])
            return
        if name == "backup_block":
            self._backup_block(job, event.args[3])
            return  # Step 905 is done when every block is on tape
        if name == "write_row":
            src.write_row(self.rows()[lu].moved(job.ext_lun, job.port, destination, destination))
        elif name == "read_row":
            for ctl in self.controllers:
                if ctl.number != source and not (ctl is dst and "stale-config-row" in self.bugs):
                    ctl.read_row(lu)
        elif name in ("begin_destage", "begin_backup_destage"):
            src.write_through.add(lu)
        elif name == "begin_return_destage":
            dst.write_through.add(lu)
        elif name in ("purge", "purge_backup"):
            src.purge(lu)
        elif name == "purge_return":
            dst.purge(lu)
        elif name == "suspend":
            self.path.suspend(lu)
        elif name == "switch_path":
            self.path.switch(lu, destination)
        elif name == "stop_source":
            src.active.discard(lu)
            src.write_through.discard(lu)
        elif name == "start_destination":
            dst.active.add(lu)
        elif name == "resume":
            self.path.resume(lu, old_route=source)
        elif name == "migrate_out":
            row = self.rows()[lu]
            default = row.default if "no-default-swap" in self.bugs else source
            self._migrate(src, row.moved(row.ext_lun, row.port, default, destination))
        elif name == "migrate_back":
            row = self.rows()[lu]
            self._migrate(dst, row.moved(row.ext_lun, row.port, destination, row.default))
        elif name == "hand_over":
            self._pass_control(lu, src, dst)
        elif name == "return_control":
            self._pass_control(lu, dst, self.controllers[self.rows()[lu].current])
        elif name == "request_resync":
            self.pairs[self._pair_index(lu)].status = PairStatus.RESYNCING
        # instruct (802), notify (805) and backup_done (905) are messages to the utility.
        self.utility.advance(job)
        self.save_journal()

    def _migrate(self, writer: Controller, row: ConfigRow) -> None:
        """902 / 907: ``writer`` stores the row at the disk's predetermined position, and
        every other controller reads it from there."""
        writer.write_row(row)
        for ctl in self.controllers:
            if ctl is not writer:
                ctl.read_row(row.lu)

    def _pass_control(self, lu: int, old: Controller, new: Controller) -> None:
        """904 / 909: ``old`` gives the LU up and ``new`` takes it, at the notice."""
        old.active.discard(lu)
        old.write_through.discard(lu)
        new.active.add(lu)
        self.path.switch(lu, new.number)

    def _backup_block(self, job: Takeover, block: int) -> None:
        """905: the backup host reads the block through the backup controller (its cache,
        else the disk, filling a clean line) and writes it to tape."""
        ctl = self.controllers[job.destination]
        data = ctl.read_through(job.lu, block)
        if data is None:
            data = ctl.read_filling(job.lu, block)
        self.tapes[self._pair_index(job.lu)].append(data)

    def component_of(self, event: Event) -> str:
        """Who performs the step, as the log names it."""
        name, args = event.name, event.args
        if name in ("deliver", "suspend", "switch_path", "resume"):
            return "path controller"
        if name in ("instruct", "designate", "designate_batch"):
            return "management utility"
        if name in ("destage_done", "background_destage"):
            return f"controller {args[0]}"
        if name in _AT_DESTINATION_CONTROLLER:
            return f"controller {args[2]}"
        if name in ("send_write", "send_read", "complete", "retry"):
            return f"host{args[0]}"
        if name in ("backup_block", "backup_done", "request_resync"):
            return "backup host"
        if name == "split_pair":
            return "host"
        if name in ("mirror_write", "resync_block", "resync_done"):
            return "mirroring"
        if name == "process":
            return "controller"
        if name == "crash_recover":
            return "array"
        return f"controller {args[1]}"
