"""`lutakeover array`: run the reference array and drive it through its management API.

lutakeover array start --builtin fig5 --dir run/     # serves until `array stop` (or Ctrl-C)
lutakeover array status --dir run/
lutakeover array takeover --dir run/ --lu 2,3 --to 1 --wait
lutakeover array backup --dir run/ --pair 0 --wait
lutakeover array stop --dir run/
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.scenario import Scenario

if TYPE_CHECKING:  # the reference array is imported by the verbs that run or ask it
    from reference_impl.config import ArrayConfig, Workload
    from reference_impl.nbd.array_backend import ArrayBackend
    from reference_impl.nbd.server import Server
    from reference_impl.runtime import Runtime

SOCKET = "api.sock"
# Held (flock) by the process serving DIR for as long as it runs: a second `array start` on
# the same DIR would recover the array from files the first is still writing, take its
# sockets over and rename its log, splitting one array in two. The kernel lets go of the
# lock when the process ends, however it ends, so a crashed array's DIR can be recovered.
LOCK = "array.lock"
# What array DIR holds: its scenario's name, a digest of the scenario and who the hosts are.
# Recovering with another scenario would read its files in another layout and rewrite them.
IDENTITY = "array.json"
# The longest path a unix socket's address holds on Linux (108 bytes with the final NUL).
MAX_SOCKET_PATH = 107
MAX_SECONDS = 365 * 86_400


def _seconds(text: str) -> float:
    """``--seconds``: a number of seconds, more than 0 and at most a year."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(
            f"{text} is not from 0 (excluded) to {MAX_SECONDS:,} (a year); leave it out to serve until told"
        )
    return value


def add_parser(verbs: Any, scenario_options: Callable[[argparse.ArgumentParser], None]) -> None:
    array = verbs.add_parser(
        "array",
        help="run the reference array and drive its take-overs through the management API",
        description="The reference array as running software: a thread per component, the disk, "
        "caches and journal as files in DIR, every step logged to DIR/events.jsonl (check it "
        "with `lutakeover validate`), and the management API on DIR/api.sock (owner only).",
        epilog="Exit codes: 0 done; 1 the array refuses the request as it stands (an LU already "
        "moving, not the next take-over of its script) or a component of the array failed; 2 bad "
        "input (a request malformed or naming no LU, controller or pair of the array, no array "
        "serving in DIR, DIR in use by another array or holding another scenario's).",
    )
    actions = array.add_subparsers(dest="array_verb", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="build the array of a scenario in DIR and serve it")
    scenario_options(start)
    start.add_argument("--dir", required=True, metavar="DIR", help="where the array's files live (created)")
    start.add_argument(
        "--seconds", type=_seconds, metavar="S", help="stop after S seconds (default: when told)"
    )
    start.add_argument(
        "--fresh", action="store_true", help="build a new array even if DIR holds one (default: recover it)"
    )
    start.add_argument(
        "--nbd-port",
        type=int,
        metavar="P",
        help="serve NBD on 127.0.0.1 TCP ports, host h on P+h (default: a unix socket per host in DIR)",
    )
    start.add_argument(
        "--simulated-hosts",
        action="store_true",
        help="no NBD: the scenario's hosts run its workload inside the array (as `difftest` does)",
    )
    status = actions.add_parser("status", help="the tables (Figs. 5, 9), take-overs under way, pairs")
    takeover = actions.add_parser("takeover", help="designate a take-over (Step 801)")
    takeover.add_argument("--lu", required=True, metavar="L[,L...]", help="the LUs to move")
    takeover.add_argument("--to", required=True, type=int, metavar="C", help="the destination controller")
    takeover.add_argument("--port", type=int, metavar="P", help="the port on the destination")
    backup = actions.add_parser("backup", help="back a pair's secondary up (Steps 901-909)")
    backup.add_argument("--pair", required=True, type=int, metavar="N", help="the pair")
    stop = actions.add_parser("stop", help="finish what is under way and stop the array")
    for verb in (status, takeover, backup, stop):
        verb.add_argument("--dir", required=True, metavar="DIR", help="the array's directory")
        verb.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    for verb in (takeover, backup):
        verb.add_argument(
            "--wait",
            action="store_true",
            help="print each step until the job is done (with --json, each step a JSON object on a line)",
        )


