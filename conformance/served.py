"""The array served to real clients in this process: the runtime, its NBD server and
management API, take-overs driven in a loop while clients do their I/O, and the log
validated at the end. The real-client tests and ``benchmarks/nbd.py`` use it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.setup import array_of, for_real_clients
from conformance.validate import Validation, read_log, validate
from model.scenario import Scenario, from_dict
from reference_impl.api import ManagementApi
from reference_impl.nbd.array_backend import ArrayBackend, serve_array
from reference_impl.nbd.server import Server
from reference_impl.runtime import RunStats, Runtime


def nbd_scenario(blocks: int = 256, background_destage: bool = False) -> Scenario:
    """Two controllers, an LU in the charge of each, host0 writing LU0 and host1 writing LU1
    and reading LU0 (so LU masking has something to hide), and take-overs of any LU to any
    controller for as long as the operator likes."""
    data: dict[str, Any] = {
        "name": "nbd",
        "description": "two hosts served over NBD; LUs move back and forth under their I/O",
        "array": {"controllers": 2, "ports": 1, "background_destage": background_destage},
        "lu": [
            {"id": 0, "controller": 0, "ext_lun": 0, "blocks": blocks},
            {"id": 1, "controller": 1, "ext_lun": 0, "blocks": blocks},
        ],
        "host": [{"name": "host0", "writes": [0]}, {"name": "host1", "writes": [1], "reads": [0]}],
        "takeovers": {"mode": "any", "budget": 1_000_000_000},
    }
    return for_real_clients(from_dict(data, served=True))


def owner(api: ManagementApi, lu: int) -> int:
    """The controller in charge of ``lu``, by the disk's table."""
    table = api.handle({"op": "status"})["table"]
    return int(next(r["current"] for r in table if r["lu"] == lu))


def move(api: ManagementApi, lu: int, to: int) -> str | None:
    """One take-over of ``lu`` to ``to``, waited for to its end; why it was refused, if it was."""
    answer = api.handle({"op": "takeover", "lus": [lu], "to": to})
    if not answer["ok"]:
        return str(answer["error"])
    while any(j["lu"] == lu for j in api.handle({"op": "status"})["jobs"]):
        time.sleep(0.002)
    return None


@dataclass
class Mover:
    """Moves an LU to the next controller, waits for Step 809, and again, until stopped."""

    api: ManagementApi
    lu: int
    controllers: int = 2
    pause: float = 0.02  # between one take-over's end and the next designation
    moves: int = 0  # take-overs completed
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Mover:
        self._thread = threading.Thread(target=self._run, name=f"mover LU{self.lu}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            refused = move(self.api, self.lu, (owner(self.api, self.lu) + 1) % self.controllers)
            if refused is not None:
                self.errors.append(refused)
                return
            self.moves += 1
            self._stop.wait(self.pause)

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.moves


@dataclass
class Served:
    runtime: Runtime
    api: ManagementApi
    server: Server
    backend: ArrayBackend
    directory: Path
    scenario: Scenario
    stats: RunStats | None = None

    def uri(self, host: str, export: str) -> str:
        return self.server.uri(host, export)

    def mover(self, lu: int, pause: float = 0.02) -> Mover:
        return Mover(self.api, lu, self.scenario.controllers, pause).start()

    def owner(self, lu: int) -> int:
        return owner(self.api, lu)

    def move(self, lu: int, to: int) -> None:
        """One take-over, to its end."""
        refused = move(self.api, lu, to)
        assert refused is None, refused

    def validation(self) -> Validation:
        with open(self.runtime.log_path, encoding="utf-8") as log:
            _, read = read_log(log)
            return validate(self.scenario, list(read))


@contextmanager
def served(
    directory: Path,
    scenario: Scenario | None = None,
    tcp_port: int | None = None,
    bugs: frozenset[str] = frozenset(),
) -> Iterator[Served]:
    """The array of ``scenario`` (default ``nbd_scenario()``) serving NBD, a unix socket per
    host in ``directory`` (or 127.0.0.1 ports from ``tcp_port``), built with the
    implementation bugs ``bugs``; stopped on leaving, with ``stats`` set."""
    scenario = scenario or nbd_scenario()
    config, workload = array_of(scenario, 4096)
    runtime = Runtime(config, workload, str(directory), bugs, {"hosts": "nbd"}, external_hosts=True)
    runtime.operator_designates = False
    try:
        server, backend = serve_array(runtime, str(directory), tcp_port)
    except OSError:
        runtime.close()
        raise
    runtime.start()
    run = Served(runtime, ManagementApi(runtime), server, backend, directory, scenario)
    try:
        yield run
    finally:
        server.close()
        backend.close()
        run.stats = runtime.stop()
        runtime.close()
