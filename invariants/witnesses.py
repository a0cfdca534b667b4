"""Reachability witnesses and liveness obligations of both embodiments.

A witness is something that must *sometimes* happen: a run of the checker in which a
witness is never reached fails, because a model whose guards forbid everything would
otherwise satisfy every safety property. Witnesses are predicates over one transition
(state before, action label, state after), so they need no history in the state.

Liveness is stated as obligations: each state owes a set of things (a take-over to finish,
a path to resume, a request to answer); under weak fairness every obligation must be
discharged. The explicit checker finds fair cycles and dead ends that keep one pending.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import pairwise

from model.actions import Model
from model.labels import Label
from model.protocol import Step
from model.state import Op, PairState, World


@dataclass(frozen=True)
class Witness:
    name: str
    description: str
    applies: Callable[[Model], bool]
    reached: Callable[[Model, World, Label, World], bool]


def _takeover_completes(m: Model, before: World, label: Label, after: World) -> bool:
    # Recovery after a crash completes take-overs too, but not through Step 809.
    return label.action != "crash_recover" and sum(not j.backup for j in after.jobs) < sum(
        not j.backup for j in before.jobs
    )


def _backup_completes(m: Model, before: World, label: Label, after: World) -> bool:
    return label.action == "return_control"


def _write_tracked_during_split(m: Model, before: World, label: Label, after: World) -> bool:
    return any(len(a.diff) > len(b.diff) for a, b in zip(after.pairs, before.pairs, strict=True))


def _moves_lus(m: Model) -> bool:
    return m.scenario.mode == "any" or bool(m.scenario.batches)


def _backs_up(m: Model) -> bool:
    return bool(m.scenario.backups)


def _backs_up_written_pair(m: Model) -> bool:
    return any(m.writer[m.scenario.pairs[i].primary] is not None for i in m.scenario.backups)


def _write_acked_during_destage(m: Model, before: World, label: Label, after: World) -> bool:
    if label.action != "complete":
        return False
    request = before.hosts[label.args[0]]
    if request is None or request.op is not Op.WRITE:
        return False
    for job in before.jobs:
        if job.backup:
            continue
        done = m.order[: job.done]
        if job.lu == request.lu and Step.BEGIN_DESTAGE in done and Step.STOP_SOURCE not in done:
            return True
    return False


def _concurrent_takeovers(m: Model, before: World, label: Label, after: World) -> bool:
    # Judged on the state after any step, so a designation made while another take-over is
    # under way counts as much as a batch of two. A backup cycle is not a take-over here.
    return len({job.lu for job in after.jobs if not job.backup}) >= 2


def _takeback(m: Model, before: World, label: Label, after: World) -> bool:
    # Step 801 refuses a move to the controller an LU is on, so a take-over ending on the
    # LU's first controller brings it back there: its last step's label names the job.
    if not _takeover_completes(m, before, label, after):
        return False
    lu, _, destination = label.args[:3]
    return destination == m.scenario.lus[lu].controller


def _primary_moved_during_backup(m: Model, before: World, label: Label, after: World) -> bool:
    # A step of a primary's take-over (Steps 802-809) while its mirror is away or split.
    if not label.is_job_step():
        return False
    lu = label.args[0]
    i = m.pair_of[lu]
    if i is None or m.scenario.pairs[i].primary != lu:
        return False
    return before.pairs[i].state is not PairState.PAIRED


def _moves_a_backed_up_primary(m: Model) -> bool:
    primaries = {m.scenario.pairs[i].primary for i in m.scenario.backups}
    return any(lu in primaries for b in m.scenario.batches for lu in b.lus)


def _has_writes(m: Model) -> bool:
    return _moves_lus(m) and m.scenario.writes_per_block > 0 and any(w is not None for w in m.writer)


def _may_move_two(m: Model) -> bool:
    s = m.scenario
    if s.mode == "any":
        return s.budget >= 2 and m.lus >= 2
    # A batch of two LUs, or two batches one after the other with no LU in common: once the
    # first has written its rows (803), Step 801 takes the second as it would after 809.
    one_at_a_time = any(not set(a.lus) & set(b.lus) for a, b in pairwise(s.batches))
    return one_at_a_time or any(len(b.lus) >= 2 for b in s.batches)


def _crashes_moving(m: Model) -> bool:
    return m.scenario.crashes > 0 and _moves_lus(m)


def _crashes_backing_up(m: Model) -> bool:
    return m.scenario.crashes > 0 and _backs_up(m)


def _recovery_completes_takeover(m: Model, before: World, label: Label, after: World) -> bool:
    # The case recovery's de-stage is for: the source still holds a dirty line of the LU.
    if label.action != "crash_recover":
        return False
    return any(
        not job.backup
        and any(line.lu == job.lu and line.dirty for line in before.controllers[job.source].cache)
        for job in before.jobs
    )


def _recovery_abandons_backup(m: Model, before: World, label: Label, after: World) -> bool:
    return label.action == "crash_recover" and any(job.backup for job in before.jobs)


def _may_take_back(m: Model) -> bool:
    # Scripts only. In "any" mode controllers are interchangeable and the checker may judge
    # witnesses on renamed representatives (symmetry reduction), where "the controller the LU
    # started on" names no particular controller: the first take-over of an LU, renamed,
    # would pass for its return. Telling a return from a first move there needs the LU's
    # past controllers in the state.
    s = m.scenario
    return s.mode == "scripted" and any(
        b.destination == s.lus[lu].controller for b in s.batches for lu in b.lus
    )


WITNESSES: tuple[Witness, ...] = (
    Witness("takeover_completes", "a take-over runs through Step 809", _moves_lus, _takeover_completes),
    Witness(
        "write_acked_during_destage",
        "a write is acknowledged while its LU is being de-staged (Steps 804-808)",
        _has_writes,
        _write_acked_during_destage,
    ),
    Witness(
        "concurrent_takeovers", "two LUs are being taken over at once", _may_move_two, _concurrent_takeovers
    ),
    Witness(
        "takeback",
        "an LU is taken back by the controller it started on",
        _may_take_back,
        _takeback,
    ),
    Witness("backup_completes", "a backup cycle runs through Step 909", _backs_up, _backup_completes),
    Witness(
        "recovery_completes_takeover",
        "the array crashes during a take-over while the source holds a dirty line of the LU",
        _crashes_moving,
        _recovery_completes_takeover,
    ),
    Witness(
        "recovery_abandons_backup",
        "the array crashes during a backup cycle",
        _crashes_backing_up,
        _recovery_abandons_backup,
    ),
    Witness(
        "primary_moved_during_backup",
        "a primary is taken over while its pair is split for a backup",
        _moves_a_backed_up_primary,
        _primary_moved_during_backup,
    ),
    Witness(
        "write_tracked_during_split",
        "a write to a split primary is recorded in the difference information",
        _backs_up_written_pair,
        _write_tracked_during_split,
    ),
)


def untested_properties(m: Model) -> dict[str, str]:
    """Safety properties the scenario never puts to the test, each with the reason.

    Such a property holds vacuously: "no acknowledged write is lost" says nothing about a
    scenario in which no host writes. The run still passes, but the report says so."""
    s = m.scenario
    written = {lu for lu, h in enumerate(m.writer) if h is not None} if s.writes_per_block else set()
    moving = set(range(m.lus)) if s.mode == "any" else {lu for b in s.batches for lu in b.lus}
    moving |= {s.pairs[i].primary for i in s.backups}
    untested: dict[str, str] = {}
    if not written:
        untested["no_acknowledged_write_lost"] = "no host writes any LU"
    elif not written & moving:
        untested["no_acknowledged_write_lost"] = "no LU that a host writes is ever taken over or backed up"
    read = any(host.reads for host in s.hosts) and s.reads_per_block > 0
    if not read:
        untested["reads_return_written_data"] = "no host reads any LU"
    elif not written:
        untested["reads_return_written_data"] = "no host writes, so every read returns the initial zeros"
    return untested


# --- liveness --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Liveness:
    name: str
    description: str
    pending: Callable[[Model, World], frozenset[Hashable]]


def _batches_pending(m: Model, w: World) -> frozenset[Hashable]:
    return batches_pending(m, w.batches) | backups_pending(m, w.backups)


def batches_pending(m: Model, designated: int) -> frozenset[Hashable]:
    """The script's batches still owed once ``designated`` of them are."""
    return frozenset(("batch", i) for i in range(designated, len(m.scenario.batches)))