class ArrayError(Exception):
    """Refused by the array or unreachable: the message says why (exit 1 or 2); ``answer``
    is the array's own, if it answered."""

    def __init__(self, message: str, code: int, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.answer = answer


def start(
    scenario: Scenario,
    source: dict[str, str],
    directory: str,
    seconds: float | None,
    fresh: bool,
    simulated_hosts: bool = False,
    nbd_port: int | None = None,
) -> int:
    from conformance.setup import array_of, for_real_clients
    from reference_impl.config import ConfigError

    if not simulated_hosts:
        scenario = for_real_clients(scenario)
        unsafe = [h.name for h in scenario.hosts if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", h.name)]
        if unsafe:
            raise ArrayError(f"host name {unsafe[0]!r} cannot name a socket: use letters, digits, _ . -", 2)
        if nbd_port is not None and not 1 <= nbd_port <= 65535 - len(scenario.hosts):
            raise ArrayError(f"--nbd-port {nbd_port}: a TCP port from 1 to {65535 - len(scenario.hosts)}", 2)
    try:
        config, workload = array_of(scenario, 4096)
        config.check()
    except ConfigError as e:
        raise ArrayError(str(e), 2) from None
    sockets = [os.path.join(directory, SOCKET)]
    if not simulated_hosts and nbd_port is None:
        from reference_impl.nbd.array_backend import unix_socket

        sockets += [unix_socket(directory, h.name) for h in scenario.hosts]
    for path in sockets:
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise ArrayError(
                f"--dir {directory}: the socket {path} would be {len(os.fsencode(path))} bytes long, more "
                f"than the {MAX_SOCKET_PATH} a unix socket's address holds: give a shorter --dir",
                2,
            )
    lock = _lock(directory)
    try:
        return _serve(
            scenario, source, directory, seconds, fresh, simulated_hosts, nbd_port, config, workload
        )
    finally:
        os.close(lock)


def _lock(directory: str) -> int:
    """Create ``directory`` and hold its lock, or refuse: an array is serving there."""
    try:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise ArrayError(f"cannot use {directory} for the array's files: {e.strerror}", 2) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ArrayError(
            f"an array is already serving in {directory}: stop it first (`lutakeover array stop --dir "
            f"{directory}`) or give another --dir",
            2,
        ) from None
    return fd


def _serve(
    scenario: Scenario,
    source: dict[str, str],
    directory: str,
    seconds: float | None,
    fresh: bool,
    simulated_hosts: bool,
    nbd_port: int | None,
    config: ArrayConfig,
    workload: Workload,
) -> int:
    """Build or recover the array in ``directory`` (whose lock the caller holds) and serve
    it until told to stop or ``seconds`` have passed."""
    from conformance.setup import scenario_digest
    from reference_impl.api import ManagementApi, serve
    from reference_impl.runtime import Runtime

    restart = not fresh and os.path.exists(os.path.join(directory, "journal.json"))
    identity = {
        "scenario": scenario.name,
        "hosts": "simulated" if simulated_hosts else "nbd",
        "digest": scenario_digest(scenario),
    }
    if restart:
        _same_array(directory, identity)
    try:
        meta = {"scenario": source, "hosts": identity["hosts"], "digest": identity["digest"]}
        runtime = Runtime(
            config, workload, directory, meta=meta, restart=restart, external_hosts=not simulated_hosts
        )
    except (OSError, ValueError) as e:
        raise ArrayError(
            f"cannot {'recover' if restart else 'build'} the array in {directory}: {e}", 2
        ) from None
    if restart:
        print(f"lutakeover: recovered the array in {directory} from its files", flush=True)
    try:
        Path(directory, IDENTITY).write_text(json.dumps(identity) + "\n", encoding="utf-8")
    except OSError as e:
        runtime.close()
        raise ArrayError(f"cannot write {os.path.join(directory, IDENTITY)}: {e.strerror}", 2) from None
    runtime.operator_designates = False
    try:  # the NBD sockets first: a port in use refuses the start with nothing left running
        nbd = None if simulated_hosts else _serve_nbd(runtime, directory, nbd_port)
    except ArrayError:
        runtime.close()
        raise
    api = ManagementApi(runtime)
    socket_path = os.path.join(directory, SOCKET)
    server = serve(api, socket_path)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: api.stop_requested.set())
    runtime.start()
    print(f"lutakeover: array {scenario.name} serving; API {socket_path}; log {runtime.log_path}", flush=True)
    for line in nbd[2] if nbd is not None else []:
        print(line, flush=True)
    api.stop_requested.wait(seconds)
    if nbd is not None:
        nbd[0].close()  # requests in flight finish first
        nbd[1].close()
    server.shutdown()
    server.server_close()
    stats = runtime.stop()
    runtime.close()
    os.unlink(socket_path)
    print(f"lutakeover: array stopped after {runtime.sim.steps:,} steps", flush=True)
    for error in stats.errors:
        print(f"lutakeover: error: {error}", file=sys.stderr)
    return 1 if stats.errors else 0


def _same_array(directory: str, identity: dict[str, str]) -> None:
    """Refuse to recover the array in ``directory`` as another scenario's, or with hosts of
    another kind. A directory from before arrays were named this way is recovered as it was."""
    path = os.path.join(directory, IDENTITY)
    try:
        held = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise ArrayError(f"cannot read {path}: {e}; --fresh builds a new array there", 2) from None
    held = held if isinstance(held, dict) else {}
    if (held.get("digest"), held.get("hosts")) != (identity["digest"], identity["hosts"]):
        raise ArrayError(
            f"{directory} holds the array of scenario {held.get('scenario', '?')} with "
            f"{held.get('hosts', '?')} hosts, not of {identity['scenario']} with {identity['hosts']} hosts "
            "as given: start it as it was built, or with --fresh to build a new array there (its files "
            "are replaced)",
            2,
        )


def _serve_nbd(runtime: Runtime, directory: str, port: int | None) -> tuple[Server, ArrayBackend, list[str]]:
    """An NBD listener per host, and a line for each saying where it is and what it exports."""
    from reference_impl.nbd.array_backend import ServeError, serve_array

    try:
        server, backend = serve_array(runtime, directory, port)
    except ServeError as e:
        raise ArrayError(str(e), 2) from None
    lines = [
        f"lutakeover: {name} over NBD at {server.uri(name, 'EXPORT')}; "
        f"exports {', '.join(backend.exports(name)) or 'none'}"
        for name in server.addresses
    ]
    return server, backend, lines


def ask(directory: str, message: dict[str, Any]) -> dict[str, Any]:
    from reference_impl.api import request

    socket_path = os.path.join(directory, SOCKET)
    if not Path(socket_path).exists():
        raise ArrayError(
            f"no array is serving in {directory} (no {SOCKET}): start one with `lutakeover array start`", 2
        )
    try:
        answer = request(socket_path, message)
    except OSError as e:
        raise ArrayError(f"cannot reach the array in {directory}: {e}", 2) from None
    if not answer.get("ok"):
        # Bad input (exit 2) when the request is malformed or names nothing in the array;
        # a request the array cannot take now, or by its script, is a refusal (exit 1).
        raise ArrayError(
            f"the array refuses it: {answer.get('error')}", 2 if answer.get("bad_request") else 1, answer
        )
    return answer


def format_status(s: dict[str, Any]) -> str:
    lines = ["configuration table on the disk (newest valid copy):",
             "  internal LUN  external LUN  port  default  current"]  # fmt: skip
    for r in s["table"]:
        lines.append(
            f"  {r['lu']:>12}  {r['ext_lun']:>12}  {r['port']:>4}  {r['default']:>7}  {r['current']:>7}"
        )
    for c in s["controllers"]:
        lines.append(
            f"controller {c['number']}: in charge of {c['active'] or 'none'}, write-through "
            f"{c['write_through'] or 'none'}, {c['dirty_lines']} dirty lines"
        )
    for j in s["jobs"]:
        kind = "backup of" if j["backup"] else "take-over of"
        lines.append(f"{kind} LU{j['lu']} c{j['source']}->c{j['destination']}: next step {j['next_step']}")
    for i, p in enumerate(s["pairs"]):
        lines.append(
            f"pair{i}: LU{p['secondary']} mirrors LU{p['primary']}, {p['status']}, differences {p['diff']}"
        )
    lines.append(f"{s['steps']:,} steps taken")
    return "\n".join(lines)


def wait_for(
    directory: str, lus: Collection[int], since: int, out: Callable[[str], None], as_json: bool = False
) -> None:
    """Print each step from ``since`` until no job of ``lus`` is under way (with ``as_json``,
    each as a JSON object on a line of its own). The status is asked before the events, so
    the last events read include the step that ended the job."""
    while True:
        status = ask(directory, {"op": "status"})
        while since < status["steps"]:  # an answer holds a bounded number of steps
            events = ask(directory, {"op": "events", "since": since})
            if events.get("dropped"):
                dropped = events["dropped"]
                out(
                    json.dumps({"dropped": dropped})
                    if as_json
                    else f"  ({dropped:,} steps no longer held in memory: see events.jsonl)"
                )
            for e in events["events"]:
                out(
                    json.dumps(e)
                    if as_json
                    else f"  {e['seq']:>6}  {e['event']}({', '.join(map(str, e['args']))})"
                )
            since = events["next"]
        if not any(j["lu"] in lus for j in status["jobs"]):
            return
        time.sleep(0.05)


def run(
    args: argparse.Namespace,
    scenario: Callable[[], tuple[Scenario, dict[str, str]]],
    out: Callable[[str], None],
) -> int:
    try:
        if args.array_verb == "start":
            chosen, source = scenario()
            return start(
                chosen, source, args.dir, args.seconds, args.fresh, args.simulated_hosts, args.nbd_port
            )
        if args.array_verb == "status":
            answer = ask(args.dir, {"op": "status"})
            out(json.dumps(answer) if args.json else format_status(answer))
        elif args.array_verb == "stop":
            answer = ask(args.dir, {"op": "stop"})
            out(json.dumps(answer) if args.json else "lutakeover: the array is stopping")
        else:
            if args.array_verb == "takeover":
                try:
                    lus = [int(x) for x in args.lu.split(",")]
                except ValueError:
                    raise ArrayError(
                        f"--lu {args.lu!r}: LU numbers separated by commas, such as 2,3", 2
                    ) from None
                message: dict[str, Any] = {"op": "takeover", "lus": lus, "to": args.to}
                if args.port is not None:
                    message["port"] = args.port
                watched = lus
            else:
                message = {"op": "backup", "pair": args.pair}
                status = ask(args.dir, {"op": "status"})
                pairs = status["pairs"]
                watched = [pairs[args.pair]["secondary"]] if 0 <= args.pair < len(pairs) else []
            answer = ask(args.dir, message)
            out(json.dumps(answer) if args.json else f"lutakeover: accepted as {answer['event']}")
            if args.wait:
                wait_for(args.dir, watched, answer["step"] - 1, out, args.json)
        return 0
    except ArrayError as e:
        if getattr(args, "json", False) and e.answer is not None:
            out(json.dumps(e.answer))  # a script reading the answers gets the refusal too
        print(f"lutakeover: error: {e}", file=sys.stderr)
        return e.code
