"""The outputs shown in docs/ are what the tool prints now: run them, compare, rewrite.

A fenced block in a Markdown file under docs/ (or the README) is checked when the line before
it is a marker naming a command, the arguments of `lutakeover`:

    <!-- output: check --variant skip-destage --quiet -->     the block is the whole output
    <!-- excerpt: check --variant skip-destage --quiet -->    the block's lines appear in the
                                                              output, in order and adjacent,
                                                              but where a line "..." stands
                                                              for any lines left out

The output is what the command writes on stdout, then on stderr. A `*` in an argument runs
the command once per matching file (sorted) and joins the outputs, so one block can list the
error messages of a folder of bad scenario files. Commands run from the project's root.
Timings (seconds, states per second) differ from run to run and are compared as placeholders.

    python -m lutakeover.docgen.docs_outputs           rewrite every "output" block from a fresh run
    python -m lutakeover.docgen.docs_outputs --check   exit 1, naming each stale block, if any differ
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from lutakeover.cli import main

ROOT = Path(__file__).resolve().parents[2]
MARKED = re.compile(
    r"<!-- (?P<kind>output|excerpt): (?P<command>.+?) -->\n```(?P<lang>\w*)\n(?P<body>.*?)```", re.S
)
# What changes from one run to the next, and so is compared as a placeholder.
VARYING = [
    (re.compile(r"\d[\d,]*(\.\d+)? s\b"), "<t> s"),
    (re.compile(r"[\d,]+ (states|steps|transitions)/s\b"), r"<n> \1/s"),
    (re.compile(r'"(seconds|states_per_second|steps_per_second)": [\d.]+'), r'"\1": <n>'),
]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    kind: str
    command: str
    body: str
    start: int  # offsets of the body in the file's text
    end: int


def blocks(paths: list[Path]) -> list[Block]:
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for m in MARKED.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(
                Block(path, line, m["kind"], m["command"], m["body"], m.start("body"), m.end("body"))
            )
    return found


def run(command: str) -> str:
    """What `lutakeover COMMAND` prints, stdout then stderr, run from the project's root."""
    words = shlex.split(command)
    outputs = []
    # argparse wraps --help to the terminal's width: the docs show it at 80 columns.
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        for argv in _expand(words):
            outputs.append(_run_one(argv))
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "".join(outputs)


def _run_one(argv: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        contextlib.chdir(ROOT),
        contextlib.suppress(SystemExit),  # argparse's --help and usage errors
    ):
        main(argv)
    return out.getvalue() + err.getvalue()


def _expand(words: list[str]) -> list[list[str]]:
    for i, word in enumerate(words):
        if "*" in word:
            files = sorted(glob.glob(word, root_dir=ROOT))
            if not files:
                raise ValueError(f"{word}: no file matches")
            return [[*words[:i], f, *words[i + 1 :]] for f in files]
    return [words]


def normalised(text: str) -> str:
    for pattern, placeholder in VARYING:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def agrees(block: Block, output: str) -> bool:
    if block.kind == "output":
        return normalised(block.body) == normalised(output)
    # An excerpt: runs of lines separated by "...", each run found whole (its lines adjacent in
    # the output, so a line left out silently is a difference), the runs in order.
    lines = normalised(output).split("\n")
    runs: list[list[str]] = [[]]
    for wanted in normalised(block.body).split("\n"):
        if wanted.strip() == "...":
            runs.append([])
        else:
            runs[-1].append(wanted)
    at = 0
    for run in (r for r in runs if r):
        while at + len(run) <= len(lines) and lines[at : at + len(run)] != run:
            at += 1
        if at + len(run) > len(lines):
            return False
        at += len(run)
    return True


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def main_docs(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lutakeover.docgen.docs_outputs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if a block is stale")
    args = parser.parse_args(argv)
    stale = 0
    rewrites: dict[Path, list[tuple[Block, str]]] = {}
    for block in blocks(documents()):
        output = run(block.command)
        if agrees(block, output):
            continue
        where = f"{block.path.relative_to(ROOT)}:{block.line}"
        if args.check or block.kind == "excerpt":
            stale += 1
            print(
                f"{where}: `lutakeover {block.command}` no longer prints this {block.kind}", file=sys.stderr
            )
        else:
            rewrites.setdefault(block.path, []).append((block, output.strip("\n") + "\n"))
            print(f"{where}: rewritten", file=sys.stderr)
    for path, changes in rewrites.items():
        text = path.read_text(encoding="utf-8")
        for block, output in sorted(changes, key=lambda c: -c[0].start):
            text = text[: block.start] + output + text[block.end :]
        path.write_text(text, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main_docs())
