"""Crash and restart of the reference array: SIGKILL after every take-over and backup step
in turn (and after a de-stage's start, mid de-stage), restart from the files, check.

Recovery is shown to matter: each recovery bug, and the implementation bug that marks a
line clean before its disk write is done, loses an acknowledged write at some crash point."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.crash import crash_and_recover, crash_points
from model.scenario import builtin_names

SLOW = pytest.mark.slow


def failures(name: str, tmp_path: Path, seed: int = 0, bugs: frozenset[str] = frozenset()) -> list[str]:
    found = []
    for k in crash_points(name, seed):
        r = crash_and_recover(name, tmp_path / f"crash-{k}", seed, k, bugs)
        assert r.killed, r.problems
        found += [f"after step {k}, {r.step}: {p}" for p in r.problems]
    return found


@pytest.mark.parametrize("name", ["fig5", "fig9"])
def test_a_crash_after_any_step_recovers_every_acknowledged_write(name: str, tmp_path: Path) -> None:
    assert failures(name, tmp_path) == []


@SLOW
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", builtin_names())
def test_crash_at_every_step_of_every_builtin(name: str, seed: int, tmp_path: Path) -> None:
    assert failures(name, tmp_path, seed) == []


def test_the_crash_points_are_the_steps_of_take_overs_and_backups() -> None:
    from conformance.crash import steps_of

    steps = steps_of("fig5", 0)
    points = crash_points("fig5", 0)
    assert [steps[k - 1].name for k in points].count("write_row") == 2  # LU2 and LU3
    assert "destage_line" in {steps[k - 1].name for k in points}  # mid de-stage
    assert not {"send_write", "deliver", "process", "complete"} & {steps[k - 1].name for k in points}


@pytest.mark.parametrize(
    ("bug", "name", "first"),
    [
        ("recover-without-destage", "fig5", "write_row"),
        pytest.param("cache-not-reloaded", "fig5", "write_row", marks=pytest.mark.slow),
        pytest.param("clean-before-disk-write", "fig5", "destage_line", marks=pytest.mark.slow),
        pytest.param("cache-not-reloaded", "fig9", "begin_backup_destage", marks=pytest.mark.slow),
    ],
)
def test_a_recovery_bug_loses_an_acknowledged_write(bug: str, name: str, first: str, tmp_path: Path) -> None:
    found = failures(name, tmp_path, bugs=frozenset([bug]))
    assert found and first in found[0].split(", ")[1]
    assert "was acknowledged" in found[0]


def test_a_restart_of_a_directory_with_no_array_is_refused(tmp_path: Path) -> None:
    from conformance.setup import array_of
    from model.scenario import builtin
    from reference_impl.array import DiskArray
    from reference_impl.table import TableError

    config, _ = array_of(builtin("fig5"))
    with pytest.raises(TableError, match="no valid table copy"):
        DiskArray(config, directory=str(tmp_path), restart=True)


# --- the served array (the real runtime in its own process) killed mid take-over --------------


def serve_fig5(directory: Path) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lutakeover.cli",
            "array",
            "start",
            "--builtin",
            "fig5",
            "--dir",
            str(directory),
            "--simulated-hosts",  # the scenario's host writes, so there are dirty lines to de-stage
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    from reference_impl.api import request

    for _ in range(400):  # until it answers: a killed array leaves its socket file behind
        try:
            request(str(directory / "api.sock"), {"op": "status"})
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise AssertionError("the array did not start")


def wait_for_step(log: Path, step: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f'"event":"{step}"' in log.read_text():
            return
        time.sleep(0.002)
    raise AssertionError(f"{step} never appeared in {log}")


@pytest.mark.parametrize(
    "step",
    [
        "destage_line",
        pytest.param("write_row", marks=SLOW),
        pytest.param("purge", marks=SLOW),
        pytest.param("switch_path", marks=SLOW),
        pytest.param("stop_source", marks=SLOW),
    ],
)
def test_the_served_array_killed_during_a_take_over_recovers(step: str, tmp_path: Path) -> None:
    from conformance.crash import check_recovered
    from conformance.setup import array_of
    from model.scenario import builtin
    from reference_impl.api import request
    from reference_impl.array import DiskArray

    directory = tmp_path / "run"
    server = serve_fig5(directory)
    try:
        socket_path = str(directory / "api.sock")
        for _ in range(400):  # the hosts' writes first, so Step 804 has dirty lines to de-stage
            if request(socket_path, {"op": "status"})["controllers"][0]["dirty_lines"] >= 2:
                break
            time.sleep(0.01)
        answer = request(str(directory / "api.sock"), {"op": "takeover", "lus": [2, 3], "to": 1})
        assert answer["ok"], answer
        wait_for_step(directory / "events.jsonl", step)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == -signal.SIGKILL
    config, _ = array_of(builtin("fig5"), 4096)
    array = DiskArray(config, directory=str(directory), restart=True)
    try:
        assert check_recovered(array, str(directory)) == []
        assert {lu: row.current for lu, row in array.rows().items()} == {0: 0, 1: 0, 2: 1, 3: 1}  # completed
    finally:
        array.close()
    # `array start` on the directory recovers it too, and serves again.
    again = serve_fig5(directory)
    try:
        status = request(str(directory / "api.sock"), {"op": "status"})
        assert [c["active"] for c in status["controllers"]] == [[0, 1], [2, 3]]
        request(str(directory / "api.sock"), {"op": "stop"})
        out, _ = again.communicate(timeout=60)
        assert "recovered the array" in out
    finally:
        if again.poll() is None:
            again.kill()
    assert (directory / "events.1.jsonl").exists()  # the log of the run that crashed is kept
