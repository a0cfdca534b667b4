"""Diagrams: each kind is drawn from the model, parsed back as SVG and checked for its content;
DOT output is byte-identical across runs; docs/diagrams/ is current."""

from __future__ import annotations

import os
import re
import shutil
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from lutakeover.cli import main
from lutakeover.diagrams import kinds as diagram
from lutakeover.diagrams.dot import DiagramError, format_of, render, write
from lutakeover.diagrams.phases import derive, phase_dot
from lutakeover.diagrams.sequence import TARGETS, messages
from lutakeover.diagrams.state_graph import state_graph_dot
from lutakeover.diagrams.tables import snapshots, table_rows
from lutakeover.docgen.docs_diagrams import DIAGRAMS, FOLDER, regenerate, stale
from lutakeover.formats.itf import trace_origin, write_trace
from model.actions import ACTIONS_BY_NAME, Model
from model.protocol import BACKUP_ORDER, CORRECT_ORDER, variant
from model.scenario import builtin
from proofs.check import run_check

SVG = "{http://www.w3.org/2000/svg}"


def model(scenario: str, name: str = "correct") -> Model:
    return Model(builtin(scenario), variant(name))


@cache
def svg_of(kind: str, scenario: str, name: str = "correct") -> ET.Element:
    """The diagram rendered as SVG and parsed: malformed XML fails here."""
    build: dict[str, Callable[[Model], str]] = {
        "phases": diagram.phases,
        "states": diagram.states,
        "trace": diagram.trace,
        "tables": diagram.tables,
    }
    source = build[kind](model(scenario, name))
    return ET.fromstring(render(source, "svg"))


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}text") if t.text]


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


# --- phases --------------------------------------------------------------------------------


def test_takeover_phase_machine_shows_every_step_of_fig3() -> None:
    root = svg_of("phases", "fig5")
    words = " ".join(texts(root))
    for step in CORRECT_ORDER:
        assert re.search(rf"\b{step.number}\b", words), step
        assert step.action in words or step.action == "purge", step
    assert "at rest" in words and "destination in charge" in words
    # 12 phases (at rest + 11 steps' worth; 809 closes the cycle) plus the legend; 13 actions.
    assert (len(groups(root, "node")), len(groups(root, "edge"))) == (13, 13)


def test_backup_phase_machine_shows_every_step_of_fig7() -> None:
    root = svg_of("phases", "fig9")
    words = " ".join(texts(root))
    for step in BACKUP_ORDER:
        assert re.search(rf"\b{step.number}\b", words), step
    assert "resync_done" in words and "re-synchronizing" in words
    # 12 phases (at rest, 10 job phases, re-synchronizing) plus the legend; 15 actions.
    assert (len(groups(root, "node")), len(groups(root, "edge"))) == (13, 15)


def test_the_phase_machine_is_derived_from_the_variant() -> None:
    """skip-destage has no purge step, and its LU reaches 'destination in charge' with
    dirty lines still in the source: the picture shows the bug."""
    correct, buggy = derive(model("fig5")), derive(model("fig5", "skip-destage"))
    assert any(name == "purge" for _, _, name, _ in correct.edges)
    assert not any(name == "purge" for _, _, name, _ in buggy.edges)
    in_charge = ("takeover", len(model("fig5", "skip-destage").order) - 1)
    assert buggy.facts[in_charge]["dirty lines"] == {"none", "source"}
    assert correct.facts[("takeover", len(model("fig5").order) - 1)]["dirty lines"] == {"none"}


def test_two_takeovers_of_one_lu_are_drawn_in_the_phase_of_the_first() -> None:
    """concurrent-same-lu: the second job's steps add edges (24 instead of 13: its 809 takes
    the LU back to the first's phase when the first is done) and the title says how it is drawn."""
    from model.generate import array_scenario

    correct = derive(Model(array_scenario(2, 1, 1)))
    buggy = derive(Model(array_scenario(2, 1, 1), variant("concurrent-same-lu")))
    assert (correct.states, len(correct.edges), correct.overlapping) == (1941, 13, False)
    assert (buggy.states, len(buggy.edges), buggy.overlapping) == (12191, 24, True)
    assert "drawn in the phase of its first take-over" in phase_dot(buggy)
    assert "drawn in the phase" not in phase_dot(correct)
    in_charge = buggy.facts[("takeover", len(buggy.model.order) - 1)]["in charge"]
    assert "destination + source" in in_charge  # the bug: two controllers in charge at once


