"""The NBD server's connections on their own, over a socket pair, with a backend that answers
at once: what a connection holds in memory for a client that does not read its replies."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Mapping

from reference_impl.nbd.codec import (
    CMD_DISC,
    CMD_READ,
    IHAVEOPT,
    OPT_GO,
    REQUEST_MAGIC,
    SIMPLE_REPLY_MAGIC,
    Export,
    Request,
)
from reference_impl.nbd.server import Connection, Done

KIB = 1024
MIB = 1024 * KIB
READ = 256 * KIB


class Instant:
    """A backend that reads zeros and answers before ``submit`` returns."""

    def exports(self, host: str) -> Mapping[str, Export]:
        return {"lu0": Export("lu0", 64 * 1024 * KIB)}

    def submit(self, host: str, export: str, request: Request, done: Done) -> None:
        done(0, bytes(request.length) if request.command == CMD_READ else b"")


def recv(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"closed after {len(data)} of {n} bytes"
        data += chunk
    return bytes(data)


def go(sock: socket.socket) -> None:
    """The client's side of the handshake, through NBD_OPT_GO for lu0."""
    assert recv(sock, 18)[:8] == b"NBDMAGIC"
    option = struct.pack(">I", 3) + b"lu0" + struct.pack(">H", 0)
    sock.sendall(struct.pack(">IQII", 3, IHAVEOPT, OPT_GO, len(option)) + option)
    while True:
        _, _, kind, length = struct.unpack(">QIII", recv(sock, 20))
        recv(sock, length)
        if kind == 1:  # NBD_REP_ACK
            return


def test_a_client_that_does_not_read_its_replies_stops_being_read() -> None:
    """Replies used to be counted done once queued, not once sent, so a client sending reads
    and reading nothing grew the server's memory by each read's length (350 MB for 400 reads
    of 1 MiB). Now the connection holds a bounded number of bytes and stops reading the
    client; once the client reads, every reply comes, in full."""
    server_end, client = socket.socketpair()
    client.settimeout(30)
    connection = Connection(server_end, "host0", Instant(), lambda c: None, max_in_flight=64, max_bytes=MIB)
    serving = threading.Thread(target=connection.serve, daemon=True)
    serving.start()
    go(client)
    count = 200  # 50 MiB of replies
    client.sendall(
        b"".join(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_READ, n, n * READ, READ) for n in range(count))
    )
    time.sleep(0.5)  # time enough for the server to read every request, were it still reading
    with connection.lock:
        held, in_flight = connection.bytes_in_flight, connection.in_flight
    assert held <= MIB and in_flight <= MIB // READ
    assert connection._replies.qsize() <= MIB // READ  # the replies held, whatever was counted
    cookies = []
    for _ in range(count):
        magic, error, cookie = struct.unpack(">IIQ", recv(client, 16))
        assert (magic, error) == (SIMPLE_REPLY_MAGIC, 0)
        assert recv(client, READ) == bytes(READ)
        cookies.append(cookie)
    assert cookies == list(range(count))
    client.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_DISC, 0, 0, 0))
    serving.join(10)
    assert not serving.is_alive() and client.recv(1) == b""
    assert (connection.in_flight, connection.bytes_in_flight) == (0, 0)
