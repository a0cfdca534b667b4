"""Counterexamples as stories: a numbered step table, the broken property's sentence, JSON.

Each state is flattened into named fields with short readable values (``c0.cache``,
``path.LU2``, ``host0``); a step shows only the fields its action changed, starred.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from invariants import LIVENESS, SAFETY
from model.actions import ACTIONS_BY_NAME, Model
from model.state import Job, Op, PairState, Request, Row, Where, World, in_inbox
from model.symmetry import describe_size
from proofs.check import Check, exit_code, symmetry_pays
from proofs.trace import Counterexample

if TYPE_CHECKING:  # z3 and Hypothesis take a third of a second to import: `check` needs neither
    from proofs.bmc import Bmc
    from proofs.simulate import Simulation


def fields(m: Model, w: World) -> dict[str, str]:
    """The state as named, readable fields, in a stable order."""
    out: dict[str, str] = {}
    for lu in range(m.lus):
        out[f"disk.LU{lu}"] = _blocks(w.disk.blocks[lu])
        out[f"disk.table.LU{lu}"] = row_text(w.disk.table[lu])
    for c, ctl in enumerate(w.controllers):
        out[f"c{c}.active"] = " ".join(f"LU{lu}" for lu in ctl.active) or "-"
        out[f"c{c}.write_through"] = " ".join(f"LU{lu}" for lu in ctl.write_through) or "-"
        out[f"c{c}.cache"] = (
            " ".join(f"LU{x.lu}.{x.block}={x.value}{'*dirty' if x.dirty else ''}" for x in ctl.cache) or "-"
        )
        if ctl.destaging:  # shown only while a de-stage is under way: most states have none
            out[f"c{c}.destaging"] = " ".join(f"LU{x.lu}.{x.block}={x.value}" for x in ctl.destaging)
        for lu in range(m.lus):
            out[f"c{c}.table.LU{lu}"] = row_text(ctl.table[lu])
    for lu, path in enumerate(w.paths):
        out[f"path.LU{lu}"] = f"route c{path.route}" + (", suspended" if path.suspended else "")
    for h, request in enumerate(w.hosts):
        out[f"host{h}"] = request_text(request)
    seen: dict[int, int] = {}
    for job in w.jobs:
        seen[job.lu] = seen.get(job.lu, 0) + 1
        suffix = f"#{seen[job.lu]}" if seen[job.lu] > 1 else ""
        out[f"job.LU{job.lu}{suffix}"] = job_text(m, job)
    if m.scenario.mode == "any":
        out["budget"] = str(w.budget)
    elif m.scenario.batches:
        out["batches"] = f"{w.batches} of {len(m.scenario.batches)} designated"
    for i, pair in enumerate(w.pairs):
        spec = m.scenario.pairs[i]
        state = pair.state.name.lower()
        if pair.state is not PairState.PAIRED:
            state += f", diff {_blocks(pair.diff)}"
        if pair.mirror is not None:
            mirror, mirrored = pair.mirror, spec.secondary
            state += f", mirror write LU{mirrored}.{mirror.block}={mirror.value} on c{mirror.controller}"
        out[f"pair{i}"] = f"LU{spec.primary}->LU{spec.secondary} {state}"
        if pair.snapshot:
            out[f"tape.pair{i}"] = f"{_blocks(pair.tape)} of split image {_blocks(pair.snapshot)}"
    if m.scenario.backups:
        out["backups"] = f"{w.backups} of {len(m.scenario.backups)} started"
    if m.scenario.crashes:
        out["crashes"] = f"{w.crashes} of {m.scenario.crashes} left"
    for lu in range(m.lus):
        out[f"acked.LU{lu}"] = _blocks(w.ghost.acked[lu])
    for lu, address in enumerate(w.ghost.designated):
        out[f"designated.LU{lu}"] = f"c{address.controller} port {address.port} ext {address.ext_lun}"
    return out


def row_text(r: Row) -> str:
    return f"port {r.port} ext {r.ext_lun} default {r.default} current {r.current}"


def request_op_text(r: Request) -> str:
    """What a request asks for: ``write LU2.0=1`` or ``read LU2.0``."""
    return f"write LU{r.lu}.{r.block}={r.value}" if r.op is Op.WRITE else f"read LU{r.lu}.{r.block}"


def request_text(r: Request | None) -> str:
    if r is None:
        return "idle"
    what = request_op_text(r)
    if in_inbox(r):
        return f"{what} in c{r.at} inbox"
    if r.at == Where.PATH:
        return f"{what} at path controller"
    if r.at == Where.REPLIED:
        got = "" if r.op is Op.WRITE else f" (got {r.value})"
        return f"{what} replied{got}"
    if r.at == Where.MIRRORING:
        return f"{what} done, reply waits for the mirror write"
    return f"{what} refused NOT READY"


def job_text(m: Model, job: Job) -> str:
    step = m.next_step(job)
    nxt = f"next {step.number} {step.action}" if step is not None else "done"
    return f"c{job.source}->c{job.destination} port {job.port} ext {job.ext_lun}, {nxt}"


def _blocks(values: tuple[int, ...]) -> str:
    return "[" + " ".join(str(v) for v in values) + "]"


def step_rows(m: Model, v: Counterexample) -> list[dict[str, Any]]:
    """One record per step: number, component, action, patent step, changed fields."""
    rows = []
    before = fields(m, v.trace[0].state)
    rows.append(
        {"step": 0, "component": "-", "action": "initial state", "patent_step": "", "changes": before}
    )
    for n, step in enumerate(v.trace[1:], start=1):
        prev_state = v.trace[n - 1].state
        after = fields(m, step.state)
        action = ACTIONS_BY_NAME[step.label.action]
        transition = m.transition_labelled(prev_state, step.label)
        assert transition is not None, f"step {n} of a counterexample is not a step of the model"
        rows.append(
            {
                "step": n,
                "component": str(action.component(prev_state, transition.args)),
                "action": str(step.label),
                "patent_step": action.step.number if action.step is not None else "",
                "changes": _changes(before, after),
            }
        )
        before = after
    return rows


def _changes(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Fields that differ, as "old -> new"; a field that appears or vanishes shows "-"."""
    keys = list(after) + [k for k in before if k not in after]
    return {k: f"{before.get(k, '-')} -> {after.get(k, '-')}" for k in keys if before.get(k) != after.get(k)}


