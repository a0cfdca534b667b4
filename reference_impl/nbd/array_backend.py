"""The array behind the NBD server: each host's exports are the LUs it uses.

A host sees, as exports named ``lu<N>``, exactly the LUs its scenario lets it write or read
(LUN masking: another host's LU can be neither listed nor opened); an LU it only reads is
read-only. A request is cut into block operations queued at the host's initiator
(``ExternalHost``) and goes through the array as host frames: the path controller routes
them by the tables and holds them while a take-over suspends the LU, so a client sees at
most a pause. A write of part of a block reads the block first and writes it whole, the two
back to back at the host's initiator (only this host writes the LU). A flush, and a write
with FUA, are answered once the disk and every cache file are persistent."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Mapping

from reference_impl.external_host import BlockOp, ExternalHost
from reference_impl.nbd.codec import (
    CMD_FLUSH,
    CMD_READ,
    EPERM,
    FLAG_CAN_MULTI_CONN,
    FLAG_HAS_FLAGS,
    FLAG_READ_ONLY,
    FLAG_SEND_FLUSH,
    FLAG_SEND_FUA,
    Export,
    Request,
)
from reference_impl.nbd.server import Done, Server
from reference_impl.runtime import Runtime

# Every connection's flush makes every completed write persistent, whichever connection
# wrote it, and all connections reach the same array: clients may spread over connections.
_FLAGS = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_CAN_MULTI_CONN


class ArrayBackend:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.block_size = runtime.sim.array.config.block_size
        self.numbers = {host.config.name: host.number for host in runtime.sim.hosts}
        self._syncs: queue.SimpleQueue[Done | None] = queue.SimpleQueue()
        self._syncer = threading.Thread(target=self._sync, name="nbd flush", daemon=True)
        self._syncer.start()

    def exports(self, host: str) -> Mapping[str, Export]:
        config = self.runtime.sim.hosts[self.numbers[host]].config
        out = {}
        for lu in sorted(set(config.writes) | set(config.reads)):
            spec = self.runtime.sim.array.config.lus[lu]
            flags = _FLAGS | (0 if lu in config.writes else FLAG_READ_ONLY)
            name = f"lu{lu}"
            out[name] = Export(
                name, spec.blocks * self.block_size, f"LU{lu} of the array, as {host} sees it", flags
            )
        return out

    def submit(self, host: str, export: str, request: Request, done: Done) -> None:
        h, lu = self.numbers[host], int(export.removeprefix("lu"))
        if request.command == CMD_FLUSH:
            self._syncs.put(done)
            return
        write = request.command != CMD_READ
        if write and lu not in self.runtime.sim.hosts[h].config.writes:
            done(EPERM, b"")
            return
        if request.length == 0:
            done(0, b"")
            return
        bs = self.block_size
        first, last = request.offset // bs, (request.offset + request.length - 1) // bs
        blocks = range(first, last + 1)
        left = [len(blocks)]
        if not write:
            parts: dict[int, bytes] = {}

            def reader(block: int) -> Callable[[bytes], None]:
                def read(data: bytes) -> None:
                    parts[block] = data
                    left[0] -= 1
                    if not left[0]:
                        whole = b"".join(parts[b] for b in blocks)
                        start = request.offset - first * bs
                        done(0, whole[start : start + request.length])

                return read

            self.runtime.submit(h, [BlockOp(False, lu, b, None, reader(b)) for b in blocks])
            return

        def written(_: bytes) -> None:
            left[0] -= 1
            if not left[0]:
                if request.fua:
                    self._syncs.put(done)
                else:
                    done(0, b"")

        ops = []
        initiator = self.runtime.sim.hosts[h]
        assert isinstance(initiator, ExternalHost)
        for b in blocks:
            start = max(request.offset, b * bs) - b * bs  # where this block's part begins in the block
            at = b * bs + start - request.offset  # and in the request's data
            end = min(request.offset + request.length, (b + 1) * bs) - b * bs
            part = request.data[at : at + end - start]
            if end - start == bs:
                ops.append(BlockOp(True, lu, b, part, written))
                continue

            def merge(old: bytes, b: int = b, start: int = start, end: int = end, part: bytes = part) -> None:
                # Called under the array's lock as the read's reply arrives: the whole
                # block goes next, before anything else this host has queued.
                initiator.queue.appendleft(BlockOp(True, lu, b, old[:start] + part + old[end:], written))

            ops.append(BlockOp(False, lu, b, None, merge))
        self.runtime.submit(h, ops)

    def _sync(self) -> None:
        while (done := self._syncs.get()) is not None:
            with self.runtime.lock:
                self.runtime.sim.array.persist()
            done(0, b"")

    def close(self) -> None:
        self._syncs.put(None)
        self._syncer.join()


class ServeError(OSError):
    """A host's NBD listener could not be opened: the message names the host and why."""


def unix_socket(directory: str, host: str) -> str:
    """Where ``host`` reaches the array over NBD by default: its own socket in ``directory``."""
    return os.path.join(directory, f"nbd-{host}.sock")


def serve_array(runtime: Runtime, directory: str, tcp_port: int | None = None) -> tuple[Server, ArrayBackend]:
    """The runtime's array over NBD: a listener per host, the unix socket
    ``DIR/nbd-<host>.sock`` (owner only) or, with ``tcp_port``, 127.0.0.1 port
    ``tcp_port + h`` for host ``h``. If one cannot be opened, none is left open."""
    backend = ArrayBackend(runtime)
    server = Server(backend)
    for host in runtime.sim.hosts:
        name = host.config.name
        try:
            if tcp_port is None:
                server.listen_unix(name, unix_socket(directory, name))
            else:
                server.listen_tcp(name, tcp_port + host.number)
        except OSError as e:
            server.close()
            backend.close()
            raise ServeError(f"cannot serve NBD for {name}: {e}") from None
    return server, backend
