"""The `lutakeover` command: check, simulate, bmc, prove and diagram; list scenarios and variants.

Exit codes: 0 every property holds, 1 a property is violated (or a witness was never reached,
or a proof obligation failed), 2 bad input, 3 incomplete (`check`: a limit stopped the search;
`bmc`: a depth's encoding or z3's answer took longer than `--timeout`).
"""

from __future__ import annotations

import argparse
import codecs
import errno
import os
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conformance import DEFAULT_EXAMPLES, DEFAULT_MAX_STEPS
from lutakeover import array_cmd
from lutakeover.diagrams import DEFAULT_MAX_NODES, GRAPH_KINDS, KINDS
from lutakeover.formats.itf import ItfError, trace_origin, violation_description, write_trace
from lutakeover.formats.report import (
    bmc_json,
    check_json,
    dumps,
    format_bmc,
    format_check,
    format_simulation,
    simulation_json,
)
from model.actions import Model
from model.generate import array_scenario
from model.labels import Label, LabelError
from model.protocol import VARIANTS, Protocol, variant
from model.scenario import (
    MAX_BLOCKS,
    MAX_CONTROLLERS,
    MAX_LUS,
    Scenario,
    ScenarioError,
    builtin,
    builtin_names,
    load,
)
from model.symmetry import MAX_GROUP, describe_size, group_size
from proofs.check import AUTO_SYMMETRY_LIMIT, EXIT_BAD_INPUT, EXIT_OK, Check, exit_code, run_check
from proofs.composed import composed_check, composes_by_default
from proofs.explicit import first_progress_after
from proofs.product import NotIndependent, product_check, why_not_independent
from proofs.product_liveness import LocalCycle
from reference_impl.bugs import ALL_IMPL_BUGS

MAX_TIMEOUT = 86_400  # seconds


class BadInput(Exception):
    """Input the command refuses: reported on stderr, exit code 2, nothing written."""