def backups_pending(m: Model, begun: int) -> frozenset[Hashable]:
    """The backup script's cycles still owed once ``begun`` of them are."""
    return frozenset(("backup", i) for i in range(begun, len(m.scenario.backups)))


def _resyncs_pending(m: Model, w: World) -> frozenset[Hashable]:
    # From the split on, not only once 906 asks: a backup host that never asks (906 left
    # out) would otherwise leave the pair split forever with nothing owed.
    return frozenset(("resync", i) for i, pair in enumerate(w.pairs) if pair.state is not PairState.PAIRED)


def _takeovers_pending(m: Model, w: World) -> frozenset[Hashable]:
    return frozenset(("takeover", job.lu, job.source, job.destination) for job in w.jobs)


def _suspended_paths(m: Model, w: World) -> frozenset[Hashable]:
    return frozenset(("path", lu) for lu, path in enumerate(w.paths) if path.suspended)


def _unanswered_requests(m: Model, w: World) -> frozenset[Hashable]:
    return frozenset(
        ("request", h, r.op, r.lu, r.block, r.value if r.op is Op.WRITE else 0)
        for h, r in enumerate(w.hosts)
        if r is not None
    )


LIVENESS: tuple[Liveness, ...] = (
    Liveness("takeovers_complete", "every take-over designated at Step 801 completes", _takeovers_pending),
    Liveness("paths_resumed", "every path suspended at Step 806 is resumed", _suspended_paths),
    Liveness("requests_answered", "every host request is eventually answered", _unanswered_requests),
    Liveness(
        "script_completes",
        "every batch (Step 801) and backup (Step 901) of a scripted scenario is started",
        _batches_pending,
    ),
    Liveness("pairs_resynced", "every pair split at Step 901 is paired again (906)", _resyncs_pending),
)


