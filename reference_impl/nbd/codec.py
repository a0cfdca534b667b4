"""The NBD protocol (doc/proto.md of the NetworkBlockDevice project), server side, sans-I/O.

``Handshake`` is the fixed newstyle handshake: fed the bytes a client sends, it answers
with the bytes to send back, and ends either with an export chosen (transmission begins)
or with the connection to be closed, and why. ``RequestParser`` cuts the transmission
phase's byte stream into requests, each checked against the export: a request the
protocol says to refuse carries the error to reply with. The reply encoders build simple
and structured replies. Nothing here touches a socket or the array, so every byte sequence
a client could send can be fed to it in a test."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

NBDMAGIC = 0x4E42444D41474943  # "NBDMAGIC"
IHAVEOPT = 0x49484156454F5054  # "IHAVEOPT"
OPTION_REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668E33EF

# handshake flags (server) and client flags
FLAG_FIXED_NEWSTYLE = 1 << 0
FLAG_NO_ZEROES = 1 << 1
CLIENT_FLAGS = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES

# options
OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_STARTTLS = 5
OPT_INFO = 6
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8

# option reply types
REP_ACK = 1
REP_SERVER = 2
REP_INFO = 3
REP_ERR_UNSUP = (1 << 31) + 1
REP_ERR_INVALID = (1 << 31) + 3
REP_ERR_UNKNOWN = (1 << 31) + 6
REP_ERR_TOO_BIG = (1 << 31) + 9

# information types of NBD_OPT_INFO / NBD_OPT_GO
INFO_EXPORT = 0
INFO_NAME = 1
INFO_DESCRIPTION = 2
INFO_BLOCK_SIZE = 3

# transmission flags
FLAG_HAS_FLAGS = 1 << 0
FLAG_READ_ONLY = 1 << 1
FLAG_SEND_FLUSH = 1 << 2
FLAG_SEND_FUA = 1 << 3
FLAG_CAN_MULTI_CONN = 1 << 8

# commands and their flags
CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_FLAG_FUA = 1 << 0
CMD_FLAG_DF = 1 << 2
COMMAND_NAMES = {CMD_READ: "READ", CMD_WRITE: "WRITE", CMD_DISC: "DISC", CMD_FLUSH: "FLUSH"}
# The flags each command may carry (FUA is harmless on a read or a flush)
_ALLOWED_FLAGS = {
    CMD_READ: CMD_FLAG_FUA | CMD_FLAG_DF,
    CMD_WRITE: CMD_FLAG_FUA,
    CMD_FLUSH: CMD_FLAG_FUA,
    CMD_DISC: 0,
}

# structured reply types
REPLY_FLAG_DONE = 1 << 0
REPLY_TYPE_NONE = 0
REPLY_TYPE_OFFSET_DATA = 1
REPLY_TYPE_ERROR = (1 << 15) + 1

# errors, as the protocol numbers them
EPERM = 1
EIO = 5
EINVAL = 22
ENOSPC = 28
EOVERFLOW = 75
ESHUTDOWN = 108

MAX_OPTION = 64 * 1024  # longest option data accepted (an export name is at most 4 KiB)
MAX_STRING = 4096  # the protocol's longest string: an export name, a message
MAX_PAYLOAD = 32 * 1024 * 1024  # longest read or write (the protocol's customary limit)

_OPTION = struct.Struct(">QII")  # IHAVEOPT, option, length
_OPTION_REPLY = struct.Struct(">QIII")  # magic, option, reply type, length
_REQUEST = struct.Struct(">IHHQQI")  # magic, flags, type, cookie, offset, length
_SIMPLE = struct.Struct(">IIQ")  # magic, error, cookie
_CHUNK = struct.Struct(">IHHQI")  # magic, flags, type, cookie, length


@dataclass(frozen=True)
class Export:
    """What a client is told of one export."""

    name: str
    size: int
    description: str = ""
    flags: int = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA
    preferred_block: int = 4096


class Handshake:
    """The server's side of the fixed newstyle handshake with one client.

    ``exports`` are the only exports this client may list or open (LUN masking): any other
    name is unknown to it. ``greeting()`` is sent first; then ``receive(data)`` returns the
    bytes to send. Once ``export`` is set, transmission begins, and ``leftover`` holds the
    bytes already received that belong to it; once ``closed`` is set, the connection is to
    be closed after sending, for that reason."""

    def __init__(self, exports: Mapping[str, Export], default: str | None = None) -> None:
        self.exports = dict(exports)
        self.default = default  # the export an empty name opens
        self.export: Export | None = None
        self.closed: str | None = None
        self.structured = False
        self.no_zeroes = False
        self.leftover = b""
        self._buffer = b""
        self._have_flags = False

    def greeting(self) -> bytes:
        return struct.pack(">QQH", NBDMAGIC, IHAVEOPT, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)

    @property
    def done(self) -> bool:
        return self.export is not None or self.closed is not None

    def receive(self, data: bytes) -> bytes:
        """Take ``data`` from the client; the bytes to send it in answer."""
        if self.done:
            if self.export is not None:  # after a close, what the client sends is ignored
                self.leftover += data
            return b""
        self._buffer += data
        out = []
        while not self.done:
            if not self._have_flags:
                if len(self._buffer) < 4:
                    break
                (flags,) = struct.unpack_from(">I", self._buffer)
                self._buffer = self._buffer[4:]
                self._have_flags = True
                if flags & ~CLIENT_FLAGS:
                    self.closed = f"the client sent flags this server does not know ({flags:#x})"
                elif not flags & FLAG_FIXED_NEWSTYLE:
                    self.closed = "the client does not speak the fixed newstyle handshake"
                self.no_zeroes = bool(flags & FLAG_NO_ZEROES)
                continue
            if len(self._buffer) < _OPTION.size:
                break
            magic, option, length = _OPTION.unpack_from(self._buffer)
            if magic != IHAVEOPT:
                self.closed = f"an option without the IHAVEOPT magic ({magic:#x})"
                break
            if length > MAX_OPTION:
                self.closed = f"option {option} carries {length} bytes, more than {MAX_OPTION}"
                break
            if len(self._buffer) < _OPTION.size + length:
                break
            payload = self._buffer[_OPTION.size : _OPTION.size + length]
            self._buffer = self._buffer[_OPTION.size + length :]
            out.append(self._option(option, payload))
        if self.export is not None:
            self.leftover, self._buffer = self._buffer, b""
        return b"".join(out)

    def _option(self, option: int, data: bytes) -> bytes:
        if option == OPT_EXPORT_NAME:
            export = self._lookup(data.decode("utf-8", "replace"))
            if export is None:  # this option has no error reply: the session ends
                self.closed = "the client asked for an export it may not open, by NBD_OPT_EXPORT_NAME"
                return b""
            self.export = export
            reply = struct.pack(">QH", export.size, export.flags)
            return reply + (b"" if self.no_zeroes else bytes(124))
        if option == OPT_ABORT:
            self.closed = "the client ended the handshake (NBD_OPT_ABORT)"
            return option_reply(option, REP_ACK)
        if option == OPT_LIST:
            if data:
                return option_reply(option, REP_ERR_INVALID, b"NBD_OPT_LIST carries no data")
            servers = [
                option_reply(option, REP_SERVER, struct.pack(">I", len(n.encode())) + n.encode())
                for n in self.exports
            ]
            return b"".join(servers) + option_reply(option, REP_ACK)
        if option in (OPT_INFO, OPT_GO):
            return self._info(option, data)
        if option == OPT_STRUCTURED_REPLY:
            if data:
                return option_reply(option, REP_ERR_INVALID, b"NBD_OPT_STRUCTURED_REPLY carries no data")
            self.structured = True
            return option_reply(option, REP_ACK)
        if option == OPT_STARTTLS:
            return option_reply(option, REP_ERR_UNSUP, b"this server does not offer TLS")
        return option_reply(option, REP_ERR_UNSUP, f"option {option} is not supported".encode())

    def _lookup(self, name: str) -> Export | None:
        if name == "" and self.default is not None:
            name = self.default
        return self.exports.get(name)

    def _info(self, option: int, data: bytes) -> bytes:
        if len(data) < 6:
            return option_reply(option, REP_ERR_INVALID, b"too short for a name and its requests")
        (name_length,) = struct.unpack_from(">I", data)
        if len(data) < 4 + name_length + 2:
            return option_reply(option, REP_ERR_INVALID, b"the name is longer than the option")
        if name_length > MAX_STRING:
            return option_reply(
                option, REP_ERR_INVALID, f"an export name is at most {MAX_STRING} bytes".encode()
            )
        name = data[4 : 4 + name_length]
        (count,) = struct.unpack_from(">H", data, 4 + name_length)
        if len(data) != 4 + name_length + 2 + 2 * count:
            return option_reply(option, REP_ERR_INVALID, b"the information requests do not fill the option")
        requests = struct.unpack_from(f">{count}H", data, 4 + name_length + 2)
        try:
            text = name.decode("utf-8")
        except UnicodeDecodeError:
            return option_reply(option, REP_ERR_INVALID, b"the export name is not UTF-8")
        export = self._lookup(text)
        if export is None:
            shown = text if len(text) <= 64 else text[:64] + "..."  # the message stays short
            return option_reply(option, REP_ERR_UNKNOWN, f"no export {shown!r} for this host".encode())
        infos = [struct.pack(">HQH", INFO_EXPORT, export.size, export.flags)]
        if INFO_NAME in requests:
            infos.append(struct.pack(">H", INFO_NAME) + export.name.encode())
        if INFO_DESCRIPTION in requests:
            infos.append(struct.pack(">H", INFO_DESCRIPTION) + export.description.encode())
        if INFO_BLOCK_SIZE in requests:
            infos.append(struct.pack(">HIII", INFO_BLOCK_SIZE, 1, export.preferred_block, MAX_PAYLOAD))
        out = b"".join(option_reply(option, REP_INFO, info) for info in infos) + option_reply(option, REP_ACK)
        if option == OPT_GO:
            self.export = export
        return out


def option_reply(option: int, reply: int, data: bytes = b"") -> bytes:
    return _OPTION_REPLY.pack(OPTION_REPLY_MAGIC, option, reply, len(data)) + data


@dataclass(frozen=True)
class Request:
    """One request of the transmission phase. ``error`` is set when the protocol says to
    refuse it (the reply carries that error, and nothing is done)."""

    cookie: int
    command: int
    flags: int
    offset: int
    length: int
    data: bytes = b""  # a write's payload
    error: int = 0
    reason: str = ""  # why it is refused, for the log

    @property
    def fua(self) -> bool:
        return bool(self.flags & CMD_FLAG_FUA)


class RequestParser:
    """The transmission phase's requests, cut from the bytes as they arrive, for an export
    of ``size`` bytes. When the stream cannot be followed any further (a bad magic, a write
    longer than any this server accepts), ``broken`` says why: the requests before that
    point are returned as usual, nothing after it is, and the connection is to be dropped,
    as the protocol allows."""

    def __init__(self, size: int, max_payload: int = MAX_PAYLOAD) -> None:
        self.size = size
        self.max_payload = max_payload
        self.broken: str | None = None
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Request]:
        if self.broken is not None:
            return []
        self._buffer += data
        requests = []
        while len(self._buffer) >= _REQUEST.size:
            magic, flags, command, cookie, offset, length = _REQUEST.unpack_from(self._buffer)
            if magic != REQUEST_MAGIC:
                self.broken = f"a request without the request magic ({magic:#x})"
                break
            payload = length if command == CMD_WRITE else 0
            if payload > self.max_payload:
                self.broken = f"a write of {length} bytes, more than {self.max_payload}"
                break
            if len(self._buffer) < _REQUEST.size + payload:
                break
            body = bytes(self._buffer[_REQUEST.size : _REQUEST.size + payload])
            del self._buffer[: _REQUEST.size + payload]
            error, reason = self._check(command, flags, offset, length)
            requests.append(Request(cookie, command, flags, offset, length, body, error, reason))
        if self.broken is not None:
            self._buffer.clear()
        return requests

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole request."""
        return len(self._buffer)

    def _check(self, command: int, flags: int, offset: int, length: int) -> tuple[int, str]:
        allowed = _ALLOWED_FLAGS.get(command)
        if allowed is None:
            return EINVAL, f"unknown command {command}"
        name = COMMAND_NAMES[command]
        if flags & ~allowed:
            return EINVAL, f"{name} with flags this server does not know ({flags:#x})"
        if command == CMD_READ and length > self.max_payload:
            return EINVAL, f"a read of {length} bytes, more than {self.max_payload}"
        if command in (CMD_READ, CMD_WRITE) and offset + length > self.size:
            error = ENOSPC if command == CMD_WRITE else EINVAL
            return error, f"{name} of {length} bytes at {offset} ends past the export's {self.size} bytes"
        return 0, ""