def format_table(m: Model, v: Counterexample) -> str:
    """The counterexample as a numbered step table, ready to print."""
    rows = step_rows(m, v)
    width_c = max(len("component"), *(len(r["component"]) for r in rows))
    width_a = max(len("action"), *(len(r["action"]) + len(r["patent_step"]) + 3 for r in rows))
    lines = [f"{'#':>3}  {'component':<{width_c}}  {'action':<{width_a}}  changed fields (*)"]
    for r in rows:
        action = r["action"] + (f" ({r['patent_step']})" if r["patent_step"] else "")
        changes = list(r["changes"].items())
        if r["step"] == 0:
            first = "the state below"
            lines.append(f"{r['step']:>3}  {r['component']:<{width_c}}  {action:<{width_a}}  {first}")
            for key, value in changes:
                lines.append(f"{'':>3}  {'':<{width_c}}  {'':<{width_a}}    {key}: {value}")
            continue
        marker = "  <- loops back here" if v.loop_start is not None and r["step"] == v.loop_start else ""
        head = f"{r['step']:>3}  {r['component']:<{width_c}}  {action:<{width_a}}"
        if not changes:
            lines.append(head + "  (nothing visible)" + marker)
        for i, (key, value) in enumerate(changes):
            prefix = head if i == 0 else f"{'':>3}  {'':<{width_c}}  {'':<{width_a}}"
            lines.append(f"{prefix}  *{key}: {value}" + (marker if i == 0 else ""))
    if v.loop_start is not None:
        lines.append(f"{'':>3}  ... and from here the run returns to step {v.loop_start}, forever")
    return "\n".join(lines)


STATUS = {  # a property's status in words, by (kind, Check.status)
    ("safety", True): "holds",
    ("safety", False): "VIOLATED",
    ("safety", None): "no violation found",
    ("liveness", True): "holds",
    ("liveness", False): "VIOLATED",
    ("liveness", None): "not checked",
}


def _composed(check: Check) -> str:
    """How the composed search split the array: records per LU, or per group of LUs."""
    records = check.lu_records or []
    groups = check.lu_groups or [[lu] for lu in range(len(records))]
    if all(len(group) == 1 for group in groups):
        return f", composed per LU from {', '.join(f'{n:,}' for n in records)} LU records"
    named = [
        f"{n:,} of {'+'.join(f'LU{lu}' for lu in group)}" for n, group in zip(records, groups, strict=True)
    ]
    return f", composed per group of LUs from records {', '.join(named)}"


