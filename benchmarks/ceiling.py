"""How fast the search of whole states could go if the model's successors cost nothing.

Every reachable state's successors are worked out first and kept in a dict; the search
then runs three times in one process, alternating nothing else:

- with the model's successor function and the safety properties (what `check` does);
- with the successors looked up in the dict, and the properties;
- with the successors looked up, and no property.

The second and third rows are the ceiling of any cache of the model's successor function
(by state, or by what each action reads) over the model's states, the nested `World`
records: what is left is the engine's own work (hashing a state, the fingerprint index,
parent links, the frontier) and the properties.

    python benchmarks/ceiling.py                      # three-way, multi-block, fig5
    python benchmarks/ceiling.py chain crash-takeover"""

from __future__ import annotations

import argparse
import time

from invariants import SAFETY
from model.actions import Model
from model.labels import Label
from model.scenario import builtin, builtin_names
from model.sharing import Sharing
from model.state import World
from proofs.check import bind
from proofs.explicit import Invariant, Successors, explore

DEFAULT = ("three-way", "multi-block", "fig5")


def every_successor(m: Model) -> dict[World, list[tuple[Label, World]]]:
    """Each reachable state's successors, as the model gives them: kept as a search asks
    for them (it asks once for each state it reaches)."""
    found: dict[World, list[tuple[Label, World]]] = {}

    def remember(w: World) -> list[tuple[Label, World]]:
        found[w] = m.successors(w)
        return found[w]

    explore([m.initial()], remember)
    return found


def measure(name: str) -> list[tuple[str, int, float]]:
    """(row, states, seconds) of the three searches of built-in ``name``."""
    m = Model(builtin(name))
    looked_up = every_successor(m)
    properties: list[tuple[str, Invariant[World]]] = [(p.name, bind(p.check, m)) for p in SAFETY]
    rows: list[tuple[str, Successors[World], list[tuple[str, Invariant[World]]]]] = [
        ("model's successors, properties", m.successors, properties),
        ("looked up, properties", looked_up.__getitem__, properties),
        ("looked up, no property", looked_up.__getitem__, []),
    ]
    out = []
    for row, successors, invariants in rows:
        started = time.perf_counter()
        search = explore([m.initial()], successors, invariants, share=Sharing())
        out.append((row, search.states, time.perf_counter() - started))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="SCENARIO", help=f"built-ins (default {', '.join(DEFAULT)})"
    )
    args = parser.parse_args()
    names = args.names or list(DEFAULT)
    unknown = [n for n in names if n not in builtin_names()]
    if unknown:
        parser.error(f"no built-in scenario called {', '.join(unknown)}; known: {', '.join(builtin_names())}")
    print(f"{'scenario':<20} {'search':<32} {'states':>8} {'seconds':>8} {'states/s':>9} {'µs/state':>9}")
    for name in names:
        for row, states, seconds in measure(name):
            print(
                f"{name:<20} {row:<32} {states:>8,} {seconds:>8.2f} {states / seconds:>9,.0f} "
                f"{1e6 * seconds / states:>9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