def _whole(text: str, minimum: int, maximum: int, why: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(
            f"{value} must be at least {minimum}" if minimum else f"{value} must not be negative"
        )
    if value > maximum:
        raise argparse.ArgumentTypeError(f"{value} is more than {maximum:,}, {why}")
    return value


def _bounded(minimum: int, maximum: int, why: str) -> Callable[[str], int]:
    """An argument type: a whole number from ``minimum`` to ``maximum``; ``why`` says why
    no more, in the error message."""

    def parse(text: str) -> int:
        return _whole(text, minimum, maximum, why)

    parse.__name__ = "number"  # argparse names the type in its message
    return parse


_ENGINE = "the most the engines handle"
_TIMEOUT = _bounded(1, MAX_TIMEOUT, "a day: z3 takes its timeout in milliseconds as a 32-bit number")


DEFAULT_BMC_DEPTH = 15  # every seeded bug of fig5 breaks a property within 14 steps
MAX_BMC_DEPTH = 1000  # z3 needs minutes past depth 20; a deeper bound is a typo
MAX_RUNS = 1_000_000
MAX_STEPS = 10_000  # Hypothesis ends a run near 8,000 choices whatever is asked
MAX_DRAWN_NODES = 5_000  # Graphviz lays out 150 nodes in seconds; thousands take hours


def _scenario_options(
    verb: argparse.ArgumentParser, scenario_help: str, variant_default: str | None = "correct"
) -> None:
    """The scenario (a file, or --builtin NAME) and the protocol variant a verb runs."""
    verb.add_argument("scenario", nargs="?", metavar="SCENARIO.toml", help=scenario_help)
    verb.add_argument("--builtin", metavar="NAME", help="a built-in scenario (see `scenarios`)")
    verb.add_argument(
        "--variant",
        metavar="NAME",
        default=variant_default,
        help="the protocol: correct (default) or a seeded bug (see `variants`)",
    )


def _output_options(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--json", action="store_true", help="print the whole result as JSON")
    verb.add_argument(
        "--trace-out", metavar="FILE", help="write the counterexample (failing run) as an ITF trace"
    )
    verb.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lutakeover",
        description="Model checker for taking logical units over between disk-array "
        "controllers with dedicated write-back caches.",
        epilog="Without a verb, the arguments are check's (`lutakeover` alone checks the built-in fig5). "
        "Exit codes: 0 all properties hold, 1 a property is violated, 2 bad input, 3 incomplete.",
    )
    parser.add_argument("--version", action=_VersionAction)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    check = verbs.add_parser(
        "check",
        help="explore every reachable state of a scenario and check every property",
        description="Breadth-first search of every reachable state: shortest "
        "counterexamples, liveness under weak fairness, reachability witnesses.",
    )
    _scenario_options(check, "a scenario file (default: the built-in fig5)")
    symmetry = check.add_mutually_exclusive_group()
    symmetry.add_argument(
        "--no-symmetry",
        dest="symmetry",
        action="store_false",
        default=None,
        help="explore every state, without symmetry reduction",
    )
    symmetry.add_argument(
        "--symmetry",
        dest="symmetry",
        action="store_true",
        help="reduce by symmetry even where a state would be renamed more than "
        f"{AUTO_SYMMETRY_LIMIT} times (by default: reduce when the scenario has symmetries and "
        f"a state is renamed at most {AUTO_SYMMETRY_LIMIT} times, interchangeable spare "
        "controllers being sorted, not tried in every order; liveness is judged on the concrete "
        "states behind the cycles of the reduced graph, so its verdicts are those of the full search)",
    )
    check.add_argument(
        "--no-liveness",
        action="store_true",
        help="skip the liveness check (saves the memory of the state graph)",
    )
    check.add_argument(
        "--max-states",
        type=_bounded(1, 2**40, "a trillion states"),
        metavar="N",
        help="stop after N states with verdict incomplete (exit 3)",
    )
    check.add_argument(
        "--keep-going",
        action="store_true",
        help="after a violation, go on to find every property's shortest counterexample",
    )
    product = check.add_mutually_exclusive_group()
    product.add_argument(
        "--product",
        dest="product",
        action="store_true",
        default=None,
        help="where the LUs share nothing but the take-over budget, search each LU's own array "
        "once and count the product (safety, witnesses, and liveness from the dead ends the "
        "LUs' states make together). The default on such an array of several LUs, unless "
        "--no-symmetry, --symmetry or --max-states asks for the search itself",
    )
    product.add_argument(
        "--no-product", dest="product", action="store_false", help="never the per-LU product"
    )
    composed = check.add_mutually_exclusive_group()
    composed.add_argument(
        "--composed",
        dest="composed",
        action="store_true",
        default=None,
        help="search every state as one record "
        "per group of LUs (LUs a host uses, or a mirrored pair, share one), working out each "
        "group's steps once: the same states, counterexamples and liveness verdicts, several "
        "times faster. The default where two groups or more can change, unless the product "
        "applies or --symmetry is given",
    )
    composed.add_argument(
        "--no-composed", dest="composed", action="store_false", help="never the composed search"
    )
    check.add_argument(
        "--progress-after",
        type=_bounded(0, MAX_TIMEOUT, "a day"),
        default=3,
        metavar="SECONDS",
        help="seconds before the first progress line, then one every 2 s (default 3: a short "
        "search prints none)",
    )
    _output_options(check)
    _report_option(check)
    sim = verbs.add_parser(
        "simulate",
        help="random deep runs (Hypothesis) of arrays too large to explore exhaustively",
        description="Hypothesis stateful exploration: every safety property after every "
        "transition, a settle-and-check for liveness at the end of each run; a failure is "
        "shrunk and printed as a pytest test that replays it. Without a scenario, a generated "
        "array of --controllers, --lus and --blocks.",
    )
    _scenario_options(sim, "a scenario file (default: a generated array, see --controllers)")
    sim.add_argument(
        "--controllers",
        type=_bounded(1, MAX_CONTROLLERS, _ENGINE),
        metavar="N",
        help=f"generated array: controllers, 2 to {MAX_CONTROLLERS} (default 4)",
    )
    sim.add_argument(
        "--lus",
        type=_bounded(1, MAX_LUS, _ENGINE),
        metavar="M",
        help=f"generated array: LUs, at most {MAX_LUS} (default 16)",
    )
    sim.add_argument(
        "--blocks",
        type=_bounded(1, MAX_BLOCKS, _ENGINE),
        metavar="B",
        help=f"generated array: blocks per LU, at most {MAX_BLOCKS} (default 1)",
    )
    sim.add_argument(
        "--background-destage",
        action="store_true",
        help="generated array: controllers de-stage write-back LUs at any time, as real caches do",
    )
    sim.add_argument(
        "--runs", type=_bounded(1, MAX_RUNS, "a million"), default=100, metavar="R", help="runs (default 100)"
    )
    sim.add_argument(
        "--steps",
        type=_bounded(1, MAX_STEPS, "Hypothesis ends a run near 8,000 choices"),
        default=50,
        metavar="S",
        help="rule calls per run; a call may be a whole take-over (default 50)",
    )
    sim.add_argument(
        "--seed",
        type=_bounded(0, 2**64 - 1, "a 64-bit seed"),
        metavar="SEED",
        help="random seed, 0 to 2^64-1 (default: a new one, printed)",
    )
    _output_options(sim)
    sim.add_argument("--program-out", metavar="FILE", help="write the replaying pytest test to FILE")
    _report_option(sim)
    bmc = verbs.add_parser(
        "bmc",
        help="bounded model checking with z3: the shortest run of at most K steps breaking a property",
        description="The model's transition relation encoded in z3 and unrolled depth by depth; "
        "the first depth with a violation is the length of a shortest counterexample, decoded "
        "into the same step table and ITF trace as `check` prints.",
    )
    _scenario_options(bmc, "a scenario file (default: the built-in fig5)")
    bmc.add_argument(
        "--depth",
        type=_bounded(0, MAX_BMC_DEPTH, "z3 needs minutes past depth 20"),
        default=DEFAULT_BMC_DEPTH,
        metavar="K",
        help=f"longest run to consider, in steps (default {DEFAULT_BMC_DEPTH})",
    )
    bmc.add_argument(
        "--timeout",
        type=_TIMEOUT,
        metavar="SECONDS",
        help="give up on a depth whose encoding, or z3's answer, takes more than SECONDS (exit 3)",
    )
    _output_options(bmc)
    prove = verbs.add_parser(
        "prove",
        help="inductive proof with z3: the safety properties hold for every number of "
        "controllers, LUs and blocks, crashes included",
        description="One z3 query per (action, part of the invariant), printed as `ACTION "
        "preserves PART ... ok`; unknown or a timeout fails. A counterexample to induction is "
        "printed as a state table and, with --classify, checked by explicit search on a small "
        "array: reachable (a real bug, with its trace) or not (a missing lemma).",
    )
    prove.add_argument("--variant", metavar="NAME", default="correct", help="the protocol (see `variants`)")
    prove.add_argument(
        "--classify",
        action="store_true",
        help="classify each counterexample to induction by explicit search (seconds each)",
    )
    prove.add_argument(
        "--timeout",
        type=_TIMEOUT,
        default=10,
        metavar="SECONDS",
        help="per query; a query z3 has not decided by then fails the proof (default 10)",
    )
    prove.add_argument("--json", action="store_true", help="print the result as JSON")
    prove.add_argument(
        "--quiet", action="store_true", help="print only failed obligations and the verdict, not every line"
    )
    draw = verbs.add_parser(
        "diagram",
        help="draw the phase machine, the state graph, a trace or the configuration tables",
        description="Diagrams generated from the model: "
        + "; ".join(f"{kind}: {what}" for kind, what in KINDS.items())
        + ". The output format follows the file's extension: .svg, .png, or .dot (Graphviz source, "
        "byte-identical for the same model).",
    )
    draw.add_argument("kind", choices=list(KINDS), metavar="KIND", help=", ".join(KINDS))
    # No default variant: a --trace file's #meta names the variant it was found under.
    _scenario_options(draw, "a scenario file (default: the built-in fig5)", variant_default=None)
    draw.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="where to write: FILE.svg, FILE.png or FILE.dot"
    )
    draw.add_argument(
        "--trace",
        metavar="FILE",
        help="trace: draw this ITF trace (scenario and variant read from its #meta unless given)",
    )
    draw.add_argument(
        "--max-nodes",
        type=_bounded(1, MAX_DRAWN_NODES, "Graphviz would take hours to lay them out"),
        default=DEFAULT_MAX_NODES,
        metavar="N",
        help=f"states: draw the quotient by phase above N states (default {DEFAULT_MAX_NODES})",
    )
    draw.add_argument(
        "--graphml",
        metavar="FILE",
        help="phases, states: also write the graph drawn as GraphML, for other graph tools",
    )
    draw.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    diff = verbs.add_parser(
        "difftest",
        help="run the reference array and the model in lockstep and compare every step",
        description="Hypothesis chooses every step of the reference array's simulator; after "
        "each, the steps the array offers must be the steps the model enables, and the "
        "array's state (caches, tables, disk, paths, hosts' frames) must be the model's. A "
        "divergence is shrunk to a short program of steps, printed and replayable with --replay.",
        epilog="Exit codes: 0 the array agrees with the model, 1 it diverged, 2 bad input.",
    )
    diff.add_argument("scenario", nargs="?", metavar="SCENARIO.toml", help="a scenario file (default: fig5)")
    diff.add_argument("--builtin", metavar="NAME", help="a built-in scenario (see `scenarios`)")
    diff.add_argument(
        "--generated",
        metavar="CxLxB",
        help="a generated array: C controllers, L LUs of B blocks, any LU to any controller (e.g. 3x4x1)",
    )
    diff.add_argument(
        "--examples",
        type=_bounded(1, MAX_RUNS, "a million"),
        metavar="N",
        help=f"lockstep runs Hypothesis makes (default {DEFAULT_EXAMPLES})",
    )
    diff.add_argument(
        "--seed",
        type=_bounded(0, 2**64 - 1, "a 64-bit seed"),
        metavar="SEED",
        help="random seed, 0 to 2^64-1 (default: a new one, printed)",
    )
    diff.add_argument(
        "--impl-bug",
        action="append",
        default=[],
        metavar="NAME",
        help="build the array with a seeded implementation bug (repeatable; `--impl-bug list` lists them)",
    )
    diff.add_argument(
        "--max-steps",
        type=_bounded(1, MAX_STEPS * 10, "a run of the built-in scenarios ends within a few hundred"),
        metavar="S",
        help=f"steps per run at most (default {DEFAULT_MAX_STEPS}; a run ends when nothing is left to do)",
    )
    diff.add_argument("--replay", metavar="FILE", help="run the program in FILE (one step per line) instead")
    diff.add_argument("--program-out", metavar="FILE", help="write the program of a divergence to FILE")
    diff.add_argument(
        "--diagram", metavar="FILE", help="draw a divergence as a sequence diagram (.svg, .png or .dot)"
    )
    diff.add_argument("--json", action="store_true", help="print the whole result as JSON")
    diff.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    val = verbs.add_parser(
        "validate",
        help="replay a log of the array's events against the model",
        description="Each event of the log (JSON lines) must be a step the model enables in the "
        "state reached so far, every safety property must hold after it, and a read's logged "
        "value must be what the model reads. On a mismatch: the events matched, the event, and "
        "the model's reason for refusing it or the property it breaks.",
        epilog="Exit codes: 0 the log is a run of the model, 1 it is not, 2 bad input.",
    )
    val.add_argument("log", metavar="LOG", help="the log (events.jsonl)")
    val.add_argument(
        "scenario", nargs="?", metavar="SCENARIO.toml", help="the scenario (default: the one the log names)"
    )
    val.add_argument("--builtin", metavar="NAME", help="a built-in scenario (see `scenarios`)")
    val.add_argument("--json", action="store_true", help="print the result as JSON")
    array_cmd.add_parser(verbs, _array_scenario_options)
    verbs.add_parser(
        "scenarios",
        help="list the built-in scenarios",
        description="The built-in scenarios, a line each: the name --builtin takes and what the scenario "
        "does. docs/scenarios.md gives their sizes and how to write one's own.",
    )
    verbs.add_parser(
        "variants",
        help="list the protocol variants (the correct one and seeded bugs)",
        description="The protocol variants, a line each: the name --variant takes and what it changes. "
        "correct is the patent's protocol; each other variant is a seeded bug some property must catch.",
    )
    return parser


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for: reading the installed package's
    metadata costs every other command 20-30 ms of start-up."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("lu-takeover")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _report_option(verb: argparse.ArgumentParser) -> None:
    verb.add_argument(
        "--report",
        metavar="DIR",
        help="write an HTML report (verdict, statistics, step table, sequence and phase diagrams) "
        "to DIR/index.html, readable offline",
    )


