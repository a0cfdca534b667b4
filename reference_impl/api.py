"""The management utility's local API: JSON over a unix socket, one request per line.

Only the owner may connect (the socket is created with mode 0600). Every request gets one
JSON line back: ``{"ok": true, ...}`` or ``{"ok": false, "error": "why", "bad_request": B}``,
``B`` true for a request malformed or naming nothing in the array, false for one the array
cannot take now (an LU already moving) or by its scenario's script. A bad request
(unknown operation or LU or controller, a destination equal to the source, an LU already
moving, a LUN-map collision or gap, malformed JSON, a message over 64 KiB) is refused with
its reason and changes nothing; the array keeps serving.

Operations: ``status`` (the tables as Figs. 5 and 9 show them, take-overs under way with
their next step, pairs), ``takeover`` (``lus``, ``to``, optional ``port``), ``backup``
(``pair``), ``events`` (``since``: the steps logged from that number on) and ``stop``.

The array runs its scenario, so a take-over is accepted as the scenario's operator could
designate it: in a scripted scenario the next batch of the script, in mode "any" one LU to
the scenario's take-over port. Every step then stays a step of the model, and the run's
log can be validated against it."""

from __future__ import annotations

import itertools
import json
import os
import socketserver
import threading
from typing import Any

from reference_impl.array import NotOffered
from reference_impl.events import Event
from reference_impl.runtime import Runtime

MAX_MESSAGE = 64 * 1024
EVENTS_PER_ANSWER = 10_000  # an answer of about a megabyte; ``next`` says where to go on


class RequestError(ValueError):
    """A request refused; the message is the reason the client gets."""


class BadRequest(RequestError):
    """A request that is malformed or names nothing in the array: refused whatever the
    array's state (``"bad_request": true`` in the answer), where a ``RequestError`` is one
    the array cannot take now or by its script."""


def _int(request: dict[str, Any], key: str, optional: bool = False) -> int | None:
    value = request.get(key)
    if value is None and optional:
        return None
    if type(value) is not int:
        raise BadRequest(f'"{key}" must be a whole number')
    return value


