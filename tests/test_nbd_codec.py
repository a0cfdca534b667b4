"""The NBD codec, sans-I/O: the handshake and the request parser fed bytes directly.

Hypothesis feeds arbitrary bytes, cut at arbitrary places: the codec never raises, answers
the same whatever the cuts, never lets a client open an export
that is not its own, and never passes on a read or write that ends outside the export."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_impl.nbd.codec import (
    CMD_DISC,
    CMD_FLAG_FUA,
    CMD_FLUSH,
    CMD_READ,
    CMD_WRITE,
    EINVAL,
    ENOSPC,
    IHAVEOPT,
    INFO_BLOCK_SIZE,
    INFO_EXPORT,
    INFO_NAME,
    NBDMAGIC,
    OPT_ABORT,
    OPT_EXPORT_NAME,
    OPT_GO,
    OPT_INFO,
    OPT_LIST,
    OPT_STARTTLS,
    OPT_STRUCTURED_REPLY,
    OPTION_REPLY_MAGIC,
    REP_ACK,
    REP_ERR_INVALID,
    REP_ERR_UNKNOWN,
    REP_ERR_UNSUP,
    REP_INFO,
    REP_SERVER,
    REQUEST_MAGIC,
    SIMPLE_REPLY_MAGIC,
    STRUCTURED_REPLY_MAGIC,
    Export,
    Handshake,
    Request,
    RequestParser,
    reply,
)

MINE = {"lu0": Export("lu0", 1 << 20), "lu1": Export("lu1", 2 << 20)}
FOREIGN = "lu2"  # another host's export


def option(opt: int, data: bytes = b"") -> bytes:
    return struct.pack(">QII", IHAVEOPT, opt, len(data)) + data


def go(name: str, infos: tuple[int, ...] = (), opt: int = OPT_GO) -> bytes:
    encoded = name.encode()
    return option(
        opt, struct.pack(">I", len(encoded)) + encoded + struct.pack(f">H{len(infos)}H", len(infos), *infos)
    )


def replies(data: bytes) -> list[tuple[int, int, bytes]]:
    """The option replies in ``data``: (option, reply type, payload); each must be whole."""
    out = []
    while data:
        magic, opt, kind, length = struct.unpack_from(">QIII", data)
        assert magic == OPTION_REPLY_MAGIC
        out.append((opt, kind, data[20 : 20 + length]))
        assert len(data) >= 20 + length
        data = data[20 + length :]
    return out


def request(
    command: int, offset: int, length: int, cookie: int = 7, flags: int = 0, data: bytes = b""
) -> bytes:
    return struct.pack(">IHHQQI", REQUEST_MAGIC, flags, command, cookie, offset, length) + data


def started(*options: bytes, flags: int = 3) -> tuple[Handshake, bytes]:
    h = Handshake(MINE, default="lu0")
    out = h.receive(struct.pack(">I", flags) + b"".join(options))
    return h, out


# --- the handshake -------------------------------------------------------------------------


def test_greeting_is_the_fixed_newstyle_magic_and_flags() -> None:
    assert Handshake(MINE).greeting() == struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 3)


def test_list_names_exactly_this_hosts_exports() -> None:
    h, out = started(option(OPT_LIST))
    listed = [(kind, payload) for _, kind, payload in replies(out)]
    assert listed == [(REP_SERVER, b"\0\0\0\3lu0"), (REP_SERVER, b"\0\0\0\3lu1"), (REP_ACK, b"")]
    assert not h.done


def test_list_with_data_is_invalid_and_the_handshake_goes_on() -> None:
    _, out = started(option(OPT_LIST, b"x"), option(OPT_LIST))
    kinds = [kind for _, kind, _ in replies(out)]
    assert kinds == [REP_ERR_INVALID, REP_SERVER, REP_SERVER, REP_ACK]


def test_go_opens_an_own_export_and_sends_its_size_and_flags() -> None:
    h, out = started(go("lu1", (INFO_NAME, INFO_BLOCK_SIZE)))
    got = replies(out)
    assert got[0] == (OPT_GO, REP_INFO, struct.pack(">HQH", INFO_EXPORT, 2 << 20, MINE["lu1"].flags))
    assert got[1] == (OPT_GO, REP_INFO, struct.pack(">H", INFO_NAME) + b"lu1")
    assert got[2][2][:2] == struct.pack(">H", INFO_BLOCK_SIZE) and got[3][1] == REP_ACK
    assert h.export == MINE["lu1"] and h.closed is None


def test_go_with_an_empty_name_opens_the_default_export() -> None:
    h, _ = started(go(""))
    assert h.export == MINE["lu0"]


def test_another_hosts_export_is_unknown_to_go_and_info() -> None:
    h, out = started(go(FOREIGN, opt=OPT_INFO), go(FOREIGN))
    assert [kind for _, kind, _ in replies(out)] == [REP_ERR_UNKNOWN, REP_ERR_UNKNOWN]
    assert h.export is None and not h.done


def test_an_export_name_longer_than_the_protocols_strings_is_invalid_and_unknown_names_are_cut() -> None:
    h, out = started(go("x" * 4097), go("y" * 4096))
    (invalid, unknown) = replies(out)
    assert invalid[1] == REP_ERR_INVALID and b"at most 4096 bytes" in invalid[2]
    assert unknown[1] == REP_ERR_UNKNOWN and len(unknown[2]) < 100  # the name is not echoed whole
    assert h.export is None and not h.done


def test_info_does_not_open_the_export() -> None:
    h, out = started(go("lu0", opt=OPT_INFO))
    assert replies(out)[-1][1] == REP_ACK and h.export is None


def test_export_name_of_another_hosts_export_ends_the_session() -> None:
    h, out = started(option(OPT_EXPORT_NAME, FOREIGN.encode()))
    assert out == b"" and h.export is None and h.closed is not None and "may not open" in h.closed


@pytest.mark.parametrize("no_zeroes", [True, False])
def test_export_name_opens_and_pads_unless_no_zeroes(no_zeroes: bool) -> None:
    h, out = started(option(OPT_EXPORT_NAME, b"lu1"), flags=1 | (2 if no_zeroes else 0))
    assert out == struct.pack(">QH", 2 << 20, MINE["lu1"].flags) + (b"" if no_zeroes else bytes(124))
    assert h.export == MINE["lu1"]


def test_structured_replies_are_acknowledged_and_remembered() -> None:
    h, out = started(option(OPT_STRUCTURED_REPLY))
    assert replies(out) == [(OPT_STRUCTURED_REPLY, REP_ACK, b"")] and h.structured


@pytest.mark.parametrize("opt", [OPT_STARTTLS, 9, 10, 99])
def test_unsupported_options_are_refused_and_the_handshake_goes_on(opt: int) -> None:
    h, out = started(option(opt, b"abc"), go("lu0"))
    assert replies(out)[0][:2] == (opt, REP_ERR_UNSUP) and h.export == MINE["lu0"]


def test_abort_is_acknowledged_and_closes() -> None:
    h, out = started(option(OPT_ABORT))
    assert replies(out) == [(OPT_ABORT, REP_ACK, b"")] and h.closed is not None and h.export is None


@pytest.mark.parametrize(
    ("flags", "why"), [(0, "fixed newstyle"), (1 | 4, "flags this server does not know")]
)
def test_client_flags_unknown_or_without_fixed_newstyle_close(flags: int, why: str) -> None:
    h, _ = started(flags=flags)
    assert h.closed is not None and why in h.closed


def test_bad_option_magic_or_oversized_option_closes() -> None:
    h, _ = started(b"X" * 16)
    assert h.closed is not None and "IHAVEOPT" in h.closed
    h, _ = started(struct.pack(">QII", IHAVEOPT, OPT_LIST, 1 << 20))
    assert h.closed is not None and "more than" in h.closed


def test_malformed_go_is_invalid() -> None:
    _, out = started(option(OPT_GO, b"\0\0\0\x09lu0\0\0"), option(OPT_GO, b"\0"))
    assert [kind for _, kind, _ in replies(out)] == [REP_ERR_INVALID, REP_ERR_INVALID]


def test_bytes_after_go_are_kept_for_transmission() -> None:
    h, _ = started(go("lu0"), request(CMD_READ, 0, 512))
    assert h.export == MINE["lu0"] and h.leftover == request(CMD_READ, 0, 512)
    assert h.receive(b"more") == b"" and h.leftover.endswith(b"more")


def _feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[Handshake, bytes]:
    h = Handshake(MINE, default="lu0")
    out, at = [], 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if at <= cut:
            out.append(h.receive(data[at:cut]))
            at = cut
    return h, b"".join(out)


options = st.one_of(
    st.builds(
        option, st.sampled_from([OPT_LIST, OPT_STRUCTURED_REPLY, OPT_STARTTLS, 42]), st.binary(max_size=8)
    ),
    st.builds(
        go, st.sampled_from(["lu0", "lu1", FOREIGN, "", "x" * 20]), st.tuples(), st.sampled_from([6, 7])
    ),
    st.builds(option, st.just(OPT_EXPORT_NAME), st.sampled_from([b"lu1", FOREIGN.encode(), b"\xff"])),
    st.binary(max_size=24),  # garbage
)


@given(
    st.binary(max_size=4).map(lambda b: (b + b"\0\0\0\3")[:4]) | st.just(b"\0\0\0\3"),
    st.lists(options, max_size=6),
    st.lists(st.integers(0, 400), max_size=8),
)
def test_handshake_fuzz_never_crashes_is_cut_independent_and_masks_exports(
    flags: bytes, opts: list[bytes], cuts: list[int]
) -> None:
    data = flags + b"".join(opts)
    whole, whole_out = _feed_in_pieces(data, [])
    cut, cut_out = _feed_in_pieces(data, cuts)
    assert (whole_out, whole.export, whole.closed, whole.leftover) == (
        cut_out,
        cut.export,
        cut.closed,
        cut.leftover,
    )
    if whole.export is not None:
        assert whole.export in MINE.values()  # another host's export never opens
    out = whole_out  # option replies, then (after NBD_OPT_EXPORT_NAME) the export's size and flags
    while out[:8] == struct.pack(">Q", OPTION_REPLY_MAGIC):
        _, _, kind, length = struct.unpack_from(">QIII", out)
        if kind == REP_SERVER:
            assert out[24 : 20 + length].decode() in MINE  # a listed export is always this host's
        out = out[20 + length :]


# --- the transmission phase ---------------------------------------------------------------


def test_requests_parse_with_their_fields_and_payload() -> None:
    p = RequestParser(1 << 20)
    got = p.feed(
        request(CMD_WRITE, 4096, 3, cookie=9, flags=CMD_FLAG_FUA, data=b"abc") + request(CMD_FLUSH, 0, 0)
    )
    assert got == [Request(9, CMD_WRITE, CMD_FLAG_FUA, 4096, 3, b"abc"), Request(7, CMD_FLUSH, 0, 0, 0)]
    assert got[0].fua and p.pending == 0


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (request(CMD_WRITE, (1 << 20) - 1, 2, data=b"ab"), ENOSPC, "ends past"),
        (request(CMD_READ, 1 << 20, 1), EINVAL, "ends past"),
        (request(9, 0, 0), EINVAL, "unknown command 9"),
        (request(CMD_READ, 0, 1, flags=1 << 7), EINVAL, "flags"),
        (request(CMD_READ, 0, (32 << 20) + 1), EINVAL, "more than"),
    ],
)
def test_requests_the_protocol_refuses_carry_their_error(raw: bytes, error: int, reason: str) -> None:
    (r,) = RequestParser(1 << 20).feed(raw)
    assert r.error == error and reason in r.reason


def test_a_refused_write_still_consumes_its_payload() -> None:
    p = RequestParser(1 << 20)
    got = p.feed(request(CMD_WRITE, 1 << 20, 4, data=b"wxyz") + request(CMD_DISC, 0, 0))
    assert [r.command for r in got] == [CMD_WRITE, CMD_DISC] and got[0].error == ENOSPC


@pytest.mark.parametrize(
    ("bad", "why"), [(b"\0" * 28, "request magic"), (request(CMD_WRITE, 0, (32 << 20) + 1), "more than")]
)
def test_bad_magic_and_oversized_write_cannot_be_followed(bad: bytes, why: str) -> None:
    p = RequestParser(1 << 20)
    got = p.feed(request(CMD_FLUSH, 0, 0) + bad + request(CMD_FLUSH, 0, 0))
    assert [r.command for r in got] == [CMD_FLUSH]  # what came before is served
    assert p.broken is not None and why in p.broken
    assert p.feed(request(CMD_FLUSH, 0, 0)) == [] and p.pending == 0


def test_reply_forms() -> None:
    read = Request(5, CMD_READ, 0, 512, 3)
    assert reply(read, False, 0, b"abc") == struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, 0, 5) + b"abc"
    assert reply(read, True, 0, b"abc") == (
        struct.pack(">IHHQI", STRUCTURED_REPLY_MAGIC, 1, 1, 5, 11) + struct.pack(">Q", 512) + b"abc"
    )
    error = reply(read, True, EINVAL, message="why")
    assert (
        error
        == struct.pack(">IHHQI", STRUCTURED_REPLY_MAGIC, 1, (1 << 15) + 1, 5, 9)
        + struct.pack(">IH", EINVAL, 3)
        + b"why"
    )
    # a read of nothing: a chunk of no type (an offset-data chunk carries at least a byte)
    nothing = Request(7, CMD_READ, 0, 512, 0)
    assert reply(nothing, True, 0, b"") == struct.pack(">IHHQI", STRUCTURED_REPLY_MAGIC, 1, 0, 7, 0)
    assert reply(nothing, False, 0, b"") == struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, 0, 7)
    write = Request(6, CMD_WRITE, 0, 0, 1, b"x")
    assert reply(write, True, ENOSPC) == struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, ENOSPC, 6)


def with_payload(header: bytes) -> bytes:
    """A write's header followed by as many bytes as it says; any other request alone."""
    (command,) = struct.unpack_from(">H", header, 6)
    (length,) = struct.unpack_from(">I", header, 24)
    return header + (bytes(length) if command == CMD_WRITE else b"")


