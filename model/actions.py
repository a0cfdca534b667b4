"""The next-state relation: one function per protocol step, plus host I/O in four parts.

Each action is ``action(m, w, *args) -> World | None``: guard first (``None`` means the
action is not enabled), then the effect on a copy. ``ACTIONS`` lists them all with the
component that performs each, the patent step it implements and the arguments it can take
in a state; the explicit checker, the trace printer and the diagrams all read that list.

Host I/O is split so a take-over can overtake a frame at every point of its life:
``send_*`` (host to path controller), ``deliver`` (path controller to the routed controller,
which accepts it only if it is in charge of the LU), ``process`` (the controller performs it
in its cache or on disk), ``complete`` (the reply reaches the host) and ``retry`` (after a
NOT READY refusal, as SCSI hosts do during an ALUA transition).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass

from model.labels import (
    ARRAY,
    BACKUP_HOST,
    MIRRORING,
    PATH_CONTROLLER,
    UTILITY,
    Component,
    Label,
    controller,
    host,
)
from model.protocol import CORRECT, Protocol, Step
from model.scenario import Scenario, designation_refused, initial_world
from model.state import (
    UNREAD,
    Address,
    BadRead,
    Controller,
    Destage,
    Ghost,
    Home,
    Job,
    Line,
    MirrorWrite,
    Op,
    PairState,
    Path,
    Request,
    Row,
    Where,
    World,
    admissible_values,
    find_line,
    owner,
    replace_at,
    visible_value,
)


class Model:
    """A scenario and a protocol variant: everything that stays fixed during a run."""

    def __init__(self, scenario: Scenario, protocol: Protocol = CORRECT) -> None:
        self.scenario = scenario
        self.protocol = protocol
        self.order: tuple[Step, ...] = protocol.order()
        self.backup_order: tuple[Step, ...] = protocol.backup_order()
        self.pair_of = tuple(scenario.pair_of(lu) for lu in range(len(scenario.lus)))
        self.lus = len(scenario.lus)
        self.blocks = tuple(spec.blocks for spec in scenario.lus)
        self.writer = tuple(scenario.writer(lu) for lu in range(self.lus))
        # Job steps are dispatched on each job's next step, so no other step's guard runs.
        self._unbound = [a for a in ACTIONS if a.per_job is None]
        self._by_step = {step: [a for a in ACTIONS if a.per_job and a.step is step] for step in Step}

    def initial(self) -> World:
        return initial_world(self.scenario)

    def order_of(self, job: Job) -> tuple[Step, ...]:
        return self.backup_order if job.backup else self.order

    def next_step(self, job: Job) -> Step | None:
        order = self.order_of(job)
        return order[job.done] if job.done < len(order) else None

    def transitions(
        self, w: World, names: Container[str] | None = None, lu: int | None = None
    ) -> Iterator[Transition]:
        """Every enabled action instance of ``w`` and the state it leads to; only actions
        called one of ``names`` and, for take-over steps, only jobs of ``lu``, if given."""
        for action in self._unbound:
            if names is not None and action.name not in names:
                continue
            for args in action.arguments(self, w):
                after = action.apply(self, w, *args)
                if after is not None:
                    yield Transition(action, args, after)
        for k, job in enumerate(w.jobs):
            step = self.next_step(job)
            if step is not None and (lu is None or job.lu == lu):
                for action in self._by_step[step]:
                    assert action.per_job is not None
                    if names is not None and action.name not in names:
                        continue
                    for args in action.per_job(self, w, k):
                        after = action.apply(self, w, *args)
                        if after is not None:
                            yield Transition(action, args, after)

    def transition_labelled(self, w: World, label: Label) -> Transition | None:
        """The enabled action instance of ``w`` whose label is ``label``: how a run saved
        as labels (a trace, a replayed failure) is taken step by step. Only the named
        action's instances are built; of an action not of a job, only the one instance (its
        label is its arguments), so a log of an LU of thousands of blocks replays quickly."""
        action = ACTIONS_BY_NAME.get(label.action)
        if action is not None and action.per_job is None:
            args = next((a for a in action.arguments(self, w) if a == label.args), None)
            after = None if args is None else action.apply(self, w, *args)
            return None if args is None or after is None else Transition(action, args, after)
        return next((t for t in self.transitions(w, (label.action,)) if t.label(w) == label), None)

    def why_not(self, w: World, label: Label) -> str | None:
        """Why the action instance ``label`` is not enabled in ``w`` (the guard's own words),
        or None if it is: "controller 0 still holds a request for LU2"."""
        if self.transition_labelled(w, label) is not None:
            return None
        action = ACTIONS_BY_NAME.get(label.action)
        if action is None:
            return f"no action is called {label.action!r}"
        calls = [label.args]
        if action.per_job is not None:
            if len(label.args) < 3:
                return f"'{label}' names no take-over: a step names its LU, source and destination"
            lu, source, destination = label.args[:3]
            calls = [
                (k, *label.args[3:])
                for k, job in enumerate(w.jobs)
                if (job.lu, job.source, job.destination) == (lu, source, destination)
            ]
            if not calls:
                return f"no take-over of LU{lu} from controller {source} to {destination} is under way"
        global _reasons
        _reasons = []
        try:
            for args in calls:
                try:
                    action.apply(self, w, *args)
                except (IndexError, TypeError):
                    return f"'{label}' names nothing in this array"
            reasons = _reasons
        finally:
            _reasons = None
        return reasons[0] if reasons else f"{action.name} is not offered with these arguments here"

    def successors(self, w: World) -> list[tuple[Label, World]]:
        """(label, next state) pairs: the generic explicit checker's view of the model."""
        return [(t.label(w), t.after) for t in self.transitions(w)]


@dataclass(frozen=True)
class Action:
    name: str
    step: Step | None  # the patent step it implements; None for host I/O
    component: Callable[[World, tuple[int, ...]], Component]
    arguments: Callable[[Model, World], Iterator[tuple[int, ...]]]
    apply: Callable[..., World | None]
    per_job: Callable[[Model, World, int], Iterator[tuple[int, ...]]] | None = None  # job steps


@dataclass(frozen=True)
class Transition:
    action: Action
    args: tuple[int, ...]
    after: World

    def label(self, before: World) -> Label:
        return describe(self.action, before, self.args)


def describe(action: Action, w: World, args: tuple[int, ...]) -> Label:
    """The label naming the action instance, stable across states (fairness keys on it):
    a take-over step names its job by LU, source and destination, not by its index."""
    if action.per_job is not None:
        job = w.jobs[args[0]]
        return Label(action.name, (job.lu, job.source, job.destination, *args[1:]))
    return Label(action.name, args)


# --- guards that say why --------------------------------------------------------------------

_reasons: list[str] | None = None  # set while Model.why_not listens, else None


def refuse(reason: str, *args: object) -> World | None:
    """A guard's "no" (always None), and why: ``reason`` is formatted with ``args`` only
    while ``Model.why_not`` listens, so a refusal costs a call and a test in the checker."""
    if _reasons is not None:
        _reasons.append(reason.format(*args))
    return None


# --- small helpers on tuples of tuples -----------------------------------------------------


def _set_block(
    grid: tuple[tuple[int, ...], ...], lu: int, block: int, value: int
) -> tuple[tuple[int, ...], ...]:
    return replace_at(grid, lu, replace_at(grid[lu], block, value))


def _with_line(ctl: Controller, line: Line) -> Controller:
    kept = [x for x in ctl.cache if (x.lu, x.block) != (line.lu, line.block)]
    return ctl._replace(cache=tuple(sorted([*kept, line])))


def _without_line(ctl: Controller, lu: int, block: int) -> Controller:
    return ctl._replace(cache=tuple(x for x in ctl.cache if (x.lu, x.block) != (lu, block)))


def _add(items: tuple[int, ...], x: int) -> tuple[int, ...]:
    return items if x in items else tuple(sorted((*items, x)))


def _remove(items: tuple[int, ...], x: int) -> tuple[int, ...]:
    return tuple(i for i in items if i != x)


def _set_controller(w: World, c: int, ctl: Controller) -> World:
    return w._replace(controllers=replace_at(w.controllers, c, ctl))


def _set_write_through(w: World, c: int, lu: int, on: bool) -> World:
    ctl = w.controllers[c]
    lus = _add(ctl.write_through, lu) if on else _remove(ctl.write_through, lu)
    return _set_controller(w, c, ctl._replace(write_through=lus))


def _set_path(w: World, lu: int, route: int | None = None, suspended: bool | None = None) -> World:
    path = w.paths[lu]
    path = path._replace(
        route=path.route if route is None else route,
        suspended=path.suspended if suspended is None else suspended,
    )
    return w._replace(paths=replace_at(w.paths, lu, path))


# --- host I/O ------------------------------------------------------------------------------


def send_write(m: Model, w: World, h: int, lu: int, block: int) -> World | None:
    """A host writes the next value to a block of an LU it writes (one request at a time)."""
    if w.hosts[h] is not None:
        return refuse("host{} already has a request outstanding", h)
    if m.writer[lu] != h:
        return refuse("host{} does not write LU{}", h, lu)
    n = w.ghost.writes[lu][block]
    if n >= m.scenario.writes_per_block:
        return refuse("block {} of LU{} has had its {} writes", block, lu, m.scenario.writes_per_block)
    request = Request(Op.WRITE, lu, block, n + 1, Where.PATH)
    ghost = w.ghost._replace(writes=_set_block(w.ghost.writes, lu, block, n + 1))
    return w._replace(hosts=replace_at(w.hosts, h, request), ghost=ghost)


def send_read(m: Model, w: World, h: int, lu: int, block: int) -> World | None:
    """A host reads a block of an LU it reads."""
    if w.hosts[h] is not None:
        return refuse("host{} already has a request outstanding", h)
    if lu not in m.scenario.hosts[h].reads:
        return refuse("host{} does not read LU{}", h, lu)
    n = w.ghost.reads[lu][block]
    if n >= m.scenario.reads_per_block:
        return refuse("block {} of LU{} has had its {} reads", block, lu, m.scenario.reads_per_block)
    request = Request(Op.READ, lu, block, UNREAD, Where.PATH)
    ghost = w.ghost._replace(reads=_set_block(w.ghost.reads, lu, block, n + 1))
    return w._replace(hosts=replace_at(w.hosts, h, request), ghost=ghost)


def deliver(m: Model, w: World, h: int) -> World | None:
    """The path controller forwards a frame to the LU's routed controller, unless the LU is
    suspended (806-809: the frame is held). A controller not in charge refuses it."""
    request = w.hosts[h]
    if request is None or request.at != Where.PATH:
        return refuse("host{} has no frame at the path controller", h)
    if w.paths[request.lu].suspended:
        return refuse("the path of LU{} is suspended: its frames are held", request.lu)
    c = routed_controller(m, w, h)
    at = c if request.lu in w.controllers[c].active else Where.NOT_READY
    return w._replace(hosts=replace_at(w.hosts, h, request._replace(at=at)))


def routed_controller(m: Model, w: World, h: int) -> int:
    """The controller host ``h``'s request is delivered to: the one its cable reaches (Fig. 6),
    else the one the path controller routes the LU to."""
    request = w.hosts[h]
    assert request is not None, "a host with a request"
    cabled = m.scenario.hosts[h].controller
    return cabled if m.scenario.topology == "direct" and cabled is not None else w.paths[request.lu].route


def process(m: Model, w: World, h: int) -> World | None:
    """A controller performs a request it accepted. It finishes what it accepted even if it
    has stopped controlling the LU since: that is why Step 808 drains first."""
    request = w.hosts[h]
    if request is None or request.at < 0:  # not in_inbox(request), inline: this is hot
        return refuse("no controller has accepted a request of host{}", h)
    c, lu, block = request.at, request.lu, request.block
    ctl = w.controllers[c]
    if request.op is Op.WRITE:
        if _write_waits(ctl, lu, block):
            return refuse("controller {} is still de-staging block {} of LU{}: the write waits", c, block, lu)
        w, mirrored = _mirror(m, _write_block(m, w, c, lu, block, request.value), lu, block, request.value)
        at = Where.MIRRORING if mirrored else Where.REPLIED
        return w._replace(hosts=replace_at(w.hosts, h, request._replace(at=at)))
    else:
        line = find_line(ctl, lu, block)
        value = line.value if line is not None else w.disk.blocks[lu][block]
        if line is None and (lu not in ctl.write_through or m.protocol.literal_write_through):
            ctl = _with_line(ctl, Line(lu, block, value, False))
        if w.ghost.bad_read is None and value not in admissible_values(w, m.writer[lu], lu, block):
            w = w._replace(ghost=w.ghost._replace(bad_read=BadRead(lu, block, value, c)))
        reply = request._replace(value=value, at=Where.REPLIED)
    w = _set_controller(w, c, ctl)
    return w._replace(hosts=replace_at(w.hosts, h, reply))


def _disk_busy(ctl: Controller, lu: int, block: int) -> bool:
    """Whether the controller's de-stage of the block is under way: a controller keeps one
    disk write per block at a time, or the older value could land last."""
    return any(d.lu == lu and d.block == block for d in ctl.destaging)


def _write_waits(ctl: Controller, lu: int, block: int) -> bool:
    """Whether a write of the block must wait: it goes to disk (write-through) while a
    de-stage of the block is under way. A write-back write changes only the line."""
    return bool(ctl.destaging) and lu in ctl.write_through and _disk_busy(ctl, lu, block)


def _write_block(m: Model, w: World, c: int, lu: int, block: int, value: int) -> World:
    """Controller ``c`` writes a block: through to disk (dropping its line) when the LU is
    write-through there, else into a dirty cache line. (Callers first wait for a de-stage
    of the block under way there, ``_write_waits``.) Taken literally, write-through keeps a
    clean line of the value, as a plain write-through cache does."""
    ctl = w.controllers[c]
    if lu in ctl.write_through:
        w = w._replace(disk=w.disk._replace(blocks=_set_block(w.disk.blocks, lu, block, value)))
        if m.protocol.literal_write_through:
            return _set_controller(w, c, _with_line(ctl, Line(lu, block, value, False)))
        return _set_controller(w, c, _without_line(ctl, lu, block))
    return _set_controller(w, c, _with_line(ctl, Line(lu, block, value, True)))


def _mirror(m: Model, w: World, lu: int, block: int, value: int) -> tuple[World, bool]:
    """Embodiment 2: a write to a paired primary is handed to the secondary's controller in
    charge, which performs it later (``mirror_write``); while the pair is split, the block
    is recorded as different instead. Also whether a mirror write is now under way."""
    i = m.pair_of[lu]
    if i is None or m.scenario.pairs[i].primary != lu:
        return w, False
    pair, secondary = w.pairs[i], m.scenario.pairs[i].secondary
    if pair.state is PairState.PAIRED:
        c = owner(w, secondary)
        if c is None:  # only between the two halves of a change of control, which a mirror never has
            return w, False
        pair = pair._replace(mirror=MirrorWrite(block, value, c))
        return w._replace(pairs=replace_at(w.pairs, i, pair)), True
    diff = tuple(sorted({*pair.diff, block}))
    return w._replace(pairs=replace_at(w.pairs, i, pair._replace(diff=diff))), False


def mirror_write(m: Model, w: World, i: int) -> World | None:
    """Embodiment 2: the secondary's controller performs the mirror write it was handed (in
    its cache, or on disk while the secondary is write-through there), even if the pair has
    been split since: the primary had the data before the split. Then the host's reply goes."""
    pair = w.pairs[i]
    mirror = pair.mirror
    if mirror is None:
        return refuse("no mirror write of pair{} is under way", i)
    secondary, c = m.scenario.pairs[i].secondary, mirror.controller
    if _write_waits(w.controllers[c], secondary, mirror.block):
        return refuse("controller {} is still de-staging block {} of LU{}", c, mirror.block, secondary)
    w = _write_block(m, w, c, secondary, mirror.block, mirror.value)
    w = w._replace(pairs=replace_at(w.pairs, i, pair._replace(mirror=None)))
    h = m.writer[m.scenario.pairs[i].primary]
    request = w.hosts[h] if h is not None else None
    assert h is not None and request is not None and request.at == Where.MIRRORING, "the writer waits"
    return w._replace(hosts=replace_at(w.hosts, h, request._replace(at=Where.REPLIED)))


def complete(m: Model, w: World, h: int) -> World | None:
    """The reply reaches the host: a write is now acknowledged."""
    request = w.hosts[h]
    if request is None or request.at != Where.REPLIED:
        return refuse("no reply is on its way to host{}", h)
    if request.op is Op.WRITE:
        acked = _set_block(w.ghost.acked, request.lu, request.block, request.value)
        w = w._replace(ghost=w.ghost._replace(acked=acked))
    return w._replace(hosts=replace_at(w.hosts, h, None))


def retry(m: Model, w: World, h: int) -> World | None:
    """The host got NOT READY and sends the same request again."""
    request = w.hosts[h]
    if request is None or request.at != Where.NOT_READY:
        return refuse("host{} has had no NOT READY to retry", h)
    return w._replace(hosts=replace_at(w.hosts, h, request._replace(at=Where.PATH)))


# --- Step 801: designation by the operator at the management console ----------------------


def _final_layout(w: World, extra: list[Job]) -> dict[int, tuple[int, int, int]]:
    """Every LU's address once all take-overs in progress (and ``extra``) are done. A backup
    cycle ends where it began: control of the mirror returns home (909)."""
    layout = {lu: (row.current, row.port, row.ext_lun) for lu, row in enumerate(w.disk.table)}
    for job in (*w.jobs, *extra):
        layout[job.lu] = (job.source if job.backup else job.destination, job.port, job.ext_lun)
    return layout


def _create_jobs(m: Model, w: World, jobs: list[Job]) -> World | None:
    """Accept a designation, or refuse it (None) as the management utility would."""
    moving = [job.lu for job in jobs for j in w.jobs if j.lu == job.lu]
    if moving and not m.protocol.concurrent_same_lu:
        return refuse("Step 801 refuses it: LU{} is already being taken over", moving[0])
    now = {lu: (row.current, row.port, row.ext_lun) for lu, row in enumerate(w.disk.table)}
    moves = [(j.lu, j.source, (j.destination, j.port, j.ext_lun)) for j in jobs]
    reason = designation_refused(now, _final_layout(w, jobs), moves)
    if reason is not None:
        return refuse("Step 801 refuses it: {}", reason)
    # Sorted by LU; jobs of one LU (only a buggy utility makes two) in designation order,
    # which decides whose address wins, whatever the controllers are called.
    return w._replace(jobs=tuple(sorted((*w.jobs, *jobs), key=_job_lu)), ghost=_designated(w.ghost, jobs))


def _designated(ghost: Ghost, jobs: list[Job]) -> Ghost:
    """The ghost record of what Step 801 designated, with ``jobs`` (plain take-overs) added
    in designation order: of two designations of one LU (only a buggy utility accepts the
    second), the later wins, as it does in the layout Step 801 plans (``_final_layout``)."""
    designated = ghost.designated
    for job in jobs:
        designated = replace_at(designated, job.lu, Address(job.destination, job.port, job.ext_lun))
    return ghost._replace(designated=designated)


def _job_lu(job: Job) -> int:
    return job.lu


def designate(m: Model, w: World, lu: int, destination: int) -> World | None:
    """801 ("any" mode): the operator moves one LU to another controller, on the scenario's
    take-over port, under the lowest external LUN free there."""
    if w.budget <= 0:
        return refuse("the operator has designated every take-over the scenario allows")
    row = w.disk.table[lu]
    port = m.scenario.takeover_port
    taken = set(_final_layout(w, []).values())
    taken |= {(r.current, r.port, r.ext_lun) for r in w.disk.table}
    ext = next(n for n in range(m.lus + 1) if (destination, port, n) not in taken)
    job = Job(lu, row.current, destination, port, ext, done=1)
    after = _create_jobs(m, w, [job])
    return after._replace(budget=w.budget - 1) if after is not None else None


def designate_batch(m: Model, w: World, index: int) -> World | None:
    """801 ("scripted" mode): the next batch of the script (Fig. 5: LU2 and LU3 to
    controller 1 on port 0), all its LUs designated together."""
    if index != w.batches or index >= len(m.scenario.batches):
        return refuse("the script's next batch is batch {}, of {}", w.batches, len(m.scenario.batches))
    batch = m.scenario.batches[index]
    jobs = []
    for i, lu in enumerate(batch.lus):
        row = w.disk.table[lu]
        port = batch.port if batch.port is not None else row.port
        ext = batch.ext_luns[i] if batch.ext_luns is not None else row.ext_lun
        jobs.append(Job(lu, row.current, batch.destination, port, ext, done=1))
    after = _create_jobs(m, w, jobs)
    return after._replace(batches=w.batches + 1) if after is not None else None


# --- Steps 802-809: one job's progress -------------------------------------------------------


def _advance(m: Model, w: World, k: int) -> World:
    """Mark the job's next step done; a job whose last step is done is over."""
    job = w.jobs[k]
    if job.done + 1 == len(m.order_of(job)):
        return w._replace(jobs=w.jobs[:k] + w.jobs[k + 1 :])
    return w._replace(jobs=replace_at(w.jobs, k, job._replace(done=job.done + 1)))


def _job_at(m: Model, w: World, k: int, step: Step) -> Job | None:
    """The job ``k`` if its next step is ``step``, else None (the guard of every step)."""
    job = w.jobs[k]
    next_step = m.next_step(job)
    if next_step is not step:
        done = "none: it is over" if next_step is None else next_step.number
        refuse("the next step of its job is {}, not {}", done, step.number)
        return None
    return job


def instruct(m: Model, w: World, k: int) -> World | None:
    """802: the management utility sends the take-over instruction to the array."""
    if _job_at(m, w, k, Step.INSTRUCT) is None:
        return None
    return _advance(m, w, k)


def write_row(m: Model, w: World, k: int) -> World | None:
    """803: the source writes the LU's row, with the new port, external LUN and controller
    numbers (Fig. 5B), into its table and at the disk's predetermined position."""
    job = _job_at(m, w, k, Step.WRITE_ROW)
    if job is None:
        return None
    row = Row(job.ext_lun, job.port, default=job.destination, current=job.destination)
    source = w.controllers[job.source]
    w = _set_controller(w, job.source, source._replace(table=replace_at(source.table, job.lu, row)))
    w = w._replace(disk=w.disk._replace(table=replace_at(w.disk.table, job.lu, row)))
    return _advance(m, w, k)


def read_row(m: Model, w: World, k: int) -> World | None:
    """803: the destination, and every other controller keeping all rows (the patent's
    simplifying assumption), read the migrated row from the disk."""
    job = _job_at(m, w, k, Step.READ_ROW)
    if job is None:
        return None
    row = w.disk.table[job.lu]
    for c, ctl in enumerate(w.controllers):
        if c == job.source or (c == job.destination and m.protocol.stale_config_row):
            continue
        w = _set_controller(w, c, ctl._replace(table=replace_at(ctl.table, job.lu, row)))
    return _advance(m, w, k)


def begin_destage(m: Model, w: World, k: int) -> World | None:
    """804: the source makes every write to the LU write-through from now until 808."""
    job = _job_at(m, w, k, Step.BEGIN_DESTAGE)
    if job is None:
        return None
    if not m.protocol.no_write_through:
        w = _set_write_through(w, job.source, job.lu, True)
    return _advance(m, w, k)


def notify(m: Model, w: World, k: int) -> World | None:
    """805: the source notifies de-stage completion; the utility orders the path switch."""
    job = _job_at(m, w, k, Step.NOTIFY)
    if job is None:
        return None
    if m.protocol.write_back_after_destage:
        w = _set_write_through(w, job.source, job.lu, False)
    return _advance(m, w, k)


def suspend(m: Model, w: World, k: int) -> World | None:
    """806: the path controller holds every new frame to the LU."""
    job = _job_at(m, w, k, Step.SUSPEND)
    if job is None:
        return None
    w = _set_path(w, job.lu, suspended=True)
    return _advance(m, w, k)


def switch_path(m: Model, w: World, k: int) -> World | None:
    """807: the path controller routes the LU's frames to the destination."""
    job = _job_at(m, w, k, Step.SWITCH_PATH)
    if job is None:
        return None
    w = _set_path(w, job.lu, route=job.destination)
    return _advance(m, w, k)


def stop_source(m: Model, w: World, k: int) -> World | None:
    """808: the source stops controlling the LU once it has finished every request it
    accepted for it; its write-through period ends."""
    job = _job_at(m, w, k, Step.STOP_SOURCE)
    if job is None:
        return None
    if not m.protocol.stop_without_drain and not _drained(w, job.source, job.lu):
        return refuse("controller {} still holds a request for LU{}", job.source, job.lu)
    source = w.controllers[job.source]
    source = source._replace(
        active=_remove(source.active, job.lu),
        write_through=_remove(source.write_through, job.lu),
    )
    return _advance(m, _set_controller(w, job.source, source), k)


def start_destination(m: Model, w: World, k: int) -> World | None:
    """808: the destination starts controlling the LU."""
    job = _job_at(m, w, k, Step.START_DESTINATION)
    if job is None:
        return None
    destination = w.controllers[job.destination]
    w = _set_controller(w, job.destination, destination._replace(active=_add(destination.active, job.lu)))
    return _advance(m, w, k)


def resume(m: Model, w: World, k: int) -> World | None:
    """809: the path controller releases the LU's held frames; the take-over is complete."""
    job = _job_at(m, w, k, Step.RESUME)
    if job is None:
        return None
    w = _set_path(w, job.lu, suspended=False)
    return _advance(m, w, k)


# --- Embodiment 2, Steps 901-909: backing a split secondary up through the backup controller ----


def split_pair(m: Model, w: World, index: int) -> World | None:
    """901: a host splits the next pair of the script; the backup cycle of its secondary
    begins, towards the controller the secondary's default number names (Fig. 9A)."""
    if index != w.backups or index >= len(m.scenario.backups):
        return refuse("the script's next backup is backup {}, of {}", w.backups, len(m.scenario.backups))
    i = m.scenario.backups[index]
    spec, pair = m.scenario.pairs[i], w.pairs[i]
    secondary = spec.secondary
    row = w.disk.table[secondary]
    # The pair must be whole again: a repeated backup waits for the resync.
    if pair.state is not PairState.PAIRED:
        return refuse("pair{} is {}, not paired", i, pair.state.name.lower())
    if any(j.lu in (spec.primary, secondary) for j in w.jobs):
        return refuse("an LU of pair{} is being moved", i)
    primary = spec.primary
    holder = owner(w, primary)
    snapshot = tuple(visible_value(w, holder, primary, b) for b in range(m.blocks[primary]))
    job = Job(secondary, row.current, row.default, row.port, row.ext_lun, done=1, backup=True)
    pair = pair._replace(
        state=PairState.SPLIT, diff=(), tape=(), snapshot=snapshot, home=Home(row.default, row.current)
    )
    return w._replace(
        jobs=tuple(sorted((*w.jobs, job), key=_job_lu)),
        pairs=replace_at(w.pairs, i, pair),
        backups=w.backups + 1,
    )


def _migrate(w: World, lu: int, row: Row) -> World:
    """Steps 902 / 907: the row goes to the disk's predetermined position and every
    controller's table, with the pair's status and difference information."""
    controllers = tuple(ctl._replace(table=replace_at(ctl.table, lu, row)) for ctl in w.controllers)
    return w._replace(controllers=controllers, disk=w.disk._replace(table=replace_at(w.disk.table, lu, row)))


def migrate_out(m: Model, w: World, k: int) -> World | None:
    """902: the source migrates the secondary's row to the backup controller: the default
    number becomes the source (so the way home is remembered), the current number the
    backup controller (Fig. 9B)."""
    job = _job_at(m, w, k, Step.MIGRATE_OUT)
    if job is None:
        return None
    row = w.disk.table[job.lu]
    default = row.default if m.protocol.no_default_swap else job.source
    return _advance(m, _migrate(w, job.lu, row._replace(default=default, current=job.destination)), k)


def destaging_controller(step: Step, source: int, destination: int) -> int:
    """The one rule for who de-stages and purges at ``step``: the source (804, 903), the
    backup controller coming back (908). The BMC encoding asks it too."""
    return destination if step in (Step.BEGIN_RETURN_DESTAGE, Step.PURGE_RETURN) else source


def _holder(job: Job, step: Step) -> int:
    return destaging_controller(step, job.source, job.destination)


def _begin_writethrough(m: Model, w: World, k: int, step: Step) -> World | None:
    """903 / 908: the de-staging controller makes the LU's writes write-through."""
    job = _job_at(m, w, k, step)
    if job is None:
        return None
    return _advance(m, _set_write_through(w, _holder(job, step), job.lu, True), k)


def _destage(m: Model, w: World, k: int, block: int, step: Step) -> World | None:
    """804 / 903 / 908: the de-staging controller starts writing one dirty line of the LU
    to disk (``destage_done`` finishes it)."""
    job = _job_at(m, w, k, step)
    if job is None:
        return None
    return _start_destage(w, _holder(job, step), job.lu, block)


def _start_destage(w: World, c: int, lu: int, block: int) -> World | None:
    """Controller ``c`` issues the disk write of its dirty line of the block; the line stays
    in the cache, dirty, until the write is done."""
    ctl = w.controllers[c]
    line = find_line(ctl, lu, block)
    if line is None or not line.dirty:
        return refuse("controller {} has no dirty line of block {} of LU{}", c, block, lu)
    if _disk_busy(ctl, lu, block):
        return refuse("controller {} is already de-staging block {} of LU{}", c, block, lu)
    destaging = tuple(sorted((*ctl.destaging, Destage(lu, block, line.value))))
    return _set_controller(w, c, ctl._replace(destaging=destaging))


def background_destage(m: Model, w: World, c: int, lu: int, block: int) -> World | None:
    """A write-back cache de-stages a dirty line on its own, at any time (scenarios with
    ``background_destage``); while an LU is write-through, its take-over step does it."""
    if not m.scenario.background_destage:
        return refuse("controllers de-stage only at Steps 804, 903 and 908 in this scenario")
    if lu in w.controllers[c].write_through:
        return refuse("LU{} is write-through on controller {}: its take-over step de-stages it", lu, c)
    return _start_destage(w, c, lu, block)


def destage_done(m: Model, w: World, c: int, lu: int, block: int) -> World | None:
    """The disk write of a de-stage is done: the block holds the value written, and the line
    is clean if it still holds that value (a host write since then keeps it dirty)."""
    ctl = w.controllers[c]
    record = next((d for d in ctl.destaging if d.lu == lu and d.block == block), None)
    if record is None:
        return refuse("controller {} is not de-staging block {} of LU{}", c, block, lu)
    w = w._replace(disk=w.disk._replace(blocks=_set_block(w.disk.blocks, lu, block, record.value)))
    ctl = ctl._replace(destaging=tuple(d for d in ctl.destaging if d != record))
    line = find_line(ctl, lu, block)
    unchanged = line is not None and line.value == record.value
    if line is not None and line.dirty and (unchanged or m.protocol.destage_clean_unconditionally):
        ctl = _with_line(ctl, line._replace(dirty=False))
    return _set_controller(w, c, ctl)


def _purge(m: Model, w: World, k: int, step: Step) -> World | None:
    """804 / 903 / 908: with nothing dirty left and every de-stage done, the LU's lines are
    removed from the cache."""
    job = _job_at(m, w, k, step)
    if job is None:
        return None
    c = _holder(job, step)
    ctl = w.controllers[c]
    if any(line.lu == job.lu and line.dirty for line in ctl.cache):
        return refuse("controller {} still has dirty lines of LU{}", c, job.lu)
    if any(d.lu == job.lu for d in ctl.destaging):
        return refuse("controller {} is still de-staging LU{}", c, job.lu)
    if not (step is Step.PURGE and m.protocol.keep_clean_lines):
        cache = tuple(line for line in ctl.cache if line.lu != job.lu)
        w = _set_controller(w, c, ctl._replace(cache=cache))
    return _advance(m, w, k)


def destage_line(m: Model, w: World, k: int, block: int) -> World | None:
    """804: the source de-stages one dirty line of the LU and marks it clean."""
    return _destage(m, w, k, block, Step.PURGE)


def purge(m: Model, w: World, k: int) -> World | None:
    """804: with nothing dirty left, the source removes the LU's lines from its cache."""
    return _purge(m, w, k, Step.PURGE)


def begin_backup_destage(m: Model, w: World, k: int) -> World | None:
    """903: the source makes the secondary's writes write-through."""
    return _begin_writethrough(m, w, k, Step.BEGIN_BACKUP_DESTAGE)


def destage_backup_line(m: Model, w: World, k: int, block: int) -> World | None:
    """903: the source de-stages one dirty line of the secondary."""
    return _destage(m, w, k, block, Step.PURGE_BACKUP)


def purge_backup(m: Model, w: World, k: int) -> World | None:
    """903: with nothing dirty left, the source removes the secondary's lines."""
    return _purge(m, w, k, Step.PURGE_BACKUP)


def begin_return_destage(m: Model, w: World, k: int) -> World | None:
    """908: the backup controller makes the secondary's writes write-through."""
    return _begin_writethrough(m, w, k, Step.BEGIN_RETURN_DESTAGE)


def destage_return_line(m: Model, w: World, k: int, block: int) -> World | None:
    """908: the backup controller de-stages one dirty line of the secondary."""
    return _destage(m, w, k, block, Step.PURGE_RETURN)


def purge_return(m: Model, w: World, k: int) -> World | None:
    """908: with nothing dirty left, the backup controller removes the secondary's lines."""
    return _purge(m, w, k, Step.PURGE_RETURN)


def _pass_control(w: World, lu: int, old: int, new: int) -> World:
    """Control of ``lu`` passes from ``old`` to ``new`` at once (the notice of 904 / 909),
    and the frames the backup host sends for it go to ``new``."""
    ctl = w.controllers[old]
    w = _set_controller(
        w, old, ctl._replace(active=_remove(ctl.active, lu), write_through=_remove(ctl.write_through, lu))
    )
    w = _set_controller(w, new, w.controllers[new]._replace(active=_add(w.controllers[new].active, lu)))
    return _set_path(w, lu, route=new)


def _drained(w: World, c: int, lu: int) -> bool:
    return not any(r is not None and r.at == c and r.lu == lu for r in w.hosts)


def _mirror_pending(m: Model, w: World, c: int, lu: int) -> bool:
    """Whether controller ``c`` still has a mirror write of ``lu`` (a secondary) to perform:
    it was handed the write and must finish it before giving the LU away (904 / 909)."""
    i = m.pair_of[lu]
    if i is None or m.scenario.pairs[i].secondary != lu:
        return False
    mirror = w.pairs[i].mirror
    return mirror is not None and mirror.controller == c


def hand_over(m: Model, w: World, k: int) -> World | None:
    """904: the source notifies de-stage completion; the backup controller takes control."""
    job = _job_at(m, w, k, Step.HAND_OVER)
    if job is None:
        return None
    if not _drained(w, job.source, job.lu):
        return refuse("controller {} still holds a request for LU{}", job.source, job.lu)
    if _mirror_pending(m, w, job.source, job.lu):
        return refuse("controller {} still has a mirror write of LU{} to perform", job.source, job.lu)
    return _advance(m, _pass_control(w, job.lu, job.source, job.destination), k)


def _pair_of_job(m: Model, job: Job) -> int:
    i = m.pair_of[job.lu]
    assert i is not None, "a backup job moves a secondary"
    return i


def backup_block(m: Model, w: World, k: int, block: int) -> World | None:
    """905: the backup host reads the next block of the secondary through the backup
    controller and writes it to tape."""
    job = _job_at(m, w, k, Step.BACKUP_DONE)
    if job is None:
        return None
    i = _pair_of_job(m, job)
    pair = w.pairs[i]
    if block != len(pair.tape):
        return refuse("block {} is next to go to tape, not block {}", len(pair.tape), block)
    if block >= m.blocks[job.lu]:
        return refuse("every block of LU{} is on tape", job.lu)
    ctl = w.controllers[job.destination]
    if job.lu not in ctl.active:
        return refuse("controller {} is not in charge of LU{}", job.destination, job.lu)
    # The read goes through the backup controller's cache as any read does: a miss fills a
    # clean line, which Step 908 must purge before control returns home.
    line = find_line(ctl, job.lu, block)
    value = line.value if line is not None else w.disk.blocks[job.lu][block]
    if line is None and (job.lu not in ctl.write_through or m.protocol.literal_write_through):
        w = _set_controller(w, job.destination, _with_line(ctl, Line(job.lu, block, value, False)))
    return w._replace(pairs=replace_at(w.pairs, i, pair._replace(tape=(*pair.tape, value))))


def backup_done(m: Model, w: World, k: int) -> World | None:
    """905: every block of the secondary is on tape."""
    job = _job_at(m, w, k, Step.BACKUP_DONE)
    if job is None:
        return None
    on_tape = len(w.pairs[_pair_of_job(m, job)].tape)
    if on_tape < m.blocks[job.lu] and not m.protocol.resync_before_backup_done:
        return refuse("{} of the {} blocks of LU{} are on tape", on_tape, m.blocks[job.lu], job.lu)
    return _advance(m, w, k)


def request_resync(m: Model, w: World, k: int) -> World | None:
    """906: the backup host sends the pair re-synchronization instruction."""
    job = _job_at(m, w, k, Step.REQUEST_RESYNC)
    if job is None:
        return None
    i = _pair_of_job(m, job)
    w = w._replace(pairs=replace_at(w.pairs, i, w.pairs[i]._replace(state=PairState.RESYNCING)))
    return _advance(m, w, k)


def migrate_back(m: Model, w: World, k: int) -> World | None:
    """907: the backup controller migrates the row back to the controller its default
    number names; the default number becomes the backup controller again (Fig. 9A)."""
    job = _job_at(m, w, k, Step.MIGRATE_BACK)
    if job is None:
        return None
    row = w.disk.table[job.lu]
    w = _migrate(w, job.lu, row._replace(default=job.destination, current=row.default))
    if m.protocol.stale_diff_copy:
        # The row comes back with the backup controller's copy of the difference information,
        # which saw none of the primary's writes: they are on the primary's controller.
        i = _pair_of_job(m, job)
        w = w._replace(pairs=replace_at(w.pairs, i, w.pairs[i]._replace(diff=())))
    return _advance(m, w, k)


def return_control(m: Model, w: World, k: int) -> World | None:
    """909: the backup controller notifies completion to the controller the row now names
    as current, and control returns there; the backup cycle is over."""
    job = _job_at(m, w, k, Step.RETURN_CONTROL)
    if job is None:
        return None
    if not _drained(w, job.destination, job.lu):
        return refuse("controller {} still holds a request for LU{}", job.destination, job.lu)
    if _mirror_pending(m, w, job.destination, job.lu):
        return refuse("controller {} still has a mirror write of LU{} to perform", job.destination, job.lu)
    home = w.disk.table[job.lu].current
    return _advance(m, _pass_control(w, job.lu, job.destination, home), k)


def _resyncing(m: Model, w: World, i: int) -> bool:
    """The pair's re-synchronization may copy: requested, and the secondary is home."""
    secondary = m.scenario.pairs[i].secondary
    if w.pairs[i].state is not PairState.RESYNCING:
        refuse("pair{} is {}, not re-synchronizing", i, w.pairs[i].state.name.lower())
        return False
    if any(j.lu == secondary for j in w.jobs):
        refuse("LU{}, the secondary of pair{}, is not home yet", secondary, i)
        return False
    return True


def resync_block(m: Model, w: World, i: int, block: int) -> World | None:
    """906: one block the difference information names is copied from primary to secondary."""
    pair, spec = w.pairs[i], m.scenario.pairs[i]
    if not _resyncing(m, w, i):
        return None
    if block not in pair.diff:
        return refuse("the difference information of pair{} does not name block {}", i, block)
    value = visible_value(w, owner(w, spec.primary), spec.primary, block)
    c = owner(w, spec.secondary)
    if c is not None:
        if _write_waits(w.controllers[c], spec.secondary, block):
            return refuse("controller {} is still de-staging block {} of LU{}", c, block, spec.secondary)
        w = _write_block(m, w, c, spec.secondary, block, value)
    diff = tuple(b for b in pair.diff if b != block)
    return w._replace(pairs=replace_at(w.pairs, i, pair._replace(diff=diff)))


def resync_done(m: Model, w: World, i: int) -> World | None:
    """906: with no difference left, the pair is paired again and mirroring resumes."""
    pair = w.pairs[i]
    if not _resyncing(m, w, i):
        return None
    if pair.diff and not m.protocol.resync_without_diff:
        return refuse("pair{} still has {} blocks to copy", i, len(pair.diff))
    return w._replace(pairs=replace_at(w.pairs, i, pair._replace(state=PairState.PAIRED, diff=())))


# --- a crash of the whole array, and recovery -------------------------------------------------


def _destage_all(m: Model, w: World, c: int, lu: int) -> World:
    """Recovery: controller ``c`` writes every dirty line of ``lu`` to disk, then drops every
    line of ``lu`` from its cache (the seeded bug drops them unwritten)."""
    ctl = w.controllers[c]
    blocks = w.disk.blocks
    if not m.protocol.recover_without_destage:
        for line in ctl.cache:
            if line.lu == lu and line.dirty:
                blocks = _set_block(blocks, lu, line.block, line.value)
    w = w._replace(disk=w.disk._replace(blocks=blocks))
    return _set_controller(w, c, ctl._replace(cache=tuple(line for line in ctl.cache if line.lu != lu)))


def _after_crash(request: Request | None) -> Request | None:
    """A host's request after a crash: a frame the array held (at the path controller, in an
    inbox) is lost and the host sends it again; a reply already sent still arrives (a
    refusal too); a write waiting for its mirror write is answered, its block tracked for
    re-synchronization (step 4 of the rule)."""
    if request is None or request.at in (Where.REPLIED, Where.NOT_READY):
        return request
    if request.at == Where.MIRRORING:
        return request._replace(at=Where.REPLIED)
    return request._replace(at=Where.PATH)


def crash_recover(m: Model, w: World) -> World | None:
    """The whole array crashes (every controller at once) and recovers from what survives:
    the disk, each controller's battery-backed cache, the utility's journal of jobs and
    pairs. Frames the array held are lost, so their hosts send them again (``_after_crash``);
    de-stages under way are lost, their lines still dirty. Then, as the reference array's
    recovery does:

    1. an interrupted take-over is *completed*: the source de-stages and drops the LU's lines
       (Step 804 again), and the row naming the destination is stored (Step 803 again);
    2. an interrupted backup cycle is *abandoned*: the backup controller de-stages and drops
       the secondary's lines, its row names its home controller again, the tape (and the
       image it was to hold) is discarded and the pair re-synchronizes from its
       difference information;
    3. every controller's table is the disk's, each is in charge of exactly the LUs whose row
       names it, and de-stages and drops the lines of every other LU; routes follow the
       table, nothing is suspended or write-through;
    4. a mirror write handed over and not known to be performed marks its block as different
       and the pair re-synchronizes (the re-synchronization copies the primary's block as it
       is then), as arrays do with a region whose mirror write may be lost."""
    if w.crashes <= 0:
        return refuse("the scenario allows no more crashes")
    hosts = tuple(_after_crash(r) for r in w.hosts)
    controllers = tuple(ctl._replace(write_through=(), destaging=()) for ctl in w.controllers)
    w = w._replace(hosts=hosts, controllers=controllers, crashes=w.crashes - 1)
    for job in w.jobs:
        if job.backup:
            w = _destage_all(m, w, job.destination, job.lu)
            row = Row(job.ext_lun, job.port, default=job.destination, current=job.source)
            i = _pair_of_job(m, job)
            # The tape is discarded, and with it the image it was to hold (the ghost).
            pair = w.pairs[i]._replace(state=PairState.RESYNCING, tape=(), snapshot=())
            w = w._replace(pairs=replace_at(w.pairs, i, pair))
        else:
            w = _destage_all(m, w, job.source, job.lu)
            row = Row(job.ext_lun, job.port, default=job.destination, current=job.destination)
        w = w._replace(disk=w.disk._replace(table=replace_at(w.disk.table, job.lu, row)))
    table = w.disk.table
    for c in range(len(w.controllers)):
        active = tuple(lu for lu, row in enumerate(table) if row.current == c)
        w = _set_controller(w, c, w.controllers[c]._replace(active=active, table=table))
        for lu in sorted({line.lu for line in w.controllers[c].cache} - set(active)):
            w = _destage_all(m, w, c, lu)
    for i, pair in enumerate(w.pairs):
        if pair.mirror is not None:
            diff = tuple(sorted({*pair.diff, pair.mirror.block}))
            pair = pair._replace(state=PairState.RESYNCING, diff=diff, mirror=None)
            w = w._replace(pairs=replace_at(w.pairs, i, pair))
    paths = tuple(Path(route=row.current, suspended=False) for row in table)
    return w._replace(paths=paths, jobs=())


# --- the list of actions ----------------------------------------------------------------------


def _hosts_idle(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    for h, request in enumerate(w.hosts):
        if request is None:
            host = m.scenario.hosts[h]
            for lu in host.writes:
                for block in range(m.blocks[lu]):
                    yield (h, lu, block)


def _hosts_idle_reads(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    if m.scenario.reads_per_block == 0:
        return
    for h, request in enumerate(w.hosts):
        if request is None:
            for lu in m.scenario.hosts[h].reads:
                for block in range(m.blocks[lu]):
                    yield (h, lu, block)


def _hosts_at(where: Where) -> Callable[[Model, World], Iterator[tuple[int, ...]]]:
    """Hosts whose request is at ``where``: only they can take the action, so the guard of
    no other host need be tried."""

    def hosts(m: Model, w: World) -> Iterator[tuple[int, ...]]:
        for h, request in enumerate(w.hosts):
            if request is not None and request.at == where:
                yield (h,)

    return hosts


def _hosts_in_inboxes(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    """Hosts whose request some controller has accepted (``_hosts_at`` for any inbox)."""
    for h, request in enumerate(w.hosts):
        if request is not None and request.at >= 0:  # in_inbox(request), inline: this is hot
            yield (h,)


def _designations(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    """Only LUs that can leave without a gap: the last external LUN of their port, once the
    take-overs under way are done (the final layout is always gap-free, as 801 keeps it)."""
    if m.scenario.mode != "any" or w.budget <= 0:
        return
    last: dict[tuple[int, int], tuple[int, int]] = {}
    for lu, (c, port, ext) in _final_layout(w, []).items():
        if (c, port) not in last or ext > last[c, port][0]:
            last[c, port] = (ext, lu)
    for _, lu in sorted(last.values(), key=lambda e: e[1]):
        for c in range(m.scenario.controllers):
            yield (lu, c)


def _next_batch(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    if w.batches < len(m.scenario.batches):
        yield (w.batches,)


def _the_job(m: Model, w: World, k: int) -> Iterator[tuple[int, ...]]:
    yield (k,)


def _dirty_lines_of_job(m: Model, w: World, k: int) -> Iterator[tuple[int, ...]]:
    job = w.jobs[k]
    step = m.next_step(job)
    assert step is not None, "a job with a next step"
    c = _holder(job, step)
    for line in w.controllers[c].cache:
        if line.lu == job.lu and line.dirty:
            yield (k, line.block)


def _dirty_lines(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    if not m.scenario.background_destage:
        return
    for c, ctl in enumerate(w.controllers):
        for line in ctl.cache:
            if line.dirty and line.lu not in ctl.write_through:
                yield (c, line.lu, line.block)


def _destages_under_way(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    for c, ctl in enumerate(w.controllers):
        for d in ctl.destaging:
            yield (c, d.lu, d.block)


def _next_backup(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    if w.backups < len(m.scenario.backups):
        yield (w.backups,)


def _next_tape_block(m: Model, w: World, k: int) -> Iterator[tuple[int, ...]]:
    yield (k, len(w.pairs[_pair_of_job(m, w.jobs[k])].tape))


def _resync_blocks(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    for i, pair in enumerate(w.pairs):
        for block in pair.diff:
            yield (i, block)


def _pairs(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    for i in range(len(w.pairs)):
        yield (i,)


def _mirror_writes(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    for i, pair in enumerate(w.pairs):
        if pair.mirror is not None:
            yield (i,)


def _crashes_left(m: Model, w: World) -> Iterator[tuple[int, ...]]:
    if w.crashes > 0:
        yield ()


def _mirroring_controller(w: World, args: tuple[int, ...]) -> Component:
    mirror = w.pairs[args[0]].mirror
    return controller(mirror.controller if mirror is not None else None)


def _step(
    name: str,
    step: Step,
    component: Callable[[World, tuple[int, ...]], Component],
    apply: Callable[..., World | None],
    per_job: Callable[[Model, World, int], Iterator[tuple[int, ...]]] = _the_job,
) -> Action:
    """An action advancing one job: it applies to the jobs whose next step is ``step``."""

    def arguments(m: Model, w: World) -> Iterator[tuple[int, ...]]:
        for k, job in enumerate(w.jobs):
            if m.next_step(job) is step:
                yield from per_job(m, w, k)

    return Action(name, step, component, arguments, apply, per_job)


def _array(w: World, args: tuple[int, ...]) -> Component:
    return ARRAY


def _host(w: World, args: tuple[int, ...]) -> Component:
    return host(args[0])


def _path(w: World, args: tuple[int, ...]) -> Component:
    return PATH_CONTROLLER


def _utility(w: World, args: tuple[int, ...]) -> Component:
    return UTILITY


def _source(w: World, args: tuple[int, ...]) -> Component:
    return controller(w.jobs[args[0]].source)


def _destination(w: World, args: tuple[int, ...]) -> Component:
    return controller(w.jobs[args[0]].destination)


def _splitting_host(w: World, args: tuple[int, ...]) -> Component:
    return host()  # Step 901: "the computer 2x sends a pair-split command"; args name the backup


def _backup_host(w: World, args: tuple[int, ...]) -> Component:
    return BACKUP_HOST


def _storage(w: World, args: tuple[int, ...]) -> Component:
    return MIRRORING


def _controller_named(w: World, args: tuple[int, ...]) -> Component:
    return controller(args[0])


def _accepting_controller(w: World, args: tuple[int, ...]) -> Component:
    request = w.hosts[args[0]]
    return controller(request.at if request is not None else None)


ACTIONS: tuple[Action, ...] = (
    Action("send_write", None, _host, _hosts_idle, send_write),
    Action("send_read", None, _host, _hosts_idle_reads, send_read),
    Action("deliver", None, _path, _hosts_at(Where.PATH), deliver),
    Action("process", None, _accepting_controller, _hosts_in_inboxes, process),
    Action("complete", None, _host, _hosts_at(Where.REPLIED), complete),
    Action("retry", None, _host, _hosts_at(Where.NOT_READY), retry),
    Action("background_destage", None, _controller_named, _dirty_lines, background_destage),
    Action("destage_done", None, _controller_named, _destages_under_way, destage_done),
    Action("designate", Step.DESIGNATE, _utility, _designations, designate),
    Action("designate_batch", Step.DESIGNATE, _utility, _next_batch, designate_batch),
    _step("instruct", Step.INSTRUCT, _utility, instruct),
    _step("write_row", Step.WRITE_ROW, _source, write_row),
    _step("read_row", Step.READ_ROW, _destination, read_row),
    _step("begin_destage", Step.BEGIN_DESTAGE, _source, begin_destage),
    _step("destage_line", Step.PURGE, _source, destage_line, _dirty_lines_of_job),
    _step("purge", Step.PURGE, _source, purge),
    _step("notify", Step.NOTIFY, _source, notify),
    _step("suspend", Step.SUSPEND, _path, suspend),
    _step("switch_path", Step.SWITCH_PATH, _path, switch_path),
    _step("stop_source", Step.STOP_SOURCE, _source, stop_source),
    _step("start_destination", Step.START_DESTINATION, _destination, start_destination),
    _step("resume", Step.RESUME, _path, resume),
    Action("split_pair", Step.SPLIT_PAIR, _splitting_host, _next_backup, split_pair),
    _step("migrate_out", Step.MIGRATE_OUT, _source, migrate_out),
    _step("begin_backup_destage", Step.BEGIN_BACKUP_DESTAGE, _source, begin_backup_destage),
    _step("destage_backup_line", Step.PURGE_BACKUP, _source, destage_backup_line, _dirty_lines_of_job),
    _step("purge_backup", Step.PURGE_BACKUP, _source, purge_backup),
    _step("hand_over", Step.HAND_OVER, _source, hand_over),
    _step("backup_block", Step.BACKUP_DONE, _backup_host, backup_block, _next_tape_block),
    _step("backup_done", Step.BACKUP_DONE, _backup_host, backup_done),
    _step("request_resync", Step.REQUEST_RESYNC, _backup_host, request_resync),
    _step("migrate_back", Step.MIGRATE_BACK, _destination, migrate_back),
    _step("begin_return_destage", Step.BEGIN_RETURN_DESTAGE, _destination, begin_return_destage),
    _step("destage_return_line", Step.PURGE_RETURN, _destination, destage_return_line, _dirty_lines_of_job),
    _step("purge_return", Step.PURGE_RETURN, _destination, purge_return),
    _step("return_control", Step.RETURN_CONTROL, _destination, return_control),
    Action("mirror_write", None, _mirroring_controller, _mirror_writes, mirror_write),
    Action("resync_block", Step.RESYNC_DONE, _storage, _resync_blocks, resync_block),
    Action("resync_done", Step.RESYNC_DONE, _storage, _pairs, resync_done),
    Action("crash_recover", None, _array, _crashes_left, crash_recover),
)

ACTIONS_BY_NAME: dict[str, Action] = {a.name: a for a in ACTIONS}
