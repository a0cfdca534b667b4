"""The array served over NBD against `nbdkit memory`, side by side in one run, with fio:
4k random write at queue depth 1 and 16, 4k random read, 64k sequential write (IOPS, MB/s
and the ratio); beside them the same NBD server of ours over a bytearray, no array behind
it, which is as fast as a Python server of this design gets; then the longest I/O pause fio
sees while an LU is taken over with MiB of dirty cache, against the latency percentiles of
the same job with no take-over.

    python benchmarks/nbd.py                 # about two minutes
    python benchmarks/nbd.py --seconds 3     # shorter fio runs
    python benchmarks/nbd.py --runs 6        # the take-over's pause six times
    python benchmarks/nbd.py --part pause    # the pause only

Needs fio and nbdkit (Debian: apt-get install fio nbdkit libnbd-bin)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.served import Served, nbd_scenario, served
from reference_impl.nbd.codec import (
    CMD_FLUSH,
    CMD_READ,
    FLAG_CAN_MULTI_CONN,
    FLAG_HAS_FLAGS,
    FLAG_SEND_FLUSH,
    FLAG_SEND_FUA,
    Export,
    Request,
)
from reference_impl.nbd.server import Done, Server

MIB = 1 << 20
JOBS = {  # name: fio options
    "4k randwrite QD1": ("--rw=randwrite", "--bs=4k", "--iodepth=1"),
    "4k randwrite QD16": ("--rw=randwrite", "--bs=4k", "--iodepth=16"),
    "4k randread QD16": ("--rw=randread", "--bs=4k", "--iodepth=16"),
    "64k write QD16": ("--rw=write", "--bs=64k", "--iodepth=16"),
}


def fio(uri: str, seconds: float, size: int, *options: str) -> dict[str, Any]:
    """One fio job over NBD for ``seconds``; its JSON report's job."""
    command = [
        "fio", "--name=bench", "--ioengine=nbd", f"--uri={uri}", f"--size={size}",
        f"--runtime={seconds}", "--time_based", "--output-format=json", *options,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
    report = out.stdout[out.stdout.index("{") :]  # fio may print a note first
    job: dict[str, Any] = json.loads(report)["jobs"][0]
    return job


def rate(job: dict[str, Any]) -> tuple[float, float]:
    """IOPS and MB/s of a job, reads and writes together."""
    iops = job["read"]["iops"] + job["write"]["iops"]
    mbs = (job["read"]["bw_bytes"] + job["write"]["bw_bytes"]) / 1e6
    return iops, mbs


def nbdkit_memory(directory: str, size: int) -> tuple[subprocess.Popen[bytes], str]:
    sock = os.path.join(directory, "nbdkit.sock")
    server = subprocess.Popen(["nbdkit", "-f", "-U", sock, "memory", f"size={size}"])
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.02)
    return server, f"nbd+unix:///?socket={sock}"


class MemoryBackend:
    """An export in a bytearray, each request answered at once: our server with no array."""

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.lock = threading.Lock()

    def exports(self, host: str) -> Mapping[str, Export]:
        flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_CAN_MULTI_CONN
        return {"lu0": Export("lu0", len(self.data), "memory", flags)}

    def submit(self, host: str, export: str, request: Request, done: Done) -> None:
        out = b""
        with self.lock:
            if request.command == CMD_READ:
                out = bytes(self.data[request.offset : request.offset + request.length])
            elif request.command != CMD_FLUSH:
                self.data[request.offset : request.offset + request.length] = request.data
        done(0, out)


def throughput(seconds: float, blocks: int, directory: str) -> None:
    size = blocks * 4096
    print(f"fio over NBD, {seconds:g} s each, an LU of {size // MIB} MiB, one unix socket each")
    print(
        f"  {'job':<20} {'array IOPS':>11} {'MB/s':>7} {'no array':>9} {'nbdkit IOPS':>12} {'MB/s':>7}"
        f" {'array/nbdkit':>13} {'no array/nbdkit':>16}"
    )
    with tempfile.TemporaryDirectory(dir=directory) as d:
        kit, kit_uri = nbdkit_memory(d, size)
        bare = Server(MemoryBackend(size))
        bare.listen_unix("host0", os.path.join(d, "bare.sock"))
        bare_uri = bare.uri("host0", "lu0")
        try:
            with served(Path(d) / "array", nbd_scenario(blocks)) as s:
                uri = s.uri("host0", "lu0")
                for target in (uri, kit_uri, bare_uri):  # every block written once
                    fio(target, 1, size, "--rw=write", "--bs=1M", "--iodepth=4")
                for name, options in JOBS.items():
                    ours, theirs, alone = (
                        rate(fio(uri, seconds, size, *options)),
                        rate(fio(kit_uri, seconds, size, *options)),
                        rate(fio(bare_uri, seconds, size, *options)),
                    )
                    print(
                        f"  {name:<20} {ours[0]:>11,.0f} {ours[1]:>7.1f} {alone[0]:>9,.0f} "
                        f"{theirs[0]:>12,.0f} {theirs[1]:>7.1f} {ours[0] / theirs[0]:>13.3f} "
                        f"{alone[0] / theirs[0]:>16.3f}",
                        flush=True,
                    )
        finally:
            bare.close()
            kit.terminate()
            kit.wait()