def simple_reply(cookie: int, error: int = 0, data: bytes = b"") -> bytes:
    return _SIMPLE.pack(SIMPLE_REPLY_MAGIC, error, cookie) + data


def structured_read(cookie: int, offset: int, data: bytes) -> bytes:
    """A read's data in one chunk, the last. A read of nothing gets a chunk of no type: an
    offset-data chunk must carry at least one byte of data."""
    if not data:
        return _chunk(cookie, REPLY_TYPE_NONE, b"")
    return _chunk(cookie, REPLY_TYPE_OFFSET_DATA, struct.pack(">Q", offset) + data)


def structured_error(cookie: int, error: int, message: str = "") -> bytes:
    text = message.encode()[:MAX_STRING]
    payload = struct.pack(">IH", error, len(text)) + text
    return _chunk(cookie, REPLY_TYPE_ERROR, payload)


def _chunk(cookie: int, kind: int, payload: bytes) -> bytes:
    """A structured reply chunk, the last of its request's."""
    return _CHUNK.pack(STRUCTURED_REPLY_MAGIC, REPLY_FLAG_DONE, kind, cookie, len(payload)) + payload


def reply(request: Request, structured: bool, error: int = 0, data: bytes = b"", message: str = "") -> bytes:
    """The reply to ``request``: a read gets a structured reply once they are negotiated (the
    protocol requires it); every other command gets a simple one."""
    if structured and request.command == CMD_READ:
        if error:
            return structured_error(request.cookie, error, message)
        return structured_read(request.cookie, request.offset, data)
    return simple_reply(request.cookie, error, data if not error else b"")
