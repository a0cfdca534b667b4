"""The configuration information tables (Fig. 2) of every controller, before, during and after
a scenario's scripted take-overs and backups, laid out as Figs. 5A/5B and 9A/9B.

The run is the model's own: protocol actions only (no host I/O), every job advanced in step
with the others (the job with fewest steps done goes first), so that all of a batch's LUs
are moved together, as the figures show them. A table cell the run changed is shaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from lutakeover.diagrams.dot import DiagramError, digraph, esc, html_table, role_colour
from model.actions import Model, Transition
from model.labels import controller
from model.state import PairState, Row, World

TABLE_HEADER = ["internal LUN", "external LUN", "port", "default controller", "current controller"]
MAX_STEPS = 10_000


@dataclass(frozen=True)
class Snapshot:
    title: str
    state: World


def rows_of(table: tuple[Row, ...]) -> list[list[str]]:
    """A configuration table as the figures print it (block count, RAID group, RAID level
    and physical address omitted: a take-over never changes them)."""
    return [
        [str(lu), str(r.ext_lun), str(r.port), str(r.default), str(r.current)] for lu, r in enumerate(table)
    ]


def table_rows(w: World, c: int) -> list[list[str]]:
    """Controller ``c``'s table, as the figures print it."""
    return rows_of(w.controllers[c].table)


def changed_cells(before: list[list[str]], after: list[list[str]]) -> set[tuple[int, int]]:
    return {(r, k) for r, row in enumerate(after) for k, value in enumerate(row) if before[r][k] != value}


def finished(m: Model, w: World) -> bool:
    return (
        not w.jobs
        and w.batches == len(m.scenario.batches)
        and w.backups == len(m.scenario.backups)
        and all(p.state is PairState.PAIRED for p in w.pairs)
    )


def scripted_run(m: Model) -> list[World]:
    """The scenario's take-overs and backups, run to the end with no host I/O."""
    if m.scenario.mode == "any":
        raise DiagramError(
            f"scenario {m.scenario.name} designates take-overs freely (mode 'any'), so it has no single "
            "'after'; the tables kind needs scripted take-overs ([[takeovers.batch]]) or backups"
        )
    w = m.initial()
    run = [w]
    for _ in range(MAX_STEPS):
        if finished(m, w):
            return run
        moves = [t for t in m.transitions(w) if t.action.step is not None]
        if not moves:
            raise DiagramError(
                f"scenario {m.scenario.name}, variant {m.protocol.name}: the scripted run stops after "
                f"{len(run) - 1} steps with work left ({len(w.jobs)} jobs in progress)"
            )
        w = min(moves, key=lambda t: _priority(w, t)).after
        run.append(w)
    raise DiagramError(f"scenario {m.scenario.name}: the scripted run did not finish in {MAX_STEPS} steps")


def _priority(w: World, t: Transition) -> tuple[int, int, str]:
    # Ties are broken by the label's text, which the documented figures were drawn with.
    if t.action.per_job is None:
        return (0 if t.action.name in ("designate_batch", "split_pair") else 2, 0, str(t.label(w)))
    return (1, w.jobs[t.args[0]].done, str(t.label(w)))


def snapshots(m: Model) -> list[Snapshot]:
    """Before, during (the moment most rows differ from before, if that is neither end; the
    backup controller in charge of every mirror, Fig. 9B) and after."""
    run = scripted_run(m)
    first, last = run[0], run[-1]

    def rows_changed(w: World) -> int:
        return sum(
            a != b
            for c in range(len(w.controllers))
            for a, b in zip(table_rows(first, c), table_rows(w, c), strict=True)
        )

    peak = max(run, key=rows_changed)
    out = [Snapshot("before", first)]
    if rows_changed(peak) > rows_changed(last) and peak is not last:
        out.append(Snapshot("during the backup" if m.scenario.backups else "during", peak))
    out.append(Snapshot("after", last))
    return out


def controller_table(w: World, c: int, previous: World | None, title: str) -> str:
    rows = table_rows(w, c)
    changed = changed_cells(table_rows(previous, c), rows) if previous is not None else set()
    return html_table(
        TABLE_HEADER, rows, title=title, changed=changed, title_colour=role_colour(controller(c))
    )


def tables_dot(m: Model) -> str:
    """Every controller's table at each snapshot, snapshots left to right."""
    shots = snapshots(m)
    title = (
        f"Configuration information tables: scenario {m.scenario.name}, variant {m.protocol.name}"
        "\n(shaded: changed since the previous column)"
    )
    g = digraph("tables", title, rankdir="LR", nodesep="0.3", ranksep="0.8")
    g.attr("node", shape="plain", fontsize="11")
    previous: World | None = None
    for i, shot in enumerate(shots):
        inner = "".join(
            f"<tr><td>{controller_table(shot.state, c, previous, f'controller {c}')}</td></tr>"
            for c in range(len(shot.state.controllers))
        )
        g.node(
            f"s{i}",
            f'<<table border="1" color="#999999" style="rounded" cellborder="0" cellspacing="6">'
            f'<tr><td><font point-size="14">{esc(shot.title)}</font></td></tr>{inner}</table>>',
        )
        previous = shot.state
    for i in range(len(shots) - 1):
        g.edge(f"s{i}", f"s{i + 1}", style="invis")
    return str(g.source)
