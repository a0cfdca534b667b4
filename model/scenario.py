"""Scenarios: the array, its hosts, their workload and the take-overs that may happen.

A scenario is data, read from a TOML file (schema in ``docs/scenarios.md``) or built in
Python. Loading validates everything and names the file, the field and the problem, so a
typo never turns into a silently different model.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from model.state import Address as DesignatedAddress
from model.state import Controller, Disk, Ghost, Pair, PairState, Row, World
from model.state import Path as PathState


class ScenarioError(ValueError):
    """A scenario file or object that does not describe a valid array."""


# What a scenario may ask for. Sizes are bounded by what the engines can hold: every state
# carries a configuration row per controller and LU and a value per block, and a scenario at
# these bounds is already far beyond exhaustive search (`simulate` still runs it). Numbers are
# bounded by the widest bit-vector `bmc` encodes (32 bits, signed).
MAX_CONTROLLERS = 64
MAX_PORTS = 64
MAX_LUS = 1024
MAX_BLOCKS = 64  # per LU
MAX_TOTAL_BLOCKS = 4096  # over all LUs
MAX_HOSTS = 64
# An array served to real clients (``lutakeover array start``), and the logs validated
# against it, hold LUs of real sizes; the engines never explore such a scenario.
MAX_SERVED_BLOCKS = 1 << 16  # per LU: 256 MiB of 4 KiB blocks
MAX_SERVED_TOTAL_BLOCKS = 1 << 18
MAX_NUMBER = 2**31 - 1
MAX_FILE_BYTES = 1 << 20  # a scenario file; the largest array above is well under 1 MiB of TOML


@dataclass(frozen=True)
class LuSpec:
    """One LU (121x) and the static fields of its configuration row (Fig. 2)."""

    lu: int  # internal LUN
    controller: int  # current controller number at the start
    default: int  # default controller number at the start
    port: int
    ext_lun: int
    blocks: int = 1
    raid_group: int = 0
    raid_level: int = 5
    physical_address: int = 0


@dataclass(frozen=True)
class HostSpec:
    """A computer (2x): the LUs it writes and the LUs it reads."""

    name: str
    writes: tuple[int, ...] = ()
    reads: tuple[int, ...] = ()
    controller: int | None = None  # topology "direct": the controller it is cabled to (Fig. 6)


@dataclass(frozen=True)
class PairSpec:
    """A mirrored pair (embodiment 2): the secondary is a duplicate of the primary."""

    primary: int
    secondary: int


@dataclass(frozen=True)
class Batch:
    """One designation of Step 801: LUs to move together, where to, under which address."""

    lus: tuple[int, ...]
    destination: int
    port: int | None = None  # None: each LU keeps its port
    ext_luns: tuple[int, ...] | None = None  # None: each LU keeps its external LUN


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    controllers: int
    ports: int  # ports per controller
    lus: tuple[LuSpec, ...]
    hosts: tuple[HostSpec, ...]
    writes_per_block: int = 1
    reads_per_block: int = 0
    mode: str = "scripted"  # "scripted": the batches below; "any": any LU to any controller
    batches: tuple[Batch, ...] = ()
    budget: int = 0  # "any" mode: how many take-overs may be designated in all
    takeover_port: int = 0  # "any" mode: the port a moved LU uses on its destination
    topology: str = "path"  # "path": hosts reach LUs through the path controller (31); "direct"
    pairs: tuple[PairSpec, ...] = ()  # embodiment 2: mirrored pairs
    backups: tuple[int, ...] = ()  # embodiment 2: pairs backed up, one cycle each, in order
    # Controllers de-stage dirty lines of write-back LUs on their own at any time, as real
    # write-back caches do; otherwise only Steps 804, 903 and 908 de-stage.
    background_destage: bool = False
    # Crashes of the whole array (power lost, every controller at once) that a run may
    # suffer, each followed by recovery from what survives (``crash_recover``).
    crashes: int = 0

    def __post_init__(self) -> None:
        validate(self)

    # What validate allows: the engines' limits (every state holds every block).
    max_blocks = MAX_BLOCKS
    max_total_blocks = MAX_TOTAL_BLOCKS
    limits_of = "the engines handle"

    def pair_of(self, lu: int) -> int | None:
        """The pair ``lu`` belongs to (as primary or secondary), or None."""
        for i, pair in enumerate(self.pairs):
            if lu in (pair.primary, pair.secondary):
                return i
        return None

    def writer(self, lu: int) -> int | None:
        """The one host that writes ``lu`` (concurrent writes to a block have no order)."""
        for h, host in enumerate(self.hosts):
            if lu in host.writes:
                return h
        return None

    @property
    def symmetric_controllers(self) -> bool:
        """Whether renaming controllers maps runs to runs: no step names a controller."""
        return self.mode == "any" and not self.pairs


@dataclass(frozen=True)
class ServedScenario(Scenario):
    """A scenario of an array served to real clients, and of the logs validated against it:
    LUs of real sizes, which the exhaustive engines are never given."""

    max_blocks = MAX_SERVED_BLOCKS
    max_total_blocks = MAX_SERVED_TOTAL_BLOCKS
    limits_of = "an array served to real clients may have"


def validate(s: Scenario) -> None:
    """Raise ScenarioError naming the first field that does not describe a valid array."""
    _within(s.controllers, 1, MAX_CONTROLLERS, "array.controllers")
    _within(s.ports, 1, MAX_PORTS, "array.ports")
    if not s.lus:
        raise ScenarioError("lu: the array needs at least one LU")
    if len(s.lus) > MAX_LUS:
        raise ScenarioError(f"lu: {len(s.lus)} LUs; the engines handle at most {MAX_LUS}")
    if len(s.hosts) > MAX_HOSTS:
        raise ScenarioError(f"host: {len(s.hosts)} hosts; the engines handle at most {MAX_HOSTS}")
    for i, spec in enumerate(s.lus):
        where = f"lu[{i}]"
        if spec.lu != i:
            raise ScenarioError(
                f"{where}.id: {spec.lu} should be {i}; internal LUNs are serial numbers from 0"
            )
        _controller(s, spec.controller, f"{where}.controller")
        _controller(s, spec.default, f"{where}.default")
        _port(s, spec.port, f"{where}.port")
        _within(spec.ext_lun, 0, MAX_NUMBER, f"{where}.ext_lun")
        if spec.blocks > s.max_blocks:
            raise ScenarioError(
                f"{where}.blocks: {spec.blocks} is more than {s.max_blocks:,}, the most {s.limits_of}"
                + (
                    f" (an array served by `lutakeover array start` may have {MAX_SERVED_BLOCKS:,})"
                    if s.max_blocks < MAX_SERVED_BLOCKS
                    else ""
                )
            )
        _within(spec.blocks, 1, s.max_blocks, f"{where}.blocks")
        _within(spec.raid_group, 0, MAX_NUMBER, f"{where}.raid_group")
        _within(spec.raid_level, 0, MAX_NUMBER, f"{where}.raid_level")
        _within(spec.physical_address, 0, MAX_NUMBER, f"{where}.physical_address")
    total = sum(spec.blocks for spec in s.lus)
    if total > s.max_total_blocks:
        why = " (every state holds each one)" if s.max_total_blocks == MAX_TOTAL_BLOCKS else ""
        raise ScenarioError(f"lu: {total} blocks in all; {s.limits_of} at most {s.max_total_blocks}{why}")
    problem = lun_map_problem({spec.lu: (spec.controller, spec.port, spec.ext_lun) for spec in s.lus})
    if problem:
        raise ScenarioError(f"lu: {problem}")
    writers: dict[int, str] = {}
    for i, host in enumerate(s.hosts):
        for field, lus in (("writes", host.writes), ("reads", host.reads)):
            for lu in lus:
                if not 0 <= lu < len(s.lus):
                    raise ScenarioError(
                        f"host[{i}].{field}: LU{lu} does not exist (LUs are 0-{len(s.lus) - 1})"
                    )
        for lu in host.writes:
            if lu in writers:
                raise ScenarioError(
                    f"host[{i}].writes: LU{lu} is already written by {_shown(writers[lu])}; "
                    "give each LU one writer (concurrent writes to a block have no order)"
                )
            writers[lu] = host.name
    _within(s.writes_per_block, 0, MAX_NUMBER, "workload.writes_per_block")
    _within(s.reads_per_block, 0, MAX_NUMBER, "workload.reads_per_block")
    _within(s.crashes, 0, MAX_NUMBER, "faults.crashes")
    if s.mode not in ("scripted", "any"):
        raise ScenarioError(f"takeovers.mode: {s.mode!r} is neither 'scripted' nor 'any'")
    if s.mode == "any":
        if s.budget < 1:
            raise ScenarioError(
                f"takeovers.budget: {s.budget}; mode 'any' needs a budget of at least 1 take-over"
            )
        _within(s.budget, 1, MAX_NUMBER, "takeovers.budget")
        if s.batches:
            raise ScenarioError("takeovers.batch: batches belong to mode 'scripted'")
        _port(s, s.takeover_port, "takeovers.port")
    if s.mode == "scripted" and not s.batches and not s.backups:
        raise ScenarioError(
            "takeovers.batch: mode 'scripted' needs at least one [[takeovers.batch]] or [[backup]]"
        )
    _validate_pairs(s)
    for i, batch in enumerate(s.batches):
        where = f"takeovers.batch[{i}]"
        if not batch.lus:
            raise ScenarioError(f"{where}.lus: a batch moves at least one LU")
        if len(set(batch.lus)) != len(batch.lus):
            raise ScenarioError(f"{where}.lus: {list(batch.lus)} names an LU twice")
        for lu in batch.lus:
            if not 0 <= lu < len(s.lus):
                raise ScenarioError(f"{where}.lus: LU{lu} does not exist")
        _controller(s, batch.destination, f"{where}.destination")
        if batch.port is not None:
            _port(s, batch.port, f"{where}.port")
        if batch.ext_luns is not None:
            if len(batch.ext_luns) != len(batch.lus):
                raise ScenarioError(
                    f"{where}.ext_luns: {len(batch.ext_luns)} numbers for {len(batch.lus)} LUs"
                )
            for ext in batch.ext_luns:
                _within(ext, 0, MAX_NUMBER, f"{where}.ext_luns")
    _validate_script(s)


def _validate_script(s: Scenario) -> None:
    """Refuse a batch that Step 801 would refuse even once every earlier batch has finished:
    run as the model, it would never be designated, and the report would blame the protocol
    (`script_completes`) for a mistake in the script."""
    layout = {spec.lu: (spec.controller, spec.port, spec.ext_lun) for spec in s.lus}
    for i, batch in enumerate(s.batches):
        moves = []
        for k, lu in enumerate(batch.lus):
            controller, port, ext = layout[lu]
            port = batch.port if batch.port is not None else port
            ext = batch.ext_luns[k] if batch.ext_luns is not None else ext
            moves.append((lu, controller, (batch.destination, port, ext)))
        after = {**layout, **{lu: address for lu, _, address in moves}}
        refusal = designation_refused(layout, after, moves)
        if refusal is not None:
            raise ScenarioError(f"takeovers.batch[{i}]: Step 801 refuses it: {refusal}")
        layout = after


Address = tuple[int, int, int]  # (controller, port, external LUN)


def designation_refused(
    now: dict[int, Address], after: dict[int, Address], moves: list[tuple[int, int, Address]]
) -> str | None:
    """Why Step 801 refuses to move LUs, each ``(lu, source, new address)``, or None.

    ``now`` is every LU's address in the disk's table; ``after`` every LU's address once the
    take-overs under way and these moves are done. A move must change the LU's controller,
    its new address must be free now, and the LUN map after must be well formed. The model's
    Step 801 and the scenario loader both ask this one function."""
    for lu, source, (destination, _, _) in moves:
        if source == destination:
            return f"LU{lu} is already on controller {source}"
    taken = {address: lu for lu, address in now.items()}
    for _, _, address in moves:
        if address in taken:
            c, port, ext = address
            return f"external LUN {ext} on port {port} of controller {c} still belongs to LU{taken[address]}"
    problem = lun_map_problem(after)
    return f"after it, {problem}" if problem is not None else None


def _validate_pairs(s: Scenario) -> None:
    """Embodiment 2: pairs, backups and the direct topology."""
    if s.topology not in ("path", "direct"):
        raise ScenarioError(f"array.topology: {s.topology!r} is neither 'path' nor 'direct'")
    for i, host in enumerate(s.hosts):
        if host.controller is not None:
            _controller(s, host.controller, f"host[{i}].controller")
        elif s.topology == "direct":
            raise ScenarioError(f"host[{i}].controller: topology 'direct' cables each host to a controller")
    if s.topology == "direct" and (s.batches or s.mode == "any"):
        raise ScenarioError(
            "takeovers: a plain take-over moves an LU away from a directly cabled host; "
            "use topology 'path' to mix take-overs with backups"
        )
    in_pairs: set[int] = set()
    for i, pair in enumerate(s.pairs):
        where = f"pair[{i}]"
        for field, lu in (("primary", pair.primary), ("secondary", pair.secondary)):
            if not 0 <= lu < len(s.lus):
                raise ScenarioError(f"{where}.{field}: LU{lu} does not exist")
            if lu in in_pairs:
                raise ScenarioError(f"{where}.{field}: LU{lu} is already in a pair")
            in_pairs.add(lu)
        p, q = s.lus[pair.primary], s.lus[pair.secondary]
        if p.controller != q.controller or p.blocks != q.blocks:
            raise ScenarioError(
                f"{where}: a mirror and its primary start on one controller with the same number of blocks"
            )
        if q.default == q.controller:
            raise ScenarioError(
                f"{where}.secondary: LU{pair.secondary}'s default controller must name the backup "
                "controller (Fig. 9A), not its current one"
            )
        for h, host in enumerate(s.hosts):
            if pair.secondary in (*host.writes, *host.reads):
                raise ScenarioError(
                    f"host[{h}]: LU{pair.secondary} is a mirror; only the backup host reads it"
                )
    if s.pairs and s.mode == "any":
        raise ScenarioError("takeovers: mode 'any' may move a mirror; with pairs, script the take-overs")
    for pair in s.pairs:
        if any(pair.secondary in b.lus for b in s.batches):
            raise ScenarioError(f"takeovers: LU{pair.secondary} is a mirror; only its backups move it")
    for i, index in enumerate(s.backups):
        if not 0 <= index < len(s.pairs):
            raise ScenarioError(f"backup[{i}].pair: pair {index} does not exist")


def _within(value: int, low: int, high: int, where: str) -> None:
    if value < low:
        raise ScenarioError(
            f"{where}: {value} must be at least {low}" if low else f"{where}: {value} must not be negative"
        )
    if value > high:
        raise ScenarioError(f"{where}: {value} is more than {high}, the most the engines handle")


def _controller(s: Scenario, c: int, where: str) -> None:
    if not 0 <= c < s.controllers:
        raise ScenarioError(f"{where}: controller {c} does not exist (0-{s.controllers - 1})")


def _port(s: Scenario, port: int, where: str) -> None:
    if not 0 <= port < s.ports:
        raise ScenarioError(f"{where}: port {port} does not exist (0-{s.ports - 1})")


def lun_map_problem(addresses: dict[int, tuple[int, int, int]]) -> str | None:
    """Why a map LU -> (controller, port, external LUN) is not well formed, or None.

    Well formed: no two LUs share an address, and on every (controller, port) the external
    LUNs run 0..n-1 with no hole, since hosts scan from LUN 0 and may stop at a gap.
    """
    seen: dict[tuple[int, int, int], int] = {}
    per_target: dict[tuple[int, int], list[int]] = {}
    for lu, address in sorted(addresses.items()):
        if address in seen:
            c, port, ext = address
            return (
                f"LU{seen[address]} and LU{lu} are both external LUN {ext} on port {port} of controller {c}"
            )
        seen[address] = lu
        per_target.setdefault(address[:2], []).append(address[2])
    for (c, port), luns in sorted(per_target.items()):
        if sorted(luns) != list(range(len(luns))):
            return (
                f"port {port} of controller {c} presents external LUNs {sorted(luns)}, "
                "not 0..n-1 without a gap"
            )
    return None


# --- TOML -------------------------------------------------------------------------------

_TOP_KEYS = {
    "name",
    "description",
    "array",
    "lu",
    "host",
    "workload",
    "takeovers",
    "pair",
    "backup",
    "faults",
}


def load(path: str | Path, served: bool = False) -> Scenario:
    """Read and validate a scenario file; errors name the file, the field and the problem.
    ``served``: for the reference array and trace validation (``ServedScenario``)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes; not a scenario file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {e.start}); a scenario is a TOML file") from None
    return parse(text, str(path), served)


