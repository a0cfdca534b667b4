"""The `lutakeover` command as a user runs it: exit codes, JSON, ITF traces, bad input."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lutakeover.cli import main
from lutakeover.formats.itf import ItfError, read_trace
from model.actions import Model
from model.labels import INITIAL
from model.protocol import variant
from model.scenario import builtin
from proofs.check import run_check

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lutakeover.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_default_check_is_fig5_and_passes() -> None:
    r = run("check", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "scenario fig5, variant correct: OK" in r.stdout
    assert "8,502 states" in r.stdout
    assert "holds              no_acknowledged_write_lost" in r.stdout


_IMPORTED_AFTER = """
import sys
from lutakeover.cli import main
code = main(sys.argv[1:])
heavy = ("z3", "hypothesis", "networkx", "graphviz", "reference_impl.runtime")
print(",".join(m for m in heavy if m in sys.modules))
print("importlib.metadata" in sys.modules)
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("args", "imported"),
    [
        (["check", "--builtin", "one-lu", "--quiet"], ""),
        (["check", "--builtin", "three-hosts", "--quiet", "--json"], ""),  # the composed search
        (["scenarios"], ""),
        (["diagram", "tables", "--builtin", "one-lu", "-o", "{tmp}/tables.dot"], "graphviz"),
        (["bmc", "--builtin", "one-lu", "--depth", "2", "--quiet"], "z3"),
        (["simulate", "--builtin", "one-lu", "--runs", "30", "--seed", "1", "--quiet"], "hypothesis"),
    ],
)
def test_a_command_imports_z3_and_hypothesis_only_if_it_runs_them(
    args: list[str], imported: str, tmp_path: Path
) -> None:
    """z3, Hypothesis, Graphviz and the reference array take about a third of a second to
    import, as long as `check` takes on a small scenario: a check, run in CI for every
    scenario, starts without them, and `bmc` and `simulate` import only their own. Nor does
    a check read the package's metadata, which only `--version` shows."""
    r = subprocess.run(
        [sys.executable, "-c", _IMPORTED_AFTER, *(a.format(tmp=tmp_path) for a in args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-2] == imported
    if args[0] in ("check", "scenarios"):  # only --version reads the installed package's metadata
        assert r.stdout.splitlines()[-1] == "False"


def test_violation_exits_1_with_a_step_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--variant", "start-before-stop", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "single_active_controller is violated after 10 steps:" in out
    assert "start_destination LU2 c0->c1 (808)" in out
    assert "*c1.active: - -> LU2" in out
    assert out.rstrip().endswith("=> LU2 is in the charge of controllers [0, 1] at once")


def test_json_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--builtin", "ping-pong", "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "ok" and data["exit_code"] == 0
    # ping-pong has no renaming that fixes its start: nothing to reduce
    assert (data["states"], data["depth"], data["symmetry_permutations"]) == (2689, 52, 1)
    assert data["properties"]["no_acknowledged_write_lost"]["holds"] is True
    assert data["properties"]["takeovers_complete"]["kind"] == "liveness"
    assert all(w["reached"] for w in data["witnesses"].values())
    assert {"transitions", "seconds", "states_per_second", "counterexamples"} <= set(data)


def test_json_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--variant", "no-suspend", "--json", "--quiet"]) == 1
    data = json.loads(capsys.readouterr().out)
    (cex,) = data["counterexamples"]
    assert cex["property"] == "path_routes_to_owner" and len(cex["steps"]) == 9
    assert cex["steps"][8]["patent_step"] == "807"
    assert data["properties"]["path_routes_to_owner"]["holds"] is False


def test_trace_out_writes_an_itf_trace_that_replays(tmp_path: Path) -> None:
    path = tmp_path / "trace.itf.json"
    assert main(["check", "--variant", "skip-destage", "--trace-out", str(path), "--quiet"]) == 1
    doc = json.loads(path.read_text())
    assert doc["#meta"]["format"] == "ITF" and "controllers" in doc["vars"]
    assert doc["states"][1]["disk"]["blocks"][0][0] == {"#bigint": "0"}
    steps = read_trace(path)
    assert len(steps) == 13
    m = Model(builtin("fig5"), variant("skip-destage"))
    assert steps[0].state == m.initial()
    for before, after in itertools.pairwise(steps):
        assert (after.label, after.state) in m.successors(before.state)


def test_liveness_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--variant", "no-resume", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "paths_resumed is violated (liveness: dead end) after 22 steps" in out
    assert "the path of LU" in out and "stays suspended forever: the run stops" in out


def test_max_states_is_incomplete() -> None:
    r = run("check", "--max-states", "500", "--quiet", "--json")
    assert r.returncode == 3
    data = json.loads(r.stdout)
    assert data["verdict"] == "incomplete" and data["states"] == 500
    assert data["properties"]["single_active_controller"]["holds"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["check", "--builtin", "fig6"],
            "no built-in scenario 'fig6'; built-ins: background-destage, backup-and-takeover, backup-twice, "
            "chain, crash-backup, crash-takeover, fig5, fig9, multi-block, one-lu, ping-pong, primary-moves, "
            "swap, three-hosts, three-way",
        ),
        (["check", "--variant", "skip_destage"], "unknown variant 'skip_destage'"),
        (["check", "x.toml", "--builtin", "fig5"], "give a scenario file or --builtin, not both"),
        (["check", "/no/such.toml"], "/no/such.toml: cannot read"),
        (["check", "--trace-out", "/no/such/dir/t.json"], "directory /no/such/dir does not exist"),
    ],
)
def test_bad_input_exits_2_and_says_why(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_bad_numbers_exit_2() -> None:
    r = run("check", "--max-states", "-5")
    assert r.returncode == 2 and "-5 must be at least 1" in r.stderr


def test_listing_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    assert "fig5" in capsys.readouterr().out
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("correct") and "skip-destage" in out


@pytest.mark.parametrize("engine", ["--no-composed", "--composed"])
def test_progress_lines_on_stderr_for_long_runs(engine: str, tmp_path: Path) -> None:
    # A search counts as long from --progress-after on: 0 makes any search long, whatever the
    # machine's speed. Both the search of whole states and the packed one report.
    bench = (ROOT / "benchmarks" / "arrays" / "array-2x2x1-t2.toml").read_text()
    small = tmp_path / "small.toml"  # 1,402 states: too few to wait 3 s for
    small.write_text(
        bench.replace("writes_per_block = 2", "writes_per_block = 1").replace("budget = 2", "budget = 1")
    )
    r = run("check", str(small), engine, "--no-product", "--progress-after", "0")
    assert r.returncode == 0
    assert re.search(r"lutakeover: [\d,]+ states, depth \d+, [\d,]+ queued, .* states/s", r.stderr)
    quiet = run("check", str(small), engine, "--no-product")
    assert quiet.returncode == 0 and "states/s" not in quiet.stderr  # by default a short search prints none


def test_read_trace_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"states": [{"x": 1}]}')
    with pytest.raises(ItfError, match="not a state of this model"):
        read_trace(path)


