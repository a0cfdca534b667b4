"""The per-LU phase machine, derived from the model by exploring a scenario.

An LU's *phase* is where its take-over (or backup cycle) stands: at rest, or a job with k of
its protocol's steps done, or (embodiment 2) its pair re-synchronizing. Every transition of
every reachable state is projected onto each LU's phase; an action that changes an LU's phase
is an edge of the phase machine, a job action that leaves it unchanged (de-staging a line,
copying a block to tape) a loop. What each phase looks like (who is in charge, where the
frames go, which caches hold the LU's lines) is read off the reachable states, so a seeded
bug shows in the picture: ``skip-destage`` leaves dirty lines in the source at the phase
"destination in charge".

The exploration fills plain dicts (it visits every reachable state); the machine it finds is
then built as a networkx graph (``phase_graph``), which the DOT source is drawn from and
`--graphml` exports.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import graphviz

from lutakeover.diagrams.dot import ROLE_COLOURS, DiagramError, digraph, esc
from model.actions import ACTIONS_BY_NAME, Action, Model
from model.labels import Component
from model.protocol import Step
from model.state import Job, PairState, World
from proofs.explicit import Progress

if TYPE_CHECKING:  # networkx takes a quarter second to import: only drawing needs it
    import networkx as nx

# The phase an LU is in once a step is done: the step's effect, in the words of the docs.
PHASE_AFTER: dict[Step, str] = {
    Step.DESIGNATE: "designated",
    Step.INSTRUCT: "instructed",
    Step.WRITE_ROW: "row on disk",
    Step.READ_ROW: "row read by all",
    Step.BEGIN_DESTAGE: "write-through",
    Step.PURGE: "de-staged and purged",
    Step.NOTIFY: "de-stage reported",
    Step.SUSPEND: "frames held",
    Step.SWITCH_PATH: "path switched",
    Step.STOP_SOURCE: "source stopped",
    Step.START_DESTINATION: "destination in charge",
    Step.RESUME: "frames released",
    Step.SPLIT_PAIR: "pair split",
    Step.MIGRATE_OUT: "row migrated out",
    Step.BEGIN_BACKUP_DESTAGE: "secondary write-through",
    Step.PURGE_BACKUP: "secondary de-staged",
    Step.HAND_OVER: "backup controller in charge",
    Step.BACKUP_DONE: "on tape",
    Step.REQUEST_RESYNC: "re-sync requested",
    Step.MIGRATE_BACK: "row migrated back",
    Step.BEGIN_RETURN_DESTAGE: "write-through at backup controller",
    Step.PURGE_RETURN: "de-staged at backup controller",
    Step.RETURN_CONTROL: "home controller in charge",
    Step.RESYNC_DONE: "paired again",
}

REST = ("rest", 0)
RESYNC = ("resync", 0)
CYCLES = ("rest", "takeover", "backup", "resync")  # the order phases are listed in

Phase = tuple[str, int]  # (cycle, steps done): ("takeover", 3) is 3 steps into a take-over

DEFAULT_LIMIT = 200_000  # states explored to derive the phase machine


def job_of(w: World, lu: int) -> Job | None:
    """The LU's take-over or backup job (the first, if a buggy utility made two)."""
    return next((job for job in w.jobs if job.lu == lu), None)


def lu_phase(m: Model, w: World, lu: int) -> Phase:
    job = job_of(w, lu)
    if job is not None:
        return ("backup" if job.backup else "takeover", job.done)
    pair = m.pair_of[lu]
    if (
        pair is not None
        and w.pairs[pair].state is PairState.RESYNCING
        and m.scenario.pairs[pair].secondary == lu
    ):
        return RESYNC
    return REST


def entered_by(m: Model, phase: Phase) -> Step | None:
    """The step whose completion enters a job's phase (None at rest or re-synchronizing)."""
    cycle, done = phase
    if cycle in ("rest", "resync"):
        return None
    return (m.backup_order if cycle == "backup" else m.order)[done - 1]


def phase_title(m: Model, phase: Phase) -> str:
    step = entered_by(m, phase)
    if step is not None:
        return PHASE_AFTER[step]
    return "at rest" if phase == REST else "re-synchronizing"