def _check_report_dir(path: str) -> None:
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise BadInput(f"--report {path}: exists and is not a directory")
    existing = next((p for p in [target, *target.parents] if p.exists()), Path("."))
    if not existing.is_dir():  # a file on the way: the folder could never be created
        raise BadInput(f"--report {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK):
        raise BadInput(f"--report {path}: {existing} is not writable")


def _report_written(page: Path, quiet: bool) -> None:
    if not quiet:
        print(f"lutakeover: report written to {page}", file=sys.stderr)


def _scenario(args: argparse.Namespace, served: bool = False) -> Scenario:
    """The scenario named on the command line; ``served``: for the reference array and
    trace validation, which take LUs of real sizes."""
    if args.scenario and args.builtin:
        raise BadInput("give a scenario file or --builtin, not both")
    try:
        if args.scenario:
            return load(args.scenario, served)
        return builtin(args.builtin or "fig5")
    except ScenarioError as e:
        if args.scenario and _starts_with_bom(args.scenario):  # TOML's parser says only "line 1"
            raise BadInput(
                f"{args.scenario}: starts with a UTF-8 byte order mark (BOM), which TOML does not allow: "
                "save it as UTF-8 without one"
            ) from None
        raise BadInput(str(e)) from None


def _starts_with_bom(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    except OSError:
        return False


def _check_writable(path: str, option: str) -> None:
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise BadInput(f"{option} {path}: is a directory")
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{option} {path}: {folder} is not a directory")
    if not folder.is_dir():
        raise BadInput(f"{option} {path}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"{option} {path}: directory {folder} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise BadInput(f"{option} {path}: cannot write: {os.strerror(errno.EACCES)}")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): the same path, then
        return os.path.realpath(a) == os.path.realpath(b)


def _check_outputs(outputs: dict[str, str | None], inputs: dict[str, str | None]) -> None:
    """Refuse, before the run, an output the run could not write, or one that would
    overwrite an input or another output: a scenario file given as its own --trace-out
    would be lost. ``outputs`` maps each output option to its path (None: not given;
    --report names a folder, the files a report writes are in it); ``inputs`` maps what
    each input file is ("the scenario file") to its path."""
    taken = [(what, path) for what, path in inputs.items() if path]  # files not to write over
    for option, path in outputs.items():
        if path is None:
            continue
        if not path:  # a path of "" would otherwise read as no option at all
            raise BadInput(f"{option}: the path is empty")
        if option == "--report":
            from lutakeover.reports.html_report import OWNED

            _check_report_dir(path)
            files = [str(Path(path, name)) for name in OWNED]
        else:
            _check_writable(path, option)
            files = [path]
        for file in files:
            for what, other in taken:
                if _same_file(file, other):
                    raise BadInput(f"{option} {path}: would overwrite {what} {other}")
            taken.append((f"the {option} file", file))


@contextmanager
def _writing(option: str, path: str) -> Iterator[None]:
    """Where the output of ``option`` is written: a failure the checks before the run could
    not foresee (a full disk, a file made read-only since) is bad input, said in one line
    like any other, not a traceback after the result."""
    try:
        yield
    except OSError as e:
        raise BadInput(f"{option} {path}: cannot write: {e.strerror or e}") from None


def cmd_check(args: argparse.Namespace) -> int:
    with first_progress_after(args.progress_after):
        return _check(args)


def _check(args: argparse.Namespace) -> int:
    scenario = _scenario(args)
    protocol = _protocol(args.variant)
    size = group_size(scenario) if args.symmetry else 1  # counting them can take a while
    if args.symmetry and (size == 0 or size > MAX_GROUP):
        raise BadInput(
            f"--symmetry: {scenario.name} has {describe_size(size)} symmetries, too many to rename "
            f"every state by (at most {MAX_GROUP:,}); run without --symmetry"
        )
    product_by_default = args.product is None
    if args.product is None:  # the product where it applies and nothing asks for the search itself
        args.product = (
            args.symmetry is None
            and args.max_states is None
            and len(scenario.lus) > 1
            and why_not_independent(scenario) is None
        )
        if args.product and not args.quiet:
            print(
                "lutakeover: the LUs share only the take-over budget: checked by the per-LU product "
                "(--no-product for the search of every state)",
                file=sys.stderr,
            )
    if args.product:
        given = [f for f, on in (("--symmetry", args.symmetry), ("--max-states", args.max_states)) if on]
        if given:
            raise BadInput(f"--product searches each LU's own array whole: drop {' and '.join(given)}")
    model = Model(scenario, protocol)
    if args.composed is None:  # where it applies, unless a reduction was chosen
        args.composed = not args.product and not args.symmetry and composes_by_default(model)
        if args.composed and not args.quiet:
            print(
                "lutakeover: every state searched as one record per group of LUs (a host or a "
                "mirrored pair ties LUs into one; --no-composed for the search of whole states)",
                file=sys.stderr,
            )
    if args.composed:
        if args.product:
            raise BadInput("--composed searches every state and --product counts them: choose one")
        if args.symmetry:
            raise BadInput("--composed searches every state, not one per orbit: drop --symmetry")
        if not composes_by_default(model) and not args.quiet:
            print(
                "lutakeover: --composed: one group of LUs at most can change here, so its records "
                "are whole states, each kept: the search of whole states is quicker and keeps "
                "far less (drop --composed)",
                file=sys.stderr,
            )
    _check_outputs(
        {"--trace-out": args.trace_out, "--report": args.report}, {"the scenario file": args.scenario}
    )

    def progress(line: str) -> None:
        print(f"lutakeover: {line}", file=sys.stderr, flush=True)

    reporter = None if args.quiet else progress
    result: Check | None = None
    if args.product:
        try:
            result = product_check(
                model, keep_going=args.keep_going, liveness=not args.no_liveness, progress=reporter
            )
        except NotIndependent as e:
            raise BadInput(f"--product: {e}") from None
        except LocalCycle as e:  # the product cannot judge the liveness of this array
            if not product_by_default:
                raise BadInput(f"--product: {e}") from None
            if not args.quiet:
                print(f"lutakeover: {e}: every state searched instead", file=sys.stderr)
            args.composed = composes_by_default(model)
    if result is None and args.composed:
        result = composed_check(
            model,
            max_states=args.max_states,
            keep_going=args.keep_going,
            liveness=not args.no_liveness,
            progress=reporter,
        )
    elif result is None:
        result = run_check(
            model,
            symmetry=args.symmetry,
            max_states=args.max_states,
            keep_going=args.keep_going,
            liveness=not args.no_liveness,
            progress=reporter,
        )
    _print(dumps(check_json(result)) if args.json else format_check(result))
    if args.trace_out:
        if result.counterexamples:
            v = result.counterexamples[0]
            with _writing("--trace-out", args.trace_out):
                write_trace(
                    args.trace_out,
                    v,
                    f"lutakeover check {scenario.name}",
                    violation_description(v.property, protocol.name),
                )
            if not args.quiet:
                print(f"lutakeover: trace written to {args.trace_out}", file=sys.stderr)
        elif not args.quiet:
            print(f"lutakeover: no counterexample, so no trace written to {args.trace_out}", file=sys.stderr)
    if args.report:
        from lutakeover.reports.html_report import check_report

        with _writing("--report", args.report):
            page = check_report(result, args.report)
        _report_written(page, args.quiet)
    return exit_code(result.verdict)


# The engines built on Hypothesis and z3, Graphviz and the reference array are imported by
# the commands that use them: together they take about a third of a second to import, as
# long as `check` takes on a small scenario.


def cmd_simulate(args: argparse.Namespace) -> int:
    from proofs.simulate import simulate

    generated = args.scenario is None and args.builtin is None
    shape = (args.controllers, args.lus, args.blocks)
    if generated:
        controllers, lus, blocks = (x if x is not None else d for x, d in zip(shape, (4, 16, 1), strict=True))
        if controllers < 2:
            raise BadInput("--controllers: a take-over needs at least 2 controllers")
        try:
            scenario = array_scenario(controllers, lus, blocks, background_destage=args.background_destage)
        except ScenarioError as e:
            raise BadInput(f"--controllers {controllers} --lus {lus} --blocks {blocks}: {e}") from None
        source = f"array_scenario({controllers}, {lus}, {blocks})"
        if args.background_destage:
            source = f"array_scenario({controllers}, {lus}, {blocks}, background_destage=True)"
    else:
        if any(x is not None for x in shape):
            raise BadInput(
                "--controllers, --lus and --blocks describe a generated array: give them without a scenario"
            )
        if args.background_destage:
            raise BadInput("--background-destage describes a generated array: a scenario says it in [array]")
        scenario = _scenario(args)
        path = str(Path(args.scenario).resolve()) if args.scenario else ""
        source = f"load({path!r})" if args.scenario else f"builtin({scenario.name!r})"
    protocol = _protocol(args.variant)
    _check_outputs(
        {"--trace-out": args.trace_out, "--program-out": args.program_out, "--report": args.report},
        {"the scenario file": args.scenario},
    )
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    if not args.quiet:
        print(f"lutakeover: simulate {scenario.name}, variant {protocol.name}, seed {seed}", file=sys.stderr)
    result = simulate(
        Model(scenario, protocol),
        source,
        runs=args.runs,
        steps=args.steps,
        seed=seed,
        progress=None if args.quiet else (lambda line: print(f"lutakeover: {line}", file=sys.stderr)),
    )
    _print(dumps(simulation_json(result)) if args.json else format_simulation(result))
    if result.failure is not None:
        if args.trace_out:
            with _writing("--trace-out", args.trace_out):
                write_trace(
                    args.trace_out,
                    result.failure,
                    f"lutakeover simulate {scenario.name} --seed {seed}",
                    violation_description(result.failure.property, protocol.name),
                )
        if args.program_out and result.program:
            with _writing("--program-out", args.program_out):
                Path(args.program_out).write_text(result.program, encoding="utf-8")
    for what, path in (("trace", args.trace_out), ("program", args.program_out)):
        if path and not args.quiet:  # where the files went, as `check` says
            said = f"{what} written" if result.failure else f"no failing run, so no {what} written"
            print(f"lutakeover: {said} to {path}", file=sys.stderr)
    if args.report:
        from lutakeover.reports.html_report import simulation_report

        with _writing("--report", args.report):
            page = simulation_report(result, args.report)
        _report_written(page, args.quiet)
    return exit_code(result.verdict)


def _protocol(name: str) -> Protocol:
    try:
        return variant(name)
    except KeyError as e:
        raise BadInput(str(e.args[0])) from None


def _progress(quiet: bool) -> Callable[[str], None] | None:
    if quiet:
        return None
    return lambda line: print(f"lutakeover: {line}", file=sys.stderr, flush=True)


def cmd_bmc(args: argparse.Namespace) -> int:
    from proofs.bmc import bmc
    from proofs.encoding import EncodingLimit

    scenario = _scenario(args)
    protocol = _protocol(args.variant)
    _check_outputs({"--trace-out": args.trace_out}, {"the scenario file": args.scenario})
    m = Model(scenario, protocol)
    try:
        result = bmc(m, args.depth, timeout=args.timeout, progress=_progress(args.quiet))
    except EncodingLimit as e:
        raise BadInput(f"{scenario.name}: {e}") from None
    _print(dumps(bmc_json(m, result)) if args.json else format_bmc(m, result))
    if args.trace_out:
        if result.violation is not None:
            with _writing("--trace-out", args.trace_out):
                write_trace(
                    args.trace_out,
                    result.violation,
                    f"lutakeover bmc {scenario.name} --depth {args.depth}",
                    violation_description(result.violation.property, protocol.name),
                )
        elif not args.quiet:
            print(f"lutakeover: no counterexample, so no trace written to {args.trace_out}", file=sys.stderr)
    return exit_code(result.verdict)


def cmd_prove(args: argparse.Namespace) -> int:
    from proofs.induction import format_proof, prove

    protocol = _protocol(args.variant)
    # Without --json each obligation's line is the output itself, printed as it is decided.
    live = None if args.json or args.quiet else (lambda line: _print(line))
    result = prove(protocol, classify=args.classify, timeout_ms=args.timeout * 1000, progress=live)
    if args.json:
        _print(dumps(result.to_json()))
    else:
        summary = format_proof(result).split("\n")[len(result.obligations) :]
        if args.quiet:
            summary = [o.line for o in result.failures] + summary
        _print("\n".join(summary).lstrip("\n"))
    return exit_code(result.verdict)


def cmd_diagram(args: argparse.Namespace) -> int:
    from lutakeover.diagrams import kinds as diagram
    from lutakeover.diagrams.dot import DiagramError, format_of
    from lutakeover.diagrams.dot import write as write_diagram

    try:
        format_of(args.output)
    except DiagramError as e:
        raise BadInput(f"-o {e}") from None
    if args.graphml and args.kind not in GRAPH_KINDS:
        raise BadInput(f"--graphml: a {args.kind} diagram is not a graph; only phases and states are")
    if args.trace and args.kind != "trace":
        raise BadInput("--trace belongs to the trace kind")
    if args.trace and not Path(args.trace).is_file():
        raise BadInput(
            f"--trace {args.trace}: {'is a directory' if Path(args.trace).is_dir() else 'no such file'}"
        )
    _check_outputs(
        {"-o": args.output, "--graphml": args.graphml},
        {"the scenario file": args.scenario, "the --trace file": args.trace},
    )
    name = args.variant
    named: Scenario | None = None
    if args.trace:
        try:
            scenario_name, trace_variant = trace_origin(args.trace)
        except ItfError as e:
            raise BadInput(str(e)) from None
        name = name or trace_variant
        if not (args.scenario or args.builtin):
            try:
                named = diagram.scenario_named(scenario_name)
            except DiagramError as e:
                raise BadInput(f"--trace {args.trace}: {e}") from None
            if named is None:
                raise BadInput(
                    f"--trace {args.trace}: its #meta names no built-in or generated scenario "
                    f"({scenario_name or 'none'}); give the scenario file or --builtin"
                )
    scenario = named or _scenario(args)
    m = Model(scenario, _protocol(name or "correct"))
    progress = _progress(args.quiet)
    graph = None
    try:
        if args.kind == "phases":
            graph = diagram.phases_graph(m, progress)
        elif args.kind == "states":
            graph = diagram.states_graph(m, args.max_nodes, progress)
        if graph is not None:
            source = diagram.graph_dot_of(graph)
        elif args.kind == "trace":
            source = diagram.trace(m, args.trace, progress)
        else:
            source = diagram.tables(m, progress)
        with _writing("-o", args.output):
            write_diagram(source, args.output)
    except DiagramError as e:
        raise BadInput(str(e)) from None
    if args.graphml and graph is not None:
        with _writing("--graphml", args.graphml):
            diagram.write_graphml(graph, args.graphml)
    if not args.quiet:
        print(f"lutakeover: {args.kind} diagram written to {args.output}", file=sys.stderr)
        if args.graphml:
            print(f"lutakeover: its graph written to {args.graphml} (GraphML)", file=sys.stderr)
    return EXIT_OK


def cmd_scenarios(args: argparse.Namespace) -> int:
    names = builtin_names()
    width = max(len(name) for name in names)
    _print("\n".join(f"{name:<{width}}  {builtin(name).description}" for name in names))
    return EXIT_OK


def _impl_bugs(names: list[str]) -> frozenset[str]:
    for name in names:
        if name not in ALL_IMPL_BUGS:
            known = "\n".join(f"  {n:<30} {what}" for n, what in ALL_IMPL_BUGS.items())
            raise BadInput(f"--impl-bug: no bug is called {name!r}; known:\n{known}")
    return frozenset(names)


def _program(path: str) -> list[tuple[int, Label]]:
    """The steps of a --replay file, each with its line number."""
    from conformance.validate import label_error

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"--replay {path}: cannot read it: {e}") from None
    program = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#")[0].strip()
        if line:
            try:
                label = Label.parse(line)
            except LabelError as e:
                raise BadInput(f"--replay {path}, line {n}: {e}") from None
            wrong = label_error(label)
            if wrong is not None:
                raise BadInput(f"--replay {path}, line {n}: {wrong}")
            program.append((n, label))
    return program


def _generated(shape: str) -> Scenario:
    """The generated array ``CxLxB`` names (difftest --generated)."""
    try:
        controllers, lus, blocks = (int(x) for x in shape.lower().split("x"))
    except ValueError:
        raise BadInput(
            f"--generated {shape!r}: give controllers, LUs and blocks as CxLxB, e.g. 3x4x1"
        ) from None
    if not (2 <= controllers <= MAX_CONTROLLERS and 1 <= lus <= MAX_LUS and 1 <= blocks <= MAX_BLOCKS):
        raise BadInput(
            f"--generated {shape}: 2 to {MAX_CONTROLLERS} controllers, "
            f"1 to {MAX_LUS} LUs, 1 to {MAX_BLOCKS} blocks"
        )
    try:
        return array_scenario(controllers, lus, blocks)
    except (ScenarioError, ValueError) as e:
        raise BadInput(f"--generated {shape}: {e}") from None


def cmd_difftest(args: argparse.Namespace) -> int:
    from conformance.difftest import DifftestResult, difftest, replay
    from conformance.setup import array_of
    from lutakeover.diagrams.dot import DiagramError, format_of
    from lutakeover.diagrams.dot import write as write_diagram
    from lutakeover.formats.difftest import difftest_json, divergence_dot, format_difftest
    from reference_impl.config import ConfigError

    if "list" in args.impl_bug:
        _print("\n".join(f"{name:<30} {what}" for name, what in ALL_IMPL_BUGS.items()))
        return EXIT_OK
    bugs = _impl_bugs(args.impl_bug)
    if args.generated is not None and (args.scenario or args.builtin):
        raise BadInput("give one of a scenario file, --builtin or --generated")
    scenario = _generated(args.generated) if args.generated is not None else _scenario(args)
    try:
        array_of(scenario)[0].check()
    except ConfigError as e:
        raise BadInput(str(e)) from None
    if args.diagram:
        try:
            format_of(args.diagram)
        except DiagramError as e:
            raise BadInput(f"--diagram: {e}") from None
    _check_outputs(
        {"--program-out": args.program_out, "--diagram": args.diagram},
        {"the scenario file": args.scenario, "the --replay program": args.replay},
    )
    if args.replay is not None:
        given = [
            o
            for o, v in (
                ("--seed", args.seed),
                ("--examples", args.examples),
                ("--max-steps", args.max_steps),
            )
            if v is not None
        ]
        if given:  # the same command with --replay added is natural: said, not refused
            print(
                f"lutakeover: warning: --replay runs its program as it is: {', '.join(given)} ignored",
                file=sys.stderr,
            )
        numbered = _program(args.replay)
        program = [label for _, label in numbered]
        divergence, taken = replay(scenario, program, bugs)
        if divergence is not None and divergence.kind == "program":  # a step for another scenario
            line, label = numbered[taken]
            raise BadInput(
                f"--replay {args.replay}, line {line}: neither the array nor the model offers {label} "
                f"at this point: the program is not a run of {scenario.name}"
            )
        # No seed chose the steps of a replay.
        result = DifftestResult(scenario.name, tuple(sorted(bugs)), None, runs=1, steps=taken, longest=taken)
        result.divergence = divergence
        result.program = program[: taken + (divergence is not None and divergence.kind == "error")]
    else:
        seed = args.seed if args.seed is not None else random.randrange(2**32)
        if not args.quiet:
            print(f"lutakeover: difftest {scenario.name}, seed {seed}", file=sys.stderr, flush=True)

        def progress(line: str) -> None:
            print(f"lutakeover: {line}", file=sys.stderr, flush=True)

        result = difftest(
            scenario,
            bugs,
            args.examples if args.examples is not None else DEFAULT_EXAMPLES,
            seed,
            max_steps=args.max_steps if args.max_steps is not None else DEFAULT_MAX_STEPS,
            progress=None if args.quiet else progress,
        )
    _print(dumps(difftest_json(result)) if args.json else format_difftest(result))
    if args.program_out and result.divergence is not None:
        with _writing("--program-out", args.program_out):
            Path(args.program_out).write_text(
                "".join(f"{label}\n" for label in result.program), encoding="utf-8"
            )
        if not args.quiet:
            print(f"lutakeover: program written to {args.program_out}", file=sys.stderr)
    if args.diagram and result.divergence is not None:
        with _writing("--diagram", args.diagram):
            write_diagram(divergence_dot(scenario, result), args.diagram)
        if not args.quiet:
            print(f"lutakeover: diagram written to {args.diagram}", file=sys.stderr)
    return exit_code(result.verdict)


def cmd_validate(args: argparse.Namespace) -> int:
    from conformance.setup import for_real_clients, scenario_digest
    from conformance.validate import LogError, log_lines, read_log, validate

    try:
        with open(args.log, encoding="utf-8") as f:
            header, read = read_log(log_lines(f))
            events = list(read)
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{args.log}: cannot read it: {e}") from None
    except LogError as e:
        raise BadInput(f"{args.log}, {e}") from None
    from_header = args.scenario is None and args.builtin is None
    if from_header:
        named = header.get("scenario", {})
        if isinstance(named, dict) and isinstance(named.get("file"), str):
            args.scenario = named["file"]
        elif isinstance(named, dict) and isinstance(named.get("builtin"), str):
            args.builtin = named["builtin"]
        else:
            raise BadInput(f"{args.log} names no scenario: give SCENARIO.toml or --builtin")
    try:
        scenario = _scenario(args, served=True)
    except BadInput as e:
        if not from_header:
            raise
        raise BadInput(
            f"{args.log}: the scenario its header names cannot be used ({e}): give SCENARIO.toml or --builtin"
        ) from None
    if header.get("hosts") == "nbd":  # real clients were the hosts: the scenario as it served them
        scenario = for_real_clients(scenario)
    served = header.get("digest")  # logs written before the header had one have none
    if isinstance(served, str) and served != scenario_digest(scenario):
        which = (
            "the scenario file its header names has changed since"
            if from_header
            else "it served another scenario"
        )
        print(
            f"lutakeover: warning: {args.log} was written by an array of another scenario ({which}): "
            "an event refused may be that difference, not a defect",
            file=sys.stderr,
        )
    result = validate(scenario, events)
    if args.json:
        failed = result.failed
        _print(
            dumps(
                {
                    "scenario": result.scenario,
                    "verdict": result.verdict,
                    "events": result.events,
                    "matched": result.matched,
                    "failed": None if failed is None else {"line": failed.line, "event": str(failed.label)},
                    "reason": result.reason,
                }
            )
        )
    elif result.failed is None:
        _print(
            f"validate {args.log} against {scenario.name}: OK, "
            f"{result.events:,} events, every one a step of the model"
        )
    else:
        _print(
            f"validate {args.log} against {scenario.name}: FAILED after {result.matched:,} of "
            f"{result.events:,} events\n  line {result.failed.line}: {result.failed.label}\n  {result.reason}"
        )
    return exit_code(result.verdict)


def _array_scenario_options(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("scenario", nargs="?", metavar="SCENARIO.toml", help="a scenario file (default: fig5)")
    verb.add_argument("--builtin", metavar="NAME", help="a built-in scenario (see `scenarios`)")


def cmd_array(args: argparse.Namespace) -> int:
    def scenario() -> tuple[Scenario, dict[str, str]]:
        chosen = _scenario(args, served=True)
        source = {"file": str(Path(args.scenario).resolve())} if args.scenario else {"builtin": chosen.name}
        return chosen, source

    return array_cmd.run(args, scenario, _print)


def cmd_variants(args: argparse.Namespace) -> int:
    width = max(len(name) for name in VARIANTS)
    _print("\n".join(f"{name:<{width}} {what}" for name, what in VARIANTS.items()))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        args = parser.parse_args(["check", *(argv or [])])
    handlers = {
        "check": cmd_check,
        "simulate": cmd_simulate,
        "bmc": cmd_bmc,
        "prove": cmd_prove,
        "diagram": cmd_diagram,
        "scenarios": cmd_scenarios,
        "variants": cmd_variants,
        "difftest": cmd_difftest,
        "validate": cmd_validate,
        "array": cmd_array,
    }
    try:
        for name in ("scenario", "log"):  # an empty path would otherwise read as none given
            if getattr(args, name, None) == "":
                raise BadInput(f"the {'scenario file' if name == 'scenario' else 'log'}'s path is empty")
        return handlers[args.verb](args)
    except BadInput as e:
        print(f"lutakeover: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lutakeover: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _reader_gone()
        return EXIT_OK
    except OutputError as e:
        print(f"lutakeover: error: cannot write to standard output: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


class OutputError(Exception):
    """Standard output refused the result (a full device, a closed file): said, not a traceback."""


def _print(text: str) -> None:
    """Print, tolerating a reader that went away (``| head``): the exit code still counts."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _reader_gone()
    except OSError as e:
        _reader_gone()  # the interpreter's own flush at exit would fail again, with a traceback
        raise OutputError(os.strerror(e.errno) if e.errno else str(e)) from None


def _reader_gone() -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