class ManagementApi:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stop_requested = threading.Event()

    def handle(self, request: object) -> dict[str, Any]:
        """The answer to one decoded request."""
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request is a JSON object with an 'op'", "bad_request": True}
        op = request.get("op")
        handlers = {
            "status": self._status, "takeover": self._takeover, "backup": self._backup,
            "events": self._events, "stop": self._stop,
        }  # fmt: skip
        if not isinstance(op, str) or op not in handlers:
            return {
                "ok": False,
                "error": f"unknown op {op!r}; known: {', '.join(handlers)}",
                "bad_request": True,
            }
        try:
            if op in ("takeover", "backup"):  # a change: the threads it gives work are woken
                with self.runtime.changing():
                    answer = handlers[op](request)
            else:
                with self.runtime.lock:
                    answer = handlers[op](request)
        except (RequestError, NotOffered) as e:
            return {"ok": False, "error": str(e), "bad_request": isinstance(e, BadRequest)}
        return {"ok": True, **answer}

    def _status(self, request: dict[str, Any]) -> dict[str, Any]:
        array = self.runtime.sim.array

        def row(r: Any) -> dict[str, int]:
            fields = ("lu", "ext_lun", "port", "default", "current")
            return {f: getattr(r, f) for f in fields}

        return {
            "table": [row(r) for _, r in sorted(array.rows().items())],
            "controllers": [
                {
                    "number": c.number,
                    "active": sorted(c.active),
                    "write_through": sorted(c.write_through),
                    "dirty_lines": c.cache.dirty_count(),
                    "table": [row(r) for _, r in sorted(c.table.items())],
                }
                for c in array.controllers
            ],
            "jobs": [
                {
                    "lu": j.lu,
                    "source": j.source,
                    "destination": j.destination,
                    "backup": j.backup,
                    "next_step": j.next_step,
                }
                for j in array.utility.jobs
            ],
            "pairs": [
                {
                    "primary": p.primary,
                    "secondary": p.secondary,
                    "status": p.status.value,
                    "diff": sorted(p.diff),
                }
                for p in array.pairs
            ],
            "steps": self.runtime.sim.steps,
        }

    def _takeover(self, request: dict[str, Any]) -> dict[str, Any]:
        lus = request.get("lus")
        if not isinstance(lus, list) or not lus or not all(type(lu) is int for lu in lus):
            raise BadRequest('"lus" must be a non-empty list of LU numbers')
        to = _int(request, "to")
        port = _int(request, "port", optional=True)
        sim = self.runtime.sim
        rows = sim.array.rows()
        for lu in lus:
            if lu not in rows:
                raise BadRequest(f"there is no LU{lu}")
        assert to is not None
        if not 0 <= to < sim.array.config.controllers:
            raise BadRequest(f"there is no controller {to}")
        workload, op = sim.operator.workload, sim.operator
        if workload.mode == "any":
            if len(lus) != 1 or port not in (None, workload.takeover_port):
                raise RequestError(
                    f"this array's scenario moves one LU at a time, to port {workload.takeover_port}"
                )
            event = Event("designate", (lus[0], to))
        else:
            index = op.batches
            if index >= len(workload.batches):
                raise RequestError("this array's scenario has no take-over left in its script")
            batch = workload.batches[index]
            if sorted(lus) != sorted(batch.lus) or to != batch.destination or port not in (None, batch.port):
                raise RequestError(
                    f"this array runs its scenario's script: the next take-over moves LUs "
                    f"{list(batch.lus)} to controller {batch.destination}"
                    + (f" on port {batch.port}" if batch.port is not None else "")
                )
            event = Event("designate_batch", (index,))
        sim.perform(event)
        return {"event": str(event), "step": sim.steps}

    def _backup(self, request: dict[str, Any]) -> dict[str, Any]:
        pair = _int(request, "pair")
        sim = self.runtime.sim
        index = sim.operator.next_backup()
        if not 0 <= (pair or 0) < len(sim.array.pairs):
            raise BadRequest(f"there is no pair{pair}")
        if index is None:
            raise RequestError("this array's scenario has no backup left in its script")
        if sim.operator.workload.backups[index] != pair:
            following = sim.operator.workload.backups[index]
            raise RequestError(
                f"this array runs its scenario's script: the next backup is of pair{following}"
            )
        event = Event("split_pair", (index,))
        sim.perform(event)
        return {"event": str(event), "step": sim.steps}

    def _events(self, request: dict[str, Any]) -> dict[str, Any]:
        """The steps from number ``since`` on, at most ``EVENTS_PER_ANSWER`` of them
        (``next``: where to ask from next); ``dropped``: how many of those asked for the
        array no longer holds in memory (events.jsonl has them all)."""
        since = _int(request, "since", optional=True) or 0
        if since < 0:
            raise BadRequest('"since" must be a step number, 0 or more')
        sim = self.runtime.sim
        first = sim.steps - len(sim.log)  # the number of the oldest step still held
        start = min(max(since, first), sim.steps)
        end = min(start + EVENTS_PER_ANSWER, sim.steps)
        held = itertools.islice(sim.log, start - first, end - first)
        events = [{"seq": n, "event": e.name, "args": list(e.args)} for n, e in enumerate(held, start)]
        return {"events": events, "next": end, "dropped": max(0, first - since)}

    def _stop(self, request: dict[str, Any]) -> dict[str, Any]:
        self.stop_requested.set()
        return {}


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(MAX_MESSAGE + 1)
            if not line:
                return
            if len(line) > MAX_MESSAGE:
                self._answer(
                    {"ok": False, "error": f"a request is at most {MAX_MESSAGE} bytes", "bad_request": True}
                )
                return  # the rest of the message cannot be told from the next request
            try:
                request = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as e:
                self._answer({"ok": False, "error": f"not UTF-8: {e}", "bad_request": True})
                continue
            except RecursionError:
                self._answer(
                    {"ok": False, "error": "not a request: JSON nested too deeply", "bad_request": True}
                )
                continue
            except ValueError as e:  # malformed JSON, or a number of more digits than Python reads
                self._answer({"ok": False, "error": f"not JSON: {e}", "bad_request": True})
                continue
            self._answer(self.server.api.handle(request))

    def _answer(self, answer: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(answer).encode() + b"\n")
        self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 128  # clients connecting at once wait to be accepted, not refused
    api: ManagementApi


def serve(api: ManagementApi, socket_path: str) -> _Server:
    """Listen on ``socket_path`` (mode 0600) in a thread of its own; ``shutdown()`` stops."""
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    old = os.umask(0o177)
    try:
        server = _Server(socket_path, _Handler)
    finally:
        os.umask(old)
    server.api = api
    threading.Thread(target=server.serve_forever, name="management API", daemon=True).start()
    return server


def request(socket_path: str, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one request and return the answer (a client, for the command line and tests)."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        while True:
            try:
                s.connect(socket_path)
                break
            except BlockingIOError:  # the server's queue of connections is full: wait a turn
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        s.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer
