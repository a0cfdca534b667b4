"""The differential test's result as text and as JSON."""

from __future__ import annotations

from typing import Any

from conformance.difftest import DifftestResult
from lutakeover.diagrams.sequence import trace_dot
from model.actions import Model
from model.scenario import Scenario
from proofs.trace import Counterexample, Step, run_of


def format_difftest(r: DifftestResult) -> str:
    bugs = ", ".join(r.bugs) if r.bugs else "none"
    verdict = "AGREE" if r.divergence is None else "DIVERGED"
    replayed = r.seed is None  # a --replay: one run of the given program, nothing shrunk
    lines = [
        f"difftest {r.scenario}, implementation bugs: {bugs}: {verdict}",
        f"  {r.runs:,} runs, {r.steps:,} steps in lockstep, longest run {r.longest}, {r.seconds:.1f} s"
        + ("" if replayed else f", seed {r.seed}"),
    ]
    if r.divergence is not None:
        lines.append(
            f"the program's {len(r.program)} steps up to the divergence:"
            if replayed
            else f"program shrunk to {len(r.program)} steps, replayable with --replay:"
        )
        lines += [f"  {i:>3}  {label}" for i, label in enumerate(r.program, 1)]
        lines.append(str(r.divergence))
    return "\n".join(lines)


def difftest_json(r: DifftestResult) -> dict[str, Any]:
    d = r.divergence
    return {
        "scenario": r.scenario,
        "impl_bugs": list(r.bugs),
        "seed": r.seed,
        "verdict": r.verdict,
        "runs": r.runs,
        "steps": r.steps,
        "longest_run": r.longest,
        "seconds": round(r.seconds, 3),
        "divergence": None
        if d is None
        else {
            "after_steps": d.step,
            "kind": d.kind,
            "what": d.what,
            "details": d.details,
            "step": None if d.label is None else str(d.label),
        },
        "program": [str(label) for label in r.program],
    }


def divergence_dot(scenario: Scenario, r: DifftestResult) -> str:
    """The program of a divergence as the model runs it, drawn as a sequence diagram with
    the divergence marked at its last step."""
    assert r.divergence is not None, "a result with a divergence"
    m = Model(scenario)
    states, labels = [m.initial()], []
    for label in r.program:
        t = m.transition_labelled(states[-1], label)
        if t is None:  # the step the array took and the model refuses: the run ends before it
            break
        states.append(t.after)
        labels.append(label)
    trace: list[Step] = run_of(states, labels)
    d = r.divergence
    message = d.what + (": " + "; ".join(d.details[:3]) if d.details else "")
    marked = Counterexample("array and model", "divergence", message, trace)
    bugs = ", ".join(r.bugs) or "no implementation bug"
    title = f"difftest {r.scenario}: {bugs}, diverged after {d.step} steps"
    return trace_dot(m, trace, title, marked)
