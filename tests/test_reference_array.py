"""Unit tests of the reference array's components (``reference_impl``), one at a time.

The table copies' encoding and checks (``table``), the disk apparatus in a real file and in
memory (``disk``), the array configuration's checks (``config``), Step 801's refusals and
the take-over jobs of the management utility (``utility``), a controller's cache, de-stage,
purge and configuration manager (``controller``), and the seeded simulator with its hosts'
write patterns (``simulator``, ``workload``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reference_impl.array import NotOffered
from reference_impl.config import (
    ArrayConfig,
    BatchConfig,
    ConfigError,
    HostConfig,
    LuConfig,
    Workload,
)
from reference_impl.controller import Controller
from reference_impl.disk import TABLE_SLOTS, DiskApparatus, DiskError
from reference_impl.events import Event
from reference_impl.frames import Frame, Status
from reference_impl.simulator import Simulation
from reference_impl.table import ConfigRow, TableError, decode_table, encode_table
from reference_impl.utility import (
    TAKEOVER_STEPS,
    DesignationRefused,
    ManagementUtility,
    Move,
)
from reference_impl.workload import pattern, pattern_number

BLOCK = 512


def row(lu: int, ext_lun: int, current: int, address: int, port: int = 0, blocks: int = 2) -> ConfigRow:
    return ConfigRow(lu, ext_lun, port, current, current, blocks, 0, 5, address)


# Two LUs of two blocks on controller 0, port 0: LU1 is external LUN 0, LU0 external LUN 1,
# so LU0 can move to controller 1 as its external LUN 0 and leave no gap behind.
ROWS = [row(0, 1, 0, 0), row(1, 0, 0, 2)]


def small_config() -> ArrayConfig:
    return ArrayConfig(
        controllers=2,
        ports=1,
        lus=(
            LuConfig(lu=0, ext_lun=1, port=0, default=0, current=0, blocks=2, physical_address=0),
            LuConfig(lu=1, ext_lun=0, port=0, default=0, current=0, blocks=2, physical_address=2),
        ),
        block_size=BLOCK,
    )


def small_workload() -> Workload:
    return Workload(
        hosts=(HostConfig("host0", writes=(0,)),),
        writes_per_block=1,
        batches=(BatchConfig(lus=(0,), destination=1, port=0, ext_luns=(0,)),),
    )


# --- table.py ---------------------------------------------------------------------------------


def test_encode_decode_round_trip_keeps_generation_and_rows() -> None:
    rows = [row(0, 1, 0, 0), row(1, 0, 1, 2, port=3, blocks=7)]
    assert decode_table(encode_table(rows, 41)) == (41, rows)
    assert decode_table(encode_table([], 0)) == (0, [])


def test_decode_refuses_a_copy_with_one_flipped_byte_naming_the_checksum() -> None:
    data = bytearray(encode_table(ROWS, 3))
    data[30] ^= 0x01  # inside the first row
    with pytest.raises(TableError, match="checksum mismatch in the copy of generation 3"):
        decode_table(bytes(data))


def test_decode_refuses_bad_magic() -> None:
    data = b"NOTTABLE" + encode_table(ROWS, 0)[8:]
    with pytest.raises(TableError, match="bad magic"):
        decode_table(data)


def test_decode_refuses_a_copy_claiming_more_rows_than_it_holds() -> None:
    data = encode_table(ROWS, 0)
    with pytest.raises(TableError, match="claims 2 rows"):
        decode_table(data[:-10])


def test_decode_refuses_a_copy_too_short_for_a_header() -> None:
    with pytest.raises(TableError, match="at least"):
        decode_table(b"LUTABLE1")


def test_decode_refuses_a_copy_written_without_checksum() -> None:
    data = encode_table(ROWS, 5, checksum=False)
    assert data[-4:] == b"\0\0\0\0"
    with pytest.raises(TableError, match="checksum"):
        decode_table(data)


def test_moved_row_changes_only_the_presentation_and_controllers() -> None:
    moved = ROWS[0].moved(ext_lun=4, port=1, default=1, current=1)
    assert moved == ConfigRow(0, 4, 1, 1, 1, 2, 0, 5, 0)


# --- disk.py ----------------------------------------------------------------------------------


def corrupt_slot(path: Path, slot: int) -> None:
    """Overwrite bytes of a table slot in the file, as a write torn halfway would."""
    with path.open("r+b") as f:
        f.seek(slot * BLOCK + 20)
        f.write(b"\xff" * 16)


def test_blocks_persist_after_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    disk = DiskApparatus(str(path), BLOCK, 4)
    disk.write(0, pattern(1, BLOCK))
    disk.write(3, pattern(7, BLOCK))
    disk.flush()
    disk.close()
    assert path.stat().st_size == (TABLE_SLOTS + 4) * BLOCK

    again = DiskApparatus(str(path), BLOCK, 4)
    assert again.data_blocks == 4
    assert again.read(0) == pattern(1, BLOCK)
    assert again.read(1) == bytes(BLOCK)
    assert again.read(3) == pattern(7, BLOCK)
    again.close()


def test_table_persists_after_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    disk = DiskApparatus(str(path), BLOCK, 4)
    disk.write_table(ROWS)
    disk.close()
    again = DiskApparatus(str(path), BLOCK, 4)
    assert again.read_table() == ROWS
    assert again.generation == 0
    again.close()


def test_torn_newest_table_copy_leaves_the_previous_generation(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    disk = DiskApparatus(str(path), BLOCK, 4)
    newer = [ROWS[0].moved(0, 0, 1, 1), ROWS[1]]
    disk.write_table(ROWS)  # generation 0, slot 0
    disk.write_table(newer)  # generation 1, slot 1
    assert disk.generation == 1
    assert disk.read_table() == newer
    disk.close()

    corrupt_slot(path, disk.generation % TABLE_SLOTS)
    again = DiskApparatus(str(path), BLOCK, 4)
    assert again.read_table() == ROWS
    assert again.generation == 0
    # The next write goes to the torn slot, keeping the valid copy of generation 0.
    newest = [ROWS[0], ROWS[1].moved(0, 0, 1, 1)]
    again.write_table(newest)
    assert again.generation == 1
    assert again.read_table() == newest
    again.close()


def test_read_table_with_no_valid_copy_raises_table_error(tmp_path: Path) -> None:
    disk = DiskApparatus(str(tmp_path / "disk.img"), BLOCK, 4)
    with pytest.raises(TableError, match="no valid table copy") as info:
        disk.read_table()
    assert "slot 0" in str(info.value) and "slot 1" in str(info.value)
    disk.close()


def test_read_table_with_both_copies_torn_raises_table_error(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    disk = DiskApparatus(str(path), BLOCK, 4)
    disk.write_table(ROWS)
    disk.write_table(ROWS)
    disk.close()
    corrupt_slot(path, 0)
    corrupt_slot(path, 1)
    again = DiskApparatus(str(path), BLOCK, 4)
    with pytest.raises(TableError, match="checksum mismatch"):
        again.read_table()
    again.close()


def test_table_too_large_for_its_slot_raises_disk_error() -> None:
    disk = DiskApparatus(None, BLOCK, 4)
    with pytest.raises(DiskError, match="do not fit"):
        disk.write_table([row(i, i, 0, i) for i in range(20)])


@pytest.mark.parametrize("in_file", [True, False], ids=["file", "memory"])
def test_blocks_outside_the_disk_raise_disk_error_naming_the_block(tmp_path: Path, in_file: bool) -> None:
    disk = DiskApparatus(str(tmp_path / "disk.img") if in_file else None, BLOCK, 4)
    for block in (4, -1):
        with pytest.raises(DiskError, match=f"physical block {block} is outside the disk"):
            disk.read(block)
        with pytest.raises(DiskError, match=f"physical block {block} is outside the disk"):
            disk.write(block, bytes(BLOCK))
    disk.close()


@pytest.mark.parametrize("in_file", [True, False], ids=["file", "memory"])
def test_wrong_size_write_raises_disk_error(tmp_path: Path, in_file: bool) -> None:
    disk = DiskApparatus(str(tmp_path / "disk.img") if in_file else None, BLOCK, 4)
    with pytest.raises(DiskError, match=f"a block is {BLOCK} bytes, not 511"):
        disk.write(0, bytes(BLOCK - 1))
    assert disk.read(0) == bytes(BLOCK)
    disk.close()


@pytest.mark.parametrize("in_file", [True, False], ids=["file", "memory"])
def test_blocks_read_back_what_was_written_and_stay_apart(tmp_path: Path, in_file: bool) -> None:
    disk = DiskApparatus(str(tmp_path / "disk.img") if in_file else None, BLOCK, 4)
    disk.write_table(ROWS)
    for block in range(4):
        disk.write(block, pattern(block + 1, BLOCK))
    assert [pattern_number(disk.read(b)) for b in range(4)] == [1, 2, 3, 4]
    assert disk.read_table() == ROWS  # the data area does not touch the table slots
    disk.close()


@pytest.mark.parametrize("block_size", [256, 1000, 4095, 0])
def test_block_size_not_a_power_of_two_of_at_least_512_raises_disk_error(block_size: int) -> None:
    with pytest.raises(DiskError, match=f"block size {block_size}"):
        DiskApparatus(None, block_size, 4)


def test_write_table_on_a_reopened_disk_is_what_read_table_returns(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    disk = DiskApparatus(str(path), BLOCK, 4)
    disk.write_table(ROWS)
    disk.write_table([ROWS[0].moved(0, 0, 1, 1), ROWS[1]])
    disk.close()
    again = DiskApparatus(str(path), BLOCK, 4)
    newest = [ROWS[0], ROWS[1].moved(5, 0, 1, 1)]
    again.write_table(newest)
    assert again.read_table() == newest
    again.close()


def test_write_after_an_invalid_copy_keeps_the_valid_copy() -> None:
    disk = DiskApparatus(None, BLOCK, 4)
    disk.write_table(ROWS)  # generation 0, slot 0: valid
    disk.write_table(ROWS, checksum=False)  # generation 1, slot 1: invalid
    assert disk.read_table() == ROWS
    disk.write_table(ROWS, checksum=False)  # must not go over the valid copy in slot 0
    assert disk.read_table() == ROWS


# --- config.py --------------------------------------------------------------------------------


def with_lus(*lus: LuConfig, controllers: int = 2, ports: int = 1) -> ArrayConfig:
    return ArrayConfig(controllers=controllers, ports=ports, lus=lus, block_size=BLOCK)


def test_valid_config_passes_check_and_sizes_the_data_area() -> None:
    config = small_config()
    config.check()
    assert config.data_blocks == 4


def test_overlapping_extents_raise_config_error_naming_the_address() -> None:
    lu0 = LuConfig(lu=0, ext_lun=0, port=0, default=0, current=0, blocks=2, physical_address=0)
    lu1 = LuConfig(lu=1, ext_lun=1, port=0, default=0, current=0, blocks=2, physical_address=1)
    with pytest.raises(ConfigError, match=r"lu\[1\]\.physical_address") as info:
        with_lus(lu0, lu1).check()
    assert "overlap" in str(info.value)
    # Adjacent extents do not overlap.
    with_lus(lu0, dataclasses.replace(lu1, physical_address=2)).check()


@pytest.mark.parametrize("field", ["default", "current"])
def test_controller_out_of_range_raises_config_error_naming_the_field(field: str) -> None:
    lu0 = LuConfig(lu=0, ext_lun=0, port=0, default=0, current=0, blocks=2)
    with pytest.raises(ConfigError, match=rf"lu\[0\]\.{field}: there is no controller 2"):
        with_lus(dataclasses.replace(lu0, **{field: 2})).check()
    with pytest.raises(ConfigError, match=rf"lu\[0\]\.{field}"):
        with_lus(dataclasses.replace(lu0, **{field: -1})).check()


def test_port_out_of_range_raises_config_error_naming_the_field() -> None:
    lu0 = LuConfig(lu=0, ext_lun=0, port=1, default=0, current=0, blocks=2)
    with pytest.raises(ConfigError, match=r"lu\[0\]\.port: there is no port 1"):
        with_lus(lu0).check()
    with_lus(lu0, ports=2).check()


def test_lus_not_numbered_in_order_raise_config_error_naming_the_field() -> None:
    lu0 = LuConfig(lu=0, ext_lun=0, port=0, default=0, current=0, blocks=2, physical_address=0)
    lu2 = LuConfig(lu=2, ext_lun=1, port=0, default=0, current=0, blocks=2, physical_address=2)
    with pytest.raises(ConfigError, match=r"lu\[1\]\.lu: .*found 2"):
        with_lus(lu0, lu2).check()
    with pytest.raises(ConfigError, match=r"lu\[0\]\.lu"):
        with_lus(dataclasses.replace(lu0, lu=1)).check()


def test_no_controller_or_non_positive_blocks_raise_config_error() -> None:
    lu0 = LuConfig(lu=0, ext_lun=0, port=0, default=0, current=0, blocks=2)
    with pytest.raises(ConfigError, match="at least one controller"):
        with_lus(lu0, controllers=0).check()
    with pytest.raises(ConfigError, match=r"lu\[0\]: blocks must be positive"):
        with_lus(dataclasses.replace(lu0, blocks=0)).check()


# --- utility.py -------------------------------------------------------------------------------


def rows_of(*rows: ConfigRow) -> dict[int, ConfigRow]:
    return {r.lu: r for r in rows}


def test_refuses_moving_an_lu_to_its_current_controller() -> None:
    utility = ManagementUtility(2, 1)
    assert utility.refusal(rows_of(*ROWS), [Move(0, 0, 0, 1)]) == "LU0 is already on controller 0"


def test_refuses_an_lu_already_being_taken_over_unless_accept_moving_lu() -> None:
    rows = rows_of(*ROWS)
    utility = ManagementUtility(3, 1)
    utility.designate(rows, [Move(0, 1, 0, 0)])
    assert utility.refusal(rows, [Move(0, 2, 0, 0)]) == "LU0 is already being taken over"
    with pytest.raises(DesignationRefused, match="already being taken over"):
        utility.designate(rows, [Move(0, 2, 0, 0)])
    assert len(utility.jobs) == 1

    buggy = ManagementUtility(3, 1, bugs=frozenset({"accept-moving-lu"}))
    buggy.designate(rows, [Move(0, 1, 0, 0)])
    assert buggy.refusal(rows, [Move(0, 2, 0, 0)]) is None
    buggy.designate(rows, [Move(0, 2, 0, 0)])
    assert [(j.lu, j.destination) for j in buggy.jobs] == [(0, 1), (0, 2)]


def test_refuses_an_address_another_lu_still_uses_now() -> None:
    # LU1 is external LUN 0 on controller 1 and is being moved away: its address is still
    # in use until the take-over is done.
    rows = rows_of(row(0, 0, 0, 0), row(1, 0, 1, 2))
    utility = ManagementUtility(3, 1)
    assert utility.refusal(rows, [Move(0, 1, 0, 0)]) == (
        "external LUN 0 on port 0 of controller 1 still belongs to LU1"
    )
    utility.designate(rows, [Move(1, 2, 0, 0)])
    assert utility.refusal(rows, [Move(0, 1, 0, 0)]) == (
        "external LUN 0 on port 0 of controller 1 still belongs to LU1"
    )


def test_refuses_two_lus_designated_to_one_address() -> None:
    rows = rows_of(*ROWS)
    reason = ManagementUtility(2, 1).refusal(rows, [Move(0, 1, 0, 0), Move(1, 1, 0, 0)])
    assert reason is not None and "would both be external LUN 0 on port 0 of controller 1" in reason


def test_refuses_a_gap_in_a_ports_external_luns_unless_allow_lun_gap() -> None:
    # LU0 is external LUN 0 and LU1 external LUN 1: moving LU0 leaves [1] behind.
    rows = rows_of(row(0, 0, 0, 0), row(1, 1, 0, 2))
    reason = ManagementUtility(2, 1).refusal(rows, [Move(0, 1, 0, 0)])
    assert reason == "after it, port 0 of controller 0 would present external LUNs [1], with a gap"
    # A gap on the destination is refused too.
    reason = ManagementUtility(2, 1).refusal(rows_of(*ROWS), [Move(0, 1, 0, 1)])
    assert reason is not None and "port 0 of controller 1 would present external LUNs [1]" in reason

    buggy = ManagementUtility(2, 1, bugs=frozenset({"allow-lun-gap"}))
    assert buggy.refusal(rows, [Move(0, 1, 0, 0)]) is None
    assert len(buggy.designate(rows, [Move(0, 1, 0, 0)])) == 1


def test_refuses_unknown_lu_controller_port_and_bad_designations() -> None:
    rows = rows_of(*ROWS)
    utility = ManagementUtility(2, 1)
    assert utility.refusal(rows, [Move(5, 1, 0, 0)]) == "there is no LU5"
    assert utility.refusal(rows, [Move(0, 2, 0, 0)]) == "there is no controller 2"
    assert utility.refusal(rows, [Move(0, -1, 0, 0)]) == "there is no controller -1"
    assert utility.refusal(rows, [Move(0, 1, 1, 0)]) == "controller 1 has no port 1"
    assert utility.refusal(rows, [Move(0, 1, 0, -1)]) == "external LUN -1 is negative"
    assert utility.refusal(rows, []) == "the designation names no LU"
    assert utility.refusal(rows, [Move(0, 1, 0, 0), Move(0, 1, 0, 1)]) == "the designation names an LU twice"
    with pytest.raises(DesignationRefused, match="there is no LU5"):
        utility.designate(rows, [Move(5, 1, 0, 0)])
    assert utility.jobs == []


def test_accepts_a_valid_move_and_creates_a_takeover_at_instruct() -> None:
    rows = rows_of(*ROWS)
    utility = ManagementUtility(2, 1)
    assert utility.refusal(rows, [Move(0, 1, 0, 0)]) is None
    (job,) = utility.designate(rows, [Move(0, 1, 0, 0)])
    assert (job.lu, job.source, job.destination, job.port, job.ext_lun) == (0, 0, 1, 0, 0)
    assert job.steps == TAKEOVER_STEPS
    assert job.done == 1
    assert job.next_step == "instruct"
    assert utility.jobs == [job]


def test_free_ext_lun_is_the_lowest_free_counting_takeovers_under_way() -> None:
    rows = rows_of(row(0, 1, 0, 0), row(1, 0, 0, 2), row(2, 0, 1, 4))
    utility = ManagementUtility(3, 1)
    assert utility.free_ext_lun(rows, 1, 0) == 1
    assert utility.free_ext_lun(rows, 0, 0) == 2
    assert utility.free_ext_lun(rows, 2, 0) == 0
    utility.designate(rows, [Move(0, 1, 0, 1)])
    assert utility.free_ext_lun(rows, 1, 0) == 2  # LU0 will be external LUN 1 there
    assert utility.free_ext_lun(rows, 0, 0) == 2  # LU0 is still external LUN 1 here now


def test_advance_walks_every_step_and_removes_the_job_at_the_end() -> None:
    utility = ManagementUtility(2, 1)
    (job,) = utility.designate(rows_of(*ROWS), [Move(0, 1, 0, 0)])
    walked = []
    while job in utility.jobs:
        walked.append(job.next_step)
        utility.advance(job)
    assert tuple(walked) == TAKEOVER_STEPS[1:]
    assert utility.jobs == []


@pytest.mark.parametrize(("bug", "step"), [("skip-destage", "purge"), ("no-suspend", "suspend")])
def test_seeded_bugs_remove_their_step(bug: str, step: str) -> None:
    utility = ManagementUtility(2, 1, bugs=frozenset({bug}))
    assert step not in utility.steps
    assert utility.steps == tuple(s for s in TAKEOVER_STEPS if s != step)
    (job,) = utility.designate(rows_of(*ROWS), [Move(0, 1, 0, 0)])
    walked = []
    while job in utility.jobs:
        walked.append(job.next_step)
        utility.advance(job)
    assert step not in walked and len(walked) == len(TAKEOVER_STEPS) - 2
    assert ManagementUtility(2, 1).steps == TAKEOVER_STEPS


# --- controller.py ----------------------------------------------------------------------------


def make_controller(bugs: frozenset[str] = frozenset(), disk: DiskApparatus | None = None) -> Controller:
    if disk is None:
        disk = DiskApparatus(None, BLOCK, 4)
        disk.write_table(ROWS)
    ctl = Controller(0, disk, bugs)
    ctl.load_table()
    return ctl


def host_io(ctl: Controller, lu: int, block: int, data: bytes | None = None) -> Frame:
    """A frame delivered to and performed by ``ctl``: a write of ``data``, or a read."""
    frame = Frame(0, data is not None, lu, block, data)
    assert ctl.accept(frame)
    assert ctl.can_perform(frame)
    ctl.perform(frame)
    assert frame.status is Status.REPLIED
    return frame


def test_load_table_takes_charge_of_the_lus_naming_the_controller() -> None:
    disk = DiskApparatus(None, BLOCK, 4)
    disk.write_table([row(0, 0, 0, 0), row(1, 0, 1, 2)])
    ctl = make_controller(disk=disk)
    assert ctl.active == {0}
    assert not ctl.accept(Frame(0, True, 1, 0, pattern(1, BLOCK)))
    assert ctl.inbox == []


def test_write_back_write_makes_a_dirty_line_and_leaves_the_disk_alone() -> None:
    ctl = make_controller()
    host_io(ctl, 1, 1, pattern(1, BLOCK))
    line = ctl.cache.get(1, 1)
    assert line is not None and line.dirty and line.data == pattern(1, BLOCK)
    assert ctl.cache.dirty_blocks(1) == [1]
    assert ctl.disk.read(3) == bytes(BLOCK)  # LU1 block 1 is physical block 3
    assert ctl.inbox == []


def test_destage_keeps_the_line_dirty_until_finished_then_writes_disk_and_cleans() -> None:
    ctl = make_controller()
    host_io(ctl, 0, 1, pattern(1, BLOCK))
    assert ctl.destageable(0) == [1]
    ctl.start_destage(0, 1)
    line = ctl.cache.get(0, 1)
    assert line is not None and line.dirty
    assert ctl.destageable(0) == []
    assert not ctl.can_purge(0)
    assert ctl.disk.read(1) == bytes(BLOCK)

    ctl.finish_destage(0, 1)
    assert ctl.disk.read(1) == pattern(1, BLOCK)
    line = ctl.cache.get(0, 1)
    assert line is not None and not line.dirty
    assert ctl.destaging == {}
    assert ctl.can_purge(0)


def test_host_write_during_destage_keeps_the_new_data_dirty() -> None:
    ctl = make_controller()
    host_io(ctl, 0, 0, pattern(1, BLOCK))
    ctl.start_destage(0, 0)
    host_io(ctl, 0, 0, pattern(2, BLOCK))
    ctl.finish_destage(0, 0)
    assert ctl.disk.read(0) == pattern(1, BLOCK)  # the older data the de-stage carried
    line = ctl.cache.get(0, 0)
    assert line is not None and line.dirty and line.data == pattern(2, BLOCK)
    assert ctl.destageable(0) == [0]


def test_clean_before_disk_write_bug_cleans_the_line_at_start() -> None:
    ctl = make_controller(frozenset({"clean-before-disk-write"}))
    host_io(ctl, 0, 0, pattern(1, BLOCK))
    ctl.start_destage(0, 0)
    line = ctl.cache.get(0, 0)
    assert line is not None and not line.dirty
    assert ctl.disk.read(0) == bytes(BLOCK)


def test_write_through_write_goes_to_disk_and_drops_the_line() -> None:
    ctl = make_controller()
    host_io(ctl, 0, 0, pattern(1, BLOCK))
    ctl.write_through.add(0)
    host_io(ctl, 0, 0, pattern(2, BLOCK))
    assert ctl.disk.read(0) == pattern(2, BLOCK)
    assert ctl.cache.get(0, 0) is None
    host_io(ctl, 0, 1, pattern(1, BLOCK))
    assert ctl.disk.read(1) == pattern(1, BLOCK)
    assert ctl.cache.get(0, 1) is None
    # Another LU still writes back.
    host_io(ctl, 1, 0, pattern(1, BLOCK))
    assert ctl.disk.read(2) == bytes(BLOCK)


@pytest.mark.parametrize("ignores", [False, True], ids=["correct", "write-through-ignores-destage"])
def test_write_through_write_waits_for_a_destage_of_its_block(ignores: bool) -> None:
    ctl = make_controller(frozenset({"write-through-ignores-destage"}) if ignores else frozenset())
    host_io(ctl, 0, 0, pattern(1, BLOCK))
    ctl.start_destage(0, 0)
    ctl.write_through.add(0)
    frame = Frame(0, True, 0, 0, pattern(2, BLOCK))
    assert ctl.accept(frame)
    assert ctl.can_perform(frame) is ignores
    # Reads, and writes of other blocks, never wait.
    assert ctl.can_perform(Frame(0, False, 0, 0, None))
    assert ctl.can_perform(Frame(0, True, 0, 1, pattern(1, BLOCK)))
    ctl.finish_destage(0, 0)
    assert ctl.can_perform(frame)


def test_write_back_write_does_not_wait_for_a_destage() -> None:
    ctl = make_controller()
    host_io(ctl, 0, 0, pattern(1, BLOCK))
    ctl.start_destage(0, 0)
    assert ctl.can_perform(Frame(0, True, 0, 0, pattern(2, BLOCK)))


def test_read_miss_fills_a_clean_line_unless_write_through() -> None:
    ctl = make_controller()
    ctl.disk.write(0, pattern(3, BLOCK))
    ctl.disk.write(1, pattern(4, BLOCK))
    frame = host_io(ctl, 0, 0)
    assert frame.data == pattern(3, BLOCK)
    line = ctl.cache.get(0, 0)
    assert line is not None and not line.dirty and line.data == pattern(3, BLOCK)

    ctl.write_through.add(0)
    frame = host_io(ctl, 0, 1)
    assert frame.data == pattern(4, BLOCK)
    assert ctl.cache.get(0, 1) is None


def test_read_hit_returns_the_dirty_line_not_the_disk() -> None:
    ctl = make_controller()
    host_io(ctl, 0, 0, pattern(5, BLOCK))
    assert host_io(ctl, 0, 0).data == pattern(5, BLOCK)


def test_block_outside_the_lu_is_refused() -> None:
    ctl = make_controller()
    ctl.write_through.add(0)
    with pytest.raises(ValueError, match="block 2 is outside LU0"):
        ctl.store(0, 2, pattern(1, BLOCK))


@pytest.mark.parametrize("keeps", [False, True], ids=["correct", "purge-keeps-clean-lines"])
def test_purge_drops_the_lus_lines(keeps: bool) -> None:
    ctl = make_controller(frozenset({"purge-keeps-clean-lines"}) if keeps else frozenset())
    host_io(ctl, 0, 0)  # a clean line of LU0
    host_io(ctl, 1, 0, pattern(1, BLOCK))  # a dirty line of LU1
    assert ctl.can_purge(0)
    assert not ctl.can_purge(1)
    ctl.purge(0)
    assert (ctl.cache.get(0, 0) is not None) is keeps
    assert ctl.cache.get(1, 0) is not None


def test_write_row_keeps_the_disks_other_rows_as_they_are_on_disk() -> None:
    disk = DiskApparatus(None, BLOCK, 4)
    disk.write_table(ROWS)
    ctl0 = Controller(0, disk)
    ctl1 = Controller(1, disk)
    ctl0.load_table()
    ctl1.load_table()
    lu0_moved = ROWS[0].moved(0, 0, 1, 1)
    lu1_moved = ROWS[1].moved(3, 0, 1, 1)
    ctl0.write_row(lu0_moved)
    assert ctl1.table[0] == ROWS[0]  # stale
    ctl1.write_row(lu1_moved)
    assert disk.read_table() == [lu0_moved, lu1_moved]
    assert ctl0.table[0] == lu0_moved and ctl1.table[1] == lu1_moved

    ctl1.read_row(0)
    assert ctl1.table[0] == lu0_moved


def test_write_row_without_checksum_leaves_the_old_row_on_disk() -> None:
    ctl = make_controller(frozenset({"table-without-checksum"}))
    moved = ROWS[0].moved(0, 0, 1, 1)
    ctl.write_row(moved)
    assert ctl.table[0] == moved
    assert ctl.disk.read_table() == ROWS


# --- simulator.py and workload.py ------------------------------------------------------------


def test_same_seed_gives_the_same_log() -> None:
    config, workload = small_config(), small_workload()
    first = Simulation(config, workload).run(7)
    second = Simulation(config, workload).run(7)
    assert first == second
    assert first  # something happened
    logs = {tuple(Simulation(config, workload).run(seed)) for seed in range(6)}
    assert len(logs) > 1  # the seed decides the order


@pytest.mark.parametrize("seed", range(5))
def test_small_run_ends_with_nothing_offered_and_every_host_idle(seed: int) -> None:
    sim = Simulation(small_config(), small_workload())
    log = sim.run(seed)
    assert sim.offers() == []
    assert all(host.outstanding is None for host in sim.hosts)
    assert sim.array.path.frames == []
    assert sim.array.utility.jobs == []

    names = [event.name for event in log]
    assert names.count("designate_batch") == 1
    assert [n for n in names if n in TAKEOVER_STEPS] == list(TAKEOVER_STEPS[1:])
    assert names.count("send_write") == names.count("complete") == 2

    rows = sim.array.rows()
    assert (rows[0].current, rows[0].port, rows[0].ext_lun) == (1, 0, 0)
    assert rows[1] == ROWS[1]
    # Each block of LU0 holds its one write: in controller 1's cache, or on disk.
    ctl1 = sim.array.controllers[1]
    assert ctl1.active == {0} and sim.array.controllers[0].active == {1}
    for block in range(2):
        line = ctl1.cache.get(0, block)
        data = line.data if line is not None else sim.array.disk.read(block)
        assert pattern_number(data) == 1
    assert sim.array.controllers[0].cache.lines() == []


def test_perform_of_an_event_not_offered_raises_and_changes_nothing() -> None:
    sim = Simulation(small_config(), small_workload())
    before = sim.offers()
    assert Event("designate_batch", (0,)) in before
    not_offered = [
        Event("destage_done", (0, 0, 0)),
        Event("complete", (0,)),
        Event("retry", (0,)),
        Event("deliver", (0,)),
        Event("designate_batch", (1,)),
        Event("send_write", (0, 1, 0)),  # host0 does not write LU1
        Event("instruct", (0, 0, 1)),
    ]
    for event in not_offered:
        assert event not in before
        with pytest.raises(NotOffered) as info:
            sim.perform(event)
        assert str(info.value)  # says why
        assert sim.offers() == before
    assert list(sim.log) == []


def test_perform_of_a_takeover_step_out_of_order_names_the_step_it_is_at() -> None:
    sim = Simulation(small_config(), small_workload())
    sim.perform(Event("designate_batch", (0,)))
    before = sim.offers()
    with pytest.raises(NotOffered, match="is at instruct"):
        sim.perform(Event("write_row", (0, 0, 1)))
    assert sim.offers() == before
    assert list(sim.log) == [Event("designate_batch", (0,))]


def test_the_runtimes_survey_offers_a_few_of_a_long_purges_destages_each_one_an_offer() -> None:
    # LU0 of 64 blocks, every one dirty in controller 0's cache, at the purge (804) of its
    # take-over: the full survey offers 64 de-stages, the runtime's a sample of them, and
    # nothing else differs but the operator's designations, left out when asked.
    lus = (
        LuConfig(lu=0, ext_lun=1, port=0, default=0, current=0, blocks=64, physical_address=0),
        LuConfig(lu=1, ext_lun=0, port=0, default=0, current=0, blocks=2, physical_address=64),
    )
    sim = Simulation(dataclasses.replace(small_config(), lus=lus), small_workload())
    designation = Event("designate_batch", (0,))
    assert designation in sim.offers() and designation not in sim.offers(operator=False)
    for b in range(64):
        sim.array.controllers[0].store(0, b, pattern(1, BLOCK))
    sim.perform(designation)
    for name in ("instruct", "write_row", "read_row", "begin_destage"):
        sim.perform(Event(name, (0, 0, 1)))
    full = set(sim.offers())
    lines = {e for e in full if e.name == "destage_line"}
    assert lines == {Event("destage_line", (0, 0, 1, b)) for b in range(64)}

    sampled = set(sim.offers(ordered=False, destage_sample=4))
    assert len(sampled & lines) == 4 and sampled <= full
    assert sampled - lines == full - lines

    # A de-stage asked directly (not looked up among the 64) is refused as the full
    # offers refuse it: once it is under way, and for a block with no dirty line.
    chosen = min(sampled & lines)
    sim.perform(chosen)
    for refused in (chosen, Event("destage_line", (0, 0, 1, 64)), Event("destage_line", (0, 0, 1, -1))):
        with pytest.raises(NotOffered):
            sim.perform(refused)
    assert chosen not in sim.offers() and len(set(sim.offers()) & lines) == 63


def test_pattern_round_trips_through_pattern_number() -> None:
    for n in (0, 1, 2, 255, 2**40):
        data = pattern(n, BLOCK)
        assert len(data) == BLOCK
        assert pattern_number(data) == n
    assert pattern(0, BLOCK) == bytes(BLOCK)


def test_pattern_number_of_a_torn_block_is_none() -> None:
    half = BLOCK // 2
    torn = pattern(1, BLOCK)[:half] + pattern(2, BLOCK)[half:]
    assert pattern_number(torn) is None
    assert pattern_number(b"\x01" + bytes(BLOCK - 1)) is None


def test_a_lun_map_with_a_gap_or_a_shared_address_is_refused() -> None:
    gap = with_lus(LuConfig(0, 1, 0, 0, 0, blocks=1))
    with pytest.raises(ConfigError, match="external LUNs"):
        gap.check()
    shared = with_lus(
        LuConfig(0, 0, 0, 0, 0, blocks=1), LuConfig(1, 0, 0, 0, 0, blocks=1, physical_address=1)
    )
    with pytest.raises(ConfigError, match=r"\[0, 0\]"):
        shared.check()