def obligations(m: Model, w: World) -> frozenset[Hashable]:
    """Everything ``w`` owes, tagged so each key names the liveness property it belongs to."""
    return frozenset().union(*(live.pending(m, w) for live in LIVENESS))


def liveness_of(key: Hashable) -> Liveness:
    """The liveness property an obligation key belongs to."""
    assert isinstance(key, tuple), key
    kinds = {"takeover": 0, "path": 1, "request": 2, "batch": 3, "backup": 3, "resync": 4}
    return LIVENESS[kinds[key[0]]]


def describe_obligation(key: Hashable) -> str:
    assert isinstance(key, tuple)
    if key[0] == "takeover":
        return f"the take-over of LU{key[1]} from controller {key[2]} to controller {key[3]} never completes"
    if key[0] == "path":
        return f"the path of LU{key[1]} stays suspended forever"
    if key[0] == "batch":
        return f"batch {key[1]} of the script is never designated (Step 801 refuses it)"
    if key[0] == "backup":
        return f"backup {key[1]} of the script never starts (Step 901 refuses it)"
    if key[0] == "resync":
        return f"pair {key[1]} is never paired again after its split (Step 901)"
    op = "write" if key[2] is Op.WRITE else "read"
    return f"host{key[1]}'s {op} of LU{key[3]} block {key[4]} is never answered"
