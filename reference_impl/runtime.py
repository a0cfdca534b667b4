"""The real runtime: the array's components in threads of their own, on real files.

Each component (every controller, the path controller, the management utility, each host,
the backup host, the mirroring function) is a thread that takes the steps that are its own
whenever the array offers one. A step is atomic: it runs under the array's lock, as a
controller's step runs under its own locks in a real array, and it is logged as it is
taken, so the log's order is the order the steps took effect. Which thread gets the lock
next is up to the operating system: runs are not reproducible, which is what their logs are
validated for.

Threads never poll. Each has a queue of its own and sleeps on it. The thread that takes a
step works out, once, what every component could do next, and puts a wake-up in the queue
of each one that has something to do and is not already woken; a woken thread takes one of
its steps and hands on the wake-ups in turn. Frames themselves wait where a real array keeps
them: in the path controller's list of held frames and in each controller's inbox.

The disk and the tapes are files in the run's directory; a table copy, a
de-stage done and a write-through write are flushed to the file before the step ends.

``run`` drives a workload for some seconds, then lets hosts and the operator stop starting
new work and waits until the array is idle; ``read_back`` then reads every block through the
controller in charge of it."""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from reference_impl.config import ArrayConfig, Workload
from reference_impl.eventlog import EventLog
from reference_impl.events import Event
from reference_impl.external_host import BlockOp, ExternalHost
from reference_impl.simulator import Simulation

_STARTS = {"send_write", "send_read", "designate", "designate_batch", "split_pair"}  # new work
_OPERATOR = {"designate", "designate_batch", "instruct", "split_pair"}
# De-stages a controller chooses among at a step: a few, found without looking at every
# dirty line, so that a step during the purge of thousands of lines costs what any step does.
_DESTAGE_SAMPLE = 4
# The steps a running array holds in memory for the management API's "events" (about 100
# bytes each); events.jsonl has every step.
LOG_LIMIT = 100_000
# A host's frame on its way: served during 804's de-stage, as a real controller serves it.
_HOST_IO = {"send_write", "send_read", "deliver", "process", "complete", "retry", "mirror_write"}


def _choose(rng: random.Random, steps: list[Event]) -> Event:
    """Which of a thread's steps it takes: host I/O or other work first, even odds, so a
    frame never waits behind a thousand de-stages; of other work a disk write done before
    another is issued, so de-stages in flight stay few and a frame waiting for its block's
    de-stage is not left behind."""
    host_io = [e for e in steps if e.name in _HOST_IO]
    other = [e for e in steps if e.name not in _HOST_IO]
    other = [e for e in other if e.name == "destage_done"] or other
    return rng.choice(rng.choice([kind for kind in (host_io, other) if kind]))


@dataclass
class RunStats:
    steps: int = 0
    seconds: float = 0.0
    by_component: dict[str, int] = field(default_factory=dict)
    by_event: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # exceptions raised in a component's thread


