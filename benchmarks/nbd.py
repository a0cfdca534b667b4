"""The array served over NBD against `nbdkit memory`, side by side in one run, with fio:
4k random write at queue depth 1 and 16, 4k random read, 64k sequential write (IOPS, MB/s
and the ratio); then the longest I/O pause fio sees while an LU is taken over with MiB of
dirty cache, against the latency percentiles of the same job with no take-over.

    python benchmarks/nbd.py                 # about a minute and a half
    python benchmarks/nbd.py --seconds 3     # shorter fio runs

Needs fio and nbdkit (Debian: apt-get install fio nbdkit libnbd-bin)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from conformance.served import Served, nbd_scenario, served

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


def throughput(seconds: float, blocks: int) -> None:
    size = blocks * 4096
    print(f"fio over NBD, {seconds:g} s each, an LU of {size // MIB} MiB, one unix socket each")
    print(f"  {'job':<20} {'array IOPS':>11} {'MB/s':>7} {'nbdkit IOPS':>12} {'MB/s':>7} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as d:
        kit, kit_uri = nbdkit_memory(d, size)
        try:
            with served(Path(d) / "array", nbd_scenario(blocks)) as s:
                uri = s.uri("host0", "lu0")
                fio(uri, 1, size, "--rw=write", "--bs=1M", "--iodepth=4")  # every block written once
                fio(kit_uri, 1, size, "--rw=write", "--bs=1M", "--iodepth=4")
                for name, options in JOBS.items():
                    ours, theirs = (
                        rate(fio(uri, seconds, size, *options)),
                        rate(fio(kit_uri, seconds, size, *options)),
                    )
                    print(
                        f"  {name:<20} {ours[0]:>11,.0f} {ours[1]:>7.1f} {theirs[0]:>12,.0f} "
                        f"{theirs[1]:>7.1f} {ours[0] / theirs[0]:>7.3f}",
                        flush=True,
                    )
        finally:
            kit.terminate()
            kit.wait()


def pause(seconds: float, dirty_mib: int) -> None:
    blocks = dirty_mib * MIB // 4096
    print(
        f"\nthe I/O pause of a take-over: 4k randwrite QD1 for {seconds:g} s on an LU of {dirty_mib} MiB, "
        "every block dirty in the source's cache"
    )
    print(f"  {'run':<28} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} {'take-over s':>12}")
    for with_takeover in (False, True):
        with tempfile.TemporaryDirectory() as d, served(Path(d), nbd_scenario(blocks)) as s:
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
        clat = job["write"]["clat_ns"]
        pct = clat["percentile"]
        label = "a take-over in the middle" if with_takeover else "steady state"
        print(
            f"  {label:<28} {pct['50.000000'] / 1e6:>8.2f} {pct['99.000000'] / 1e6:>8.2f} "
            f"{pct['99.900000'] / 1e6:>9.2f} {clat['max'] / 1e6:>8.2f} "
            f"{(f'{took[0]:.2f}' if took else '-'):>12}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each fio run (default 5)")
    parser.add_argument("--mib", type=int, default=4, help="the LU's size, and the dirty cache (default 4)")
    args = parser.parse_args()
    missing = [c for c in ("fio", "nbdkit") if shutil.which(c) is None]
    if missing:
        sys.exit(f"benchmarks/nbd.py needs {' and '.join(missing)} (Debian: apt-get install fio nbdkit)")
    throughput(args.seconds, args.mib * MIB // 4096)
    pause(args.seconds, args.mib)


if __name__ == "__main__":
    main()
