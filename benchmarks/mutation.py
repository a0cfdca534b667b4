"""Mutation testing of model/ and invariants/ with mutmut: the score and every surviving mutant.

The kill test is tests/mutation/test_builtin_outcomes.py: what the explicit checker finds
(the verdict, the broken properties and the depth of each one's shortest counterexample) on
the small built-in scenarios for every variant, pinned in tests/mutation/builtin_outcomes.json.
A mutant is killed when one of those outcomes changes. mutmut's settings are in
pyproject.toml ([tool.mutmut]); it works in ./mutants, which a run starts afresh.

    python benchmarks/mutation.py                             # the whole scope (about an hour, 2 cores)
    python benchmarks/mutation.py --paths model/state.py      # only these files' mutants
    python benchmarks/mutation.py --report                    # the last run's figures again
    python benchmarks/mutation.py --pin                       # re-pin after an intended change

docs/mutation.md has the baseline figures and a word on every survivor.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PINS = ROOT / "tests" / "mutation" / "builtin_outcomes.json"
SCOPE = ("model", "invariants")  # [tool.mutmut] source_paths
# The built-ins the kill test runs: three-way is left out, at over a minute for its variants
# it would cost more than every other scenario together for every surviving mutant; of the
# larger ones, chain (two blocks, a take-back) and the embodiment-2 ones cost under a second.
PINNED_SCENARIOS = (
    "one-lu",
    "ping-pong",
    "fig5",
    "fig9",
    "backup-and-takeover",
    "background-destage",
    "chain",
    "backup-twice",
    "primary-moves",
    "crash-takeover",  # a crash and its recovery (crash_recover), during a take-over
    "crash-backup",  # and during a backup cycle
)
# A run that keeps going past this many states is pinned stopping at its first violation
# instead (ping-pong's concurrent-same-lu: 190,000 states kept going, 12,000 not).
KEEP_GOING_STATES = 100_000
CAUGHT = ("killed", "timeout", "segfault")  # segfault: killed by a signal, as an out-of-memory one
MISSED = ("survived", "no tests", "suspicious")


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's: model.actions.x_process__mutmut_7
    path: str  # model/actions.py
    status: str


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/mutation.py",
        description="Run mutmut over model/ and invariants/ with the pinned built-in checks as the "
        "test, then print the mutation score and every surviving mutant (file, line, mutation).",
        epilog="mutmut's settings: [tool.mutmut] in pyproject.toml; its work: ./mutants. "
        "A mutant is killed when the explicit checker's verdict, broken properties or their depths "
        "change on a pinned case (tests/mutation/). docs/mutation.md: baseline and survivors.",
    )
    parser.add_argument(
        "--paths",
        nargs="+",
        metavar="FILE",
        help="mutate only these files (each under model/ or invariants/), e.g. model/state.py",
    )
    parser.add_argument("--max-children", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the run (default 10)")
    parser.add_argument(
        "--resume", action="store_true", help="keep the results of an interrupted run in ./mutants"
    )
    parser.add_argument("--report", action="store_true", help="print the figures of the run in ./mutants")
    parser.add_argument(
        "--pin",
        action="store_true",
        help=f"rewrite {PINS.relative_to(ROOT)} from the code as it is (after an intended change)",
    )
    args = parser.parse_args(argv)
    try:  # before the chdir: a relative path is the caller's
        paths = [_checked_path(p) for p in args.paths or []]
    except ValueError as e:
        print(f"mutation.py: {e}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))  # this checkout's model, whatever the environment has installed
    if args.pin:
        pin()
        return 0
    try:
        _mutmut("stats")
    except MutmutMissing as e:
        print(f"mutation.py: {e}", file=sys.stderr)
        return 2
    if not args.report:
        seconds = run(paths, args.max_children, args.nice, args.resume)
        print(f"wall time: {seconds / 60:.1f} min")
    if not (ROOT / "mutants").is_dir():
        print("mutation.py: no ./mutants: nothing has run yet", file=sys.stderr)
        return 2
    report(results(paths))
    return 0


class MutmutMissing(RuntimeError):
    """mutmut is not installed (it is the ``mutation`` extra)."""


def _mutmut(module: str) -> ModuleType:
    """A module of mutmut, imported when needed: only this script needs the tool."""
    try:
        return importlib.import_module(f"mutmut.{module}")
    except ImportError:
        raise MutmutMissing("mutmut is not installed: pip install -e '.[mutation]'") from None


def _checked_path(path: str) -> str:
    """A file to mutate, as mutmut names it (model/state.py), or ValueError saying why not."""
    p = Path(path).resolve()
    try:
        relative = p.relative_to(ROOT).as_posix()
    except ValueError:
        raise ValueError(f"--paths {path}: not a file of this project") from None
    if relative.split("/")[0] not in SCOPE or p.suffix != ".py" or not p.is_file():
        raise ValueError(f"--paths {path}: not a Python file under {' or '.join(s + '/' for s in SCOPE)}")
    return relative


def _pattern(path: str) -> str:
    """mutmut's name glob for a file's mutants: model/state.py -> model.state.*"""
    return path.removesuffix(".py").replace("/", ".") + ".*"


def run(paths: list[str], max_children: int, niceness: int, resume: bool) -> float:
    """Run mutmut (its progress goes to the terminal); the wall time in seconds. Resuming, only
    the mutants not run yet are named: mutmut runs again every mutant it is given by name."""
    names = [_pattern(p) for p in paths]
    if resume and (ROOT / "mutants").is_dir():
        left = [m.name for m in results(paths) if m.status == "not checked"]
        names = left if paths else []  # without --paths, mutmut itself skips what has run
        if not left:
            print("nothing left to run", flush=True)
            return 0.0
    else:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut), "run", "--max-children", str(max_children), *names]
    shown = command if len(command) < 12 else [*command[:8], f"... ({len(names)} mutants)"]
    print("$", " ".join(shown), flush=True)
    start = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=False, preexec_fn=lambda: os.nice(niceness))
    return time.monotonic() - start


def results(paths: list[str]) -> list[Mutant]:
    """Every mutant of the run in ./mutants (of ``paths`` only, if given) and its status."""
    status_by_exit_code: dict[Any, str] = _mutmut("stats").status_by_exit_code
    mutants = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        path = meta.relative_to(ROOT / "mutants").as_posix().removesuffix(".meta")
        if paths and path not in paths:
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        mutants += [Mutant(name, path, status_by_exit_code[code]) for name, code in codes.items()]
    return mutants


def report(mutants: list[Mutant]) -> None:
    counts = {status: sum(m.status == status for m in mutants) for status in {m.status for m in mutants}}
    caught = sum(counts.get(s, 0) for s in CAUGHT)
    judged = caught + sum(counts.get(s, 0) for s in MISSED)
    print(f"mutants: {len(mutants)}")
    for status in sorted(counts, key=lambda s: -counts[s]):
        print(f"  {status}: {counts[status]}")
    if judged:
        print(f"mutation score: {100 * caught / judged:.1f}% ({caught} of {judged} caught)")
    missed = [m for m in mutants if m.status in MISSED]
    if missed:
        print(f"\nsurvivors ({len(missed)}):")
    for m in sorted(missed, key=lambda m: (m.path, _number(m.name))):
        line, change = describe(m)
        tag = "" if m.status == "survived" else f" [{m.status}]"
        print(f"{m.path}:{line}: {m.name.rsplit('.', 1)[-1]}{tag}: {change}")
    unchecked = counts.get("not checked", 0)
    if unchecked:
        print(f"\n{unchecked} mutants not run yet (an interrupted run: --resume continues it)")


def _number(name: str) -> tuple[str, int]:
    function, _, n = name.rpartition("__mutmut_")
    return function, int(n) if n.isdigit() else 0


def describe(m: Mutant) -> tuple[int, str]:
    """The mutated line's number in the original file and the change, ``old -> new``."""
    diff = str(_mutmut("mutation.diff_apply").get_diff_for_mutant(m.name, path=m.path)).splitlines()
    old = [line[1:].strip() for line in diff[2:] if line.startswith("-")]
    new = [line[1:].strip() for line in diff[2:] if line.startswith("+")]
    change = f"{' '.join(old)}  ->  {' '.join(new)}"
    return _line_of(m, old[0] if old else ""), change


