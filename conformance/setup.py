"""A model scenario as an array and what is done to it."""

from __future__ import annotations

import hashlib
from dataclasses import fields, replace

from model.scenario import MAX_NUMBER, Scenario, ServedScenario
from reference_impl.config import ArrayConfig, BatchConfig, HostConfig, LuConfig, PairConfig, Workload


def array_of(scenario: Scenario, block_size: int = 512) -> tuple[ArrayConfig, Workload]:
    """The array the scenario describes, and its hosts' and operator's workload. LUs are
    laid out one after another on the disk (the scenario's physical addresses are labels
    of Fig. 2, not extents)."""
    lus, address = [], 0
    for spec in scenario.lus:
        lus.append(
            LuConfig(
                spec.lu,
                spec.ext_lun,
                spec.port,
                spec.default,
                spec.controller,
                spec.blocks,
                spec.raid_group,
                spec.raid_level,
                physical_address=address,
            )
        )
        address += spec.blocks
    direct = scenario.topology == "direct"
    config = ArrayConfig(
        scenario.controllers,
        scenario.ports,
        tuple(lus),
        block_size,
        scenario.background_destage,
        pairs=tuple(PairConfig(p.primary, p.secondary) for p in scenario.pairs),
        cables=tuple(h.controller for h in scenario.hosts if h.controller is not None) if direct else (),
    )
    workload = Workload(
        hosts=tuple(HostConfig(h.name, h.writes, h.reads) for h in scenario.hosts),
        writes_per_block=scenario.writes_per_block,
        reads_per_block=scenario.reads_per_block,
        mode=scenario.mode,
        batches=tuple(BatchConfig(b.lus, b.destination, b.port, b.ext_luns) for b in scenario.batches),
        budget=scenario.budget,
        takeover_port=scenario.takeover_port,
        backups=scenario.backups,
        crashes=scenario.crashes,
    )
    return config, workload


def for_real_clients(scenario: Scenario) -> ServedScenario:
    """The scenario as the array serves it to real clients (NBD): LUs of any served size,
    each host reading every LU it writes (a block device is read as well as written), and
    no bound on how often a block is written or read. ``lutakeover validate`` reads a log
    of such a run (its header says ``"hosts": "nbd"``) against this same scenario."""
    hosts = tuple(replace(h, reads=tuple(sorted(set(h.reads) | set(h.writes)))) for h in scenario.hosts)
    kept = {f.name: getattr(scenario, f.name) for f in fields(scenario)}
    return ServedScenario(
        **{**kept, "hosts": hosts, "writes_per_block": MAX_NUMBER, "reads_per_block": MAX_NUMBER}
    )


def scenario_digest(scenario: Scenario) -> str:
    """A digest of everything ``scenario`` says (its repr: tuples and numbers, no sets, so
    the same in every process): written into an array's identity and its log's header, so
    that recovering or validating with another scenario is noticed."""
    return hashlib.sha256(repr(scenario).encode()).hexdigest()
