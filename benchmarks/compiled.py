"""The model compiled by mypyc against the model as Python, side by side in one run.

Copies the project's sources to a temporary directory, compiles the modules of the hot path
there (the state, the actions, the variants, the labels and the safety properties: the
rest of ``model/`` trips mypyc up) with mypyc, unchanged, and times the search of whole
states of each scenario asked for, alternating the two builds, each run in a child process
of its own. The two must agree on states, transitions and depth, or the run fails.

    python benchmarks/compiled.py                        # fig5, three-hosts, three-way
    python benchmarks/compiled.py --runs 3 swap chain

mypyc comes with mypy (``pip install '.[test]'``) and needs a C compiler. The project does
not ship the compiled build (see docs/ARCHITECTURE.md, "The cost of a state"): this measures
what it would bring.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from model.scenario import builtin_names

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("model", "invariants", "proofs", "benchmarks")
COMPILED = (
    "model/actions.py",
    "model/state.py",
    "model/protocol.py",
    "model/labels.py",
    "invariants/safety.py",
)

MEASURE = """
import json, sys, time
from model.actions import Model
from model.protocol import CORRECT
from model.scenario import builtin
from proofs.check import run_check
import model.actions
model_ = Model(builtin(sys.argv[1]), CORRECT)
started = time.perf_counter()
check = run_check(model_, symmetry=False, liveness=False)
seconds = time.perf_counter() - started
s = check.search
print(json.dumps({"states": s.states, "transitions": s.transitions, "depth": s.depth,
                  "seconds": seconds, "compiled": model.actions.__file__.endswith(".so")}))
"""


def build(into: Path) -> None:
    """The sources copied into ``into``, the hot path compiled there by mypyc."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    # mypyc runs setuptools in the directory: the project's own pyproject.toml would be read
    # as the package to build.
    (into / "mypy.ini").write_text("[mypy]\nignore_missing_imports = True\n")
    mypyc = Path(sys.executable).with_name("mypyc")
    if not mypyc.exists():
        sys.exit("benchmarks/compiled.py: mypyc not found beside this Python: pip install '.[test]'")
    done = subprocess.run([str(mypyc), *COMPILED], cwd=into, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmarks/compiled.py: mypyc failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def measure(scenario: str, path: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, scenario],
        cwd=path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", default=["fig5", "three-hosts", "three-way"])
    parser.add_argument("--runs", type=int, default=2, help="runs of each build, alternating (default 2)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    unknown = [name for name in args.scenarios if name not in builtin_names()]
    if unknown:
        parser.error(f"no built-in scenario {', '.join(unknown)} (built-ins: {', '.join(builtin_names())})")
    with tempfile.TemporaryDirectory() as tmp:
        compiled = Path(tmp)
        print(f"compiling {', '.join(COMPILED)} with mypyc ...", file=sys.stderr, flush=True)
        build(compiled)
        header = f"{'scenario':<14} {'states':>9} {'python s':>9} {'mypyc s':>8} "
        print(header + f"{'python/s':>9} {'mypyc/s':>8} {'ratio':>6}")
        for scenario in args.scenarios:
            times: dict[bool, list[float]] = {False: [], True: []}
            shapes = set()
            for _ in range(args.runs):
                for path in (ROOT, compiled):
                    r = measure(scenario, path)
                    times[bool(r["compiled"])].append(r["seconds"])
                    shapes.add((r["states"], r["transitions"], r["depth"]))
            if len(shapes) != 1 or not times[True]:
                sys.exit(
                    f"benchmarks/compiled.py: {scenario}: the builds disagree or none is compiled: {shapes}"
                )
            (states, _, _) = shapes.pop()
            pure, fast = statistics.median(times[False]), statistics.median(times[True])
            print(
                f"{scenario:<14} {states:>9,} {pure:>9.2f} {fast:>8.2f} {states / pure:>9,.0f} "
                f"{states / fast:>8,.0f} {pure / fast:>6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
