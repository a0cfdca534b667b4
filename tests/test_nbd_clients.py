"""Real block clients (Debian's qemu-img, qemu-io, nbdcopy, nbdinfo, fio) against the array
served over NBD, with LUs moving between controllers under their I/O. Every run's log is
then validated against the model, step by step.

Without the clients installed these tests are skipped, saying so; CI installs them and sets
LUTAKEOVER_REQUIRE_CLIENTS=1, under which a missing client fails instead."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.served import Served, nbd_scenario, served
from reference_impl.nbd.codec import (
    CMD_DISC,
    CMD_READ,
    CMD_WRITE,
    ENOSPC,
    EPERM,
    IHAVEOPT,
    OPT_GO,
    REQUEST_MAGIC,
    SIMPLE_REPLY_MAGIC,
)

CLIENTS = ("qemu-img", "qemu-io", "nbdcopy", "nbdinfo", "fio")
_missing = [c for c in CLIENTS if shutil.which(c) is None]
if _missing and os.environ.get("LUTAKEOVER_REQUIRE_CLIENTS"):
    raise RuntimeError(f"LUTAKEOVER_REQUIRE_CLIENTS is set and {', '.join(_missing)} are missing")
pytestmark = pytest.mark.skipif(
    bool(_missing),
    reason=f"needs {', '.join(_missing)} (Debian: apt-get install fio libnbd-bin nbdkit qemu-utils)",
)

MIB = 1 << 20


def run(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def assert_valid(s: Served) -> int:
    """The run's log validates against the model; the number of events."""
    v = s.validation()
    assert v.verdict == "ok", (v.failed, v.reason)
    return v.events


def test_nbdinfo_lists_exactly_one_hosts_luns_and_another_hosts_lu_cannot_be_opened(tmp_path: Path) -> None:
    with served(tmp_path) as s:
        listed = run("nbdinfo", "--list", "--json", s.uri("host0", ""))
        host1 = run("nbdinfo", "--list", "--json", s.uri("host1", ""))
        foreign = run("nbdinfo", s.uri("host0", "lu1"))
    assert listed.returncode == 0, listed.stderr
    assert [e["export-name"] for e in json.loads(listed.stdout)["exports"]] == ["lu0"]
    exports = {e["export-name"]: e for e in json.loads(host1.stdout)["exports"]}
    assert sorted(exports) == ["lu0", "lu1"]
    assert exports["lu0"]["is_read_only"] and not exports["lu1"]["is_read_only"]  # host1 reads LU0 only
    assert exports["lu1"]["can_multi_conn"] and exports["lu1"]["export-size"] == MIB
    assert foreign.returncode != 0 and "lu1" in foreign.stderr


def test_qemu_img_convert_in_and_out_is_identical_across_take_overs(tmp_path: Path) -> None:
    image = tmp_path / "in.img"
    image.write_bytes(os.urandom(MIB))
    with served(tmp_path / "run") as s:
        mover = s.mover(0)
        into = run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", str(image), s.uri("host0", "lu0"))
        back = run(
            "qemu-img", "convert", "-f", "raw", "-O", "raw", s.uri("host0", "lu0"), str(tmp_path / "out.img")
        )
        compared = run("qemu-img", "compare", "-f", "raw", "-F", "raw", str(image), s.uri("host0", "lu0"))
        moves = mover.stop()
    assert into.returncode == 0 and back.returncode == 0, into.stderr + back.stderr
    assert compared.returncode == 0 and "identical" in compared.stdout
    assert (tmp_path / "out.img").read_bytes() == image.read_bytes()
    assert moves >= 2 and s.stats is not None and s.stats.errors == []
    assert_valid(s)


def test_nbdcopy_round_trip_through_the_other_controller(tmp_path: Path) -> None:
    image = tmp_path / "in.img"
    image.write_bytes(os.urandom(MIB))
    with served(tmp_path / "run") as s:
        copied_in = run("nbdcopy", "--flush", str(image), s.uri("host1", "lu1"))
        s.move(1, 0)  # LU1 now in the charge of controller 0
        copied_out = run("nbdcopy", s.uri("host1", "lu1"), str(tmp_path / "out.img"))
        assert s.owner(1) == 0
    assert copied_in.returncode == 0 and copied_out.returncode == 0, copied_in.stderr + copied_out.stderr
    assert (tmp_path / "out.img").read_bytes() == image.read_bytes()
    assert_valid(s)


