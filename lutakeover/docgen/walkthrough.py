"""The backup cycle of Figs. 8/9 as a table, generated from the model for docs/backup.md.

    python -m lutakeover.docgen.walkthrough     # prints the table docs/backup.md embeds

A test compares the output with the document, so the walkthrough cannot drift from the model.
"""

from __future__ import annotations

from model.actions import ACTIONS_BY_NAME, Model
from model.scenario import builtin
from model.state import World
from proofs.replay import replay


def backup_cycle(lu: int, source: int, pair: int, index: int) -> list[str]:
    """The action labels of one correct backup cycle of ``lu`` through controller 2 (fig9)."""
    job = f"LU{lu} c{source}->c2"
    return [
        f"split_pair backup {index}",
        f"migrate_out {job}",
        f"begin_backup_destage {job}",
        f"purge_backup {job}",
        f"hand_over {job}",
        f"backup_block {job} block 0",
        f"backup_done {job}",
        f"request_resync {job}",
        f"migrate_back {job}",
        f"begin_return_destage {job}",
        f"purge_return {job}",
        f"return_control {job}",
        f"resync_done pair{pair}",
    ]


def _row(w: World, lu: int) -> str:
    r = w.disk.table[lu]
    return f"{r.default} / {r.current}"


def _owner(w: World, lu: int) -> str:
    return ", ".join(f"c{c}" for c, ctl in enumerate(w.controllers) if lu in ctl.active) or "none"


def fig9_table() -> str:
    """Both mirrors of fig9 backed up side by side, as Figs. 8B and 9B show them: one row
    per step with the default / current controller numbers of LU1 and LU3 (the disk's
    table, which every controller's table equals outside Steps 902 and 907), who is in
    charge, and the pairs' states."""
    m = Model(builtin("fig9"))
    first, second = backup_cycle(1, 0, 0, 0), backup_cycle(3, 1, 1, 1)
    labels = [label for both in zip(first, second, strict=True) for label in both]
    lines = [
        "| # | step | action | LU1 default / current | LU3 default / current | LU1 in charge "
        "| LU3 in charge | pair 0 | pair 1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, step in enumerate(replay(m, labels)):
        w = step.state
        action = ACTIONS_BY_NAME.get(step.label.action)
        number = action.step.number if action is not None and action.step is not None else ""
        pairs = [p.state.name.lower() for p in w.pairs]
        lines.append(
            f"| {n} | {number} | {step.label} | {_row(w, 1)} | {_row(w, 3)} | {_owner(w, 1)} "
            f"| {_owner(w, 3)} | {pairs[0]} | {pairs[1]} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(fig9_table())
