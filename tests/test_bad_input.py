"""Bad input of every kind ends in a one-line message and exit code 2, never a traceback.

The fuzz tests keep this class of fault closed: the scenario loader is fed random bytes,
mutated scenario files and TOML-shaped tables; the command line random arguments. Each must
end in a scenario, a ScenarioError, or an exit code of 0-3 with no traceback. Example
counts are set per test (the "ci" profile is derandomized, so a run is repeatable).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.validate import label_error
from lutakeover.cli import build_parser, main
from model.actions import Model
from model.generate import array_scenario
from model.protocol import CORRECT
from model.scenario import (
    MAX_FILE_BYTES,
    Scenario,
    ScenarioError,
    builtin,
    builtin_names,
    from_dict,
    load,
    parse,
)
from model.symmetry import MAX_GROUP, group_size
from proofs.check import run_check

SCENARIOS = Path(__file__).parent.parent / "model" / "scenarios"
TEXTS = {name: (SCENARIOS / f"{name}.toml").read_text() for name in builtin_names()}


def one_error_line(err: str) -> str:
    """The stderr of a refused command: one `lutakeover: error:` line, no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("lutakeover: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- scenario files ------------------------------------------------------------------------


def test_a_binary_file_is_not_a_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b'name = "x"\n\xff\xfe\x00\x01')
    with pytest.raises(ScenarioError, match=r"binary\.toml: not UTF-8 text \(byte 11\)"):
        load(path)
    assert main(["check", str(path)]) == 2
    assert "not UTF-8 text" in one_error_line(capsys.readouterr().err)


def test_a_huge_file_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text("# " + "x" * MAX_FILE_BYTES)
    with pytest.raises(ScenarioError, match=r"huge\.toml: larger than 1,048,576 bytes"):
        load(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("budget = 3", "budget = 9223372036854775808", "takeovers.budget: 9223372036854775808 is more than"),
        ("budget = 3", "budget = 2147483648", "takeovers.budget: 2147483648 is more than 2147483647"),
        ("ext_lun = 0", "ext_lun = 0\nblocks = 1000000000", "lu[0].blocks: 1000000000 is more than 64"),
        ("controllers = 2", "controllers = 100000000", "array.controllers: 100000000 is more than 64"),
        ("ports = 1", "ports = 65", "array.ports: 65 is more than 64"),
        ("writes_per_block = 2", "writes_per_block = 2147483648", "workload.writes_per_block: 2147483648"),
        ("ext_lun = 0", "ext_lun = 0\nraid_level = -1", "lu[0].raid_level: -1 must not be negative"),
        ("ext_lun = 0", "ext_lun = 0\nphysical_address = 4294967296", "lu[0].physical_address: 4294967296"),
    ],
)
def test_numbers_past_what_the_engines_handle_are_refused(old: str, new: str, message: str) -> None:
    text = TEXTS["ping-pong"]
    assert old in text
    with pytest.raises(ScenarioError, match="ping-pong: ") as e:
        parse(text.replace(old, new, 1), "ping-pong")
    assert message in str(e.value)


def test_too_many_lus_hosts_or_blocks_in_all_are_refused() -> None:
    with pytest.raises(ScenarioError, match=r"lu: 1025 LUs; the engines handle at most 1024"):
        array_scenario(2, 1025)
    with pytest.raises(ScenarioError, match=r"lu: 8192 blocks in all; the engines handle at most 4096"):
        array_scenario(2, 128, blocks=64)
    with pytest.raises(ScenarioError, match=r"host: 65 hosts; the engines handle at most 64"):
        array_scenario(2, 70, hosts=65)


def test_a_batch_with_a_negative_external_lun_is_refused() -> None:
    text = TEXTS["fig5"].rstrip() + "\next_luns = [-1, 1]\n"  # the batch is the file's last table
    with pytest.raises(ScenarioError, match=r"takeovers\.batch\[0\]\.ext_luns: -1 must not be negative"):
        parse(text)