def fio(uri: str, *options: str) -> subprocess.CompletedProcess[str]:
    # No verify state file: fio would leave one in the working directory (the checkout).
    common = (
        "--name=lutakeover",
        "--ioengine=nbd",
        f"--uri={uri}",
        "--size=1M",
        "--bs=4k",
        "--verify_state_save=0",
    )
    return run("fio", *common, *options, timeout=300)


CRC = ("--rw=randwrite", "--iodepth=16", "--verify=crc32c")


def generation(uri: str, pattern: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Every block of the LU written (or checked) with fio's pattern ``pattern``."""
    return fio(uri, "--rw=write", "--verify=pattern", f"--verify_pattern={pattern}", *options)


def test_fio_verifies_every_block_across_twenty_take_overs_and_take_backs(tmp_path: Path) -> None:
    with served(tmp_path / "run") as s:
        lu0 = s.uri("host0", "lu0")
        mover = s.mover(0, pause=0.0)
        writes = []
        while mover.moves < 20:  # keep writing (and verifying as it goes) until 20 moves are done
            writes.append(fio(lu0, *CRC, "--verify_fatal=1"))
        moves = mover.stop()
        s.move(0, 1 - s.owner(0))  # the verify-only pass reads through the other controller
        verify = fio(lu0, *CRC, "--verify_only")
    for w in writes:
        assert w.returncode == 0 and "err= 0" in w.stdout, w.stdout + w.stderr
    assert verify.returncode == 0 and "err= 0" in verify.stdout, verify.stdout + verify.stderr
    assert moves >= 20 and s.stats is not None and s.stats.errors == []
    # Each pass writes and reads back the 256 blocks, the last reads them: every block request
    # is four steps of the log (send, deliver, process, complete), and all of them validate.
    requests = 512 * len(writes) + 256
    assert s.stats.by_event["complete"] == requests
    assert assert_valid(s) >= 4 * requests + 20 * 12  # and each take-over's dozen steps at least


def test_pattern_generations_catch_stale_data_after_a_take_back(tmp_path: Path) -> None:
    # Generation 1 written through controller 0, generation 2 after the take-over through
    # controller 1, then the take-back: every block must read generation 2. A stale line
    # left in controller 0's cache would give back generation 1 (fio's crc32c cannot tell:
    # both generations are valid blocks of the job), so each generation has its own pattern.
    with served(tmp_path / "run") as s:
        lu0 = s.uri("host0", "lu0")
        gen1 = generation(lu0, "0x11111111", "--do_verify=0")
        s.move(0, 1)
        gen2 = generation(lu0, "0x22222222", "--do_verify=0")
        s.move(0, 0)
        check = generation(lu0, "0x22222222", "--verify_only")
        stale = generation(lu0, "0x11111111", "--verify_only")
    assert gen1.returncode == 0 and gen2.returncode == 0, gen1.stderr + gen2.stderr
    assert check.returncode == 0 and "err= 0" in check.stdout, check.stdout + check.stderr
    assert stale.returncode != 0  # the check can fail: generation 1 is not what reads back
    assert_valid(s)


def test_fio_sees_the_data_lost_by_a_take_over_that_skips_the_destage(tmp_path: Path) -> None:
    with served(tmp_path / "run", bugs=frozenset(["skip-destage"])) as s:
        lu0 = s.uri("host0", "lu0")
        wrote = fio(lu0, *CRC, "--do_verify=0")  # dirty lines in controller 0's cache
        s.move(0, 1)  # leaves them there: controller 1 reads the disk
        verify = fio(lu0, *CRC, "--verify_only")
    assert wrote.returncode == 0 and verify.returncode != 0, verify.stdout
    assert "verify" in verify.stderr + verify.stdout
    v = s.validation()
    assert v.verdict == "violated" and v.failed is not None and v.failed.label.action == "notify"


def test_the_generations_catch_a_purge_that_keeps_clean_lines(tmp_path: Path) -> None:
    with served(tmp_path / "run", bugs=frozenset(["purge-keeps-clean-lines"])) as s:
        lu0 = s.uri("host0", "lu0")
        generation(lu0, "0x11111111", "--do_verify=0")
        s.move(0, 1)  # controller 0 de-stages generation 1 and keeps the lines, clean
        generation(lu0, "0x22222222", "--do_verify=0")
        s.move(0, 0)  # the take-back: controller 0 serves its stale lines
        check = generation(lu0, "0x22222222", "--verify_only")
    assert check.returncode != 0 and "bad pattern" in check.stderr + check.stdout
    v = s.validation()
    assert v.verdict == "violated", "the log of a run that served stale data must not validate"


def test_qemu_io_partial_block_writes_merge_and_read_back(tmp_path: Path) -> None:
    with served(tmp_path / "run") as s:
        uri = s.uri("host0", "lu0")
        wrote = run(
            "qemu-io", "-f", "raw", "-c", "write -P 0xab 4000 200", "-c", "write -P 0xcd 100 512", uri
        )
        s.move(0, 1)
        read = run(
            "qemu-io", "-f", "raw", "-c", "read -P 0xab 4000 200", "-c", "read -P 0xcd 100 512",
            "-c", "read -P 0 0 100", "-c", "read -P 0 4200 3992", uri,
        )  # fmt: skip
    assert wrote.returncode == 0 and "Pattern verification failed" not in read.stdout, (
        wrote.stderr + read.stdout
    )
    assert read.returncode == 0 and read.stdout.count("read ") == 4, read.stdout + read.stderr
    assert_valid(s)


# --- bad input over a raw socket ---------------------------------------------------------------


def connect(s: Served, host: str, export: str) -> socket.socket:
    """A hand-made client through NBD_OPT_GO, ready for requests."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(s.server.addresses[host]))
    assert recv(sock, 18)[:8] == b"NBDMAGIC"
    name = export.encode()
    go = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    sock.sendall(struct.pack(">IQII", 3, IHAVEOPT, OPT_GO, len(go)) + go)
    while True:
        _, _, kind, length = struct.unpack(">QIII", recv(sock, 20))
        recv(sock, length)
        if kind == 1:  # NBD_REP_ACK: transmission begins
            return sock
        assert kind == 3, kind


def recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def request(command: int, offset: int, length: int, cookie: int = 1, data: bytes = b"") -> bytes:
    return struct.pack(">IHHQQI", REQUEST_MAGIC, 0, command, cookie, offset, length) + data


def simple_reply(sock: socket.socket, length: int = 0) -> tuple[int, int, bytes]:
    magic, error, cookie = struct.unpack(">IIQ", recv(sock, 16))
    assert magic == SIMPLE_REPLY_MAGIC
    return error, cookie, recv(sock, length) if not error else b""


def test_bad_frames_get_the_specified_error_or_a_dropped_connection_and_stall_no_one(tmp_path: Path) -> None:
    with served(tmp_path / "run") as s:
        good = connect(s, "host0", "lu0")
        good.sendall(request(CMD_WRITE, 0, 4096, 1, b"\x5a" * 4096))
        assert simple_reply(good) == (0, 1, b"")

        slow = connect(s, "host0", "lu0")
        slow_write = request(CMD_WRITE, 4096, 4096, 10, b"\x01" * 4096)
        slow.sendall(slow_write[:20])  # most of a header, and nothing more for now
        past_end = connect(s, "host0", "lu0")
        past_end.sendall(request(CMD_WRITE, MIB - 512, 1024, 2, b"\xee" * 1024))  # would spill into LU1
        assert simple_reply(past_end)[:2] == (ENOSPC, 2)
        past_end.sendall(request(CMD_READ, MIB, 1, 3))
        assert simple_reply(past_end)[:2] == (22, 3)  # EINVAL
        past_end.sendall(request(9, 0, 0, 4))
        assert simple_reply(past_end)[:2] == (22, 4)  # an unknown command
        read_only = connect(s, "host1", "lu0")
        read_only.sendall(request(CMD_WRITE, 0, 4096, 5, b"\x00" * 4096))
        assert simple_reply(read_only)[:2] == (EPERM, 5)

        bad_magic = connect(s, "host0", "lu0")
        bad_magic.sendall(b"\xde\xad\xbe\xef" + request(CMD_READ, 0, 512)[4:])
        assert bad_magic.recv(16) == b""  # dropped
        dropped = connect(s, "host0", "lu0")
        dropped.sendall(request(CMD_WRITE, 8192, 4096, 6, b"\x77" * 100))  # 100 of 4,096 bytes, then gone
        dropped.close()

        good.sendall(request(CMD_READ, 0, 4096, 7))  # the others were never in its way
        assert simple_reply(good, 4096) == (0, 7, b"\x5a" * 4096)
        good.sendall(request(CMD_READ, 8192, 4096, 8))
        assert simple_reply(good, 4096) == (0, 8, bytes(4096))  # the dropped write wrote nothing
        other = connect(s, "host1", "lu1")
        other.sendall(request(CMD_READ, 0, 4096, 9))
        assert simple_reply(other, 4096) == (0, 9, bytes(4096))  # nothing spilled into LU1
        slow.sendall(slow_write[20:])  # the slow one finishes
        assert simple_reply(slow) == (0, 10, b"")
        for sock in (good, other, slow):
            sock.sendall(request(CMD_DISC, 0, 0))
            assert sock.recv(16) == b""
        for sock in (past_end, read_only):
            sock.close()
    assert s.stats is not None and s.stats.errors == []
    assert_valid(s)


def test_served_array_over_tcp(tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with served(tmp_path, nbd_scenario(64), tcp_port=port) as s:
        assert s.uri("host1", "lu1") == f"nbd://127.0.0.1:{port + 1}/lu1"
        listed = run("nbdinfo", "--list", s.uri("host1", ""))
    assert listed.returncode == 0 and 'export="lu1"' in listed.stdout and 'export="lu0"' in listed.stdout


def test_array_start_serves_each_host_over_nbd_and_its_log_validates(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    lutakeover = [sys.executable, "-m", "lutakeover.cli"]
    server = subprocess.Popen(
        [*lutakeover, "array", "start", "--builtin", "fig5", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(2)]
        assert lines[1].startswith("lutakeover: host0 over NBD at nbd+unix:///EXPORT?socket="), lines
        assert lines[1].rstrip().endswith("exports lu2, lu3"), lines  # fig5's host0 uses LU2 and LU3
        socket_path = directory / "nbd-host0.sock"
        assert oct(socket_path.stat().st_mode & 0o777) == "0o600"  # owner only
        listed = run("nbdinfo", "--list", f"nbd+unix:///?socket={socket_path}")
        wrote = run(
            "qemu-io", "-f", "raw", "-c", "write -P 0x3c 0 4096", f"nbd+unix:///lu3?socket={socket_path}"
        )
        moved = run(
            *lutakeover, "array", "takeover", "--dir", str(directory), "--lu", "2,3", "--to", "1", "--wait"
        )
        read = run(
            "qemu-io", "-f", "raw", "-c", "read -P 0x3c 0 4096", f"nbd+unix:///lu3?socket={socket_path}"
        )
        stopped = run(*lutakeover, "array", "stop", "--dir", str(directory))
        assert server.wait(timeout=60) == 0, server.stderr.read() if server.stderr else ""
    finally:
        server.kill()
    assert [line.split('"')[1] for line in listed.stdout.splitlines() if line.startswith("export=")] == [
        "lu2",
        "lu3",
    ]
    assert wrote.returncode == 0 and moved.returncode == 0, wrote.stderr + moved.stderr
    assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read.stdout
    assert stopped.returncode == 0
    validated = run(*lutakeover, "validate", str(directory / "events.jsonl"))
    assert validated.returncode == 0 and "OK" in validated.stdout, validated.stdout + validated.stderr


def test_disconnect_finishes_the_requests_in_flight_first(tmp_path: Path) -> None:
    with served(tmp_path / "run") as s:
        sock = connect(s, "host0", "lu0")
        blocks = [bytes([b + 1]) * 4096 for b in range(8)]
        writes = b"".join(request(CMD_WRITE, b * 4096, 4096, 100 + b, d) for b, d in enumerate(blocks))
        sock.sendall(writes + request(CMD_DISC, 0, 0))  # eight writes in flight, then goodbye
        answered = sorted(simple_reply(sock)[:2] for _ in range(8))
        assert sock.recv(16) == b""  # then the close
        check = connect(s, "host0", "lu0")
        check.sendall(request(CMD_READ, 0, 8 * 4096, 9))
        _, _, data = simple_reply(check, 8 * 4096)
    assert answered == [(0, 100 + b) for b in range(8)]
    assert data == b"".join(blocks)
    assert_valid(s)