def test_an_exploration_that_moves_no_lu_draws_no_phase_machine() -> None:
    machine = derive(model("one-lu"), limit=1)  # only the initial state: nothing has moved yet
    assert not machine.complete
    machine.edges = {k: n for k, n in machine.edges.items() if k[0] != k[1]}
    assert [name for _, _, name, _ in machine.edges] == ["designate_batch"]
    machine.edges.clear()
    with pytest.raises(DiagramError, match="moves no LU"):
        phase_dot(machine)


# --- states --------------------------------------------------------------------------------


def test_state_graph_highlights_the_shortest_counterexample() -> None:
    root = svg_of("states", "one-lu", "skip-destage")
    assert len(groups(root, "node")) == 74 + 1  # every state, and the legend
    highlighted = groups(root, "edge counterexample")
    assert len(highlighted) == 12  # the shortest counterexample's 12 steps
    assert len(groups(root, "edge")) == 102
    assert len(groups(root, "cluster")) == 11  # one cluster per phase
    assert any("c0:LU0 c1:-" in t for t in texts(root))  # who is in charge, per state


def test_state_graph_of_the_correct_protocol_highlights_nothing() -> None:
    root = svg_of("states", "one-lu")
    assert len(groups(root, "node")) == 71 + 1
    assert not groups(root, "edge counterexample")


def test_a_large_state_graph_is_drawn_as_its_quotient_by_phase() -> None:
    m = model("fig5", "no-suspend")
    v = diagram.shortest_counterexample(m)
    source, message = state_graph_dot(m, v, max_nodes=150)
    assert message is not None and "8,916 reachable states" in message and "quotient by phase" in message
    root = ET.fromstring(render(source, "svg"))
    assert len(groups(root, "node")) == 121  # distinct array phases
    assert len(groups(root, "edge counterexample")) == 8  # every step of the run changes phase
    small, none = state_graph_dot(model("one-lu"), None, max_nodes=150)
    assert none is None and "cluster" in small


# --- trace ---------------------------------------------------------------------------------


def test_every_action_has_a_receiver_in_the_sequence_diagram() -> None:
    assert set(TARGETS) == set(ACTIONS_BY_NAME)


def test_trace_has_one_lane_per_component_and_marks_the_violation() -> None:
    root = svg_of("trace", "fig5", "skip-destage")
    words = texts(root)
    for lane in ("host0", "path controller", "management utility", "controller 0", "controller 1", "disk"):
        assert lane in words, lane
    assert any("no_stale_cache" in w and "broken" not in w for w in words[1:])  # beside the last step
    assert "disk: table at the predetermined position" in words  # Step 803 changes the tables
    red = [e for e in root.iter() if e.get("stroke") == "#e00000"]
    assert red, "the violating step is drawn in red"


def test_a_liveness_counterexample_is_marked_at_its_end() -> None:
    """no-resume breaks no safety property: the run stops with LU2's path held (Step 809
    never happens), and the last step carries the liveness property's sentence."""
    m = model("fig5", "no-resume")
    v = diagram.shortest_counterexample(m)
    assert v is not None and (v.property, v.kind, len(v.trace) - 1) == ("paths_resumed", "deadlock", 22)
    words = texts(svg_of("trace", "fig5", "no-resume"))
    assert words[0].startswith("paths_resumed broken by variant no-resume")
    assert " broken (liveness):" in words and "809" not in " ".join(words)
    assert "the path of LU2 stays suspended forever: the run stops" in words


def test_trace_messages_go_from_performer_to_target() -> None:
    m = model("fig5", "skip-destage")
    v = diagram.shortest_counterexample(m)
    assert v is not None
    arrows = [(msg.number, str(msg.sender), str(msg.receiver)) for msg in messages(m, v.trace)]
    assert arrows[:3] == [
        ("", "host0", "path controller"),
        ("", "path controller", "controller 0"),
        ("", "controller 0", "controller 0"),
    ]
    assert ("802", "management utility", "controller 0") in arrows
    assert ("803", "controller 0", "disk") in arrows
    assert arrows[-1] == ("808", "controller 0", "controller 0")


def test_backup_trace_uses_the_backup_controller_lane() -> None:
    words = " ".join(texts(svg_of("trace", "fig9", "backup-without-destage")))
    assert "controller 2" in words and "904" in words and "hand_over" in words
    assert "path controller" not in words  # Fig. 6: hosts are cabled to their controllers


