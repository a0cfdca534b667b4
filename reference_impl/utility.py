"""The management utility (4, 41): takes the operator's designation (801), refuses a bad
one, and drives each take-over through Steps 802-809 by instructing the components."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from reference_impl.table import ConfigRow

# The steps of a take-over, in the patent's order (Fig. 3). "purge" is Step 804's de-stage
# of every dirty line and the removal of the LU's lines; "stop_source" and
# "start_destination" are the two halves of Step 808.
TAKEOVER_STEPS = (
    "designate",
    "instruct",
    "write_row",
    "read_row",
    "begin_destage",
    "purge",
    "notify",
    "suspend",
    "switch_path",
    "stop_source",
    "start_destination",
    "resume",
)

# Embodiment 2 (Fig. 7): a backup cycle of a split secondary through the backup controller.
# "purge_backup" and "purge_return" are the de-stage and purge of Steps 903 and 908;
# "backup_done" (905) is reached once the backup host has put every block on tape.
BACKUP_STEPS = (
    "split_pair",
    "migrate_out",
    "begin_backup_destage",
    "purge_backup",
    "hand_over",
    "backup_done",
    "request_resync",
    "migrate_back",
    "begin_return_destage",
    "purge_return",
    "return_control",
)


class DesignationRefused(ValueError):
    """Step 801 refuses the designation; the message says why."""


@dataclass
class Takeover:
    lu: int
    source: int
    destination: int
    port: int
    ext_lun: int
    steps: tuple[str, ...]
    done: int = 1  # steps done, the designation (or the split) included
    backup: bool = False  # a backup cycle (901-909): control comes back to the source

    @property
    def next_step(self) -> str:
        return self.steps[self.done]


@dataclass(frozen=True)
class Move:
    """One LU of a designation: where it should be presented after the take-over."""

    lu: int
    destination: int
    port: int
    ext_lun: int


class ManagementUtility:
    def __init__(self, controllers: int, ports: int, bugs: frozenset[str] = frozenset()) -> None:
        self.controllers = controllers
        self.ports = ports
        self.bugs = bugs
        self.jobs: list[Takeover] = []
        steps = list(TAKEOVER_STEPS)
        for bug, step in (("skip-destage", "purge"), ("no-suspend", "suspend")):
            if bug in bugs:
                steps.remove(step)
        self.steps = tuple(steps)
        self.backup_steps = tuple(
            s for s in BACKUP_STEPS if not (s == "purge_backup" and "backup-without-destage" in bugs)
        )

    def layout_after(
        self, rows: dict[int, ConfigRow], extra: Sequence[Move] = ()
    ) -> dict[int, tuple[int, int, int]]:
        """Every LU's (controller, port, external LUN) once the take-overs under way, and
        ``extra``, are done."""
        layout = {lu: (row.current, row.port, row.ext_lun) for lu, row in rows.items()}
        for job in self.jobs:
            layout[job.lu] = (job.source if job.backup else job.destination, job.port, job.ext_lun)
        for move in extra:
            layout[move.lu] = (move.destination, move.port, move.ext_lun)
        return layout

    def free_ext_lun(self, rows: dict[int, ConfigRow], controller: int, port: int) -> int:
        """The lowest external LUN that no LU uses on the port now or will use after the
        take-overs under way."""
        used = set(self.layout_after(rows).values()) | {(r.current, r.port, r.ext_lun) for r in rows.values()}
        return next(n for n in range(len(rows) + 1) if (controller, port, n) not in used)

    def refusal(self, rows: dict[int, ConfigRow], moves: list[Move]) -> str | None:
        """Why Step 801 refuses to move LUs as ``moves`` say, or None."""
        if not moves:
            return "the designation names no LU"
        named = [m.lu for m in moves]
        if len(set(named)) != len(named):
            return "the designation names an LU twice"
        for m in moves:
            if m.lu not in rows:
                return f"there is no LU{m.lu}"
            if not 0 <= m.destination < self.controllers:
                return f"there is no controller {m.destination}"
            if not 0 <= m.port < self.ports:
                return f"controller {m.destination} has no port {m.port}"
            if m.ext_lun < 0:
                return f"external LUN {m.ext_lun} is negative"
            if rows[m.lu].current == m.destination:
                return f"LU{m.lu} is already on controller {m.destination}"
            if any(job.lu == m.lu for job in self.jobs) and "accept-moving-lu" not in self.bugs:
                return f"LU{m.lu} is already being taken over"
        now = {(r.current, r.port, r.ext_lun): lu for lu, r in rows.items()}
        for m in moves:
            holder = now.get((m.destination, m.port, m.ext_lun))
            if holder is not None:
                where = f"external LUN {m.ext_lun} on port {m.port} of controller {m.destination}"
                return f"{where} still belongs to LU{holder}"
        return self._lun_map_refusal(self.layout_after(rows, moves))

    def _lun_map_refusal(self, layout: dict[int, tuple[int, int, int]]) -> str | None:
        """Hosts scan a port's LUNs from 0 and may stop at the first hole: every port must
        present 0..n-1, each LUN once."""
        per_port: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for lu, (c, port, ext) in layout.items():
            per_port.setdefault((c, port), []).append((ext, lu))
        for (c, port), luns in sorted(per_port.items()):
            luns.sort()
            for (ext, lu), (next_ext, next_lu) in itertools.pairwise(luns):
                if ext == next_ext:
                    where = f"external LUN {ext} on port {port} of controller {c}"
                    return f"after it, LU{lu} and LU{next_lu} would both be {where}"
            exts = [ext for ext, _ in luns]
            if exts != list(range(len(exts))) and "allow-lun-gap" not in self.bugs:
                return (
                    f"after it, port {port} of controller {c} would present external LUNs {exts}, with a gap"
                )
        return None

    def designate(self, rows: dict[int, ConfigRow], moves: list[Move]) -> list[Takeover]:
        """801: accept the designation (a take-over per LU) or raise DesignationRefused."""
        reason = self.refusal(rows, moves)
        if reason is not None:
            raise DesignationRefused(reason)
        jobs = [
            Takeover(m.lu, rows[m.lu].current, m.destination, m.port, m.ext_lun, self.steps) for m in moves
        ]
        self.jobs.extend(jobs)
        return jobs

    def start_backup(self, row: ConfigRow) -> Takeover:
        """901: the backup cycle of a split secondary, from the controller in charge of it
        to the one its default number names (the backup controller)."""
        job = Takeover(
            row.lu, row.current, row.default, row.port, row.ext_lun, self.backup_steps, backup=True
        )
        self.jobs.append(job)
        return job

    def advance(self, job: Takeover) -> None:
        """The component performing the job's next step reports it done."""
        job.done += 1
        if job.done == len(job.steps):
            self.jobs.remove(job)
