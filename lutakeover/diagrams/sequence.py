"""A run (a counterexample, or any ITF trace) as a sequence diagram.

One lane per component (hosts, the backup host, the path controller, the management
utility, each controller, the disk), one row per step, each step an arrow from the component
that performs it (the model's ``Action.component``) to the one it acts on, or a box on the
lane when it acts on itself. Where a step changes a configuration information table, the
changed tables are drawn beside the row (Fig. 5A/5B layout, changed cells shaded); the step
that breaks a property is drawn in red with the property's sentence.

Lanes are laid out as a grid: every row is a rank whose nodes are chained left to right by
invisible edges, every lane a chain of rows; messages do not constrain the layout.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from lutakeover.diagrams.dot import HIGHLIGHT, DiagramError, digraph, esc, html_table, role_colour
from lutakeover.diagrams.tables import TABLE_HEADER, changed_cells, rows_of
from lutakeover.formats.report import request_op_text
from model.actions import Model, Transition, routed_controller
from model.labels import (
    ARRAY,
    BACKUP_HOST,
    DISK,
    MIRRORING,
    PATH_CONTROLLER,
    UTILITY,
    Component,
    Label,
    controller,
    host,
)
from model.state import Op, PairState, Row, Where, World, owner
from proofs.trace import Counterexample, Step

MAX_STEPS = 400  # a longer run is not readable as one picture

Lane = Component


def lanes(m: Model) -> list[Lane]:
    """The components of the scenario's array, left to right."""
    s = m.scenario
    out = [host(h) for h in range(len(s.hosts))]
    if s.backups:
        out.append(BACKUP_HOST)
    if s.topology == "path":
        out.append(PATH_CONTROLLER)
    out.append(UTILITY)
    out += [controller(c) for c in range(s.controllers)]
    if s.crashes:
        out.append(ARRAY)  # a crash of the whole array and its recovery
    out.append(DISK)
    return out


def _front(m: Model, w: World, h: int) -> Lane:
    """Where a host's frame goes first: the path controller, or its cabled controller."""
    return PATH_CONTROLLER if m.scenario.topology == "path" else controller(routed_controller(m, w, h))


def _job(w: World, t: Transition) -> tuple[int, int]:
    job = w.jobs[t.args[0]]
    return job.source, job.destination


Target = Callable[[Model, World, Transition, Lane], Lane]