def format_check(check: Check) -> str:
    """The human-readable report of a check: statistics, verdict, counterexamples."""
    m, s = check.model, check.search
    lines = [f"scenario {m.scenario.name}, variant {m.protocol.name}: {check.verdict.upper()}"]
    if check.lu_spaces is None:
        lines.append(
            f"  {s.states:,} states, {s.transitions:,} transitions, depth {s.depth}, "
            f"{s.seconds:.2f} s ({s.states_per_second:,.0f} states/s)"
            + (f", symmetry reduction over {check.symmetry} permutations" if check.symmetry > 1 else "")
            + (_composed(check) if check.lu_records is not None else "")
        )
    elif check.counterexamples:
        lines.append(
            f"  per-LU product: LU spaces of {', '.join(f'{n:,}' for n in check.lu_spaces)} states "
            f"searched ({s.transitions:,} transitions), {s.seconds:.2f} s"
        )
    else:
        lines.append(
            f"  {s.states:,} states, depth {s.depth}, by the per-LU product of LU spaces of "
            f"{', '.join(f'{n:,}' for n in check.lu_spaces)} states ({s.transitions:,} transitions "
            f"searched), {s.seconds:.2f} s"
        )
    if (
        check.lu_spaces is None
        and check.symmetry == 1
        and check.symmetries != 1
        and not symmetry_pays(check.model.scenario, check.symmetries)
    ):
        lines.append(
            f"  no symmetry reduction: {describe_size(check.symmetries)} permutations cost more than "
            "they save (--symmetry forces it)"
        )
    if not s.complete and not s.violations:
        lines.append("  incomplete: the state limit stopped the search; nothing is proved")
    for kind, props in (("safety", SAFETY), ("liveness", LIVENESS)):
        for p in props:
            lines.append(f"  {STATUS[kind, check.status(p.name, kind)]:<18} {p.name}: {p.description}")
    for name, depth in check.witnesses.items():
        status = f"reached at depth {depth}" if depth is not None else "NEVER REACHED"
        lines.append(f"  witness {name}: {status}")
    lines.extend(f"  {w}" for w in vacuity_warnings(check.untested))
    for v in check.shortest().values():
        lines.append("")
        kind = {"safety": "", "deadlock": " (liveness: dead end)", "cycle": " (liveness: fair cycle)"}[v.kind]
        lines.append(f"{v.property} is violated{kind} after {len(v.trace) - 1} steps:")
        lines.append(format_table(m, v))
        lines.append(f"=> {v.message}")
    return "\n".join(lines)


def vacuity_warnings(untested: dict[str, str]) -> list[str]:
    """A warning for each property the scenario never puts to the test (text and HTML)."""
    return [f"warning: {name} holds vacuously: {why}" for name, why in untested.items()]


def check_json(check: Check) -> dict[str, Any]:
    """The whole result as JSON-ready data."""
    m, s = check.model, check.search
    by_property = check.shortest()
    properties: dict[str, Any] = {}
    for kind, props in (("safety", SAFETY), ("liveness", LIVENESS)):
        for p in props:
            v = by_property.get(p.name)
            properties[p.name] = {
                "kind": kind,
                "description": p.description,
                "holds": check.status(p.name, kind),
                "message": v.message if v is not None else None,
                "trace_length": len(v.trace) - 1 if v is not None else None,
            }
    return {
        "scenario": m.scenario.name,
        "variant": m.protocol.name,
        "verdict": check.verdict,
        "exit_code": check.exit_code,
        "complete": s.complete,
        "states": s.states,
        "transitions": s.transitions,
        "depth": s.depth,
        "seconds": round(s.seconds, 3),
        "states_per_second": round(s.states_per_second),
        "symmetry_permutations": check.symmetry,
        "lu_spaces": check.lu_spaces,
        "lu_records": check.lu_records,
        "lu_groups": check.lu_groups,
        "liveness_checked": s.liveness_checked,
        "properties": properties,
        "witnesses": {
            name: {"reached": depth is not None, "depth": depth} for name, depth in check.witnesses.items()
        },
        "vacuous": check.untested,
        "counterexamples": [
            {
                "property": v.property,
                "kind": v.kind,
                "message": v.message,
                "loop_start": v.loop_start,
                "steps": step_rows(m, v),
            }
            for v in by_property.values()
        ],
    }


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def format_simulation(sim: Simulation) -> str:
    """The human-readable report of `simulate`: statistics, witnesses, the failure if any."""
    m = sim.model
    lines = [
        f"simulate {m.scenario.name}, variant {m.protocol.name}, seed {sim.seed}: {sim.verdict.upper()}",
        f"  {sim.runs:,} runs, {sim.rule_calls:,} rule calls (at most {sim.most_rule_calls} in a run), "
        f"{sim.steps:,} transitions (deepest run {sim.deepest}), "
        f"{sim.search_seconds or sim.seconds:.1f} s ({sim.steps_per_second:,.0f} transitions/s)",
        "  (a rule call takes one transition, a whole take-over or a burst of host I/O; "
        "transitions include the settling ones)",
    ]
    asked = f"{sim.runs:,} of --runs {sim.runs_asked:,}"
    if sim.failure is not None:
        lines.append(f"  the search stopped at its first failing run, run {asked}")
    elif sim.runs < sim.runs_asked:
        lines.append(f"  Hypothesis had no new runs to try after {asked}")
    if sim.abandoned:
        lines.append(
            f"  not counted: {sim.abandoned:,} runs Hypothesis abandoned part-way (more random choices "
            "than it allowed them)"
        )
    for name, depth in sim.witnesses.items():
        status = f"reached at step {depth}" if depth is not None else "NEVER REACHED"
        lines.append(f"  witness {name}: {status}")
    lines.extend(f"  {w}" for w in vacuity_warnings(sim.untested))
    v = sim.failure
    if v is not None:
        kind = " (liveness: the run settles with it pending)" if v.kind == "deadlock" else ""
        lines += ["", f"{v.property} is violated{kind} after {len(v.trace) - 1} steps:"]
        # How the failing run was found and shrunk, on one line.
        if sim.found_steps is None or sim.shrunk_steps is None:  # not a run of `simulate` itself
            parts = []
        else:
            parts = [f"found in a run of {sim.found_steps} steps"]
            if sim.shrunk_steps != sim.found_steps:
                parts.append(
                    f"Hypothesis shrank it to {sim.shrunk_steps} steps in {sim.shrink_runs:,} more runs"
                )
            after = len(v.trace) - 1
            if after != sim.shrunk_steps:
                parts.append(
                    f"shrunk from {sim.shrunk_steps} to {after} steps by replay ({sim.replays:,} replays)"
                )
            else:
                parts.append(f"replay dropped no step ({sim.replays:,} replays)")
            if not sim.minimised:
                parts.append("replay stopped at its budget")
        lines.append("  " + "; ".join([*parts, f"{sim.seconds:.1f} s in all"]))
        lines.append(format_table(m, v))
        lines.append(f"=> {v.message}")
        lines += ["", "A pytest test that replays it:", "", sim.program or ""]
    return "\n".join(lines)