def test_symmetry_is_used_by_default_where_it_pays() -> None:
    from lutakeover.formats.report import format_check
    from model.generate import array_scenario

    # One LU on six controllers: the five it is not on are interchangeable, 5! renamings, but
    # sorted rather than tried one by one: reduced by default.
    check = run_check(Model(array_scenario(6, 1), variant("correct")), max_states=300)
    assert (check.symmetry, check.symmetries) == (120, 120)
    assert "symmetry reduction over 120 permutations" in format_check(check)
    # Five LUs on five controllers, a host each on the fabric: the 120 LU renamings are each
    # tried on every state, which costs more than it saves.
    from test_product import array

    five = Model(array(5, 5, 1, 1), variant("correct"))
    check = run_check(five, max_states=300, liveness=False)
    assert (check.symmetry, check.symmetries) == (1, 120)
    assert "no symmetry reduction: 120 permutations cost more than they save" in format_check(check)
    assert run_check(five, max_states=300, liveness=False, symmetry=True).symmetry == 120
    unreduced = run_check(Model(array_scenario(6, 1), variant("correct")), max_states=300, symmetry=False)
    assert "no symmetry reduction" not in format_check(unreduced)  # it would pay: asked not to


def test_simulate_finds_a_bug_and_writes_its_replay(tmp_path: Path) -> None:
    program, trace = tmp_path / "test_replay.py", tmp_path / "run.itf.json"
    r = run(
        "simulate",
        "--controllers",
        "3",
        "--lus",
        "6",
        "--variant",
        "start-before-stop",
        "--seed",
        "7",
        "--runs",
        "30",
        "--quiet",
        "--program-out",
        str(program),
        "--trace-out",
        str(trace),
    )
    assert r.returncode == 1, r.stderr
    assert "simulate array-3c-6lu-1b, variant start-before-stop, seed 7: VIOLATED" in r.stdout
    assert "single_active_controller is violated" in r.stdout
    assert "def test_replay_start_before_stop" in program.read_text()
    assert read_trace(trace)[0].label == INITIAL