def test_a_large_any_mode_array_does_not_list_its_symmetries(capsys: pytest.CaptureFixture[str]) -> None:
    """12 controllers, 10 of them interchangeable, have 3,628,800 renamings: the checker
    used to list them all before its first state. It now counts them, and reduces by none."""
    s = array_scenario(12, 2)
    assert group_size(s) == 3_628_800  # the two LUs' hosts use them differently: no LU symmetry
    check = run_check(Model(s, CORRECT), max_states=50, liveness=False)
    assert (check.verdict, check.symmetry, check.search.states) == ("incomplete", 1, 50)


def test_forcing_symmetry_on_a_huge_group_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.toml"
    lus = "".join(f"[[lu]]\nid = {i}\ncontroller = {i % 9}\next_lun = {i // 9}\n" for i in range(9))
    path.write_text(f'name = "big"\n[array]\ncontrollers = 9\n{lus}[takeovers]\nmode = "any"\nbudget = 1\n')
    assert group_size(load(path)) == 0  # nine interchangeable LUs: more than MAX_GROUP to try
    assert main(["check", str(path), "--symmetry", "--quiet"]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert f"has more than {MAX_GROUP:,} symmetries, too many to rename every state by" in err


# --- vacuity -------------------------------------------------------------------------------


def test_a_scenario_where_no_host_writes_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = TEXTS["ping-pong"]
    hostless = text[: text.index("[[host]]")] + text[text.index("[workload]") :]
    path = tmp_path / "hostless.toml"
    path.write_text(hostless)
    assert main(["check", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "warning: no_acknowledged_write_lost holds vacuously: no host writes any LU" in out
    assert "warning: reads_return_written_data holds vacuously: no host reads any LU" in out
    assert main(["check", str(path), "--quiet", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["vacuous"] == {
        "no_acknowledged_write_lost": "no host writes any LU",
        "reads_return_written_data": "no host reads any LU",
    }


def test_simulate_says_what_holds_vacuously_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    hostless = str(Path(__file__).parent.parent / "docs/examples/hostless.toml")
    assert main(["simulate", hostless, "--runs", "5", "--seed", "1", "--quiet"]) == 0
    assert (
        "warning: no_acknowledged_write_lost holds vacuously: no host writes any LU"
        in capsys.readouterr().out
    )
    assert main(["simulate", hostless, "--runs", "5", "--seed", "1", "--quiet", "--json"]) == 0
    assert (
        json.loads(capsys.readouterr().out)["vacuous"]["no_acknowledged_write_lost"]
        == "no host writes any LU"
    )
    report = ["simulate", hostless, "--runs", "5", "--seed", "1", "--quiet", "--report", str(tmp_path)]
    assert main(report) == 0
    assert "holds vacuously: no host writes any LU" in (tmp_path / "index.html").read_text()


def test_the_html_report_says_what_holds_vacuously(tmp_path: Path) -> None:
    assert (
        main(
            [
                "check",
                str(Path(__file__).parent.parent / "docs/examples/hostless.toml"),
                "--quiet",
                "--report",
                str(tmp_path),
            ]
        )
        == 0
    )
    page = (tmp_path / "index.html").read_text()
    assert "warning: no_acknowledged_write_lost holds vacuously: no host writes any LU" in page


def test_a_scenario_that_writes_only_lus_that_stay_says_so() -> None:
    # fig5's host writes LU2 and LU3; a batch moving LU0 and LU1 instead moves nothing written.
    text = TEXTS["fig5"].replace("lus = [2, 3]\ndestination = 1\nport = 0", "lus = [0, 1]\ndestination = 1")
    check = run_check(Model(parse(text), CORRECT))
    assert check.untested["no_acknowledged_write_lost"] == (
        "no LU that a host writes is ever taken over or backed up"
    )


def test_the_built_in_fig5_puts_every_property_to_the_test(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().out


# --- the command line ----------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("lutakeover 0.")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--lus", "100000"], "argument --lus: 100000 is more than 1,024"),
        (["simulate", "--controllers", "100000000"], "argument --controllers: 100000000 is more than 64"),
        (["simulate", "--steps", "99999999"], "argument --steps: 99999999 is more than 10,000"),
        (["simulate", "--seed", "-1"], "argument --seed: -1 must not be negative"),
        (["bmc", "--timeout", "99999999"], "a day: z3 takes its timeout in milliseconds"),
        (["bmc", "--depth", "5000"], "argument --depth: 5000 is more than 1,000"),
        (["prove", "--timeout", "0"], "argument --timeout: 0 must be at least 1"),
        (["check", "--max-states", "1e6"], "argument --max-states: '1e6' is not a whole number"),
        (
            ["diagram", "states", "-o", "x.svg", "--max-nodes", "100000"],
            "--max-nodes: 100000 is more than 5,000",
        ),
    ],
)
def test_command_line_numbers_are_bounded(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_simulate_refuses_a_generated_array_too_large_in_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--lus", "1000", "--blocks", "64", "--quiet"]) == 2
    assert "blocks in all; the engines handle at most 4096" in one_error_line(capsys.readouterr().err)


@pytest.mark.slow  # the whole proof again; CI runs -m slow
def test_prove_quiet_prints_the_verdict_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("correct: ") and lines[0].endswith(": proved")


@pytest.mark.slow  # long; CI runs -m slow
def test_prove_quiet_still_names_what_failed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--quiet", "--variant", "skip-destage"]) == 1
    out = capsys.readouterr().out
    assert "preserves" in out.splitlines()[0] and "FAILED" in out.splitlines()[0].upper()
    assert "NOT proved" in out


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("verb", [["check"], ["variants"], ["check", "--json"]])
def test_a_full_output_device_is_an_error_not_a_traceback(verb: list[str]) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "lutakeover.cli", *verb, "--quiet"]
            if verb[0] == "check"
            else [sys.executable, "-m", "lutakeover.cli", *verb],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert r.returncode == 2
    assert one_error_line(r.stderr) == (
        "lutakeover: error: cannot write to standard output: No space left on device"
    )


def test_a_key_holding_a_newline_is_quoted_in_the_one_line_message() -> None:
    """Found by the fuzz test below: a quoted TOML key may hold any character."""
    with pytest.raises(ScenarioError) as e:
        from_dict({"array": {"\n": False}})
    expected = "expected one of background_destage, controllers, ports, topology"
    assert str(e.value) == f"array.'\\n': unknown field; {expected}"


# --- output files --------------------------------------------------------------------------

# A run of each verb that writes its file (a violation, a divergence, a diagram), and the option
# and file name that write it; "{tmp}" stands for the test's folder.
ONE_LU_BUG = ["--builtin", "one-lu", "--variant", "skip-destage", "--quiet"]
DIVERGING = ["difftest", "--builtin", "one-lu", "--impl-bug", "no-suspend", "--seed", "1", "--quiet"]
PHASES = ["diagram", "phases", "--builtin", "one-lu", "--quiet"]
WRITERS = [
    (["check", *ONE_LU_BUG], "--trace-out", "trace.json"),
    (["simulate", *ONE_LU_BUG, "--seed", "1", "--runs", "20"], "--trace-out", "trace.json"),
    (["simulate", *ONE_LU_BUG, "--seed", "1", "--runs", "20"], "--program-out", "test_replay.py"),
    (["bmc", *ONE_LU_BUG, "--depth", "12"], "--trace-out", "trace.json"),
    (DIVERGING, "--program-out", "program.txt"),
    (DIVERGING, "--diagram", "divergence.dot"),
    (PHASES, "-o", "phases.dot"),
    ([*PHASES, "-o", "{tmp}/phases.dot"], "--graphml", "phases.graphml"),
]


def _argv(argv: list[str], tmp_path: Path) -> list[str]:
    return [arg.replace("{tmp}", str(tmp_path)) for arg in argv]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(("argv", "option", "name"), WRITERS)
def test_a_write_that_fails_is_an_error_not_a_traceback(
    argv: list[str], option: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = tmp_path / name
    full.symlink_to("/dev/full")  # passes every check before the run; the write itself fails
    assert main([*_argv(argv, tmp_path), option, str(full)]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"lutakeover: error: {option} {full}: cannot write: No space left on device"
    )


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` made unwritable for the block, by root too (who ignores permission bits but
    not the immutable flag)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize(("argv", "option", "name"), WRITERS)
def test_a_read_only_output_file_is_refused_before_the_run(
    argv: list[str], option: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_text("kept\n")
    with read_only(path):
        assert main([*_argv(argv, tmp_path), option, str(path)]) == 2
    out, err = capsys.readouterr()
    assert one_error_line(err) == f"lutakeover: error: {option} {path}: cannot write: Permission denied"
    assert out == "" and path.read_text() == "kept\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "{s}", "--trace-out", "{s}"], "--trace-out {s}: would overwrite the scenario file {s}"),
        (
            ["check", "{s}", "--trace-out", "{link}"],
            "--trace-out {link}: would overwrite the scenario file {s}",
        ),
        (["bmc", "{s}", "--trace-out", "{s}"], "--trace-out {s}: would overwrite the scenario file {s}"),
        (
            ["simulate", "{s}", "--program-out", "{s}"],
            "--program-out {s}: would overwrite the scenario file {s}",
        ),
        (
            ["simulate", "{s}", "--trace-out", "{tmp}/out", "--program-out", "{tmp}/./out"],
            "--program-out {tmp}/./out: would overwrite the --trace-out file {tmp}/out",
        ),
        (
            ["check", "{s}", "--trace-out", "{tmp}/r/counterexample.itf.json", "--report", "{tmp}/r"],
            "--report {tmp}/r: would overwrite the --trace-out file {tmp}/r/counterexample.itf.json",
        ),
        (
            ["difftest", "--builtin", "one-lu", "--replay", "{s}", "--program-out", "{s}"],
            "--program-out {s}: would overwrite the --replay program {s}",
        ),
        (
            ["diagram", "trace", "--builtin", "one-lu", "--trace", "{tmp}/t.dot", "-o", "{tmp}/t.dot"],
            "-o {tmp}/t.dot: would overwrite the --trace file {tmp}/t.dot",
        ),
    ],
)
def test_an_output_that_would_overwrite_an_input_or_output_is_refused(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "mine.toml"
    scenario.write_text(TEXTS["one-lu"])
    (tmp_path / "link.toml").symlink_to(scenario)
    (tmp_path / "r").mkdir()
    (tmp_path / "t.dot").write_text("a trace\n")

    def filled(text: str) -> str:
        return text.format(s=scenario, link=tmp_path / "link.toml", tmp=tmp_path)

    assert main([*map(filled, argv), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert one_error_line(err) == f"lutakeover: error: {filled(message)}"
    assert out == "" and scenario.read_text() == TEXTS["one-lu"]


def test_a_report_under_a_file_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("a file\n")
    report = tmp_path / "afile" / "sub"
    assert main(["check", "--builtin", "one-lu", "--json", "--report", str(report)]) == 2
    out, err = capsys.readouterr()
    assert (
        one_error_line(err)
        == f"lutakeover: error: --report {report}: {tmp_path / 'afile'} is not a directory"
    )
    assert out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["check", *ONE_LU_BUG, "--trace-out", ""],
        ["check", *ONE_LU_BUG, "--report", ""],
        ["simulate", *ONE_LU_BUG, "--program-out", ""],
        [*DIVERGING, "--diagram", ""],
        [*PHASES, "-o", "p.dot", "--graphml", ""],
    ],
)
def test_an_empty_output_path_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == f"lutakeover: error: {argv[-2]}: the path is empty"


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["check", ""], "scenario file"),
        (["simulate", "", "--runs", "1"], "scenario file"),
        (["validate", ""], "log"),
    ],
)
def test_an_empty_input_path_is_refused_not_read_as_none(
    argv: list[str], what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check ""` used to check the built-in fig5, as if no file had been given."""
    assert main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == f"lutakeover: error: the {what}'s path is empty"


# --- difftest and validate -------------------------------------------------------------------


@pytest.mark.parametrize("given", [["{s}"], ["--builtin", "one-lu"]])
def test_difftest_takes_one_scenario(
    given: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "mine.toml"
    scenario.write_text(TEXTS["one-lu"])
    argv = ["difftest", *(a.format(s=scenario) for a in given), "--generated", "3x2x1", "--examples", "1"]
    assert main([*argv, "--seed", "1", "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        "lutakeover: error: give one of a scenario file, --builtin or --generated"
    )


@pytest.mark.parametrize(
    ("program", "message"),
    [
        # saved from one-lu: fig5's batch 0 starts no take-over of LU0 to controller 1
        (
            "# one-lu\ndesignate_batch 0\ninstruct LU0 c0->c1\n",
            "line 3: neither the array nor the model offers instruct LU0 c0->c1 at this point: "
            "the program is not a run of fig5",
        ),
        (
            "designate_batch 7\n",
            "line 1: neither the array nor the model offers designate_batch 7 at this point: "
            "the program is not a run of fig5",
        ),
        ("frobnicate\n", "line 1: no action is called 'frobnicate'"),
        ("designate_batch 0\ninstruct LU0 c0->c1 block 3\n", "line 2: instruct takes 3 arguments, found 4"),
    ],
)
def test_a_program_that_is_no_run_of_the_scenario_is_bad_input(
    program: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "program.txt"
    path.write_text(program)
    assert main(["difftest", "--builtin", "fig5", "--replay", str(path), "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err) == f"lutakeover: error: --replay {path}, {message}"


# The shrunk program of one-lu's no-suspend divergence (difftest --seed 1).
NO_SUSPEND = """designate_batch 0
instruct LU0 c0->c1
send_write host0 LU0 block 0
deliver host0
process host0
write_row LU0 c0->c1
read_row LU0 c0->c1
begin_destage LU0 c0->c1
destage_line LU0 c0->c1 block 0
destage_done c0 LU0 block 0
purge LU0 c0->c1
notify LU0 c0->c1
"""


def test_a_replay_prints_no_seed_and_shrinks_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "program.txt"
    path.write_text(NO_SUSPEND)
    argv = ["difftest", "--builtin", "one-lu", "--impl-bug", "no-suspend", "--replay", str(path), "--quiet"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "the program's 12 steps up to the divergence:" in out and "the model enables suspend" in out
    assert "seed" not in out and "shrunk" not in out
    assert main([*argv, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["seed"] is None
    # what only a search uses is said to be ignored, not silently ignored
    for option in (["--seed", "3"], ["--examples", "5"], ["--max-steps", "9"]):
        assert main([*argv, *option]) == 1
        assert capsys.readouterr().err == (
            f"lutakeover: warning: --replay runs its program as it is: {option[0]} ignored\n"
        )


LOG_HEADER = '{"log": "lutakeover-array", "scenario": {"builtin": "fig5"}, "hosts": "simulated"}\n'
CUT = '{"seq": 7, "event": "complete", "args": [0], "component": "ho'  # a line cut short


@pytest.mark.parametrize("as_json", [[], ["--json"]])
@pytest.mark.parametrize(
    ("event", "message"),
    [
        ('{"event": "send_write", "args": [0]}', "line 3: send_write takes 3 arguments, found 1"),
        ('{"event": "instruct", "args": [2]}', "line 3: instruct takes 3 arguments, found 1"),
        ('{"event": "frobnicate", "args": [2, 3]}', "line 3: no action is called 'frobnicate'"),
        ('{"event": "process", "args": [0, 1, 2]}', "line 3: process takes 1 argument, found 3"),
        (CUT, f"line 3: not JSON: Invalid control character at column {len(CUT) + 1}"),
        # a step missing from the log (the first event has no seq: a log written by hand)
        (
            '{"seq": 2, "event": "deliver", "args": [0]}',
            'line 3: "seq" is 2 where the events before it make it 1',
        ),
        ('{"seq": "1", "event": "deliver", "args": [0]}', "line 3: \"seq\" is '1' where the events"),
        ("x" * (1 << 20), "line 3: longer than 1,048,576 characters; an event is one short line"),
    ],
)
def test_validate_names_a_malformed_event(
    event: str, message: str, as_json: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(LOG_HEADER + '{"event": "send_write", "args": [0, 3, 0]}\n' + event + "\n")
    assert main(["validate", str(log), *as_json]) == 2
    assert one_error_line(capsys.readouterr().err).startswith(f"lutakeover: error: {log}, {message}")


@pytest.mark.parametrize("name", builtin_names())
def test_every_step_the_model_takes_is_an_event_validate_accepts(name: str) -> None:
    """``label_error`` reads each action's number of arguments off its ``apply``: every label
    of a step the model takes (the first thousand states of each built-in) passes it."""
    m = Model(builtin(name), CORRECT)
    seen, frontier = {m.initial()}, [m.initial()]
    while frontier and len(seen) < 1000:
        for label, after in m.successors(frontier.pop()):
            assert label_error(label) is None, label
            if after not in seen:
                seen.add(after)
                frontier.append(after)


# --- small ones ------------------------------------------------------------------------------


def test_a_scenario_file_with_a_byte_order_mark_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(codecs.BOM_UTF8 + TEXTS["one-lu"].encode())
    assert main(["check", str(path), "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"lutakeover: error: {path}: starts with a UTF-8 byte order mark (BOM), which TOML does not allow: "
        "save it as UTF-8 without one"
    )


def test_a_trace_that_is_a_directory_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diagram", "trace", "--trace", str(tmp_path), "-o", str(tmp_path / "t.svg"), "--quiet"]
    assert main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == f"lutakeover: error: --trace {tmp_path}: is a directory"


def test_one_lu_says_how_many_states_it_has() -> None:
    said = re.search(r"Its (\d+) reachable states", TEXTS["one-lu"])
    assert said is not None
    assert int(said.group(1)) == run_check(Model(builtin("one-lu"), CORRECT)).search.states


# --- fuzzing -------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, 2, 3, -1, 127, 128, 255, 256, 32767, 32768, 2**31, 2**63])
    | st.text(max_size=8)
    | st.floats(allow_nan=True)
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
BUILTIN_DICTS = {name: tomllib.loads(text) for name, text in TEXTS.items()}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A built-in scenario's table with one to three values replaced or deleted."""
    data: dict[str, Any] = json.loads(json.dumps(BUILTIN_DICTS[draw(st.sampled_from(sorted(BUILTIN_DICTS)))]))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(toml_values)
    return data


def _loads_or_refuses(data: dict[str, Any]) -> Scenario | None:
    try:
        s = from_dict(data)
    except ScenarioError as e:
        assert "\n" not in str(e)
        return None
    Model(s, CORRECT).initial()  # a scenario that loads builds a model
    return s


@FUZZ
@given(mutated_scenarios())
def test_fuzz_mutated_scenario_tables_load_or_are_refused(data: dict[str, Any]) -> None:
    """300 examples: built-in scenarios with values replaced by any TOML-shaped value."""
    _loads_or_refuses(data)


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "array", "lu", "host", "takeovers", "x"]), toml_values))
def test_fuzz_any_toml_shaped_table_loads_or_is_refused(data: dict[str, Any]) -> None:
    """300 examples: top-level tables of arbitrary shape."""
    _loads_or_refuses(data)


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A built-in scenario file with a number replaced, a line dropped, bytes flipped or cut."""
    text = TEXTS[draw(st.sampled_from(sorted(TEXTS)))]
    lines = text.splitlines()
    kind = draw(st.sampled_from(["number", "drop", "flip", "cut", "insert"]))
    if kind == "number":
        i = draw(st.sampled_from([i for i, line in enumerate(lines) if line.rstrip()[-1:].isdigit()]))
        key = lines[i].split("=")[0]
        big = draw(st.integers(-(2**80), 2**80) | st.sampled_from([128, 256, 32768, 2**31, 2**63, 2**64]))
        lines[i] = f"{key}= {big}"
    elif kind == "drop":
        del lines[draw(st.integers(0, len(lines) - 1))]
    elif kind == "insert":
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=30)))
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if kind == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    if kind == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


@FUZZ
@given(mutated_files() | st.binary(max_size=200))
def test_fuzz_scenario_files_load_or_are_refused(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    """300 examples: mutated built-in files and random bytes, through load()."""
    path = tmp_path_factory.mktemp("fuzz") / "s.toml"
    path.write_bytes(raw)
    try:
        s = load(path)
    except ScenarioError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
    else:
        Model(s, CORRECT).initial()


OPTIONS = [
    "check",
    "simulate",
    "bmc",
    "prove",
    "diagram",
    "scenarios",
    "variants",
    "--builtin",
    "fig5",
    "ping-pong",
    "--variant",
    "skip-destage",
    "nonsense",
    "--max-states",
    "--depth",
    "--timeout",
    "--runs",
    "--steps",
    "--seed",
    "--lus",
    "--controllers",
    "--blocks",
    "--max-nodes",
    "-o",
    "--json",
    "--quiet",
    "--symmetry",
    "--no-symmetry",
    "--keep-going",
    "phases",
    "states",
]
numbers = st.sampled_from(["0", "1", "-1", "2", "10", "1e3", "0x10", "99999999999999999999", "", " 3"])


@FUZZ
@given(st.lists(st.sampled_from(OPTIONS) | numbers | st.text(max_size=6), max_size=6))
def test_fuzz_the_argument_parser_parses_or_exits_2(argv: list[str]) -> None:
    """300 examples: random argument lists parse, or argparse exits 2 with its usage line
    (0 for --help); a type function never raises anything else."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:
        assert e.code in (0, 2)


CHEAP = st.fixed_dictionaries(
    {
        "verb": st.sampled_from([["check", "--max-states", "300", "--no-liveness"], ["bmc", "--depth", "2"]]),
        "extra": st.lists(
            st.sampled_from(["--json", "--keep-going", "--variant", "skip-destage", "x", "-1"]), max_size=3
        ),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutated_files(), CHEAP)
def test_fuzz_the_command_on_mutated_files_exits_0_to_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], raw: bytes, how: dict[str, list[str]]
) -> None:
    """40 examples: `check` and `bmc` on mutated scenario files end in exit 0-3, a bad one
    with exactly one error line."""
    path = tmp_path / "s.toml"
    path.write_bytes(raw)
    argv = [*how["verb"], str(path), "--quiet", *how["extra"]]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refused the arguments
        code = e.code if isinstance(e.code, int) else 2
    assert code in (0, 1, 2, 3)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2 and "usage:" not in err:
        one_error_line(err)