requests = st.builds(
    request,
    st.sampled_from([CMD_READ, CMD_WRITE, CMD_FLUSH, CMD_DISC, 4, 77]),
    st.integers(0, (1 << 20) + 8192),
    st.integers(0, 9000),
    st.integers(0, 2**64 - 1),
    st.sampled_from([0, CMD_FLAG_FUA, 4, 1 << 9]),
).map(
    lambda b: (
        b + (bytes(struct.unpack_from(">I", b, 24)[0]) if struct.unpack_from(">H", b, 6)[0] == 1 else b"")
    )
)


@given(
    st.lists(st.one_of(requests, st.binary(max_size=40)), max_size=6),
    st.lists(st.integers(0, 20000), max_size=8),
)
def test_request_parser_fuzz_is_cut_independent_and_never_passes_a_request_outside_the_export(
    chunks: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(chunks)

    def parse(points: list[int]) -> tuple[list[Request], str | None]:
        p, got, at = RequestParser(1 << 20), [], 0
        for cut in [*sorted(set(points)), len(data)]:
            if at <= cut:
                got += p.feed(data[at:cut])
                at = cut
        return got, p.broken

    whole, cut = parse([]), parse(cuts)
    assert whole == cut
    for r in whole[0]:
        if r.error == 0 and r.command in (CMD_READ, CMD_WRITE):
            assert r.offset + r.length <= 1 << 20
        if r.command == CMD_WRITE:
            assert len(r.data) == r.length