def _to_source(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    return controller(_job(w, t)[0])


def _to_destination(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    return controller(_job(w, t)[1])


def _process_target(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    """A write or a read miss reaches the disk; a write into the cache stays on the lane."""
    return DISK if t.after.disk.blocks != w.disk.blocks else sender


def _self(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    return sender


def _disk(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    return DISK


def _utility(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    return UTILITY


def _host_of(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    return host(t.args[0])


def _front_of(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    """A frame sent goes to the path controller; cabled directly (Fig. 6), it stays on the
    host's lane until delivered."""
    return PATH_CONTROLLER if m.scenario.topology == "path" else sender


def _deliver_target(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    return controller(routed_controller(m, w, t.args[0]))


def _split_target(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    """Step 901 reaches the controller in charge of the pair's secondary (the job's source)."""
    secondary = m.scenario.pairs[m.scenario.backups[t.args[0]]].secondary
    return controller(w.disk.table[secondary].current)


def _owner_lane(w: World, lu: int) -> Lane:
    c = owner(w, lu)
    return controller(c) if c is not None else DISK


def _secondary_owner(m: Model, w: World, t: Transition, sender: Lane) -> Lane:
    """A mirror write or a re-synchronized block is written to the pair's secondary through
    its controller."""
    return _owner_lane(w, m.scenario.pairs[t.args[0]].secondary)


# Whom each action acts on. A test checks every action of the model has an entry here.
TARGETS: dict[str, Target] = {
    "send_write": _front_of,
    "send_read": _front_of,
    "deliver": _deliver_target,
    "process": _process_target,
    "complete": _host_of,  # the reply reaches the host
    "retry": _front_of,
    # A de-stage is two arrows to the disk: its write is issued, then it is done.
    "background_destage": _disk,
    "destage_done": _disk,
    "designate": _self,
    "designate_batch": _self,
    "instruct": _to_source,
    "write_row": _disk,
    "read_row": _disk,
    "begin_destage": _self,
    "destage_line": _disk,
    "purge": _self,
    "notify": _utility,
    "suspend": _self,
    "switch_path": _self,
    "stop_source": _self,
    "start_destination": _self,
    "resume": _self,
    "split_pair": _split_target,
    "migrate_out": _disk,
    "begin_backup_destage": _self,
    "destage_backup_line": _disk,
    "purge_backup": _self,
    "hand_over": _to_destination,
    "backup_block": _to_destination,
    "backup_done": _self,
    "request_resync": _to_destination,
    "migrate_back": _disk,
    "begin_return_destage": _self,
    "destage_return_line": _disk,
    "purge_return": _self,
    "return_control": _to_source,
    "mirror_write": _secondary_owner,  # the secondary's controller performs it: its cache or the disk
    "resync_block": _secondary_owner,
    "resync_done": _self,
    "crash_recover": _disk,  # recovery starts from what the disk holds, and writes to it
}


def _sender_lane(m: Model, w: World, t: Transition, all_lanes: list[Lane]) -> Lane:
    component = t.action.component(w, t.args)
    if t.action.name == "complete":
        return _front(m, w, t.args[0])  # the reply comes back the way the frame went
    if component == host():  # Step 901: the host that writes the pair's primary splits it
        pair = m.scenario.pairs[m.scenario.backups[t.args[0]]]
        writer = m.writer[pair.primary]
        return host(writer) if writer is not None else BACKUP_HOST
    if component == MIRRORING:  # the pair's primary is read through its controller
        return _owner_lane(w, m.scenario.pairs[t.args[0]].primary)
    if component == PATH_CONTROLLER and m.scenario.topology == "direct":
        return host(t.args[0])  # Fig. 6: the host's cable delivers the frame
    if component not in all_lanes:
        raise DiagramError(f"step '{t.label(w)}': component '{component}' has no lane")
    return component


@dataclass(frozen=True)
class Message:
    row: int
    sender: Lane
    receiver: Lane
    number: str  # the patent step, "" for host I/O
    text: str
    tables: tuple[tuple[str, World, World, int | None], ...]  # changed tables: (title, before, after, c)


def messages(m: Model, trace: list[Step]) -> list[Message]:
    all_lanes = lanes(m)
    out = []
    for i in range(1, len(trace)):
        w, label = trace[i - 1].state, trace[i].label
        t = m.transition_labelled(w, label)
        if t is None:
            raise DiagramError(f"step {i}: '{label}' is not a step of this model from the state before it")
        sender = _sender_lane(m, w, t, all_lanes)
        receiver = TARGETS[t.action.name](m, w, t, sender)
        number = t.action.step.number if t.action.step is not None else ""
        out.append(Message(i, sender, receiver, number, _short(m, label, w, t), _changed_tables(w, t.after)))
    return out


def _short(m: Model, label: Label, w: World, t: Transition) -> str:
    """The action label without the job's controllers and the host (the arrow shows them);
    for a request being processed, what it does and where its data goes."""
    text = label.action
    if label.is_job_step():
        text += f" LU{label.args[0]}" + (f" block {label.args[3]}" if len(label.args) == 4 else "")
    elif label.action in ("send_write", "send_read"):
        text += f" LU{label.args[1]} block {label.args[2]}"
    elif label.action not in ("deliver", "process", "complete", "retry"):
        text = str(label)
    if t.action.name in ("deliver", "process", "complete"):
        request = w.hosts[t.args[0]]
        assert request is not None, "a host with a request"
        text += f" {request_op_text(request)}"
        after = t.after.hosts[t.args[0]]
        if t.action.name == "deliver" and after is not None and after.at == Where.NOT_READY:
            text += " (NOT READY)"
        if t.action.name == "process" and request.op is Op.WRITE:
            text += " to disk" if t.after.disk.blocks != w.disk.blocks else " to cache (dirty)"
            pair = m.pair_of[request.lu]
            if pair is not None and m.scenario.pairs[pair].primary == request.lu:
                secondary = m.scenario.pairs[pair].secondary
                paired = w.pairs[pair].state is PairState.PAIRED
                text += (
                    f", mirror write to LU{secondary} handed over"
                    if paired
                    else f", LU{secondary} split: block tracked"
                )
        if t.action.name == "process" and after is not None and request.op is Op.READ:
            text += f" -> {after.value}"
    return text


def _changed_tables(w: World, after: World) -> tuple[tuple[str, World, World, int | None], ...]:
    out: list[tuple[str, World, World, int | None]] = []
    for c in range(len(w.controllers)):
        if w.controllers[c].table != after.controllers[c].table:
            out.append((f"controller {c} table", w, after, c))
    if w.disk.table != after.disk.table:
        out.append(("disk: table at the predetermined position", w, after, None))
    return tuple(out)


def _table_of(w: World, c: int | None) -> tuple[Row, ...]:
    return w.controllers[c].table if c is not None else w.disk.table


def trace_dot(
    m: Model,
    trace: list[Step],
    title: str,
    violation: Counterexample | None = None,
) -> str:
    """The run as DOT; ``violation`` (if any) marks the step at its trace's end."""
    if len(trace) - 1 > MAX_STEPS:
        raise DiagramError(
            f"the run has {len(trace) - 1} steps; a sequence diagram shows at most {MAX_STEPS}"
        )
    msgs = messages(m, trace)
    bad_row = len(violation.trace) - 1 if violation is not None else None
    all_lanes = lanes(m)
    used = {x for msg in msgs for x in (msg.sender, msg.receiver)}
    shown = [lane for lane in all_lanes if lane in used or lane.kind == "controller" or lane == DISK]
    index = {lane: k for k, lane in enumerate(shown)}
    g = digraph("trace", title, nodesep="0.6", ranksep="0.3", splines="false")  # straight messages
    g.attr("node", fontsize="10")
    g.attr("edge", fontsize="10")
    rows = len(msgs)

    def cell(k: int, i: int) -> str:
        return f"l{k}r{i}"

    # Header row and lifelines.
    for k, lane in enumerate(shown):
        colour = role_colour(lane)
        g.node(
            cell(k, 0),
            esc(str(lane)),
            shape="box",
            width="1.5",
            style="filled,rounded",
            fillcolor=colour,
            fontcolor="white",
            penwidth="0",
        )
    g.node("n0", "step", shape="plaintext", fontsize="10")
    acts = {(msg.row, msg.sender) for msg in msgs if msg.sender == msg.receiver}
    for msg in msgs:
        i = msg.row
        for k, lane in enumerate(shown):
            if (i, lane) in acts:
                colour = HIGHLIGHT if i == bad_row else role_colour(lane)
                g.node(
                    cell(k, i),
                    _label(msg),
                    shape="box",
                    style="rounded",
                    color=colour,
                    fontcolor=colour,
                    penwidth="3" if i == bad_row else "1.2",
                    height="0.3",
                )
            else:
                g.node(cell(k, i), "", shape="point", width="0.04", color="#bbbbbb")
        g.node(f"n{i}", f"{i}", shape="plaintext", fontcolor=HIGHLIGHT if i == bad_row else "#555555")
    for i in range(rows):  # the step numbers stay in one column, as the lanes do
        g.edge(f"n{i}", f"n{i + 1}", style="invis", weight="100")
    for k in range(len(shown)):
        for i in range(rows):
            g.edge(
                cell(k, i), cell(k, i + 1), style="dashed", arrowhead="none", color="#cccccc", weight="100"
            )
        g.edge("n0" if k == 0 else cell(k - 1, 0), cell(k, 0), style="invis")
    # Rows: one rank each, ordered left to right.
    for i in range(rows + 1):
        with g.subgraph() as rank:
            rank.attr(rank="same")
            names = [f"n{i}"] + [cell(k, i) for k in range(len(shown))]
            note = _note(msgs[i - 1], violation if i == bad_row else None) if i > 0 else None
            if note is not None:
                rank.node(f"note{i}", note, shape="plain")
                names.append(f"note{i}")
            for a in names:
                rank.node(a)
            for a, b in itertools.pairwise(names):
                rank.edge(a, b, style="invis")
    for msg in msgs:
        if msg.sender == msg.receiver:
            continue
        colour = HIGHLIGHT if msg.row == bad_row else role_colour(msg.sender)
        g.edge(
            cell(index[msg.sender], msg.row),
            cell(index[msg.receiver], msg.row),
            xlabel=_label(msg),
            color=colour,
            fontcolor=colour,
            penwidth="3" if msg.row == bad_row else "1.3",
            constraint="false",
        )
    return str(g.source)


def _label(msg: Message) -> str:
    number = f"<b>{esc(msg.number)}</b> " if msg.number else ""
    return f"<{number}{esc(msg.text)}>"


def _note(msg: Message, violation: Counterexample | None) -> str | None:
    parts = []
    if violation is not None:
        parts.append(
            f'<tr><td align="left" bgcolor="#ffe5e5"><font color="{HIGHLIGHT}">'
            f"<b>&#10007; {esc(violation.property)}</b> {_BROKEN[violation.kind]}:<br/>"
            f"{_wrap(violation.message)}"
            "</font></td></tr>"
        )
    if violation is not None and violation.loop_start is not None:
        parts.append(
            f'<tr><td><font color="{HIGHLIGHT}">and back to step {violation.loop_start}, forever'
            "</font></td></tr>"
        )
    for title, before, after, c in msg.tables:
        rows = rows_of(_table_of(after, c))
        changed = changed_cells(rows_of(_table_of(before, c)), rows)
        colour = role_colour(controller(c)) if c is not None else role_colour(DISK)
        table = html_table(TABLE_HEADER, rows, title=title, changed=changed, title_colour=colour)
        parts.append(f"<tr><td>{table}</td></tr>")
    if not parts:
        return None
    return '<<table border="0" cellspacing="2">' + "".join(parts) + "</table>>"


_BROKEN = {
    "safety": "broken",
    "deadlock": "broken (liveness)",
    "cycle": "broken (liveness)",
    "divergence": "disagree",  # the differential test: the array left the model here
}


def _wrap(text: str, width: int = 60) -> str:
    return "<br/>".join(esc(line) for line in textwrap.wrap(text, width)) or esc(text)