class Runtime:
    def __init__(
        self,
        config: ArrayConfig,
        workload: Workload,
        directory: str,
        bugs: frozenset[str] = frozenset(),
        meta: dict[str, Any] | None = None,
        operator_pause: float = 0.005,
        restart: bool = False,
        external_hosts: bool = False,
    ) -> None:
        os.makedirs(directory, exist_ok=True)
        self.log_path = os.path.join(directory, "events.jsonl")
        if restart and os.path.exists(self.log_path):  # the log of the run that crashed is kept
            n = 1
            while os.path.exists(os.path.join(directory, f"events.{n}.jsonl")):
                n += 1
            os.replace(self.log_path, os.path.join(directory, f"events.{n}.jsonl"))
        self.sim = Simulation(config, workload, bugs, directory, restart, external_hosts, LOG_LIMIT)
        self.sim.event_log = EventLog(
            self.log_path, {**(meta or {}), **({"restarted": True} if restart else {})}
        )
        self.sim.record_writes(os.path.join(directory, "writes.jsonl"))
        self.lock = threading.Lock()
        self.stopping = False  # hosts and the operator start nothing new
        self.done = False
        self.operator_pause = operator_pause  # the operator's think time between designations
        # False: designations and backups come from the management API only
        self.operator_designates = True
        self._threads: list[threading.Thread] = []
        self._queues: dict[str, queue.SimpleQueue[None]] = {n: queue.SimpleQueue() for n in self.actors()}
        self._woken: set[str] = set()  # threads with a wake-up in their queue, not yet taken
        self._ready: dict[str, list[Event]] = {}  # each thread's steps now: valid until the next step
        self._idle = threading.Event()  # set once stopping and nothing is left to do
        self._started = time.monotonic()
        self.stats = RunStats()

    def actor_of(self, event: Event) -> str:
        """The thread that takes ``event``: its component, the operator for designations."""
        if event.name in _OPERATOR:
            return "operator"
        return self.sim.component_of(event)

    def actors(self) -> list[str]:
        names = {"operator", "path controller", "mirroring", "backup host"}
        names |= {f"controller {c}" for c in range(self.sim.array.config.controllers)}
        names |= {f"host{h}" for h in range(len(self.sim.hosts))}
        return sorted(names)

    def _survey(self) -> None:
        """Under the lock, after any change: what each thread could do now, and a wake-up
        for each one with something to do that has none waiting."""
        ready: dict[str, list[Event]] = {}
        operator = self.operator_designates and not self.stopping
        for event in self.sim.offers(ordered=False, operator=operator, destage_sample=_DESTAGE_SAMPLE):
            if self.stopping and event.name in _STARTS:
                continue
            ready.setdefault(self.actor_of(event), []).append(event)
        self._ready = ready
        for name in ready:
            if name not in self._woken:
                self._woken.add(name)
                self._queues[name].put(None)
        if self.stopping and not ready:
            self._idle.set()

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the array to change it from outside the components' threads (the management
        API); the threads that then have something to do are woken."""
        with self.lock:
            try:
                yield
            finally:
                self._survey()

    def submit(self, host: int, ops: list[BlockOp]) -> None:
        """Queue block operations of a real client at external host ``host``: its thread
        sends them in order, one at a time."""
        target = self.sim.hosts[host]
        assert isinstance(target, ExternalHost), "this runtime's hosts are simulated"
        with self.changing():
            target.queue.extend(ops)

    def _loop(self, name: str, seed: int) -> None:
        rng = random.Random(seed)
        mine = self._queues[name]
        try:
            while True:
                mine.get()
                with self.lock:
                    self._woken.discard(name)
                    if self.done:
                        return
                    steps = self._ready.get(name)
                    if not steps:  # another thread's step took away what this one had to do
                        continue
                    event = _choose(rng, steps)
                    self.sim.perform(event)
                    self.stats.steps += 1
                    self.stats.by_component[name] = self.stats.by_component.get(name, 0) + 1
                    self.stats.by_event[event.name] = self.stats.by_event.get(event.name, 0) + 1
                    self._survey()
                if name == "operator" and not self.stopping:
                    time.sleep(self.operator_pause)
                elif event.name not in _HOST_IO:
                    # Background work (a de-stage of a thousand lines) lets a thread waiting
                    # for the lock take it: the lock is not fair, and host frames would wait.
                    time.sleep(0)
        except Exception as e:  # a component's failure must stop the run, not hang it
            with self.lock:
                self.stats.errors.append(f"{name}: {e!r}")
                self._finish()

    def _finish(self) -> None:
        """Under the lock: every thread wakes and returns."""
        self.done = True
        self._idle.set()
        for q in self._queues.values():
            q.put(None)

    def start(self, seed: int = 0) -> None:
        """Start a thread per component."""
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._loop, args=(name, seed * 1000 + i), name=name, daemon=True)
            for i, name in enumerate(self.actors())
        ]
        for t in self._threads:
            t.start()
        with self.lock:
            self._survey()

    def stop(self, settle: float = 30.0) -> RunStats:
        """Start no new work, wait until the array is idle (at most ``settle`` seconds),
        and stop every thread."""
        with self.lock:
            self.stopping = True
            self._survey()
        if not self._idle.wait(settle):
            self.stats.errors.append(f"the array was not idle {settle} s after the workload stopped")
        with self.lock:
            self._finish()
        for t in self._threads:
            t.join()
        self.stats.seconds = time.monotonic() - self._started
        return self.stats

    def run(self, seconds: float, seed: int = 0, settle: float = 30.0) -> RunStats:
        """Run for ``seconds``, then until the array is idle (at most ``settle`` seconds)."""
        self.start(seed)
        time.sleep(seconds)
        return self.stop(settle)

    def read_back(self) -> dict[tuple[int, int], bytes]:
        """Every block of every LU as a host would read it now: through the cache of the
        controller in charge, else from the disk."""
        array = self.sim.array
        return {(lu.lu, b): array.visible(lu.lu, b) for lu in array.config.lus for b in range(lu.blocks)}

    def close(self) -> None:
        self.sim.close()
