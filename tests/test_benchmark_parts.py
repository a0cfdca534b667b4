"""The benchmarks' measuring functions run and measure what they say (their figures are
printed by benchmarks/, never asserted: the machine is shared)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.nbd import MemoryBackend
from benchmarks.reference_array import takeover_seconds
from model.scenario import builtin, builtin_names
from reference_impl.config import ArrayConfig, HostConfig, LuConfig, Workload
from reference_impl.nbd.codec import CMD_FLUSH, CMD_READ, CMD_WRITE, Request
from reference_impl.simulator import Simulation


def test_takeover_against_dirty_cache_destages_every_line_on_a_disk_file(tmp_path: Path) -> None:
    _, steps = takeover_seconds(64, str(tmp_path))
    assert steps == 12 + 2 * 64  # the take-over's steps, and each line's de-stage started and done
    assert (tmp_path / "run-64" / "disk.img").stat().st_size == (2 + 64) * 4096


def test_an_array_in_a_directory_not_yet_made_makes_it(tmp_path: Path) -> None:
    config = ArrayConfig(1, 1, (LuConfig(0, 0, 0, 0, 0, 1),), block_size=512)
    sim = Simulation(config, Workload(hosts=(HostConfig("host0"),)), directory=str(tmp_path / "a" / "b"))
    sim.close()
    assert (tmp_path / "a" / "b" / "disk.img").exists()


def test_the_no_array_server_reads_back_what_it_was_written() -> None:
    # benchmarks/nbd.py's ceiling: our NBD server over a bytearray, each request at once.
    backend = MemoryBackend(8192)
    answers: list[tuple[int, bytes]] = []

    def done(error: int, data: bytes) -> None:
        answers.append((error, data))

    assert [e.size for e in backend.exports("host0").values()] == [8192]
    backend.submit("host0", "lu0", Request(1, CMD_WRITE, 0, 4000, 200, b"x" * 200), done)
    backend.submit("host0", "lu0", Request(2, CMD_FLUSH, 0, 0, 0), done)
    backend.submit("host0", "lu0", Request(3, CMD_READ, 0, 3999, 202), done)
    assert answers == [(0, b""), (0, b""), (0, b"\0" + b"x" * 200 + b"\0")]


def _no_compiler() -> str | None:
    """Why mypyc cannot build here, or None."""
    import shutil
    import sysconfig

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        return "no C compiler (apt-get install gcc)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (apt-get install python3-dev)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_no_compiler() is not None, reason=str(_no_compiler()))
def test_the_mypyc_build_is_compiled_and_explores_what_python_does(tmp_path: Path) -> None:
    """benchmarks/compiled.py: the hot path compiled (about 40 s of mypyc), the same search."""
    from benchmarks.compiled import ROOT, build, measure

    build(tmp_path)
    assert sorted(p.name.split(".")[0] for p in (tmp_path / "model").glob("*.so")) == [
        "actions",
        "labels",
        "protocol",
        "state",
    ]
    compiled, python = measure("one-lu", tmp_path), measure("one-lu", ROOT)
    assert (compiled["compiled"], python["compiled"]) == (True, False)
    shape = ("states", "transitions", "depth")
    assert [compiled[k] for k in shape] == [python[k] for k in shape] == [71, 113, 16]


EXPLORE = Path(__file__).parent.parent / "benchmarks" / "explore.py"


def test_the_exploration_benchmark_runs_the_scenarios_asked_for() -> None:
    done = subprocess.run(
        [sys.executable, str(EXPLORE), "--only", "one-lu"], capture_output=True, text=True, check=True
    )
    rows = [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]
    assert [(row[0], row[1], row[2], row[3]) for row in rows] == [
        ("one-lu", "symmetry", "on", "71"),
        ("one-lu", "full", "on", "71"),
        ("one-lu", "full", "off", "71"),
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--only", "one-lu,nope"], "--only: no scenario nope; there are array-2x2x1-t2, "),
        (["--only", "one-lu", "--quick"], "--only chooses the scenarios itself"),
    ],
)
def test_the_exploration_benchmark_names_what_it_cannot_run(arguments: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, str(EXPLORE), *arguments], capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""


CEILING = Path(__file__).parent.parent / "benchmarks" / "ceiling.py"


def test_the_ceiling_benchmark_searches_the_same_states_three_ways() -> None:
    """benchmarks/ceiling.py: the model's successors, then looked up, with and without the
    properties; the same states each time, or the figures compare nothing."""
    done = subprocess.run(
        [sys.executable, str(CEILING), "one-lu", "crash-takeover"], capture_output=True, text=True, check=True
    )
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert [(row[0], row[-4]) for row in rows] == [("one-lu", "71")] * 3 + [("crash-takeover", "4,550")] * 3
    assert [" ".join(row[1:-4]) for row in rows[:3]] == [
        "model's successors, properties",
        "looked up, properties",
        "looked up, no property",
    ]


def test_the_ceiling_benchmark_names_a_scenario_it_does_not_know() -> None:
    done = subprocess.run([sys.executable, str(CEILING), "one-lu", "nope"], capture_output=True, text=True)
    assert (
        done.returncode == 2 and "no built-in scenario called nope; known: background-destage" in done.stderr
    )
    assert done.stdout == ""


def test_the_footprint_floor_searches_the_same_states_three_ways() -> None:
    """benchmarks/footprint_floor.py: the searches it times agree on what they found."""
    from benchmarks.footprint_floor import floor_rows

    found = [(row, f.states, f.transitions, f.expanded) for row, f in floor_rows(8, 3.1, 3000)]
    assert found == [
        ("tuples, successors looked up by state", 3001, 4734, 1574),
        ("footprint cache", 3001, 4734, 1574),
        ("footprint cache, incremental", 3001, 4734, 1574),
    ]


def test_a_cached_search_whose_steps_do_not_depend_on_their_footprint_alone_is_refused() -> None:
    from benchmarks.footprint_floor import System, cached_search, generated

    class Unfaithful(System):
        # Steps that depend on a counter the footprint does not show: a cache keyed by the
        # footprint replays the first answer, so the cached search finds other states.
        calls = 0

        def steps(self, g: int, read: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
            Unfaithful.calls += 1
            return super().steps(g, read) if Unfaithful.calls % 7 else []

    base = generated(8, 3.1)
    system = Unfaithful(base.cells, base.values, base.reads, base.enabled_percent)
    with pytest.raises(AssertionError, match="the cached search found"):
        cached_search(system, (0,) * system.cells, 3000, incremental=False)


def test_the_model_footprints_hold_and_what_they_repeat_is_pinned() -> None:
    """benchmarks/footprint_reuse.py: over the first states of three built-ins, a group's
    steps never differ where its footprint's values repeat; lookups and misses pinned."""
    from benchmarks.footprint_reuse import measure

    found = {}
    for name in ("one-lu", "fig5", "three-way"):
        r = measure(builtin(name), 3000)
        found[name] = (
            r.states,
            r.lookups,
            r.incremental,
            r.misses,
            r.wrong,
            r.property_lookups,
            r.property_misses,
        )
    assert found == {
        "one-lu": (71, 355, 182, 115, 0, 588, 257),
        "fig5": (3000, 42000, 7918, 831, 0, 26373, 4450),
        "three-way": (3000, 33000, 8568, 1094, 0, 26121, 4034),
    }


