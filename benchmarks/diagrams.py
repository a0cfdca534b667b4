"""How long each diagram takes to build (from the model) and to lay out (Graphviz), and how
the state graph's layout time grows with its number of nodes.

    python benchmarks/diagrams.py

Prints figures; asserts nothing about time (the machine is shared and noisy).
"""

from __future__ import annotations

import shutil
import time

from lutakeover.diagrams.dot import render
from lutakeover.diagrams.state_graph import _full_dot, reachable
from lutakeover.docgen.docs_diagrams import DIAGRAMS
from model.actions import Model
from model.scenario import builtin


def main() -> None:
    engine = shutil.which("dot") or "pygraphviz's bundled Graphviz"
    print(f"renderer: {engine}")
    print(f"{'diagram':<32} {'build s':>8} {'layout s':>9} {'DOT bytes':>10} {'SVG bytes':>10}")
    for name, (_what, build) in DIAGRAMS.items():
        started = time.perf_counter()
        source = build()
        built = time.perf_counter()
        svg = render(source, "svg")
        laid = time.perf_counter()
        print(f"{name:<32} {built - started:>8.2f} {laid - built:>9.2f} {len(source):>10,} {len(svg):>10,}")
    print()
    print("state graph of fig5, first N states (layout time grows faster than N):")
    m = Model(builtin("fig5"))
    for n in (50, 100, 150, 300):
        source = _full_dot(m, reachable(m, n), None)
        started = time.perf_counter()
        render(source, "svg")
        print(f"  {n:>4} nodes: {time.perf_counter() - started:6.2f} s")


if __name__ == "__main__":
    main()