def test_trace_from_an_itf_file_matches_the_counterexample(tmp_path: Path) -> None:
    m = model("fig5", "skip-destage")
    v = diagram.shortest_counterexample(m)
    assert v is not None
    path = tmp_path / "cex.itf.json"
    write_trace(path, v, "lutakeover check fig5", "no_stale_cache violated by variant skip-destage")
    assert trace_origin(str(path)) == ("fig5", "skip-destage")
    from_file = diagram.trace(m, str(path))
    direct = diagram.trace(m)
    strip = re.compile(r"label=\"[^\"]*\"\s*labelloc=t")
    assert strip.sub("", from_file) == strip.sub("", direct)  # only the title differs
    with pytest.raises(DiagramError, match="is not a run of scenario ping-pong"):
        diagram.trace(model("ping-pong"), str(path))


# --- tables --------------------------------------------------------------------------------


def test_tables_before_and_after_fig5_are_figs_5a_and_5b() -> None:
    shots = snapshots(model("fig5"))
    assert [s.title for s in shots] == ["before", "after"]
    for c in (0, 1):
        assert table_rows(shots[0].state, c) == [
            ["0", "0", "0", "0", "0"],
            ["1", "1", "0", "0", "0"],
            ["2", "0", "1", "0", "0"],
            ["3", "1", "1", "0", "0"],
        ]
        assert table_rows(shots[1].state, c)[2:] == [["2", "0", "0", "1", "1"], ["3", "1", "0", "1", "1"]]
    words = texts(svg_of("tables", "fig5"))
    assert "before" in words and "after" in words and words.count("current controller") == 4


def test_tables_of_fig9_show_the_default_current_swap_of_9a_9b_9a() -> None:
    shots = snapshots(model("fig9"))
    assert [s.title for s in shots] == ["before", "during the backup", "after"]
    rows = [table_rows(s.state, 2) for s in shots]
    # LU1 and LU3: (default, current) 2/0 and 2/1 (9A) -> 0/2 and 1/2 (9B) -> back (9A)
    assert [(r[1][3:], r[3][3:]) for r in rows] == [
        (["2", "0"], ["2", "1"]),
        (["0", "2"], ["1", "2"]),
        (["2", "0"], ["2", "1"]),
    ]
    assert "during the backup" in texts(svg_of("tables", "fig9"))


def test_tables_need_scripted_takeovers() -> None:
    with pytest.raises(DiagramError, match="mode 'any'"):
        diagram.tables(model("three-way"))


# --- rendering and determinism ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["phases", "states", "trace", "tables"])
def test_dot_output_is_byte_identical_across_runs(kind: str, tmp_path: Path) -> None:
    scenario, name = {"states": ("one-lu", "skip-destage"), "trace": ("fig5", "skip-destage")}.get(
        kind, ("backup-and-takeover", "correct")
    )
    build: dict[str, Callable[[Model], str]] = {
        "phases": diagram.phases,
        "states": diagram.states,
        "trace": diagram.trace,
        "tables": diagram.tables,
    }
    first, second = tmp_path / "a.dot", tmp_path / "b.dot"
    write(build[kind](model(scenario, name)), first)
    write(build[kind](model(scenario, name)), second)
    assert first.read_bytes() == second.read_bytes()


def test_formats_follow_the_extension(tmp_path: Path) -> None:
    source = diagram.tables(model("fig5"))
    for name in ("t.svg", "t.png", "t.dot", "t.gv"):
        write(source, tmp_path / name)
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ET.fromstring((tmp_path / "t.svg").read_bytes())
    assert (tmp_path / "t.dot").read_text() == source == (tmp_path / "t.gv").read_text()
    with pytest.raises(DiagramError, match=r"unknown diagram format '\.pdf'"):
        format_of("t.pdf")


