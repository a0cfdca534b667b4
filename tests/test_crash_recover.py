"""The model's crash-and-recover action (``crash_recover``): pins, the seeded recovery bug,
and what each part of the recovery rule protects.

Each part of the rule is taken out in turn (a textual mutant of ``crash_recover``, applied
to a copy of the function) and the checker is run on the two crash built-ins: a part whose
removal breaks nothing is either pinned here with the reason, or a gap.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap

import pytest

import model.actions as actions
from model.actions import Model
from model.protocol import variant
from model.scenario import ScenarioError, builtin, parse
from model.state import Op, Request, Where
from proofs.check import run_check

CRASH_BUILTINS = ("crash-takeover", "crash-backup")

# built-in -> (states, transitions, depth) of the correct protocol
PINS = {"crash-takeover": (4_550, 11_037, 28), "crash-backup": (634, 1_361, 24)}


@pytest.mark.parametrize("name", CRASH_BUILTINS)
def test_the_correct_protocol_recovers_on_every_crash_builtin(name: str) -> None:
    check = run_check(Model(builtin(name)))
    assert check.verdict == "ok"
    assert (check.search.states, check.search.transitions, check.search.depth) == PINS[name]
    assert all(depth is not None for depth in check.search.witnesses.values())


# recovery bug -> what `check` finds first on crash-takeover (docs/walkthrough.md's kill matrix)
FIRST = {"recover-without-destage": {"no_acknowledged_write_lost": 6}}


def test_recovery_without_destage_loses_an_acknowledged_write() -> None:
    """The seeded recovery bug: a crash after a write is acknowledged into the source's cache
    and before its take-over de-stages it; recovery drops the line."""
    check = run_check(Model(builtin("crash-takeover"), variant("recover-without-destage")))
    (cx,) = check.counterexamples
    assert {cx.property: len(cx.trace) - 1} == FIRST["recover-without-destage"]
    assert [str(label) for label in cx.labels()][-1] == "crash_recover"


def test_a_crash_needs_the_scenario_to_allow_it() -> None:
    m = Model(builtin("one-lu"))
    assert m.initial().crashes == 0
    assert all(t.action.name != "crash_recover" for t in m.transitions(m.initial()))
    crashed = Model(builtin("crash-takeover"))
    after = [t.after for t in crashed.transitions(crashed.initial()) if t.action.name == "crash_recover"]
    assert len(after) == 1 and after[0].crashes == 0
    assert all(t.action.name != "crash_recover" for t in crashed.transitions(after[0]))


def test_a_negative_crash_budget_is_refused() -> None:
    text = builtin_text("crash-takeover").replace("crashes = 1", "crashes = -1")
    with pytest.raises(ScenarioError, match=r"faults\.crashes"):
        parse(text)
    with pytest.raises(ScenarioError, match=r"faults\.power"):
        parse(builtin_text("crash-takeover").replace("crashes = 1", "power = 1"))


def builtin_text(name: str) -> str:
    from importlib import resources

    return (resources.files("model") / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")


def test_requests_at_the_path_and_replied_hash_apart() -> None:
    """CPython hashes -1 like -2; the explicit checker keeps states as hashes, and a request
    at the path controller (-1) must not pass for the same request replied (-2). Before
    ``Request.__hash__``, an early crash_recover that sent replied requests back to the path
    lost states of crash-backup that way, and reported a fair cycle that no run has."""
    at_path = Request(Op.WRITE, 0, 0, 1, Where.PATH)
    assert hash(at_path) != hash(at_path._replace(at=Where.REPLIED))
    assert hash((at_path,)) != hash((at_path._replace(at=Where.REPLIED),))


# --- what each part of the recovery rule protects ------------------------------------------

# part taken out -> (the text of crash_recover it replaces, by what)
PARTS: dict[str, tuple[str, str]] = {
    "held-frames-resent": ("hosts = tuple(_after_crash(r) for r in w.hosts)", "hosts = w.hosts"),
    "take-over-completed": (
        "row = Row(job.ext_lun, job.port, default=job.destination, current=job.destination)",
        "row = w.disk.table[job.lu]",
    ),
    "backup-returns-home": (
        "row = Row(job.ext_lun, job.port, default=job.destination, current=job.source)",
        "row = w.disk.table[job.lu]",
    ),
    "pair-resynchronized": ("state=PairState.RESYNCING, tape=()", "state=PairState.PAIRED, tape=()"),
    "tables-reloaded": ("active=active, table=table))", "active=active))"),
    "routes-follow-table": (
        "Path(route=row.current, suspended=False) for row in table)",
        "Path(route=p.route, suspended=False) for row, p in zip(table, w.paths, strict=True))",
    ),
    "suspensions-lifted": (
        "Path(route=row.current, suspended=False) for row in table)",
        "Path(route=row.current, suspended=p.suspended) for row, p in zip(table, w.paths, strict=True))",
    ),
    "pending-mirror-tracked": ("diff = tuple(sorted({*pair.diff, pair.mirror.block}))", "diff = pair.diff"),
    "pending-mirror-resyncs": ("state=PairState.RESYNCING, diff=diff", "diff=diff"),
    "unowned-lines-dropped": (
        "            w = _destage_all(m, w, c, lu)\n    for i",
        "            pass\n    for i",
    ),
    "write-through-ended": (
        "controllers = tuple(ctl._replace(write_through=(), destaging=()) for ctl in w.controllers)",
        "controllers = tuple(ctl._replace(destaging=()) for ctl in w.controllers)",
    ),
}

# part taken out -> {built-in: the first property broken there and its depth}
CAUGHT: dict[str, dict[str, tuple[str, int]]] = {
    "held-frames-resent": {"crash-takeover": ("no_stale_cache", 5), "crash-backup": ("requests_answered", 7)},
    "take-over-completed": {"crash-takeover": ("rows_follow_designation", 2)},
    "backup-returns-home": {"crash-backup": ("control_returns_home", 3)},
    "pair-resynchronized": {"crash-backup": ("resync_restores_mirror", 5)},
    "tables-reloaded": {"crash-takeover": ("tables_agree", 2), "crash-backup": ("tables_agree", 3)},
    "routes-follow-table": {
        "crash-takeover": ("path_routes_to_owner", 2),
        "crash-backup": ("path_routes_to_owner", 6),
    },
    "suspensions-lifted": {"crash-takeover": ("paths_resumed", 10)},
    "pending-mirror-tracked": {"crash-backup": ("mirror_differs_only_where_tracked", 4)},
    "pending-mirror-resyncs": {"crash-backup": ("resync_restores_mirror", 4)},
}

# part taken out -> why no property notices (the differential test still compares the
# reference array's caches and write-through sets with the model's after recovery)
NOT_CAUGHT: dict[str, str] = {
    "unowned-lines-dropped": "in the correct protocol only the source of an interrupted take-over or the "
    "backup controller of an interrupted cycle holds lines of an LU it is not in charge of, and "
    "step 1 or 2 of the rule has already dropped them",
    "write-through-ended": "write-through is slower, never wrong: no property says when it ends",
}


def _mutant(part: str) -> actions.Action:
    old, new = PARTS[part]
    source = inspect.getsource(actions.crash_recover)
    assert source.count(old) == 1, part
    namespace = dict(vars(actions))
    exec(textwrap.dedent(source.replace(old, new)), namespace)
    return dataclasses.replace(actions.ACTIONS_BY_NAME["crash_recover"], apply=namespace["crash_recover"])


def _first_broken(part: str, scenario: str) -> tuple[str, int] | None:
    m = Model(builtin(scenario))
    mutant = _mutant(part)
    m._unbound = [mutant if a.name == "crash_recover" else a for a in m._unbound]
    check = run_check(m, keep_going=True)
    if not check.counterexamples:
        return None
    first = min(check.counterexamples, key=lambda cx: len(cx.trace))
    return first.property, len(first.trace) - 1


def test_every_part_is_pinned_once() -> None:
    assert set(CAUGHT) | set(NOT_CAUGHT) == set(PARTS)
    assert not set(CAUGHT) & set(NOT_CAUGHT)


@pytest.mark.parametrize("part", list(PARTS))
def test_what_each_part_of_the_recovery_rule_protects(part: str) -> None:
    found = {name: _first_broken(part, name) for name in CRASH_BUILTINS}
    expected = CAUGHT.get(part, {})
    assert {name: hit for name, hit in found.items() if hit is not None} == expected


def test_the_walkthrough_shows_these_pins() -> None:
    """docs/walkthrough.md's table of what each part of the rule protects is these pins."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    section = text.split("### Recovery after a crash\n")[1]
    table = next(block for block in section.split("\n\n") if block.startswith("| part taken out"))
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    assert list(rows) == list(PARTS)
    for part, cells in rows.items():
        if part in NOT_CAUGHT:
            assert cells[0].startswith("none: "), part
            continue
        shown = {name: f"`{prop}` {steps}" for name, (prop, steps) in CAUGHT[part].items()}
        assert cells == [shown.get(name, "") for name in CRASH_BUILTINS], part
