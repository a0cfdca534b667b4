"""Scenarios for arrays the size of real ones, too large to explore exhaustively.

LU ``i`` starts on controller ``i mod N``, port 0, as external LUN ``i div N``: every
controller presents LUNs 0..k-1 without a gap. Host ``h`` writes the LUs ``i`` with
``i mod H == h`` and reads those of the next host, so every LU has one writer and a reader.
Take-overs are "any" mode: any LU to any other controller, up to a budget.
"""

from __future__ import annotations

from model.scenario import HostSpec, LuSpec, Scenario


def array_scenario(
    controllers: int,
    lus: int,
    blocks: int = 1,
    hosts: int | None = None,
    budget: int | None = None,
    writes_per_block: int = 2,
    reads_per_block: int = 1,
    background_destage: bool = False,
) -> Scenario:
    """An array of ``controllers`` controllers and ``lus`` LUs of ``blocks`` blocks each.

    ``hosts`` defaults to one per controller and ``budget`` to two take-overs per LU;
    ``background_destage`` lets controllers de-stage write-back LUs at any time.
    """
    hosts = hosts if hosts is not None else controllers
    if hosts < 1:
        raise ValueError(f"hosts: {hosts} must be at least 1")
    if lus < 1:
        raise ValueError(f"lus: {lus} must be at least 1")
    specs = tuple(
        LuSpec(
            lu=i,
            controller=i % max(controllers, 1),
            default=i % max(controllers, 1),
            port=0,
            ext_lun=i // max(controllers, 1),
            blocks=blocks,
            physical_address=i * blocks,
        )
        for i in range(lus)
    )
    host_specs = tuple(
        HostSpec(
            name=f"host{h}",
            writes=tuple(i for i in range(lus) if i % hosts == h),
            reads=tuple(i for i in range(lus) if i % hosts == (h + 1) % hosts),
        )
        for h in range(hosts)
    )
    return Scenario(
        name=f"array-{controllers}c-{lus}lu-{blocks}b",
        description=f"{controllers} controllers, {lus} LUs of {blocks} blocks, {hosts} hosts",
        controllers=controllers,
        ports=1,
        lus=specs,
        hosts=host_specs,
        writes_per_block=writes_per_block,
        reads_per_block=reads_per_block,
        mode="any",
        budget=budget if budget is not None else 2 * lus,
        background_destage=background_destage,
    )