def test_renders_with_the_bundled_engine_and_prefers_a_system_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no system dot: pygraphviz's engine renders
    assert shutil.which("dot") is None
    assert b"<svg" in render("digraph { a -> b }", "svg")
    with pytest.raises(DiagramError, match="syntax error"):
        render("digraph { a -> ", "svg")
    fake = tmp_path / "dot"  # a system dot is used where present
    fake.write_text("#!/bin/sh\ncat > /dev/null\necho '<svg>system dot</svg>'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert render("digraph { a -> b }", "svg") == b"<svg>system dot</svg>\n"


# --- docs ------------------------------------------------------------------------------------


def test_docs_diagrams_are_current() -> None:
    """CI fails here when the model changed and docs/diagrams/ was not regenerated
    (`python -m lutakeover.docgen.docs_diagrams`)."""
    assert stale() == []
    assert {p.stem for p in FOLDER.glob("*.svg")} == set(DIAGRAMS)


@pytest.mark.slow  # long; CI runs -m slow
def test_a_stale_docs_diagram_is_found(tmp_path: Path) -> None:
    shutil.copytree(FOLDER, tmp_path / "d")
    (tmp_path / "d" / "tables-fig5.dot").write_text("digraph {}\n")
    (tmp_path / "d" / "phases-backup.svg").unlink()
    problems = sorted(stale(tmp_path / "d"))
    assert len(problems) == 2
    assert "phases-backup.svg" in problems[0] and "tables-fig5.dot" in problems[1]
    regenerate(tmp_path / "d")
    assert stale(tmp_path / "d") == []


# --- the command line --------------------------------------------------------------------------


def test_diagram_command_writes_each_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "phases", "--builtin", "one-lu", "-o", str(tmp_path / "p.svg"), "--quiet"]) == 0
    assert main(["diagram", "tables", "-o", str(tmp_path / "t.dot"), "--quiet"]) == 0
    assert main(["diagram", "states", "--builtin", "one-lu", "-o", str(tmp_path / "s.dot"), "--quiet"]) == 0
    assert main(["diagram", "trace", "--variant", "no-suspend", "-o", str(tmp_path / "c.svg")]) == 0
    assert "trace diagram written to" in capsys.readouterr().err
    ET.parse(tmp_path / "p.svg")
    ET.parse(tmp_path / "c.svg")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diagram", "phases", "-o", "x.pdf"], "unknown diagram format '.pdf'"),
        (["diagram", "phases", "-o", "missing/x.svg"], "directory missing does not exist"),
        (["diagram", "trace", "-o", "x.svg"], "breaks no property on scenario fig5"),
        (["diagram", "tables", "--builtin", "ping-pong", "-o", "x.svg"], "mode 'any'"),
        (["diagram", "phases", "--trace", "t.json", "-o", "x.svg"], "--trace belongs to the trace kind"),
        (["diagram", "trace", "--trace", "nothing.json", "-o", "x.svg"], "no such file"),
        (["diagram", "phases", "--builtin", "nope", "-o", "x.svg"], "no built-in scenario 'nope'"),
        (["diagram", "phases", "--variant", "nope", "-o", "x.svg"], "unknown variant 'nope'"),
    ],
)
def test_diagram_command_refuses_bad_input(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_diagram_command_reads_a_trace_with_the_scenario_its_meta_names(tmp_path: Path) -> None:
    itf = tmp_path / "cex.itf.json"
    assert (
        main(
            [
                "check",
                "--builtin",
                "fig9",
                "--variant",
                "backup-without-destage",
                "--quiet",
                "--trace-out",
                str(itf),
            ]
        )
        == 1
    )
    assert main(["diagram", "trace", "--trace", str(itf), "-o", str(tmp_path / "t.svg"), "--quiet"]) == 0
    assert "controller 2" in texts(ET.parse(tmp_path / "t.svg").getroot())
    bad = tmp_path / "bad.itf.json"
    bad.write_text('{"states": []}')
    assert (
        main(["diagram", "trace", "--trace", str(bad), "--builtin", "fig5", "-o", str(tmp_path / "u.svg")])
        == 2
    )


def test_check_report_is_one_offline_page(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    assert main(["check", "--variant", "skip-destage", "--quiet", "--report", str(folder)]) == 1
    page = (folder / "index.html").read_text()
    assert page.count("<svg") == 2  # the sequence diagram and the phase machine
    assert "VIOLATED" in page and "no_stale_cache" in page
    assert "<script" not in page and not re.search(r"(src|href)=\"https?:", page)
    assert "808" in page and "stop_source" in page  # the step table
    assert (folder / "counterexample.itf.json").is_file()
    assert (
        main(
            [
                "diagram",
                "trace",
                "--trace",
                str(folder / "counterexample.itf.json"),
                "-o",
                str(tmp_path / "t.svg"),
                "--quiet",
            ]
        )
        == 0
    )


def test_check_report_of_a_correct_run(tmp_path: Path) -> None:
    assert main(["check", "--builtin", "one-lu", "--quiet", "--report", str(tmp_path / "r")]) == 0
    page = (tmp_path / "r" / "index.html").read_text()
    assert "OK" in page and page.count("<svg") == 1 and "69" in page
    assert not (tmp_path / "r" / "counterexample.itf.json").exists()


def test_simulate_report(tmp_path: Path) -> None:
    argv = [
        "simulate",
        "--builtin",
        "fig9",
        "--variant",
        "backup-without-destage",
        "--seed",
        "1",
        "--runs",
        "30",
    ]
    assert main([*argv, "--quiet", "--report", str(tmp_path / "r")]) == 1
    page = (tmp_path / "r" / "index.html").read_text()
    # the sequence diagram, then the phase machines of one-lu and fig9 (a take-over, a backup)
    assert "Failure (shrunk): no_stale_cache" in page and page.count("<svg") == 3
    assert "def test_replay_backup_without_destage" in page


def test_report_into_a_file_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("keep")
    assert main(["check", "--report", str(target)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert target.read_text() == "keep"
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        assert main(["check", "--report", str(locked / "r")]) == 2


def test_check_result_feeds_the_report_without_rerunning(tmp_path: Path) -> None:
    from lutakeover.reports.html_report import check_report

    result = run_check(Model(builtin("one-lu"), variant("no-suspend")))
    page = check_report(result, tmp_path)
    assert "path_routes_to_owner" in page.read_text()


def test_a_large_scenario_reports_the_phases_of_small_built_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    from lutakeover.reports import html_report

    monkeypatch.setattr(html_report, "PHASE_STATES", 10)
    section = html_report._phase_section(model("backup-and-takeover", "no-suspend"))
    assert "has more than 10 states" in section and "built-in one-lu and fig9" in section
    assert section.count("<svg") == 2 and "variant no-suspend" in section


def test_a_quotient_too_large_to_draw_is_refused() -> None:
    with pytest.raises(
        DiagramError, match=r"even its quotient by phase has 121 nodes; draw the per-LU phase"
    ):
        state_graph_dot(model("fig5", "no-suspend"), None, max_nodes=50)


def test_dot_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Sets of strings iterate in a per-process order; every diagram sorts before it draws."""
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"p{seed}.dot"
        argv = [
            "diagram",
            "phases",
            "--builtin",
            "backup-and-takeover",
            "--variant",
            "skip-destage",
            "-o",
            str(out),
        ]
        code = f"import sys; from lutakeover.cli import main; sys.exit(main({[*argv, '--quiet']!r}))"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_a_trace_names_a_built_in_or_generated_scenario() -> None:
    generated = diagram.scenario_named("array-2c-3lu-1b")
    assert generated is not None and (generated.controllers, len(generated.lus)) == (2, 3)
    fig9 = diagram.scenario_named("fig9")
    assert fig9 is not None and fig9.name == "fig9"
    assert diagram.scenario_named("my-array") is None and diagram.scenario_named(None) is None


def test_diagram_draws_a_simulate_trace_of_a_generated_array(tmp_path: Path) -> None:
    itf = tmp_path / "sim.itf.json"
    argv = [
        "simulate",
        "--variant",
        "no-suspend",
        "--seed",
        "3",
        "--runs",
        "20",
        "--controllers",
        "2",
        "--lus",
        "3",
    ]
    assert main([*argv, "--quiet", "--trace-out", str(itf)]) == 1
    assert main(["diagram", "trace", "--trace", str(itf), "-o", str(tmp_path / "t.svg"), "--quiet"]) == 0
    words = texts(ET.parse(tmp_path / "t.svg").getroot())
    assert words[0].startswith(
        "sim.itf.json: scenario array-2c-3lu-1b, variant no-suspend; path_routes_to_owner"
    )


@pytest.mark.parametrize(("scenario", "front"), [("fig5", "path controller"), ("fig9", "controller 0")])
def test_a_reply_is_an_arrow_back_to_the_host(scenario: str, front: str) -> None:
    from proofs.replay import replay

    m = model(scenario)
    lu = 2 if scenario == "fig5" else 0
    mirrored = ["mirror_write pair0"] if scenario == "fig9" else []  # the reply waits for the mirror
    run = replay(
        m, [f"send_write host0 LU{lu} block 0", "deliver host0", "process host0", *mirrored, "complete host0"]
    )
    assert [(str(msg.sender), str(msg.receiver)) for msg in messages(m, run)][-1] == (front, "host0")


def test_the_diagrams_explorations_report_progress_by_time_not_by_count() -> None:
    """A state of an array of a thousand LUs takes milliseconds: a line every 50,000 states
    left `diagram phases` silent for minutes. Lines now come by time, as the search's do
    (here from the first state on, so a small scenario shows them)."""
    from lutakeover.diagrams.state_graph import reachable
    from proofs.explicit import first_progress_after

    m = Model(builtin("fig5"))
    phases: list[str] = []
    graph: list[str] = []
    with first_progress_after(0.0):
        derive(m, progress=phases.append)
        reachable(m, 100_000, graph.append)
    assert phases[0] == "phase machine: 1 states explored, 0 s"
    assert graph[0] == "state graph: 1 states, 0 s"
