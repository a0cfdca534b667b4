"""The real runtime and trace validation.

The runtime runs the array's components in threads on real files; its log is validated
against the model and every acknowledged write is read back. Validation itself is shown to
fail: on logs of seeded implementation bugs, on a log edited by hand, and on bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conformance.setup import array_of
from conformance.soak import soak, soak_scenario
from conformance.validate import LogError, read_log, validate
from lutakeover.cli import main
from model.scenario import builtin
from reference_impl.api import ManagementApi
from reference_impl.eventlog import EventLog
from reference_impl.events import Event
from reference_impl.runtime import Runtime
from reference_impl.simulator import Simulation


def test_a_soak_of_two_seconds_validates_and_loses_nothing(tmp_path: Path) -> None:
    r = soak(tmp_path, 2.0)
    assert r.stats.errors == [] and r.bad_reads == [] and r.lost == []
    assert r.validation.verdict == "ok", (r.validation.failed, r.validation.reason)
    assert r.validation.events == r.validation.matched == r.stats.steps > 300  # about 5,000 when quiet
    assert r.takeovers >= 10  # take-overs and take-backs while hosts write (40-60 on a quiet machine)
    assert (tmp_path / "disk.img").stat().st_size == (2 + 3 * 4) * 4096  # two table slots, 3 LUs of 4 blocks


@pytest.mark.parametrize(
    ("bug", "name", "refused"),
    [
        ("skip-destage", None, "notify"),
        ("no-suspend", None, "switch_path"),
        ("allow-lun-gap", None, "designate"),
        ("backup-without-destage", "fig9", "hand_over"),
    ],
)
def test_a_runtime_log_with_an_implementation_bug_fails_validation(
    tmp_path: Path, bug: str, name: str | None, refused: str
) -> None:
    for attempt in range(5):  # the operator's choices are the threads' race: a loaded machine may need more
        r = soak(tmp_path / str(attempt), 0.5, builtin(name) if name else None, bugs=frozenset([bug]))
        if r.validation.failed is not None:
            break
    v = r.validation
    assert v.failed is not None and v.failed.label.action == refused
    assert v.reason is not None and v.reason.startswith("the model refuses it: ")


def simulated_log(path: Path, name: str, seed: int = 0) -> None:
    config, workload = array_of(builtin(name))
    sim = Simulation(config, workload)
    sim.event_log = EventLog(str(path), {"scenario": {"builtin": name}})
    sim.run(seed)
    sim.event_log.close()


def test_a_simulated_log_validates_on_every_line(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    simulated_log(log, "fig5")
    with log.open(encoding="utf-8") as f:
        header, events = read_log(f)
        result = validate(builtin("fig5"), list(events))
    assert header["scenario"] == {"builtin": "fig5"}
    assert result.verdict == "ok" and result.events == result.matched == len(log.read_text().splitlines()) - 1


def test_a_read_value_changed_by_hand_is_caught(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    for seed in range(20):  # a run in which a read returns a written block
        simulated_log(log, "ping-pong", seed)
        lines = log.read_text().splitlines()
        reads = [i for i, line in enumerate(lines) if json.loads(line).get("value", 0) > 0]
        if reads:
            break
    entry = json.loads(lines[reads[0]])
    entry["value"] += 1
    lines[reads[0]] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    with log.open(encoding="utf-8") as f:
        _, events = read_log(f)
        result = validate(builtin("ping-pong"), list(events))
    assert result.failed is not None and result.failed.line == reads[0] + 1
    assert result.reason is not None and "the model reads write" in result.reason


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "events.jsonl"
    simulated_log(log, "fig5")
    assert main(["validate", str(log)]) == 0  # the scenario is the one the header names
    assert "OK" in capsys.readouterr().out
    header, *events = [json.loads(line) for line in log.read_text().splitlines()]
    del events[2]  # an event left out, the others numbered on: a later one is no longer enabled
    log.write_text(
        "".join(
            json.dumps(line) + "\n" for line in [header, *({**e, "seq": i} for i, e in enumerate(events))]
        )
    )
    assert main(["validate", str(log), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "violated" and data["reason"].startswith("the model refuses it")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"log": "something else"}\n', "not a log of the array"),
        ('{"log": "lutakeover-array"}\n{"event": "deliver"\n', "line 2: not JSON"),
        ('{"log": "lutakeover-array"}\n{"event": "deliver", "args": ["x"]}\n', "line 2: an event needs"),
        ('{"log": "lutakeover-array"}\n[1, 2]\n', "line 2: an event is a JSON object"),
    ],
)
def test_a_bad_log_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(LogError, match=message):
        _, events = read_log(text.splitlines())
        list(events)


def test_validate_command_refuses_a_log_naming_no_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text('{"log": "lutakeover-array"}\n')
    assert main(["validate", str(log)]) == 2
    assert "names no scenario" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "missing.jsonl"), "--builtin", "fig5"]) == 2


def test_the_soak_scenario_is_a_valid_scenario() -> None:
    s = soak_scenario(controllers=3, lus=5, blocks=2)
    assert (s.controllers, len(s.lus), s.mode) == (3, 5, "any")
    assert [lu.controller for lu in s.lus] == [0, 1, 2, 0, 1]


@pytest.mark.slow
def test_the_write_through_race_shows_in_a_longer_soak(tmp_path: Path) -> None:
    # A write-through write to a block whose de-stage is under way: rare, so one block per
    # LU and a few seconds (the differential test finds it in 12 steps).
    for attempt in range(4):  # each soak finds it with high odds; four in a row all missing it is rare
        r = soak(
            tmp_path / str(attempt),
            5.0,
            soak_scenario(2, 2, 1),
            bugs=frozenset(["write-through-ignores-destage"]),
        )
        if r.validation.failed is not None:
            break
    v = r.validation
    assert v.failed is not None and v.failed.label.action == "process"
    assert v.reason is not None and "still de-staging" in v.reason


def _counting_offers(runtime: Runtime) -> list[int]:
    """Count the surveys of what the array offers (one per step taken, none while idle)."""
    calls = [0]
    offers = runtime.sim.offers

    def counted(
        ordered: bool = True, operator: bool = True, destage_sample: int | None = None
    ) -> list[Event]:
        calls[0] += 1
        return offers(ordered, operator, destage_sample)

    runtime.sim.offers = counted  # type: ignore[method-assign]
    return calls


def test_idle_threads_sleep_on_their_queues_and_the_api_wakes_them(tmp_path: Path) -> None:
    # fig5 with the operator's designations left to the API: the hosts' bounded workload
    # runs out, then nothing is offered. A polling thread would survey the array again and
    # again; a thread asleep on its queue does not, until a change wakes it.
    config, workload = array_of(builtin("fig5"), 512)
    runtime = Runtime(config, workload, str(tmp_path))
    runtime.operator_designates = False
    calls = _counting_offers(runtime)
    try:
        runtime.start()
        deadline = time.monotonic() + 30
        while runtime.stats.steps < 12 and time.monotonic() < deadline:  # 3 requests of 4 steps
            time.sleep(0.01)
        time.sleep(0.2)
        with runtime.lock:
            steps, surveys = runtime.stats.steps, calls[0]
        assert steps == 12 and surveys == steps + 1  # one survey at the start, one after each step
        time.sleep(0.3)
        assert (runtime.stats.steps, calls[0]) == (steps, surveys)  # asleep: nothing surveyed
        api = ManagementApi(runtime)
        assert api.handle({"op": "takeover", "lus": [2, 3], "to": 1, "port": 0})["ok"]  # Fig. 5's batch
        stats = runtime.stop()
    finally:
        runtime.close()
    assert stats.errors == []
    assert stats.by_event["resume"] == 2  # the woken threads carried both take-overs through 809
