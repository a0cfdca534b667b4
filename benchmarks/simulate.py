"""Figures of `simulate` on an 8-controller, 32-LU array: transitions per second for the
correct protocol, and for each seeded bug the time (and runs) to the first failure.

Shrinking is off here: the figure is how soon a bug is *found*; shrinking is extra work on
top, paid once per failure.

    python benchmarks/simulate.py            # 8 controllers, 32 LUs, seed 1
    python benchmarks/simulate.py --controllers 4 --lus 8 --seed 7
"""

from __future__ import annotations

import argparse

from model.actions import Model
from model.generate import array_scenario
from model.protocol import SEEDED_BUGS, variant
from proofs.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--controllers", type=int, default=8)
    parser.add_argument("--lus", type=int, default=32)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scenario = array_scenario(args.controllers, args.lus)
    source = f"array_scenario({args.controllers}, {args.lus})"
    print(f"{scenario.name}, seed {args.seed}, up to {args.runs} runs of {args.steps} rule calls")
    print(
        f"{'variant':<26} {'verdict':>9} {'runs':>6} {'transitions':>12} {'seconds':>8} {'trans/s':>8} "
        f"{'property':<28}"
    )
    for name in ["correct", *SEEDED_BUGS]:
        r = simulate(
            Model(scenario, variant(name)),
            source,
            runs=args.runs,
            steps=args.steps,
            seed=args.seed,
            shrink=False,
        )
        found = r.failure.property if r.failure is not None else "-"
        print(
            f"{name:<26} {r.verdict:>9} {r.runs:>6} {r.steps:>12,} {r.seconds:>8.1f} "
            f"{r.steps_per_second:>8,.0f} {found:<28}",
            flush=True,
        )


if __name__ == "__main__":
    main()