def parse(text: str, origin: str = "<scenario>", served: bool = False) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{origin}: not valid TOML: {e}") from None
    try:
        return from_dict(data, served)
    except ScenarioError as e:
        raise ScenarioError(f"{origin}: {e}") from None


def from_dict(data: dict[str, Any], served: bool = False) -> Scenario:
    _keys(data, _TOP_KEYS, "")
    array = _table(data, "array")
    _keys(array, {"controllers", "ports", "topology", "background_destage"}, "array.")
    controllers = _int(array, "controllers", "array.")
    lus = []
    for i, row in enumerate(_list_of_tables(data, "lu")):
        where = f"lu[{i}]."
        _keys(
            row,
            {
                "id",
                "controller",
                "default",
                "port",
                "ext_lun",
                "blocks",
                "raid_group",
                "raid_level",
                "physical_address",
            },
            where,
        )
        controller = _int(row, "controller", where)
        lus.append(
            LuSpec(
                lu=_int(row, "id", where, i),
                controller=controller,
                default=_int(row, "default", where, controller),
                port=_int(row, "port", where, 0),
                ext_lun=_int(row, "ext_lun", where),
                blocks=_int(row, "blocks", where, 1),
                raid_group=_int(row, "raid_group", where, 0),
                raid_level=_int(row, "raid_level", where, 5),
                physical_address=_int(row, "physical_address", where, 0),
            )
        )
    hosts = []
    for i, row in enumerate(_list_of_tables(data, "host")):
        where = f"host[{i}]."
        _keys(row, {"name", "writes", "reads", "controller"}, where)
        hosts.append(
            HostSpec(
                name=_str(row, "name", where, f"host{i}"),
                writes=_ints(row, "writes", where),
                reads=_ints(row, "reads", where),
                controller=_int(row, "controller", where) if "controller" in row else None,
            )
        )
    pairs = []
    for i, row in enumerate(_list_of_tables(data, "pair")):
        where = f"pair[{i}]."
        _keys(row, {"primary", "secondary"}, where)
        pairs.append(PairSpec(_int(row, "primary", where), _int(row, "secondary", where)))
    backups = []
    for i, row in enumerate(_list_of_tables(data, "backup")):
        where = f"backup[{i}]."
        _keys(row, {"pair"}, where)
        backups.append(_int(row, "pair", where))
    workload = _table(data, "workload", required=False)
    _keys(workload, {"writes_per_block", "reads_per_block"}, "workload.")
    faults = _table(data, "faults", required=False)
    _keys(faults, {"crashes"}, "faults.")
    takeovers = _table(data, "takeovers", required=False)
    _keys(takeovers, {"mode", "budget", "port", "batch"}, "takeovers.")
    scripted = "batch" in takeovers or "backup" in data
    mode = _str(takeovers, "mode", "takeovers.", "scripted" if scripted else "any")
    for key in ("budget", "port"):
        if mode == "scripted" and key in takeovers:
            raise ScenarioError(f"takeovers.{key}: only mode 'any' has a {key}; a batch names its own")
    batches = []
    for i, row in enumerate(_list_of_tables(takeovers, "batch", "takeovers.")):
        where = f"takeovers.batch[{i}]."
        _keys(row, {"lus", "destination", "port", "ext_luns"}, where)
        batches.append(
            Batch(
                lus=_ints(row, "lus", where),
                destination=_int(row, "destination", where),
                port=_int(row, "port", where) if "port" in row else None,
                ext_luns=_ints(row, "ext_luns", where) if "ext_luns" in row else None,
            )
        )
    kind = ServedScenario if served else Scenario
    return kind(
        name=_str(data, "name", ""),
        description=_str(data, "description", "", ""),
        controllers=controllers,
        ports=_int(array, "ports", "array.", 1),
        lus=tuple(lus),
        hosts=tuple(hosts),
        writes_per_block=_int(workload, "writes_per_block", "workload.", 1),
        reads_per_block=_int(workload, "reads_per_block", "workload.", 0),
        mode=mode,
        batches=tuple(batches),
        budget=_int(takeovers, "budget", "takeovers.", 0),
        takeover_port=_int(takeovers, "port", "takeovers.", 0),
        topology=_str(array, "topology", "array.", "path"),
        background_destage=_bool(array, "background_destage", "array.", False),
        pairs=tuple(pairs),
        backups=tuple(backups),
        crashes=_int(faults, "crashes", "faults.", 0),
    )