def simulation_json(sim: Simulation) -> dict[str, Any]:
    v = sim.failure
    return {
        "scenario": sim.model.scenario.name,
        "variant": sim.model.protocol.name,
        "seed": sim.seed,
        "verdict": sim.verdict,
        "exit_code": exit_code(sim.verdict),
        "runs": sim.runs,
        "runs_asked": sim.runs_asked,
        "rule_calls": sim.rule_calls,
        "most_rule_calls": sim.most_rule_calls,
        "transitions": sim.steps,
        "deepest": sim.deepest,
        "abandoned_runs": sim.abandoned,
        "search_seconds": round(sim.search_seconds or sim.seconds, 3),
        "seconds": round(sim.seconds, 3),
        "transitions_per_second": round(sim.steps_per_second),
        "witnesses": {name: {"reached": d is not None, "step": d} for name, d in sim.witnesses.items()},
        "vacuous": sim.untested,
        "failure": None
        if v is None
        else {
            "property": v.property,
            "kind": v.kind,
            "message": v.message,
            "shrinking": {
                "found_steps": sim.found_steps,
                "hypothesis_steps": sim.shrunk_steps,
                "hypothesis_runs": sim.shrink_runs,
                "replay_steps": len(v.trace) - 1,
                "replays": sim.replays,
                "fixed_point": sim.minimised,
            },
            "steps": step_rows(sim.model, v),
            "program": sim.program,
        },
    }


def format_bmc(m: Model, result: Bmc) -> str:
    """The human-readable report of `bmc`: the bound reached, the counterexample if any."""
    head = f"scenario {m.scenario.name}, variant {m.protocol.name}: "
    times = f"{result.seconds:.2f} s"
    if result.violation is not None:
        v = result.violation
        lines = [
            head + "VIOLATED (bounded model checking)",
            f"  a run of {len(v.trace) - 1} steps breaks a safety property; no shorter run does ({times})",
            "",
            f"{v.property} is violated after {len(v.trace) - 1} steps:",
            format_table(m, v),
            f"=> {v.message}",
        ]
    elif result.unknown is not None:
        lines = [
            head + "UNKNOWN",
            f"  no violation in runs of up to {result.reached} steps; then, at {result.unknown}",
        ]
    else:
        lines = [
            head + f"OK up to depth {result.depth}",
            f"  no run of at most {result.depth} steps breaks a safety property ({times}); a bound, not a "
            "proof: `check` explores every state, `prove` covers every array size",
        ]
    return "\n".join(lines)


def bmc_json(m: Model, result: Bmc) -> dict[str, Any]:
    v = result.violation
    return {
        "scenario": m.scenario.name,
        "variant": m.protocol.name,
        "engine": "bmc",
        "verdict": result.verdict,
        "exit_code": exit_code(result.verdict),
        "depth": result.depth,
        "reached": result.reached,
        "seconds": round(result.seconds, 3),
        "seconds_per_depth": [round(t, 3) for t in result.per_depth],
        "unknown": result.unknown,
        "counterexample": None
        if v is None
        else {
            "property": v.property,
            "message": v.message,
            "trace_length": len(v.trace) - 1,
            "steps": step_rows(m, v),
        },
    }
