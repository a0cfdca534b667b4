"""docs/walkthrough.md's kill matrix is what the engines' pins say.

Each row is one seeded bug; each column one engine. The `check`, `bmc` and `prove` cells are
compared with the pins of tests/test_pins.py, tests/test_backup.py, tests/test_bmc.py and
tests/test_induction.py (which run those engines); the `simulate` cells are run again here,
under ``-m slow``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import test_backup
import test_bmc
import test_crash_recover
import test_induction
import test_pins
from lutakeover.cli import main
from model.protocol import ALL_BUGS, BACKUP_BUGS, RECOVERY_BUGS

WALKTHROUGH = Path(__file__).parent.parent / "docs" / "walkthrough.md"


def _rows() -> dict[str, list[str]]:
    text = WALKTHROUGH.read_text().split("## Kill matrix: every variant on every engine\n")[1]
    rows = {}
    for line in text.split("\n\n| variant |")[1].split("\n\n")[0].splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


ROWS = _rows()


def _first(bug: str) -> tuple[str, dict[str, int]]:
    """The built-in the matrix names for ``bug`` and what `check` finds there (pinned)."""
    if bug in BACKUP_BUGS:
        return "fig9", test_backup.FIRST[bug]
    if bug in RECOVERY_BUGS:
        return "crash-takeover", test_crash_recover.FIRST[bug]
    for scenario in ("fig5", "ping-pong", "background-destage"):
        if test_pins.FIRST[scenario][bug]:
            return scenario, test_pins.FIRST[scenario][bug]
    raise AssertionError(f"{bug} is caught by no pinned built-in")


def _cell(found: dict[str, int]) -> str:
    ((prop, steps),) = found.items()
    return f"`{prop}` {steps}"


def test_every_variant_has_a_row() -> None:
    assert list(ROWS) == list(ALL_BUGS)


@pytest.mark.parametrize("bug", list(ALL_BUGS))
def test_the_check_column_is_the_pins(bug: str) -> None:
    scenario, found = _first(bug)
    cell = ROWS[bug][1].removesuffix(" (dead end)")
    assert cell == f"{scenario}: {_cell(found)}"


@pytest.mark.parametrize("bug", list(ALL_BUGS))
def test_the_bmc_column_is_what_the_bmc_tests_assert(bug: str) -> None:
    cell = ROWS[bug][2]
    scenario, found = _first(bug)
    if bug == "no-resume":
        assert cell == "passes (liveness only)"
    elif bug == "concurrent-same-lu":
        # pinned by test_bmc_finds_concurrent_same_lu_where_breadth_first_search_does (bench)
        assert cell == "3-controller 1-LU array: `single_active_controller` 14"
    else:
        # The BMC tests assert BMC's property and depth equal the explicit pins on this built-in.
        covered = (
            (scenario == "fig5" and bug in test_bmc.FIG5_BUGS)
            or (scenario, bug) in {(s, b) for s, b, _, _ in test_bmc.NEW_BUGS}
            or (scenario == "fig9" and bug in BACKUP_BUGS)
        )
        assert covered, (bug, scenario)
        assert cell == _cell(found)


@pytest.mark.parametrize("bug", list(ALL_BUGS))
def test_the_prove_column_is_the_pinned_obligations(bug: str) -> None:
    fails = test_induction.FAILS[bug]
    expected = "; ".join(f"`{action}`: {', '.join(parts)}" for action, parts in fails.items())
    assert ROWS[bug][4] == (expected or "nothing (proved: liveness only)")


def _simulate_args(bug: str) -> list[str]:
    if bug in BACKUP_BUGS:
        return ["--builtin", "fig9"]
    if bug in RECOVERY_BUGS:
        return ["--builtin", "crash-takeover"]
    shape = ["--controllers", "3", "--lus", "6"]
    return [*shape, "--background-destage"] if bug == "destage-clean-unconditionally" else shape


@pytest.mark.slow  # about 5 s a row: the failing run is shrunk
@pytest.mark.parametrize("bug", list(ALL_BUGS))
def test_the_simulate_column_is_what_simulate_finds(bug: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [*_simulate_args(bug), "--variant", bug, "--seed", "2026", "--json", "--quiet"]
    assert main(["simulate", *args]) == 1
    result = json.loads(capsys.readouterr().out)
    failure = result["failure"]
    found = f"`{failure['property']}` {len(failure['steps']) - 1}"
    # The property and the shrunk length are pinned. The number of runs before the failure
    # (in parentheses in the matrix, as `lutakeover simulate` prints it) is not: it was seen
    # to differ when the same seeded run is made inside a pytest process that has imported
    # more of the project (14 from the command line, 24 here for destage-clean-unconditionally).
    assert ROWS[bug][3].split(" (")[0] == found
    assert result["runs"] >= 1


def test_the_matrix_names_a_patent_step_for_every_bug() -> None:
    assert all(re.fullmatch(r"\d{3}(/\d{3})?", row[0]) for row in ROWS.values())