def _line_of(m: Mutant, text: str) -> int:
    """Where ``text`` first occurs in the mutated function's source (the def, if not found)."""
    source = (ROOT / m.path).read_text(encoding="utf-8")
    function = m.name.rsplit(".", 1)[-1].rpartition("__mutmut_")[0]
    owner, _, name = function.removeprefix("x_").removeprefix("xǁ").partition("ǁ")
    name = name or owner
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            end = node.end_lineno or node.lineno
            for number in range(node.lineno, end + 1):
                if text and text in lines[number - 1]:
                    return number
            return node.lineno
    return 0


def pin() -> None:
    """Run every variant on every pinned scenario with the code as it is and write the pins,
    cheapest first. A variant whose run is the correct protocol's, state for state, never
    throws its switch in that scenario: it is listed as unexercised there, not run again."""
    from model.actions import Model
    from model.protocol import VARIANTS, variant
    from model.scenario import builtin
    from proofs.check import run_check

    rows: list[tuple[float, dict[str, object]]] = []
    unexercised: list[list[str]] = []
    for scenario in PINNED_SCENARIOS:
        correct: tuple[object, ...] = ()
        for name in VARIANTS:
            print(f"pinning {scenario} {name}", flush=True)
            keep_going = True
            start = time.perf_counter()
            check = run_check(Model(builtin(scenario), variant(name)), keep_going=True)
            if check.search.states > KEEP_GOING_STATES:
                keep_going = False
                start = time.perf_counter()
                check = run_check(Model(builtin(scenario), variant(name)))
            seconds = time.perf_counter() - start
            broken = {p: len(v.trace) - 1 for p, v in check.shortest().items()}
            run = (check.verdict, broken, check.search.states, check.search.transitions)
            if name == "correct":
                correct = run
            elif run == correct:
                unexercised.append([scenario, name])
                continue
            case = {
                "scenario": scenario,
                "variant": name,
                "keep_going": keep_going,
                "verdict": check.verdict,
                "broken": broken,
                "states": check.search.states,
                "seconds": round(seconds, 3),
            }
            rows.append((seconds, case))
    rows.sort(key=lambda row: row[0])
    # A case a line, so that a re-pin reads well as a diff.
    cases = ",\n".join("  " + json.dumps(case) for _, case in rows)
    skipped = ",\n".join("  " + json.dumps(pair) for pair in unexercised)
    PINS.write_text(f'{{"cases": [\n{cases}\n ],\n "unexercised": [\n{skipped}\n ]}}\n', encoding="utf-8")
    print(f"wrote {len(rows)} cases ({len(unexercised)} unexercised) to {PINS.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