def test_simulate_correct_protocol_json() -> None:
    r = run("simulate", "--builtin", "fig5", "--seed", "1", "--runs", "60", "--quiet", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert (data["verdict"], data["exit_code"], data["seed"], data["failure"]) == ("ok", 0, 1, None)


def test_simulate_json_says_its_exit_code_as_check_json_does() -> None:
    r = run("simulate", "--builtin", "one-lu", "--variant", "skip-destage", "--seed", "1", "--runs", "30")
    bad = run(
        "simulate",
        "--builtin",
        "one-lu",
        "--variant",
        "skip-destage",
        "--seed",
        "1",
        "--runs",
        "30",
        "--json",
    )
    assert r.returncode == bad.returncode == 1
    assert (json.loads(bad.stdout)["verdict"], json.loads(bad.stdout)["exit_code"]) == ("violated", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["simulate", "--builtin", "fig5", "--lus", "4"],
            "--controllers, --lus and --blocks describe a generated",
        ),
        (["simulate", "--controllers", "1"], "--controllers: a take-over needs at least 2 controllers"),
        (["simulate", "--variant", "nope"], "unknown variant 'nope'"),
        (["simulate", "--program-out", "/no/dir/x.py"], "--program-out /no/dir/x.py: directory /no/dir"),
    ],
)
def test_simulate_bad_input(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


# --- bmc and prove ---------------------------------------------------------------------------


def test_bmc_prints_the_shortest_counterexample_and_writes_its_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "bmc.itf.json"
    assert main(["bmc", "--variant", "no-suspend", "--depth", "9", "--quiet", "--trace-out", str(trace)]) == 1
    out = capsys.readouterr().out
    assert "scenario fig5, variant no-suspend: VIOLATED (bounded model checking)" in out
    assert "path_routes_to_owner is violated after 8 steps:" in out
    assert re.search(r"switch_path LU[23] c0->c1 \(807\)", out)  # z3 may pick either LU
    steps = read_trace(trace)
    assert len(steps) == 9 and steps[0].label == INITIAL
    m = Model(builtin("fig5"), variant("no-suspend"))
    for before, after in itertools.pairwise(steps):
        assert (after.label, after.state) in m.successors(before.state)


def test_bmc_json_and_a_bound_with_no_violation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bmc", "--depth", "6", "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["verdict"], data["exit_code"], data["depth"], data["reached"]) == ("ok", 0, 6, 6)
    assert len(data["seconds_per_depth"]) == 7 and data["counterexample"] is None
    assert main(["bmc", "--variant", "start-before-stop", "--json", "--quiet"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counterexample"]["property"] == "single_active_controller"
    assert data["counterexample"]["trace_length"] == 10 == len(data["counterexample"]["steps"]) - 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bmc", "--depth", "-1"], "must not be negative"),
        (["bmc", "--depth", "many"], "is not a whole number"),
        (["bmc", "--variant", "nope"], "unknown variant 'nope'"),
        (["bmc", "--builtin", "nope"], "nope"),
        (["bmc", "--timeout", "0"], "must be at least 1"),
        (["prove", "--variant", "nope"], "unknown variant 'nope'"),
        (["prove", "--timeout", "x"], "is not a whole number"),
    ],
)
def test_bmc_and_prove_refuse_bad_arguments(args: list[str], message: str) -> None:
    r = run(*args)
    assert r.returncode == 2 and message in r.stderr and not r.stdout


@pytest.mark.slow
def test_prove_prints_one_line_per_obligation_and_proves_the_correct_protocol() -> None:
    r = run("prove")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "switch_path preserves path_routes_to_owner ... ok" in lines
    assert "initial implies single_active_controller ... ok" in lines
    assert sum(line.endswith("... ok") for line in lines) == 1720
    assert lines[-1].startswith("correct: 1720/1720 obligations ok") and lines[-1].endswith(": proved")
    assert "return_control preserves control_returns_home ... ok" in lines


def test_prove_fails_a_seeded_bug_naming_action_and_property(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--variant", "start-before-stop", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["proved"] is False
    failed = [(o["action"], o["part"]) for o in data["obligations"] if o["status"] != "ok"]
    assert failed == [("start_destination", "single_active_controller")]
    assert data["obligations"][-1]["status"] == "ok"


@pytest.mark.slow  # a second whole proof; the first above runs by default
def test_prove_fails_a_backup_bug_naming_action_and_property(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--variant", "resync-before-backup-done", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    failed = [(o["action"], o["part"]) for o in data["obligations"] if o["status"] != "ok"]
    assert failed == [("backup_done", "tape_complete_after_backup")]


def test_one_mapping_from_every_engines_verdict_to_an_exit_code() -> None:
    from proofs.check import EXIT_CODES, exit_code

    assert [exit_code(v) for v in ("ok", "proved")] == [0, 0]
    assert [exit_code(v) for v in ("violated", "vacuous", "not proved")] == [1, 1, 1]
    assert [exit_code(v) for v in ("incomplete", "unknown")] == [3, 3]
    assert 2 not in EXIT_CODES.values()  # bad input is no verdict: the CLI refuses before any run


def test_symmetry_goes_with_liveness_and_reduction_is_automatic(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["check", "--builtin", "three-way", "--symmetry", "--max-states", "10", "--json", "--quiet"])
        == 3
    )
    assert json.loads(capsys.readouterr().out)["symmetry_permutations"] == 2
    m = Model(builtin("three-way"), variant("correct"))
    assert run_check(m, max_states=10).symmetry == 2  # liveness on, reduced all the same
    assert run_check(m, max_states=10, liveness=False).symmetry == 2
    assert run_check(m, max_states=10, symmetry=False).symmetry == 1


def test_python_m_lutakeover_is_the_command() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "lutakeover", "variants"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and r.stdout.startswith("correct ")