@pytest.mark.parametrize(
    ("left_out", "group"),
    [("acked", "host"), ("blocks", "destage"), ("ic", "host")],
)
def test_a_footprint_leaving_out_a_cell_its_steps_read_is_caught(
    monkeypatch: pytest.MonkeyPatch, left_out: str, group: str
) -> None:
    """A host's reply writes the last acknowledged value (acked), a de-stage's end writes a
    disk block (blocks), a host's request reaches a controller (ic): a footprint without
    these cells is a wrong footprint, and the measurement counts it. (On an LU of one
    block written once the first two are no mistake: what they write does not depend on
    what was there, so the LU here has three blocks, each written twice.)"""
    from dataclasses import replace

    import benchmarks.footprint_reuse as reuse

    honest = reuse.footprint

    def narrowed(layout: reuse.Layout, cells: reuse.Cells, g: object) -> list[int]:
        fp = honest(layout, cells, g)
        assert isinstance(g, tuple)
        return [i for i in fp if layout.kind[i] != left_out] if g[0] == group else fp

    monkeypatch.setattr(reuse, "footprint", narrowed)
    scenario = replace(builtin("multi-block"), background_destage=True, writes_per_block=2)
    assert reuse.measure(scenario, 6000).wrong > 0


FLOOR = Path(__file__).parent.parent / "benchmarks" / "footprint_floor.py"
REUSE = Path(__file__).parent.parent / "benchmarks" / "footprint_reuse.py"


def test_the_footprint_benchmarks_print_their_rows() -> None:
    floor = subprocess.run(
        [sys.executable, str(FLOOR), "--groups", "6", "--states", "500", "--model-states", "50"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = floor.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["6", "tuples,"],
        ["6", "footprint"],
        ["6", "footprint"],
    ]
    assert [line.split()[0] for line in lines[-4:]] == ["fig5", "three-way", "multi-block", "chain"]
    reuse = subprocess.run(
        [sys.executable, str(REUSE), "one-lu", "--max-states", "100"],
        capture_output=True,
        text=True,
        check=True,
    )
    row = reuse.stdout.splitlines()[1].split()
    assert row[:3] == ["one-lu", "71", "5"] and row[5] == "0"  # every state, five groups, no wrong footprint


@pytest.mark.parametrize(
    ("script", "arguments", "message"),
    [
        (FLOOR, ["--groups", "4,x"], "--groups takes numbers separated by commas, not '4,x'"),
        (FLOOR, ["--states", "1"], "--states at least 2"),
        (FLOOR, ["--model-states", "-1"], "--model-states is at least 0"),
        (REUSE, ["nope"], "no built-in scenario called nope"),
        (REUSE, ["--max-states", "0"], "--max-states is at least 1"),
    ],
)
def test_the_footprint_benchmarks_name_bad_arguments(
    script: Path, arguments: list[str], message: str
) -> None:
    done = subprocess.run([sys.executable, str(script), *arguments], capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("name", builtin_names())
def test_no_footprint_is_wrong_on_any_built_in(name: str) -> None:
    """docs/ARCHITECTURE.md's figures of a footprint cache hold only while every footprint
    benchmarks/footprint_reuse.py declares covers what its steps read: on every built-in
    (its first 20,000 states, as the documented run), none is wrong."""
    from benchmarks.footprint_reuse import measure

    r = measure(builtin(name), 20_000)
    assert r.wrong == 0, r.first_wrong
    assert r.misses > 0 and r.property_misses > 0