def phase_step(m: Model, phase: Phase) -> str:
    """The patent step whose completion entered the phase ("" for rest / resync)."""
    step = entered_by(m, phase)
    return step.number if step is not None else ""


def phase_id(phase: Phase) -> str:
    return f"{phase[0]}{phase[1]}"


WorldPhase = tuple[tuple[int, Phase], ...]  # (LU, phase) of every LU not at rest


def world_phase(m: Model, w: World) -> WorldPhase:
    """The phases of the LUs that are not at rest: the phase of the whole array."""
    return tuple((lu, p) for lu in range(m.lus) if (p := lu_phase(m, w, lu)) != REST)


def world_phase_title(m: Model, phase: WorldPhase) -> str:
    if not phase:
        return "every LU at rest"
    return ", ".join(f"LU{lu} {phase_title(m, p)}" for lu, p in phase)


def role(component: Component, job: Job | None) -> str:
    """A component named by the model (controller 1) as its role in the job."""
    if component.kind != "controller" or job is None:
        return "host" if component.kind == "host" else str(component)
    if component.number == job.source:
        return "source controller"
    return "backup controller" if job.backup else "destination controller"


def _controller_role(c: int, job: Job | None, w: World, lu: int) -> str:
    if job is None:
        return "its controller" if c == w.disk.table[lu].current else f"c{c}"
    if c == job.source:
        return "source"
    if c == job.destination:
        return "backup controller" if job.backup else "destination"
    return f"c{c}"


def _join(roles: list[str]) -> str:
    return " + ".join(roles) if roles else "none"


FACT_NAMES = ("in charge", "write-through", "dirty lines", "frames")


def facts_of(m: Model, w: World, lu: int, job: Job | None) -> tuple[str, ...]:
    """What the LU looks like in ``w``, one value per name of ``FACT_NAMES`` (frames only
    where hosts reach the array through the path controller)."""
    active, through, dirty = [], [], []
    for c, ctl in enumerate(w.controllers):
        if lu in ctl.active:
            active.append(_controller_role(c, job, w, lu))
        if lu in ctl.write_through:
            through.append(_controller_role(c, job, w, lu))
        if any(x.lu == lu and x.dirty for x in ctl.cache):
            dirty.append(_controller_role(c, job, w, lu))
    values = (_join(active), _join(through), _join(dirty))
    if m.scenario.topology == "direct":
        return values  # Fig. 6: hosts are cabled to controllers; there is no path to switch
    path = w.paths[lu]
    return (*values, ("held, " if path.suspended else "") + "to " + _controller_role(path.route, job, w, lu))


@dataclass
class PhaseMachine:
    """The phases an LU goes through, the actions between them, and what each looks like."""

    model: Model
    states: int
    complete: bool  # False: the exploration stopped at the limit
    overlapping: bool = False  # some LU had two jobs at once (concurrent-same-lu)
    facts: dict[Phase, dict[str, set[str]]] = field(default_factory=dict)
    # (from, to, action name, role) -> how many transitions project onto it
    edges: dict[tuple[Phase, Phase, str, str], int] = field(default_factory=dict)


def derive(
    m: Model, limit: int = DEFAULT_LIMIT, progress: Callable[[str], None] | None = None
) -> PhaseMachine:
    """Explore the scenario (every state up to ``limit``) and project it onto LU phases."""
    start = m.initial()
    seen = {start}
    queue = deque([start])
    machine = PhaseMachine(m, 0, True)
    ticker = Progress(progress)  # by time, not by count: a state of a large array takes ms
    while queue:
        w = queue.popleft()
        machine.states += 1
        seconds = ticker.due()
        if progress is not None and seconds is not None:
            progress(f"phase machine: {machine.states:,} states explored, {seconds:.0f} s")
        phases = [lu_phase(m, w, lu) for lu in range(m.lus)]
        jobs = {job.lu: job for job in reversed(w.jobs)}  # the first job of an LU wins
        if len(jobs) < len(w.jobs):
            machine.overlapping = True
        for lu, phase in enumerate(phases):
            facts = machine.facts.setdefault(phase, {})
            for name, value in zip(FACT_NAMES, facts_of(m, w, lu, jobs.get(lu)), strict=False):
                facts.setdefault(name, set()).add(value)
        for t in m.transitions(w):
            if t.action.step is not None:
                _project(m, machine, w, t.after, t.action, t.args, phases)
            if t.after not in seen:
                if len(seen) >= limit:
                    machine.complete = False
                    continue
                seen.add(t.after)
                queue.append(t.after)
    return machine


