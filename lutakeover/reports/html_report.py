"""`check --report DIR` and `simulate --report DIR`: one HTML page, readable offline.

The page holds the verdict, what the variant changes, the sentence naming each broken property,
the statistics, every property's status, and for a violation the step table, the sequence
diagram of the run and the phase machine, the diagrams inlined as SVG (no script, no
stylesheet or font fetched from anywhere). The counterexample is also written beside the page
as an ITF trace, which `lutakeover diagram trace --trace` reads.

The report owns the files it writes (``OWNED``): a new report into the same folder first removes
them, so no file of an earlier run is left beside a page that does not describe it. Any other
file in the folder is left alone.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lutakeover.diagrams.dot import DiagramError, svg_text
from lutakeover.diagrams.phases import derive, phase_dot
from lutakeover.diagrams.sequence import MAX_STEPS, trace_dot
from lutakeover.formats.itf import violation_description, write_trace
from lutakeover.formats.report import STATUS, check_json, step_rows, vacuity_warnings
from model.actions import Model
from model.protocol import VARIANTS, Protocol
from model.scenario import builtin
from proofs.check import Check
from proofs.trace import Counterexample

if TYPE_CHECKING:  # Hypothesis takes a tenth of a second to import; a check's report needs none
    from proofs.simulate import Simulation

PAGE = "index.html"
TRACE = "counterexample.itf.json"
# Every file a report may write; a report removes them all before it writes its own.
OWNED = (PAGE, TRACE)
# The report's phase machine is the scenario's own if it has at most this many states (a few
# seconds); a larger array shows the same per-LU phases on small built-ins under its variant.
PHASE_STATES = 12_000

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
/* Wide tables, diagrams and listings scroll inside their own box, so the page never grows wider
   than the window and the sentences around them stay readable without scrolling sideways. */
.scroll, .diagram, pre { overflow-x: auto; max-width: 100%; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.verdict { display: inline-block; padding: 0.3em 0.8em; border-radius: 4px; color: white; font-weight: bold; }
.ok { background: #2ca02c; } .violated, .vacuous { background: #d62728; } .incomplete { background: #ff7f0e; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.holds { color: #2ca02c; } td.broken { color: #d62728; font-weight: bold; }
.diagram { border: 1px solid #eee; padding: 0.5em; }
.diagram svg { max-width: none; height: auto; }
.sentence { color: #d62728; font-weight: bold; }
.warning { color: #b35900; }
.variant { margin: 0.5em 0; }
code { background: #f6f6f6; padding: 0 0.2em; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for r, row in enumerate(rows):
        cells = []
        for k, value in enumerate(row):
            cls = classes[r][k] if classes is not None else ""
            cells.append(f'<td class="{cls}">{value}</td>' if cls else f"<td>{value}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _steps_table(m: Model, v: Counterexample) -> str:
    rows = []
    for r in step_rows(m, v):
        changes = "<br>".join(f"<code>{_e(k)}</code>: {_e(val)}" for k, val in r["changes"].items())
        action = _e(r["action"]) + (f" ({_e(r['patent_step'])})" if r["patent_step"] else "")
        rows.append([str(r["step"]), _e(r["component"]), action, changes or "(nothing visible)"])
    return _table(["#", "component", "action (patent step)", "changed fields"], rows)


def _diagram(build: Callable[[], str], what: str) -> str:
    try:
        return f'<div class="diagram">{svg_text(build())}</div>'
    except DiagramError as e:
        return f"<p>No {_e(what)}: {_e(e)}</p>"


def _counterexample_section(m: Model, v: Counterexample, sentence: str, heading: str) -> str:
    parts = [
        f"<h2>{_e(heading)}</h2>",
        f'<p class="sentence">{_e(sentence)}</p>',
        f"<p>The run, {len(v.trace) - 1} steps from the initial state; the ITF trace is "
        f'<a href="{TRACE}">{TRACE}</a>.</p>',
        _steps_table(m, v),
    ]
    if len(v.trace) - 1 <= MAX_STEPS:
        title = f"{heading}: scenario {m.scenario.name}, variant {m.protocol.name}"
        parts += [
            "<h3>Sequence diagram</h3>",
            _diagram(lambda: trace_dot(m, v.trace, title, v), "sequence diagram"),
        ]
    return "\n".join(parts)


def variant_sentence(protocol: Protocol) -> str:
    """One sentence saying what the variant changes in the protocol the patent describes."""
    if protocol.name == "correct":
        return f"Variant correct: no seeded bug; {VARIANTS['correct']}, as the patent describes it."
    # A protocol built with several switches on is named "a+b"; each switch is a seeded bug.
    bugs = protocol.name.split("+")
    what = "; ".join(VARIANTS[bug] for bug in bugs)
    kind = "a seeded bug" if len(bugs) == 1 else "seeded bugs"
    return f"Variant {protocol.name}, {kind}: {what}."


# A note above the first table: its CSS class ("sentence": a broken property and why, or
# "warning": a property the scenario never tests, which is no violation) and its text.
Note = tuple[str, str]


def _warnings(untested: dict[str, str]) -> list[Note]:
    return [("warning", text) for text in vacuity_warnings(untested)]


def _page(
    title: str, verdict: str, summary: str, protocol: Protocol, notes: list[Note], sections: list[str]
) -> str:
    """The whole page. The variant's sentence and the notes (each broken property and why) come
    right after the verdict, above every table and diagram, so they are read first."""
    note_lines = "".join(f'<p class="{kind}">{_e(text)}</p>\n' for kind, text in notes)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n"
        f"<h1>{_e(title)}</h1>\n"
        f'<p><span class="verdict {_e(verdict)}">{_e(verdict.upper())}</span> {summary}</p>\n'
        f'<p class="variant">{_e(variant_sentence(protocol))}</p>\n'
        + (f'<div class="notes">\n{note_lines}</div>\n' if notes else "")
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def _phase_section(m: Model) -> str:
    machine = derive(m, PHASE_STATES)
    if machine.complete:
        return "<h2>Phase machine</h2>\n" + _diagram(lambda: phase_dot(machine), "phase machine")
    stand_ins = ["one-lu", "fig9"] if m.scenario.pairs else ["one-lu"]
    parts = [
        "<h2>Phase machine</h2>",
        f"<p>Scenario {_e(m.scenario.name)} has more than {PHASE_STATES:,} states; its LUs go through the "
        f"same phases as those of the built-in {' and '.join(stand_ins)} under variant "
        f"{_e(m.protocol.name)}, drawn here (<code>lutakeover diagram phases</code> draws the scenario's "
        "own).</p>",
    ]
    for name in stand_ins:
        parts.append(_diagram(partial(_phases_of, Model(builtin(name), m.protocol)), "phase machine"))
    return "\n".join(parts)


def _phases_of(m: Model) -> str:
    return phase_dot(derive(m))


def _finish(
    folder: Path, verb: str, m: Model, verdict: str, summary: str, notes: list[Note], sections: list[str]
) -> Path:
    """Add the phase machine and write the page."""
    sections.append(_phase_section(m))
    title = f"lutakeover {verb}: scenario {m.scenario.name}, variant {m.protocol.name}"
    page = folder / PAGE
    page.write_text(_page(title, verdict, _e(summary), m.protocol, notes, sections), encoding="utf-8")
    return page


def _prepare(directory: str | Path) -> Path:
    """Create the folder and remove the files an earlier report wrote there (only those: the
    folder may hold the user's own files), so nothing of that run outlives it."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        old = folder / name
        if old.is_file() or old.is_symlink():
            old.unlink()
    return folder


def check_report(check: Check, directory: str | Path) -> Path:
    """Write the report of a finished `check` into ``directory``; the page's path."""
    m = check.model
    data: dict[str, Any] = check_json(check)
    folder = _prepare(directory)
    stats = _table(
        ["states", "transitions", "depth", "seconds", "states/s", "symmetry permutations", "complete"],
        [
            [
                f"{data['states']:,}",
                f"{data['transitions']:,}",
                str(data["depth"]),
                f"{data['seconds']:.2f}",
                f"{data['states_per_second']:,}",
                str(data["symmetry_permutations"]),
                "yes" if data["complete"] else "no",
            ]
        ],
    )
    status_rows, classes = [], []
    for name, p in data["properties"].items():
        holds = p["holds"]
        text = STATUS[p["kind"], holds]
        status_rows.append([_e(name), _e(p["kind"]), text, _e(p["message"] or p["description"])])
        classes.append(["", "", {True: "holds", False: "broken", None: ""}[holds], ""])
    witness_rows = [
        [_e(name), f"depth {w['depth']}" if w["reached"] else "NEVER REACHED"]
        for name, w in data["witnesses"].items()
    ]
    sections = [
        "<h2>Statistics</h2>",
        stats,
        "<h2>Properties</h2>",
        _table(["property", "kind", "status", "what it says / why it fails"], status_rows, classes),
        "<h2>Witnesses</h2>",
        _table(["witness", "reached"], witness_rows),
    ]
    shortest = list(check.shortest().values())
    notes = _warnings(check.untested)
    for k, v in enumerate(shortest):
        name = v.property
        notes.append(("sentence", f"{name} is violated: {v.message}"))
        sections.append(_counterexample_section(m, v, v.message, f"Counterexample: {name}"))
        if k == 0:
            write_trace(
                folder / TRACE,
                v,
                f"lutakeover check {m.scenario.name}",
                violation_description(name, m.protocol.name),
            )
    summary = f"{data['states']:,} states explored; exit code {data['exit_code']}"
    return _finish(folder, "check", m, check.verdict, summary, notes, sections)


def simulation_report(sim: Simulation, directory: str | Path) -> Path:
    """Write the report of a finished `simulate` into ``directory``; the page's path."""
    m = sim.model
    folder = _prepare(directory)
    stats = _table(
        ["seed", "runs", "transitions", "deepest run", "seconds", "transitions/s"],
        [
            [
                str(sim.seed),
                f"{sim.runs:,}",
                f"{sim.steps:,}",
                str(sim.deepest),
                f"{sim.seconds:.1f}",
                f"{sim.steps_per_second:,.0f}",
            ]
        ],
    )
    witness_rows = [
        [_e(name), f"step {d}" if d is not None else "NEVER REACHED"] for name, d in sim.witnesses.items()
    ]
    sections = [
        "<h2>Statistics</h2>",
        stats,
        "<h2>Witnesses</h2>",
        _table(["witness", "reached"], witness_rows),
    ]
    v = sim.failure
    notes = _warnings(sim.untested)
    notes += [] if v is None else [("sentence", f"{v.property} is violated: {v.message}")]
    if v is not None:
        sections.append(_counterexample_section(m, v, v.message, f"Failure (shrunk): {v.property}"))
        sections.append(f"<h3>A pytest test that replays it</h3><pre>{_e(sim.program or '')}</pre>")
        source = f"lutakeover simulate {m.scenario.name} --seed {sim.seed}"
        write_trace(folder / TRACE, v, source, violation_description(v.property, m.protocol.name))
    summary = f"{sim.runs:,} runs, seed {sim.seed}"
    return _finish(folder, "simulate", m, sim.verdict, summary, notes, sections)
