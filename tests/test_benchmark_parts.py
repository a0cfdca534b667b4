"""The benchmarks' measuring functions run and measure what they say (their figures are
printed by benchmarks/, never asserted: the machine is shared)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.reference_array import takeover_seconds
from reference_impl.config import ArrayConfig, HostConfig, LuConfig, Workload
from reference_impl.simulator import Simulation


def test_takeover_against_dirty_cache_destages_every_line_on_a_disk_file(tmp_path: Path) -> None:
    _, steps = takeover_seconds(64, str(tmp_path))
    assert steps == 12 + 2 * 64  # the take-over's steps, and each line's de-stage started and done
    assert (tmp_path / "run-64" / "disk.img").stat().st_size == (2 + 64) * 4096


def test_an_array_in_a_directory_not_yet_made_makes_it(tmp_path: Path) -> None:
    config = ArrayConfig(1, 1, (LuConfig(0, 0, 0, 0, 0, 1),), block_size=512)
    sim = Simulation(config, Workload(hosts=(HostConfig("host0"),)), directory=str(tmp_path / "a" / "b"))
    sim.close()
    assert (tmp_path / "a" / "b" / "disk.img").exists()