def _project(
    m: Model,
    machine: PhaseMachine,
    w: World,
    after: World,
    action: Action,
    args: tuple[int, ...],
    phases: list[Phase],
) -> None:
    for lu in _touched(m, w, after, action, args):
        before, now = phases[lu], lu_phase(m, after, lu)
        job = job_of(w, lu) or job_of(after, lu)
        if before == now and not _acts_on(m, w, action, args, lu):
            continue
        key = (before, now, action.name, role(action.component(w, args), job))
        machine.edges[key] = machine.edges.get(key, 0) + 1


def _touched(m: Model, w: World, after: World, action: Action, args: tuple[int, ...]) -> set[int]:
    """The LUs whose phase the step may change or whose job it works on: those whose jobs or
    pair changed, and the LU of the job it advances."""
    lus = {job.lu for job in set(w.jobs) ^ set(after.jobs)}
    lus |= {
        m.scenario.pairs[i].secondary
        for i, (a, b) in enumerate(zip(w.pairs, after.pairs, strict=True))
        if a != b
    }
    if action.per_job is not None:
        lus.add(w.jobs[args[0]].lu)
    return lus


def _acts_on(m: Model, w: World, action: Action, args: tuple[int, ...], lu: int) -> bool:
    """Whether a protocol action that leaves the LU's phase alone still works on the LU's
    job: the job the phase is read from (a second job of the LU, which only a buggy utility
    makes, shows in the phases' facts, not as loops)."""
    if action.per_job is not None:
        return args[0] == next((k for k, job in enumerate(w.jobs) if job.lu == lu), None)
    if action.name == "resync_block":
        return m.scenario.pairs[args[0]].secondary == lu
    return False


def _sort_key(phase: Phase) -> tuple[int, int]:
    return (CYCLES.index(phase[0]), phase[1])


def phase_dot(machine: PhaseMachine) -> str:
    """The phase machine as DOT: one node per phase with what it looks like, one edge per
    action labelled with its patent step, coloured by the component that performs it."""
    return phase_graph_dot(phase_graph(machine))


def fact_key(name: str) -> str:
    """A fact's attribute name in the phase graph (``dirty lines`` -> ``dirty_lines``)."""
    return name.replace(" ", "_")


def _closes_cycle(before: Phase, now: Phase) -> bool:
    """The step that closes a cycle goes back up; it must not pull the rest phase down."""
    return (now in (REST, RESYNC) and before not in (REST, RESYNC)) or (before == RESYNC and now == REST)


def phase_graph(machine: PhaseMachine) -> nx.MultiDiGraph:
    """The phase machine as a graph. A node per phase, named by ``phase_id`` (``label``: its
    title, ``cycle``, ``done``: steps done, ``step``: the patent step that enters it, and one
    attribute per fact of ``FACT_NAMES`` seen, by ``fact_key``); an edge per action and role,
    keyed ``action role`` (``action``, patent ``step``, ``label``, ``role``, its ``colour``,
    ``transitions`` projected onto it, ``loop``, ``closes_cycle``). Nodes and edges in the
    order drawn."""
    import networkx as nx  # here, not at the top: see TYPE_CHECKING above

    m = machine.model
    if not machine.edges:
        raise DiagramError(
            f"scenario {m.scenario.name} moves no LU: no take-over or backup happens, "
            "so there is no phase machine"
        )
    title = f"Per-LU phases: scenario {m.scenario.name}, variant {m.protocol.name}"
    if not machine.complete:
        title += f" (first {machine.states:,} states)"
    if machine.overlapping:
        title += "\nan LU taken over twice at once is drawn in the phase of its first take-over"
    g = nx.MultiDiGraph(name="phases", title=title)
    for phase in sorted({p for key in machine.edges for p in key[:2]}, key=_sort_key):
        facts = machine.facts.get(phase, {})
        g.add_node(
            phase_id(phase),
            label=phase_title(m, phase),
            cycle=phase[0],
            done=phase[1],
            step=phase_step(m, phase),
            **{fact_key(name): " | ".join(sorted(facts[name])) for name in FACT_NAMES if name in facts},
        )
    for (before, now, name, who), count in sorted(
        machine.edges.items(),
        key=lambda kv: (_sort_key(kv[0][0]), _sort_key(kv[0][1]), kv[0][2], kv[0][3]),
    ):
        step = ACTIONS_BY_NAME[name].step
        number = step.number if step is not None else ""
        g.add_edge(
            phase_id(before),
            phase_id(now),
            key=f"{name} {who}",
            action=name,
            step=number,
            label=f"{number} {name}".strip(),
            role=who,
            colour=ROLE_COLOURS.get(who, "#000000"),
            transitions=count,
            loop=before == now,
            closes_cycle=_closes_cycle(before, now),
        )
    return g


