"""The deterministic simulator: one thread, and a seeded scheduler choosing every step.

``Simulation`` joins the array with its hosts and operator: ``offers`` is every step anyone
could take next, ``perform`` takes one and logs it. ``run`` lets a seeded random choice
decide; the differential test lets Hypothesis decide, and shrink."""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from reference_impl.array import DiskArray, NotOffered
from reference_impl.config import ArrayConfig, Workload
from reference_impl.eventlog import EventLog
from reference_impl.events import Event
from reference_impl.external_host import ExternalHost, WriteLedger
from reference_impl.frames import Frame, Status
from reference_impl.utility import DesignationRefused
from reference_impl.workload import Host, Operator


class Simulation:
    def __init__(
        self,
        config: ArrayConfig,
        workload: Workload,
        bugs: frozenset[str] = frozenset(),
        directory: str | None = None,
        restart: bool = False,
        external_hosts: bool = False,
        log_limit: int | None = None,
    ) -> None:
        self.array = DiskArray(config, bugs, directory, restart)
        blocks = {lu.lu: lu.blocks for lu in config.lus}
        self.ledger = WriteLedger()  # what external hosts wrote, to tell which write a read returned
        self.hosts: list[Host] = [
            ExternalHost(h, hc, workload, blocks, self.ledger)
            if external_hosts
            else Host(h, hc, workload, blocks)
            for h, hc in enumerate(workload.hosts)
        ]
        self.operator = Operator(workload, config)
        # The steps taken, in order: the last ``log_limit`` of them if given (a running
        # array keeps its whole log on disk, events.jsonl, and would otherwise grow without
        # end in memory); ``steps`` counts them all.
        self.log: deque[Event] = deque(maxlen=log_limit)
        self.steps = 0
        self.listeners: list[Callable[[Event], None]] = []
        self.event_log: EventLog | None = None  # the JSON-lines log, if one is kept
        self._last_completed: tuple[int, int, int] | None = None  # (lu, block, n) just acknowledged
        self._records: list[Any] = []
        self.crashes = workload.crashes  # crashes the run may still suffer

    def offers(
        self, ordered: bool = True, operator: bool = True, destage_sample: int | None = None
    ) -> list[Event]:
        """Every step that could be taken next, sorted (a choice by index is replayable).
        The runtime asks for less: ``ordered=False`` spares the sort where no choice is
        replayed, ``operator=False`` leaves out the operator's designations and splits
        (when only the management API starts them), and ``destage_sample`` offers only a
        few of the de-stages a controller could start (``DiskArray.offers``)."""
        offers = set(self.array.offers(destage_sample))
        for host in self.hosts:
            for write, lu, block in host.sends():
                offers.add(Event("send_write" if write else "send_read", (host.number, lu, block)))
            frame = host.outstanding
            if frame is not None and frame.status is Status.REPLIED:
                offers.add(Event("complete", (host.number,)))
            if frame is not None and frame.status is Status.NOT_READY:
                offers.add(Event("retry", (host.number,)))
        if operator:
            rows = self.array.rows()
            for name, args, moves in self.operator.designations(rows, self.array.utility):
                if self.array.utility.refusal(rows, moves) is None:
                    offers.add(Event(name, args))
            index = self.operator.next_backup()
            if index is not None and self.array.split_refusal(self.operator.workload.backups[index]) is None:
                offers.add(Event("split_pair", (index,)))
        if self.crashes > 0:
            offers.add(Event("crash_recover", ()))
        return sorted(offers) if ordered else list(offers)

    def _frame(self, h: int) -> Frame:
        if not 0 <= h < len(self.hosts):
            raise NotOffered(f"there is no host{h}")
        frame = self.hosts[h].outstanding
        if frame is None:
            raise NotOffered(f"host{h} has no request outstanding")
        return frame

    def perform(self, event: Event) -> None:
        """Take the step ``event`` names, or raise NotOffered saying why it cannot be taken."""
        name, args = event
        if name in ("send_write", "send_read"):
            h, lu, block = args
            if not 0 <= h < len(self.hosts) or not self.hosts[h].can_send(name == "send_write", lu, block):
                raise NotOffered(f"host{h} cannot send {name[5:]} of block {block} of LU{lu} now")
            self.array.path.receive(
                self.hosts[h].send(name == "send_write", lu, block, self.array.config.block_size)
            )
        elif name == "deliver":
            self.array.deliver(self._frame(args[0]))
        elif name == "process":
            self.array.process(self._frame(args[0]))
        elif name == "complete":
            if self._frame(args[0]).status is not Status.REPLIED:
                raise NotOffered(f"no reply is on its way to host{args[0]}")
            frame = self.hosts[args[0]].complete()
            self._last_completed = None
            if frame.write:
                self._last_completed = (
                    frame.lu,
                    frame.block,
                    self.hosts[args[0]].acked[frame.lu, frame.block],
                )
        elif name == "retry":
            frame = self._frame(args[0])
            if frame.status is not Status.NOT_READY:
                raise NotOffered(f"host{args[0]} has had no NOT READY to retry")
            self.array.path.receive(frame)
        elif name == "destage_done":
            self.array.destage_done(*args)
        elif name == "background_destage":
            self.array.background_destage(*args)
        elif name in ("designate", "designate_batch"):
            self._designate(event)
        elif name == "split_pair":
            if args != (self.operator.next_backup(),):
                raise NotOffered(f"the script's next backup is backup {self.operator.backups}")
            self.array.split_pair(self.operator.workload.backups[args[0]])
            self.operator.backups += 1
        elif name == "mirror_write":
            self.array.mirror_write(*args)
        elif name == "resync_block":
            self.array.resync_block(*args)
        elif name == "resync_done":
            self.array.resync_done(*args)
        elif name == "crash_recover":
            self._crash()
        else:
            self.array.job_step(event)
        self.log.append(event)
        self.steps += 1
        if self.event_log is not None:
            self.event_log.record(event, self.component_of(event), self._value_read(event))
        for listener in self.listeners:
            listener(event)

    def _crash(self) -> None:
        """The array crashes and recovers. A frame it held (at the path controller, in an
        inbox) is lost and its host sends it again; a reply already sent still arrives; a
        write waiting for its mirror write is answered once recovery has tracked its block."""
        if self.crashes <= 0:
            raise NotOffered("the run may suffer no more crashes")
        self.crashes -= 1
        self.array.crash()
        for host in self.hosts:
            frame = host.outstanding
            if frame is None or frame.status in (Status.REPLIED, Status.NOT_READY):
                continue
            if frame.status is Status.MIRRORING:
                frame.status = Status.REPLIED
            else:
                self.array.path.receive(frame)

    def record_writes(self, path: str) -> None:
        """Append to ``path`` each write the hosts send and each one acknowledged to them
        (JSON lines ``{"sent": [lu, block, n]}``, ``{"acked": [...]}``), flushed at once:
        what a host knows it wrote, to check the array against after a crash."""
        record = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open as long as the array runs)

        def after(event: Event) -> None:
            if event.name == "send_write":
                h, lu, block = event.args
                record.write(json.dumps({"sent": [lu, block, self.hosts[h].writes[lu, block]]}) + "\n")
                record.flush()
            elif event.name == "complete" and self._last_completed is not None:
                record.write(json.dumps({"acked": list(self._last_completed)}) + "\n")
                record.flush()

        self.listeners.append(after)
        self._records.append(record)

    def close(self) -> None:
        """Close the files: the log, the write records, the array's."""
        if self.event_log is not None:
            self.event_log.close()
        for record in self._records:
            record.close()
        self.array.close()

    def component_of(self, event: Event) -> str:
        if event.name == "process":
            frame = self.hosts[event.args[0]].outstanding
            return f"controller {frame.controller}" if frame is not None else "controller"
        return self.array.component_of(event)

    def _value_read(self, event: Event) -> int | None:
        """For a read just performed, which write it returned (the host knows the pattern)."""
        if event.name != "process":
            return None
        frame = self.hosts[event.args[0]].outstanding
        if frame is None or frame.write or frame.data is None:
            return None
        return self.hosts[event.args[0]].value_read(frame.data)

    def _designate(self, event: Event) -> None:
        rows, op = self.array.rows(), self.operator
        if event.name == "designate_batch":
            if (
                op.workload.mode != "scripted"
                or event.args != (op.batches,)
                or op.batches >= len(op.workload.batches)
            ):
                raise NotOffered(f"the script's next batch is batch {op.batches}")
            moves = op.batch_moves(op.batches, rows)
        else:
            lu, c = event.args
            if op.workload.mode != "any" or op.budget <= 0:
                raise NotOffered("the operator designates no more take-overs")
            if lu not in rows or not 0 <= c < self.array.config.controllers:
                raise NotOffered(f"designate({lu}, {c}) names an LU or controller the array does not have")
            moves = [op.single_move(lu, c, rows, self.array.utility)]
        try:
            self.array.designate(moves)
        except DesignationRefused as e:
            raise NotOffered(f"Step 801 refuses it: {e}") from e
        if event.name == "designate_batch":
            op.batches += 1
        else:
            op.budget -= 1

    def run(self, seed: int, max_steps: int = 10_000) -> list[Event]:
        """Take steps chosen by a random generator seeded with ``seed`` until none is
        offered or ``max_steps`` are taken; the same seed takes the same steps."""
        rng = random.Random(seed)
        for _ in range(max_steps):
            offers = self.offers()
            if not offers:
                break
            self.perform(rng.choice(offers))
        return list(self.log)
