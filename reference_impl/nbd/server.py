"""The NBD server: sockets and threads around the sans-I/O codec.

Each host of the array gets a listening socket of its own (a unix socket by default,
owner-only, or a 127.0.0.1 TCP port), so a connection is known to come from that host and
is offered that host's exports only. A connection has a reading thread, which cuts requests
from the stream and hands each to the ``Backend`` without waiting for it, so several
requests are in flight at once; the backend answers through a callback, from any thread,
and a writing thread of the connection sends the reply. A disconnect request (or the client
going away) waits for the requests in flight before the socket closes."""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import stat
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from reference_impl.nbd.codec import (
    CMD_DISC,
    CMD_FLUSH,
    CMD_READ,
    CMD_WRITE,
    ESHUTDOWN,
    Export,
    Handshake,
    Request,
    RequestParser,
    reply,
)

Done = Callable[[int, bytes], None]  # (error, data read): the answer to one request


class Backend(Protocol):
    """What serves the requests of one host's connections."""

    def exports(self, host: str) -> Mapping[str, Export]:
        """The exports ``host`` may see, by name (its first is the default export)."""
        ...

    def submit(self, host: str, export: str, request: Request, done: Done) -> None:
        """Start ``request`` (READ, WRITE or FLUSH, already checked against the export's
        size); call ``done`` once it is finished (a write persistent if ``request.fua``;
        for FLUSH, every write finished before it)."""
        ...


class Connection:
    """One client connection, from handshake to close. Replies go out through a writing
    thread of its own, so a backend answering from under the array's lock never waits for a
    slow client. A request is in flight from when it is read until its reply is sent: at
    most ``max_in_flight`` of them, holding at most ``max_bytes`` of data (one request
    alone may hold more), then reading waits. So a client that sends requests and does not
    read the replies stops being read, instead of piling replies up in the server's memory."""

    def __init__(
        self,
        sock: socket.socket,
        host: str,
        backend: Backend,
        on_close: Callable[[Connection], None],
        max_in_flight: int = 64,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.sock = sock
        self.host = host
        self.backend = backend
        self.on_close = on_close
        self.max_in_flight = max_in_flight
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.in_flight = 0
        self.bytes_in_flight = 0  # data read or written by the requests in flight
        self.changed = threading.Condition(self.lock)  # a reply was sent
        self.closed_reason = ""
        # (reply, the bytes its request held); None: no more replies
        self._replies: queue.SimpleQueue[tuple[bytes, int] | None] = queue.SimpleQueue()

    def serve(self) -> None:
        writer = threading.Thread(target=self._write, name=f"nbd {self.host} replies", daemon=True)
        writer.start()
        try:
            self._serve()
        except OSError as e:
            self.closed_reason = self.closed_reason or f"socket error: {e}"
        finally:
            with self.lock:  # requests in flight finish (and are answered) before the socket goes
                while self.in_flight:
                    self.changed.wait()
            self._replies.put(None)
            writer.join()
            self.sock.close()
            self.on_close(self)

    def _write(self) -> None:
        while (item := self._replies.get()) is not None:
            data, held = item
            with contextlib.suppress(OSError):  # a client gone away: its reading side ends the connection
                self.sock.sendall(data)
            with self.lock:
                self.in_flight -= 1
                self.bytes_in_flight -= held
                self.changed.notify_all()

    def _admit(self, held: int) -> None:
        """Wait until a request holding ``held`` bytes may be in flight, and count it."""
        with self.lock:
            while self.in_flight >= self.max_in_flight or (
                self.in_flight and self.bytes_in_flight + held > self.max_bytes
            ):
                self.changed.wait()
            self.in_flight += 1
            self.bytes_in_flight += held

    def _serve(self) -> None:
        exports = self.backend.exports(self.host)
        handshake = Handshake(exports, default=next(iter(exports), None))
        self.sock.sendall(handshake.greeting())
        while not handshake.done:
            data = self.sock.recv(65536)
            if not data:
                self.closed_reason = "the client left during the handshake"
                return
            answer = handshake.receive(data)
            if answer:
                self.sock.sendall(answer)
        if handshake.export is None:
            self.closed_reason = handshake.closed or ""
            return
        export, structured = handshake.export, handshake.structured
        parser = RequestParser(export.size)
        data = handshake.leftover
        while True:
            for request in parser.feed(data):
                if request.command == CMD_DISC:
                    self.closed_reason = "the client disconnected (NBD_CMD_DISC)"
                    return
                self._start(export.name, request, structured)
            if parser.broken is not None:
                self.closed_reason = parser.broken
                return
            data = self.sock.recv(1 << 20)
            if not data:
                self.closed_reason = "the client closed the connection"
                return

    def _start(self, export: str, request: Request, structured: bool) -> None:
        if request.error or request.command not in (CMD_READ, CMD_WRITE, CMD_FLUSH):
            self._admit(0)  # its reply, however small, waits for the client like any other
            self._replies.put((reply(request, structured, request.error, message=request.reason), 0))
            return
        held = request.length if request.command in (CMD_READ, CMD_WRITE) else 0
        self._admit(held)

        def done(error: int, data: bytes) -> None:
            what = "read" if request.command == CMD_READ else "write"
            message = f"the array could not {what}" if error else ""
            self._replies.put((reply(request, structured, error, data, message), held))

        try:
            self.backend.submit(self.host, export, request, done)
        except Exception:  # the backend failed outright: the client gets an error, not a hang,
            done(ESHUTDOWN, b"")  # and the connection ends with the failure reported
            raise


class Server:
    """A listening socket per host; a thread per connection."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.listeners: dict[str, socket.socket] = {}
        self.addresses: dict[str, str | tuple[str, int]] = {}
        self.connections: list[Connection] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = False

    def listen_unix(self, host: str, path: str) -> None:
        if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # a socket left by a run that did not stop cleanly
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # owner-only from the start: no moment when others may connect
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        self._listen(host, sock, path)

    def listen_tcp(self, host: str, port: int = 0) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self._listen(host, sock, sock.getsockname())

    def _listen(self, host: str, sock: socket.socket, address: str | tuple[str, int]) -> None:
        sock.listen(16)
        self.listeners[host] = sock
        self.addresses[host] = address
        thread = threading.Thread(target=self._accept, args=(host, sock), name=f"nbd {host}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, host: str, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return  # the listener was closed
            if client.family == socket.AF_INET:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stopping:
                    client.close()
                    return
                connection = Connection(client, host, self.backend, self._forget)
                self.connections.append(connection)
            threading.Thread(target=connection.serve, name=f"nbd {host} client", daemon=True).start()

    def uri(self, host: str, export: str) -> str:
        """The NBD URI of ``export`` as ``host`` reaches it."""
        address = self.addresses[host]
        if isinstance(address, str):
            return f"nbd+unix:///{export}?socket={address}"
        return f"nbd://127.0.0.1:{address[1]}/{export}"

    def _forget(self, connection: Connection) -> None:
        with self._lock:
            if connection in self.connections:
                self.connections.remove(connection)

    def close(self) -> None:
        """Stop listening and close every connection (requests in flight finish first)."""
        with self._lock:
            self._stopping = True
            connections = list(self.connections)
        for host, sock in self.listeners.items():
            with contextlib.suppress(OSError):  # wakes the thread waiting in accept (close alone does not)
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            address = self.addresses[host]
            if isinstance(address, str) and os.path.exists(address):
                os.unlink(address)
        for connection in connections:
            with contextlib.suppress(OSError):  # its reading thread ends; requests in flight finish
                connection.sock.shutdown(socket.SHUT_RD)
        for thread in self._threads:
            thread.join()