def test_a_scenario_named_by_a_logs_header_that_cannot_be_read_says_it_came_from_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "events.jsonl"
    missing = tmp_path / "moved.toml"
    log.write_text(
        f'{{"log": "lutakeover-array", "scenario": {{"file": "{missing}"}}, "hosts": "simulated"}}\n'
    )
    assert main(["validate", str(log)]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"lutakeover: error: {log}: the scenario its header names cannot be used ({missing}: cannot read: "
        "No such file or directory): give SCENARIO.toml or --builtin"
    )


def test_validate_warns_when_the_scenario_is_not_the_one_the_array_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The header's digest of the scenario the array served: validating against another one
    (given, or the header's file edited since) is said, as a warning; the verdict stands."""
    from conformance.setup import scenario_digest
    from model.scenario import load

    toml = tmp_path / "mine.toml"
    toml.write_text((Path(__file__).parent.parent / "model" / "scenarios" / "one-lu.toml").read_text())
    log = tmp_path / "events.jsonl"
    header = {"log": "lutakeover-array", "scenario": {"file": str(toml)}, "hosts": "simulated"}
    log.write_text(json.dumps({**header, "digest": scenario_digest(load(str(toml), served=True))}) + "\n")
    assert main(["validate", str(log)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["validate", str(log), "--builtin", "fig5"]) == 0
    assert capsys.readouterr().err == (
        f"lutakeover: warning: {log} was written by an array of another scenario (it served another "
        "scenario): an event refused may be that difference, not a defect\n"
    )
    toml.write_text(toml.read_text().replace("writes_per_block = 1", "writes_per_block = 2"))
    assert main(["validate", str(log)]) == 0
    assert "(the scenario file its header names has changed since)" in capsys.readouterr().err
    log.write_text(json.dumps(header) + "\n")  # a log from before the header had a digest
    assert main(["validate", str(log)]) == 0
    assert capsys.readouterr().err == ""
