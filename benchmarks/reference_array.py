"""Figures of the reference array: the simulator's steps per second (alone, and in lockstep
with the model), the real runtime's steps and host requests per second, and how long a
take-over takes against the amount of dirty cache it must de-stage first.

    python benchmarks/reference_array.py                  # everything, about a minute
    python benchmarks/reference_array.py --plot takeover.svg   # and draw the last table
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

from conformance.lockstep import Lockstep
from conformance.setup import array_of
from conformance.soak import soak, soak_scenario
from model.scenario import builtin
from reference_impl.config import ArrayConfig, BatchConfig, HostConfig, LuConfig, Workload
from reference_impl.simulator import Simulation
from reference_impl.workload import pattern

BLOCK = 4096


def simulator_rate(name: str, seconds: float = 3.0) -> tuple[int, float]:
    """Steps of seeded simulator runs of a built-in, to the end, for about ``seconds``."""
    config, workload = array_of(builtin(name), BLOCK)
    steps, started, seed = 0, time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        steps += len(Simulation(config, workload).run(seed))
        seed += 1
    return steps, time.perf_counter() - started


def lockstep_rate(name: str, seconds: float = 3.0) -> tuple[int, float]:
    """Steps taken in lockstep with the model (offers compared, state abstracted) per second."""
    steps, started, seed = 0, time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        ls, rng = Lockstep(builtin(name)), random.Random(seed)
        while ls.start() is None:
            labels, divergence = ls.compare_offers()
            if divergence is not None or not labels or ls.take(rng.choice(labels)) is not None:
                break
        steps += len(ls.taken)
        seed += 1
    return steps, time.perf_counter() - started


def takeover_seconds(dirty_blocks: int, directory: str) -> tuple[float, int]:
    """One take-over of an LU with ``dirty_blocks`` dirty lines in the source's cache, on a
    disk file (every de-stage flushed): seconds from designation to Step 809, and steps."""
    blocks = max(dirty_blocks, 1)
    config = ArrayConfig(2, 1, (LuConfig(0, 0, 0, 0, 0, blocks),), block_size=BLOCK)
    workload = Workload(hosts=(HostConfig("host0"),), batches=(BatchConfig((0,), 1),))
    sim = Simulation(config, workload, directory=os.path.join(directory, f"run-{dirty_blocks}"))
    source = sim.array.controllers[0]
    for b in range(dirty_blocks):
        source.store(0, b, pattern(b + 1, BLOCK))
    started = time.perf_counter()
    steps = len(sim.run(0))
    elapsed = time.perf_counter() - started
    sim.array.close()
    return elapsed, steps


def draw(points: list[tuple[int, float]], path: str) -> None:
    """A small SVG line plot of take-over milliseconds against dirty MiB."""
    width, height, pad = 480, 300, 50
    xs = [n * BLOCK / 2**20 for n, _ in points]
    ys = [s * 1000 for _, s in points]
    x_max, y_max = max(xs) or 1, max(ys) or 1

    def at(x: float, y: float) -> str:
        return (
            f"{pad + x / x_max * (width - 2 * pad):.1f},{height - pad - y / y_max * (height - 2 * pad):.1f}"
        )

    line = " ".join(at(x, y) for x, y in zip(xs, ys, strict=True))
    dots = "".join(
        f'<circle cx="{at(x, y).split(",")[0]}" cy="{at(x, y).split(",")[1]}" r="3"/>'
        for x, y in zip(xs, ys, strict=True)
    )
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"
 font-family="sans-serif" font-size="12">
<rect width="{width}" height="{height}" fill="white"/>
<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>
<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>
<text x="{width / 2}" y="{height - 12}" text-anchor="middle">dirty cache de-staged by Step 804 (MiB)</text>
<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})"
 text-anchor="middle">take-over (ms)</text>
<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">{x_max:g}</text>
<text x="{pad - 4}" y="{pad + 4}" text-anchor="end">{y_max:.0f}</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/>
<g fill="#1f77b4">{dots}</g>
</svg>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE.svg", help="draw take-over time against dirty cache")
    parser.add_argument(
        "--soak-seconds", type=float, default=10.0, help="length of the runtime run (default 10)"
    )
    args = parser.parse_args()

    print("simulator, seeded runs to the end (4 KiB blocks, in memory):")
    print(f"  {'built-in':<20} {'steps':>8} {'steps/s':>9} {'lockstep steps/s':>17}")
    for name in ("fig5", "three-way", "background-destage", "fig9"):
        steps, seconds = simulator_rate(name)
        lsteps, lseconds = lockstep_rate(name)
        print(f"  {name:<20} {steps:>8,} {steps / seconds:>9,.0f} {lsteps / lseconds:>17,.0f}")

    with tempfile.TemporaryDirectory() as d:
        r = soak(d, args.soak_seconds, soak_scenario())
    completed = r.stats.by_event.get("complete", 0)
    print(
        f"\nruntime, {r.stats.seconds:.1f} s: a thread per component; disk, tapes in files; fsync when stored"
    )
    print(
        f"  {r.stats.steps:,} steps ({r.stats.steps / r.stats.seconds:,.0f}/s), {completed:,} host requests "
        f"({completed / r.stats.seconds:,.0f}/s), {r.takeovers} take-overs"
    )
    print(
        f"  log validated: {r.validation.verdict}, {r.validation.events:,} events; lost writes: {len(r.lost)}"
    )

    print("\ntake-over against dirty cache (one LU, 4 KiB blocks, disk file, each de-stage flushed):")
    print(f"  {'dirty blocks':>12} {'MiB':>6} {'steps':>6} {'ms':>8}")
    points = []
    with tempfile.TemporaryDirectory() as d:
        for n in (0, 64, 256, 1024, 2048):
            seconds, steps = takeover_seconds(n, d)
            points.append((n, seconds))
            print(f"  {n:>12,} {n * BLOCK / 2**20:>6.2f} {steps:>6} {seconds * 1000:>8.1f}")
    if args.plot:
        draw(points, args.plot)
        print(f"\nplot written to {args.plot}")


if __name__ == "__main__":
    main()
