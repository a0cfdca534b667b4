"""The diagrams under docs/diagrams/, regenerated from the model by one command.

    python -m lutakeover.docgen.docs_diagrams           # rewrite every .dot and .svg
    python -m lutakeover.docgen.docs_diagrams --check   # exit 1 if any is stale (CI runs this)

Each diagram is kept as its DOT source, which is byte-identical for the same model, and as
SVG stamped with a digest of that source. The SVG's coordinates depend on the fonts of the
machine that laid it out, so staleness is judged on the DOT source and the stamp, never on
the SVG's bytes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lutakeover.diagrams import kinds as diagram
from lutakeover.diagrams.dot import render, source_digest
from model.actions import Model
from model.protocol import variant
from model.scenario import builtin

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "diagrams"


def _model(scenario: str, name: str = "correct") -> Model:
    return Model(builtin(scenario), variant(name))


# name -> (what it shows, how to build its DOT source)
DIAGRAMS: dict[str, tuple[str, Callable[[], str]]] = {
    "phases-takeover": (
        "embodiment 1: the take-over phase machine of fig5 (Steps 801-809)",
        lambda: diagram.phases(_model("fig5")),
    ),
    "phases-backup": (
        "embodiment 2: the backup cycle of fig9 (Steps 901-909)",
        lambda: diagram.phases(_model("fig9")),
    ),
    "trace-skip-destage": (
        "the shortest counterexample of skip-destage on fig5, as a sequence diagram",
        lambda: diagram.trace(_model("fig5", "skip-destage")),
    ),
    "trace-backup-without-destage": (
        "the shortest counterexample of backup-without-destage on fig9, as a sequence diagram",
        lambda: diagram.trace(_model("fig9", "backup-without-destage")),
    ),
    "states-one-lu-skip-destage": (
        "every reachable state of one-lu under skip-destage, its counterexample in red",
        lambda: diagram.states(_model("one-lu", "skip-destage")),
    ),
    "tables-fig5": ("the configuration tables of Figs. 5A/5B", lambda: diagram.tables(_model("fig5"))),
    "tables-fig9": ("the configuration tables of Figs. 9A/9B", lambda: diagram.tables(_model("fig9"))),
}

STAMP = "<!-- lutakeover dot-source {digest} -->"


def stamped_svg(source: str) -> bytes:
    svg = render(source, "svg").decode()
    at = svg.index("<svg")
    return (svg[:at] + STAMP.format(digest=source_digest(source)) + "\n" + svg[at:]).encode()


def stale(folder: Path = FOLDER) -> list[str]:
    """What is missing or out of date under ``folder``, one line each."""
    problems = []
    for name, (_what, build) in DIAGRAMS.items():
        source = build()
        dot, svg = folder / f"{name}.dot", folder / f"{name}.svg"
        if not dot.is_file() or dot.read_text() != source:
            problems.append(f"{dot}: differs from what the model draws now")
        stamp = STAMP.format(digest=source_digest(source))
        if not svg.is_file() or stamp not in svg.read_text(errors="replace"):
            problems.append(f"{svg}: not rendered from the current DOT source")
    return problems


def regenerate(folder: Path = FOLDER, progress: Callable[[str], None] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (_what, build) in DIAGRAMS.items():
        source = build()
        (folder / f"{name}.dot").write_text(source)
        (folder / f"{name}.svg").write_bytes(stamped_svg(source))
        if progress is not None:
            progress(f"wrote {folder / name}.dot and .svg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lutakeover.docgen.docs_diagrams",
        description="Regenerate (or --check) docs/diagrams/.",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a diagram is stale; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for line in problems:
            print(f"stale: {line}", file=sys.stderr)
        if problems:
            print(
                "run `python -m lutakeover.docgen.docs_diagrams` and commit docs/diagrams/", file=sys.stderr
            )
            return 1
        print(f"docs/diagrams: {len(DIAGRAMS)} diagrams up to date")
        return 0
    regenerate(progress=lambda line: print(line, file=sys.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
