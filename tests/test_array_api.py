"""The management API and `lutakeover array`: bad requests are refused with their reason
and change nothing, the array keeps serving, and a run driven through the API validates."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import reference_impl.api as api_module
import reference_impl.runtime as runtime_module
from conformance.setup import array_of, for_real_clients, scenario_digest
from model.scenario import builtin
from reference_impl.api import MAX_MESSAGE, ManagementApi, request, serve
from reference_impl.runtime import Runtime


def api_of(name: str, directory: Path) -> ManagementApi:
    config, workload = array_of(builtin(name))
    runtime = Runtime(config, workload, str(directory))
    runtime.operator_designates = False
    return ManagementApi(runtime)  # no threads: each request is handled in the test's


@pytest.mark.parametrize(
    ("name", "message", "reason"),
    [
        ("fig5", [1, 2], "a request is a JSON object"),
        ("fig5", {"op": "format"}, "unknown op 'format'"),
        ("fig5", {"op": []}, "unknown op []"),  # a list cannot be looked up among the ops
        ("fig5", {"op": {"status": 1}}, "unknown op {'status': 1}"),
        ("fig5", {"op": "takeover", "to": 1}, '"lus" must be a non-empty list'),
        ("fig5", {"op": "takeover", "lus": [9], "to": 1}, "there is no LU9"),
        ("fig5", {"op": "takeover", "lus": [2], "to": 7}, "there is no controller 7"),
        ("fig5", {"op": "takeover", "lus": [2], "to": "one"}, '"to" must be a whole number'),
        ("fig5", {"op": "takeover", "lus": [2], "to": 1}, "the next take-over moves LUs [2, 3]"),
        ("three-way", {"op": "takeover", "lus": [1], "to": 0}, "LU1 is already on controller 0"),
        (
            "three-way",
            {"op": "takeover", "lus": [0], "to": 1},
            "port 0 of controller 0 would present external LUNs [1], with a gap",
        ),
        ("three-way", {"op": "takeover", "lus": [1], "to": 1, "port": 3}, "one LU at a time, to port 0"),
        ("fig9", {"op": "backup", "pair": 1}, "the next backup is of pair0"),
        ("fig9", {"op": "backup", "pair": 5}, "there is no pair5"),
        ("fig5", {"op": "backup", "pair": 0}, "there is no pair0"),
        ("fig5", {"op": "events", "since": -1}, '"since" must be a step number, 0 or more'),
        ("fig5", {"op": "events", "since": "0"}, '"since" must be a whole number'),
    ],
)
def test_a_bad_request_is_refused_with_its_reason_and_changes_nothing(
    name: str, message: Any, reason: str, tmp_path: Path
) -> None:
    api = api_of(name, tmp_path)
    before = api.handle({"op": "status"})
    answer = api.handle(message)
    assert answer["ok"] is False and reason in answer["error"], answer
    assert api.handle({"op": "status"}) == before
    # malformed, or naming nothing in the array: bad input whatever the array's state
    assert answer["bad_request"] is not any(
        refusal in reason for refusal in ("the next", "already on", "with a gap", "one LU at a time")
    )


def test_an_lu_already_moving_is_refused_and_the_array_keeps_serving(tmp_path: Path) -> None:
    api = api_of("three-way", tmp_path)
    assert api.handle({"op": "takeover", "lus": [1], "to": 1})["ok"]
    again = api.handle({"op": "takeover", "lus": [1], "to": 2})
    assert again == {
        "ok": False,
        "error": "Step 801 refuses it: LU1 is already being taken over",
        "bad_request": False,
    }
    status = api.handle({"op": "status"})
    assert [(j["lu"], j["destination"], j["next_step"]) for j in status["jobs"]] == [(1, 1, "instruct")]
    events = api.handle({"op": "events", "since": 0})
    assert [e["event"] for e in events["events"]] == ["designate"] and events["next"] == 1


def test_a_running_array_holds_its_last_steps_and_answers_in_bounded_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory holds the last LOG_LIMIT steps (events.jsonl has them all); an answer holds at
    # most EVENTS_PER_ANSWER of them and says how many asked for are gone.
    monkeypatch.setattr(runtime_module, "LOG_LIMIT", 3)
    monkeypatch.setattr(api_module, "EVENTS_PER_ANSWER", 2)
    api = api_of("fig5", tmp_path)
    sim = api.runtime.sim
    taken = []
    for _ in range(5):
        event = sim.offers()[0]
        sim.perform(event)
        taken.append(event.name)
    assert api.handle({"op": "status"})["steps"] == 5 and len(sim.log) == 3
    first = api.handle({"op": "events", "since": 0})
    assert (first["dropped"], first["next"]) == (2, 4)
    assert [(e["seq"], e["event"]) for e in first["events"]] == [(2, taken[2]), (3, taken[3])]
    rest = api.handle({"op": "events", "since": first["next"]})
    assert (rest["dropped"], rest["next"], [e["seq"] for e in rest["events"]]) == (0, 5, [4])
    assert api.handle({"op": "events", "since": 9})["events"] == []  # none yet
    assert sim.event_log is not None
    sim.event_log.close()
    _meta, *logged = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in logged] == taken  # the file keeps every step


def test_the_socket_is_the_owners_and_refuses_malformed_and_oversized_messages(tmp_path: Path) -> None:
    api = api_of("fig5", tmp_path)
    path = str(tmp_path / "api.sock")
    server = serve(api, path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            f = s.makefile("rwb")
            f.write(b"{not json\n")
            f.flush()
            assert "not JSON" in json.loads(f.readline())["error"]
            f.write(b'{"op": "status"}\n')  # the same connection still serves
            f.flush()
            assert json.loads(f.readline())["ok"] is True
            for line, error in [
                (
                    b'{"op": "takeover", "lus": [' + b"9" * 5000 + b'], "to": 1}\n',
                    "not JSON: Exceeds the limit",
                ),
                (b"[" * 60_000 + b"\n", "not a request: JSON nested too deeply"),
                (b'{"op": "st\xffatus"}\n', "not UTF-8"),
            ]:
                f.write(line)
                f.flush()
                assert error in json.loads(f.readline())["error"]
            f.write(b"x" * (MAX_MESSAGE + 10) + b"\n")
            f.flush()
            assert f"at most {MAX_MESSAGE} bytes" in json.loads(f.readline())["error"]
        assert request(path, {"op": "status"})["ok"] is True  # and so does the server
    finally:
        server.shutdown()
        server.server_close()


def test_a_hundred_clients_at_once_are_each_answered(tmp_path: Path) -> None:
    """The listening queue used to hold 5 connections, and a client's connect with a timeout
    failed at once when it was full: a script asking the status from many processes got
    'Resource temporarily unavailable' for a third of them."""
    api = api_of("fig5", tmp_path)
    path = str(tmp_path / "api.sock")
    server = serve(api, path)
    answers: list[object] = []

    def ask() -> None:
        try:
            answers.append(request(path, {"op": "status"})["ok"])
        except OSError as e:
            answers.append(e)

    try:
        clients = [threading.Thread(target=ask) for _ in range(100)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [True] * 100


def lutakeover(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lutakeover.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_array_commands_drive_a_take_over_that_validates(tmp_path: Path) -> None:
    directory = str(tmp_path / "run")
    server = subprocess.Popen(
        [sys.executable, "-m", "lutakeover.cli", "array", "start", "--builtin", "fig5", "--dir", directory],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            if os.path.exists(os.path.join(directory, "api.sock")):
                break
            time.sleep(0.05)
        refused = lutakeover("array", "takeover", "--dir", directory, "--lu", "2", "--to", "1")
        assert refused.returncode == 1 and "the next take-over moves LUs [2, 3]" in refused.stderr
        bad = lutakeover("array", "takeover", "--dir", directory, "--lu", "9", "--to", "1", "--json")
        assert bad.returncode == 2 and "there is no LU9" in bad.stderr  # bad input, not a refusal
        assert json.loads(bad.stdout) == {"ok": False, "error": "there is no LU9", "bad_request": True}
        done = lutakeover(
            "array", "takeover", "--dir", directory, "--lu", "2,3", "--to", "1", "--wait", "--json"
        )
        assert done.returncode == 0, done.stderr
        answer, *steps = [json.loads(line) for line in done.stdout.splitlines()]  # JSON lines, all
        assert answer["ok"] and answer["event"] == "designate_batch(0)"
        resumed = [s["args"] for s in steps if s["event"] == "resume"]
        assert sorted(resumed) == [[2, 0, 1], [3, 0, 1]]
        assert [s["seq"] for s in steps] == list(range(steps[0]["seq"], steps[0]["seq"] + len(steps)))
        status = lutakeover("array", "status", "--dir", directory, "--json")
        table = json.loads(status.stdout)["table"]
        assert [(r["lu"], r["port"], r["current"]) for r in table] == [
            (0, 0, 0),
            (1, 0, 0),
            (2, 0, 1),
            (3, 0, 1),
        ]
        assert lutakeover("array", "stop", "--dir", directory).returncode == 0
        out, _ = server.communicate(timeout=60)
        assert server.returncode == 0 and "array stopped" in out
    finally:
        if server.poll() is None:
            server.kill()
    log = os.path.join(directory, "events.jsonl")
    valid = lutakeover("validate", log)
    assert valid.returncode == 0 and "OK" in valid.stdout and valid.stderr == ""
    with open(log, encoding="utf-8") as f:  # the header says which scenario the array served
        assert json.loads(f.readline())["digest"] == scenario_digest(for_real_clients(builtin("fig5")))
    other = lutakeover("validate", log, "--builtin", "one-lu")
    assert "written by an array of another scenario (it served another scenario)" in other.stderr
    gone = lutakeover("array", "status", "--dir", directory)
    assert gone.returncode == 2 and "no array is serving" in gone.stderr


def test_array_start_on_an_nbd_port_in_use_is_refused_with_nothing_left_running(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        directory = tmp_path / "run"
        r = lutakeover(
            "array", "start", "--builtin", "fig5", "--dir", str(directory), "--nbd-port", str(port)
        )
    finally:
        taken.close()
    assert r.returncode == 2 and "cannot serve NBD for host0" in r.stderr, r.stderr
    assert not (directory / "api.sock").exists()
    bad = lutakeover("array", "start", "--builtin", "fig5", "--dir", str(directory), "--nbd-port", "70000")
    assert bad.returncode == 2 and "--nbd-port 70000: a TCP port from 1 to 65534" in bad.stderr


def test_a_second_array_start_on_a_serving_dir_is_refused_and_the_first_keeps_its_files(
    tmp_path: Path,
) -> None:
    """A second array on a DIR in use would recover from files the first is writing, take its
    sockets and rename its log: two arrays on one disk, and a write the first acknowledged
    lost. It is refused, and the first keeps serving; once it has stopped, DIR recovers."""
    directory = str(tmp_path / "run")
    first = subprocess.Popen(
        [sys.executable, "-m", "lutakeover.cli", "array", "start", "--builtin", "fig5", "--dir", directory],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            if os.path.exists(os.path.join(directory, "api.sock")):
                break
            time.sleep(0.05)
        api_inode = os.stat(os.path.join(directory, "api.sock")).st_ino
        second = lutakeover("array", "start", "--builtin", "fig5", "--dir", directory, "--seconds", "1")
        assert second.returncode == 2, second.stderr
        assert f"an array is already serving in {directory}" in second.stderr
        assert "Traceback" not in second.stderr and "recovered" not in second.stdout
        # nothing of the first's was touched: its socket, its log, and it still answers
        assert os.stat(os.path.join(directory, "api.sock")).st_ino == api_inode
        assert not os.path.exists(os.path.join(directory, "events.1.jsonl"))
        assert lutakeover("array", "status", "--dir", directory).returncode == 0
        assert lutakeover("array", "stop", "--dir", directory).returncode == 0
        first.communicate(timeout=60)
        assert first.returncode == 0
    finally:
        if first.poll() is None:
            first.kill()
    again = lutakeover("array", "start", "--builtin", "fig5", "--dir", directory, "--seconds", "0.5")
    assert again.returncode == 0, again.stderr
    assert "recovered the array" in again.stdout


def test_array_start_recovers_only_the_array_dir_holds(tmp_path: Path) -> None:
    """Recovering one-lu's files as fig5's array rewrote them in fig5's layout and failed
    with a KeyError in a component; now it is refused, and one-lu's array recovers as it was."""
    directory = str(tmp_path / "run")
    start = ("array", "start", "--dir", directory, "--simulated-hosts", "--seconds", "0.5")
    assert lutakeover(*start, "--builtin", "one-lu").returncode == 0
    files = {p.name: p.read_bytes() for p in Path(directory).iterdir() if p.suffix in (".img", ".json")}
    for other in (["--builtin", "fig5"], ["--builtin", "one-lu", "--nbd-port", "1"]):
        argv = [a for a in start if a != "--simulated-hosts"] if "--nbd-port" in other else start
        r = lutakeover(*argv, *other)
        assert r.returncode == 2 and f"{directory} holds the array of scenario one-lu" in r.stderr, r.stderr
        assert {p.name: p.read_bytes() for p in Path(directory).iterdir() if p.name in files} == files
    again = lutakeover(*start, "--builtin", "one-lu")
    assert again.returncode == 0 and "recovered the array" in again.stdout
    fresh = lutakeover(*start, "--builtin", "fig5", "--fresh")
    assert fresh.returncode == 0 and "recovered" not in fresh.stdout


def test_array_start_refuses_a_dir_too_long_for_its_sockets_before_building_anything(tmp_path: Path) -> None:
    directory = tmp_path / ("d" * (110 - len(str(tmp_path))))
    r = lutakeover("array", "start", "--builtin", "fig5", "--dir", str(directory), "--simulated-hosts")
    assert r.returncode == 2 and "more than the 107 a unix socket's address holds" in r.stderr
    assert "Traceback" not in r.stderr and not directory.exists()


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf", "1e400", "soon"])
def test_array_start_refuses_a_duration_that_is_no_number_of_seconds(seconds: str, tmp_path: Path) -> None:
    r = lutakeover(
        "array", "start", "--builtin", "fig5", "--dir", str(tmp_path / "run"), f"--seconds={seconds}"
    )
    assert r.returncode == 2 and "argument --seconds:" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()