def pause_run(
    seconds: float, blocks: int, directory: str, with_takeover: bool
) -> tuple[dict[str, Any], float]:
    """fio's 4k randwrite QD1 on an LU whose every block is dirty; with a take-over a
    quarter of the way in. fio's write latencies, and the take-over's seconds (0 if none).
    The page cache is written back first, so what an earlier run left dirty (the throughput
    jobs write hundreds of MiB) does not stall this run's flushes."""
    os.sync()
    with tempfile.TemporaryDirectory(dir=directory) as d, served(Path(d), nbd_scenario(blocks)) as s:
        uri = s.uri("host0", "lu0")
        fio(uri, 1, blocks * 4096, "--rw=write", "--bs=64k", "--iodepth=8", "--time_based=0")
        took: list[float] = []

        def takeover(s: Served = s, took: list[float] = took) -> None:
            time.sleep(seconds / 4)
            started = time.monotonic()
            s.move(0, 1)
            took.append(time.monotonic() - started)

        mover = threading.Thread(target=takeover)
        if with_takeover:
            mover.start()
        job = fio(uri, seconds, blocks * 4096, "--rw=randwrite", "--bs=4k", "--iodepth=1")
        if with_takeover:
            mover.join()
    clat: dict[str, Any] = job["write"]["clat_ns"]
    return clat, took[0] if took else 0.0


def pause(seconds: float, dirty_mib: int, runs: int, directory: str) -> None:
    blocks = dirty_mib * MIB // 4096
    print(
        f"\nthe I/O pause of a take-over: 4k randwrite QD1 for {seconds:g} s on an LU of {dirty_mib} MiB, "
        f"every block dirty in the source's cache; the array's files in {directory}"
    )
    print(f"  {'run':<28} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} {'take-over s':>12}")
    longest = []
    for label, with_takeover in [("steady state", False)] + [
        (f"take-over {i + 1}", True) for i in range(runs)
    ]:
        clat, took = pause_run(seconds, blocks, directory, with_takeover)
        pct = clat["percentile"]
        if with_takeover:
            longest.append(clat["max"] / 1e6)
        print(
            f"  {label:<28} {pct['50.000000'] / 1e6:>8.2f} {pct['99.000000'] / 1e6:>8.2f} "
            f"{pct['99.900000'] / 1e6:>9.2f} {clat['max'] / 1e6:>8.2f} "
            f"{(f'{took:.2f}' if took else '-'):>12}",
            flush=True,
        )
    print(
        f"  longest pause over {runs} take-overs: median {statistics.median(longest):.1f} ms, "
        f"worst {max(longest):.1f} ms; {sum(m < 50 for m in longest)} of {runs} under 50 ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each fio run (default 5)")
    parser.add_argument("--mib", type=int, default=4, help="the LU's size, and the dirty cache (default 4)")
    parser.add_argument("--runs", type=int, default=3, help="take-overs whose pause is measured (default 3)")
    parser.add_argument(
        "--dir", default=tempfile.gettempdir(), help="where the array's files go (default: the temp dir)"
    )
    parser.add_argument(
        "--part", choices=("all", "throughput", "pause"), default="all", help="what to measure (default all)"
    )
    args = parser.parse_args()
    missing = [c for c in ("fio", "nbdkit") if shutil.which(c) is None]
    if missing:
        sys.exit(f"benchmarks/nbd.py needs {' and '.join(missing)} (Debian: apt-get install fio nbdkit)")
    if args.runs < 1 or args.seconds <= 0 or args.mib < 1:
        sys.exit("benchmarks/nbd.py: --runs and --mib must be at least 1, --seconds more than 0")
    if not os.path.isdir(args.dir):
        sys.exit(f"benchmarks/nbd.py: --dir {args.dir} is not a directory")
    if args.part in ("all", "throughput"):
        throughput(args.seconds, args.mib * MIB // 4096, args.dir)
    if args.part in ("all", "pause"):
        pause(args.seconds, args.mib, args.runs, args.dir)


if __name__ == "__main__":
    main()
