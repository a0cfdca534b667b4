"""Figures of the explicit checker: states, seconds, states per second, memory per state.

Each measurement runs in a fresh child process, so its peak resident memory belongs to
that one search; memory per state is (peak - resident before the search) / states.

    python benchmarks/explore.py            # every built-in, then the larger scenario
    python benchmarks/explore.py --quick    # built-ins only
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from dataclasses import replace

from model.actions import Model
from model.protocol import CORRECT
from model.scenario import Scenario, builtin, builtin_names
from proofs.check import run_check


def larger() -> Scenario:
    """three-way with a third take-over: about a minute without symmetry reduction."""
    return replace(builtin("three-way"), name="three-way-budget-3", budget=3)


def resident_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(name: str, symmetry: bool, liveness: bool) -> dict[str, object]:
    """Run one search in this process and return its figures (called in a child)."""
    scenario = larger() if name == "three-way-budget-3" else builtin(name)
    before = resident_kib()
    check = run_check(Model(scenario, CORRECT), symmetry=symmetry, liveness=liveness)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    s = check.search
    return {
        "scenario": name,
        "symmetry": symmetry,
        "liveness": liveness,
        "verdict": check.verdict,
        "states": s.states,
        "transitions": s.transitions,
        "seconds": round(s.seconds, 2),
        "states_per_second": round(s.states_per_second),
        "bytes_per_state": round((peak - before) * 1024 / max(s.states, 1)),
    }


def in_child(name: str, symmetry: bool, liveness: bool) -> dict[str, object]:
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); from explore import measure; "
        f"print(json.dumps(measure({name!r}, {symmetry}, {liveness})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="built-in scenarios only")
    args = parser.parse_args()
    runs = [(name, symmetry, True) for name in builtin_names() for symmetry in (True, False)]
    runs += [(name, False, False) for name in builtin_names()]
    if not args.quick:
        runs += [("three-way-budget-3", False, False), ("three-way-budget-3", True, False)]
    header = f"{'scenario':<20} {'symmetry':>8} {'liveness':>8} {'states':>9} {'transitions':>11} "
    header += f"{'seconds':>8} {'states/s':>9} {'B/state':>8}"
    print(header)
    for name, symmetry, liveness in runs:
        r = in_child(name, symmetry, liveness)
        print(
            f"{name:<20} {'on' if symmetry else 'off':>8} {'on' if liveness else 'off':>8} "
            f"{r['states']:>9,} {r['transitions']:>11,} {r['seconds']:>8} "
            f"{r['states_per_second']:>9,} {r['bytes_per_state']:>8,}",
            flush=True,
        )


if __name__ == "__main__":
    main()
