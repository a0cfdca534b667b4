"""Figures of the explicit checker: states, seconds, states per second, memory per state.

Each measurement runs in a fresh child process, so its peak resident memory belongs to
that one search; memory per state is (peak - resident before the search) / states.

The benchmark arrays (``benchmarks/arrays/``: controllers x LUs x blocks, 2 or 3
take-overs in any order) are the configurations of a Promela model of this protocol that
Spin explores, for a side-by-side comparison; the larger ones take minutes to hours, so
they are searched up to ``--max-states`` (the row says when it stopped there).

    python benchmarks/explore.py                  # every built-in, the larger scenario, the arrays
    python benchmarks/explore.py --quick          # built-ins only
    python benchmarks/explore.py --arrays-only --max-states 500000
    python benchmarks/explore.py --only two-hosts,fig9   # every row of these

Where two groups of LUs or more can change (LUs a
host uses, or a mirrored pair, form one group), rows "composed" follow an array's (or a
built-in's) full searches: every state searched as one record per group
(``lutakeover check --composed``), without and with liveness, up to
``--composed-max-states`` (default 10,000,000). The arrays of ``benchmarks/grouped/``
(two mirrored pairs; two hosts each using two LUs) have groups of two LUs. Where an array's LUs are
independent, two rows "product" follow (without and with liveness): the same array checked
by the per-LU product (``lutakeover check --product``), every state counted; its states per
second and bytes per state are the product's states over its time and memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from model.actions import Model
from model.protocol import CORRECT
from model.scenario import Scenario, builtin, builtin_names, load
from proofs.check import run_check
from proofs.composed import composed_check, composes_by_default
from proofs.product import product_check, why_not_independent


def larger() -> Scenario:
    """three-way with a third take-over: about a minute without symmetry reduction."""
    return replace(builtin("three-way"), name="three-way-budget-3", budget=3)


def resident_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


ARRAYS = Path(__file__).parent / "arrays"
GROUPED = Path(__file__).parent / "grouped"


def scenario_named(name: str) -> Scenario:
    """A built-in, the larger scenario, or a benchmark array (by its file's name)."""
    if name == "three-way-budget-3":
        return larger()
    for folder in (ARRAYS, GROUPED):
        if (folder / f"{name}.toml").exists():
            return load(folder / f"{name}.toml")
    return builtin(name)


def measure(name: str, how: str, liveness: bool, max_states: int | None = None) -> dict[str, object]:
    """Run one search in this process and return its figures (called in a child). ``how``:
    "full", "symmetry" (reduced by symmetry), "composed" (every state, one record per group of LUs)
    or "product" (the per-LU product)."""
    model = Model(scenario_named(name), CORRECT)
    before = resident_kib()
    if how == "product":
        check = product_check(model, liveness=liveness)
    elif how == "composed":
        check = composed_check(model, liveness=liveness, max_states=max_states)
    else:
        check = run_check(model, symmetry=how == "symmetry", liveness=liveness, max_states=max_states)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    s = check.search
    return {
        "scenario": name,
        "how": how,
        "liveness": liveness,
        "verdict": check.verdict,
        "complete": s.complete,
        "states": s.states,
        "transitions": s.transitions,
        "seconds": round(s.seconds, 2),
        "states_per_second": round(s.states_per_second),
        "bytes_per_state": round((peak - before) * 1024 / max(s.states, 1)),
    }


def in_child(name: str, how: str, liveness: bool, max_states: int | None = None) -> dict[str, object]:
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); from explore import measure; "
        f"print(json.dumps(measure({name!r}, {how!r}, {liveness}, {max_states})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="built-in scenarios only")
    parser.add_argument("--arrays-only", action="store_true", help="the benchmark arrays only")
    parser.add_argument(
        "--max-states",
        type=int,
        default=2_000_000,
        help="stop a benchmark array's full search there (default 2,000,000; 0: no limit)",
    )
    parser.add_argument(
        "--composed-max-states",
        type=int,
        default=10_000_000,
        help="stop a composed search there (default 10,000,000; 0: no limit)",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="only these scenarios, comma-separated: built-ins, three-way-budget-3, or the file "
        "names of benchmarks/arrays/ and benchmarks/grouped/ (every row of each)",
    )
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if only is not None and (args.quick or args.arrays_only):
        parser.error("--only chooses the scenarios itself: drop --quick and --arrays-only")
    if args.max_states < 0 or args.composed_max_states < 0:
        parser.error("--max-states and --composed-max-states must be 0 (no limit) or more")
    limit = args.max_states or None
    composed_limit = args.composed_max_states or None
    runs: list[tuple[str, str, bool, int | None]] = []
    if not args.arrays_only:
        runs += [(name, how, True, None) for name in builtin_names() for how in ("symmetry", "full")]
        runs += [(name, "full", False, None) for name in builtin_names()]
        for name in builtin_names():
            if composes_by_default(Model(builtin(name), CORRECT)):
                runs += [(name, "composed", False, None), (name, "composed", True, None)]
    if not args.quick and not args.arrays_only:
        runs += [("three-way-budget-3", "full", False, None), ("three-way-budget-3", "symmetry", False, None)]
    if not args.quick:
        for name in sorted(p.stem for p in ARRAYS.glob("*.toml")):
            runs += [
                (name, "full", False, limit),
                (name, "symmetry", False, limit),
                (name, "symmetry", True, limit),
            ]
            if composes_by_default(Model(scenario_named(name), CORRECT)):
                runs += [(name, "composed", False, composed_limit), (name, "composed", True, composed_limit)]
            if why_not_independent(scenario_named(name)) is None:
                runs += [(name, "product", False, None), (name, "product", True, None)]
        for name in sorted(p.stem for p in GROUPED.glob("*.toml")):
            runs += [(name, "full", False, None), (name, "full", True, None)]
            runs += [(name, "composed", False, None), (name, "composed", True, None)]
    if only is not None:
        unknown = only - {name for name, *_ in runs}
        if unknown:
            known = ", ".join(sorted({name for name, *_ in runs}))
            parser.error(f"--only: no scenario {', '.join(sorted(unknown))}; there are {known}")
        runs = [run for run in runs if run[0] in only]
    header = f"{'scenario':<20} {'search':>8} {'liveness':>8} {'states':>11} {'transitions':>12} "
    header += f"{'seconds':>8} {'states/s':>11} {'B/state':>8}"
    print(header)
    for name, how, liveness, max_states in runs:
        r = in_child(name, how, liveness, max_states)
        stopped = "" if r["complete"] else f"  stopped at --max-states {max_states:,}"
        print(
            f"{name:<20} {how:>8} {'on' if liveness else 'off':>8} "
            f"{r['states']:>11,} {r['transitions']:>12,} {r['seconds']:>8} "
            f"{r['states_per_second']:>11,} {r['bytes_per_state']:>8,}{stopped}",
            flush=True,
        )
    arrays = sorted({name for name, *_ in runs} & {p.stem for p in ARRAYS.glob("*.toml")})
    reasons = [(name, why_not_independent(scenario_named(name))) for name in arrays]
    if any(reason is not None for _, reason in reasons):
        print("\nthe per-LU product does not apply to:")
        for name, reason in reasons:
            if reason is not None:
                print(f"  {name:<20} {reason}")


if __name__ == "__main__":
    main()
