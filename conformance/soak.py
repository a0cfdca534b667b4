"""The soak test: the real runtime under load, then its log validated against the model
and every acknowledged write read back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.setup import array_of
from conformance.validate import Validation, read_log, validate
from model.scenario import Scenario, from_dict
from reference_impl.runtime import RunStats, Runtime
from reference_impl.workload import pattern_number


def soak_scenario(
    controllers: int = 2, lus: int = 3, blocks: int = 4, background_destage: bool = True
) -> Scenario:
    """An array with LUs spread over the controllers, a host writing each LU and reading
    another, writes and reads without a bound that matters, and take-overs of any LU to any
    controller until the operator stops."""
    per_controller: dict[int, int] = {}
    lu_rows = []
    for lu in range(lus):
        c = lu % controllers
        lu_rows.append({"id": lu, "controller": c, "ext_lun": per_controller.get(c, 0), "blocks": blocks})
        per_controller[c] = per_controller.get(c, 0) + 1
    data: dict[str, Any] = {
        "name": "soak",
        "description": "the real runtime under load: take-overs and take-backs in a loop",
        "array": {"controllers": controllers, "ports": 1, "background_destage": background_destage},
        "lu": lu_rows,
        "host": [{"name": f"host{h}", "writes": [h], "reads": [(h + 1) % lus]} for h in range(lus)],
        "workload": {"writes_per_block": 1_000_000_000, "reads_per_block": 1_000_000_000},
        "takeovers": {"mode": "any", "budget": 1_000_000_000},
    }
    return from_dict(data)


@dataclass
class SoakResult:
    stats: RunStats
    validation: Validation
    takeovers: int  # take-overs completed (Step 809 logged)
    lost: list[str]  # acknowledged writes that did not read back
    bad_reads: list[str]  # reads the hosts themselves found wrong


def soak(
    directory: str | Path,
    seconds: float,
    scenario: Scenario | None = None,
    seed: int = 0,
    bugs: frozenset[str] = frozenset(),
    block_size: int = 4096,
) -> SoakResult:
    scenario = scenario or soak_scenario()
    config, workload = array_of(scenario, block_size)
    runtime = Runtime(config, workload, str(directory), bugs, {"scenario": {"name": scenario.name}})
    try:
        stats = runtime.run(seconds, seed)
        blocks = runtime.read_back()
        hosts = runtime.sim.hosts
    finally:
        runtime.close()
    lost = []
    for host in hosts:
        for (lu, block), n in sorted(host.acked.items()):
            now = pattern_number(blocks[lu, block])
            if now != n:
                lost.append(f"block {block} of LU{lu}: write {n} acknowledged, write {now} reads back")
    with open(runtime.log_path, encoding="utf-8") as log:
        _, read = read_log(log)
        events = list(read)
    validation = validate(scenario, events)
    takeovers = sum(1 for e in events if e.label.action == "resume")
    return SoakResult(stats, validation, takeovers, lost, [r for h in hosts for r in h.bad_reads])
