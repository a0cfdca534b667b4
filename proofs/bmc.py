"""Bounded model checking: the transition relation of ``proofs/encoding.py`` unrolled in z3.

Depth by depth, one incremental solver asks whether some run of exactly ``k`` steps from
the initial state ends in a state breaking a safety property; the first ``k`` that says
yes is the length of a shortest counterexample, as breadth-first search's is. The run is
read back from z3's model as worlds and replayed through the Python model, which names
each step and proves the decoded run is a real one: a step the model cannot take is
reported as a disagreement between the encoding and the model, never printed as a trace.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from invariants.safety import SAFETY, first_broken
from model.actions import Model
from model.labels import INITIAL
from proofs.encoding import Encoding, Sym
from proofs.explicit import Progress
from proofs.trace import Counterexample, Step


class EncodingDisagrees(RuntimeError):
    """z3 found a step the Python model does not take: the two writings of the model differ."""


class _OutOfTime(Exception):
    """Encoding a depth's steps took longer than the timeout; carries the instances built."""


@dataclass
class Bmc:
    """What a bounded run found."""

    depth: int  # the bound asked for
    reached: int  # the deepest depth fully checked
    seconds: float = 0.0
    per_depth: list[float] = field(default_factory=list)  # seconds of each depth's query
    violation: Counterexample | None = None
    unknown: str | None = None  # z3's reason when it could not decide a depth

    @property
    def verdict(self) -> str:
        if self.violation is not None:
            return "violated"
        if self.unknown is not None:
            return "unknown"
        return "ok"


def bmc(
    m: Model,
    depth: int,
    *,
    timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
    encoding: Encoding | None = None,
) -> Bmc:
    """Look for a safety violation in runs of at most ``depth`` steps of ``m``; ``encoding``
    replaces the model's own (tests use it to show a drifted encoding is caught). Raises
    ``EncodingLimit`` (a ValueError naming the scenario field) when a number of the
    scenario is too wide for the encoding's bit-vectors."""
    enc = encoding if encoding is not None else Encoding(m)
    solver = _solver(timeout)
    states: list[Sym] = [enc.layout.variables("s0.")]
    solver.add(enc.initial(states[0]))
    result = Bmc(depth=depth, reached=-1)
    start = time.perf_counter()
    # The timeout covers a depth's encoding too: on an array of many LUs building its steps
    # takes minutes before z3 is asked anything (and gets a progress line meanwhile).
    ticker = Progress(progress)
    began = start
    k = 0

    def building(built: int) -> None:
        if timeout is not None and time.perf_counter() - began > timeout:
            raise _OutOfTime(built)
        seconds = ticker.due()
        if progress is not None and seconds is not None:
            progress(f"depth {k}: encoding its steps, {built:,} action instances so far ({seconds:.0f} s)")

    saved, enc.building = enc.building, building
    try:
        for k in range(depth + 1):
            began = time.perf_counter()
            if k > 0:
                states.append(enc.layout.variables(f"s{k}."))
                try:
                    solver.add(enc.transition(states[k - 1], states[k], f"choice{k}"))
                except _OutOfTime as e:
                    result.unknown = (
                        f"depth {k}: encoding its steps took more than {timeout:g} s "
                        f"({e.args[0]:,} action instances built)"
                    )
                    break
            t0 = time.perf_counter()
            bad = z3.Bool(f"bad{k}")
            solver.add(z3.Implies(bad, z3.Not(z3.And(list(enc.properties(states[k]).values())))))
            answer = solver.check(bad)
            result.per_depth.append(time.perf_counter() - t0)
            if answer == z3.unknown:
                result.unknown = f"depth {k}: z3 gave no answer ({solver.reason_unknown()})"
                break
            if answer == z3.sat:
                result.violation = _counterexample(m, enc, solver.model(), states)
                result.reached = k
                break
            result.reached = k
            if progress is not None:
                progress(f"depth {k}: no violation ({result.per_depth[-1]:.2f} s)")
    finally:
        enc.building = saved
    result.seconds = time.perf_counter() - start
    return result


def _solver(timeout: float | None) -> z3.Solver:
    """The solver of one bounded check (tests replace it). QF_BV with assumption literals
    keeps z3 on its incremental SAT core: clauses learnt refuting depth k are kept for
    depth k + 1 (about 50x faster than a fresh solver each depth, or than integer
    arithmetic, on fig5)."""
    solver = z3.SolverFor("QF_BV")
    if timeout is not None:
        solver.set("timeout", int(timeout * 1000))
    return solver


def _counterexample(m: Model, enc: Encoding, model: z3.ModelRef, states: list[Sym]) -> Counterexample:
    worlds = [enc.layout.read(model, s) for s in states]
    if worlds[0] != m.initial():
        raise EncodingDisagrees("the run z3 found does not start in the model's initial state")
    trace = [Step(INITIAL, worlds[0])]
    for k, (before, after) in enumerate(itertools.pairwise(worlds), start=1):
        label = next((t.label(before) for t in m.transitions(before) if t.after == after), None)
        if label is None:
            raise EncodingDisagrees(f"step {k} of the run z3 found is not a step of the model")
        trace.append(Step(label, after))
    broken = first_broken(m, worlds[-1])
    if broken is None:
        raise EncodingDisagrees("the last state of the run z3 found breaks no property of the model")
    name, message = broken
    return Counterexample(name, "safety", message, trace)


PROPERTIES: tuple[str, ...] = tuple(p.name for p in SAFETY)