_MISSING = object()


def _keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ScenarioError(
                f"{where}{_shown(key)}: unknown field; expected one of {', '.join(sorted(allowed))}"
            )


def _shown(text: str) -> str:
    """A name from the file as a message shows it: quoted when it is not a plain word, so a
    key or host name holding a newline or spaces cannot break the one-line message."""
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else repr(text)


def _table(data: dict[str, Any], key: str, required: bool = True) -> dict[str, Any]:
    value = data.get(key, _MISSING)
    if value is _MISSING:
        if required:
            raise ScenarioError(f"{key}: missing table [{key}]")
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{key}: expected a table, found {type(value).__name__}")
    return value


def _list_of_tables(data: dict[str, Any], key: str, where: str = "") -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ScenarioError(f"{where}{key}: expected an array of tables [[{where}{key}]]")
    return value


def _int(data: dict[str, Any], key: str, where: str, default: object = _MISSING) -> int:
    value = data.get(key, default)
    if value is _MISSING:
        raise ScenarioError(f"{where}{key}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}{key}: expected an integer, found {value!r}")
    return value


def _bool(data: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}{key}: expected true or false, found {value!r}")
    return value


def _ints(data: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ScenarioError(f"{where}{key}: expected a list of integers, found {value!r}")
    return tuple(value)


def _str(data: dict[str, Any], key: str, where: str, default: object = _MISSING) -> str:
    value = data.get(key, default)
    if value is _MISSING:
        raise ScenarioError(f"{where}{key}: missing")
    if not isinstance(value, str):
        raise ScenarioError(f"{where}{key}: expected a string, found {value!r}")
    return value


# --- built-in scenarios ------------------------------------------------------------------


def builtin_names() -> list[str]:
    folder = resources.files("model") / "scenarios"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def builtin(name: str) -> Scenario:
    names = builtin_names()
    if name not in names:
        raise ScenarioError(f"no built-in scenario {name!r}; built-ins: {', '.join(names)}")
    text = (resources.files("model") / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")
    return parse(text, f"built-in {name}")


# --- the initial state -------------------------------------------------------------------


def initial_world(s: Scenario) -> World:
    """Fig. 4A / 5A: every controller's table and the disk copy agree; caches are empty."""
    table = tuple(Row(spec.ext_lun, spec.port, spec.default, spec.controller) for spec in s.lus)
    zeros = tuple((0,) * spec.blocks for spec in s.lus)
    controllers = tuple(
        Controller(
            active=tuple(spec.lu for spec in s.lus if spec.controller == c),
            write_through=(),
            cache=(),
            table=table,
        )
        for c in range(s.controllers)
    )
    return World(
        controllers=controllers,
        disk=Disk(blocks=zeros, table=table),
        paths=tuple(PathState(route=spec.controller, suspended=False) for spec in s.lus),
        hosts=(None,) * len(s.hosts),
        jobs=(),
        budget=s.budget if s.mode == "any" else 0,
        batches=0,
        ghost=Ghost(
            acked=zeros,
            writes=zeros,
            reads=zeros,
            bad_read=None,
            designated=tuple(DesignatedAddress(spec.controller, spec.port, spec.ext_lun) for spec in s.lus),
        ),
        pairs=tuple(Pair(PairState.PAIRED, diff=(), tape=(), snapshot=(), home=None) for _ in s.pairs),
        crashes=s.crashes,
    )