def phase_graph_dot(g: nx.MultiDiGraph) -> str:
    """The DOT source of a graph of ``phase_graph``."""
    d = digraph("phases", g.graph["title"], nodesep="0.5", ranksep="0.45")
    d.attr("node", shape="plain", fontsize="11")
    d.attr("edge", fontsize="10")
    for node, data in g.nodes(data=True):
        d.node(node, _phase_label(data))
    used_roles: set[str] = set()
    for before, now, data in g.edges(data=True):
        colour = data["colour"]
        used_roles.add(data["role"])
        label = f"<<b>{esc(data['step'])}</b> {esc(data['action'])}>"
        attrs = {"color": colour, "fontcolor": colour, "penwidth": "1.6"}
        if data["loop"]:
            attrs["style"] = "dashed"
        if data["closes_cycle"]:
            attrs["constraint"] = "false"
        d.edge(before, now, label=label, **attrs)
    _legend(d, sorted(used_roles, key=lambda r: list(ROLE_COLOURS).index(r) if r in ROLE_COLOURS else 99))
    return str(d.source)


def _phase_label(node: dict[str, Any]) -> str:
    """A phase's node: its title, the step that enters it, and its facts (a node of ``phase_graph``)."""
    cycle = node["cycle"]
    cycle_name = {"takeover": "take-over", "backup": "backup cycle", "rest": "", "resync": "backup cycle"}[
        cycle
    ]
    head = f"{esc(node['label'])}"
    sub = f"after {node['step']}, {cycle_name}" if node["step"] else (cycle_name or "no job")
    fill = {"rest": "#f2f2f2", "takeover": "#eaf2fb", "backup": "#fdf0e2", "resync": "#fdf0e2"}[cycle]
    rows = [
        f'<tr><td colspan="2" bgcolor="{fill}"><b>{head}</b><br/>'
        f'<font point-size="9">{esc(sub)}</font></td></tr>'
    ]
    for name in [name for name in FACT_NAMES if fact_key(name) in node]:
        rows.append(
            f'<tr><td align="left"><font point-size="9">{esc(name)}</font></td>'
            f'<td align="left"><font point-size="9">{esc(node[fact_key(name)])}</font></td></tr>'
        )
    return (
        '<<table border="1" cellborder="0" cellspacing="0" cellpadding="2" style="rounded">'
        + "".join(rows)
        + "</table>>"
    )


def _legend(g: graphviz.Digraph, roles: list[str]) -> None:
    rows = "".join(
        f'<tr><td><font color="{ROLE_COLOURS.get(r, "#000000")}">&#9644;&#9644;</font></td>'
        f'<td align="left">{esc(r)}</td></tr>'
        for r in roles
    )
    g.node(
        "legend",
        '<<table border="1" cellborder="0" cellspacing="0" cellpadding="2">'
        f'<tr><td colspan="2"><b>performed by</b></td></tr>{rows}'
        '<tr><td><font color="#555555">- - -</font></td><td align="left">loop: the phase stays</td></tr>'
        "</table>>",
    )
