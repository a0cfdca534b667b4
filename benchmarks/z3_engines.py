"""Figures of the z3 engines: the whole inductive proof, and BMC per depth on fig5.

    python benchmarks/z3_engines.py            # proof (correct + every seeded bug), BMC to depth 16
    python benchmarks/z3_engines.py --depth 12 # a shorter BMC run
    python benchmarks/z3_engines.py --quick    # the correct proof and BMC to depth 10

Aims: the whole correct proof in under 10 seconds. BMC finds every seeded bug fig5 (and,
for embodiment 2, fig9) can show at the depth breadth-first search does; the seconds below
compare the two.
"""

from __future__ import annotations

import argparse
import time

from model.actions import Model
from model.protocol import ALL_BUGS, BACKUP_BUGS, CORRECT, SEEDED_BUGS, variant
from model.scenario import builtin
from proofs.bmc import bmc
from proofs.check import run_check
from proofs.induction import prove


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=16, help="BMC depth on fig5's correct protocol")
    parser.add_argument("--quick", action="store_true", help="the correct proof and BMC to depth 10")
    args = parser.parse_args()
    depth = 10 if args.quick else args.depth

    print("== inductive proof (any number of controllers, LUs, blocks)")
    result = prove(CORRECT)
    print(
        f"correct: {len(result.obligations)} obligations, proved={result.proved}, "
        f"{result.seconds:.2f} s (aim: under 10 s); slowest query "
        f"{max(o.seconds for o in result.obligations) * 1000:.0f} ms"
    )
    if not args.quick:
        for bug in ALL_BUGS:
            failed = prove(variant(bug))
            print(f"  {bug:<26} {len(failed.failures):>3} failed obligations, {failed.seconds:.2f} s")

    print(f"\n== BMC on fig5, correct protocol, depth 0..{depth} (seconds per depth; cumulative)")
    r = bmc(Model(builtin("fig5"), CORRECT), depth)
    total = 0.0
    for k, seconds in enumerate(r.per_depth):
        total += seconds
        print(f"  depth {k:>2}: {seconds:7.2f} s  {total:8.2f} s")
    print(f"  verdict {r.verdict} up to depth {r.reached}")

    if args.quick:
        return
    print("\n== each seeded bug: BMC against breadth-first search (first violation)")
    print(f"  {'bug':<26} {'scenario':<6} {'property':<28} {'BMC':>4} {'BFS':>4} {'BMC s':>7} {'BFS s':>7}")
    # fig5 cannot show concurrent-same-lu, and no-resume breaks only liveness.
    cases = [("fig5", b) for b in SEEDED_BUGS if b not in ("concurrent-same-lu", "no-resume")]
    for scenario, bug in [*cases, *(("fig9", b) for b in BACKUP_BUGS)]:
        t0 = time.perf_counter()
        b = bmc(Model(builtin(scenario), variant(bug)), 17)
        bmc_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        c = run_check(Model(builtin(scenario), variant(bug)), liveness=False)
        bfs_seconds = time.perf_counter() - t0
        v, w = b.violation, c.counterexamples[0]
        assert v is not None
        print(
            f"  {bug:<26} {scenario:<6} {v.property:<28} {len(v.trace) - 1:>4} {len(w.trace) - 1:>4} "
            f"{bmc_seconds:7.2f} {bfs_seconds:7.2f}"
        )


if __name__ == "__main__":
    main()
